//! One connection type and one pool for both stores: the backend is chosen by the URL scheme.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, PoisonError,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use diesel::{
    connection::SimpleConnection, pg::PgConnection, r2d2::R2D2Connection, sqlite::SqliteConnection,
    Connection, QueryableByName, RunQueryDsl,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::PersistenceError;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Conn = AnyConnection;
pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Which store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Postgres,
    Sqlite,
}

impl Store {
    pub fn of(url: &str) -> Store {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::Postgres
        } else {
            Store::Sqlite
        }
    }
}

/// Establishes connections by URL scheme itself: the derived `establish` tries each backend in
/// turn and hides libpq's real message behind a generic one after the pool's time-out.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
}

impl Manager {
    pub fn new(url: impl Into<String>) -> Self {
        Manager { url: url.into() }
    }

    fn sqlite_path(&self) -> &str {
        self.url
            .strip_prefix("sqlite://")
            .or_else(|| self.url.strip_prefix("sqlite:"))
            .unwrap_or(&self.url)
    }
}

/// Until when (milliseconds since the Unix epoch) pooled connections are suspect: a statement
/// found its connection lost, so the others, idle beside it, may be dead too.
static SUSPECT_UNTIL_MS: AtomicU64 = AtomicU64::new(0);

/// How long after a lost connection the pool checks each connection it hands out.
const SUSPICION: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Called where a lost connection is recognised (`PersistenceError::Lost`).
pub(crate) fn suspect_connections() {
    let until = now_ms().saturating_add(u64::try_from(SUSPICION.as_millis()).unwrap_or(0));
    SUSPECT_UNTIL_MS.fetch_max(until, Ordering::Relaxed);
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match Store::of(&self.url) {
            Store::Postgres => PgConnection::establish(&self.url)
                .map(AnyConnection::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError),
            Store::Sqlite => {
                let mut conn = SqliteConnection::establish(self.sqlite_path())
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // Foreign keys are off by default in SQLite. WAL (set once in `connect`, it stays
                // with the file) makes NORMAL sync durable at every checkpoint. No connection
                // checkpoints on commit: that copied the WAL into the database inside whichever
                // request happened to commit past 1,000 pages (a 100,000-row import's 85 MB
                // among them); `checkpoint` runs on the server's own thread instead. The log
                // file keeps the size of its largest burst (1.5 GB after ten back-to-back
                // imports) unless a limit makes the writer that restarts it cut it back. No
                // memory map (`mmap_size`): it halved a sorted search that reads 28,000 rows
                // (61 -> 28 ms) but cost check-outs a third (865 -> 620/s), every connection's
                // map following the file as writers grow it.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
                     PRAGMA journal_size_limit = 67108864;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    /// A round trip per checkout (a check-out request takes several) only while connections are
    /// suspect: a dead connection the pool hands out otherwise fails its first statement, which
    /// answers 503 and makes the pool check every connection for a while. A connection whose
    /// transaction broke is discarded on its return (`has_broken`); one whose `BEGIN` found it
    /// dead is not broken in diesel's eyes, and would be handed out again and again.
    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        if now_ms() >= SUSPECT_UNTIL_MS.load(Ordering::Relaxed) {
            return Ok(());
        }
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// Builds the pool and checks that the store answers.
pub fn connect(url: &str, max_size: u32) -> Result<Pool, PersistenceError> {
    let manager = Manager::new(url);
    if Store::of(url) == Store::Sqlite {
        // WAL lets readers run beside the writer. Switching needs the file to itself, so it is
        // done once here rather than by every pooled connection racing for it.
        let mut conn = r2d2::ManageConnection::connect(&manager)?;
        diesel::sql_query("PRAGMA journal_mode = WAL").execute(&mut conn)?;
    }
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        // Open connections on demand: an idle server keeps two, not the whole pool.
        .min_idle(Some(max_size.min(2)))
        .connection_timeout(Duration::from_secs(10))
        .build(manager)?;
    Ok(pool)
}

/// Runs the embedded migrations of the connection's store. On PostgreSQL an advisory lock keeps
/// several instances starting at once from migrating over each other, and a database that is up
/// to date is only read: the role the server runs as may own nothing (see the README), and
/// diesel's harness would first try to create its table.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<Vec<String>, PersistenceError> {
    let applied = match conn {
        AnyConnection::Postgresql(pg) => {
            if postgres_is_up_to_date(pg)? {
                return Ok(Vec::new());
            }
            diesel::sql_query("SELECT pg_advisory_lock(4242001)").execute(pg)?;
            let result = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect());
            diesel::sql_query("SELECT pg_advisory_unlock(4242001)").execute(pg)?;
            result
        }
        AnyConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect()),
    };
    applied.map_err(|e| {
        PersistenceError::Migration(format!(
            "{e} (migrations need the role that owns the schema: run `dangan migrate` with its URL)"
        ))
    })
}

/// Whether every embedded migration is recorded as applied, read with a plain SELECT.
fn postgres_is_up_to_date(pg: &mut PgConnection) -> Result<bool, PersistenceError> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    #[derive(QueryableByName)]
    struct AppliedVersion {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let table: Exists =
        diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS exists")
            .get_result(pg)?;
    if !table.exists {
        return Ok(false);
    }
    let applied: std::collections::HashSet<String> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load::<AppliedVersion>(pg)?
            .into_iter()
            .map(|row| row.version)
            .collect();
    let embedded =
        diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
            .map_err(|e| PersistenceError::Migration(e.to_string()))?;
    Ok(embedded
        .iter()
        .all(|m| applied.contains(&m.name().version().to_string())))
}

/// Writers of this process queue here for SQLite's single write lock. SQLite's own busy handler
/// waits by sleeping in growing steps (up to 100 ms), so under load a writer that just missed the
/// lock sleeps long after it was freed: at 20 concurrent check-outs that put p99 above a second.
static SQLITE_WRITER: Mutex<()> = Mutex::new(());

/// A transaction for a use case that writes. On SQLite the write lock is taken at the start:
/// a deferred transaction that reads first and writes later fails with SQLITE_BUSY when another
/// writer got in between, and no busy time-out helps then.
pub fn write_transaction<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, PersistenceError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, PersistenceError>,
{
    // A panic inside another writer's transaction rolled it back; the lock itself is still sound.
    let _queued = matches!(conn, AnyConnection::Sqlite(_))
        .then(|| SQLITE_WRITER.lock().unwrap_or_else(PoisonError::into_inner));
    conn.transaction(|conn| {
        if let AnyConnection::Sqlite(sqlite) = conn {
            diesel::sql_query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(sqlite)?;
        }
        f(conn)
    })
}

/// A read-only transaction, so multi-query reads see one snapshot.
pub fn read_transaction<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, PersistenceError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, PersistenceError>,
{
    conn.transaction(f)
}

/// The SQLite write-ahead log after a checkpoint: frames in it, and how many of them are in the
/// database now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct WalState {
    #[diesel(sql_type = diesel::sql_types::BigInt, column_name = log)]
    pub frames: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt, column_name = checkpointed)]
    pub copied: i64,
}

/// The log's length, in frames, past which a checkpoint also starts it over: 4 GiB of 4 KiB pages.
/// Writers wait while it does (≈ 250 ms): at 256 MiB a 10 s lending run on SQLite met it and its
/// check-out p99 went from 74 to 268 ms; at 4 GiB only a long run of imports does.
pub const RESTART_FRAMES: i64 = 1_048_576;

/// Copies what the SQLite write-ahead log holds into the database, without waiting for readers
/// or writers (they go on meanwhile); the next writer then reuses the log from its start.
/// That writer must begin while every frame is copied, which a writer that never pauses (back-
/// to-back imports) never does: the log then grows by all it writes — 43 GB during a
/// 10,000,000-archive import. So once the log holds `restart_after` frames, the checkpoint
/// starts it over itself: new writers wait (within their busy timeout) while the frames written
/// since the last checkpoint are copied, then the log file is emptied. PostgreSQL checkpoints
/// by itself: nothing to do, no log to report.
pub fn checkpoint(
    conn: &mut AnyConnection,
    restart_after: i64,
) -> Result<Option<WalState>, PersistenceError> {
    match conn {
        AnyConnection::Postgresql(_) => Ok(None),
        AnyConnection::Sqlite(sqlite) => {
            let copied = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
                .get_result::<WalState>(sqlite)?;
            if copied.frames < restart_after {
                return Ok(Some(copied));
            }
            Ok(Some(
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .get_result::<WalState>(sqlite)?,
            ))
        }
    }
}

/// Whether the store answers a trivial query (for `/readyz`).
pub fn ping(conn: &mut AnyConnection) -> Result<(), PersistenceError> {
    conn.ping()?;
    Ok(())
}

/// Writes a consistent copy of an SQLite database to `path` while the server goes on writing:
/// `VACUUM INTO` copies one read snapshot, so the copy holds whole transactions only (events
/// committed but not yet sealed are sealed when a server starts on the copy). Returns false on
/// PostgreSQL, which is backed up with its own tools (`pg_dump`, see the README).
pub fn backup(conn: &mut AnyConnection, path: &std::path::Path) -> Result<bool, PersistenceError> {
    match conn {
        AnyConnection::Postgresql(_) => Ok(false),
        AnyConnection::Sqlite(sqlite) => {
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(path.to_string_lossy())
                .execute(sqlite)?;
            Ok(true)
        }
    }
}
