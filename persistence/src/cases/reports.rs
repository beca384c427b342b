//! Reports: every figure is computed by the database in one aggregate query over the day
//! counters (`rollups`) of the period's whole days and the loans and requests of its partial
//! first and last days, so they stay fast over a long history. The SQL differs between the
//! stores only in date arithmetic and in how parameters are written; `store::dialect::Sql`
//! renders one text for each.
//!
//! A loan is *late* when it came back after its due time (back = inspected, or returned without
//! inspection) or is still out past it; *overdue now* when it is still out past its due time.

use dangan_domain::{
    access::Principal,
    loan::{days_overdue, LoanStatus},
    Classification,
};
use diesel::{
    prelude::*,
    sql_types::{BigInt, Double, Nullable, Text, Timestamp},
};
use time::{OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

use crate::store::dialect::Sql;
use crate::{
    db::read_transaction,
    from_db_time,
    sql_types::DbId,
    store::{
        loans::{self, StoredLoan},
        requests::{self, StoredRequest},
        rollups,
    },
    to_db_time, AnyConnection, Conn, PersistenceError,
};

/// The window a report covers: loans checked out and requests made in `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

impl Period {
    fn bounds(&self) -> (time::PrimitiveDateTime, time::PrimitiveDateTime) {
        let from = self.from.unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let to = self
            .to
            .unwrap_or(time::macros::datetime!(9999-12-31 0:00 UTC));
        (to_db_time(from), to_db_time(to))
    }
}

/// The headline figures of a period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub requests: i64,
    pub approved: i64,
    pub rejected: i64,
    pub loans: i64,
    pub returned: i64,
    pub late: i64,
    pub overdue_now: i64,
    pub avg_approval_hours: Option<f64>,
    pub avg_loan_days: Option<f64>,
    pub damaged: i64,
    pub lost: i64,
}

/// The sums a summary is made of.
#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    approved: i64,
    #[diesel(sql_type = BigInt)]
    rejected: i64,
    #[diesel(sql_type = Double)]
    approval_seconds: f64,
    #[diesel(sql_type = BigInt)]
    loans: i64,
    #[diesel(sql_type = BigInt)]
    back: i64,
    #[diesel(sql_type = BigInt)]
    late_back: i64,
    #[diesel(sql_type = BigInt)]
    overdue_open: i64,
    #[diesel(sql_type = Double)]
    loan_seconds: f64,
    #[diesel(sql_type = BigInt)]
    damaged: i64,
    #[diesel(sql_type = BigInt)]
    lost: i64,
}

impl Totals {
    fn summary(&self) -> Summary {
        let mean = |total: f64, n: i64, unit: f64| (n > 0).then(|| total / n as f64 / unit);
        Summary {
            requests: self.requests,
            approved: self.approved,
            rejected: self.rejected,
            loans: self.loans,
            returned: self.back,
            late: self.late_back + self.overdue_open,
            overdue_now: self.overdue_open,
            avg_approval_hours: mean(self.approval_seconds, self.approved, 3600.0),
            avg_loan_days: mean(self.loan_seconds, self.back, 86400.0),
            damaged: self.damaged,
            lost: self.lost,
        }
    }
}

/// Where a report's figures come from: the day counters (with the loans and requests of the
/// period's partial first and last days), or the loans and requests alone — what the counters
/// are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Rollups,
    Loans,
}

/// One group of the loans report.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct LoanGroup {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub loans: i64,
    #[diesel(sql_type = BigInt)]
    pub returned: i64,
    #[diesel(sql_type = BigInt)]
    pub late: i64,
}

/// What the loans report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Department,
    Category,
    Classification,
    Month,
}

/// An open loan past its due time.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueLoan {
    pub loan_id: Uuid,
    pub archive_id: Uuid,
    pub archive_code: String,
    pub title: String,
    pub classification: Classification,
    pub borrower_id: Uuid,
    pub borrower: String,
    pub department: Option<String>,
    pub due_at: OffsetDateTime,
    pub days_overdue: i64,
}

#[derive(QueryableByName)]
struct OverdueRow {
    #[diesel(sql_type = Text)]
    loan_id: String,
    #[diesel(sql_type = Text)]
    archive_id: String,
    #[diesel(sql_type = Text)]
    archive_code: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    classification: String,
    #[diesel(sql_type = Text)]
    borrower_id: String,
    #[diesel(sql_type = Text)]
    borrower: String,
    #[diesel(sql_type = Nullable<Text>)]
    department: Option<String>,
    #[diesel(sql_type = Timestamp)]
    due_at: time::PrimitiveDateTime,
}

/// A stretch of a long report: `limit` rows after the first `offset`. Reports are read as a
/// whole, once, so an offset (unlike the keyset cursors of live lists) is good enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub limit: i64,
    pub offset: i64,
}

/// A sensitive loan with everything an auditor checks: its request and approval chain, the
/// borrower's signature and the return inspection.
#[derive(Debug, Clone)]
pub struct ComplianceEntry {
    pub loan: StoredLoan,
    pub request: StoredRequest,
}

/// The statuses of loans still out with their borrower (`LoanStatus::OUT`), as SQL literals.
fn out_list() -> String {
    rollups::literals(LoanStatus::OUT.iter().map(|s| s.as_str()))
}

/// A period as a report reads it: the whole days `[first_day, end_day)` from the day counters,
/// the rest (`[from, first_at)` and `[end_at, to)`) from the loans and requests themselves.
struct Split {
    from: PrimitiveDateTime,
    to: PrimitiveDateTime,
    first_day: String,
    end_day: String,
    first_at: PrimitiveDateTime,
    end_at: PrimitiveDateTime,
}

/// The parameters of a report's SQL, in the order `Split::bind` binds them.
const PARAMS: [&str; 7] = [
    "from",
    "to",
    "now",
    "first_day",
    "end_day",
    "first_at",
    "end_at",
];

impl Split {
    fn of(period: &Period, source: Source) -> Split {
        let (from, to) = period.bounds();
        let first = if from.time() == Time::MIDNIGHT {
            Some(from.date())
        } else {
            from.date().next_day()
        };
        let end = to.date();
        match first {
            Some(first) if source == Source::Rollups && first < end => Split {
                from,
                to,
                first_day: day_text(first),
                end_day: day_text(end),
                first_at: first.midnight(),
                end_at: end.midnight(),
            },
            _ => Split {
                from,
                to,
                first_day: String::new(),
                end_day: String::new(),
                first_at: to,
                end_at: to,
            },
        }
    }

    fn load<T>(
        &self,
        conn: &mut Conn,
        template: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<T>, PersistenceError>
    where
        T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
    {
        let query = diesel::sql_query(Sql::of(conn).render(template, &PARAMS))
            .bind::<Timestamp, _>(self.from)
            .bind::<Timestamp, _>(self.to)
            .bind::<Timestamp, _>(to_db_time(now))
            .bind::<Text, _>(&self.first_day)
            .bind::<Text, _>(&self.end_day)
            .bind::<Timestamp, _>(self.first_at)
            .bind::<Timestamp, _>(self.end_at);
        Ok(match conn {
            AnyConnection::Postgresql(pg) => query.load(pg)?,
            AnyConnection::Sqlite(sqlite) => query.load(sqlite)?,
        })
    }
}

fn day_text(day: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// Rows (`period`: the whole days, the partial days) inside a period.
const WHOLE_DAYS: &str = "r.day >= :first_day AND r.day < :end_day";
const PARTIAL_DAYS: &str =
    "((TIME >= :from AND TIME < :first_at) OR (TIME >= :end_at AND TIME < :to))";

/// How a report groups loans: the dimension of the day counters and its key there (`r`, with
/// `departments d` joined on it for departments), and the key over loans (`l`) with the tables
/// it needs.
struct Grouping {
    dimension: &'static str,
    counter_key: &'static str,
    loan_key: &'static str,
    needs_archive: bool,
    needs_department: bool,
}

impl Grouping {
    const NONE: Grouping = Grouping {
        dimension: "all",
        counter_key: "''",
        loan_key: "''",
        needs_archive: false,
        needs_department: false,
    };

    fn of(group_by: GroupBy) -> Grouping {
        match group_by {
            GroupBy::Department => Grouping {
                dimension: "department",
                counter_key: "COALESCE(d.name, '-')",
                loan_key: "COALESCE(d.name, '-')",
                needs_archive: false,
                needs_department: true,
            },
            GroupBy::Category => Grouping {
                dimension: "category",
                counter_key: "r.key",
                loan_key: "a.category",
                needs_archive: true,
                needs_department: false,
            },
            GroupBy::Classification => Grouping {
                dimension: "all",
                counter_key: "r.classification",
                loan_key: "a.classification",
                needs_archive: true,
                needs_department: false,
            },
            GroupBy::Month => Grouping {
                dimension: "all",
                counter_key: "substr(r.day, 1, 7)",
                loan_key: "MONTH(l.checked_out_at)",
                needs_archive: false,
                needs_department: false,
            },
        }
    }
}

/// The counters as columns of the day counters (`r.loans, r.back, …`) and as expressions over
/// one loan or request.
fn counter_lists(counters: &[(&str, String)]) -> (String, String) {
    let columns = counters
        .iter()
        .map(|(name, _)| format!("r.{name}"))
        .collect::<Vec<_>>()
        .join(", ");
    let each = counters
        .iter()
        .map(|(_, expr)| expr.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    (columns, each)
}

/// One row per source of loan counters in `period`, grouped as `grouping` says, within
/// `viewer`'s clearance: the day counters and their waiting changes over the whole days, the
/// loans of the partial days, and the loans still out past due now (which no counter can hold,
/// since it depends on the time of reading). Columns: `key, loans, back, late_back,
/// loan_seconds, damaged, lost, overdue_open`.
fn loan_rows(grouping: &Grouping, viewer: &Principal, period: &Period) -> String {
    let sees_all = viewer.sees_every_classification();
    let (within_counters, within_loans) = if sees_all {
        (String::new(), String::new())
    } else {
        let visible = visible_list(viewer);
        (
            format!(" AND r.classification IN ({visible})"),
            format!(" AND a.classification IN ({visible})"),
        )
    };
    let counters = rollups::loan_counters();
    let (columns, each) = counter_lists(&counters);
    let nothing = counters
        .iter()
        .map(|(name, _)| if *name == "loan_seconds" { "0.0" } else { "0" })
        .collect::<Vec<_>>()
        .join(", ");
    let counter_department = if grouping.needs_department {
        " LEFT JOIN departments d ON CAST(d.id AS TEXT) = r.key"
    } else {
        ""
    };
    let mut loans = "FROM loans l".to_owned();
    if grouping.needs_archive || !sees_all {
        loans += " JOIN archives a ON a.id = l.archive_id";
    }
    if grouping.needs_department {
        loans += " JOIN users u ON u.id = l.borrower_id \
                   LEFT JOIN departments d ON d.id = u.department_id";
    }
    // Bounds only where the period has them: over the whole history the loans out past due are
    // found by their status and due time alone, not by scanning every check-out.
    let mut out_in_period = String::new();
    if period.from.is_some() {
        out_in_period += " AND l.checked_out_at >= :from";
    }
    if period.to.is_some() {
        out_in_period += " AND l.checked_out_at < :to";
    }
    let counted = |table: &str| {
        format!(
            "SELECT {key} AS key, {columns}, 0 AS overdue_open FROM {table} r{counter_department} \
             WHERE r.dimension = '{dimension}' AND {WHOLE_DAYS}{within_counters}",
            key = grouping.counter_key,
            dimension = grouping.dimension,
        )
    };
    format!(
        "{days} UNION ALL {changes} \
         UNION ALL SELECT {key}, {each}, 0 {loans} WHERE {partial}{within_loans} \
         UNION ALL SELECT {key}, {nothing}, 1 {loans} \
           WHERE {back} IS NULL AND l.kind = 'paper' AND l.status IN ({out}) AND l.due_at < :now{out_in_period}{within_loans}",
        days = counted("loan_days"),
        changes = counted("loan_day_changes"),
        key = grouping.loan_key,
        partial = PARTIAL_DAYS.replace("TIME", "l.checked_out_at"),
        back = rollups::BACK_AT,
        out = out_list(),
    )
}

/// The request counters of a period, as `loan_rows` for loans: columns `requests, approved,
/// rejected, approval_seconds`.
fn request_rows(viewer: &Principal) -> String {
    let (within_counters, within_requests) = if viewer.sees_every_classification() {
        (String::new(), String::new())
    } else {
        let visible = visible_list(viewer);
        (
            format!(" AND r.ceiling IN ({visible})"),
            format!(
                " AND NOT EXISTS (SELECT 1 FROM request_items i JOIN archives a ON a.id = i.archive_id \
                   WHERE i.request_id = q.id AND a.classification NOT IN ({visible}))"
            ),
        )
    };
    let (columns, each) = counter_lists(&rollups::request_counters());
    let counted = |table: &str| {
        format!("SELECT {columns} FROM {table} r WHERE {WHOLE_DAYS}{within_counters}")
    };
    format!(
        "{days} UNION ALL {changes} \
         UNION ALL SELECT {each} FROM loan_requests q WHERE {partial}{within_requests}",
        days = counted("request_days"),
        changes = counted("request_day_changes"),
        partial = PARTIAL_DAYS.replace("TIME", "q.created_at"),
    )
}

/// `sum(column)` as a BIGINT (PostgreSQL sums BIGINTs as NUMERIC), 0 over no rows.
fn total(column: &str) -> String {
    format!("CAST(COALESCE(sum({column}), 0) AS BIGINT) AS {column}")
}

/// The headline figures of a period, over the archives within `viewer`'s clearance.
pub fn summary(
    conn: &mut Conn,
    viewer: &Principal,
    period: &Period,
    now: OffsetDateTime,
    source: Source,
) -> Result<Summary, PersistenceError> {
    let sql = format!(
        "SELECT q.*, l.* FROM \
           (SELECT {requests}, {approved}, {rejected}, \
                   COALESCE(sum(approval_seconds), 0.0) AS approval_seconds \
            FROM ({request_rows}) r) q, \
           (SELECT {loans}, {back}, {late_back}, {overdue_open}, \
                   COALESCE(sum(loan_seconds), 0.0) AS loan_seconds, {damaged}, {lost} \
            FROM ({loan_rows}) r) l",
        requests = total("requests"),
        approved = total("approved"),
        rejected = total("rejected"),
        loans = total("loans"),
        back = total("back"),
        late_back = total("late_back"),
        overdue_open = total("overdue_open"),
        damaged = total("damaged"),
        lost = total("lost"),
        request_rows = request_rows(viewer),
        loan_rows = loan_rows(&Grouping::NONE, viewer, period),
    );
    Split::of(period, source)
        .load::<Totals>(conn, &sql, now)?
        .pop()
        .map(|totals| totals.summary())
        .ok_or(PersistenceError::NotFound)
}

/// Loans of a period by department (the borrower's), category, classification or month, over
/// the archives within `viewer`'s clearance.
pub fn loans_by(
    conn: &mut Conn,
    viewer: &Principal,
    period: &Period,
    group_by: GroupBy,
    now: OffsetDateTime,
    source: Source,
) -> Result<Vec<LoanGroup>, PersistenceError> {
    let sql = format!(
        "SELECT key, {loans}, CAST(COALESCE(sum(back), 0) AS BIGINT) AS returned, \
                CAST(COALESCE(sum(late_back + overdue_open), 0) AS BIGINT) AS late \
         FROM ({rows}) r GROUP BY key HAVING sum(loans) > 0 ORDER BY key",
        loans = total("loans"),
        rows = loan_rows(&Grouping::of(group_by), viewer, period),
    );
    Split::of(period, source).load(conn, &sql, now)
}

impl Summary {
    /// The same counts, and averages equal but for the order their sums were added in.
    pub fn agrees_with(&self, other: &Summary) -> bool {
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            (a, b) => a.is_none() && b.is_none(),
        };
        let counts = |s: &Summary| {
            [
                s.requests,
                s.approved,
                s.rejected,
                s.loans,
                s.returned,
                s.late,
                s.overdue_now,
                s.damaged,
                s.lost,
            ]
        };
        counts(self) == counts(other)
            && close(self.avg_approval_hours, other.avg_approval_hours)
            && close(self.avg_loan_days, other.avg_loan_days)
    }
}

/// Where the day counters and the loans and requests themselves disagree on the reports of
/// `period` as `viewer` sees them, read in one snapshot: one line per report, none when they
/// agree.
pub fn disagreements(
    conn: &mut Conn,
    viewer: &Principal,
    period: &Period,
    now: OffsetDateTime,
) -> Result<Vec<String>, PersistenceError> {
    read_transaction(conn, |conn| {
        if let AnyConnection::Postgresql(pg) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(pg)?;
        }
        let mut found = Vec::new();
        let counted = summary(conn, viewer, period, now, Source::Rollups)?;
        let direct = summary(conn, viewer, period, now, Source::Loans)?;
        if !counted.agrees_with(&direct) {
            found.push(format!("summary: counters {counted:?}, loans {direct:?}"));
        }
        for group_by in [
            GroupBy::Department,
            GroupBy::Category,
            GroupBy::Classification,
            GroupBy::Month,
        ] {
            let counted = loans_by(conn, viewer, period, group_by, now, Source::Rollups)?;
            let direct = loans_by(conn, viewer, period, group_by, now, Source::Loans)?;
            if counted != direct {
                found.push(format!(
                    "loans by {group_by:?}: counters {counted:?}, loans {direct:?}"
                ));
            }
        }
        Ok(found)
    })
}

/// Open loans past their due time that `viewer` may see, longest overdue first.
pub fn overdue(
    conn: &mut Conn,
    viewer: &Principal,
    now: OffsetDateTime,
    page: Slice,
) -> Result<Vec<OverdueLoan>, PersistenceError> {
    let visible = visible_list(viewer);
    let id = match Sql::of(conn) {
        Sql::Postgres => "::text",
        Sql::Sqlite => "",
    };
    let sql = format!(
        "SELECT l.id{id} AS loan_id, l.archive_id{id} AS archive_id, a.archive_code, a.title, \
                a.classification, l.borrower_id{id} AS borrower_id, u.display_name AS borrower, \
                d.name AS department, l.due_at \
         FROM loans l \
         JOIN archives a ON a.id = l.archive_id \
         JOIN users u ON u.id = l.borrower_id \
         LEFT JOIN departments d ON d.id = u.department_id \
         WHERE l.kind = 'paper' AND l.status IN ({out}) AND l.due_at < :now \
           AND a.classification IN ({visible}) \
         ORDER BY l.due_at, l.id LIMIT {} OFFSET {}",
        page.limit,
        page.offset,
        out = out_list(),
    );
    let query = diesel::sql_query(Sql::of(conn).render(&sql, &["now"]))
        .bind::<Timestamp, _>(to_db_time(now));
    let rows: Vec<OverdueRow> = match conn {
        AnyConnection::Postgresql(pg) => query.load(pg)?,
        AnyConnection::Sqlite(sqlite) => query.load(sqlite)?,
    };
    rows.into_iter()
        .map(|row| {
            let due_at = from_db_time(row.due_at);
            Ok(OverdueLoan {
                loan_id: parse_id(&row.loan_id)?,
                archive_id: parse_id(&row.archive_id)?,
                archive_code: row.archive_code,
                title: row.title,
                classification: row.classification.parse().map_err(|e| {
                    PersistenceError::Corrupt(format!("archives.classification: {e}"))
                })?,
                borrower_id: parse_id(&row.borrower_id)?,
                borrower: row.borrower,
                department: row.department,
                due_at,
                days_overdue: days_overdue(due_at, now),
            })
        })
        .collect()
}

/// Every loan of `secret` and above checked out in the period that `viewer` may see, oldest
/// first, with its request (the approval chain) for the auditor; of the request's archives only
/// those within the viewer's clearance are shown.
pub fn compliance(
    conn: &mut Conn,
    period: &Period,
    viewer: &Principal,
    page: Slice,
) -> Result<Vec<ComplianceEntry>, PersistenceError> {
    use crate::schema::{archives, loans as loans_table};
    let (from, to) = period.bounds();
    let sensitive: Vec<&str> = viewer
        .visible_classifications()
        .into_iter()
        .filter(|c| *c >= Classification::Secret)
        .map(Classification::as_str)
        .collect();
    let ids = loans_table::table
        .inner_join(archives::table)
        .filter(archives::classification.eq_any(sensitive))
        .filter(loans_table::checked_out_at.ge(from))
        .filter(loans_table::checked_out_at.lt(to))
        .order((loans_table::checked_out_at.asc(), loans_table::id.asc()))
        .limit(page.limit)
        .offset(page.offset)
        .select(loans_table::id)
        .load::<DbId>(conn)?;
    ids.into_iter()
        .map(|id| {
            let loan = loans::load(conn, id.0)?;
            let mut request = requests::load(conn, loan.request_id)?;
            request.items.retain(|i| viewer.may_see(i.classification));
            Ok(ComplianceEntry { loan, request })
        })
        .collect()
}

/// The classifications `viewer` sees, as an SQL list of literals (fixed names, no input); `''`
/// (matching nothing) for someone who sees none.
fn visible_list(viewer: &Principal) -> String {
    let visible = viewer.visible_classifications();
    if visible.is_empty() {
        return "''".to_owned();
    }
    rollups::literals(visible.iter().map(|c| c.as_str()))
}

fn parse_id(text: &str) -> Result<Uuid, PersistenceError> {
    Uuid::try_parse(text).map_err(|e| PersistenceError::Corrupt(format!("id {text}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_renders_its_parameters_and_date_arithmetic() {
        let template = "SELECT SECONDS(COALESCE(a, d), b), MONTH(c), DAY(c) FROM t \
                        WHERE x >= :from AND x < :to AND y < :now AND z < :first_at";
        let params = ["from", "to", "now", "first_at"];
        assert_eq!(
            Sql::Postgres.render(template, &params),
            "SELECT CAST(EXTRACT(EPOCH FROM (COALESCE(a, d) - b)) AS DOUBLE PRECISION), to_char(c, 'YYYY-MM'), \
             to_char(c, 'YYYY-MM-DD') FROM t WHERE x >= $1 AND x < $2 AND y < $3 AND z < $4"
        );
        assert_eq!(
            Sql::Sqlite.render(template, &params),
            "SELECT ((julianday(COALESCE(a, d)) - julianday(b)) * 86400.0), strftime('%Y-%m', c), \
             date(c) FROM t WHERE x >= ?1 AND x < ?2 AND y < ?3 AND z < ?4"
        );
    }

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn a_period_reads_whole_days_from_the_counters_and_the_rest_from_loans() {
        let split = Split::of(
            &Period {
                from: Some(at("2025-06-01T08:30:00+08:00")),
                to: Some(at("2025-06-04T12:00:00Z")),
            },
            Source::Rollups,
        );
        assert_eq!(
            (split.first_day.as_str(), split.end_day.as_str()),
            ("2025-06-02", "2025-06-04")
        );
        assert_eq!(
            (split.from, split.first_at, split.end_at, split.to),
            (
                time::macros::datetime!(2025-06-01 0:30),
                time::macros::datetime!(2025-06-02 0:00),
                time::macros::datetime!(2025-06-04 0:00),
                time::macros::datetime!(2025-06-04 12:00),
            )
        );

        let within_a_day = Split::of(
            &Period {
                from: Some(at("2025-06-01T01:00:00Z")),
                to: Some(at("2025-06-01T23:00:00Z")),
            },
            Source::Rollups,
        );
        assert_eq!(within_a_day.first_day, within_a_day.end_day);
        assert_eq!(
            (within_a_day.first_at, within_a_day.end_at),
            (within_a_day.to, within_a_day.to)
        );

        let from_loans = Split::of(
            &Period {
                from: None,
                to: None,
            },
            Source::Loans,
        );
        assert_eq!(from_loans.first_day, "");
        assert_eq!(from_loans.first_at, from_loans.to);
    }
}
