//! The persistence error: what went wrong with a use case, in terms the API can map once.

use dangan_domain::DomainError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    #[error("not found")]
    NotFound,
    /// A state conflict with a stable code (e.g. `duplicate_username`).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A reference to something that does not exist: the field that holds it.
    #[error("{0} does not exist")]
    MissingReference(&'static str),
    /// Fields that break the domain's rules.
    #[error("invalid fields")]
    Invalid(Vec<dangan_domain::FieldError>),
    /// The row changed since the caller read it (`If-Match` / version check).
    #[error("the row changed since it was read")]
    VersionMismatch,
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database error: {0}")]
    Database(DieselError),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The connection broke under a statement (the database restarted, the network failed):
    /// what the statement's transaction did is rolled back, or unknown if it was the commit.
    #[error("lost the database connection: {0}")]
    Lost(DieselError),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// Stored data that no longer reads as what was written.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<diesel::r2d2::Error> for PersistenceError {
    fn from(error: diesel::r2d2::Error) -> Self {
        match error {
            diesel::r2d2::Error::QueryError(e) => e.into(),
            diesel::r2d2::Error::ConnectionError(e) => PersistenceError::Connect(e.to_string()),
        }
    }
}

impl From<DieselError> for PersistenceError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => PersistenceError::NotFound,
            lost if connection_lost(&lost) => {
                crate::db::suspect_connections();
                PersistenceError::Lost(lost)
            }
            other => PersistenceError::Database(other),
        }
    }
}

/// Whether `error` says the connection itself failed rather than the statement: diesel marks
/// it so when libpq reports the connection bad (SQLSTATE class 08, or an administrator's
/// shutdown that closed it), and a transaction whose rollback or commit met such an error
/// leaves its connection unusable.
fn connection_lost(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | DieselError::BrokenTransactionManager => true,
        DieselError::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => connection_lost(rollback_error) || connection_lost(commit_error),
        _ => false,
    }
}

impl PersistenceError {
    /// Maps a unique violation to a conflict code; any other error passes through.
    pub(crate) fn on_unique(error: DieselError, code: &'static str) -> Self {
        match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                PersistenceError::Conflict(code)
            }
            other => other.into(),
        }
    }
}
