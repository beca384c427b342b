//! What SQLite and PostgreSQL write differently, in one place.

use diesel::{
    pg::{Pg, PgConnection},
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    QueryResult, RunQueryDsl,
};

use crate::{AnyConnection, Conn};

/// A write and a read as one statement on PostgreSQL, `WITH written AS (write) read`, where a
/// round trip costs more than the statement. The read sees the database as it was before the
/// statement (one snapshot for all of it), so it must not be about what the write writes.
pub(crate) struct WriteThenRead<W, R> {
    pub(crate) write: W,
    pub(crate) read: R,
}

impl<W: QueryFragment<Pg>, R: QueryFragment<Pg>> QueryFragment<Pg> for WriteThenRead<W, R> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH written AS (");
        self.write.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.read.walk_ast(out.reborrow())
    }
}

impl<W, R: Query> Query for WriteThenRead<W, R> {
    type SqlType = R::SqlType;
}

/// Prepared once per connection all the same: diesel keys statements without a static id by
/// their text.
impl<W, R> QueryId for WriteThenRead<W, R> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<W, R> RunQueryDsl<PgConnection> for WriteThenRead<W, R> {}

/// The SQL dialect of a connection: placeholders and date arithmetic.
#[derive(Clone, Copy)]
pub(crate) enum Sql {
    Postgres,
    Sqlite,
}

impl Sql {
    pub(crate) fn of(conn: &Conn) -> Sql {
        match conn {
            AnyConnection::Postgresql(_) => Sql::Postgres,
            AnyConnection::Sqlite(_) => Sql::Sqlite,
        }
    }

    /// Renders `template`: `:name` becomes the parameter of that name's position in `params`,
    /// `SECONDS(a, b)` the seconds from `b` to `a`, `MONTH(a)` the text `YYYY-MM` of `a`, `DAY(a)`
    /// its text `YYYY-MM-DD`.
    pub(crate) fn render(self, template: &str, params: &[&str]) -> String {
        let mut sql = template.to_owned();
        let mut named: Vec<(usize, &str)> = params.iter().copied().enumerate().collect();
        // Longest first, so that no name is replaced inside a longer one.
        named.sort_by_key(|(_, name)| std::cmp::Reverse(name.len()));
        for (at, name) in named {
            let placeholder = match self {
                Sql::Postgres => format!("${}", at + 1),
                Sql::Sqlite => format!("?{}", at + 1),
            };
            sql = sql.replace(&format!(":{name}"), &placeholder);
        }
        for (name, render) in [
            ("SECONDS(", Self::seconds as fn(Sql, &[&str]) -> String),
            ("MONTH(", Self::month),
            ("DAY(", Self::day),
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

    pub(crate) fn seconds(self, args: &[&str]) -> String {
        let (later, earlier) = (args[0], args.get(1).copied().unwrap_or(args[0]));
        match self {
            Sql::Postgres => {
                format!("CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)")
            }
            Sql::Sqlite => format!("((julianday({later}) - julianday({earlier})) * 86400.0)"),
        }
    }

    pub(crate) fn month(self, args: &[&str]) -> String {
        match self {
            Sql::Postgres => format!("to_char({}, 'YYYY-MM')", args[0]),
            Sql::Sqlite => format!("strftime('%Y-%m', {})", args[0]),
        }
    }

    pub(crate) fn day(self, args: &[&str]) -> String {
        match self {
            Sql::Postgres => format!("to_char({}, 'YYYY-MM-DD')", args[0]),
            Sql::Sqlite => format!("date({})", args[0]),
        }
    }
}

/// The top-level, comma-separated arguments of a call whose `(` has been consumed, and the
/// length of the text up to and including the closing `)`.
pub(crate) fn arguments(text: &str) -> Option<(Vec<String>, usize)> {
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
