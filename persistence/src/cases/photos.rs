//! Photos taken at the desk when an archive comes back: evidence of its condition, sealed in the
//! file store like archive files, seen by whoever may see the loan.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events, from_db_time,
    schema::loan_photos,
    sql_types::DbId,
    store::{loans, users::User},
    Conn, PersistenceError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Photo {
    pub id: Uuid,
    pub loan_id: Uuid,
    /// The incident the return opened (damaged, incomplete), if any.
    pub incident_id: Option<Uuid>,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the photo as taken.
    pub sha256: String,
    pub taken_by: Uuid,
    pub taken_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = loan_photos)]
struct PhotoRow {
    id: DbId,
    loan_id: DbId,
    incident_id: Option<DbId>,
    name: String,
    media_type: String,
    size_bytes: i64,
    sha256: String,
    taken_by: DbId,
    taken_at: time::PrimitiveDateTime,
}

impl PhotoRow {
    fn into_photo(self) -> Photo {
        Photo {
            id: self.id.into(),
            loan_id: self.loan_id.into(),
            incident_id: self.incident_id.map(Uuid::from),
            name: self.name,
            media_type: self.media_type,
            size_bytes: self.size_bytes,
            sha256: self.sha256,
            taken_by: self.taken_by.into(),
            taken_at: from_db_time(self.taken_at),
        }
    }
}

/// The photos of each of `loan_ids`, oldest first.
pub fn of_loans(
    conn: &mut Conn,
    loan_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Photo>>, PersistenceError> {
    let ids: Vec<DbId> = loan_ids.iter().copied().map(DbId).collect();
    let mut by_loan: HashMap<Uuid, Vec<Photo>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows = loan_photos::table
            .filter(loan_photos::loan_id.eq_any(chunk))
            .order((loan_photos::taken_at, loan_photos::id))
            .select(PhotoRow::as_select())
            .load::<PhotoRow>(conn)?;
        for row in rows {
            let photo = row.into_photo();
            by_loan.entry(photo.loan_id).or_default().push(photo);
        }
    }
    Ok(by_loan)
}

/// A photo of `loan_id` with its wrapped key (hex), if `viewer` may see the loan.
pub fn get(
    conn: &mut Conn,
    viewer: &User,
    loan_id: Uuid,
    photo_id: Uuid,
) -> Result<(Photo, String), PersistenceError> {
    crate::db::read_transaction(conn, |conn| {
        loans::get(conn, viewer, loan_id)?;
        let (row, wrapped) = loan_photos::table
            .find(DbId(photo_id))
            .filter(loan_photos::loan_id.eq(DbId(loan_id)))
            .select((PhotoRow::as_select(), loan_photos::wrapped_key))
            .first::<(PhotoRow, String)>(conn)?;
        Ok((row.into_photo(), wrapped))
    })
}

/// Audits `reader` being sent `photo` (`loan.photo_read`: who, which photo, when, bytes), with
/// the loan's archive's classification like every event about it.
pub fn record_reading(
    conn: &mut Conn,
    now: OffsetDateTime,
    reader: &User,
    photo: &Photo,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let loan = loans::get(conn, reader, photo.loan_id)?;
        events::record(
            conn,
            now,
            dangan_domain::audit::NewAuditEvent::new("loan.photo_read", "loan")
                .by(Some(reader.id))
                .on(loan.id)
                .about(loan.classification)
                .with(json!({
                    "photo": {"id": photo.id, "name": photo.name, "sha256": photo.sha256},
                    "bytes": photo.size_bytes,
                })),
        )
    })
}
