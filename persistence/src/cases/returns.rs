//! Returns with inspection and the second sign-off, and losses.

use dangan_domain::{
    access::check_confirm_return,
    archive::ArchiveStatus,
    audit::NewAuditEvent,
    loan::{status_after_return, Condition, LoanStatus},
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events,
    schema::{incidents, loans},
    sql_types::DbId,
    store::{
        archives,
        files::NewFile,
        loans::{claim, get, load, loan_audit, out_of, StoredLoan},
        photos,
        requests::{self, StoredRequest},
        rollups::{self, Hold, Scope},
        users::User,
    },
    to_db_time, Conflict, Conn, PersistenceError,
};

/// An archivist's inspection of a returned archive.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub barcode: String,
    pub condition: Condition,
    pub notes: Option<String>,
}

/// What a change of `loan` is counted under.
fn held(loan: &StoredLoan) -> Hold<'static> {
    Hold::Loan {
        archive: loan.archive_id,
        borrower: loan.loan.borrower_id,
    }
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
        _ => events::archive_freed(conn, now, loan.archive_id)?,
    };
    events::request_items_moved(conn, now, request)?;
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
    photos: &[NewFile],
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let no_open_loan = || PersistenceError::Conflict(Conflict::NoOpenLoan);
        let archive = archives::get_by_barcode(conn, &inspection.barcode, inspector.clearance)
            .map_err(|e| match e {
                PersistenceError::NotFound => no_open_loan(),
                other => other,
            })?;
        let before = out_of(conn, archive.id)?.ok_or_else(no_open_loan)?;
        let request = requests::load(conn, before.request_id)?;
        let after =
            before
                .loan
                .take_back(inspector.id, inspection.condition, &request.rules, now)?;
        // No claim first: if the loan changed since it was read (renewed, signed), the version
        // check below finds it and the whole transaction, uncount included, rolls back.
        rollups::hold(conn, held(&before))?;
        rollups::uncount(conn, Scope::Loan(before.id))?;
        let updated = diesel::update(
            loans::table
                .find(DbId(before.id))
                .filter(loans::version.eq(before.version)),
        )
        .set((
            loans::status.eq(after.status.as_str()),
            loans::condition.eq(Some(inspection.condition.as_str())),
            loans::return_notes.eq(inspection.notes.clone()),
            loans::inspected_by.eq(Some(DbId(inspector.id))),
            loans::inspected_at.eq(Some(to_db_time(now))),
            loans::returned_at.eq(after.returned_at.map(to_db_time)),
            loans::updated_at.eq(to_db_time(now)),
            loans::version.eq(before.version + 1),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(PersistenceError::VersionMismatch);
        }
        rollups::count(conn, Scope::Loan(before.id))?;
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
        photos::insert(conn, now, inspector.id, before.id, incident, photos)?;
        let reserved_for = if after.status == LoanStatus::Returned {
            after_loan_ends(conn, now, &before, &request, inspection.condition)?
        } else {
            None
        };
        let stored = load(conn, before.id)?;
        events::record(
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
                    "photos": photos.iter().map(photos::audit_view).collect::<Vec<_>>(),
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
        rollups::hold(conn, held(&before))?;
        claim(conn, &before, now)?;
        rollups::uncount(conn, Scope::Loan(id))?;
        diesel::update(loans::table.find(DbId(id)))
            .set((
                loans::status.eq(after.status.as_str()),
                loans::returned_at.eq(after.returned_at.map(to_db_time)),
                loans::confirmed_by.eq(Some(DbId(actor.id))),
            ))
            .execute(conn)?;
        rollups::count(conn, Scope::Loan(id))?;
        let condition = before.loan.condition.unwrap_or(Condition::Intact);
        let request = requests::load(conn, before.request_id)?;
        let reserved_for = after_loan_ends(conn, now, &before, &request, condition)?;
        let stored = load(conn, id)?;
        events::record(
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
        rollups::hold(conn, held(&before))?;
        claim(conn, &before, now)?;
        rollups::uncount(conn, Scope::Loan(id))?;
        diesel::update(loans::table.find(DbId(id)))
            .set(loans::status.eq(after.status.as_str()))
            .execute(conn)?;
        rollups::count(conn, Scope::Loan(id))?;
        archives::set_status(conn, now, before.archive_id, ArchiveStatus::Lost)?;
        let incident = open_incident(conn, now, &before, "lost", notes, archivist.id)?;
        events::items_of_request_moved(conn, now, before.request_id)?;
        let stored = load(conn, id)?;
        events::record(
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
