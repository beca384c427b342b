//! Electronic files of archives: what is known of each (its name, kind, size, digest and
//! wrapped key; the sealed bytes are in the file store), within the reader's clearance like
//! everything about the archive. Each change is one transaction with its audit event, which
//! carries the archive's classification so the audit listing withholds it from those below.

use dangan_domain::audit::NewAuditEvent;
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::files::{archive, find, ArchiveFile, FileRow, NewFile};
use crate::{
    db::{read_transaction, write_transaction},
    events,
    schema::{archive_files, loan_photos},
    sql_types::DbId,
    store::{settings, users::User},
    to_db_time, Conn, PersistenceError,
};

/// The setting that recognises the master key files' data keys are wrapped with.
pub const KEY_FINGERPRINT: &str = "files_key_fingerprint";

fn audit_view(file: &ArchiveFile) -> serde_json::Value {
    json!({
        "id": file.id, "name": file.name, "media_type": file.media_type,
        "size_bytes": file.size_bytes, "sha256": file.sha256,
    })
}

/// Records a file uploaded to `archive_id` by `actor`, with its digest in the audit event.
pub fn add(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: &User,
    archive_id: Uuid,
    new: NewFile,
) -> Result<ArchiveFile, PersistenceError> {
    write_transaction(conn, |conn| {
        let archive = archive(conn, actor, archive_id)?;
        diesel::insert_into(archive_files::table)
            .values((
                archive_files::id.eq(DbId(new.id)),
                archive_files::archive_id.eq(DbId(archive_id)),
                archive_files::name.eq(&new.name),
                archive_files::media_type.eq(&new.media_type),
                archive_files::size_bytes.eq(new.size_bytes),
                archive_files::sha256.eq(&new.sha256),
                archive_files::wrapped_key.eq(Some(&new.wrapped_key)),
                archive_files::uploaded_by.eq(DbId(actor.id)),
                archive_files::uploaded_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
        let file = find(conn, archive_id, new.id)?.0;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive.file_added", "archive")
                .by(Some(actor.id))
                .on(archive_id)
                .about(archive.fields.classification)
                .with(json!({"file": audit_view(&file)})),
        )?;
        Ok(file)
    })
}

/// The files of `archive_id` that are not retired, oldest first.
pub fn list(
    conn: &mut Conn,
    viewer: &User,
    archive_id: Uuid,
) -> Result<Vec<ArchiveFile>, PersistenceError> {
    read_transaction(conn, |conn| {
        archive(conn, viewer, archive_id)?;
        Ok(archive_files::table
            .filter(archive_files::archive_id.eq(DbId(archive_id)))
            .filter(archive_files::retired_at.is_null())
            .order((archive_files::uploaded_at, archive_files::id))
            .select(FileRow::as_select())
            .load::<FileRow>(conn)?
            .into_iter()
            .map(FileRow::into_file)
            .collect())
    })
}

/// What came of someone asking for a file.
#[derive(Debug, Clone, Copy)]
pub enum Reading<'a> {
    /// They were sent it: audited with who, which file, when, how many bytes.
    Sent,
    /// The stored file failed its integrity check: someone changed or damaged the store, which
    /// whoever watches the trail must hear of.
    FailedCheck { reason: &'a str },
}

/// Audits `reader` asking for `file`, and what came of it.
pub fn record_reading(
    conn: &mut Conn,
    now: OffsetDateTime,
    reader: &User,
    file: &ArchiveFile,
    reading: Reading<'_>,
) -> Result<(), PersistenceError> {
    let (action, data) = match reading {
        Reading::Sent => (
            "archive.file_read",
            json!({"file": audit_view(file), "bytes": file.size_bytes}),
        ),
        Reading::FailedCheck { reason } => (
            "archive.file_failed_check",
            json!({"file": audit_view(file), "reason": reason}),
        ),
    };
    write_transaction(conn, |conn| {
        let archive = archive(conn, reader, file.archive_id)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new(action, "archive")
                .by(Some(reader.id))
                .on(file.archive_id)
                .about(archive.fields.classification)
                .with(data),
        )
    })
}

/// Retires a file: no longer listed or readable, its wrapped key forgotten (the caller removes
/// the sealed bytes from the store after this commits).
pub fn retire(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor: &User,
    archive_id: Uuid,
    file_id: Uuid,
) -> Result<ArchiveFile, PersistenceError> {
    write_transaction(conn, |conn| {
        let archive = archive(conn, actor, archive_id)?;
        let (file, _) = find(conn, archive_id, file_id)?;
        diesel::update(archive_files::table.find(DbId(file_id)))
            .set((
                archive_files::retired_at.eq(Some(to_db_time(now))),
                archive_files::retired_by.eq(Some(DbId(actor.id))),
                archive_files::wrapped_key.eq(None::<String>),
            ))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("archive.file_retired", "archive")
                .by(Some(actor.id))
                .on(archive_id)
                .about(archive.fields.classification)
                .with(json!({"file": audit_view(&file)})),
        )?;
        Ok(file)
    })
}

/// The master key's fingerprint the store knows, remembering `fingerprint` if it knows none.
pub fn key_fingerprint(conn: &mut Conn, fingerprint: &str) -> Result<String, PersistenceError> {
    settings::get_or_insert(conn, KEY_FINGERPRINT, fingerprint)
}

/// Whether no file or photo is sealed with any key yet (a retired file's key is forgotten).
pub fn nothing_sealed(conn: &mut Conn) -> Result<bool, PersistenceError> {
    let files: i64 = archive_files::table
        .filter(archive_files::wrapped_key.is_not_null())
        .count()
        .get_result(conn)?;
    let photos: i64 = loan_photos::table.count().get_result(conn)?;
    Ok(files + photos == 0)
}

/// Records `fingerprint` as the master key's, in place of one no sealed file depends on.
pub fn replace_key_fingerprint(conn: &mut Conn, fingerprint: &str) -> Result<(), PersistenceError> {
    settings::put(conn, KEY_FINGERPRINT, fingerprint)
}

/// Re-wraps every file's and photo's data key with `rewrap` (from the old master key to a new one) and
/// records the new key's fingerprint, all in one transaction: a key that does not re-wrap
/// leaves every key as it was. Returns how many keys were re-wrapped.
pub fn rewrap_keys(
    conn: &mut Conn,
    new_fingerprint: &str,
    rewrap: impl Fn(Uuid, &str) -> Result<String, String>,
) -> Result<usize, PersistenceError> {
    write_transaction(conn, |conn| {
        let keys: Vec<(DbId, String)> = archive_files::table
            .filter(archive_files::wrapped_key.is_not_null())
            .select((
                archive_files::id,
                archive_files::wrapped_key.assume_not_null(),
            ))
            .load(conn)?;
        let photo_keys: Vec<(DbId, String)> = loan_photos::table
            .select((loan_photos::id, loan_photos::wrapped_key))
            .load(conn)?;
        let count = keys.len() + photo_keys.len();
        for (id, rewrapped) in rewrapped(keys, "file", &rewrap)? {
            diesel::update(archive_files::table.find(id))
                .set(archive_files::wrapped_key.eq(Some(rewrapped)))
                .execute(conn)?;
        }
        for (id, rewrapped) in rewrapped(photo_keys, "photo", &rewrap)? {
            diesel::update(loan_photos::table.find(id))
                .set(loan_photos::wrapped_key.eq(rewrapped))
                .execute(conn)?;
        }
        settings::put(conn, KEY_FINGERPRINT, new_fingerprint)?;
        Ok(count)
    })
}

/// `keys` (of files or photos, as `what` says) re-wrapped by `rewrap`, or why one would not.
fn rewrapped(
    keys: Vec<(DbId, String)>,
    what: &str,
    rewrap: impl Fn(Uuid, &str) -> Result<String, String>,
) -> Result<Vec<(DbId, String)>, PersistenceError> {
    keys.into_iter()
        .map(|(id, wrapped)| {
            rewrap(id.into(), &wrapped)
                .map(|rewrapped| (id, rewrapped))
                .map_err(|e| {
                    PersistenceError::Corrupt(format!("the key of {what} {}: {e}", Uuid::from(id)))
                })
        })
        .collect()
}
