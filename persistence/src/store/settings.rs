//! Server-wide settings kept in the store, such as the generated JWT secret.

use diesel::prelude::*;

use crate::{schema::settings, Conn, PersistenceError};

/// Returns the stored value of `key`, storing `candidate` first if there is none. When several
/// instances start at once, the first insert wins and every instance reads that one.
pub fn get_or_insert(
    conn: &mut Conn,
    key: &str,
    candidate: &str,
) -> Result<String, PersistenceError> {
    let stored = settings::table
        .find(key)
        .select(settings::value)
        .first::<String>(conn)
        .optional()?;
    if let Some(value) = stored {
        return Ok(value);
    }
    let inserted = diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(candidate)))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(candidate.to_owned()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(settings::table
            .find(key)
            .select(settings::value)
            .first(conn)?),
        Err(other) => Err(other.into()),
    }
}

/// The stored value of `key`, if any.
pub fn get(conn: &mut Conn, key: &str) -> Result<Option<String>, PersistenceError> {
    Ok(settings::table
        .find(key)
        .select(settings::value)
        .first::<String>(conn)
        .optional()?)
}

/// Stores `value` under `key`, over what was there.
pub fn put(conn: &mut Conn, key: &str, value: &str) -> Result<(), PersistenceError> {
    diesel::delete(settings::table.find(key)).execute(conn)?;
    diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(value)))
        .execute(conn)?;
    Ok(())
}
