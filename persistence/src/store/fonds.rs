//! Fonds (全宗): their row, a read, the site's default one, an insert and a change checked
//! against its version.

use crate::{
    from_db_time, schema::fonds, sql_types::DbId, to_db_time, Conflict, Conn, PersistenceError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// A fonds: the archives one organisation formed, under the number the archives bureau gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fonds {
    pub id: Uuid,
    pub number: String,
    pub name: String,
    pub formed_by: Option<String>,
    pub start_year: Option<i32>,
    pub end_year: Option<i32>,
    pub is_default: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = fonds, treat_none_as_null = true)]
pub(crate) struct FondsRow {
    id: DbId,
    number: String,
    name: String,
    formed_by: Option<String>,
    start_year: Option<i32>,
    end_year: Option<i32>,
    is_default: bool,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

impl FondsRow {
    fn into_fonds(self) -> Fonds {
        Fonds {
            id: self.id.into(),
            number: self.number,
            name: self.name,
            formed_by: self.formed_by,
            start_year: self.start_year,
            end_year: self.end_year,
            is_default: self.is_default,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        }
    }

    fn from_fonds(f: &Fonds) -> Self {
        FondsRow {
            id: DbId(f.id),
            number: f.number.clone(),
            name: f.name.clone(),
            formed_by: f.formed_by.clone(),
            start_year: f.start_year,
            end_year: f.end_year,
            is_default: f.is_default,
            created_at: to_db_time(f.created_at),
            updated_at: to_db_time(f.updated_at),
            version: f.version,
        }
    }
}

pub(crate) fn audit_view(f: &Fonds) -> serde_json::Value {
    json!({
        "number": f.number, "name": f.name, "formed_by": f.formed_by,
        "start_year": f.start_year, "end_year": f.end_year, "is_default": f.is_default,
    })
}

pub fn get(conn: &mut Conn, id: Uuid) -> Result<Fonds, PersistenceError> {
    Ok(fonds::table
        .find(DbId(id))
        .select(FondsRow::as_select())
        .first::<FondsRow>(conn)?
        .into_fonds())
}

/// The fonds an archive created without one is filed in.
pub fn default_fonds(conn: &mut Conn) -> Result<Option<Fonds>, PersistenceError> {
    Ok(fonds::table
        .filter(fonds::is_default.eq(true))
        .select(FondsRow::as_select())
        .first::<FondsRow>(conn)
        .optional()?
        .map(FondsRow::into_fonds))
}

pub fn by_number(conn: &mut Conn, number: &str) -> Result<Option<Fonds>, PersistenceError> {
    Ok(fonds::table
        .filter(fonds::number.eq(number))
        .select(FondsRow::as_select())
        .first::<FondsRow>(conn)
        .optional()?
        .map(FondsRow::into_fonds))
}

/// Every fonds, by number (a site keeps a handful, an archives bureau a few thousand).
pub fn all(conn: &mut Conn) -> Result<Vec<Fonds>, PersistenceError> {
    Ok(fonds::table
        .order(fonds::number.asc())
        .select(FondsRow::as_select())
        .load::<FondsRow>(conn)?
        .into_iter()
        .map(FondsRow::into_fonds)
        .collect())
}

pub(crate) fn insert(conn: &mut Conn, f: &Fonds) -> Result<(), PersistenceError> {
    diesel::insert_into(fonds::table)
        .values(FondsRow::from_fonds(f))
        .execute(conn)
        .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateCode))?;
    Ok(())
}

/// Writes `after` over `before` if nobody changed the row in between.
pub(crate) fn store_change(
    conn: &mut Conn,
    before: &Fonds,
    after: &Fonds,
) -> Result<(), PersistenceError> {
    let updated = diesel::update(
        fonds::table
            .find(DbId(before.id))
            .filter(fonds::version.eq(before.version)),
    )
    .set(FondsRow::from_fonds(after))
    .execute(conn)
    .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateCode))?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    Ok(())
}
