//! Delegations: an approver hands their approval tasks to someone for a time window.

use dangan_domain::{audit::NewAuditEvent, request::Delegation, UserStatus};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::delegations::{DelegationRow, StoredDelegation};
use crate::{
    db::write_transaction,
    events,
    schema::{delegations, users},
    sql_types::DbId,
    to_db_time, Conn, PersistenceError,
};

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
        events::record(
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
        events::record(
            conn,
            now,
            NewAuditEvent::new("delegation.revoked", "delegation")
                .by(Some(delegator_id))
                .on(id),
        )?;
        Ok(())
    })
}
