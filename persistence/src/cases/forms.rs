//! Custom request form fields in the store: list, create, replace, delete — each audited.

use dangan_domain::{audit::NewAuditEvent, form::FormField};
use diesel::prelude::*;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::forms::{FieldRow, StoredField};
use crate::{
    db::write_transaction, events, schema::form_fields, sql_types::DbId, Conflict, Conn,
    PersistenceError,
};

fn audit_view(field: &FormField) -> Value {
    json!({
        "key": field.key,
        "label": field.label,
        "type": field.field_type,
        "required": field.required,
        "options": field.options,
        "categories": field.categories,
    })
}

fn checked(field: &FormField) -> Result<(), PersistenceError> {
    let errors = field.check();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(PersistenceError::Invalid(errors))
    }
}

pub fn get(conn: &mut Conn, id: Uuid) -> Result<StoredField, PersistenceError> {
    form_fields::table
        .find(DbId(id))
        .select(FieldRow::as_select())
        .first::<FieldRow>(conn)?
        .into_stored()
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    field: FormField,
) -> Result<StoredField, PersistenceError> {
    checked(&field)?;
    write_transaction(conn, |conn| {
        let id = Uuid::now_v7();
        diesel::insert_into(form_fields::table)
            .values(FieldRow::new(id, &field, now, now, 1))
            .execute(conn)
            .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateKey))?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("form_field.created", "form_field")
                .by(Some(actor_id))
                .on(id)
                .with(audit_view(&field)),
        )?;
        get(conn, id)
    })
}

/// Replaces a field whole; `expected_version` comes from `If-Match`.
pub fn replace(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
    field: FormField,
    expected_version: Option<i32>,
) -> Result<StoredField, PersistenceError> {
    checked(&field)?;
    write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        let updated = diesel::update(
            form_fields::table
                .find(DbId(id))
                .filter(form_fields::version.eq(before.version)),
        )
        .set(FieldRow::new(
            id,
            &field,
            before.created_at,
            now,
            before.version + 1,
        ))
        .execute(conn)
        .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateKey))?;
        if updated == 0 {
            return Err(PersistenceError::VersionMismatch);
        }
        events::record(
            conn,
            now,
            NewAuditEvent::new("form_field.updated", "form_field")
                .by(Some(actor_id))
                .on(id)
                .with(json!({"before": audit_view(&before.field), "after": audit_view(&field)})),
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
        diesel::delete(form_fields::table.find(DbId(id))).execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("form_field.deleted", "form_field")
                .by(Some(actor_id))
                .on(id)
                .with(audit_view(&before.field)),
        )?;
        Ok(())
    })
}
