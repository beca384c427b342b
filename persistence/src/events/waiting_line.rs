//! The waiting line: an archive back on the shelf is reserved for the oldest approved request
//! that wants it, reservations lapse when their pickup window ends, and a request settles once
//! nothing of it is outstanding.

use dangan_domain::{
    archive::ArchiveStatus,
    loan::LoanStatus,
    request::{settling, Command, Deciders, ItemStatus, RequestStatus, Settling},
};
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    schema::{loan_requests, loans, request_items},
    sql_types::DbId,
    store::{
        archives,
        loans::corrupt,
        notifications::{notify, Message},
        requests::{self, StoredRequest},
    },
    to_db_time, Conn, PersistenceError,
};

/// Hands an archive that is back on the shelf to the oldest approved request waiting for it
/// (reserved until its pickup window ends, its borrower notified), or makes it available.
/// Returns the request it went to.
pub(crate) fn pass_on(
    conn: &mut Conn,
    now: OffsetDateTime,
    archive_id: Uuid,
) -> Result<Option<Uuid>, PersistenceError> {
    let next = request_items::table
        .inner_join(loan_requests::table)
        .filter(request_items::archive_id.eq(DbId(archive_id)))
        .filter(request_items::status.eq(ItemStatus::Waiting.as_str()))
        .filter(loan_requests::status.eq(RequestStatus::Approved.as_str()))
        .order((loan_requests::approved_at.asc(), loan_requests::id.asc()))
        .select((request_items::request_id, request_items::position))
        .first::<(DbId, i32)>(conn)
        .optional()?;
    let Some((request_id, position)) = next else {
        archives::set_status(conn, now, archive_id, ArchiveStatus::Available)?;
        return Ok(None);
    };
    let request = requests::load(conn, request_id.0)?;
    let until = request.rules.pickup_ends(now);
    diesel::update(
        request_items::table
            .filter(request_items::request_id.eq(request_id))
            .filter(request_items::position.eq(position)),
    )
    .set((
        request_items::status.eq(ItemStatus::Reserved.as_str()),
        request_items::reserved_until.eq(Some(to_db_time(until))),
    ))
    .execute(conn)?;
    archives::set_status(conn, now, archive_id, ArchiveStatus::Reserved)?;
    let item = request
        .items
        .iter()
        .find(|i| i.position == position)
        .ok_or_else(|| corrupt("request_items", "reserved item vanished"))?;
    let date = until.date();
    notify(
        conn,
        now,
        request.borrower_id,
        "archive.reserved",
        &Message {
            subject: format!(
                "档案已为您预留 / Archive reserved for you: {}",
                item.archive_code
            ),
            body: format!(
                "《{}》({}) 已为借阅申请 {} 预留，请于 {date} 前领取。\n\
                 \"{}\" ({}) is reserved for request {} until {date}; please collect it by then.",
                item.title,
                item.archive_code,
                request.number,
                item.title,
                item.archive_code,
                request.number
            ),
        },
        ("loan_request", request.id),
        Some(item.classification),
    )?;
    Ok(Some(request.id))
}

/// Ends reservations of an archive whose pickup window has passed, handing the archive on each
/// time; returns the requests whose reservation lapsed.
pub(crate) fn lapse_reservations(
    conn: &mut Conn,
    now: OffsetDateTime,
    archive_id: Uuid,
) -> Result<Vec<Uuid>, PersistenceError> {
    let mut lapsed = Vec::new();
    loop {
        let due = request_items::table
            .filter(request_items::archive_id.eq(DbId(archive_id)))
            .filter(request_items::status.eq(ItemStatus::Reserved.as_str()))
            .filter(request_items::reserved_until.le(to_db_time(now)))
            .select((request_items::request_id, request_items::position))
            .first::<(DbId, i32)>(conn)
            .optional()?;
        let Some((request_id, position)) = due else {
            return Ok(lapsed);
        };
        diesel::update(
            request_items::table
                .filter(request_items::request_id.eq(request_id))
                .filter(request_items::position.eq(position)),
        )
        .set((
            request_items::status.eq(ItemStatus::Expired.as_str()),
            request_items::reserved_until.eq(None::<time::PrimitiveDateTime>),
        ))
        .execute(conn)?;
        settle_request(conn, now, request_id.0)?;
        lapsed.push(request_id.0);
        pass_on(conn, now, archive_id)?;
    }
}

/// `settle` for a request not loaded yet.
pub(crate) fn settle_request(
    conn: &mut Conn,
    now: OffsetDateTime,
    request_id: Uuid,
) -> Result<RequestStatus, PersistenceError> {
    let request = requests::load(conn, request_id)?;
    settle(conn, now, &request)
}

/// Moves a request on as `domain::request::settling` says once nothing of it is outstanding;
/// `request` must show its items as they are now. Returns its status afterwards.
pub(crate) fn settle(
    conn: &mut Conn,
    now: OffsetDateTime,
    request: &StoredRequest,
) -> Result<RequestStatus, PersistenceError> {
    let items: Vec<ItemStatus> = request.items.iter().map(|i| i.status).collect();
    let command = match settling(request.status, &items) {
        Settling::Stays => return Ok(request.status),
        Settling::Now(command) => command,
        Settling::CloseOnceReturned => {
            let holding: i64 = loans::table
                .filter(loans::request_id.eq(DbId(request.id)))
                .filter(loans::status.eq_any(LoanStatus::HOLDING.map(LoanStatus::as_str)))
                .count()
                .get_result(conn)?;
            if holding > 0 {
                return Ok(request.status);
            }
            Command::Close
        }
    };
    let (after, _) = request.machine().decide(command, &Deciders::none(), now)?;
    requests::store_decision(conn, now, request, &after)?;
    Ok(after.status)
}
