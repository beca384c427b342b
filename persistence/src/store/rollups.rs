//! Report rollups: per-day counters of loans and requests (migration 000016 describes the
//! tables), kept in step with every change a report counts, so that whole-history reports read
//! thousands of rows instead of millions.
//!
//! A use case never updates a counter: it inserts signed rows into a `*_changes` table in its own
//! transaction — `uncount` what it is about to change (the rows as they are), change it, `count`
//! it again — so concurrent writers, of one instance or several, touch no shared row. `fold`
//! adds the waiting changes into the `*_days` tables; reports read both.
//!
//! What a loan's counters depend on: `checked_out_at`, `returned_at`, `inspected_at`,
//! `condition`, `status` (lost) and, once it is back, `due_at`; the archive's classification
//! and category; the borrower's department. A request's: `created_at`, `approved_at`, `status`
//! (rejected) and the classifications of its archives. A write to any of these is wrapped, and
//! first `hold`s the archive and borrower rows the counters are keyed by, so that on PostgreSQL a
//! loan changing and its archive being reclassified take turns.

use dangan_domain::{
    loan::{Condition, LoanStatus},
    request::RequestStatus,
};

use diesel::{
    backend::Backend,
    pg::{Pg, PgConnection},
    prelude::*,
    query_builder::{AstPass, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{self, Array, BigInt, Bool, HasSqlType},
    QueryResult,
};
use uuid::Uuid;

use crate::{
    db::write_transaction,
    sql_types::{DbId, DbUuid},
    store::{dialect::Sql, settings},
    AnyConnection, Conn, PersistenceError,
};

/// When the archive came back: inspected, or returned without inspection.
pub(crate) const BACK_AT: &str = "COALESCE(l.inspected_at, l.returned_at)";

/// The counters of one loan (`l`), each an SQL expression, in the column order of `loan_days`.
pub(crate) fn loan_counters() -> [(&'static str, String); 6] {
    [
        ("loans", "1".to_owned()),
        ("back", format!("CASE WHEN {BACK_AT} IS NOT NULL THEN 1 ELSE 0 END")),
        ("late_back", format!("CASE WHEN {BACK_AT} > l.due_at THEN 1 ELSE 0 END")),
        (
            "loan_seconds",
            format!(
                "CASE WHEN {BACK_AT} IS NOT NULL THEN SECONDS({BACK_AT}, l.checked_out_at) ELSE 0.0 END"
            ),
        ),
        (
            "damaged",
            format!(
                "CASE WHEN l.condition IN ({}) THEN 1 ELSE 0 END",
                literals(
                    Condition::ALL
                        .iter()
                        .filter(|c| c.opens_incident())
                        .map(|c| c.as_str())
                )
            ),
        ),
        (
            "lost",
            format!(
                "CASE WHEN l.status = '{}' THEN 1 ELSE 0 END",
                LoanStatus::Lost.as_str()
            ),
        ),
    ]
}

/// Names from the domain (fixed words, never input) as an SQL list of literals.
pub(crate) fn literals<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|name| format!("'{name}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The counters of one request (`q`), in the column order of `request_days`.
pub(crate) fn request_counters() -> [(&'static str, String); 4] {
    [
        ("requests", "1".to_owned()),
        (
            "approved",
            "CASE WHEN q.approved_at IS NOT NULL THEN 1 ELSE 0 END".to_owned(),
        ),
        (
            "rejected",
            format!(
                "CASE WHEN q.status = '{}' THEN 1 ELSE 0 END",
                RequestStatus::Rejected.as_str()
            ),
        ),
        (
            "approval_seconds",
            "CASE WHEN q.approved_at IS NOT NULL THEN SECONDS(q.approved_at, q.created_at) ELSE 0.0 END"
                .to_owned(),
        ),
    ]
}

/// Whether a request's counters move when its status goes from `before` to `after`: of its
/// status they count only the approval (which sets `approved_at`) and the rejection, so a
/// request fulfilled, expired, withdrawn or closed is counted as it was.
pub(crate) fn request_recounted(before: RequestStatus, after: RequestStatus) -> bool {
    let rejected = |status| status == RequestStatus::Rejected;
    (after == RequestStatus::Approved && before != RequestStatus::Approved)
        || rejected(before) != rejected(after)
}

/// The highest classification among the archives of request `q`.
pub(crate) fn request_ceiling() -> String {
    let rank = dangan_domain::Classification::ALL
        .iter()
        .enumerate()
        .map(|(rank, c)| format!("WHEN '{}' THEN {rank}", c.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    let name = dangan_domain::Classification::ALL
        .iter()
        .enumerate()
        .map(|(rank, c)| format!("WHEN {rank} THEN '{}'", c.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "COALESCE((SELECT CASE max(CASE a.classification {rank} END) {name} END \
                   FROM request_items i JOIN archives a ON a.id = i.archive_id \
                   WHERE i.request_id = q.id), 'public')"
    )
}

/// The dimensions every loan is counted under, with the key of each.
const DIMENSIONS: &str = "(SELECT 'department' AS dimension UNION ALL SELECT 'category' \
                          UNION ALL SELECT 'all') dims";
const DIMENSION_KEY: &str = "CASE dims.dimension \
     WHEN 'department' THEN COALESCE(CAST(u.department_id AS TEXT), '') \
     WHEN 'category' THEN a.category ELSE '' END";

/// The loans or requests a change touches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    Loan(Uuid),
    Request(Uuid),
    /// The loans of an archive and the requests that ask for it (its classification or
    /// category changes).
    Archive(Uuid),
    /// The loans of a borrower (their department changes).
    Borrower(Uuid),
}

/// What a change is counted under, to be kept from moving until its transaction ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hold<'a> {
    /// The archives of a request (their classifications make its ceiling), or one archive about
    /// to be reclassified or moved to another category.
    Archives(&'a [Uuid]),
    /// A loan: its archive, and its borrower's department (shared with the borrower's other
    /// loans).
    Loan { archive: Uuid, borrower: Uuid },
    /// A borrower about to move to another department.
    Borrower(Uuid),
    /// A change of what loans are counted under — a reclassification, a move to another category
    /// or department — one at a time: a reclassification and a move of the archive's borrower
    /// would otherwise each count the same loan under half of the other's change. Taken before
    /// any row is locked, so the turns never deadlock.
    Dimensions,
}

/// Locks the rows a change is counted under; call before the first `uncount` or `count`, and
/// before inserting a row that refers to them.
///
/// PostgreSQL runs each statement on what has committed before it (READ COMMITTED): without
/// this, a loan committed between a reclassification's `uncount` and `count` would be counted
/// once under each classification. Holding the same rows first, the two take turns, and the one
/// that waited counts under what the other left. Archives are locked in id order, before the
/// borrower, everywhere, so the turns never deadlock. SQLite's writers take turns anyway.
pub(crate) fn hold(conn: &mut Conn, hold: Hold) -> Result<(), PersistenceError> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Ok(());
    };
    locking(hold).execute(pg)?;
    Ok(())
}

/// The statement that takes `hold`'s locks on PostgreSQL.
fn locking(hold: Hold) -> Locking {
    use Lock::{Id, Ids, Key, Sql};
    Locking(match hold {
        Hold::Archives(ids) => vec![
            Sql("SELECT id FROM archives WHERE id = ANY("),
            Ids(ids.to_vec()),
            Sql(") ORDER BY id FOR NO KEY UPDATE"),
        ],
        Hold::Loan { archive, borrower } => vec![
            Sql("SELECT a.id FROM archives a, users u WHERE a.id = "),
            Id(archive),
            Sql(" AND u.id = "),
            Id(borrower),
            Sql(" FOR NO KEY UPDATE OF a FOR SHARE OF u"),
        ],
        Hold::Borrower(id) => vec![
            Sql("SELECT id FROM users WHERE id = "),
            Id(id),
            Sql(" FOR NO KEY UPDATE"),
        ],
        Hold::Dimensions => vec![
            Sql("SELECT pg_advisory_xact_lock("),
            Key(DIMENSIONS_LOCK),
            Sql(")"),
        ],
    })
}

/// A lock statement, kept prepared per connection like `Change` (a check-out and a return
/// each take one).
struct Locking(Vec<Lock>);

enum Lock {
    Sql(&'static str),
    Id(Uuid),
    Ids(Vec<Uuid>),
    Key(i64),
}

impl QueryFragment<Pg> for Locking {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for part in &self.0 {
            match part {
                Lock::Sql(sql) => out.push_sql(sql),
                Lock::Id(id) => out.push_bind_param::<sql_types::Uuid, _>(id)?,
                Lock::Ids(ids) => out.push_bind_param::<Array<sql_types::Uuid>, _>(ids)?,
                Lock::Key(key) => out.push_bind_param::<BigInt, _>(key)?,
            }
        }
        Ok(())
    }
}

impl QueryId for Locking {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl RunQueryDsl<PgConnection> for Locking {}

/// Takes the scope's rows out of the counters, as they are now; call before changing them.
pub(crate) fn uncount(conn: &mut Conn, scope: Scope) -> Result<(), PersistenceError> {
    change(conn, scope, -1)
}

/// Adds the scope's rows to the counters, as they are now; call after changing them.
pub(crate) fn count(conn: &mut Conn, scope: Scope) -> Result<(), PersistenceError> {
    change(conn, scope, 1)
}

fn change(conn: &mut Conn, scope: Scope, sign: i64) -> Result<(), PersistenceError> {
    let dialect = Sql::of(conn);
    let (loans, requests, id) = match scope {
        Scope::Loan(id) => (Some("l.id = :scope"), None, id),
        Scope::Request(id) => (None, Some("q.id = :scope"), id),
        Scope::Archive(id) => (
            Some("l.archive_id = :scope"),
            Some("q.id IN (SELECT i.request_id FROM request_items i WHERE i.archive_id = :scope)"),
            id,
        ),
        Scope::Borrower(id) => (Some("l.borrower_id = :scope"), None, id),
    };
    let statements = loans
        .map(|scope| loan_rows("loan_day_changes", scope, ":sign * "))
        .into_iter()
        .chain(requests.map(|scope| request_rows("request_day_changes", scope, ":sign * ")));
    for template in statements {
        let change = Change::new(&dialect.render(&template, &[]), sign, DbId(id));
        match conn {
            AnyConnection::Postgresql(pg) => change.execute(pg)?,
            AnyConnection::Sqlite(sqlite) => change.execute(sqlite)?,
        };
    }
    Ok(())
}

/// A counter change: a fixed text with the parameters `:sign` and `:scope`, which diesel keeps
/// prepared per connection (its `sql_query` never does, since that text could be anything).
/// PostgreSQL spent more time planning these statements than running them.
struct Change {
    parts: Vec<Part>,
    sign: i64,
    id: DbId,
}

enum Part {
    Sql(String),
    Sign,
    Scope,
}

impl Change {
    fn new(text: &str, sign: i64, id: DbId) -> Change {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find(':') {
            let (param, len) = if rest[at..].starts_with(":sign") {
                (Part::Sign, ":sign".len())
            } else if rest[at..].starts_with(":scope") {
                (Part::Scope, ":scope".len())
            } else {
                parts.push(Part::Sql(rest[..=at].to_owned()));
                rest = &rest[at + 1..];
                continue;
            };
            parts.push(Part::Sql(rest[..at].to_owned()));
            parts.push(param);
            rest = &rest[at + len..];
        }
        parts.push(Part::Sql(rest.to_owned()));
        Change { parts, sign, id }
    }
}

impl<DB> QueryFragment<DB> for Change
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<DbUuid>,
    i64: ToSql<BigInt, DB>,
    DbId: ToSql<DbUuid, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for part in &self.parts {
            match part {
                Part::Sql(sql) => out.push_sql(sql),
                Part::Sign => out.push_bind_param::<BigInt, _>(&self.sign)?,
                Part::Scope => out.push_bind_param::<DbUuid, _>(&self.id)?,
            }
        }
        Ok(())
    }
}

impl QueryId for Change {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C> RunQueryDsl<C> for Change {}

/// `INSERT INTO table` the counters of the loans matching `filter`, each multiplied by `factor`.
fn loan_rows(table: &str, filter: &str, factor: &str) -> String {
    let (names, sums): (Vec<_>, Vec<_>) = loan_counters()
        .into_iter()
        .map(|(name, expr)| (name, format!("{factor}sum({expr})")))
        .unzip();
    format!(
        "INSERT INTO {table} (dimension, key, day, classification, {names}) \
         SELECT dims.dimension, {DIMENSION_KEY}, DAY(l.checked_out_at), a.classification, {sums} \
         FROM loans l JOIN archives a ON a.id = l.archive_id JOIN users u ON u.id = l.borrower_id \
         CROSS JOIN {DIMENSIONS} \
         WHERE {filter} GROUP BY 1, 2, 3, 4",
        names = names.join(", "),
        sums = sums.join(", "),
    )
}

/// `INSERT INTO table` the counters of the requests matching `filter`, times `factor`.
fn request_rows(table: &str, filter: &str, factor: &str) -> String {
    let (names, sums): (Vec<_>, Vec<_>) = request_counters()
        .into_iter()
        .map(|(name, expr)| (name, format!("{factor}sum({expr})")))
        .unzip();
    format!(
        "INSERT INTO {table} (day, ceiling, {names}) \
         SELECT day, ceiling, {sums} \
         FROM (SELECT q.*, DAY(q.created_at) AS day, {ceiling} AS ceiling \
               FROM loan_requests q WHERE {filter}) q \
         GROUP BY 1, 2",
        names = names.join(", "),
        sums = sums.join(", "),
        ceiling = request_ceiling(),
    )
}

/// The PostgreSQL advisory lock held by the one instance folding (the sealer's is 4242003).
const FOLD_LOCK: i64 = 4_242_004;
/// The PostgreSQL advisory lock held by the one change of dimensions under way.
const DIMENSIONS_LOCK: i64 = 4_242_005;

#[derive(QueryableByName)]
struct Elected {
    #[diesel(sql_type = Bool)]
    elected: bool,
}

/// Adds every waiting change into the day counters and deletes it, in one transaction; returns
/// how many changes it took. Another instance folding meanwhile is left to it.
pub fn fold(conn: &mut Conn) -> Result<usize, PersistenceError> {
    write_transaction(conn, |conn| {
        let mut folded = 0;
        for (days, changes, key, counters) in [
            (
                "loan_days",
                "loan_day_changes",
                "dimension, key, day, classification",
                loan_counters().map(|(name, _)| name).to_vec(),
            ),
            (
                "request_days",
                "request_day_changes",
                "day, ceiling",
                request_counters().map(|(name, _)| name).to_vec(),
            ),
        ] {
            let sums = counters
                .iter()
                .map(|c| format!("sum({c})"))
                .collect::<Vec<_>>()
                .join(", ");
            let add = counters
                .iter()
                .map(|c| format!("{c} = {days}.{c} + excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let columns = counters.join(", ");
            match conn {
                AnyConnection::Postgresql(pg) => {
                    let elected =
                        diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS elected")
                            .bind::<BigInt, _>(FOLD_LOCK)
                            .get_result::<Elected>(pg)?
                            .elected;
                    if !elected {
                        return Ok(0);
                    }
                    // Exactly the rows deleted are added: a change committed meanwhile waits
                    // for the next fold.
                    folded += diesel::sql_query(format!(
                        "WITH moved AS (DELETE FROM {changes} RETURNING {key}, {columns}) \
                         INSERT INTO {days} ({key}, {columns}) \
                         SELECT {key}, {sums} FROM moved GROUP BY {key} \
                         ON CONFLICT ({key}) DO UPDATE SET {add}"
                    ))
                    .execute(pg)?;
                }
                AnyConnection::Sqlite(sqlite) => {
                    // The write lock is held: no change commits between the two statements.
                    diesel::sql_query(format!(
                        "INSERT INTO {days} ({key}, {columns}) \
                         SELECT {key}, {sums} FROM {changes} WHERE true GROUP BY {key} \
                         ON CONFLICT ({key}) DO UPDATE SET {add}"
                    ))
                    .execute(sqlite)?;
                    folded +=
                        diesel::sql_query(format!("DELETE FROM {changes}")).execute(sqlite)?;
                }
            }
        }
        Ok(folded)
    })
}

/// The settings key that says the day counters were filled from the loans and requests.
const BUILT: &str = "report_rollups";

/// Fills the day counters from the loans and requests unless that was done before (the first
/// start on migration 000016); returns whether it did.
pub fn build_if_missing(conn: &mut Conn) -> Result<bool, PersistenceError> {
    if settings::get(conn, BUILT)?.is_some() {
        return Ok(false);
    }
    rebuild(conn)?;
    Ok(true)
}

/// Refills the day counters from the loans and requests, in one transaction that keeps their
/// writers out meanwhile: after history was written straight into the store, or to repair.
pub fn rebuild(conn: &mut Conn) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let dialect = Sql::of(conn);
        if let AnyConnection::Postgresql(pg) = conn {
            diesel::sql_query(
                "LOCK TABLE loans, loan_requests, request_items, archives, users IN SHARE MODE",
            )
            .execute(pg)?;
            diesel::sql_query(
                "LOCK TABLE loan_days, loan_day_changes, request_days, request_day_changes \
                 IN EXCLUSIVE MODE",
            )
            .execute(pg)?;
        }
        for table in [
            "loan_days",
            "loan_day_changes",
            "request_days",
            "request_day_changes",
        ] {
            diesel::sql_query(format!("DELETE FROM {table}")).execute(conn)?;
        }
        for template in [
            loan_rows("loan_days", "true", ""),
            request_rows("request_days", "true", ""),
        ] {
            diesel::sql_query(dialect.render(&template, &[])).execute(conn)?;
        }
        settings::put(conn, BUILT, "1")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_binds_its_rows_in_place() {
        let (archive, borrower) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let loan = locking(Hold::Loan { archive, borrower });
        let sql = diesel::debug_query::<Pg, _>(&loan).to_string();
        assert!(
            sql.starts_with("SELECT a.id FROM archives a, users u WHERE a.id = $1 AND u.id = $2 FOR NO KEY UPDATE OF a FOR SHARE OF u"),
            "{sql}"
        );
        assert!(
            sql.contains(&format!("binds: [{archive}, {borrower}]")),
            "{sql}"
        );
        let archives = locking(Hold::Archives(&[archive, borrower]));
        let sql = diesel::debug_query::<Pg, _>(&archives).to_string();
        assert!(
            sql.starts_with(
                "SELECT id FROM archives WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"
            ),
            "{sql}"
        );
    }

    #[test]
    fn a_change_binds_its_sign_and_scope_wherever_they_stand() {
        let id = DbId(Uuid::nil());
        let change = Change::new(
            "SELECT :sign * n, CAST(x AS TEXT) FROM t WHERE id = :scope OR parent = :scope AND s = 'a:b'",
            -1,
            id,
        );
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&change).to_string();
        assert!(
            sql.starts_with(
                "SELECT $1 * n, CAST(x AS TEXT) FROM t WHERE id = $2 OR parent = $3 AND s = 'a:b'"
            ),
            "{sql}"
        );
        assert!(sql.contains("binds: [-1, DbId(00000000-0000-0000-0000-000000000000), DbId(00000000-0000-0000-0000-000000000000)]"), "{sql}");
    }
}
