//! The numbers of 档号 groups: the last one given in each, so that the next is consecutive and
//! never given twice. Taking a number updates the group's row, which the store locks until the
//! transaction ends: concurrent creates in one group, on any instance, wait for each other.

use crate::{
    schema::{archive_code_counters as counters, archives},
    AnyConnection, Conn, PersistenceError,
};
use dangan_domain::archival::LEVEL;
use diesel::prelude::*;

/// The highest number the catalogue already holds in `group` (0 for none): where a group's
/// counter starts when it is first used, so codes given before it (an import, the catalogue
/// before the model) are not given again.
fn highest_held(conn: &mut Conn, group: &str) -> Result<i32, PersistenceError> {
    let prefix = format!("{group}{LEVEL}");
    // Only codes whose next level is a number: a longer group sharing the prefix
    // (`…-Y-BGS-0001` beside `…-Y-0005`, after a rule gained a 机构) is no number of this one.
    // `:` is the character after `9`.
    let highest: Option<String> = archives::table
        .filter(archives::archive_code.ge(format!("{prefix}0")))
        .filter(archives::archive_code.lt(format!("{prefix}:")))
        .select(diesel::dsl::max(archives::archive_code))
        .first(conn)?;
    Ok(highest
        .as_deref()
        .and_then(|code| code.strip_prefix(&prefix))
        .and_then(|rest| rest.split(LEVEL).next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0))
}

/// Adds `by` to the group's counter and returns the new last number, if the group has a row.
fn advance(conn: &mut Conn, group: &str, by: i32) -> Result<Option<i32>, PersistenceError> {
    let update = diesel::update(counters::table.find(group))
        .set(counters::last_number.eq(counters::last_number + by));
    Ok(match conn {
        AnyConnection::Postgresql(pg) => update
            .returning(counters::last_number)
            .get_result(pg)
            .optional()?,
        AnyConnection::Sqlite(sqlite) => update
            .returning(counters::last_number)
            .get_result(sqlite)
            .optional()?,
    })
}

fn start(conn: &mut Conn, group: &str) -> Result<(), PersistenceError> {
    let held = highest_held(conn, group)?;
    let insert = diesel::insert_into(counters::table).values((
        counters::group_key.eq(group),
        counters::last_number.eq(held),
    ));
    match conn {
        AnyConnection::Postgresql(pg) => insert.on_conflict_do_nothing().execute(pg)?,
        AnyConnection::Sqlite(sqlite) => insert.on_conflict_do_nothing().execute(sqlite)?,
    };
    Ok(())
}

/// Takes the next `count` numbers of `group` and returns the first.
pub(crate) fn take(conn: &mut Conn, group: &str, count: i32) -> Result<u32, PersistenceError> {
    let last = match advance(conn, group, count)? {
        Some(last) => last,
        None => {
            start(conn, group)?;
            advance(conn, group, count)?.ok_or(PersistenceError::NotFound)?
        }
    };
    Ok(u32::try_from(last - count + 1).unwrap_or(0))
}

/// Records that `number` was given in `group` by hand, so the counter never gives it again.
pub(crate) fn given(conn: &mut Conn, group: &str, number: u32) -> Result<(), PersistenceError> {
    start(conn, group)?;
    let number = i32::try_from(number).unwrap_or(i32::MAX);
    diesel::update(
        counters::table
            .find(group)
            .filter(counters::last_number.lt(number)),
    )
    .set(counters::last_number.eq(number))
    .execute(conn)?;
    Ok(())
}
