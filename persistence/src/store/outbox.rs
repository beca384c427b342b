//! The webhook outbox: the deliveries an audit event stands for, written with the event's row in
//! its transaction.

use crate::{
    schema::{webhook_deliveries, webhooks},
    sql_types::DbId,
    store::{audit, dialect::WriteThenRead},
    to_db_time, AnyConnection, Conn, PersistenceError,
};
use dangan_domain::{
    access::webhook_receives, audit::NewAuditEvent, webhook::events_of, Classification,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// An audit event's row, and the deliveries of the webhook events it stands for to every active
/// subscription that wants them; in the event's transaction. On PostgreSQL the row is written
/// and the subscriptions read in one statement.
pub(crate) fn append(
    conn: &mut Conn,
    now: OffsetDateTime,
    event: NewAuditEvent,
) -> Result<(), PersistenceError> {
    let events = events_of(event.action, &event.data);
    if events.is_empty() {
        return audit::append(conn, now, event);
    }
    let subscriptions = webhooks::table
        .filter(webhooks::active.eq(true))
        .filter(webhooks::deleted_at.is_null())
        .select((webhooks::id, webhooks::events, webhooks::max_classification));
    let appending = audit::appending(now, &event);
    let rows: Vec<(DbId, String, String)> = match conn {
        AnyConnection::Postgresql(pg) => WriteThenRead {
            write: appending,
            read: subscriptions,
        }
        .load(pg)?,
        AnyConnection::Sqlite(_) => {
            appending.execute(conn)?;
            subscriptions.load(conn)?
        }
    };
    let subscribers: Vec<(DbId, String)> = rows
        .into_iter()
        .filter(|(_, _, max)| {
            let max = max.parse().unwrap_or(Classification::Public);
            webhook_receives(max, event.classification)
        })
        .map(|(id, events, _)| (id, events))
        .collect();
    for name in &events {
        let wanted = format!(",{name},");
        let payload = json!({
            "type": name,
            "timestamp": now.format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| PersistenceError::Corrupt(e.to_string()))?,
            "data": {
                "entity_type": event.entity_type,
                "entity_id": event.entity_id,
                "actor_id": event.actor_id,
                "details": event.data,
            },
        })
        .to_string();
        for (webhook_id, _) in subscribers.iter().filter(|(_, e)| e.contains(&wanted)) {
            diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::id.eq(DbId(Uuid::now_v7())),
                    webhook_deliveries::webhook_id.eq(*webhook_id),
                    webhook_deliveries::event.eq(name),
                    webhook_deliveries::payload.eq(&payload),
                    webhook_deliveries::status.eq("pending"),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(Some(to_db_time(now))),
                    webhook_deliveries::created_at.eq(to_db_time(now)),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}
