//! The scheduler's pickup rules: reservations whose window has ended lapse, and approvals left
//! uncollected expire. The waiting line itself (who gets a freed archive, how a request settles)
//! is `events::waiting_line`'s.

use dangan_domain::{
    archive::ArchiveStatus,
    audit::NewAuditEvent,
    loan::LoanRules,
    request::{ItemStatus, RequestStatus},
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events, from_db_time,
    schema::{archives as archives_table, loan_requests, request_items},
    sql_types::DbId,
    store::{
        loans::corrupt,
        notifications::{notify, Message},
        requests::{self},
    },
    to_db_time, Conn, PersistenceError,
};

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
            let lapsed = events::pickup_window_ended(conn, now, archive_id.0)?;
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
                events::record(
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
    let status = events::request_items_moved(conn, now, &request)?;
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
    events::record(
        conn,
        now,
        NewAuditEvent::new("request.pickup_expired", "loan_request")
            .on(request.id)
            .about(request.ceiling())
            .with(json!({"archives": expired, "request_status": status})),
    )?;
    Ok(expired.len())
}
