//! Custom request form fields in the store: list, create, replace, delete — each audited.

use dangan_domain::{
    audit::NewAuditEvent,
    form::{FieldType, FormField},
};
use diesel::prelude::*;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit, db::write_transaction, from_db_time, schema::form_fields, sql_types::DbId, to_db_time,
    Conflict, Conn, PersistenceError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredField {
    pub id: Uuid,
    pub field: FormField,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = form_fields)]
struct FieldRow {
    id: DbId,
    key: String,
    label: String,
    field_type: String,
    required: bool,
    options: String,
    categories: String,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

fn unreadable(column: &str, error: serde_json::Error) -> PersistenceError {
    PersistenceError::Corrupt(format!("form_fields.{column}: {error}"))
}

impl FieldRow {
    fn into_stored(self) -> Result<StoredField, PersistenceError> {
        Ok(StoredField {
            id: self.id.into(),
            field: FormField {
                key: self.key,
                label: self.label,
                field_type: serde_json::from_value::<FieldType>(Value::String(self.field_type))
                    .map_err(|e| unreadable("field_type", e))?,
                required: self.required,
                options: serde_json::from_str(&self.options)
                    .map_err(|e| unreadable("options", e))?,
                categories: serde_json::from_str(&self.categories)
                    .map_err(|e| unreadable("categories", e))?,
            },
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        })
    }

    fn new(
        id: Uuid,
        field: &FormField,
        created_at: OffsetDateTime,
        now: OffsetDateTime,
        version: i32,
    ) -> FieldRow {
        FieldRow {
            id: DbId(id),
            key: field.key.clone(),
            label: field.label.clone(),
            field_type: json!(field.field_type)
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            required: field.required,
            options: json!(field.options).to_string(),
            categories: json!(field.categories).to_string(),
            created_at: to_db_time(created_at),
            updated_at: to_db_time(now),
            version,
        }
    }
}

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

/// Every field, by key.
pub fn list(conn: &mut Conn) -> Result<Vec<StoredField>, PersistenceError> {
    form_fields::table
        .select(FieldRow::as_select())
        .order(form_fields::key.asc())
        .load::<FieldRow>(conn)?
        .into_iter()
        .map(FieldRow::into_stored)
        .collect()
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
        audit::append(
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
        audit::append(
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
        audit::append(
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
