//! Departments: the organisation tree that approval chains walk (head of the borrower's department).

use dangan_domain::{audit::NewAuditEvent, department::check_parent};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit,
    db::write_transaction,
    from_db_time,
    schema::{departments, users},
    sql_types::DbId,
    to_db_time, Conflict, Conn, Page, PageRequest, PersistenceError,
};

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
struct DepartmentRow {
    id: DbId,
    code: String,
    name: String,
    parent_id: Option<DbId>,
    head_user_id: Option<DbId>,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

impl DepartmentRow {
    fn into_department(self) -> Department {
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

    fn from_department(d: &Department) -> Self {
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

fn ensure_user_exists(conn: &mut Conn, id: Uuid) -> Result<(), PersistenceError> {
    let found: i64 = users::table.find(DbId(id)).count().get_result(conn)?;
    if found == 0 {
        return Err(PersistenceError::MissingReference("head_user_id"));
    }
    Ok(())
}

/// The chain from `id` up to the root, `id` first.
fn ancestors(conn: &mut Conn, id: Uuid) -> Result<Vec<Uuid>, PersistenceError> {
    let mut chain = vec![id];
    let mut current = id;
    // A tree deeper than this is a loop already stored; stop rather than spin.
    for _ in 0..256 {
        let parent: Option<DbId> = departments::table
            .find(DbId(current))
            .select(departments::parent_id)
            .first(conn)?;
        match parent.map(Uuid::from) {
            Some(parent) if !chain.contains(&parent) => {
                chain.push(parent);
                current = parent;
            }
            _ => break,
        }
    }
    Ok(chain)
}

#[derive(Debug, Clone)]
pub struct NewDepartment {
    pub code: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub head_user_id: Option<Uuid>,
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    new: NewDepartment,
) -> Result<Department, PersistenceError> {
    write_transaction(conn, |conn| {
        if let Some(parent_id) = new.parent_id {
            ensure_exists(conn, parent_id, "parent_id")?;
        }
        if let Some(head) = new.head_user_id {
            ensure_user_exists(conn, head)?;
        }
        let department = insert(
            conn,
            Department {
                id: Uuid::now_v7(),
                code: new.code,
                name: new.name,
                parent_id: new.parent_id,
                head_user_id: new.head_user_id,
                created_at: now,
                updated_at: now,
                version: 1,
            },
        )?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("department.created", "department")
                .by(Some(actor_id))
                .on(department.id)
                .with(audit_view(&department)),
        )?;
        Ok(department)
    })
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

/// Departments, newest first.
pub fn list(
    conn: &mut Conn,
    page: &PageRequest<Uuid>,
) -> Result<Page<Department, Uuid>, PersistenceError> {
    let mut query = departments::table
        .select(DepartmentRow::as_select())
        .order(departments::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = page.after {
        query = query.filter(departments::id.lt(DbId(after)));
    }
    let rows = query.load::<DepartmentRow>(conn)?;
    let items = rows
        .into_iter()
        .map(DepartmentRow::into_department)
        .collect();
    Ok(Page::from_rows(items, page.limit, |d: &Department| d.id))
}

/// A partial change; `Some(None)` clears the parent or the head.
#[derive(Debug, Clone, Default)]
pub struct DepartmentPatch {
    pub code: Option<String>,
    pub name: Option<String>,
    pub parent_id: Option<Option<Uuid>>,
    pub head_user_id: Option<Option<Uuid>>,
}

pub fn update(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
    patch: DepartmentPatch,
    expected_version: Option<i32>,
) -> Result<Department, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        if let Some(Some(parent_id)) = patch.parent_id {
            ensure_exists(conn, parent_id, "parent_id")?;
            check_parent(id, Some(parent_id), &ancestors(conn, parent_id)?)?;
        }
        if let Some(Some(head)) = patch.head_user_id {
            ensure_user_exists(conn, head)?;
        }
        let after = Department {
            code: patch.code.unwrap_or_else(|| before.code.clone()),
            name: patch.name.unwrap_or_else(|| before.name.clone()),
            parent_id: patch.parent_id.unwrap_or(before.parent_id),
            head_user_id: patch.head_user_id.unwrap_or(before.head_user_id),
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        let department = store_change(conn, &before, &after)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("department.updated", "department")
                .by(Some(actor_id))
                .on(id)
                .with(json!({"before": audit_view(&before), "after": audit_view(&department)})),
        )?;
        Ok(department)
    })
}
