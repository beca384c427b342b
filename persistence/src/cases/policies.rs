//! Loan policies in the store: seeded with DESIGN.md's defaults, listed, and resolved for a
//! borrower, an archive and a loan type into the concrete approval chain.

use dangan_domain::{
    access::Principal,
    audit::NewAuditEvent,
    policy::{applicable, resolve_chain, LoanPolicy, LoanType, ResolvedStep, Subject},
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::policies::{list, organisation, PolicyRow, StoredPolicy};
use crate::{
    db::write_transaction,
    events,
    schema::{loan_policies, users},
    sql_types::DbId,
    store::archives::{self, Archive},
    to_db_time, Conflict, Conn, PersistenceError,
};

/// Stores `defaults` when there is no policy at all; returns whether it did.
pub fn seed_defaults(
    conn: &mut Conn,
    now: OffsetDateTime,
    defaults: &[LoanPolicy],
) -> Result<bool, PersistenceError> {
    write_transaction(conn, |conn| {
        let count: i64 = loan_policies::table.count().get_result(conn)?;
        if count > 0 {
            return Ok(false);
        }
        for policy in defaults {
            diesel::insert_into(loan_policies::table)
                .values(PolicyRow::new(policy, now))
                .execute(conn)?;
        }
        let names: Vec<&str> = defaults.iter().map(|p| p.name.as_str()).collect();
        events::record(
            conn,
            now,
            NewAuditEvent::new("policy.seeded", "policy").with(json!({"policies": names})),
        )?;
        Ok(true)
    })
}

pub fn get(conn: &mut Conn, id: Uuid) -> Result<StoredPolicy, PersistenceError> {
    loan_policies::table
        .find(DbId(id))
        .select(PolicyRow::as_select())
        .first::<PolicyRow>(conn)?
        .into_stored()
}

fn audit_view(policy: &LoanPolicy) -> serde_json::Value {
    json!({
        "name": policy.name,
        "priority": policy.priority,
        "match": policy.matches,
        "approval_steps": policy.approval_steps,
        "max_days": policy.max_days,
        "max_renewals": policy.max_renewals,
        "renewal_requires_approval": policy.renewal_requires_approval,
        "allowed_loan_types": policy.allowed_loan_types,
        "dual_signoff_on_return": policy.dual_signoff_on_return,
        "pickup_days": policy.pickup_days,
        "unmarked_copies": policy.unmarked_copies,
    })
}

/// Checks a policy's own rules and that every named approver exists.
fn check(conn: &mut Conn, policy: &LoanPolicy) -> Result<(), PersistenceError> {
    let errors = policy.check();
    if !errors.is_empty() {
        return Err(PersistenceError::Invalid(errors));
    }
    for user_id in policy.named_approvers() {
        let found: i64 = users::table.find(DbId(user_id)).count().get_result(conn)?;
        if found == 0 {
            return Err(PersistenceError::MissingReference("approval_steps"));
        }
    }
    Ok(())
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    policy: LoanPolicy,
) -> Result<StoredPolicy, PersistenceError> {
    write_transaction(conn, |conn| {
        check(conn, &policy)?;
        let row = PolicyRow::new(&policy, now);
        let id = row.id.0;
        diesel::insert_into(loan_policies::table)
            .values(row)
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("policy.created", "policy")
                .by(Some(actor_id))
                .on(id)
                .with(audit_view(&policy)),
        )?;
        get(conn, id)
    })
}

/// Replaces a policy whole; `expected_version` comes from `If-Match`.
pub fn replace(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
    policy: LoanPolicy,
    expected_version: Option<i32>,
) -> Result<StoredPolicy, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        check(conn, &policy)?;
        let row = PolicyRow {
            id: DbId(id),
            created_at: to_db_time(before.created_at),
            version: before.version + 1,
            ..PolicyRow::new(&policy, now)
        };
        let updated = diesel::update(
            loan_policies::table
                .find(DbId(id))
                .filter(loan_policies::version.eq(before.version)),
        )
        .set(row)
        .execute(conn)?;
        if updated == 0 {
            return Err(PersistenceError::VersionMismatch);
        }
        events::record(
            conn,
            now,
            NewAuditEvent::new("policy.updated", "policy")
                .by(Some(actor_id))
                .on(id)
                .with(json!({"before": audit_view(&before.policy), "after": audit_view(&policy)})),
        )?;
        get(conn, id)
    })
}

pub fn delete(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        diesel::delete(loan_policies::table.find(DbId(id))).execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("policy.deleted", "policy")
                .by(Some(actor_id))
                .on(id)
                .with(audit_view(&before.policy)),
        )?;
        Ok(())
    })
}

/// The policy governing one archive and loan type, and the approval chain it gives a borrower.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub archive: Archive,
    pub policy: StoredPolicy,
    pub steps: Vec<ResolvedStep>,
}

/// Resolves what `borrower` would face requesting `archive_id` as `loan_type`.
pub fn resolve(
    conn: &mut Conn,
    borrower: &Principal,
    archive_id: Uuid,
    loan_type: LoanType,
) -> Result<Resolution, PersistenceError> {
    let archive = archives::get(conn, archive_id, borrower.clearance)?;
    let policies = list(conn)?;
    let domain: Vec<LoanPolicy> = policies.iter().map(|p| p.policy.clone()).collect();
    let chosen = applicable(&domain, Subject::from(&archive.fields), loan_type)
        .and_then(|chosen| policies.iter().find(|p| p.policy == *chosen))
        .cloned()
        .ok_or(PersistenceError::Conflict(Conflict::NoPolicy))?;
    let org = organisation(conn, borrower.department_id)?;
    let steps = resolve_chain(
        &chosen.policy.approval_steps,
        borrower.id,
        archive.fields.classification,
        &org,
    )?;
    Ok(Resolution {
        archive,
        policy: chosen,
        steps,
    })
}
