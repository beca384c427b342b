//! Online loans in use: a read, the copies handed out (each recorded with its digest, so a leaked
//! copy leads back to its loan), and the ends a person or the clock decides — given back, revoked,
//! expired at the due date. How they open and end is `events::online`'s.

use dangan_domain::{
    audit::NewAuditEvent,
    loan::{LoanKind, OnlineEnd},
    voucher::voucher_number,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::loans::open_online;
use crate::{
    db::write_transaction,
    events, from_db_time,
    schema::{loan_copies, loan_requests, request_items},
    sql_types::DbId,
    store::{
        files::{self, ArchiveFile},
        loans::{get, load, StoredLoan},
        users::User,
    },
    to_db_time, Conn, PersistenceError,
};

/// What one online read needs: the loan and its number, the file and its wrapped data key.
#[derive(Debug, Clone)]
pub struct Reading {
    pub loan: StoredLoan,
    /// The loan's number, as its voucher shows it (`JY-2026-000123-01`).
    pub number: String,
    pub file: ArchiveFile,
    pub wrapped_key: String,
}

fn number_of(conn: &mut Conn, loan_id: Uuid) -> Result<String, PersistenceError> {
    let (number, position) = request_items::table
        .inner_join(loan_requests::table)
        .filter(request_items::loan_id.eq(Some(DbId(loan_id))))
        .select((loan_requests::number, request_items::position))
        .first::<(String, i32)>(conn)?;
    Ok(voucher_number(&number, position))
}

/// A file of the loan's archive, for the loan's borrower while the loan is open to them. Anyone
/// else, a paper loan, an archive above the borrower's clearance now, or a retired file: 404;
/// an ended loan: 410; one not open yet: 409.
pub fn reading(
    conn: &mut Conn,
    now: OffsetDateTime,
    reader: &User,
    loan_id: Uuid,
    file_id: Uuid,
) -> Result<Reading, PersistenceError> {
    let loan = load(conn, loan_id)?;
    if loan.loan.borrower_id != reader.id
        || loan.loan.kind != LoanKind::Online
        || !reader.principal().may_see(loan.classification)
    {
        return Err(PersistenceError::NotFound);
    }
    loan.loan.check_reading(loan.checked_out_at, now)?;
    let (file, wrapped_key) = files::get(conn, reader, loan.archive_id, file_id)?;
    Ok(Reading {
        number: number_of(conn, loan.id)?,
        loan,
        file,
        wrapped_key,
    })
}

/// A copy of a file handed out by an online loan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub id: Uuid,
    pub loan_id: Uuid,
    pub file_id: Uuid,
    /// Hex SHA-256 of the bytes sent.
    pub sha256: String,
    pub size_bytes: i64,
    /// Whether the copy carries a visible mark naming the borrower and the loan.
    pub marked: bool,
    pub handed_out_at: OffsetDateTime,
}

/// A copy made for a reading, about to be sent.
#[derive(Debug, Clone)]
pub struct NewCopy {
    pub id: Uuid,
    pub sha256: String,
    pub size_bytes: i64,
    pub marked: bool,
}

/// Records the copy about to be sent for `reading`, with its audit event (who, which file,
/// when, how many bytes, the copy's digest). Refused, like the read, if the loan ended since.
pub fn record_copy(
    conn: &mut Conn,
    now: OffsetDateTime,
    reader: &User,
    reading: &Reading,
    new: NewCopy,
) -> Result<Copy, PersistenceError> {
    write_transaction(conn, |conn| {
        let loan = load(conn, reading.loan.id)?;
        loan.loan.check_reading(loan.checked_out_at, now)?;
        let copy = Copy {
            id: new.id,
            loan_id: loan.id,
            file_id: reading.file.id,
            sha256: new.sha256,
            size_bytes: new.size_bytes,
            marked: new.marked,
            handed_out_at: now,
        };
        // A copy handed again to its loan (kept a moment for reuse) is read again, not new.
        let again: i64 = loan_copies::table
            .find(DbId(copy.id))
            .filter(loan_copies::loan_id.eq(DbId(loan.id)))
            .count()
            .get_result(conn)?;
        if again == 0 {
            diesel::insert_into(loan_copies::table)
                .values((
                    loan_copies::id.eq(DbId(copy.id)),
                    loan_copies::loan_id.eq(DbId(copy.loan_id)),
                    loan_copies::file_id.eq(DbId(copy.file_id)),
                    loan_copies::sha256.eq(&copy.sha256),
                    loan_copies::size_bytes.eq(copy.size_bytes),
                    loan_copies::marked.eq(copy.marked),
                    loan_copies::handed_out_at.eq(to_db_time(now)),
                ))
                .execute(conn)?;
        }
        events::record(
            conn,
            now,
            NewAuditEvent::new("loan.file_read", "loan")
                .by(Some(reader.id))
                .on(loan.id)
                .about(loan.classification)
                .with(json!({
                    "file": {
                        "id": reading.file.id,
                        "name": reading.file.name,
                        "sha256": reading.file.sha256,
                    },
                    "copy": {"id": copy.id, "sha256": copy.sha256, "marked": copy.marked, "again": again > 0},
                    "bytes": copy.size_bytes,
                    "archive_id": loan.archive_id,
                })),
        )?;
        Ok(copy)
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = loan_copies)]
struct CopyRow {
    id: DbId,
    loan_id: DbId,
    file_id: DbId,
    sha256: String,
    size_bytes: i64,
    marked: bool,
    handed_out_at: time::PrimitiveDateTime,
}

impl From<CopyRow> for Copy {
    fn from(row: CopyRow) -> Copy {
        Copy {
            id: row.id.into(),
            loan_id: row.loan_id.into(),
            file_id: row.file_id.into(),
            sha256: row.sha256,
            size_bytes: row.size_bytes,
            marked: row.marked,
            handed_out_at: from_db_time(row.handed_out_at),
        }
    }
}

/// The copies handed out by a loan `viewer` may see, oldest first.
pub fn copies(
    conn: &mut Conn,
    viewer: &User,
    loan_id: Uuid,
) -> Result<Vec<Copy>, PersistenceError> {
    get(conn, viewer, loan_id)?;
    Ok(loan_copies::table
        .filter(loan_copies::loan_id.eq(DbId(loan_id)))
        .order((loan_copies::handed_out_at, loan_copies::id))
        .select(CopyRow::as_select())
        .load::<CopyRow>(conn)?
        .into_iter()
        .map(Copy::from)
        .collect())
}

/// The copies whose bytes have the digest `sha256` (a copy found outside), within the
/// viewer's clearance: what leads a leaked copy back to its loan and borrower.
pub fn trace(
    conn: &mut Conn,
    viewer: &User,
    sha256: &str,
) -> Result<Vec<(Copy, StoredLoan)>, PersistenceError> {
    let rows = loan_copies::table
        .filter(loan_copies::sha256.eq(sha256.to_ascii_lowercase()))
        .order(loan_copies::handed_out_at)
        .select(CopyRow::as_select())
        .load::<CopyRow>(conn)?;
    with_loans(conn, viewer, rows)
}

/// The copies `ids` name (fingerprints read from a copy found outside), within the viewer's
/// clearance, in the order named.
pub fn identify(
    conn: &mut Conn,
    viewer: &User,
    ids: &[Uuid],
) -> Result<Vec<(Copy, StoredLoan)>, PersistenceError> {
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = loan_copies::table
            .find(DbId(*id))
            .select(CopyRow::as_select())
            .first::<CopyRow>(conn)
            .optional()?
        {
            rows.push(row);
        }
    }
    with_loans(conn, viewer, rows)
}

/// Each copy with its loan, leaving out copies of loans above the viewer's clearance.
fn with_loans(
    conn: &mut Conn,
    viewer: &User,
    rows: Vec<CopyRow>,
) -> Result<Vec<(Copy, StoredLoan)>, PersistenceError> {
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let copy = Copy::from(row);
        match get(conn, viewer, copy.loan_id) {
            Ok(loan) => found.push((copy, loan)),
            Err(PersistenceError::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(found)
}

/// The borrower gives an online loan back before its due date.
pub fn give_back(
    conn: &mut Conn,
    now: OffsetDateTime,
    borrower: &User,
    id: Uuid,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = load(conn, id)?;
        if before.loan.borrower_id != borrower.id {
            get(conn, borrower, id)?;
            return Err(dangan_domain::DomainError::NotBorrower.into());
        }
        events::online_loan_ends(
            conn,
            now,
            Some(borrower.id),
            &before,
            OnlineEnd::Returned,
            None,
        )
    })
}

/// An archivist ends someone's online loan at once, saying why.
pub fn revoke(
    conn: &mut Conn,
    now: OffsetDateTime,
    archivist: &User,
    id: Uuid,
    reason: &str,
) -> Result<StoredLoan, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, archivist, id)?;
        events::online_loan_ends(
            conn,
            now,
            Some(archivist.id),
            &before,
            OnlineEnd::Revoked,
            Some(reason),
        )
    })
}

/// Closes the online loans whose due date has come (their reading ended then already); the
/// scheduler's work. Returns how many it closed.
pub fn expire_due(conn: &mut Conn, now: OffsetDateTime) -> Result<usize, PersistenceError> {
    let due = open_online(conn, None, Some(now))?;
    let mut closed = 0;
    for id in due {
        let ended = write_transaction(conn, |conn| {
            let before = load(conn, id)?;
            if !before.loan.expired(now) {
                return Ok(false);
            }
            events::online_loan_ends(conn, now, None, &before, OnlineEnd::Expired, None)?;
            Ok(true)
        });
        match ended {
            Ok(true) => closed += 1,
            Ok(false) | Err(PersistenceError::VersionMismatch) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(closed)
}
