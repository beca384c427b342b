//! The audit chain in the store: append (an insert of the use case's own, touching no shared
//! row), seal (one sealer per database chains what was committed, in batches), list, verify.

use dangan_domain::{
    access::Principal,
    audit::{truncate_to_micros, AuditEvent, ChainReport, ChainVerifier, NewAuditEvent},
};
use diesel::{prelude::*, query_builder::InsertStatement};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::{read_transaction, write_transaction, AnyConnection},
    from_db_time,
    schema::{audit_events, audit_head, audit_pending},
    sql_types::DbId,
    store::entities,
    to_db_time, Conn, Page, PageRequest, PersistenceError,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
struct AuditEventRow {
    seq: i64,
    at: time::PrimitiveDateTime,
    actor_id: Option<DbId>,
    action: String,
    entity_type: String,
    entity_id: Option<String>,
    data: String,
    prev_hash: String,
    hash: String,
}

/// An event as stored, with its links.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAuditEvent {
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
    /// The event is about an archive above the reader's clearance: its `data` and `entity_id`
    /// are withheld (null) from them, the rest listed so the listing stays complete.
    pub withheld: bool,
}

impl AuditEventRow {
    fn into_stored(self) -> StoredAuditEvent {
        // Data is written from a `Value`; text that no longer parses is tampering, and a null
        // in its place still fails the hash check.
        let data = serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null);
        StoredAuditEvent {
            event: AuditEvent {
                seq: self.seq,
                at: from_db_time(self.at),
                actor_id: self.actor_id.map(Uuid::from),
                action: self.action,
                entity_type: self.entity_type,
                entity_id: self.entity_id,
                data,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
            withheld: false,
        }
    }
}

/// An event committed with its use case, waiting for the sealer to chain it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_pending)]
pub(crate) struct PendingRow {
    #[diesel(skip_insertion)]
    id: i64,
    at: time::PrimitiveDateTime,
    actor_id: Option<DbId>,
    action: String,
    entity_type: String,
    entity_id: Option<String>,
    data: String,
}

/// Records an event in the use case's transaction. It touches no row another transaction
/// writes, so writers never wait for each other here; the sealer gives it its place in the
/// chain (`seal`) once it is committed.
pub fn append(
    conn: &mut Conn,
    now: OffsetDateTime,
    event: NewAuditEvent,
) -> Result<(), PersistenceError> {
    appending(now, &event).execute(conn)?;
    Ok(())
}

/// `append`'s insert, for a caller that sends it together with a read on PostgreSQL
/// (`dialect::WriteThenRead`).
pub(crate) type Appending =
    InsertStatement<audit_pending::table, <PendingRow as Insertable<audit_pending::table>>::Values>;

pub(crate) fn appending(now: OffsetDateTime, event: &NewAuditEvent) -> Appending {
    diesel::insert_into(audit_pending::table).values(PendingRow {
        id: 0,
        at: to_db_time(truncate_to_micros(now)),
        actor_id: event.actor_id.map(DbId),
        action: event.action.to_owned(),
        entity_type: event.entity_type.to_owned(),
        entity_id: event.entity_id.clone(),
        data: event.data.to_string(),
    })
}

/// Events sealed per transaction: a batch holds the seal for a few milliseconds.
pub const SEAL_BATCH: i64 = 1_000;

/// The PostgreSQL advisory lock that elects the one sealer of a database (the migration lock
/// is 4242001, the login-address lock 4242002).
const SEALER_LOCK: i64 = 4_242_003;

/// What a sealer does when another holds the seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// Wait for it, then seal what is left: a reader that must see every committed event.
    Wait,
    /// Leave the work to it: the background sealer of another instance.
    GiveUp,
}

/// Chains every committed event that waits, oldest first, in batches; returns how many. Each
/// batch is one transaction: the events get their `seq`, `prev_hash` and `hash`, move to
/// `audit_events`, and the head follows, so a process dying at any point loses nothing and
/// seals nothing twice. One sealer at a time: an advisory lock on PostgreSQL, the write lock on
/// SQLite.
pub fn seal(conn: &mut Conn, sealing: Sealing) -> Result<usize, PersistenceError> {
    let mut sealed = 0;
    loop {
        let batch = write_transaction(conn, |conn| seal_batch(conn, sealing))?;
        sealed += batch;
        if batch < SEAL_BATCH as usize {
            return Ok(sealed);
        }
    }
}

fn seal_batch(conn: &mut Conn, sealing: Sealing) -> Result<usize, PersistenceError> {
    if let AnyConnection::Postgresql(pg) = conn {
        #[derive(QueryableByName)]
        struct Elected {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            elected: bool,
        }
        let elected = match sealing {
            Sealing::Wait => {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<diesel::sql_types::BigInt, _>(SEALER_LOCK)
                    .execute(pg)?;
                true
            }
            Sealing::GiveUp => {
                diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS elected")
                    .bind::<diesel::sql_types::BigInt, _>(SEALER_LOCK)
                    .get_result::<Elected>(pg)?
                    .elected
            }
        };
        if !elected {
            return Ok(0);
        }
    }
    let waiting = audit_pending::table
        .select(PendingRow::as_select())
        .order(audit_pending::id.asc())
        .limit(SEAL_BATCH)
        .load::<PendingRow>(conn)?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let (mut seq, mut prev_hash) = head(conn)?;
    let ids: Vec<i64> = waiting.iter().map(|row| row.id).collect();
    let mut sealed = Vec::with_capacity(waiting.len());
    for row in waiting {
        seq += 1;
        let event = AuditEvent {
            seq,
            at: from_db_time(row.at),
            actor_id: row.actor_id.map(Uuid::from),
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            // Written from a `Value` by `append`; what is hashed is what `verify` will parse.
            data: serde_json::from_str(&row.data).unwrap_or(serde_json::Value::Null),
        };
        let hash = event.hash(&prev_hash);
        sealed.push(AuditEventRow {
            seq,
            at: row.at,
            actor_id: row.actor_id,
            action: event.action,
            entity_type: event.entity_type,
            entity_id: event.entity_id,
            data: row.data,
            prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        });
    }
    let count = sealed.len();
    match conn {
        AnyConnection::Postgresql(pg) => diesel::insert_into(audit_events::table)
            .values(&sealed)
            .execute(pg)?,
        AnyConnection::Sqlite(sqlite) => diesel::insert_into(audit_events::table)
            .values(&sealed)
            .execute(sqlite)?,
    };
    diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(ids))).execute(conn)?;
    diesel::update(audit_head::table.find(1))
        .set((audit_head::seq.eq(seq), audit_head::hash.eq(prev_hash)))
        .execute(conn)?;
    Ok(count)
}

/// Committed events the sealer has not chained yet.
pub fn pending(conn: &mut Conn) -> Result<i64, PersistenceError> {
    Ok(audit_pending::table.count().get_result(conn)?)
}

/// Filters of `GET /audit-events`; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

/// Withholds the data and entity of events about archives above `reader`'s clearance.
fn redact_for(
    conn: &mut Conn,
    reader: &Principal,
    events: &mut [StoredAuditEvent],
) -> Result<(), PersistenceError> {
    if reader.sees_every_classification() {
        return Ok(());
    }
    let entity = |stored: &StoredAuditEvent| {
        let id = Uuid::try_parse(stored.event.entity_id.as_deref()?).ok()?;
        Some((stored.event.entity_type.clone(), id))
    };
    let refs: Vec<_> = events.iter().filter_map(entity).collect();
    let found = entities::classifications(conn, &refs)?;
    for stored in events.iter_mut() {
        let about = entity(stored).and_then(|e| found.get(&e)).copied();
        if !reader.may_read_audit_data(about) {
            stored.withheld = true;
            stored.event.data = serde_json::Value::Null;
            stored.event.entity_id = None;
        }
    }
    Ok(())
}

/// Events in `seq` order, after the cursor's `seq`, as `reader` may read them: every event is
/// listed, the data of those about archives above their clearance withheld.
pub fn list(
    conn: &mut Conn,
    reader: &Principal,
    filter: &AuditFilter,
    page: &PageRequest<i64>,
) -> Result<Page<StoredAuditEvent, i64>, PersistenceError> {
    let mut query = audit_events::table
        .select(AuditEventRow::as_select())
        .order(audit_events::seq.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(entity_type) = &filter.entity_type {
        query = query.filter(audit_events::entity_type.eq(entity_type.clone()));
    }
    if let Some(entity_id) = &filter.entity_id {
        query = query.filter(audit_events::entity_id.eq(entity_id.clone()));
    }
    if let Some(actor_id) = filter.actor_id {
        query = query.filter(audit_events::actor_id.eq(DbId(actor_id)));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(to_db_time(from)));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::at.lt(to_db_time(to)));
    }
    if let Some(after) = page.after {
        query = query.filter(audit_events::seq.gt(after));
    }
    let rows = query.load::<AuditEventRow>(conn)?;
    let mut items: Vec<StoredAuditEvent> =
        rows.into_iter().map(AuditEventRow::into_stored).collect();
    redact_for(conn, reader, &mut items)?;
    Ok(Page::from_rows(
        items,
        page.limit,
        |e: &StoredAuditEvent| e.event.seq,
    ))
}

const VERIFY_BATCH: i64 = 5_000;

/// Recomputes each row's hash on every core (a row's hash depends only on what is stored in
/// it), keeping the rows' order: `(seq, prev_hash, hash, whether the hash matches)`. A thread
/// that failed returns nothing, which the link check then finds as missing events.
fn recompute(mut rows: Vec<AuditEventRow>) -> Vec<(i64, String, String, bool)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let size = rows.len().div_ceil(threads).max(1);
    let mut chunks = Vec::with_capacity(threads);
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(size));
        chunks.push(std::mem::replace(&mut rows, rest));
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|row| {
                            let stored = row.into_stored();
                            let matches = stored.event.hash(&stored.prev_hash) == stored.hash;
                            (stored.event.seq, stored.prev_hash, stored.hash, matches)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect()
    })
}

/// Holds a recomputed batch against the chain; a batch whose hashing failed is missing events.
fn check_links(
    verifier: &mut ChainVerifier,
    hashed: std::thread::ScopedJoinHandle<'_, Vec<(i64, String, String, bool)>>,
) {
    for (seq, prev_hash, hash, hash_matches) in hashed.join().unwrap_or_default() {
        verifier.check_link(seq, &prev_hash, &hash, hash_matches);
    }
}

/// The head of the chain: the `seq` and `hash` of the newest event.
pub fn head(conn: &mut Conn) -> Result<(i64, String), PersistenceError> {
    Ok(audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .first(conn)?)
}

/// Recomputes the whole chain in batches, in one snapshot.
pub fn verify(conn: &mut Conn) -> Result<ChainReport, PersistenceError> {
    verify_with(conn, ChainVerifier::default())
}

/// Recomputes the whole chain, keeping the stored hash at `seq` to hold against a checkpoint.
pub fn verify_witnessing(conn: &mut Conn, seq: i64) -> Result<ChainReport, PersistenceError> {
    verify_with(conn, ChainVerifier::witnessing(seq))
}

fn verify_with(
    conn: &mut Conn,
    mut verifier: ChainVerifier,
) -> Result<ChainReport, PersistenceError> {
    read_transaction(conn, |conn| {
        // The head first, and only events up to it: on PostgreSQL each statement sees what was
        // committed when it ran, and the sealer commits events and the head together.
        let (head_seq, head_hash) = head(conn)?;
        let mut after = 0_i64;
        // On PostgreSQL each batch is hashed while the next one loads, so the server's work
        // and the hashing overlap (1,000,000 events: 4.4 -> 3.7 s). SQLite loads on the same
        // cores the hashing uses, and overlapping only made it slower (2.9 -> 3.3 s).
        let overlap = matches!(conn, AnyConnection::Postgresql(_));
        std::thread::scope(|scope| {
            let mut hashing = None;
            loop {
                let rows = audit_events::table
                    .select(AuditEventRow::as_select())
                    .filter(audit_events::seq.gt(after))
                    .filter(audit_events::seq.le(head_seq))
                    .order(audit_events::seq.asc())
                    .limit(VERIFY_BATCH)
                    .load::<AuditEventRow>(conn)?;
                if let Some(hashed) = hashing.take() {
                    check_links(&mut verifier, hashed);
                }
                let Some(last) = rows.last() else { break };
                after = last.seq;
                let hashed = scope.spawn(move || recompute(rows));
                if overlap {
                    hashing = Some(hashed);
                } else {
                    check_links(&mut verifier, hashed);
                }
            }
            Ok::<_, PersistenceError>(())
        })?;
        Ok(verifier.finish(head_seq, &head_hash))
    })
}
