//! Stored first responses of mutating requests, keyed by user and `Idempotency-Key`, so a client
//! that retries (a lost response, a double click, an OA system's redelivery) changes nothing twice.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    db::write_transaction, from_db_time, schema::idempotency_keys, sql_types::DbId, to_db_time,
    Conn, PersistenceError,
};

/// How long a key is remembered.
pub const KEY_LIFETIME: Duration = Duration::hours(24);

/// A response as it was first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The `Location` of a 201.
    pub location: Option<String>,
}

/// What a request with a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the request, then `finish` (or `release`) the key.
    Fresh,
    /// The same request ran before: send its response again.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key has not finished yet.
    InProgress,
}

type KeyRow = (
    String,
    Option<i32>,
    Option<String>,
    Option<Vec<u8>>,
    time::PrimitiveDateTime,
    Option<String>,
);

/// Claims `key` for `user_id`'s request whose fingerprint is `request_hash`.
pub fn claim(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    key: &str,
    request_hash: &str,
) -> Result<Claim, PersistenceError> {
    let result = write_transaction(conn, |conn| {
        let this = idempotency_keys::table.find((DbId(user_id), key));
        let found = this
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::status,
                idempotency_keys::content_type,
                idempotency_keys::body,
                idempotency_keys::created_at,
                idempotency_keys::location,
            ))
            .first::<KeyRow>(conn)
            .optional()?;
        match found {
            Some((_, _, _, _, created_at, _)) if from_db_time(created_at) + KEY_LIFETIME <= now => {
                diesel::delete(this).execute(conn)?;
            }
            Some((hash, ..)) if hash != request_hash => return Ok(Claim::Mismatch),
            Some((_, Some(status), content_type, body, _, location)) => {
                return Ok(Claim::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    content_type,
                    body: body.unwrap_or_default(),
                    location,
                }))
            }
            Some(_) => return Ok(Claim::InProgress),
            None => {}
        }
        diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::user_id.eq(DbId(user_id)),
                idempotency_keys::key.eq(key),
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::created_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
        Ok(Claim::Fresh)
    });
    match result {
        // Another instance inserted the same key between our read and our insert.
        Err(PersistenceError::Database(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => Ok(Claim::InProgress),
        other => other,
    }
}

/// Stores the response of a claimed key for replay.
pub fn finish(
    conn: &mut Conn,
    user_id: Uuid,
    key: &str,
    response: &StoredResponse,
) -> Result<(), PersistenceError> {
    diesel::update(idempotency_keys::table.find((DbId(user_id), key)))
        .set((
            idempotency_keys::status.eq(i32::from(response.status)),
            idempotency_keys::content_type.eq(&response.content_type),
            idempotency_keys::body.eq(&response.body),
            idempotency_keys::location.eq(&response.location),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets a claimed key whose request failed in a way worth retrying.
pub fn release(conn: &mut Conn, user_id: Uuid, key: &str) -> Result<(), PersistenceError> {
    diesel::delete(idempotency_keys::table.find((DbId(user_id), key))).execute(conn)?;
    Ok(())
}
