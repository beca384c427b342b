//! The custom fields of the request form: their row and the list.

use crate::{
    from_db_time, schema::form_fields, sql_types::DbId, to_db_time, Conn, PersistenceError,
};
use dangan_domain::form::{FieldType, FormField};
use diesel::prelude::*;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

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
pub(crate) struct FieldRow {
    pub(crate) id: DbId,
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) field_type: String,
    pub(crate) required: bool,
    pub(crate) options: String,
    pub(crate) categories: String,
    pub(crate) created_at: time::PrimitiveDateTime,
    pub(crate) updated_at: time::PrimitiveDateTime,
    pub(crate) version: i32,
}

pub(crate) fn unreadable(column: &str, error: serde_json::Error) -> PersistenceError {
    PersistenceError::Corrupt(format!("form_fields.{column}: {error}"))
}

impl FieldRow {
    pub(crate) fn into_stored(self) -> Result<StoredField, PersistenceError> {
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

    pub(crate) fn new(
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
