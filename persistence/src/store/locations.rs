//! Places of the archive room: their row, reads by id, barcode and path, and what sits beneath.

use crate::{
    from_db_time,
    schema::{archives, locations},
    sql_types::DbId,
    store::archives::visible,
    to_db_time, Conflict, Conn, PersistenceError,
};
use dangan_domain::{shelf::PATH_SEPARATOR, Classification};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub code: String,
    pub name: String,
    pub barcode: String,
    pub path: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = locations, treat_none_as_null = true)]
pub(crate) struct LocationRow {
    id: DbId,
    parent_id: Option<DbId>,
    code: String,
    name: String,
    barcode: String,
    path: String,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

impl LocationRow {
    fn into_location(self) -> Location {
        Location {
            id: self.id.into(),
            parent_id: self.parent_id.map(Uuid::from),
            code: self.code,
            name: self.name,
            barcode: self.barcode,
            path: self.path,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        }
    }

    fn from_location(l: &Location) -> Self {
        LocationRow {
            id: DbId(l.id),
            parent_id: l.parent_id.map(DbId),
            code: l.code.clone(),
            name: l.name.clone(),
            barcode: l.barcode.clone(),
            path: l.path.clone(),
            created_at: to_db_time(l.created_at),
            updated_at: to_db_time(l.updated_at),
            version: l.version,
        }
    }
}

pub(crate) fn audit_view(l: &Location) -> serde_json::Value {
    json!({"code": l.code, "name": l.name, "barcode": l.barcode, "path": l.path, "parent_id": l.parent_id})
}

/// A place's barcode or path may already belong to another: which one says the conflict.
fn on_duplicate(error: diesel::result::Error) -> PersistenceError {
    PersistenceError::on_unique(error, Conflict::DuplicateCode)
}

pub fn get(conn: &mut Conn, id: Uuid) -> Result<Location, PersistenceError> {
    Ok(locations::table
        .find(DbId(id))
        .select(LocationRow::as_select())
        .first::<LocationRow>(conn)?
        .into_location())
}

pub fn by_barcode(conn: &mut Conn, barcode: &str) -> Result<Location, PersistenceError> {
    Ok(locations::table
        .filter(locations::barcode.eq(barcode))
        .select(LocationRow::as_select())
        .first::<LocationRow>(conn)?
        .into_location())
}

/// The places beneath `parent` (the rooms for none), by path.
pub fn children(conn: &mut Conn, parent: Option<Uuid>) -> Result<Vec<Location>, PersistenceError> {
    let query = locations::table
        .select(LocationRow::as_select())
        .order(locations::path.asc())
        .into_boxed();
    let query = match parent {
        Some(id) => query.filter(locations::parent_id.eq(DbId(id))),
        None => query.filter(locations::parent_id.is_null()),
    };
    Ok(query
        .load::<LocationRow>(conn)?
        .into_iter()
        .map(LocationRow::into_location)
        .collect())
}

/// The place at `path` and every place beneath it, by path.
pub(crate) fn subtree(conn: &mut Conn, path: &str) -> Result<Vec<Location>, PersistenceError> {
    let below = format!("{path}{PATH_SEPARATOR}");
    Ok(locations::table
        .filter(
            locations::path.eq(path).or(locations::path
                .ge(below.clone())
                .and(locations::path.lt(format!("{below}\u{10FFFF}")))),
        )
        .select(LocationRow::as_select())
        .order(locations::path.asc())
        .load::<LocationRow>(conn)?
        .into_iter()
        .map(LocationRow::into_location)
        .collect())
}

pub(crate) fn insert(conn: &mut Conn, l: &Location) -> Result<(), PersistenceError> {
    diesel::insert_into(locations::table)
        .values(LocationRow::from_location(l))
        .execute(conn)
        .map_err(on_duplicate)?;
    Ok(())
}

/// Writes `after` over `before` if nobody changed the row in between.
pub(crate) fn store_change(
    conn: &mut Conn,
    before: &Location,
    after: &Location,
) -> Result<(), PersistenceError> {
    let updated = diesel::update(
        locations::table
            .find(DbId(before.id))
            .filter(locations::version.eq(before.version)),
    )
    .set(LocationRow::from_location(after))
    .execute(conn)
    .map_err(on_duplicate)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    Ok(())
}

/// How many archives sit at `path` or beneath it: those the reader may see, and those withheld
/// from them (above their clearance: counted, never named).
pub fn holdings(
    conn: &mut Conn,
    path: &str,
    clearance: Classification,
) -> Result<(i64, i64), PersistenceError> {
    let below = format!("{path}{PATH_SEPARATOR}");
    let beneath = archives::location.eq(path.to_owned()).or(archives::location
        .ge(below.clone())
        .and(archives::location.lt(format!("{below}\u{10FFFF}"))));
    let all: i64 = archives::table
        .filter(beneath.clone())
        .filter(archives::location_id.is_not_null())
        .count()
        .get_result(conn)?;
    let seen: i64 = archives::table
        .filter(beneath)
        .filter(archives::location_id.is_not_null())
        .filter(archives::classification.eq_any(visible(clearance)))
        .count()
        .get_result(conn)?;
    Ok((seen, all - seen))
}
