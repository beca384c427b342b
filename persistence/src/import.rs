//! What every bulk import shares: modes, numbered rows, row errors, counts and outcomes.

/// Rows per statement when importing: well under both stores' bind-parameter limits.
pub(crate) const CHUNK: usize = 500;

/// Whether an import may change archives that exist (keyed by `archive_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    #[default]
    Upsert,
    Insert,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Upsert => "upsert",
            ImportMode::Insert => "insert",
        }
    }
}

/// One parsed row of an import, numbered as the person who wrote the file sees it.
#[derive(Debug, Clone)]
pub struct ImportRow<T> {
    pub row: i64,
    pub fields: T,
}

/// A rule a row breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: i64,
    pub field: String,
    pub message: String,
}

/// The longest field name an error repeats: an unknown column is named, not echoed whole.
pub const MAX_FIELD_NAME: usize = 64;

impl RowError {
    pub fn new(row: i64, field: &str, message: impl Into<String>) -> Self {
        RowError {
            row,
            field: field.chars().take(MAX_FIELD_NAME).collect(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
}

/// What an import did, or would do (`dry_run`), or the rows that stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Done(ImportCounts),
    Refused(Vec<RowError>),
}

/// Parameters of one import besides its rows.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub mode: ImportMode,
    pub dry_run: bool,
    /// SHA-256 of the payload as received, for the audit trail.
    pub payload_sha256: String,
    pub format: &'static str,
}
