//! Delegations of approval: their row and the ones in force for a delegate.

use crate::{
    from_db_time, schema::delegations, sql_types::DbId, to_db_time, Conn, PersistenceError,
};
use dangan_domain::request::Delegation;
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelegation {
    pub id: Uuid,
    pub delegation: Delegation,
    pub reason: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = delegations)]
pub(crate) struct DelegationRow {
    pub(crate) id: DbId,
    pub(crate) delegator_id: DbId,
    pub(crate) delegate_id: DbId,
    pub(crate) starts_at: time::PrimitiveDateTime,
    pub(crate) ends_at: time::PrimitiveDateTime,
    pub(crate) reason: Option<String>,
    pub(crate) created_at: time::PrimitiveDateTime,
}

impl DelegationRow {
    pub(crate) fn into_stored(self) -> StoredDelegation {
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
