//! Reports: every figure is computed by the database in one aggregate query, so they stay fast
//! over a long history. The SQL differs between the stores only in date arithmetic and in how
//! parameters are written; `Sql` renders one text for each.
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
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    from_db_time,
    loans::{self, StoredLoan},
    requests::{self, StoredRequest},
    sql_types::DbId,
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

#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct Summary {
    #[diesel(sql_type = BigInt)]
    pub requests: i64,
    #[diesel(sql_type = BigInt)]
    pub approved: i64,
    #[diesel(sql_type = BigInt)]
    pub rejected: i64,
    #[diesel(sql_type = BigInt)]
    pub loans: i64,
    #[diesel(sql_type = BigInt)]
    pub returned: i64,
    #[diesel(sql_type = BigInt)]
    pub late: i64,
    #[diesel(sql_type = BigInt)]
    pub overdue_now: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_approval_hours: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_loan_days: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub damaged: i64,
    #[diesel(sql_type = BigInt)]
    pub lost: i64,
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

/// The SQL dialect of a connection: placeholders and date arithmetic.
#[derive(Clone, Copy)]
enum Sql {
    Postgres,
    Sqlite,
}

impl Sql {
    fn of(conn: &Conn) -> Sql {
        match conn {
            AnyConnection::Postgresql(_) => Sql::Postgres,
            AnyConnection::Sqlite(_) => Sql::Sqlite,
        }
    }

    /// Renders `template`: `:from`, `:to` and `:now` become the first three parameters,
    /// `SECONDS(a, b)` the seconds from `b` to `a`, `MONTH(a)` the text `YYYY-MM` of `a`.
    fn render(self, template: &str) -> String {
        let (from, to, now) = match self {
            Sql::Postgres => ("$1", "$2", "$3"),
            Sql::Sqlite => ("?1", "?2", "?3"),
        };
        let mut sql = template
            .replace(":from", from)
            .replace(":to", to)
            .replace(":now", now);
        for (name, render) in [
            ("SECONDS(", Self::seconds as fn(Sql, &[&str]) -> String),
            ("MONTH(", Self::month),
        ] {
            while let Some(start) = sql.find(name) {
                let open = start + name.len();
                let Some((args, end)) = arguments(&sql[open..]) else {
                    break;
                };
                let rendered = render(self, &args.iter().map(String::as_str).collect::<Vec<_>>());
                sql.replace_range(start..open + end, &rendered);
            }
        }
        sql
    }

    fn seconds(self, args: &[&str]) -> String {
        let (later, earlier) = (args[0], args.get(1).copied().unwrap_or(args[0]));
        match self {
            Sql::Postgres => {
                format!("CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)")
            }
            Sql::Sqlite => format!("((julianday({later}) - julianday({earlier})) * 86400.0)"),
        }
    }

    fn month(self, args: &[&str]) -> String {
        match self {
            Sql::Postgres => format!("to_char({}, 'YYYY-MM')", args[0]),
            Sql::Sqlite => format!("strftime('%Y-%m', {})", args[0]),
        }
    }
}

/// The top-level, comma-separated arguments of a call whose `(` has been consumed, and the
/// length of the text up to and including the closing `)`.
fn arguments(text: &str) -> Option<(Vec<String>, usize)> {
    let (mut depth, mut args, mut current) = (0usize, Vec::new(), String::new());
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                args.push(current.trim().to_owned());
                return Some((args, at + 1));
            }
            ')' => depth -= 1,
            ',' if depth == 0 => {
                args.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    None
}

/// When the archive came back, and whether the loan was late; shared by the loan aggregates.
const BACK_AT: &str = "COALESCE(l.inspected_at, l.returned_at)";

/// The statuses of loans still out with their borrower (`LoanStatus::OUT`), as SQL literals.
fn out_list() -> String {
    LoanStatus::OUT
        .map(|s| format!("'{}'", s.as_str()))
        .join(", ")
}

fn late_case() -> String {
    format!(
        "CASE WHEN ({BACK_AT} IS NOT NULL AND {BACK_AT} > l.due_at) \
         OR ({BACK_AT} IS NULL AND l.status IN ({out}) AND l.due_at < :now) \
         THEN 1 ELSE 0 END",
        out = out_list()
    )
}

fn run<T>(
    conn: &mut Conn,
    sql: &str,
    period: &Period,
    now: OffsetDateTime,
) -> Result<Vec<T>, PersistenceError>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    let (from, to) = period.bounds();
    let now = to_db_time(now);
    let dialect = Sql::of(conn);
    let query = diesel::sql_query(dialect.render(sql))
        .bind::<Timestamp, _>(from)
        .bind::<Timestamp, _>(to)
        .bind::<Timestamp, _>(now);
    Ok(match conn {
        AnyConnection::Postgresql(pg) => query.load(pg)?,
        AnyConnection::Sqlite(sqlite) => query.load(sqlite)?,
    })
}

/// SQL conditions that keep a report within `viewer`'s clearance: on the loans' archive (`a`)
/// and on requests (none of whose archives may be above it). Empty for someone who sees every
/// classification, so the whole-history reports of a top-secret auditor pay no join.
struct Within {
    loans: String,
    requests: String,
}

impl Within {
    fn clearance_of(viewer: &Principal) -> Within {
        if viewer.sees_every_classification() {
            return Within {
                loans: String::new(),
                requests: String::new(),
            };
        }
        let visible = visible_list(viewer);
        Within {
            loans: format!(
                " AND l.archive_id IN (SELECT a.id FROM archives a WHERE a.classification IN ({visible}))"
            ),
            requests: format!(
                " AND NOT EXISTS (SELECT 1 FROM request_items i JOIN archives a ON a.id = i.archive_id \
                   WHERE i.request_id = loan_requests.id AND a.classification NOT IN ({visible}))"
            ),
        }
    }
}

/// The headline figures of a period, over the archives within `viewer`'s clearance.
pub fn summary(
    conn: &mut Conn,
    viewer: &Principal,
    period: &Period,
    now: OffsetDateTime,
) -> Result<Summary, PersistenceError> {
    let within = Within::clearance_of(viewer);
    let sql = format!(
        "SELECT r.requests, r.approved, r.rejected, r.avg_approval_hours, \
                l.loans, l.returned, l.late, l.overdue_now, l.avg_loan_days, l.damaged, l.lost \
         FROM (SELECT count(*) AS requests, \
                      COALESCE(sum(CASE WHEN approved_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS approved, \
                      COALESCE(sum(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0) AS rejected, \
                      avg(CASE WHEN approved_at IS NOT NULL THEN SECONDS(approved_at, created_at) END) / 3600.0 \
                          AS avg_approval_hours \
               FROM loan_requests WHERE created_at >= :from AND created_at < :to{requests}) r, \
              (SELECT count(*) AS loans, \
                      COALESCE(sum(CASE WHEN {BACK_AT} IS NOT NULL THEN 1 ELSE 0 END), 0) AS returned, \
                      COALESCE(sum({late}), 0) AS late, \
                      COALESCE(sum(CASE WHEN {BACK_AT} IS NULL AND l.status IN ({out}) \
                                         AND l.due_at < :now THEN 1 ELSE 0 END), 0) AS overdue_now, \
                      avg(CASE WHEN {BACK_AT} IS NOT NULL THEN SECONDS({BACK_AT}, l.checked_out_at) END) / 86400.0 \
                          AS avg_loan_days, \
                      COALESCE(sum(CASE WHEN l.condition IN ('damaged', 'incomplete') THEN 1 ELSE 0 END), 0) AS damaged, \
                      COALESCE(sum(CASE WHEN l.status = 'lost' THEN 1 ELSE 0 END), 0) AS lost \
               FROM loans l WHERE l.checked_out_at >= :from AND l.checked_out_at < :to{loans}) l",
        late = late_case(),
        out = out_list(),
        requests = within.requests,
        loans = within.loans,
    );
    run::<Summary>(conn, &sql, period, now)?
        .pop()
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
) -> Result<Vec<LoanGroup>, PersistenceError> {
    let key = match group_by {
        GroupBy::Department => "COALESCE(d.name, '-')",
        GroupBy::Category => "a.category",
        GroupBy::Classification => "a.classification",
        GroupBy::Month => "MONTH(l.checked_out_at)",
    };
    let sql = format!(
        "SELECT {key} AS key, count(*) AS loans, \
                COALESCE(sum(CASE WHEN {BACK_AT} IS NOT NULL THEN 1 ELSE 0 END), 0) AS returned, \
                COALESCE(sum({late}), 0) AS late \
         FROM loans l \
         JOIN archives a ON a.id = l.archive_id \
         JOIN users u ON u.id = l.borrower_id \
         LEFT JOIN departments d ON d.id = u.department_id \
         WHERE l.checked_out_at >= :from AND l.checked_out_at < :to{within} \
         GROUP BY {key} ORDER BY {key}",
        late = late_case(),
        within = Within::clearance_of(viewer).loans,
    );
    run(conn, &sql, period, now)
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
         WHERE l.status IN ({out}) AND l.due_at < :now \
           AND l.checked_out_at >= :from AND l.checked_out_at < :to \
           AND a.classification IN ({visible}) \
         ORDER BY l.due_at, l.id LIMIT {} OFFSET {}",
        page.limit,
        page.offset,
        out = out_list(),
    );
    let everything = Period {
        from: None,
        to: None,
    };
    run::<OverdueRow>(conn, &sql, &everything, now)?
        .into_iter()
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
    visible
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_id(text: &str) -> Result<Uuid, PersistenceError> {
    Uuid::try_parse(text).map_err(|e| PersistenceError::Corrupt(format!("id {text}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_renders_its_parameters_and_date_arithmetic() {
        let template = "SELECT SECONDS(COALESCE(a, d), b), MONTH(c) FROM t WHERE x >= :from AND x < :to AND y < :now";
        assert_eq!(
            Sql::Postgres.render(template),
            "SELECT CAST(EXTRACT(EPOCH FROM (COALESCE(a, d) - b)) AS DOUBLE PRECISION), to_char(c, 'YYYY-MM') \
             FROM t WHERE x >= $1 AND x < $2 AND y < $3"
        );
        assert_eq!(
            Sql::Sqlite.render(template),
            "SELECT ((julianday(COALESCE(a, d)) - julianday(b)) * 86400.0), strftime('%Y-%m', c) \
             FROM t WHERE x >= ?1 AND x < ?2 AND y < ?3"
        );
    }
}
