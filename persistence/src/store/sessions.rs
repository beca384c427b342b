//! Login sessions: opened with their first refresh token, revoked together.

use crate::{
    schema::{refresh_tokens, sessions},
    sql_types::DbId,
    to_db_time, Conn, PersistenceError,
};
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

/// A refresh token as stored: only its hash, never the token.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

/// Opens a login of `user_id` with its first refresh token; the caller audits how it began.
pub(crate) fn open_session(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    refresh: &NewRefreshToken,
) -> Result<Uuid, PersistenceError> {
    let session_id = Uuid::now_v7();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(DbId(session_id)),
            sessions::user_id.eq(DbId(user_id)),
            sessions::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    insert_refresh(conn, now, session_id, refresh)?;
    Ok(session_id)
}

pub(crate) fn insert_refresh(
    conn: &mut Conn,
    now: OffsetDateTime,
    session_id: Uuid,
    refresh: &NewRefreshToken,
) -> Result<(), PersistenceError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(&refresh.token_hash),
            refresh_tokens::session_id.eq(DbId(session_id)),
            refresh_tokens::issued_at.eq(to_db_time(now)),
            refresh_tokens::expires_at.eq(to_db_time(refresh.expires_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends every open login of `user_id`: a changed password must not leave a session opened with
/// the old one (whoever knew it) running until its refresh token runs out.
pub(crate) fn revoke_sessions_of(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    reason: &str,
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(DbId(user_id)))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(to_db_time(now)),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)?)
}
