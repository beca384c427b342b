//! Loan policies: their row, the list, and the organisation approval chains resolve against.

use crate::{
    from_db_time,
    schema::{departments, loan_policies},
    sql_types::DbId,
    to_db_time, Conn, PersistenceError,
};
use dangan_domain::{
    access::Principal,
    policy::{LoanPolicy, Organisation},
};
use diesel::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

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
pub(crate) struct PolicyRow {
    pub(crate) id: DbId,
    pub(crate) name: String,
    pub(crate) priority: i32,
    pub(crate) match_rules: String,
    pub(crate) approval_steps: String,
    pub(crate) max_days: i32,
    pub(crate) max_renewals: i32,
    pub(crate) renewal_requires_approval: bool,
    pub(crate) allowed_loan_types: String,
    pub(crate) dual_signoff_on_return: bool,
    pub(crate) pickup_days: i32,
    pub(crate) unmarked_copies: bool,
    pub(crate) created_at: time::PrimitiveDateTime,
    pub(crate) updated_at: time::PrimitiveDateTime,
    pub(crate) version: i32,
}

pub(crate) fn unreadable(column: &str, error: serde_json::Error) -> PersistenceError {
    PersistenceError::Corrupt(format!("loan_policies.{column}: {error}"))
}

impl PolicyRow {
    pub(crate) fn into_stored(self) -> Result<StoredPolicy, PersistenceError> {
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

    pub(crate) fn new(policy: &LoanPolicy, now: OffsetDateTime) -> PolicyRow {
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

/// What the organisation looks like from a borrower's department, for chain resolution.
pub(crate) fn organisation(
    conn: &mut Conn,
    department_id: Option<Uuid>,
) -> Result<Organisation, PersistenceError> {
    let people: BTreeMap<Uuid, Principal> = crate::store::users::active_principals(conn)?
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
