//! The waiting line: an archive back on the shelf is reserved for the oldest approved request
//! that wants it, reservations lapse when their pickup window ends, uncollected approvals expire,
//! and a request settles once nothing of it is outstanding.

use dangan_domain::{
    archive::ArchiveStatus,
    audit::NewAuditEvent,
    loan::{LoanRules, LoanStatus},
    request::{settling, Command, Deciders, ItemStatus, RequestStatus, Settling},
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    archives, audit,
    db::write_transaction,
    from_db_time,
    loans::corrupt,
    notifications::{notify, Message},
    requests::{self, StoredRequest},
    schema::{archives as archives_table, loan_requests, loans, request_items},
    sql_types::DbId,
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

/// The scheduler's first pickup rule: reservations whose window has ended pass to the next in
/// line (who is told), and the borrower who did not come is told too. Returns how many lapsed.
pub fn lapse_due_reservations(
    conn: &mut Conn,
    now: OffsetDateTime,
) -> Result<usize, PersistenceError> {
    let archives: Vec<DbId> = request_items::table
        .filter(request_items::status.eq(ItemStatus::Reserved.as_str()))
        .filter(request_items::reserved_until.le(to_db_time(now)))
        .select(request_items::archive_id)
        .distinct()
        .load(conn)?;
    let mut count = 0;
    for archive_id in archives {
        count += write_transaction(conn, |conn| {
            // Another scheduler may have got here first: then nothing is due any more.
            let lapsed = lapse_reservations(conn, now, archive_id.0)?;
            let mut about = None;
            for request_id in &lapsed {
                let request = requests::load(conn, *request_id)?;
                let Some(item) = request.items.iter().find(|i| i.archive_id == archive_id.0) else {
                    continue;
                };
                about = Some(item.classification);
                notify(
                    conn,
                    now,
                    request.borrower_id,
                    "reservation.lapsed",
                    &Message {
                        subject: format!(
                            "预留已过期 / Reservation ended: {}",
                            item.archive_code
                        ),
                        body: format!(
                            "借阅申请 {} 的《{}》({}) 未在领取期内领取，预留已取消。\n\
                             \"{}\" ({}) was not collected for request {} in time; the reservation has ended.",
                            request.number, item.title, item.archive_code,
                            item.title, item.archive_code, request.number
                        ),
                    },
                    ("loan_request", request.id),
                    Some(item.classification),
                )?;
            }
            if !lapsed.is_empty() {
                audit::append(
                    conn,
                    now,
                    NewAuditEvent {
                        classification: about,
                        ..NewAuditEvent::new("reservation.lapsed", "archive")
                    }
                    .on(archive_id.0)
                    .with(json!({"requests": lapsed})),
                )?;
            }
            Ok(lapsed.len())
        })?;
    }
    Ok(count)
}

/// The scheduler's second pickup rule: an approved request whose archive has been on the shelf
/// for it since the approval, uncollected for `pickup_days`, loses that archive; the request
/// expires when nothing else of it is outstanding. Returns how many items expired.
pub fn expire_uncollected(conn: &mut Conn, now: OffsetDateTime) -> Result<usize, PersistenceError> {
    let candidates: Vec<(DbId, time::PrimitiveDateTime, String)> = request_items::table
        .inner_join(loan_requests::table)
        .inner_join(archives_table::table)
        .filter(request_items::status.eq(ItemStatus::Waiting.as_str()))
        .filter(loan_requests::status.eq(RequestStatus::Approved.as_str()))
        .filter(archives_table::status.eq(ArchiveStatus::Available.as_str()))
        .filter(loan_requests::approved_at.is_not_null())
        .select((
            loan_requests::id,
            loan_requests::approved_at.assume_not_null(),
            loan_requests::rules,
        ))
        .distinct()
        .load(conn)?;
    let mut count = 0;
    for (request_id, approved_at, rules) in candidates {
        let rules: LoanRules =
            serde_json::from_str(&rules).map_err(|e| corrupt("loan_requests.rules", e))?;
        if rules.pickup_ends(from_db_time(approved_at)) > now {
            continue;
        }
        count += write_transaction(conn, |conn| expire_items(conn, now, request_id.0))?;
    }
    Ok(count)
}

fn expire_items(
    conn: &mut Conn,
    now: OffsetDateTime,
    request_id: Uuid,
) -> Result<usize, PersistenceError> {
    let mut request = requests::load(conn, request_id)?;
    if request.status != RequestStatus::Approved {
        return Ok(0);
    }
    let waiting: Vec<DbId> = request
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Waiting)
        .map(|i| DbId(i.archive_id))
        .collect();
    let on_shelf: Vec<Uuid> = archives_table::table
        .filter(archives_table::id.eq_any(&waiting))
        .filter(archives_table::status.eq(ArchiveStatus::Available.as_str()))
        .select(archives_table::id)
        .load::<DbId>(conn)?
        .into_iter()
        .map(Uuid::from)
        .collect();
    let mut expired = Vec::new();
    for item in request
        .items
        .iter_mut()
        .filter(|i| i.status == ItemStatus::Waiting && on_shelf.contains(&i.archive_id))
    {
        diesel::update(
            request_items::table
                .filter(request_items::request_id.eq(DbId(request_id)))
                .filter(request_items::position.eq(item.position)),
        )
        .set(request_items::status.eq(ItemStatus::Expired.as_str()))
        .execute(conn)?;
        item.status = ItemStatus::Expired;
        expired.push(item.archive_code.clone());
    }
    if expired.is_empty() {
        return Ok(0);
    }
    let status = settle(conn, now, &request)?;
    let codes = expired.join(", ");
    notify(
        conn,
        now,
        request.borrower_id,
        "request.pickup_expired",
        &Message {
            subject: format!("借阅申请已过领取期 / Not collected in time: {}", request.number),
            body: format!(
                "借阅申请 {} 中的档案 {codes} 未在 {} 天领取期内领取，已取消。\n\
                 The archives {codes} of request {} were not collected within {} days and are released.",
                request.number, request.rules.pickup_days, request.number, request.rules.pickup_days
            ),
        },
        ("loan_request", request.id),
        Some(request.ceiling()),
    )?;
    audit::append(
        conn,
        now,
        NewAuditEvent::new("request.pickup_expired", "loan_request")
            .on(request.id)
            .about(request.ceiling())
            .with(json!({"archives": expired, "request_status": status})),
    )?;
    Ok(expired.len())
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
