//! Online loans opening and ending: the loans of an approved online request open at once (or
//! when its last approver set), and end — given back, revoked, expired, or ended with the
//! borrower's account or clearance — closing their request once nothing of it is out.

use dangan_domain::{
    access::check_borrower,
    audit::NewAuditEvent,
    loan::{Loan, OnlineEnd},
    request::ItemStatus,
    voucher::VoucherKey,
    Classification,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{record, waiting_line};
use crate::{
    schema::{loans, request_items},
    sql_types::DbId,
    store::{
        loans::{claim, load, loan_audit, open_online, LoanRow, StoredLoan},
        requests::StoredRequest,
        rollups::{self, Hold, Scope},
        users,
    },
    to_db_time, Conn, PersistenceError,
};

fn held(loan: &StoredLoan) -> Hold<'static> {
    Hold::Loan {
        archive: loan.archive_id,
        borrower: loan.loan.borrower_id,
    }
}

/// Opens the loans of an online request its last approval (by `approver`) just approved,
/// readable from `opens_at`; in the approval's transaction.
pub(crate) fn open(
    conn: &mut Conn,
    now: OffsetDateTime,
    approver: Uuid,
    request: &StoredRequest,
    opens_at: OffsetDateTime,
    voucher_key: &VoucherKey,
) -> Result<(), PersistenceError> {
    let borrower = users::principals(conn, &[request.borrower_id])?
        .remove(&request.borrower_id)
        .ok_or(PersistenceError::NotFound)?;
    let mut after = request.clone();
    for item in &mut after.items {
        // As at the desk: nothing opens for a borrower since disabled or no longer cleared.
        check_borrower(&borrower, item.classification)?;
        rollups::hold(
            conn,
            Hold::Loan {
                archive: item.archive_id,
                borrower: request.borrower_id,
            },
        )?;
        let id = Uuid::now_v7();
        let loan = Loan::open_online(request.borrower_id, opens_at, request.days);
        diesel::insert_into(loans::table)
            .values(LoanRow {
                unmarked_copies: request.rules.unmarked_copies,
                ..LoanRow::opened(
                    id,
                    request.id,
                    item.archive_id,
                    &loan,
                    (approver, opens_at),
                    now,
                    voucher_key.code_for(id),
                )
            })
            .execute(conn)?;
        rollups::count(conn, Scope::Loan(id))?;
        diesel::update(
            request_items::table
                .filter(request_items::request_id.eq(DbId(request.id)))
                .filter(request_items::position.eq(item.position)),
        )
        .set((
            request_items::status.eq(ItemStatus::CheckedOut.as_str()),
            request_items::loan_id.eq(Some(DbId(id))),
        ))
        .execute(conn)?;
        item.status = ItemStatus::CheckedOut;
        item.loan_id = Some(id);
        let stored = load(conn, id)?;
        record(
            conn,
            now,
            NewAuditEvent::new("loan.opened", "loan")
                .by(Some(approver))
                .on(id)
                .about(stored.classification)
                .with(json!({
                    "request_id": request.id,
                    "request_number": request.number,
                    "opens_at": opens_at.unix_timestamp(),
                    "due_at": stored.loan.due_at.unix_timestamp(),
                    "loan": loan_audit(&stored),
                })),
        )?;
    }
    waiting_line::settle(conn, now, &after)?;
    Ok(())
}

/// Ends an online loan for `reason`, closing its request once nothing of it is out; in one
/// transaction with its audit event (`loan.returned_online`, `loan.revoked`, `loan.expired` or
/// `loan.ended`).
pub(crate) fn end_loan(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: Option<Uuid>,
    before: &StoredLoan,
    reason: OnlineEnd,
    note: Option<&str>,
) -> Result<StoredLoan, PersistenceError> {
    let after = before.loan.end_online(reason, before.checked_out_at, now)?;
    rollups::hold(conn, held(before))?;
    claim(conn, before, now)?;
    rollups::uncount(conn, Scope::Loan(before.id))?;
    diesel::update(loans::table.find(DbId(before.id)))
        .set((
            loans::status.eq(after.status.as_str()),
            loans::returned_at.eq(after.returned_at.map(to_db_time)),
            loans::end_reason.eq(Some(reason.as_str())),
            loans::return_notes.eq(note),
        ))
        .execute(conn)?;
    rollups::count(conn, Scope::Loan(before.id))?;
    waiting_line::settle_request(conn, now, before.request_id)?;
    let stored = load(conn, before.id)?;
    let action = match reason {
        OnlineEnd::Returned => "loan.returned_online",
        OnlineEnd::Revoked => "loan.revoked",
        OnlineEnd::Expired => "loan.expired",
        OnlineEnd::Deactivated | OnlineEnd::ClearanceLowered => "loan.ended",
    };
    record(
        conn,
        now,
        NewAuditEvent::new(action, "loan")
            .by(actor)
            .on(before.id)
            .about(stored.classification)
            .with(json!({
                "reason": reason,
                "notes": note,
                "loan": loan_audit(&stored),
            })),
    )?;
    Ok(stored)
}

/// Ends, in the caller's transaction, the online loans of `borrower_id` their account no
/// longer allows: every one when it is deactivated (`cleared` is `None`), else those of
/// archives above their new clearance. Returns the loans ended.
pub(crate) fn end_for_borrower(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: Option<Uuid>,
    borrower_id: Uuid,
    cleared: Option<Classification>,
) -> Result<Vec<Uuid>, PersistenceError> {
    let mut ended = Vec::new();
    for id in open_online(conn, Some(borrower_id), None)? {
        let before = load(conn, id)?;
        let reason = match cleared {
            None => OnlineEnd::Deactivated,
            Some(clearance) if before.classification > clearance => OnlineEnd::ClearanceLowered,
            Some(_) => continue,
        };
        end_loan(conn, now, actor, &before, reason, None)?;
        ended.push(id);
    }
    Ok(ended)
}
