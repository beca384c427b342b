//! The electronic files of archives: their row and a read within clearance.

use crate::{
    db::read_transaction,
    from_db_time,
    schema::archive_files,
    sql_types::DbId,
    store::{
        archives::{self, Archive},
        users::User,
    },
    Conn, PersistenceError,
};
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveFile {
    pub id: Uuid,
    pub archive_id: Uuid,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the file as uploaded.
    pub sha256: String,
    pub uploaded_by: Uuid,
    pub uploaded_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = archive_files)]
pub(crate) struct FileRow {
    pub(crate) id: DbId,
    pub(crate) archive_id: DbId,
    pub(crate) name: String,
    pub(crate) media_type: String,
    pub(crate) size_bytes: i64,
    sha256: String,
    pub(crate) uploaded_by: DbId,
    pub(crate) uploaded_at: time::PrimitiveDateTime,
}

impl FileRow {
    pub(crate) fn into_file(self) -> ArchiveFile {
        ArchiveFile {
            id: self.id.into(),
            archive_id: self.archive_id.into(),
            name: self.name,
            media_type: self.media_type,
            size_bytes: self.size_bytes,
            sha256: self.sha256,
            uploaded_by: self.uploaded_by.into(),
            uploaded_at: from_db_time(self.uploaded_at),
        }
    }
}

/// A file sealed into the store, to be recorded.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub id: Uuid,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// Its data key wrapped by the master key, hex.
    pub wrapped_key: String,
}

/// The archive `archive_id`, if `viewer` is cleared to see it.
pub fn archive(
    conn: &mut Conn,
    viewer: &User,
    archive_id: Uuid,
) -> Result<Archive, PersistenceError> {
    archives::get(conn, archive_id, viewer.clearance)
}

pub(crate) fn find(
    conn: &mut Conn,
    archive_id: Uuid,
    file_id: Uuid,
) -> Result<(ArchiveFile, String), PersistenceError> {
    let (row, wrapped) = archive_files::table
        .find(DbId(file_id))
        .filter(archive_files::archive_id.eq(DbId(archive_id)))
        .filter(archive_files::retired_at.is_null())
        .select((FileRow::as_select(), archive_files::wrapped_key))
        .first::<(FileRow, Option<String>)>(conn)?;
    let wrapped = wrapped.ok_or(PersistenceError::NotFound)?;
    Ok((row.into_file(), wrapped))
}

/// How many files of `archive_id` are not retired.
pub(crate) fn count_live(conn: &mut Conn, archive_id: Uuid) -> Result<i64, PersistenceError> {
    Ok(archive_files::table
        .filter(archive_files::archive_id.eq(DbId(archive_id)))
        .filter(archive_files::retired_at.is_null())
        .count()
        .get_result(conn)?)
}

/// A file of `archive_id` that is not retired, with its wrapped key (hex), if `viewer` may see
/// the archive.
pub fn get(
    conn: &mut Conn,
    viewer: &User,
    archive_id: Uuid,
    file_id: Uuid,
) -> Result<(ArchiveFile, String), PersistenceError> {
    read_transaction(conn, |conn| {
        archive(conn, viewer, archive_id)?;
        find(conn, archive_id, file_id)
    })
}
