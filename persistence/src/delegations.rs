//! Delegations: an approver hands their approval tasks to someone for a time window.

use dangan_domain::{audit::NewAuditEvent, request::Delegation, UserStatus};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit,
    db::write_transaction,
    from_db_time,
    schema::{delegations, users},
    sql_types::DbId,
    to_db_time, Conn, PersistenceError,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelegation {
    pub id: Uuid,
    pub delegation: Delegation,
    pub reason: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = delegations)]
struct DelegationRow {
    id: DbId,
    delegator_id: DbId,
    delegate_id: DbId,
    starts_at: time::PrimitiveDateTime,
    ends_at: time::PrimitiveDateTime,
    reason: Option<String>,
    created_at: time::PrimitiveDateTime,
}

impl DelegationRow {
    fn into_stored(self) -> StoredDelegation {
        StoredDelegation {
            id: self.id.into(),
            delegation: Delegation {
                delegator_id: self.delegator_id.into(),
                delegate_id: self.delegate_id.into(),
                starts_at: from_db_time(self.starts_at),
                ends_at: from_db_time(self.ends_at),
            },
            reason: self.reason,
            created_at: from_db_time(self.created_at),
        }
    }
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    delegation: Delegation,
    reason: Option<String>,
) -> Result<StoredDelegation, PersistenceError> {
    let errors = delegation.check(now);
    if !errors.is_empty() {
        return Err(PersistenceError::Invalid(errors));
    }
    write_transaction(conn, |conn| {
        let delegate_active: i64 = users::table
            .find(DbId(delegation.delegate_id))
            .filter(users::status.eq(UserStatus::Active.as_str()))
            .count()
            .get_result(conn)?;
        if delegate_active == 0 {
            return Err(PersistenceError::MissingReference("delegate_id"));
        }
        let row = DelegationRow {
            id: DbId(Uuid::now_v7()),
            delegator_id: DbId(delegation.delegator_id),
            delegate_id: DbId(delegation.delegate_id),
            starts_at: to_db_time(delegation.starts_at),
            ends_at: to_db_time(delegation.ends_at),
            reason,
            created_at: to_db_time(now),
        };
        diesel::insert_into(delegations::table)
            .values(&row)
            .execute(conn)?;
        let stored = row.into_stored();
        audit::append(
            conn,
            now,
            NewAuditEvent::new("delegation.created", "delegation")
                .by(Some(delegation.delegator_id))
                .on(stored.id)
                .with(json!({
                    "delegate_id": delegation.delegate_id,
                    "starts_at": delegation.starts_at.unix_timestamp(),
                    "ends_at": delegation.ends_at.unix_timestamp(),
                })),
        )?;
        Ok(stored)
    })
}

/// The delegations a user gave or received that have not ended, soonest start first.
pub fn list_for(
    conn: &mut Conn,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<StoredDelegation>, PersistenceError> {
    Ok(delegations::table
        .filter(
            delegations::delegator_id
                .eq(DbId(user_id))
                .or(delegations::delegate_id.eq(DbId(user_id))),
        )
        .filter(delegations::ends_at.gt(to_db_time(now)))
        .order((delegations::starts_at.asc(), delegations::id.asc()))
        .select(DelegationRow::as_select())
        .load::<DelegationRow>(conn)?
        .into_iter()
        .map(DelegationRow::into_stored)
        .collect())
}

/// The delegations in force now that hand someone's tasks to `delegate_id`.
pub fn active_for_delegate(
    conn: &mut Conn,
    delegate_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Delegation>, PersistenceError> {
    let at = to_db_time(now);
    Ok(delegations::table
        .filter(delegations::delegate_id.eq(DbId(delegate_id)))
        .filter(delegations::starts_at.le(at))
        .filter(delegations::ends_at.gt(at))
        .select(DelegationRow::as_select())
        .load::<DelegationRow>(conn)?
        .into_iter()
        .map(|row| row.into_stored().delegation)
        .collect())
}

/// Ends a delegation now; only its delegator may. Someone else's delegation is not found.
pub fn revoke(
    conn: &mut Conn,
    now: OffsetDateTime,
    delegator_id: Uuid,
    id: Uuid,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let deleted = diesel::delete(
            delegations::table
                .find(DbId(id))
                .filter(delegations::delegator_id.eq(DbId(delegator_id))),
        )
        .execute(conn)?;
        if deleted == 0 {
            return Err(PersistenceError::NotFound);
        }
        audit::append(
            conn,
            now,
            NewAuditEvent::new("delegation.revoked", "delegation")
                .by(Some(delegator_id))
                .on(id),
        )?;
        Ok(())
    })
}
