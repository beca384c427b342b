//! Loans as stored and who may see them. The steps of circulation are use cases of their own
//! (`cases::checkouts`, `renewals`, `returns`, `online`).

use dangan_domain::{
    access::{check_borrower, Principal},
    loan::{Condition, Loan, LoanKind, LoanStatus, OnlineEnd},
    Classification,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    from_db_time,
    schema::{archives as archives_table, loans},
    sql_types::DbId,
    store::{
        archives::{self, Archive},
        users::User,
    },
    to_db_time, Conn, Page, PageRequest, PersistenceError,
};

/// The names of the statuses of loans still out with their borrower (`LoanStatus::OUT`).
pub(crate) fn out_statuses() -> [&'static str; 2] {
    LoanStatus::OUT.map(LoanStatus::as_str)
}

/// The borrower's signature on the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub signed_by: Uuid,
    pub signed_at: OffsetDateTime,
    pub method: String,
    /// SHA-256 of the canonical voucher signed.
    pub digest: String,
}

/// A loan as stored, with the archive it is of.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLoan {
    pub id: Uuid,
    pub request_id: Uuid,
    pub archive_id: Uuid,
    pub archive_code: String,
    pub title: String,
    pub classification: Classification,
    pub loan: Loan,
    pub checked_out_at: OffsetDateTime,
    pub checked_out_by: Uuid,
    pub signature: Option<Signature>,
    pub return_notes: Option<String>,
    pub inspected_at: Option<OffsetDateTime>,
    pub confirmed_by: Option<Uuid>,
    /// Why an online loan ended.
    pub end_reason: Option<OnlineEnd>,
    /// Whether an online loan may hand out files it cannot mark as stored (its policy's word
    /// when it opened).
    pub unmarked_copies: bool,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = loans)]
pub(crate) struct LoanRow {
    pub(crate) id: DbId,
    pub(crate) request_id: DbId,
    pub(crate) archive_id: DbId,
    pub(crate) borrower_id: DbId,
    pub(crate) status: String,
    pub(crate) checked_out_at: time::PrimitiveDateTime,
    pub(crate) checked_out_by: DbId,
    pub(crate) due_at: time::PrimitiveDateTime,
    pub(crate) renewals: i32,
    pub(crate) signed_at: Option<time::PrimitiveDateTime>,
    pub(crate) signed_by: Option<DbId>,
    pub(crate) signature_method: Option<String>,
    pub(crate) signature_digest: Option<String>,
    pub(crate) signed_voucher: Option<String>,
    pub(crate) returned_at: Option<time::PrimitiveDateTime>,
    pub(crate) condition: Option<String>,
    pub(crate) return_notes: Option<String>,
    pub(crate) inspected_by: Option<DbId>,
    pub(crate) inspected_at: Option<time::PrimitiveDateTime>,
    pub(crate) confirmed_by: Option<DbId>,
    pub(crate) updated_at: time::PrimitiveDateTime,
    pub(crate) version: i32,
    pub(crate) verification_code: Option<String>,
    pub(crate) kind: String,
    pub(crate) end_reason: Option<String>,
    pub(crate) unmarked_copies: bool,
}

impl LoanRow {
    /// The row of a loan just opened: handed over at the desk by `by` at `at`, or (online)
    /// opened by the approval of `by` and readable from `at`.
    pub(crate) fn opened(
        id: Uuid,
        request_id: Uuid,
        archive_id: Uuid,
        loan: &Loan,
        (by, at): (Uuid, OffsetDateTime),
        now: OffsetDateTime,
        verification_code: String,
    ) -> LoanRow {
        LoanRow {
            id: DbId(id),
            request_id: DbId(request_id),
            archive_id: DbId(archive_id),
            borrower_id: DbId(loan.borrower_id),
            status: loan.status.as_str().to_owned(),
            checked_out_at: to_db_time(at),
            checked_out_by: DbId(by),
            due_at: to_db_time(loan.due_at),
            renewals: loan.renewals,
            signed_at: None,
            signed_by: None,
            signature_method: None,
            signature_digest: None,
            signed_voucher: None,
            returned_at: None,
            condition: None,
            return_notes: None,
            inspected_by: None,
            inspected_at: None,
            confirmed_by: None,
            updated_at: to_db_time(now),
            version: 1,
            verification_code: Some(verification_code),
            kind: loan.kind.as_str().to_owned(),
            end_reason: None,
            unmarked_copies: false,
        }
    }
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::Corrupt(format!("{what}: {detail}"))
}

type Joined = (LoanRow, (String, String, String));

fn into_stored(
    (row, (code, title, classification)): Joined,
) -> Result<StoredLoan, PersistenceError> {
    let status: LoanStatus = row.status.parse().map_err(|e| corrupt("loans.status", e))?;
    let kind: LoanKind = row.kind.parse().map_err(|e| corrupt("loans.kind", e))?;
    let end_reason: Option<OnlineEnd> = row
        .end_reason
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| corrupt("loans.end_reason", e))?;
    let condition: Option<Condition> = row
        .condition
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| corrupt("loans.condition", e))?;
    let signature = match (
        row.signed_by,
        row.signed_at,
        row.signature_method,
        row.signature_digest,
    ) {
        (Some(by), Some(at), Some(method), Some(digest)) => Some(Signature {
            signed_by: by.0,
            signed_at: from_db_time(at),
            method,
            digest,
        }),
        _ => None,
    };
    Ok(StoredLoan {
        id: row.id.0,
        request_id: row.request_id.0,
        archive_id: row.archive_id.0,
        archive_code: code,
        title,
        classification: classification
            .parse()
            .map_err(|e| corrupt("archives.classification", e))?,
        loan: Loan {
            kind,
            borrower_id: row.borrower_id.0,
            status,
            due_at: from_db_time(row.due_at),
            renewals: row.renewals,
            signed_at: row.signed_at.map(from_db_time),
            returned_at: row.returned_at.map(from_db_time),
            condition,
            inspected_by: row.inspected_by.map(Uuid::from),
        },
        checked_out_at: from_db_time(row.checked_out_at),
        checked_out_by: row.checked_out_by.0,
        signature,
        return_notes: row.return_notes,
        inspected_at: row.inspected_at.map(from_db_time),
        confirmed_by: row.confirmed_by.map(Uuid::from),
        end_reason,
        unmarked_copies: row.unmarked_copies,
        updated_at: from_db_time(row.updated_at),
        version: row.version,
    })
}

/// The loan `row` just wrote, of `archive`: what `load` would read back.
pub(crate) fn written(row: LoanRow, archive: &Archive) -> Result<StoredLoan, PersistenceError> {
    let f = &archive.fields;
    into_stored((
        row,
        (
            f.archive_code.clone(),
            f.title.clone(),
            f.classification.as_str().to_owned(),
        ),
    ))
}

macro_rules! loans_with_archive {
    () => {
        loans::table.inner_join(archives_table::table).select((
            LoanRow::as_select(),
            (
                archives_table::archive_code,
                archives_table::title,
                archives_table::classification,
            ),
        ))
    };
}

pub(crate) fn load(conn: &mut Conn, id: Uuid) -> Result<StoredLoan, PersistenceError> {
    into_stored(
        loans_with_archive!()
            .filter(loans::id.eq(DbId(id)))
            .first::<Joined>(conn)?,
    )
}

/// The paper loan an archive is out on, if it is (online loans lend its files, not it).
pub(crate) fn out_of(
    conn: &mut Conn,
    archive_id: Uuid,
) -> Result<Option<StoredLoan>, PersistenceError> {
    loans_with_archive!()
        .filter(loans::archive_id.eq(DbId(archive_id)))
        .filter(loans::kind.eq(LoanKind::Paper.as_str()))
        .filter(loans::status.eq_any(out_statuses()))
        .first::<Joined>(conn)
        .optional()?
        .map(into_stored)
        .transpose()
}

/// A loan as `viewer` may see it: its borrower, and staff, within their clearance.
pub fn get(conn: &mut Conn, viewer: &User, id: Uuid) -> Result<StoredLoan, PersistenceError> {
    let loan = load(conn, id)?;
    if viewer
        .principal()
        .may_see_loan(loan.loan.borrower_id, loan.classification)
    {
        Ok(loan)
    } else {
        Err(PersistenceError::NotFound)
    }
}

/// A loan its borrower acts on (signs, renews): refused with the reason when they are no longer
/// cleared for its archive, rather than hidden, since it is theirs; anyone else sees it as `get`.
pub fn held_by(conn: &mut Conn, actor: &User, id: Uuid) -> Result<StoredLoan, PersistenceError> {
    let loan = load(conn, id)?;
    if loan.loan.borrower_id != actor.id {
        return get(conn, actor, id);
    }
    check_borrower(&actor.principal(), loan.classification)?;
    Ok(loan)
}

/// Open loans of a borrower past their due date (paper ones: an online loan is never overdue).
pub fn count_overdue(
    conn: &mut Conn,
    borrower_id: Uuid,
    now: OffsetDateTime,
) -> Result<i64, PersistenceError> {
    Ok(loans::table
        .filter(loans::borrower_id.eq(DbId(borrower_id)))
        .filter(loans::kind.eq(LoanKind::Paper.as_str()))
        .filter(loans::status.eq_any(out_statuses()))
        .filter(loans::due_at.lt(to_db_time(now)))
        .count()
        .get_result(conn)?)
}

pub(crate) fn loan_audit(loan: &StoredLoan) -> serde_json::Value {
    json!({
        "archive_id": loan.archive_id,
        "archive_code": loan.archive_code,
        "borrower_id": loan.loan.borrower_id,
        "status": loan.loan.status,
    })
}

/// Moves a loan's version on, refusing when someone changed it since `before` was read. On
/// PostgreSQL the update also locks the row, so a concurrent change waits and then fails here.
pub(crate) fn claim(
    conn: &mut Conn,
    before: &StoredLoan,
    now: OffsetDateTime,
) -> Result<(), PersistenceError> {
    let updated = diesel::update(
        loans::table
            .find(DbId(before.id))
            .filter(loans::version.eq(before.version)),
    )
    .set((
        loans::updated_at.eq(to_db_time(now)),
        loans::version.eq(before.version + 1),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    Ok(())
}

/// The loans a borrower still has out, oldest due first (what a deactivated user must hand
/// back): those `viewer` may see, and how many more are out that are above their clearance.
pub fn open_of(
    conn: &mut Conn,
    viewer: &Principal,
    borrower_id: Uuid,
) -> Result<(Vec<StoredLoan>, usize), PersistenceError> {
    let all = loans_with_archive!()
        .filter(loans::borrower_id.eq(DbId(borrower_id)))
        .filter(loans::status.eq_any(out_statuses()))
        .order(loans::due_at.asc())
        .load::<Joined>(conn)?
        .into_iter()
        .map(into_stored)
        .collect::<Result<Vec<_>, _>>()?;
    let (visible, hidden): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|l| viewer.may_see(l.classification));
    Ok((visible, hidden.len()))
}

/// `GET /loans` filters.
#[derive(Debug, Clone, Default)]
pub struct LoanFilter {
    pub status: Option<LoanStatus>,
    pub borrower_id: Option<Uuid>,
    pub archive_id: Option<Uuid>,
    pub overdue: Option<bool>,
    pub due_before: Option<OffsetDateTime>,
}

/// Loans `viewer` may see, newest first: staff all, others their own, everyone within clearance.
pub fn list(
    conn: &mut Conn,
    viewer: &User,
    filter: &LoanFilter,
    page: &PageRequest<Uuid>,
    now: OffsetDateTime,
) -> Result<Page<StoredLoan, Uuid>, PersistenceError> {
    let principal = viewer.principal();
    let mut query = loans_with_archive!()
        .order(loans::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if !principal.is_staff() {
        query = query.filter(loans::borrower_id.eq(DbId(viewer.id)));
    }
    if !principal.sees_every_classification() {
        let visible: Vec<&'static str> = principal
            .visible_classifications()
            .into_iter()
            .map(Classification::as_str)
            .collect();
        query = query.filter(archives_table::classification.eq_any(visible));
    }
    if let Some(status) = filter.status {
        query = query.filter(loans::status.eq(status.as_str()));
    }
    if let Some(borrower_id) = filter.borrower_id {
        query = query.filter(loans::borrower_id.eq(DbId(borrower_id)));
    }
    if let Some(archive_id) = filter.archive_id {
        query = query.filter(loans::archive_id.eq(DbId(archive_id)));
    }
    match filter.overdue {
        Some(true) => {
            query = query
                .filter(loans::kind.eq(LoanKind::Paper.as_str()))
                .filter(loans::status.eq_any(out_statuses()))
                .filter(loans::due_at.lt(to_db_time(now)));
        }
        Some(false) => {
            query = query.filter(
                diesel::dsl::not(loans::status.eq_any(out_statuses()))
                    .or(loans::due_at.ge(to_db_time(now)))
                    .or(loans::kind.ne(LoanKind::Paper.as_str())),
            );
        }
        None => {}
    }
    if let Some(due_before) = filter.due_before {
        query = query.filter(loans::due_at.lt(to_db_time(due_before)));
    }
    if let Some(after) = page.after {
        query = query.filter(loans::id.lt(DbId(after)));
    }
    let rows = query
        .load::<Joined>(conn)?
        .into_iter()
        .map(into_stored)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, page.limit, |l| l.id))
}

/// The loan history of one archive, newest first; an archive above the reader's clearance does
/// not exist for them.
pub fn for_archive(
    conn: &mut Conn,
    viewer: &User,
    archive_id: Uuid,
    page: &PageRequest<Uuid>,
    now: OffsetDateTime,
) -> Result<Page<StoredLoan, Uuid>, PersistenceError> {
    archives::get(conn, archive_id, viewer.clearance)?;
    let filter = LoanFilter {
        archive_id: Some(archive_id),
        ..LoanFilter::default()
    };
    list(conn, viewer, &filter, page, now)
}

/// Open online loans of `borrower`, or of anyone past their due date, in archive order (the
/// order their archives are held in when several are ended in one transaction).
pub(crate) fn open_online(
    conn: &mut Conn,
    borrower: Option<Uuid>,
    due_by: Option<OffsetDateTime>,
) -> Result<Vec<Uuid>, PersistenceError> {
    let mut query = loans::table
        .filter(loans::kind.eq(LoanKind::Online.as_str()))
        .filter(loans::status.eq(LoanStatus::Active.as_str()))
        .order((loans::archive_id, loans::id))
        .select(loans::id)
        .into_boxed();
    if let Some(borrower) = borrower {
        query = query.filter(loans::borrower_id.eq(DbId(borrower)));
    }
    if let Some(due_by) = due_by {
        query = query.filter(loans::due_at.le(to_db_time(due_by)));
    }
    Ok(query
        .load::<DbId>(conn)?
        .into_iter()
        .map(Uuid::from)
        .collect())
}
