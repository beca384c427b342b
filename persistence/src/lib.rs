//! Dangan's data store: the diesel schema for SQLite and PostgreSQL, the embedded migrations, and
//! one function per use case. Each writing function runs in one transaction and appends its
//! audit event in that same transaction; the rules themselves live in `dangan_domain`.

pub mod archives;
pub mod audit;
pub mod checkouts;
pub mod db;
pub mod delegations;
pub mod departments;
mod entities;
mod error;
pub mod files;
pub mod forms;
pub mod idempotency;
pub mod identities;
pub mod import;
pub mod loans;
pub mod logins;
pub mod notifications;
pub mod online;
pub mod page;
pub mod photos;
pub mod policies;
pub mod provisioning;
pub mod reminders;
pub mod renewals;
pub mod reports;
pub mod requests;
pub mod reservations;
pub mod returns;
pub mod rollups;
pub mod schema;
pub mod settings;
pub mod sql_types;
pub mod users;
pub mod webhooks;

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
