//! Renewals: granted at once within the policy, or waiting for the approvers of the request's
//! last step.

use dangan_domain::{
    access::check_borrower,
    audit::NewAuditEvent,
    loan::{renewal_decided_for, Renewal, RenewalOutcome, RenewalStatus},
    request::{ItemStatus, RequestStatus},
    DomainError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events,
    schema::{loan_renewals, loan_requests, loans, request_items},
    sql_types::DbId,
    store::{
        loans::{claim, corrupt, count_overdue, get, held_by, load, StoredLoan},
        notifications::{notify, Message},
        requests::{self, StoredRequest},
        users::{self, User},
    },
    to_db_time, Conflict, Conn, PersistenceError,
};

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
            now,
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
                events::record(
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
                    .filter(loan_renewals::status.eq(RenewalStatus::Pending.as_str()))
                    .count()
                    .get_result(conn)?;
                if waiting > 0 {
                    return Err(PersistenceError::Conflict(Conflict::RenewalPending));
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
                        loan_renewals::status.eq(RenewalStatus::Pending.as_str()),
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
                events::record(
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
        let deciders = requests::deciders(conn, actor, now)?;
        let on_behalf_of = match renewal_decided_for(
            actor.id,
            before.loan.borrower_id,
            before.classification,
            &renewal_approvers(&request),
            &deciders,
            now,
        ) {
            Ok(on_behalf_of) => on_behalf_of,
            Err(refused) if get(conn, actor, loan_id).is_ok() => return Err(refused.into()),
            Err(_) => return Err(PersistenceError::NotFound),
        };
        let (days, status): (i32, String) = loan_renewals::table
            .find(DbId(renewal_id))
            .filter(loan_renewals::loan_id.eq(DbId(loan_id)))
            .select((loan_renewals::days, loan_renewals::status))
            .first(conn)?;
        let decided = status
            .parse::<RenewalStatus>()
            .map_err(|e| corrupt("loan_renewals.status", e))?
            .decided(grant)?;
        diesel::update(loan_renewals::table.find(DbId(renewal_id)))
            .set((
                loan_renewals::status.eq(decided.as_str()),
                loan_renewals::decided_by.eq(Some(DbId(actor.id))),
                loan_renewals::decided_at.eq(Some(to_db_time(now))),
            ))
            .execute(conn)?;
        if grant {
            let borrower = users::principals(conn, &[before.loan.borrower_id])?
                .remove(&before.loan.borrower_id)
                .ok_or(PersistenceError::NotFound)?;
            check_borrower(&borrower, before.classification)?;
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
        events::record(
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
