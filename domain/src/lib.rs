//! Dangan's business rules. Pure: no I/O, no database, no HTTP, no clock reads — `now` is an argument.

pub mod archive;
pub mod audit;
pub mod classification;
pub mod department;
pub mod error;
pub mod form;
pub mod loan;
pub mod login_throttle;
pub mod policy;
pub mod request;
pub mod search;
pub mod user;

pub use classification::Classification;
pub use error::{DomainError, FieldError};
pub use user::{Role, UserStatus};
