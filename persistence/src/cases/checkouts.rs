//! The hand-over: check-out by barcode, the loan voucher, and the borrower's signed receipt.

use dangan_domain::{
    access::check_hand_over,
    archive::ArchiveStatus,
    audit::NewAuditEvent,
    loan::{check_checkout, Loan},
    request::ItemStatus,
    voucher::{
        digest, voucher_number, Voucher, VoucherApproval, VoucherArchive, VoucherKey, VoucherPerson,
    },
    DomainError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events,
    schema::{loans, request_items},
    sql_types::DbId,
    store::{
        archives,
        loans::{claim, corrupt, get, held_by, load, loan_audit, written, LoanRow, StoredLoan},
        requests,
        rollups::{self, Hold, Scope},
        users::{self, User},
    },
    to_db_time, AnyConnection, Conflict, Conn, PersistenceError,
};

/// Hands an archive over for an approved request, by its scanned barcode. The store's unique
/// index on open loans decides between two archivists scanning the same archive at once.
pub fn check_out(
    conn: &mut Conn,
    now: OffsetDateTime,
    archivist: &User,
    request_id: Uuid,
    barcode: &str,
    voucher_key: &VoucherKey,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let archive = match archives::get_by_barcode(conn, barcode, archivist.clearance) {
            Err(PersistenceError::NotFound) => {
                requests::get(conn, archivist, request_id, now)?;
                return Err(DomainError::BarcodeMismatch.into());
            }
            found => found?,
        };
        // Only an archive on reserve is held for a request whose pickup window may have ended.
        let lapsed = if archive.status == ArchiveStatus::Reserved {
            events::pickup_window_ended(conn, now, archive.id)?
        } else {
            Vec::new()
        };
        let archive = if lapsed.is_empty() {
            archive
        } else {
            archives::get(conn, archive.id, archivist.clearance)?
        };
        let mut request = requests::get(conn, archivist, request_id, now)?;
        let borrower = users::principals(conn, &[request.borrower_id])?
            .remove(&request.borrower_id)
            .ok_or(PersistenceError::NotFound)?;
        rollups::hold(
            conn,
            Hold::Loan {
                archive: archive.id,
                borrower: borrower.id,
            },
        )?;
        check_hand_over(
            &archivist.principal(),
            &borrower,
            archive.fields.classification,
        )?;
        let item = request
            .items
            .iter_mut()
            .find(|i| i.archive_id == archive.id);
        check_checkout(
            request.status,
            item.as_ref().map(|i| i.status),
            archive.status,
        )?;
        let position = match item {
            Some(item) => {
                item.status = ItemStatus::CheckedOut;
                item.position
            }
            None => Default::default(),
        };
        let id = Uuid::now_v7();
        let loan = Loan::check_out(request.borrower_id, now, request.days);
        let row = LoanRow::opened(
            id,
            request.id,
            archive.id,
            &loan,
            (archivist.id, now),
            now,
            voucher_key.code_for(id),
        );
        diesel::insert_into(loans::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| PersistenceError::on_unique(e, Conflict::ArchiveUnavailable))?;
        rollups::count(conn, Scope::Loan(id))?;
        archives::set_status(conn, now, archive.id, ArchiveStatus::OnLoan)?;
        diesel::update(
            request_items::table
                .filter(request_items::request_id.eq(DbId(request.id)))
                .filter(request_items::position.eq(position)),
        )
        .set((
            request_items::status.eq(ItemStatus::CheckedOut.as_str()),
            request_items::reserved_until.eq(None::<time::PrimitiveDateTime>),
            request_items::loan_id.eq(Some(DbId(id))),
        ))
        .execute(conn)?;
        let settled = events::request_items_moved(conn, now, &request)?;
        let stored = written(row, &archive)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("loan.checked_out", "loan")
                .by(Some(archivist.id))
                .on(id)
                .about(stored.classification)
                .with(json!({
                    "request_id": request.id,
                    "request_number": request.number,
                    "barcode": barcode,
                    "due_at": stored.loan.due_at.unix_timestamp(),
                    "request_status": settled,
                    "lapsed_reservations": lapsed,
                    "loan": loan_audit(&stored),
                })),
        )?;
        Ok(stored)
    })
}

fn person(user: &User) -> VoucherPerson {
    VoucherPerson {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
    }
}

/// The voucher of a loan as it stands: the hand-over and the approvals behind it.
fn build_voucher(conn: &mut Conn, loan: &StoredLoan) -> Result<Voucher, PersistenceError> {
    let request = requests::load(conn, loan.request_id)?;
    let borrower = users::get(conn, loan.loan.borrower_id)?;
    let archivist = users::get(conn, loan.checked_out_by)?;
    let position = request
        .items
        .iter()
        .find(|i| i.archive_id == loan.archive_id)
        .map(|i| i.position)
        .unwrap_or(1);
    let approvals = request
        .steps
        .iter()
        .filter_map(|s| {
            Some(VoucherApproval {
                step: s.name.clone(),
                decided_by: s.decided_by?,
                on_behalf_of: s.on_behalf_of,
                decided_at: s.decided_at?,
            })
        })
        .collect();
    Ok(Voucher {
        voucher_number: voucher_number(&request.number, position),
        loan_id: loan.id,
        request_number: request.number,
        purpose: request.purpose,
        loan_type: request.loan_type,
        borrower: person(&borrower),
        archive: VoucherArchive {
            id: loan.archive_id,
            archive_code: loan.archive_code.clone(),
            title: loan.title.clone(),
            classification: loan.classification,
        },
        checked_out_by: person(&archivist),
        checked_out_at: loan.checked_out_at,
        due_at: loan.loan.due_at,
        approvals,
    })
}

/// The voucher of a loan: the one signed when there is a signature, else the current one.
pub fn voucher(
    conn: &mut Conn,
    viewer: &User,
    id: Uuid,
) -> Result<(StoredLoan, Voucher), PersistenceError> {
    let loan = get(conn, viewer, id)?;
    let signed: Option<String> = loans::table
        .find(DbId(id))
        .select(loans::signed_voucher)
        .first(conn)?;
    let voucher = match signed {
        Some(text) => signed_voucher(&text)?,
        None => build_voucher(conn, &loan)?,
    };
    Ok((loan, voucher))
}

/// The loan whose voucher carries `code` (as printed), if `viewer` may see it.
pub fn voucher_by_code(
    conn: &mut Conn,
    viewer: &User,
    code: &str,
) -> Result<(StoredLoan, Voucher), PersistenceError> {
    let ids: Vec<DbId> = loans::table
        .filter(loans::verification_code.eq(code))
        .select(loans::id)
        .load(conn)?;
    // 64 bits make two loans with one code unlikely before billions of loans; should it happen,
    // the first the viewer may see is the answer, as the desk compares it with the paper.
    for id in ids {
        match voucher(conn, viewer, id.into()) {
            Err(PersistenceError::NotFound) => continue,
            found => return found,
        }
    }
    Err(PersistenceError::NotFound)
}

const CODE_BATCH: i64 = 1_000;

/// Gives loans checked out before verification codes were stored their code; returns how many.
pub fn assign_verification_codes(
    conn: &mut Conn,
    voucher_key: &VoucherKey,
) -> Result<usize, PersistenceError> {
    let mut assigned = 0;
    loop {
        let done = write_transaction(conn, |conn| {
            let ids: Vec<DbId> = loans::table
                .filter(loans::verification_code.is_null())
                .select(loans::id)
                .limit(CODE_BATCH)
                .load(conn)?;
            if ids.is_empty() {
                return Ok(0);
            }
            // One statement per batch (a million loans are minutes one by one). The values are
            // ids and codes this function made, never input, so they are written inline.
            let codes = ids
                .iter()
                .map(|id| format!("('{}', '{}')", id.0, voucher_key.code_for(id.0)))
                .collect::<Vec<_>>()
                .join(", ");
            let id = match conn {
                AnyConnection::Postgresql(_) => "CAST(v.id AS UUID)",
                AnyConnection::Sqlite(_) => "v.id",
            };
            diesel::sql_query(format!(
                "UPDATE loans SET verification_code = v.code \
                 FROM (SELECT column1 AS id, column2 AS code FROM (VALUES {codes}) AS c) AS v \
                 WHERE loans.id = {id}"
            ))
            .execute(conn)?;
            Ok(ids.len())
        })?;
        assigned += done;
        if done < CODE_BATCH as usize {
            return Ok(assigned);
        }
    }
}

fn signed_voucher(text: &str) -> Result<Voucher, PersistenceError> {
    serde_json::from_str(text).map_err(|e| corrupt("loans.signed_voucher", e))
}

/// The borrower signs the receipt, having proved who they are by `method` (checked by the
/// caller: `password`, or `oidc`, a fresh sign-in at their provider): the loan becomes active
/// and keeps the canonical voucher and its digest.
pub fn sign(
    conn: &mut Conn,
    now: OffsetDateTime,
    borrower: &User,
    id: Uuid,
    method: &str,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = held_by(conn, borrower, id)?;
        let after = before.loan.sign(borrower.id, now)?;
        let canonical = build_voucher(conn, &before)?.canonical();
        let digest = digest(&canonical);
        claim(conn, &before, now)?;
        diesel::update(loans::table.find(DbId(id)))
            .set((
                loans::status.eq(after.status.as_str()),
                loans::signed_at.eq(Some(to_db_time(now))),
                loans::signed_by.eq(Some(DbId(borrower.id))),
                loans::signature_method.eq(Some(method)),
                loans::signature_digest.eq(Some(digest.clone())),
                loans::signed_voucher.eq(Some(canonical)),
            ))
            .execute(conn)?;
        let stored = load(conn, id)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("loan.signed", "loan")
                .by(Some(borrower.id))
                .on(id)
                .about(stored.classification)
                .with(json!({"method": method, "digest": digest, "loan": loan_audit(&stored)})),
        )?;
        Ok(stored)
    })
}
