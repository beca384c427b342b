//! Rows, loads, saves and queries, one module per aggregate; `dialect` holds what the two
//! stores write differently. A store module imports other store modules and nothing above.

pub mod archives;
pub mod audit;
pub mod categories;
pub(crate) mod codes;
pub mod delegations;
pub mod departments;
pub(crate) mod dialect;
pub(crate) mod entities;
pub mod files;
pub mod fonds;
pub mod forms;
pub mod idempotency;
pub mod loans;
pub mod locations;
pub mod notifications;
pub(crate) mod outbox;
pub(crate) mod photos;
pub mod policies;
pub mod requests;
pub mod rollups;
pub mod sessions;
pub mod settings;
pub mod users;
