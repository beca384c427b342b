//! Departments: their row, a read, an insert and a change checked against its version.

use crate::{
    from_db_time, schema::departments, sql_types::DbId, to_db_time, Conflict, Conn,
    PersistenceError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Department {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub head_user_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = departments, treat_none_as_null = true)]
pub(crate) struct DepartmentRow {
    pub(crate) id: DbId,
    pub(crate) code: String,
    pub(crate) name: String,
    pub(crate) parent_id: Option<DbId>,
    pub(crate) head_user_id: Option<DbId>,
    pub(crate) created_at: time::PrimitiveDateTime,
    pub(crate) updated_at: time::PrimitiveDateTime,
    pub(crate) version: i32,
}

impl DepartmentRow {
    pub(crate) fn into_department(self) -> Department {
        Department {
            id: self.id.into(),
            code: self.code,
            name: self.name,
            parent_id: self.parent_id.map(Uuid::from),
            head_user_id: self.head_user_id.map(Uuid::from),
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        }
    }

    pub(crate) fn from_department(d: &Department) -> Self {
        DepartmentRow {
            id: DbId(d.id),
            code: d.code.clone(),
            name: d.name.clone(),
            parent_id: d.parent_id.map(DbId),
            head_user_id: d.head_user_id.map(DbId),
            created_at: to_db_time(d.created_at),
            updated_at: to_db_time(d.updated_at),
            version: d.version,
        }
    }
}

pub(crate) fn audit_view(d: &Department) -> serde_json::Value {
    json!({"code": d.code, "name": d.name, "parent_id": d.parent_id, "head_user_id": d.head_user_id})
}

/// Fails with `MissingReference(field)` unless the department exists.
pub(crate) fn ensure_exists(
    conn: &mut Conn,
    id: Uuid,
    field: &'static str,
) -> Result<(), PersistenceError> {
    let found: i64 = departments::table.find(DbId(id)).count().get_result(conn)?;
    if found == 0 {
        return Err(PersistenceError::MissingReference(field));
    }
    Ok(())
}

pub(crate) fn insert(
    conn: &mut Conn,
    department: Department,
) -> Result<Department, PersistenceError> {
    diesel::insert_into(departments::table)
        .values(DepartmentRow::from_department(&department))
        .execute(conn)
        .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateCode))?;
    get(conn, department.id)
}

/// Writes `after` over `before` if nobody changed the row in between.
pub(crate) fn store_change(
    conn: &mut Conn,
    before: &Department,
    after: &Department,
) -> Result<Department, PersistenceError> {
    let updated = diesel::update(
        departments::table
            .find(DbId(before.id))
            .filter(departments::version.eq(before.version)),
    )
    .set(DepartmentRow::from_department(after))
    .execute(conn)
    .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateCode))?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    get(conn, after.id)
}

pub fn get(conn: &mut Conn, id: Uuid) -> Result<Department, PersistenceError> {
    Ok(departments::table
        .find(DbId(id))
        .select(DepartmentRow::as_select())
        .first::<DepartmentRow>(conn)?
        .into_department())
}
