//! Loan policies in the store: seeded with DESIGN.md's defaults, listed, and resolved for a
//! borrower, an archive and a loan type into the concrete approval chain.

use std::collections::BTreeMap;

use dangan_domain::{
    access::Principal,
    audit::NewAuditEvent,
    policy::{applicable, resolve_chain, LoanPolicy, LoanType, Organisation, ResolvedStep},
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    archives::{self, Archive},
    audit,
    db::write_transaction,
    from_db_time,
    schema::{departments, loan_policies, users},
    sql_types::DbId,
    to_db_time, Conflict, Conn, PersistenceError,
};

/// A policy as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicy {
    pub id: Uuid,
    pub policy: LoanPolicy,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = loan_policies)]
struct PolicyRow {
    id: DbId,
    name: String,
    priority: i32,
    match_rules: String,
    approval_steps: String,
    max_days: i32,
    max_renewals: i32,
    renewal_requires_approval: bool,
    allowed_loan_types: String,
    dual_signoff_on_return: bool,
    pickup_days: i32,
    unmarked_copies: bool,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

fn unreadable(column: &str, error: serde_json::Error) -> PersistenceError {
    PersistenceError::Corrupt(format!("loan_policies.{column}: {error}"))
}

impl PolicyRow {
    fn into_stored(self) -> Result<StoredPolicy, PersistenceError> {
        Ok(StoredPolicy {
            id: self.id.into(),
            policy: LoanPolicy {
                name: self.name,
                priority: self.priority,
                matches: serde_json::from_str(&self.match_rules)
                    .map_err(|e| unreadable("match_rules", e))?,
                approval_steps: serde_json::from_str(&self.approval_steps)
                    .map_err(|e| unreadable("approval_steps", e))?,
                max_days: self.max_days,
                max_renewals: self.max_renewals,
                renewal_requires_approval: self.renewal_requires_approval,
                allowed_loan_types: serde_json::from_str(&self.allowed_loan_types)
                    .map_err(|e| unreadable("allowed_loan_types", e))?,
                dual_signoff_on_return: self.dual_signoff_on_return,
                pickup_days: self.pickup_days,
                unmarked_copies: self.unmarked_copies,
            },
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        })
    }

    fn new(policy: &LoanPolicy, now: OffsetDateTime) -> PolicyRow {
        PolicyRow {
            id: DbId(Uuid::now_v7()),
            name: policy.name.clone(),
            priority: policy.priority,
            match_rules: json!(policy.matches).to_string(),
            approval_steps: json!(policy.approval_steps).to_string(),
            max_days: policy.max_days,
            max_renewals: policy.max_renewals,
            renewal_requires_approval: policy.renewal_requires_approval,
            allowed_loan_types: json!(policy.allowed_loan_types).to_string(),
            dual_signoff_on_return: policy.dual_signoff_on_return,
            pickup_days: policy.pickup_days,
            unmarked_copies: policy.unmarked_copies,
            created_at: to_db_time(now),
            updated_at: to_db_time(now),
            version: 1,
        }
    }
}

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
        audit::append(
            conn,
            now,
            NewAuditEvent::new("policy.seeded", "policy").with(json!({"policies": names})),
        )?;
        Ok(true)
    })
}

/// Every policy, highest priority first.
pub fn list(conn: &mut Conn) -> Result<Vec<StoredPolicy>, PersistenceError> {
    loan_policies::table
        .select(PolicyRow::as_select())
        .order((
            loan_policies::priority.desc(),
            loan_policies::name.asc(),
            loan_policies::id.asc(),
        ))
        .load::<PolicyRow>(conn)?
        .into_iter()
        .map(PolicyRow::into_stored)
        .collect()
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
        audit::append(
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
        audit::append(
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
        audit::append(
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

/// What the organisation looks like from a borrower's department, for chain resolution.
pub(crate) fn organisation(
    conn: &mut Conn,
    department_id: Option<Uuid>,
) -> Result<Organisation, PersistenceError> {
    let people: BTreeMap<Uuid, Principal> = crate::users::active_principals(conn)?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut heads_upward = Vec::new();
    let mut current = department_id;
    // A deeper tree than this is a loop stored by mistake; stop rather than spin.
    for _ in 0..64 {
        let Some(id) = current else { break };
        let (parent, head): (Option<DbId>, Option<DbId>) = departments::table
            .find(DbId(id))
            .select((departments::parent_id, departments::head_user_id))
            .first(conn)?;
        heads_upward.push(head.map(Uuid::from).filter(|h| people.contains_key(h)));
        current = parent.map(Uuid::from);
    }
    Ok(Organisation {
        heads_upward,
        people,
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
    let chosen = applicable(
        &domain,
        archive.fields.classification,
        &archive.fields.category,
        loan_type,
    )
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
