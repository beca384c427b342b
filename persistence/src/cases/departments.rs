//! Departments: the organisation tree that approval chains walk (head of the borrower's department).

use dangan_domain::{audit::NewAuditEvent, department::check_parent};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::departments::{
    audit_view, ensure_exists, get, insert, store_change, Department, DepartmentRow,
};
use crate::{
    db::write_transaction,
    events,
    schema::{departments, users},
    sql_types::DbId,
    Conn, Page, PageRequest, PersistenceError,
};

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
        events::record(
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
        events::record(
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
