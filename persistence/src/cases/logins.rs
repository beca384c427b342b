//! Logins: throttling of failures, sessions, refresh-token rotation with reuse detection, logout,
//! and the per-request lookup of who a token speaks for.

use dangan_domain::{
    audit::NewAuditEvent,
    login_throttle::{address_retry_after, AccountThrottle, Lockout, ThrottlePolicy},
    UserStatus,
};
use diesel::prelude::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::store::sessions::{insert_refresh, open_session, NewRefreshToken};
use crate::{
    db::write_transaction,
    events, from_db_time,
    schema::{login_failures, login_throttles, refresh_tokens, sessions, users},
    sql_types::DbId,
    store::users::{User, UserRow},
    to_db_time, AnyConnection, Conn, PersistenceError,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_throttles, treat_none_as_null = true)]
struct ThrottleRow {
    username_key: String,
    failures: i32,
    window_started_at: Option<time::PrimitiveDateTime>,
    locked_until: Option<time::PrimitiveDateTime>,
    lockouts: i32,
}

impl ThrottleRow {
    fn into_throttle(self) -> AccountThrottle {
        AccountThrottle {
            failures: self.failures,
            window_started_at: self.window_started_at.map(from_db_time),
            locked_until: self.locked_until.map(from_db_time),
            lockouts: self.lockouts,
        }
    }

    fn from_throttle(username_key: &str, t: &AccountThrottle) -> Self {
        ThrottleRow {
            username_key: username_key.to_owned(),
            failures: t.failures,
            window_started_at: t.window_started_at.map(to_db_time),
            locked_until: t.locked_until.map(to_db_time),
            lockouts: t.lockouts,
        }
    }
}

fn load_throttle(conn: &mut Conn, username_key: &str) -> Result<AccountThrottle, PersistenceError> {
    Ok(login_throttles::table
        .find(username_key)
        .select(ThrottleRow::as_select())
        .first::<ThrottleRow>(conn)
        .optional()?
        .map(ThrottleRow::into_throttle)
        .unwrap_or_default())
}

/// A login attempt as the throttle sees it before the password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Refused unchecked: wait this long.
    Throttled(Duration),
    /// Admitted, and already counted as a failure (see `begin_attempt`).
    Counted(CountedAttempt),
}

/// An admitted attempt: the failure row it holds, and the lock-out it started, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedAttempt {
    failure_id: Uuid,
    lockout: Option<Lockout>,
}

/// Admits or refuses a login attempt for a name from an address, and counts an admitted one as
/// a failure in the same transaction, the account's throttle row locked throughout. Checking
/// and counting in two steps let every parallel attempt pass the check before any was counted:
/// 200 parallel guesses were 200 password checks. Now at most the policy's number pass before
/// the lock; a correct password gives its count back (`start_session`, `forget_attempt`).
pub fn begin_attempt(
    conn: &mut Conn,
    now: OffsetDateTime,
    username_key: &str,
    address: &str,
    policy: &ThrottlePolicy,
) -> Result<Attempt, PersistenceError> {
    write_transaction(conn, |conn| {
        // Names that never existed leave nothing worth keeping once their window and any lock
        // have passed; a guesser spraying names must not grow the table for ever.
        let window_start = to_db_time(now - policy.window);
        diesel::delete(
            login_throttles::table
                .filter(
                    login_throttles::locked_until
                        .is_null()
                        .or(login_throttles::locked_until.le(to_db_time(now))),
                )
                .filter(
                    login_throttles::window_started_at
                        .is_null()
                        .or(login_throttles::window_started_at.le(window_start)),
                )
                .filter(diesel::dsl::not(diesel::dsl::exists(users::table.filter(
                    crate::lower(users::username).eq(login_throttles::username_key),
                )))),
        )
        .execute(conn)?;
        let fresh = ThrottleRow::from_throttle(username_key, &AccountThrottle::default());
        match conn {
            AnyConnection::Postgresql(pg) => diesel::insert_into(login_throttles::table)
                .values(&fresh)
                .on_conflict_do_nothing()
                .execute(pg)?,
            AnyConnection::Sqlite(sqlite) => diesel::insert_into(login_throttles::table)
                .values(&fresh)
                .on_conflict_do_nothing()
                .execute(sqlite)?,
        };
        // Takes the row lock on PostgreSQL; SQLite writers are serialised already.
        diesel::update(login_throttles::table.find(username_key))
            .set(login_throttles::failures.eq(login_throttles::failures))
            .execute(conn)?;
        let before = load_throttle(conn, username_key)?;
        // The address's count is read and added to under a lock of its own, or parallel
        // guesses from one address under many names would each see the count before the others.
        if let AnyConnection::Postgresql(pg) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock(4242002, hashtext($1))")
                .bind::<diesel::sql_types::Text, _>(address)
                .execute(pg)?;
        }
        let recent = login_failures::table
            .filter(login_failures::address.eq(address))
            .filter(login_failures::at.gt(window_start));
        let failures: i64 = recent.count().get_result(conn)?;
        let address_wait = if failures >= policy.max_address_failures {
            let oldest: Option<time::PrimitiveDateTime> = recent
                .select(diesel::dsl::min(login_failures::at))
                .first(conn)?;
            address_retry_after(failures, oldest.map(from_db_time), now, policy)
        } else {
            None
        };
        if let Some(wait) = address_wait.max(before.locked_for(now)) {
            return Ok(Attempt::Throttled(wait));
        }
        let (after, lockout) = before.record_failure(now, policy);
        diesel::update(login_throttles::table.find(username_key))
            .set(&ThrottleRow::from_throttle(username_key, &after))
            .execute(conn)?;
        diesel::delete(login_failures::table.filter(login_failures::at.lt(window_start)))
            .execute(conn)?;
        let failure_id = Uuid::now_v7();
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::id.eq(DbId(failure_id)),
                login_failures::address.eq(address),
                login_failures::at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
        Ok(Attempt::Counted(CountedAttempt {
            failure_id,
            lockout,
        }))
    })
}

/// Audits an admitted attempt whose password was wrong (it was counted when admitted), with
/// the lock-out it started.
pub fn record_failure(
    conn: &mut Conn,
    now: OffsetDateTime,
    username_key: &str,
    address: &str,
    user_id: Option<Uuid>,
    attempt: &CountedAttempt,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        // Whoever failed is unknown; the event is about the account the name points at.
        let entity = user_id.map_or_else(|| username_key.to_owned(), |id| id.to_string());
        if let Some(lockout) = &attempt.lockout {
            events::record(
                conn,
                now,
                NewAuditEvent::new("auth.locked_out", "user")
                    .on(&entity)
                    .with(json!({
                        "username": username_key,
                        "until": lockout.until.unix_timestamp(),
                        "lockouts": lockout.lockouts,
                        "address": address,
                    })),
            )?;
        }
        events::record(
            conn,
            now,
            NewAuditEvent::new("auth.login_failed", "user")
                .on(&entity)
                .with(json!({"username": username_key, "address": address})),
        )?;
        Ok(())
    })
}

/// Gives back what an admitted attempt counted, when it turned out right but no session
/// follows (a disabled account): neither the name nor the address failed.
pub fn forget_attempt(
    conn: &mut Conn,
    username_key: &str,
    attempt: &CountedAttempt,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        diesel::delete(login_throttles::table.find(username_key)).execute(conn)?;
        diesel::delete(login_failures::table.find(DbId(attempt.failure_id))).execute(conn)?;
        Ok(())
    })
}

/// Starts a login for a user who gave the right password: clears their failure count, opens a
/// session with its first refresh token, and audits it. Returns the session id.
pub fn start_session(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    username_key: &str,
    address: &str,
    attempt: &CountedAttempt,
    refresh: NewRefreshToken,
) -> Result<Uuid, PersistenceError> {
    write_transaction(conn, |conn| {
        diesel::delete(login_throttles::table.find(username_key)).execute(conn)?;
        diesel::delete(login_failures::table.find(DbId(attempt.failure_id))).execute(conn)?;
        let session_id = open_session(conn, now, user_id, &refresh)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("auth.login", "user")
                .by(Some(user_id))
                .on(user_id)
                .with(json!({"session_id": session_id, "address": address})),
        )?;
        Ok(session_id)
    })
}

fn revoke_session(
    conn: &mut Conn,
    now: OffsetDateTime,
    session_id: Uuid,
    reason: &str,
) -> Result<(), PersistenceError> {
    diesel::update(
        sessions::table
            .find(DbId(session_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(to_db_time(now)),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The old token is spent; the new one is stored.
    Rotated { user_id: Uuid, session_id: Uuid },
    /// Unknown, expired, or its login is over (revoked, user disabled).
    Refused,
    /// A spent token came back: someone holds a copy. The whole login is revoked.
    ReuseDetected,
}

/// Spends a refresh token and stores its successor, detecting reuse of spent tokens.
pub fn rotate_refresh(
    conn: &mut Conn,
    now: OffsetDateTime,
    presented_hash: &str,
    next: NewRefreshToken,
    session_max: Duration,
) -> Result<Refresh, PersistenceError> {
    write_transaction(conn, |conn| {
        let found = refresh_tokens::table
            .inner_join(sessions::table.inner_join(users::table))
            .filter(refresh_tokens::token_hash.eq(presented_hash))
            .select((
                refresh_tokens::session_id,
                refresh_tokens::expires_at,
                refresh_tokens::used_at,
                sessions::revoked_at,
                sessions::created_at,
                users::id,
                users::status,
            ))
            .first::<(
                DbId,
                time::PrimitiveDateTime,
                Option<time::PrimitiveDateTime>,
                Option<time::PrimitiveDateTime>,
                time::PrimitiveDateTime,
                DbId,
                String,
            )>(conn)
            .optional()?;
        let Some((
            DbId(session_id),
            expires_at,
            used_at,
            revoked_at,
            started_at,
            DbId(user_id),
            status,
        )) = found
        else {
            return Ok(Refresh::Refused);
        };
        if used_at.is_some() {
            revoke_session(conn, now, session_id, "refresh_token_reused")?;
            events::record(
                conn,
                now,
                NewAuditEvent::new("auth.refresh_reused", "user")
                    .by(Some(user_id))
                    .on(user_id)
                    .with(json!({"session_id": session_id})),
            )?;
            return Ok(Refresh::ReuseDetected);
        }
        let active = status == UserStatus::Active.as_str();
        // Refreshing keeps a login alive, but never past its absolute lifetime.
        let too_old = from_db_time(started_at) + session_max <= now;
        if revoked_at.is_some() || from_db_time(expires_at) <= now || !active || too_old {
            return Ok(Refresh::Refused);
        }
        // The version check of a refresh token is its `used_at`: of two concurrent uses only one
        // finds it still unused.
        let spent = diesel::update(
            refresh_tokens::table
                .find(presented_hash)
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(to_db_time(now)))
        .execute(conn)?;
        if spent == 0 {
            return Ok(Refresh::Refused);
        }
        insert_refresh(conn, now, session_id, &next)?;
        Ok(Refresh::Rotated {
            user_id,
            session_id,
        })
    })
}

/// Ends the caller's login that a refresh token belongs to. Unknown tokens, or another user's,
/// change nothing: logout always succeeds and tells nothing about other logins.
pub fn logout(
    conn: &mut Conn,
    now: OffsetDateTime,
    caller_id: Uuid,
    presented_hash: &str,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let found = refresh_tokens::table
            .inner_join(sessions::table)
            .filter(refresh_tokens::token_hash.eq(presented_hash))
            .filter(sessions::user_id.eq(DbId(caller_id)))
            .filter(sessions::revoked_at.is_null())
            .select((sessions::id, sessions::user_id))
            .first::<(DbId, DbId)>(conn)
            .optional()?;
        if let Some((DbId(session_id), DbId(user_id))) = found {
            revoke_session(conn, now, session_id, "logout")?;
            events::record(
                conn,
                now,
                NewAuditEvent::new("auth.logout", "user")
                    .by(Some(user_id))
                    .on(user_id)
                    .with(json!({"session_id": session_id})),
            )?;
        }
        Ok(())
    })
}

/// The user an access token speaks for, if its login is still open and the user still active.
pub fn principal(
    conn: &mut Conn,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Option<User>, PersistenceError> {
    let found = sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(DbId(session_id)))
        .filter(sessions::user_id.eq(DbId(user_id)))
        .filter(sessions::revoked_at.is_null())
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .select(UserRow::as_select())
        .first::<UserRow>(conn)
        .optional()?;
    Ok(found.map(UserRow::into_user))
}
