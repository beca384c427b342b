//! The catalogue's archives: their row, a read within clearance, and a move in circulation.

use crate::{from_db_time, schema::archives, sql_types::DbId, to_db_time, Conn, PersistenceError};
use dangan_domain::{
    archive::{ArchiveFields, ArchiveStatus, Filing, Medium},
    search::index_text,
    Classification,
};
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

/// An archive as the catalogue holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    pub id: Uuid,
    pub fields: ArchiveFields,
    pub status: ArchiveStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = archives, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct ArchiveRow {
    pub(crate) id: DbId,
    pub(crate) archive_code: String,
    pub(crate) barcode: String,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) category: String,
    pub(crate) classification: String,
    pub(crate) medium: String,
    pub(crate) department_id: Option<DbId>,
    pub(crate) location: String,
    pub(crate) year: Option<i32>,
    pub(crate) pages: Option<i32>,
    pub(crate) status: String,
    pub(crate) search_text: String,
    pub(crate) created_at: time::PrimitiveDateTime,
    pub(crate) updated_at: time::PrimitiveDateTime,
    pub(crate) version: i32,
    pub(crate) fonds_id: Option<DbId>,
    pub(crate) category_code: Option<String>,
    pub(crate) retention: Option<String>,
    pub(crate) retention_ends_on: Option<String>,
    pub(crate) opening: String,
    pub(crate) opens_on: Option<String>,
    pub(crate) kind: String,
    pub(crate) volume_id: Option<DbId>,
    pub(crate) org_code: Option<String>,
    pub(crate) series_code: Option<String>,
    pub(crate) location_id: Option<DbId>,
}

const ISO_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A date as the store keeps it: ISO text, which compares in date order on both stores.
pub(crate) fn date_text(date: time::Date) -> String {
    date.format(ISO_DATE).unwrap_or_default()
}

fn date_of(text: Option<String>) -> Option<time::Date> {
    text.and_then(|t| time::Date::parse(&t, ISO_DATE).ok())
}

/// When the archive's retention period ends (none for a permanent one, or one not yet dated).
pub fn retention_ends_on(f: &ArchiveFields) -> Option<time::Date> {
    f.filing
        .retention
        .zip(f.year)
        .and_then(|(r, y)| r.ends_on(y))
}

/// The text the full-text index holds for an archive: code, barcode, title and description.
pub(crate) fn search_text(f: &ArchiveFields) -> String {
    index_text(&[
        &f.archive_code,
        &f.barcode,
        &f.title,
        f.description.as_deref().unwrap_or_default(),
    ])
}

impl ArchiveRow {
    pub(crate) fn into_archive(self) -> Archive {
        Archive {
            id: self.id.into(),
            fields: ArchiveFields {
                archive_code: self.archive_code,
                barcode: self.barcode,
                title: self.title,
                description: self.description,
                category: self.category,
                // Written from the enums; an unreadable value hides the archive from everyone
                // but top_secret holders rather than widening access.
                classification: self
                    .classification
                    .parse()
                    .unwrap_or(Classification::TopSecret),
                medium: self.medium.parse().unwrap_or(Medium::Mixed),
                department_id: self.department_id.map(Uuid::from),
                location: self.location,
                year: self.year,
                pages: self.pages,
                filing: Filing {
                    fonds_id: self.fonds_id.map(Uuid::from),
                    category_code: self.category_code,
                    retention: self.retention.and_then(|r| r.parse().ok()),
                    opening: self.opening.parse().unwrap_or_default(),
                    opens_on: date_of(self.opens_on),
                    kind: self.kind.parse().unwrap_or_default(),
                    volume_id: self.volume_id.map(Uuid::from),
                    org_code: self.org_code,
                    series_code: self.series_code,
                    location_id: self.location_id.map(Uuid::from),
                    number: None,
                },
            },
            status: self.status.parse().unwrap_or(ArchiveStatus::Retired),
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        }
    }

    pub(crate) fn from_archive(a: &Archive) -> Self {
        ArchiveRow::from(a.clone())
    }
}

impl From<Archive> for ArchiveRow {
    fn from(a: Archive) -> Self {
        let search_text = search_text(&a.fields);
        let retention_ends_on = retention_ends_on(&a.fields).map(date_text);
        let f = a.fields;
        let filed = f.filing;
        ArchiveRow {
            id: DbId(a.id),
            archive_code: f.archive_code,
            barcode: f.barcode,
            title: f.title,
            description: f.description,
            category: f.category,
            classification: f.classification.as_str().to_owned(),
            medium: f.medium.as_str().to_owned(),
            department_id: f.department_id.map(DbId),
            location: f.location,
            year: f.year,
            pages: f.pages,
            status: a.status.as_str().to_owned(),
            search_text,
            created_at: to_db_time(a.created_at),
            updated_at: to_db_time(a.updated_at),
            version: a.version,
            fonds_id: filed.fonds_id.map(DbId),
            category_code: filed.category_code,
            retention: filed.retention.map(|r| r.to_string()),
            retention_ends_on,
            opening: filed.opening.as_str().to_owned(),
            opens_on: filed.opens_on.map(date_text),
            kind: filed.kind.as_str().to_owned(),
            volume_id: filed.volume_id.map(DbId),
            org_code: filed.org_code,
            series_code: filed.series_code,
            location_id: filed.location_id.map(DbId),
        }
    }
}

/// The classifications a holder of `clearance` may see.
pub(crate) fn visible(clearance: Classification) -> Vec<&'static str> {
    Classification::ALL
        .into_iter()
        .filter(|c| c.visible_to(clearance))
        .map(Classification::as_str)
        .collect()
}

/// An archive the caller may see; above their clearance it does not exist for them.
pub fn get(
    conn: &mut Conn,
    id: Uuid,
    clearance: Classification,
) -> Result<Archive, PersistenceError> {
    Ok(archives::table
        .find(DbId(id))
        .filter(archives::classification.eq_any(visible(clearance)))
        .select(ArchiveRow::as_select())
        .first::<ArchiveRow>(conn)?
        .into_archive())
}

/// How many items sit in a volume: those a holder of `clearance` may see, and those withheld
/// from them (counted, never named).
pub fn volume_items(
    conn: &mut Conn,
    volume_id: Uuid,
    clearance: Classification,
) -> Result<(i64, i64), PersistenceError> {
    let inside = || archives::table.filter(archives::volume_id.eq(DbId(volume_id)));
    let all: i64 = inside().count().get_result(conn)?;
    let seen: i64 = inside()
        .filter(archives::classification.eq_any(visible(clearance)))
        .count()
        .get_result(conn)?;
    Ok((seen, all - seen))
}

pub fn get_by_barcode(
    conn: &mut Conn,
    barcode: &str,
    clearance: Classification,
) -> Result<Archive, PersistenceError> {
    Ok(archives::table
        .filter(archives::barcode.eq(barcode))
        .filter(archives::classification.eq_any(visible(clearance)))
        .select(ArchiveRow::as_select())
        .first::<ArchiveRow>(conn)?
        .into_archive())
}

/// Moves an archive in circulation (out, back, reserved, damaged, lost); the version moves too,
/// so an edit made from a stale read fails.
pub(crate) fn set_status(
    conn: &mut Conn,
    now: OffsetDateTime,
    id: Uuid,
    status: ArchiveStatus,
) -> Result<(), PersistenceError> {
    diesel::update(archives::table.find(DbId(id)))
        .set((
            archives::status.eq(status.as_str()),
            archives::updated_at.eq(to_db_time(now)),
            archives::version.eq(archives::version + 1),
        ))
        .execute(conn)?;
    Ok(())
}
