//! Webhook subscriptions and the delivery of their outbox (`store::outbox`, filled in the
//! transaction of every audit event, so a delivery exists exactly when its change committed).
//! The sender (in the API crate) claims due deliveries one attempt at a time, so several
//! instances never send one attempt twice.

use dangan_domain::{
    access::Principal,
    audit::NewAuditEvent,
    webhook::{retry_delay, Outcome},
    Classification,
};
use diesel::prelude::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events, from_db_time,
    schema::{webhook_attempts, webhook_deliveries, webhooks},
    sql_types::DbId,
    to_db_time, Conn, PersistenceError,
};

/// How long a claimed attempt is the claimer's before another instance may try again.
const LEASE: Duration = Duration::minutes(2);

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub max_classification: Classification,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub created_by: Uuid,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhooks)]
struct WebhookRow {
    id: DbId,
    url: String,
    events: String,
    active: bool,
    disabled_reason: Option<String>,
    created_by: DbId,
    created_at: time::PrimitiveDateTime,
    max_classification: String,
}

impl From<WebhookRow> for Webhook {
    fn from(row: WebhookRow) -> Self {
        Webhook {
            // Written from the enum; an unreadable value must not widen what is delivered.
            max_classification: row
                .max_classification
                .parse()
                .unwrap_or(Classification::Public),
            id: row.id.0,
            url: row.url,
            events: row
                .events
                .split(',')
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
            active: row.active,
            disabled_reason: row.disabled_reason,
            created_by: row.created_by.0,
            created_at: from_db_time(row.created_at),
        }
    }
}

/// A new subscription; url, events and secret are checked by the caller (`domain::webhook`).
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub max_classification: Classification,
}

pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    admin: Uuid,
    new: NewWebhook,
) -> Result<Webhook, PersistenceError> {
    write_transaction(conn, |conn| {
        let id = Uuid::now_v7();
        diesel::insert_into(webhooks::table)
            .values((
                webhooks::id.eq(DbId(id)),
                webhooks::url.eq(&new.url),
                webhooks::events.eq(format!(",{},", new.events.join(","))),
                webhooks::secret.eq(&new.secret),
                webhooks::active.eq(true),
                webhooks::max_classification.eq(new.max_classification.as_str()),
                webhooks::created_by.eq(DbId(admin)),
                webhooks::created_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("webhook.created", "webhook")
                .by(Some(admin))
                .on(id)
                .with(json!({"url": new.url, "events": new.events, "max_classification": new.max_classification})),
        )?;
        get(conn, id)
    })
}

pub fn get(conn: &mut Conn, id: Uuid) -> Result<Webhook, PersistenceError> {
    Ok(webhooks::table
        .find(DbId(id))
        .filter(webhooks::deleted_at.is_null())
        .select(WebhookRow::as_select())
        .first::<WebhookRow>(conn)?
        .into())
}

pub fn list(conn: &mut Conn) -> Result<Vec<Webhook>, PersistenceError> {
    Ok(webhooks::table
        .filter(webhooks::deleted_at.is_null())
        .order(webhooks::id.asc())
        .select(WebhookRow::as_select())
        .load::<WebhookRow>(conn)?
        .into_iter()
        .map(Webhook::from)
        .collect())
}

/// Ends a subscription; what it still had pending is not sent. Its history stays readable
/// in the audit trail.
pub fn delete(
    conn: &mut Conn,
    now: OffsetDateTime,
    admin: Uuid,
    id: Uuid,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let webhook = get(conn, id)?;
        diesel::update(webhooks::table.find(DbId(id)))
            .set((
                webhooks::deleted_at.eq(Some(to_db_time(now))),
                webhooks::active.eq(false),
            ))
            .execute(conn)?;
        diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(DbId(id)))
                .filter(webhook_deliveries::status.eq("pending")),
        )
        .set((
            webhook_deliveries::status.eq("cancelled"),
            webhook_deliveries::next_attempt_at.eq(None::<time::PrimitiveDateTime>),
        ))
        .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("webhook.deleted", "webhook")
                .by(Some(admin))
                .on(id)
                .with(json!({"url": webhook.url})),
        )?;
        Ok(())
    })
}

/// A delivery whose next attempt is due, with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    pub payload: String,
    /// The number of the attempt about to be made (1 = the first).
    pub attempt: i32,
}

/// Claims up to `limit` due attempts for this sender: each claim moves the delivery's next
/// attempt past a lease, so another instance does not take the same attempt.
pub fn claim_due(
    conn: &mut Conn,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<DueDelivery>, PersistenceError> {
    let due = webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::status.eq("pending"))
        .filter(webhook_deliveries::next_attempt_at.le(to_db_time(now)))
        .filter(webhooks::active.eq(true))
        .order(webhook_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select((
            webhook_deliveries::id,
            webhook_deliveries::webhook_id,
            webhooks::url,
            webhooks::secret,
            webhook_deliveries::payload,
            webhook_deliveries::attempts,
        ))
        .load::<(DbId, DbId, String, String, String, i32)>(conn)?;
    let mut claimed = Vec::new();
    for (id, webhook_id, url, secret, payload, attempts) in due {
        let taken = diesel::update(
            webhook_deliveries::table
                .find(id)
                .filter(webhook_deliveries::status.eq("pending"))
                .filter(webhook_deliveries::attempts.eq(attempts)),
        )
        .set((
            webhook_deliveries::attempts.eq(attempts + 1),
            webhook_deliveries::next_attempt_at.eq(Some(to_db_time(now + LEASE))),
        ))
        .execute(conn)?;
        if taken == 1 {
            claimed.push(DueDelivery {
                id: id.0,
                webhook_id: webhook_id.0,
                url,
                secret,
                payload,
                attempt: attempts + 1,
            });
        }
    }
    Ok(claimed)
}

/// What one attempt gave.
pub struct AttemptResult {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub outcome: Outcome,
}

/// Records an attempt and moves the delivery on: delivered, due again after the schedule's
/// next delay, or given up (failed) after the last; a 410 disables the subscription.
pub fn record_attempt(
    conn: &mut Conn,
    now: OffsetDateTime,
    delivery: &DueDelivery,
    result: &AttemptResult,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::delivery_id.eq(DbId(delivery.id)),
                webhook_attempts::attempt.eq(delivery.attempt),
                webhook_attempts::at.eq(to_db_time(now)),
                webhook_attempts::status_code.eq(result.status_code.map(i32::from)),
                webhook_attempts::error.eq(&result.error),
                webhook_attempts::duration_ms.eq(result.duration_ms),
            ))
            .execute(conn)?;
        let next = u32::try_from(delivery.attempt + 1)
            .ok()
            .and_then(retry_delay);
        let (status, next_at, delivered_at) = match (result.outcome, next) {
            (Outcome::Delivered, _) => ("delivered", None, Some(to_db_time(now))),
            (Outcome::Retry, Some(delay)) => ("pending", Some(to_db_time(now + delay)), None),
            (Outcome::Retry, None) | (Outcome::Gone, _) => ("failed", None, None),
        };
        diesel::update(webhook_deliveries::table.find(DbId(delivery.id)))
            .set((
                webhook_deliveries::status.eq(status),
                webhook_deliveries::next_attempt_at.eq(next_at),
                webhook_deliveries::delivered_at.eq(delivered_at),
            ))
            .execute(conn)?;
        if result.outcome == Outcome::Gone {
            diesel::update(webhooks::table.find(DbId(delivery.webhook_id)))
                .set((
                    webhooks::active.eq(false),
                    webhooks::disabled_reason.eq(Some("the receiver answered 410 Gone")),
                ))
                .execute(conn)?;
            events::record(
                conn,
                now,
                NewAuditEvent::new("webhook.disabled", "webhook")
                    .on(delivery.webhook_id)
                    .with(json!({"reason": "410 Gone", "delivery_id": delivery.id})),
            )?;
        }
        Ok(())
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub attempt: i32,
    pub at: OffsetDateTime,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub event: String,
    pub payload: String,
    pub status: String,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
    pub attempts: Vec<Attempt>,
}

/// A subscription's deliveries, newest first, each with its attempts.
pub fn deliveries(
    conn: &mut Conn,
    reader: &Principal,
    webhook_id: Uuid,
    limit: i64,
) -> Result<Vec<Delivery>, PersistenceError> {
    // Its payloads reach up to its ceiling: above the reader's clearance it does not exist.
    if !reader.may_see(get(conn, webhook_id)?.max_classification) {
        return Err(PersistenceError::NotFound);
    }
    let rows = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(DbId(webhook_id)))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select((
            webhook_deliveries::id,
            webhook_deliveries::event,
            webhook_deliveries::payload,
            webhook_deliveries::status,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::created_at,
            webhook_deliveries::delivered_at,
        ))
        .load::<(
            DbId,
            String,
            String,
            String,
            Option<time::PrimitiveDateTime>,
            time::PrimitiveDateTime,
            Option<time::PrimitiveDateTime>,
        )>(conn)?;
    let ids: Vec<DbId> = rows.iter().map(|r| r.0).collect();
    let attempts = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .order((webhook_attempts::delivery_id, webhook_attempts::attempt))
        .select((
            webhook_attempts::delivery_id,
            webhook_attempts::attempt,
            webhook_attempts::at,
            webhook_attempts::status_code,
            webhook_attempts::error,
            webhook_attempts::duration_ms,
        ))
        .load::<(
            DbId,
            i32,
            time::PrimitiveDateTime,
            Option<i32>,
            Option<String>,
            i64,
        )>(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, event, payload, status, next, created, delivered)| Delivery {
                attempts: attempts
                    .iter()
                    .filter(|a| a.0 == id)
                    .map(
                        |(_, attempt, at, status_code, error, duration_ms)| Attempt {
                            attempt: *attempt,
                            at: from_db_time(*at),
                            status_code: *status_code,
                            error: error.clone(),
                            duration_ms: *duration_ms,
                        },
                    )
                    .collect(),
                id: id.0,
                event,
                payload,
                status,
                next_attempt_at: next.map(from_db_time),
                created_at: from_db_time(created),
                delivered_at: delivered.map(from_db_time),
            },
        )
        .collect())
}
