//! Fonds (全宗): the site's own, made at start, and the others an archivist records.

use dangan_domain::{archival::FondsFields, audit::NewAuditEvent};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::fonds::{self, audit_view, Fonds};
use crate::{
    db::write_transaction, events, schema::archives, sql_types::DbId, Conn, PersistenceError,
};

fn checked(fields: &FondsFields) -> Result<(), PersistenceError> {
    let errors = fields.check();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(PersistenceError::Invalid(errors))
    }
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    fields: FondsFields,
) -> Result<Fonds, PersistenceError> {
    checked(&fields)?;
    write_transaction(conn, |conn| {
        let new = Fonds {
            id: Uuid::now_v7(),
            number: fields.number,
            name: fields.name,
            formed_by: fields.formed_by,
            start_year: fields.start_year,
            end_year: fields.end_year,
            is_default: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        fonds::insert(conn, &new)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("fonds.created", "fonds")
                .by(Some(actor_id))
                .on(new.id)
                .with(audit_view(&new)),
        )?;
        Ok(new)
    })
}

/// A partial change; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct FondsPatch {
    pub number: Option<String>,
    pub name: Option<String>,
    pub formed_by: Option<Option<String>>,
    pub start_year: Option<Option<i32>>,
    pub end_year: Option<Option<i32>>,
}

pub fn update(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
    patch: FondsPatch,
    expected_version: Option<i32>,
) -> Result<Fonds, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = fonds::get(conn, id)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        let fields = FondsFields {
            number: patch.number.unwrap_or_else(|| before.number.clone()),
            name: patch.name.unwrap_or_else(|| before.name.clone()),
            formed_by: patch.formed_by.unwrap_or_else(|| before.formed_by.clone()),
            start_year: patch.start_year.unwrap_or(before.start_year),
            end_year: patch.end_year.unwrap_or(before.end_year),
        };
        checked(&fields)?;
        if fields.number != before.number && holds_archives(conn, id)? {
            // Its number is written into every 档号 of its archives, which never change.
            return Err(PersistenceError::Invalid(vec![
                dangan_domain::FieldError::new(
                    "number",
                    "cannot change: the fonds holds archives whose 档号 carry it",
                ),
            ]));
        }
        let after = Fonds {
            number: fields.number,
            name: fields.name,
            formed_by: fields.formed_by,
            start_year: fields.start_year,
            end_year: fields.end_year,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        fonds::store_change(conn, &before, &after)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("fonds.updated", "fonds")
                .by(Some(actor_id))
                .on(id)
                .with(json!({"before": audit_view(&before), "after": audit_view(&after)})),
        )?;
        Ok(after)
    })
}

fn holds_archives(conn: &mut Conn, id: Uuid) -> Result<bool, PersistenceError> {
    Ok(diesel::select(diesel::dsl::exists(
        archives::table
            .filter(archives::fonds_id.eq(DbId(id)))
            .select(archives::seq),
    ))
    .get_result(conn)?)
}

/// Makes sure the site has its own fonds, the one archives created without a fonds are filed
/// in: on the first start after the archive room's model arrived it is made from `number` and
/// `name`, and every archive that has no fonds yet moves into it. Returns whether it was made.
pub fn adopt(
    conn: &mut Conn,
    now: OffsetDateTime,
    number: &str,
    name: &str,
) -> Result<bool, PersistenceError> {
    write_transaction(conn, |conn| {
        if fonds::default_fonds(conn)?.is_some() {
            return Ok(false);
        }
        let own = match fonds::by_number(conn, number)? {
            Some(existing) => {
                let after = Fonds {
                    is_default: true,
                    ..existing.clone()
                };
                fonds::store_change(conn, &existing, &after)?;
                after
            }
            None => {
                let fields = FondsFields {
                    number: number.to_owned(),
                    name: name.to_owned(),
                    formed_by: None,
                    start_year: None,
                    end_year: None,
                };
                checked(&fields)?;
                let own = Fonds {
                    id: Uuid::now_v7(),
                    number: fields.number,
                    name: fields.name,
                    formed_by: None,
                    start_year: None,
                    end_year: None,
                    is_default: true,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                fonds::insert(conn, &own)?;
                own
            }
        };
        let moved = diesel::update(archives::table.filter(archives::fonds_id.is_null()))
            .set(archives::fonds_id.eq(DbId(own.id)))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("fonds.adopted", "fonds")
                .on(own.id)
                .with(json!({"fonds": audit_view(&own), "archives_moved": moved})),
        )?;
        Ok(true)
    })
}
