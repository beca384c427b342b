//! The persistence error: what went wrong with a use case, in terms the API can map once.

use dangan_domain::DomainError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The conflicts a use case can meet, each mapped to its problem code by the API (no wildcard:
/// a new one must be given its code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    ArchiveUnavailable,
    DuplicateArchiveCode,
    DuplicateBarcode,
    DuplicateCode,
    DuplicateIdentity,
    DuplicateKey,
    DuplicateUsername,
    IdTokenSpent,
    IdentityExists,
    LinkUnusable,
    NoOpenLoan,
    NoOtherSignIn,
    NoPolicy,
    RenewalPending,
    ScimClientRevoked,
}

impl Conflict {
    /// Every conflict, for the test that each maps to a documented code.
    pub const ALL: [Conflict; 15] = [
        Conflict::ArchiveUnavailable,
        Conflict::DuplicateArchiveCode,
        Conflict::DuplicateBarcode,
        Conflict::DuplicateCode,
        Conflict::DuplicateIdentity,
        Conflict::DuplicateKey,
        Conflict::DuplicateUsername,
        Conflict::IdTokenSpent,
        Conflict::IdentityExists,
        Conflict::LinkUnusable,
        Conflict::NoOpenLoan,
        Conflict::NoOtherSignIn,
        Conflict::NoPolicy,
        Conflict::RenewalPending,
        Conflict::ScimClientRevoked,
    ];

    /// Its stable name, as problem codes spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::ArchiveUnavailable => "archive_unavailable",
            Conflict::DuplicateArchiveCode => "duplicate_archive_code",
            Conflict::DuplicateBarcode => "duplicate_barcode",
            Conflict::DuplicateCode => "duplicate_code",
            Conflict::DuplicateIdentity => "duplicate_identity",
            Conflict::DuplicateKey => "duplicate_key",
            Conflict::DuplicateUsername => "duplicate_username",
            Conflict::IdTokenSpent => "id_token_spent",
            Conflict::IdentityExists => "identity_exists",
            Conflict::LinkUnusable => "link_unusable",
            Conflict::NoOpenLoan => "no_open_loan",
            Conflict::NoOtherSignIn => "no_other_sign_in",
            Conflict::NoPolicy => "no_policy",
            Conflict::RenewalPending => "renewal_pending",
            Conflict::ScimClientRevoked => "scim_client_revoked",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    #[error("not found")]
    NotFound,
    /// A state conflict, each with its own problem code.
    #[error("conflict: {}", .0.as_str())]
    Conflict(Conflict),
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
    /// The store stayed busy past its timeout: SQLite's write lock held by another process (a
    /// backup, an admin's `sqlite3` shell). Nothing was written; the same request may be retried.
    #[error("the database is busy: {0}")]
    Busy(DieselError),
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
            busy if store_busy(&busy) => PersistenceError::Busy(busy),
            other => PersistenceError::Database(other),
        }
    }
}

/// Whether `error` is SQLite giving up on a lock another connection holds (after
/// `busy_timeout`): SQLITE_BUSY / SQLITE_LOCKED, which diesel reports by their message only.
fn store_busy(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("database is locked") || message.contains("database table is locked")
        }
        _ => false,
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
    pub(crate) fn on_unique(error: DieselError, conflict: Conflict) -> Self {
        match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                PersistenceError::Conflict(conflict)
            }
            other => other.into(),
        }
    }
}
