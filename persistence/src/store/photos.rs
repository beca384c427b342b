//! Return photos: written in the return's transaction.

use crate::{
    schema::loan_photos, sql_types::DbId, store::files::NewFile, to_db_time, Conn, PersistenceError,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// What the audit event of the return says of each photo.
pub(crate) fn audit_view(photo: &NewFile) -> serde_json::Value {
    json!({"id": photo.id, "name": photo.name, "size_bytes": photo.size_bytes, "sha256": photo.sha256})
}

/// Records `photos` of `loan_id`'s return, taken by `inspector` (inside the return's transaction).
pub(crate) fn insert(
    conn: &mut Conn,
    now: OffsetDateTime,
    inspector: Uuid,
    loan_id: Uuid,
    incident_id: Option<Uuid>,
    photos: &[NewFile],
) -> Result<(), PersistenceError> {
    for photo in photos {
        diesel::insert_into(loan_photos::table)
            .values((
                loan_photos::id.eq(DbId(photo.id)),
                loan_photos::loan_id.eq(DbId(loan_id)),
                loan_photos::incident_id.eq(incident_id.map(DbId)),
                loan_photos::name.eq(&photo.name),
                loan_photos::media_type.eq(&photo.media_type),
                loan_photos::size_bytes.eq(photo.size_bytes),
                loan_photos::sha256.eq(&photo.sha256),
                loan_photos::wrapped_key.eq(&photo.wrapped_key),
                loan_photos::taken_by.eq(DbId(inspector)),
                loan_photos::taken_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}
