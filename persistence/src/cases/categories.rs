//! Archive categories (门类) and their 档号 rules, which admins define.

use dangan_domain::{archival::CategoryFields, audit::NewAuditEvent};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::categories::{self, audit_view, Category};
use crate::{db::write_transaction, events, Conn, PersistenceError};

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    fields: CategoryFields,
) -> Result<Category, PersistenceError> {
    let rule = fields.check().map_err(PersistenceError::Invalid)?;
    write_transaction(conn, |conn| {
        let new = Category {
            code: fields.code,
            name: fields.name,
            rule,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        categories::insert(conn, &new)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive_category.created", "archive_category")
                .by(Some(actor_id))
                .on(&new.code)
                .with(audit_view(&new)),
        )?;
        Ok(new)
    })
}

/// A partial change; `Some(None)` removes the rule.
#[derive(Debug, Clone, Default)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub rule: Option<Option<String>>,
}

/// Renames a category or changes its rule. A rule applies to codes built or checked from then
/// on; the codes already given keep their form (a 档号 does not change once given), and the
/// archives filed under it keep the label they were filed with (the reports count by it).
pub fn update(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    code: &str,
    patch: CategoryPatch,
    expected_version: Option<i32>,
) -> Result<Category, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = categories::get(conn, code)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        let fields = CategoryFields {
            code: before.code.clone(),
            name: patch.name.unwrap_or_else(|| before.name.clone()),
            rule: patch
                .rule
                .unwrap_or_else(|| before.rule.as_ref().map(ToString::to_string)),
        };
        let rule = fields.check().map_err(PersistenceError::Invalid)?;
        let after = Category {
            name: fields.name,
            rule,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        categories::store_change(conn, &before, &after)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive_category.updated", "archive_category")
                .by(Some(actor_id))
                .on(code)
                .with(json!({"before": audit_view(&before), "after": audit_view(&after)})),
        )?;
        Ok(after)
    })
}
