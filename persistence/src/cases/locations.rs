//! The archive room's places: recorded, renamed or moved by archivists, and archives moved onto
//! them one by one or a shelf at a time (scan the shelf, then the archives).

use dangan_domain::{
    audit::NewAuditEvent,
    shelf::{moved, path_of, within, LocationFields},
    Classification, FieldError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{
    archives::{get as get_archive, get_by_barcode, Archive},
    locations::{self, audit_view, Location},
};
use crate::{
    db::write_transaction, events, schema::archives, sql_types::DbId, to_db_time, Conn,
    PersistenceError,
};

fn invalid(errors: Vec<FieldError>) -> PersistenceError {
    PersistenceError::Invalid(errors)
}

fn parent_path(conn: &mut Conn, parent: Option<Uuid>) -> Result<Option<String>, PersistenceError> {
    parent
        .map(|id| {
            locations::get(conn, id)
                .map(|p| p.path)
                .map_err(|e| match e {
                    PersistenceError::NotFound => PersistenceError::MissingReference("parent_id"),
                    other => other,
                })
        })
        .transpose()
}

#[derive(Debug, Clone)]
pub struct NewLocation {
    pub parent_id: Option<Uuid>,
    pub fields: LocationFields,
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    new: NewLocation,
) -> Result<Location, PersistenceError> {
    let errors = new.fields.check();
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    write_transaction(conn, |conn| {
        let parent = parent_path(conn, new.parent_id)?;
        let path = path_of(parent.as_deref(), &new.fields.code).map_err(|e| invalid(vec![e]))?;
        let place = Location {
            id: Uuid::now_v7(),
            parent_id: new.parent_id,
            code: new.fields.code,
            name: new.fields.name,
            barcode: new.fields.barcode,
            path,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        locations::insert(conn, &place)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("location.created", "location")
                .by(Some(actor_id))
                .on(place.id)
                .with(audit_view(&place)),
        )?;
        Ok(place)
    })
}

/// A partial change; `parent_id: Some(None)` makes a place a room.
#[derive(Debug, Clone, Default)]
pub struct LocationPatch {
    pub parent_id: Option<Option<Uuid>>,
    pub code: Option<String>,
    pub name: Option<String>,
    pub barcode: Option<String>,
}

/// Changes a place; a new code or parent moves its whole subtree, and the archives on it carry
/// their new path as their location label.
pub fn update(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
    patch: LocationPatch,
    expected_version: Option<i32>,
) -> Result<Location, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = locations::get(conn, id)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        let fields = LocationFields {
            code: patch.code.unwrap_or_else(|| before.code.clone()),
            name: patch.name.unwrap_or_else(|| before.name.clone()),
            barcode: patch.barcode.unwrap_or_else(|| before.barcode.clone()),
        };
        let errors = fields.check();
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        let parent_id = patch.parent_id.unwrap_or(before.parent_id);
        let parent = parent_path(conn, parent_id)?;
        if parent.as_deref().is_some_and(|p| within(p, &before.path)) {
            return Err(invalid(vec![FieldError::new(
                "parent_id",
                "is the place itself or beneath it",
            )]));
        }
        let path = path_of(parent.as_deref(), &fields.code).map_err(|e| invalid(vec![e]))?;
        let after = Location {
            parent_id,
            code: fields.code,
            name: fields.name,
            barcode: fields.barcode,
            path,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        if after.path != before.path {
            repath(conn, now, &before.path, &after.path, before.id)?;
        }
        locations::store_change(conn, &before, &after)?;
        if after.path != before.path {
            relabel(conn, now, before.id, &after.path)?;
        }
        events::record(
            conn,
            now,
            NewAuditEvent::new("location.updated", "location")
                .by(Some(actor_id))
                .on(id)
                .with(json!({"before": audit_view(&before), "after": audit_view(&after)})),
        )?;
        Ok(after)
    })
}

/// Moves the places beneath the one at `from` (not itself) to paths under `to`, deepest path
/// last so no two share a path in between, and relabels their archives.
fn repath(
    conn: &mut Conn,
    now: OffsetDateTime,
    from: &str,
    to: &str,
    root: Uuid,
) -> Result<(), PersistenceError> {
    use crate::schema::locations::dsl as l;
    for place in locations::subtree(conn, from)?
        .into_iter()
        .filter(|p| p.id != root)
    {
        let path = moved(&place.path, from, to);
        diesel::update(l::locations.find(DbId(place.id)))
            .set((l::path.eq(&path), l::version.eq(l::version + 1)))
            .execute(conn)?;
        relabel(conn, now, place.id, &path)?;
    }
    Ok(())
}

/// Gives the archives on a place its path as their location label.
fn relabel(
    conn: &mut Conn,
    now: OffsetDateTime,
    place: Uuid,
    path: &str,
) -> Result<(), PersistenceError> {
    diesel::update(archives::table.filter(archives::location_id.eq(DbId(place))))
        .set((
            archives::location.eq(path),
            archives::updated_at.eq(to_db_time(now)),
            archives::version.eq(archives::version + 1),
        ))
        .execute(conn)?;
    Ok(())
}

/// The archives a move names: by id or by the barcode scanned.
#[derive(Debug, Clone, Default)]
pub struct Moves {
    pub archive_ids: Vec<Uuid>,
    pub barcodes: Vec<String>,
}

/// Moves archives onto a place, all or none: one the mover cannot see is refused by its
/// position in the list, never named. Each archive's move is audited with where it came from.
pub fn move_archives(
    conn: &mut Conn,
    now: OffsetDateTime,
    by: (Uuid, Classification),
    place_id: Uuid,
    moves: Moves,
) -> Result<Vec<Archive>, PersistenceError> {
    let (actor_id, clearance) = by;
    write_transaction(conn, |conn| {
        let place = locations::get(conn, place_id)?;
        let mut errors = Vec::new();
        let mut found = Vec::new();
        for (i, id) in moves.archive_ids.iter().enumerate() {
            match get_archive(conn, *id, clearance) {
                Ok(a) => found.push(a),
                Err(PersistenceError::NotFound) => errors.push(FieldError {
                    field: format!("archive_ids[{i}]").into(),
                    message: "no such archive".into(),
                }),
                Err(other) => return Err(other),
            }
        }
        for (i, barcode) in moves.barcodes.iter().enumerate() {
            match get_by_barcode(conn, barcode, clearance) {
                Ok(a) => found.push(a),
                Err(PersistenceError::NotFound) => errors.push(FieldError {
                    field: format!("barcodes[{i}]").into(),
                    message: "no archive has this barcode".into(),
                }),
                Err(other) => return Err(other),
            }
        }
        if found.is_empty() && errors.is_empty() {
            errors.push(FieldError::new(
                "archive_ids",
                "name at least one archive, by id or barcode",
            ));
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        found.sort_by_key(|a| a.id);
        found.dedup_by_key(|a| a.id);
        let mut moved_archives = Vec::new();
        for before in found {
            let from = json!({
                "location_id": before.fields.filing.location_id,
                "location": before.fields.location,
            });
            let updated = diesel::update(
                archives::table
                    .find(DbId(before.id))
                    .filter(archives::version.eq(before.version)),
            )
            .set((
                archives::location_id.eq(DbId(place.id)),
                archives::location.eq(&place.path),
                archives::updated_at.eq(to_db_time(now)),
                archives::version.eq(before.version + 1),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(PersistenceError::VersionMismatch);
            }
            events::record(
                conn,
                now,
                NewAuditEvent::new("archive.moved", "archive")
                    .by(Some(actor_id))
                    .on(before.id)
                    .with(json!({
                        "from": from,
                        "to": {"location_id": place.id, "location": place.path},
                    })),
            )?;
            let mut after = before;
            after.fields.filing.location_id = Some(place.id);
            after.fields.location = place.path.clone();
            after.updated_at = now;
            after.version += 1;
            moved_archives.push(after);
        }
        Ok(moved_archives)
    })
}
