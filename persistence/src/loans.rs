//! Circulation: check-out by barcode, the signed receipt, renewals, returns with inspection,
//! losses, and the waiting line that hands a returned archive to the next approved request.

use dangan_domain::{
    access::{check_borrower, check_confirm_return, check_hand_over, Principal},
    archive::ArchiveStatus,
    audit::NewAuditEvent,
    loan::{
        check_checkout, renewal_decided_for, status_after_return, Condition, Loan, LoanRules,
        LoanStatus, Renewal, RenewalOutcome,
    },
    request::{Command, Deciders, ItemStatus, RequestStatus},
    voucher::{digest, voucher_number, Voucher, VoucherApproval, VoucherArchive, VoucherPerson},
    Classification, DomainError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    archives, audit,
    db::write_transaction,
    from_db_time,
    notifications::{notify, Message},
    requests::{self, StoredRequest},
    schema::{
        archives as archives_table, incidents, loan_renewals, loan_requests, loans, request_items,
    },
    sql_types::DbId,
    to_db_time,
    users::{self, User},
    Conn, Page, PageRequest, PersistenceError,
};

pub(crate) const OPEN: [&str; 2] = ["checked_out", "active"];

/// The borrower's signature on the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub signed_by: Uuid,
    pub signed_at: OffsetDateTime,
    pub method: String,
    /// SHA-256 of the canonical voucher signed.
    pub digest: String,
}

/// A loan as stored, with the archive it is of.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLoan {
    pub id: Uuid,
    pub request_id: Uuid,
    pub archive_id: Uuid,
    pub archive_code: String,
    pub title: String,
    pub classification: Classification,
    pub loan: Loan,
    pub checked_out_at: OffsetDateTime,
    pub checked_out_by: Uuid,
    pub signature: Option<Signature>,
    pub return_notes: Option<String>,
    pub inspected_at: Option<OffsetDateTime>,
    pub confirmed_by: Option<Uuid>,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = loans)]
struct LoanRow {
    id: DbId,
    request_id: DbId,
    archive_id: DbId,
    borrower_id: DbId,
    status: String,
    checked_out_at: time::PrimitiveDateTime,
    checked_out_by: DbId,
    due_at: time::PrimitiveDateTime,
    renewals: i32,
    signed_at: Option<time::PrimitiveDateTime>,
    signed_by: Option<DbId>,
    signature_method: Option<String>,
    signature_digest: Option<String>,
    signed_voucher: Option<String>,
    returned_at: Option<time::PrimitiveDateTime>,
    condition: Option<String>,
    return_notes: Option<String>,
    inspected_by: Option<DbId>,
    inspected_at: Option<time::PrimitiveDateTime>,
    confirmed_by: Option<DbId>,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::Corrupt(format!("{what}: {detail}"))
}

type Joined = (LoanRow, (String, String, String));

fn into_stored(
    (row, (code, title, classification)): Joined,
) -> Result<StoredLoan, PersistenceError> {
    let status: LoanStatus = row.status.parse().map_err(|e| corrupt("loans.status", e))?;
    let condition: Option<Condition> = row
        .condition
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| corrupt("loans.condition", e))?;
    let signature = match (
        row.signed_by,
        row.signed_at,
        row.signature_method,
        row.signature_digest,
    ) {
        (Some(by), Some(at), Some(method), Some(digest)) => Some(Signature {
            signed_by: by.0,
            signed_at: from_db_time(at),
            method,
            digest,
        }),
        _ => None,
    };
    Ok(StoredLoan {
        id: row.id.0,
        request_id: row.request_id.0,
        archive_id: row.archive_id.0,
        archive_code: code,
        title,
        classification: classification
            .parse()
            .map_err(|e| corrupt("archives.classification", e))?,
        loan: Loan {
            borrower_id: row.borrower_id.0,
            status,
            due_at: from_db_time(row.due_at),
            renewals: row.renewals,
            signed_at: row.signed_at.map(from_db_time),
            returned_at: row.returned_at.map(from_db_time),
            condition,
            inspected_by: row.inspected_by.map(Uuid::from),
        },
        checked_out_at: from_db_time(row.checked_out_at),
        checked_out_by: row.checked_out_by.0,
        signature,
        return_notes: row.return_notes,
        inspected_at: row.inspected_at.map(from_db_time),
        confirmed_by: row.confirmed_by.map(Uuid::from),
        updated_at: from_db_time(row.updated_at),
        version: row.version,
    })
}

macro_rules! loans_with_archive {
    () => {
        loans::table.inner_join(archives_table::table).select((
            LoanRow::as_select(),
            (
                archives_table::archive_code,
                archives_table::title,
                archives_table::classification,
            ),
        ))
    };
}

pub(crate) fn load(conn: &mut Conn, id: Uuid) -> Result<StoredLoan, PersistenceError> {
    into_stored(
        loans_with_archive!()
            .filter(loans::id.eq(DbId(id)))
            .first::<Joined>(conn)?,
    )
}

/// A loan as `viewer` may see it: its borrower, and staff, within their clearance.
pub fn get(conn: &mut Conn, viewer: &User, id: Uuid) -> Result<StoredLoan, PersistenceError> {
    let loan = load(conn, id)?;
    if viewer
        .principal()
        .may_see_loan(loan.loan.borrower_id, loan.classification)
    {
        Ok(loan)
    } else {
        Err(PersistenceError::NotFound)
    }
}

/// A loan its borrower acts on (signs, renews): refused with the reason when they are no longer
/// cleared for its archive, rather than hidden, since it is theirs; anyone else sees it as `get`.
pub fn held_by(conn: &mut Conn, actor: &User, id: Uuid) -> Result<StoredLoan, PersistenceError> {
    let loan = load(conn, id)?;
    if loan.loan.borrower_id != actor.id {
        return get(conn, actor, id);
    }
    check_borrower(&actor.principal(), loan.classification)?;
    Ok(loan)
}

/// Open loans of a borrower past their due date.
pub fn count_overdue(
    conn: &mut Conn,
    borrower_id: Uuid,
    now: OffsetDateTime,
) -> Result<i64, PersistenceError> {
    Ok(loans::table
        .filter(loans::borrower_id.eq(DbId(borrower_id)))
        .filter(loans::status.eq_any(OPEN))
        .filter(loans::due_at.lt(to_db_time(now)))
        .count()
        .get_result(conn)?)
}

/// Hands an archive that is back on the shelf to the oldest approved request waiting for it
/// (reserved until its pickup window ends, its borrower notified), or makes it available.
/// Returns the request it went to.
pub(crate) fn pass_on(
    conn: &mut Conn,
    now: OffsetDateTime,
    archive_id: Uuid,
) -> Result<Option<Uuid>, PersistenceError> {
    let next = request_items::table
        .inner_join(loan_requests::table)
        .filter(request_items::archive_id.eq(DbId(archive_id)))
        .filter(request_items::status.eq(ItemStatus::Waiting.as_str()))
        .filter(loan_requests::status.eq(RequestStatus::Approved.as_str()))
        .order((loan_requests::approved_at.asc(), loan_requests::id.asc()))
        .select((request_items::request_id, request_items::position))
        .first::<(DbId, i32)>(conn)
        .optional()?;
    let Some((request_id, position)) = next else {
        archives::set_status(conn, now, archive_id, ArchiveStatus::Available)?;
        return Ok(None);
    };
    let request = requests::load(conn, request_id.0)?;
    let until = request.rules.pickup_ends(now);
    diesel::update(
        request_items::table
            .filter(request_items::request_id.eq(request_id))
            .filter(request_items::position.eq(position)),
    )
    .set((
        request_items::status.eq(ItemStatus::Reserved.as_str()),
        request_items::reserved_until.eq(Some(to_db_time(until))),
    ))
    .execute(conn)?;
    archives::set_status(conn, now, archive_id, ArchiveStatus::Reserved)?;
    let item = request
        .items
        .iter()
        .find(|i| i.position == position)
        .ok_or_else(|| corrupt("request_items", "reserved item vanished"))?;
    let date = until.date();
    notify(
        conn,
        now,
        request.borrower_id,
        "archive.reserved",
        &Message {
            subject: format!(
                "档案已为您预留 / Archive reserved for you: {}",
                item.archive_code
            ),
            body: format!(
                "《{}》({}) 已为借阅申请 {} 预留，请于 {date} 前领取。\n\
                 \"{}\" ({}) is reserved for request {} until {date}; please collect it by then.",
                item.title,
                item.archive_code,
                request.number,
                item.title,
                item.archive_code,
                request.number
            ),
        },
        ("loan_request", request.id),
        Some(item.classification),
    )?;
    Ok(Some(request.id))
}

/// Ends reservations of an archive whose pickup window has passed, handing the archive on each
/// time; returns the requests whose reservation lapsed.
fn lapse_reservations(
    conn: &mut Conn,
    now: OffsetDateTime,
    archive_id: Uuid,
) -> Result<Vec<Uuid>, PersistenceError> {
    let mut lapsed = Vec::new();
    loop {
        let due = request_items::table
            .filter(request_items::archive_id.eq(DbId(archive_id)))
            .filter(request_items::status.eq(ItemStatus::Reserved.as_str()))
            .filter(request_items::reserved_until.le(to_db_time(now)))
            .select((request_items::request_id, request_items::position))
            .first::<(DbId, i32)>(conn)
            .optional()?;
        let Some((request_id, position)) = due else {
            return Ok(lapsed);
        };
        diesel::update(
            request_items::table
                .filter(request_items::request_id.eq(request_id))
                .filter(request_items::position.eq(position)),
        )
        .set((
            request_items::status.eq(ItemStatus::Expired.as_str()),
            request_items::reserved_until.eq(None::<time::PrimitiveDateTime>),
        ))
        .execute(conn)?;
        settle_request(conn, now, request_id.0)?;
        lapsed.push(request_id.0);
        pass_on(conn, now, archive_id)?;
    }
}

/// The scheduler's first pickup rule: reservations whose window has ended pass to the next in
/// line (who is told), and the borrower who did not come is told too. Returns how many lapsed.
pub fn lapse_due_reservations(
    conn: &mut Conn,
    now: OffsetDateTime,
) -> Result<usize, PersistenceError> {
    let archives: Vec<DbId> = request_items::table
        .filter(request_items::status.eq(ItemStatus::Reserved.as_str()))
        .filter(request_items::reserved_until.le(to_db_time(now)))
        .select(request_items::archive_id)
        .distinct()
        .load(conn)?;
    let mut count = 0;
    for archive_id in archives {
        count += write_transaction(conn, |conn| {
            // Another scheduler may have got here first: then nothing is due any more.
            let lapsed = lapse_reservations(conn, now, archive_id.0)?;
            let mut about = None;
            for request_id in &lapsed {
                let request = requests::load(conn, *request_id)?;
                let Some(item) = request.items.iter().find(|i| i.archive_id == archive_id.0) else {
                    continue;
                };
                about = Some(item.classification);
                notify(
                    conn,
                    now,
                    request.borrower_id,
                    "reservation.lapsed",
                    &Message {
                        subject: format!(
                            "预留已过期 / Reservation ended: {}",
                            item.archive_code
                        ),
                        body: format!(
                            "借阅申请 {} 的《{}》({}) 未在领取期内领取，预留已取消。\n\
                             \"{}\" ({}) was not collected for request {} in time; the reservation has ended.",
                            request.number, item.title, item.archive_code,
                            item.title, item.archive_code, request.number
                        ),
                    },
                    ("loan_request", request.id),
                    Some(item.classification),
                )?;
            }
            if !lapsed.is_empty() {
                audit::append(
                    conn,
                    now,
                    NewAuditEvent {
                        classification: about,
                        ..NewAuditEvent::new("reservation.lapsed", "archive")
                    }
                    .on(archive_id.0)
                    .with(json!({"requests": lapsed})),
                )?;
            }
            Ok(lapsed.len())
        })?;
    }
    Ok(count)
}

/// The scheduler's second pickup rule: an approved request whose archive has been on the shelf
/// for it since the approval, uncollected for `pickup_days`, loses that archive; the request
/// expires when nothing else of it is outstanding. Returns how many items expired.
pub fn expire_uncollected(conn: &mut Conn, now: OffsetDateTime) -> Result<usize, PersistenceError> {
    let candidates: Vec<(DbId, time::PrimitiveDateTime, String)> = request_items::table
        .inner_join(loan_requests::table)
        .inner_join(archives_table::table)
        .filter(request_items::status.eq(ItemStatus::Waiting.as_str()))
        .filter(loan_requests::status.eq(RequestStatus::Approved.as_str()))
        .filter(archives_table::status.eq(ArchiveStatus::Available.as_str()))
        .filter(loan_requests::approved_at.is_not_null())
        .select((
            loan_requests::id,
            loan_requests::approved_at.assume_not_null(),
            loan_requests::rules,
        ))
        .distinct()
        .load(conn)?;
    let mut count = 0;
    for (request_id, approved_at, rules) in candidates {
        let rules: LoanRules =
            serde_json::from_str(&rules).map_err(|e| corrupt("loan_requests.rules", e))?;
        if rules.pickup_ends(from_db_time(approved_at)) > now {
            continue;
        }
        count += write_transaction(conn, |conn| expire_items(conn, now, request_id.0))?;
    }
    Ok(count)
}

fn expire_items(
    conn: &mut Conn,
    now: OffsetDateTime,
    request_id: Uuid,
) -> Result<usize, PersistenceError> {
    let mut request = requests::load(conn, request_id)?;
    if request.status != RequestStatus::Approved {
        return Ok(0);
    }
    let waiting: Vec<DbId> = request
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Waiting)
        .map(|i| DbId(i.archive_id))
        .collect();
    let on_shelf: Vec<Uuid> = archives_table::table
        .filter(archives_table::id.eq_any(&waiting))
        .filter(archives_table::status.eq(ArchiveStatus::Available.as_str()))
        .select(archives_table::id)
        .load::<DbId>(conn)?
        .into_iter()
        .map(Uuid::from)
        .collect();
    let mut expired = Vec::new();
    for item in request
        .items
        .iter_mut()
        .filter(|i| i.status == ItemStatus::Waiting && on_shelf.contains(&i.archive_id))
    {
        diesel::update(
            request_items::table
                .filter(request_items::request_id.eq(DbId(request_id)))
                .filter(request_items::position.eq(item.position)),
        )
        .set(request_items::status.eq(ItemStatus::Expired.as_str()))
        .execute(conn)?;
        item.status = ItemStatus::Expired;
        expired.push(item.archive_code.clone());
    }
    if expired.is_empty() {
        return Ok(0);
    }
    let status = settle(conn, now, &request)?;
    let codes = expired.join(", ");
    notify(
        conn,
        now,
        request.borrower_id,
        "request.pickup_expired",
        &Message {
            subject: format!("借阅申请已过领取期 / Not collected in time: {}", request.number),
            body: format!(
                "借阅申请 {} 中的档案 {codes} 未在 {} 天领取期内领取，已取消。\n\
                 The archives {codes} of request {} were not collected within {} days and are released.",
                request.number, request.rules.pickup_days, request.number, request.rules.pickup_days
            ),
        },
        ("loan_request", request.id),
        Some(request.ceiling()),
    )?;
    audit::append(
        conn,
        now,
        NewAuditEvent::new("request.pickup_expired", "loan_request")
            .on(request.id)
            .about(request.ceiling())
            .with(json!({"archives": expired, "request_status": status})),
    )?;
    Ok(expired.len())
}

/// `settle` for a request not loaded yet.
fn settle_request(
    conn: &mut Conn,
    now: OffsetDateTime,
    request_id: Uuid,
) -> Result<RequestStatus, PersistenceError> {
    let request = requests::load(conn, request_id)?;
    settle(conn, now, &request)
}

/// Moves a request on once nothing of it is outstanding: fulfilled when something of it went
/// out, expired when nothing did; closed once everything that went out has ended. `request`
/// must show its items as they are now; returns its status afterwards.
fn settle(
    conn: &mut Conn,
    now: OffsetDateTime,
    request: &StoredRequest,
) -> Result<RequestStatus, PersistenceError> {
    if request.items.iter().any(|i| i.status.is_outstanding()) {
        return Ok(request.status);
    }
    let went_out = request
        .items
        .iter()
        .any(|i| i.status == ItemStatus::CheckedOut);
    let command = match request.status {
        RequestStatus::Approved if went_out => Command::Fulfil,
        RequestStatus::Approved => Command::Expire,
        RequestStatus::Fulfilled => {
            let open: i64 = loans::table
                .filter(loans::request_id.eq(DbId(request.id)))
                .filter(loans::status.eq_any(["checked_out", "active", "return_pending"]))
                .count()
                .get_result(conn)?;
            if open > 0 {
                return Ok(request.status);
            }
            Command::Close
        }
        _ => return Ok(request.status),
    };
    let (after, _) = request.machine().decide(command, &Deciders::none(), now)?;
    requests::store_decision(conn, now, request, &after)?;
    Ok(after.status)
}

fn loan_audit(loan: &StoredLoan) -> serde_json::Value {
    json!({
        "archive_id": loan.archive_id,
        "archive_code": loan.archive_code,
        "borrower_id": loan.loan.borrower_id,
        "status": loan.loan.status,
    })
}

/// Hands an archive over for an approved request, by its scanned barcode. The store's unique
/// index on open loans decides between two archivists scanning the same archive at once.
pub fn check_out(
    conn: &mut Conn,
    now: OffsetDateTime,
    archivist: &User,
    request_id: Uuid,
    barcode: &str,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let archive = match archives::get_by_barcode(conn, barcode, archivist.clearance) {
            Err(PersistenceError::NotFound) => {
                requests::get(conn, archivist, request_id, now)?;
                return Err(DomainError::BarcodeMismatch.into());
            }
            found => found?,
        };
        let lapsed = lapse_reservations(conn, now, archive.id)?;
        let archive = if lapsed.is_empty() {
            archive
        } else {
            archives::get(conn, archive.id, archivist.clearance)?
        };
        let mut request = requests::get(conn, archivist, request_id, now)?;
        let borrower = users::principals(conn, &[request.borrower_id])?
            .remove(&request.borrower_id)
            .ok_or(PersistenceError::NotFound)?;
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
        diesel::insert_into(loans::table)
            .values(LoanRow {
                id: DbId(id),
                request_id: DbId(request.id),
                archive_id: DbId(archive.id),
                borrower_id: DbId(request.borrower_id),
                status: loan.status.as_str().to_owned(),
                checked_out_at: to_db_time(now),
                checked_out_by: DbId(archivist.id),
                due_at: to_db_time(loan.due_at),
                renewals: 0,
                signed_at: None,
                signed_by: None,
                signature_method: None,
                signature_digest: None,
                signed_voucher: None,
                returned_at: None,
                condition: None,
                return_notes: None,
                inspected_by: None,
                inspected_at: None,
                confirmed_by: None,
                updated_at: to_db_time(now),
                version: 1,
            })
            .execute(conn)
            .map_err(|e| PersistenceError::on_unique(e, "archive_unavailable"))?;
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
        let settled = settle(conn, now, &request)?;
        let stored = load(conn, id)?;
        audit::append(
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
) -> Result<(StoredLoan, Voucher, String), PersistenceError> {
    let loan = get(conn, viewer, id)?;
    let voucher = build_voucher(conn, &loan)?;
    let signed: Option<String> = loans::table
        .find(DbId(id))
        .select(loans::signed_voucher)
        .first(conn)?;
    match signed {
        Some(text) => {
            let digest = digest(&text);
            let signed = signed_voucher(&text)?;
            Ok((loan, signed, digest))
        }
        None => {
            let digest = digest(&voucher.canonical());
            Ok((loan, voucher, digest))
        }
    }
}

fn signed_voucher(text: &str) -> Result<Voucher, PersistenceError> {
    serde_json::from_str(text).map_err(|e| corrupt("loans.signed_voucher", e))
}

/// The borrower signs the receipt (their password already checked by the caller): the loan
/// becomes active and keeps the canonical voucher and its digest.
pub fn sign(
    conn: &mut Conn,
    now: OffsetDateTime,
    borrower: &User,
    id: Uuid,
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
                loans::signature_method.eq(Some("password")),
                loans::signature_digest.eq(Some(digest.clone())),
                loans::signed_voucher.eq(Some(canonical)),
            ))
            .execute(conn)?;
        let stored = load(conn, id)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("loan.signed", "loan")
                .by(Some(borrower.id))
                .on(id)
                .about(stored.classification)
                .with(json!({"method": "password", "digest": digest, "loan": loan_audit(&stored)})),
        )?;
        Ok(stored)
    })
}

/// Moves a loan's version on, refusing when someone changed it since `before` was read. On
/// PostgreSQL the update also locks the row, so a concurrent change waits and then fails here.
fn claim(
    conn: &mut Conn,
    before: &StoredLoan,
    now: OffsetDateTime,
) -> Result<(), PersistenceError> {
    let updated = diesel::update(
        loans::table
            .find(DbId(before.id))
            .filter(loans::version.eq(before.version)),
    )
    .set((
        loans::updated_at.eq(to_db_time(now)),
        loans::version.eq(before.version + 1),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    Ok(())
}

/// A renewal waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRenewal {
    pub id: Uuid,
    pub loan_id: Uuid,
    pub days: i32,
    pub reason: Option<String>,
    pub requested_at: OffsetDateTime,
}

/// What a renewal came to: granted at once, or waiting for approval.
#[derive(Debug, Clone, PartialEq)]
pub enum Renewed {
    Granted(StoredLoan),
    Pending(StoredLoan, PendingRenewal),
}

/// Someone's request (other than `except`) waits for this archive.
fn archive_requested(
    conn: &mut Conn,
    archive_id: Uuid,
    except: Uuid,
) -> Result<bool, PersistenceError> {
    let waiting: i64 = request_items::table
        .inner_join(loan_requests::table)
        .filter(request_items::archive_id.eq(DbId(archive_id)))
        .filter(request_items::request_id.ne(DbId(except)))
        .filter(
            request_items::status
                .eq_any([ItemStatus::Waiting.as_str(), ItemStatus::Reserved.as_str()]),
        )
        .filter(loan_requests::status.eq_any([
            RequestStatus::Pending.as_str(),
            RequestStatus::Approved.as_str(),
        ]))
        .count()
        .get_result(conn)?;
    Ok(waiting > 0)
}

/// The borrower asks for more time, within the policy their request was approved under.
pub fn renew(
    conn: &mut Conn,
    now: OffsetDateTime,
    borrower: &User,
    id: Uuid,
    days: i32,
    reason: Option<String>,
) -> Result<Renewed, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = held_by(conn, borrower, id)?;
        let request = requests::load(conn, before.request_id)?;
        let renewal = Renewal {
            actor: borrower.id,
            days,
            archive_requested: archive_requested(conn, before.archive_id, before.request_id)?,
            borrower_blocked: count_overdue(conn, before.loan.borrower_id, now)? > 0,
        };
        match before.loan.renew(renewal, &request.rules)? {
            RenewalOutcome::Renewed(after) => {
                claim(conn, &before, now)?;
                diesel::update(loans::table.find(DbId(id)))
                    .set((
                        loans::due_at.eq(to_db_time(after.due_at)),
                        loans::renewals.eq(after.renewals),
                    ))
                    .execute(conn)?;
                let stored = load(conn, id)?;
                audit::append(
                    conn,
                    now,
                    NewAuditEvent::new("loan.renewed", "loan")
                        .by(Some(borrower.id))
                        .on(id)
                        .about(stored.classification)
                        .with(json!({
                            "days": days,
                            "reason": reason,
                            "due_at": after.due_at.unix_timestamp(),
                            "renewals": after.renewals,
                        })),
                )?;
                Ok(Renewed::Granted(stored))
            }
            RenewalOutcome::NeedsApproval => {
                let waiting: i64 = loan_renewals::table
                    .filter(loan_renewals::loan_id.eq(DbId(id)))
                    .filter(loan_renewals::status.eq("pending"))
                    .count()
                    .get_result(conn)?;
                if waiting > 0 {
                    return Err(PersistenceError::Conflict("renewal_pending"));
                }
                let pending = PendingRenewal {
                    id: Uuid::now_v7(),
                    loan_id: id,
                    days,
                    reason: reason.clone(),
                    requested_at: now,
                };
                diesel::insert_into(loan_renewals::table)
                    .values((
                        loan_renewals::id.eq(DbId(pending.id)),
                        loan_renewals::loan_id.eq(DbId(id)),
                        loan_renewals::days.eq(days),
                        loan_renewals::reason.eq(reason),
                        loan_renewals::status.eq("pending"),
                        loan_renewals::requested_at.eq(to_db_time(now)),
                    ))
                    .execute(conn)?;
                for approver in renewal_approvers(&request) {
                    notify(
                        conn,
                        now,
                        approver,
                        "renewal.requested",
                        &Message {
                            subject: format!("续借待审批 / Renewal to approve: {}", before.archive_code),
                            body: format!(
                                "借阅申请 {} 的《{}》({}) 申请续借 {days} 天。\n\
                                 A renewal of {days} days of \"{}\" ({}) under request {} awaits your decision.",
                                request.number, before.title, before.archive_code,
                                before.title, before.archive_code, request.number
                            ),
                        },
                        ("loan", id),
                        Some(before.classification),
                    )?;
                }
                audit::append(
                    conn,
                    now,
                    NewAuditEvent::new("loan.renewal_requested", "loan")
                        .by(Some(borrower.id))
                        .on(id)
                        .about(before.classification)
                        .with(json!({"renewal_id": pending.id, "days": days})),
                )?;
                Ok(Renewed::Pending(before, pending))
            }
        }
    })
}

/// Who decides a renewal that needs approval: the approvers of the request's last step.
fn renewal_approvers(request: &StoredRequest) -> Vec<Uuid> {
    request
        .steps
        .last()
        .map(|s| s.approver_ids.clone())
        .unwrap_or_default()
}

/// Grants or refuses a pending renewal; the approvers of the request's last step (or their
/// delegates) decide. A granted renewal moves the due date from where it stands now.
pub fn decide_renewal(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: &User,
    loan_id: Uuid,
    renewal_id: Uuid,
    grant: bool,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = load(conn, loan_id)?;
        let request = requests::load(conn, before.request_id)?;
        let delegations = crate::delegations::active_for_delegate(conn, actor.id, now)?;
        let on_behalf_of = match renewal_decided_for(
            actor.id,
            before.loan.borrower_id,
            &renewal_approvers(&request),
            &delegations,
            now,
        ) {
            Ok(on_behalf_of) => on_behalf_of,
            Err(refused) if get(conn, actor, loan_id).is_ok() => return Err(refused.into()),
            Err(_) => return Err(PersistenceError::NotFound),
        };
        // Deciders as they are now: the actor and whom they stand in for, both still cleared.
        let involved: Vec<Uuid> = [Some(before.loan.borrower_id), on_behalf_of]
            .into_iter()
            .flatten()
            .collect();
        let people = users::principals(conn, &involved)?;
        let cleared = |p: Option<&Principal>| {
            p.is_some_and(|p| p.may_approve(before.loan.borrower_id, before.classification, None))
        };
        if !cleared(Some(&actor.principal()))
            || on_behalf_of.is_some_and(|d| !cleared(people.get(&d)))
        {
            return Err(if get(conn, actor, loan_id).is_ok() {
                DomainError::NotYourStep.into()
            } else {
                PersistenceError::NotFound
            });
        }
        let (days, status): (i32, String) = loan_renewals::table
            .find(DbId(renewal_id))
            .filter(loan_renewals::loan_id.eq(DbId(loan_id)))
            .select((loan_renewals::days, loan_renewals::status))
            .first(conn)?;
        if status != "pending" {
            return Err(DomainError::RequestNotPending.into());
        }
        let decided = if grant { "approved" } else { "rejected" };
        diesel::update(loan_renewals::table.find(DbId(renewal_id)))
            .set((
                loan_renewals::status.eq(decided),
                loan_renewals::decided_by.eq(Some(DbId(actor.id))),
                loan_renewals::decided_at.eq(Some(to_db_time(now))),
            ))
            .execute(conn)?;
        if grant {
            let borrower = people
                .get(&before.loan.borrower_id)
                .ok_or(PersistenceError::NotFound)?;
            check_borrower(borrower, before.classification)?;
            if !before.loan.is_open() {
                return Err(DomainError::LoanTransition {
                    from: before.loan.status,
                    command: "renew",
                }
                .into());
            }
            let after = before.loan.renewed(days);
            claim(conn, &before, now)?;
            diesel::update(loans::table.find(DbId(loan_id)))
                .set((
                    loans::due_at.eq(to_db_time(after.due_at)),
                    loans::renewals.eq(after.renewals),
                ))
                .execute(conn)?;
        }
        let stored = load(conn, loan_id)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new(
                if grant {
                    "loan.renewal_approved"
                } else {
                    "loan.renewal_rejected"
                },
                "loan",
            )
            .by(Some(actor.id))
            .on(loan_id)
            .about(stored.classification)
            .with(json!({
                "renewal_id": renewal_id,
                "days": days,
                "on_behalf_of": on_behalf_of,
                "due_at": stored.loan.due_at.unix_timestamp(),
            })),
        )?;
        Ok(stored)
    })
}

/// An archivist's inspection of a returned archive.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub barcode: String,
    pub condition: Condition,
    pub notes: Option<String>,
}

fn open_incident(
    conn: &mut Conn,
    now: OffsetDateTime,
    loan: &StoredLoan,
    kind: &str,
    notes: Option<String>,
    reported_by: Uuid,
) -> Result<Uuid, PersistenceError> {
    let id = Uuid::now_v7();
    diesel::insert_into(incidents::table)
        .values((
            incidents::id.eq(DbId(id)),
            incidents::loan_id.eq(DbId(loan.id)),
            incidents::archive_id.eq(DbId(loan.archive_id)),
            incidents::kind.eq(kind),
            incidents::notes.eq(notes),
            incidents::reported_by.eq(DbId(reported_by)),
            incidents::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Where the archive goes once a loan has ended, and the request it belongs to moves on.
fn after_loan_ends(
    conn: &mut Conn,
    now: OffsetDateTime,
    loan: &StoredLoan,
    request: &StoredRequest,
    condition: Condition,
) -> Result<Option<Uuid>, PersistenceError> {
    let reserved_for = match status_after_return(condition, true) {
        ArchiveStatus::Damaged => {
            archives::set_status(conn, now, loan.archive_id, ArchiveStatus::Damaged)?;
            None
        }
        _ => pass_on(conn, now, loan.archive_id)?,
    };
    settle(conn, now, request)?;
    Ok(reserved_for)
}

/// Takes an archive back by its barcode: the open loan of it is inspected and returned, or
/// waits for a second sign-off when its policy wants one. A damaged or incomplete archive
/// opens an incident and goes to repair.
pub fn take_back(
    conn: &mut Conn,
    now: OffsetDateTime,
    inspector: &User,
    inspection: Inspection,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let no_open_loan = || PersistenceError::Conflict("no_open_loan");
        let archive = archives::get_by_barcode(conn, &inspection.barcode, inspector.clearance)
            .map_err(|e| match e {
                PersistenceError::NotFound => no_open_loan(),
                other => other,
            })?;
        let row = loans_with_archive!()
            .filter(loans::archive_id.eq(DbId(archive.id)))
            .filter(loans::status.eq_any(OPEN))
            .first::<Joined>(conn)
            .optional()?
            .ok_or_else(no_open_loan)?;
        let before = into_stored(row)?;
        let request = requests::load(conn, before.request_id)?;
        let after =
            before
                .loan
                .take_back(inspector.id, inspection.condition, &request.rules, now)?;
        claim(conn, &before, now)?;
        diesel::update(loans::table.find(DbId(before.id)))
            .set((
                loans::status.eq(after.status.as_str()),
                loans::condition.eq(Some(inspection.condition.as_str())),
                loans::return_notes.eq(inspection.notes.clone()),
                loans::inspected_by.eq(Some(DbId(inspector.id))),
                loans::inspected_at.eq(Some(to_db_time(now))),
                loans::returned_at.eq(after.returned_at.map(to_db_time)),
            ))
            .execute(conn)?;
        let incident = if inspection.condition.opens_incident() {
            archives::set_status(conn, now, archive.id, ArchiveStatus::Damaged)?;
            Some(open_incident(
                conn,
                now,
                &before,
                inspection.condition.as_str(),
                inspection.notes.clone(),
                inspector.id,
            )?)
        } else {
            None
        };
        let reserved_for = if after.status == LoanStatus::Returned {
            after_loan_ends(conn, now, &before, &request, inspection.condition)?
        } else {
            None
        };
        let stored = load(conn, before.id)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("loan.returned", "loan")
                .by(Some(inspector.id))
                .on(before.id)
                .about(before.classification)
                .with(json!({
                    "condition": inspection.condition,
                    "notes": inspection.notes,
                    "incident_id": incident,
                    "reserved_for": reserved_for,
                    "loan": loan_audit(&stored),
                })),
        )?;
        Ok(stored)
    })
}

/// The second sign-off of a return: the borrower (password checked by the caller) or an
/// archivist who did not inspect it.
pub fn confirm_return(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: &User,
    id: Uuid,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, actor, id)?;
        check_confirm_return(
            &actor.principal(),
            before.loan.borrower_id,
            before.classification,
        )?;
        let after = before.loan.confirm_return(actor.id, now)?;
        claim(conn, &before, now)?;
        diesel::update(loans::table.find(DbId(id)))
            .set((
                loans::status.eq(after.status.as_str()),
                loans::returned_at.eq(after.returned_at.map(to_db_time)),
                loans::confirmed_by.eq(Some(DbId(actor.id))),
            ))
            .execute(conn)?;
        let condition = before.loan.condition.unwrap_or(Condition::Intact);
        let request = requests::load(conn, before.request_id)?;
        let reserved_for = after_loan_ends(conn, now, &before, &request, condition)?;
        let stored = load(conn, id)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("loan.return_confirmed", "loan")
                .by(Some(actor.id))
                .on(id)
                .about(stored.classification)
                .with(json!({"reserved_for": reserved_for, "loan": loan_audit(&stored)})),
        )?;
        Ok(stored)
    })
}

/// An archivist records an archive out on loan as lost.
pub fn report_lost(
    conn: &mut Conn,
    now: OffsetDateTime,
    archivist: &User,
    id: Uuid,
    notes: Option<String>,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, archivist, id)?;
        let after = before.loan.report_lost()?;
        claim(conn, &before, now)?;
        diesel::update(loans::table.find(DbId(id)))
            .set(loans::status.eq(after.status.as_str()))
            .execute(conn)?;
        archives::set_status(conn, now, before.archive_id, ArchiveStatus::Lost)?;
        let incident = open_incident(conn, now, &before, "lost", notes, archivist.id)?;
        settle_request(conn, now, before.request_id)?;
        let stored = load(conn, id)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("loan.lost", "loan")
                .by(Some(archivist.id))
                .on(id)
                .about(stored.classification)
                .with(json!({"incident_id": incident, "loan": loan_audit(&stored)})),
        )?;
        Ok(stored)
    })
}

/// The loans a borrower still has out, oldest due first (what a deactivated user must hand back).
pub fn open_of(conn: &mut Conn, borrower_id: Uuid) -> Result<Vec<StoredLoan>, PersistenceError> {
    loans_with_archive!()
        .filter(loans::borrower_id.eq(DbId(borrower_id)))
        .filter(loans::status.eq_any(OPEN))
        .order(loans::due_at.asc())
        .load::<Joined>(conn)?
        .into_iter()
        .map(into_stored)
        .collect()
}

/// `GET /loans` filters.
#[derive(Debug, Clone, Default)]
pub struct LoanFilter {
    pub status: Option<LoanStatus>,
    pub borrower_id: Option<Uuid>,
    pub archive_id: Option<Uuid>,
    pub overdue: Option<bool>,
    pub due_before: Option<OffsetDateTime>,
}

/// Loans `viewer` may see, newest first: staff all, others their own, everyone within clearance.
pub fn list(
    conn: &mut Conn,
    viewer: &User,
    filter: &LoanFilter,
    page: &PageRequest<Uuid>,
    now: OffsetDateTime,
) -> Result<Page<StoredLoan, Uuid>, PersistenceError> {
    let principal = viewer.principal();
    let mut query = loans_with_archive!()
        .order(loans::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if !principal.is_staff() {
        query = query.filter(loans::borrower_id.eq(DbId(viewer.id)));
    }
    if !principal.sees_every_classification() {
        let visible: Vec<&'static str> = principal
            .visible_classifications()
            .into_iter()
            .map(Classification::as_str)
            .collect();
        query = query.filter(archives_table::classification.eq_any(visible));
    }
    if let Some(status) = filter.status {
        query = query.filter(loans::status.eq(status.as_str()));
    }
    if let Some(borrower_id) = filter.borrower_id {
        query = query.filter(loans::borrower_id.eq(DbId(borrower_id)));
    }
    if let Some(archive_id) = filter.archive_id {
        query = query.filter(loans::archive_id.eq(DbId(archive_id)));
    }
    match filter.overdue {
        Some(true) => {
            query = query
                .filter(loans::status.eq_any(OPEN))
                .filter(loans::due_at.lt(to_db_time(now)));
        }
        Some(false) => {
            query = query.filter(
                diesel::dsl::not(loans::status.eq_any(OPEN)).or(loans::due_at.ge(to_db_time(now))),
            );
        }
        None => {}
    }
    if let Some(due_before) = filter.due_before {
        query = query.filter(loans::due_at.lt(to_db_time(due_before)));
    }
    if let Some(after) = page.after {
        query = query.filter(loans::id.lt(DbId(after)));
    }
    let rows = query
        .load::<Joined>(conn)?
        .into_iter()
        .map(into_stored)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, page.limit, |l| l.id))
}

/// The loan history of one archive, newest first; an archive above the reader's clearance does
/// not exist for them.
pub fn for_archive(
    conn: &mut Conn,
    viewer: &User,
    archive_id: Uuid,
    page: &PageRequest<Uuid>,
    now: OffsetDateTime,
) -> Result<Page<StoredLoan, Uuid>, PersistenceError> {
    archives::get(conn, archive_id, viewer.clearance)?;
    let filter = LoanFilter {
        archive_id: Some(archive_id),
        ..LoanFilter::default()
    };
    list(conn, viewer, &filter, page, now)
}
