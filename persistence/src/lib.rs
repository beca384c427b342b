//! Dangan's data store: the diesel schema for SQLite and PostgreSQL, the embedded migrations,
//! and the application's use cases over them, in three floors that import only downwards:
//! `cases` (one use case per function, in one transaction each, never calling another use case),
//! `events` (the one home of what each thing that happened causes, from its audit row on), and
//! `store` (rows, loads, saves and queries, one module per aggregate). The rules themselves live
//! in `dangan_domain`.

pub mod cases;
pub mod db;
mod error;
mod events;
pub mod import;
pub mod page;
pub mod schema;
pub mod sql_types;
pub mod store;

pub use db::{AnyConnection, Conn, Pool, PooledConn, Store};
pub use error::{Conflict, PersistenceError};
pub use page::{Page, PageRequest};

use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Stores keep UTC without an offset, to the microsecond (PostgreSQL's precision).
pub(crate) fn to_db_time(at: OffsetDateTime) -> PrimitiveDateTime {
    let at = dangan_domain::audit::truncate_to_micros(at.to_offset(UtcOffset::UTC));
    PrimitiveDateTime::new(at.date(), at.time())
}

pub(crate) fn from_db_time(at: PrimitiveDateTime) -> OffsetDateTime {
    at.assume_utc()
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both stores, for case-insensitive matching.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// `%q%`, lowercased, with LIKE's wildcards escaped by `\` so a search for `50%` means 50%.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut pattern = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
