//! Webhook subscriptions (admin): create, list, delete, and each delivery with its attempts.

use actix_web::{delete, get, post, web, HttpResponse};
use dangan_domain::{
    access::Capability,
    webhook::{check_events, check_secret, check_url, refused_at_subscription},
    Classification, FieldError,
};
use dangan_persistence::cases::webhooks::{self, Delivery, NewWebhook, Webhook};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    extract::ValidJson,
    routes::created,
    state::{blocking, AppState},
};

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "url": "https://oa.example.cn/hooks/dangan",
    "events": ["request.approved", "loan.overdue", "incident.opened"],
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "max_classification": "internal"
}))]
pub struct CreateWebhookRequest {
    /// http or https; loopback and link-local addresses only when `DANGAN_WEBHOOK_ALLOW` admits them.
    #[schema(
        max_length = 2000,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+([/?#]\\S*)?$"
    )]
    pub url: String,
    /// `request.created`, `request.step_approved`, `request.approved`, `request.rejected`,
    /// `request.withdrawn`, `request.pickup_expired`, `loan.checked_out`, `loan.signed`,
    /// `loan.renewal_requested`, `loan.renewed`, `loan.returned`, `loan.return_confirmed`,
    /// `loan.lost`, `loan.due_soon`, `loan.overdue`, `loan.overdue_escalated`,
    /// `approval.reminder`, `approval.escalated`, `reservation.lapsed`, `incident.opened`.
    #[schema(schema_with = event_names)]
    pub events: Vec<String>,
    /// Signs every delivery: `whsec_` and base64 (Standard Webhooks), or any text of 16 bytes or more.
    #[schema(min_length = 16, max_length = 500)]
    pub secret: String,
    /// Events about archives above this classification are not delivered at all (the receiver
    /// is outside the clearance wall). Default `internal`.
    #[serde(default = "default_max_classification")]
    pub max_classification: Classification,
}

/// The events one can subscribe to, as the document lists them.
fn event_names() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(dangan_domain::webhook::EVENTS)),
        )
        .min_items(Some(1))
        .max_items(Some(dangan_domain::webhook::EVENTS.len()))
        .build()
}

fn default_max_classification() -> Classification {
    Classification::Internal
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2d01", "url": "https://oa.example.cn/hooks/dangan",
    "events": ["request.approved", "loan.overdue"], "max_classification": "internal",
    "active": true, "disabled_reason": null,
    "created_by": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b01", "created_at": "2026-11-24T08:00:00Z"
}))]
pub struct WebhookDto {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// Events about archives above it are not delivered.
    pub max_classification: Classification,
    /// False once the receiver answered 410 Gone.
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Webhook> for WebhookDto {
    fn from(w: Webhook) -> Self {
        WebhookDto {
            id: w.id,
            url: w.url,
            events: w.events,
            max_classification: w.max_classification,
            active: w.active,
            disabled_reason: w.disabled_reason,
            created_by: w.created_by,
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookDto>,
}

/// Subscribe a receiver to events. Deliveries are POSTs signed per Standard Webhooks
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), retried
/// after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; a 410 answer disables the subscription.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "createWebhook", tag = "webhooks", request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Subscribed", body = WebhookDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "A URL that is not http(s) or reaches a refused address, unknown events, a short secret, a max_classification above your clearance", body = Problem),
    ))]
#[post("/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let request = body.accept()?;
    let mut errors = Vec::new();
    match check_url(&request.url) {
        Ok((host, port)) => {
            let allow = state.webhook_allow.clone();
            let refused = blocking(move || {
                let addresses = crate::webhooks::resolve(&host, port);
                Ok(refused_at_subscription(&host, &addresses, &allow))
            })
            .await?;
            if refused {
                errors.push(FieldError::new(
                    "url",
                    "reaches a loopback, link-local or otherwise refused address",
                ));
            }
        }
        Err(e) => errors.push(e),
    }
    if !caller.principal().may_see(request.max_classification) {
        errors.push(FieldError::new(
            "max_classification",
            "must not be above your own clearance",
        ));
    }
    errors.extend(check_events(&request.events).err());
    errors.extend(check_secret(&request.secret).err());
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let (now, admin) = (state.clock.now(), caller.id());
    let new = NewWebhook {
        url: request.url,
        events: request.events,
        secret: request.secret,
        max_classification: request.max_classification,
    };
    let webhook = state
        .db(move |conn| webhooks::create(conn, now, admin, new))
        .await?;
    let location = format!("/api/v1/webhooks/{}", webhook.id);
    Ok(created(
        HttpResponse::Created().json(WebhookDto::from(webhook)),
        location,
    ))
}

/// The subscriptions (their secrets are never shown).
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "listWebhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The subscriptions", body = WebhookList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
#[get("/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<WebhookList>, ApiError> {
    caller.require(Capability::Administer)?;
    let items = state.db(webhooks::list).await?;
    Ok(web::Json(WebhookList {
        items: items.into_iter().map(WebhookDto::from).collect(),
    }))
}

/// End a subscription; its pending deliveries are cancelled.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such webhook", body = Problem),
    ))]
#[delete("/webhooks/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (now, admin, id) = (state.clock.now(), caller.id(), id.into_inner());
    state
        .db(move |conn| webhooks::delete(conn, now, admin, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptDto {
    pub attempt: i32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status; null when none came (refused address, time-out, no connection).
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    /// Also the `webhook-id` header of every attempt.
    pub id: Uuid,
    pub event: String,
    /// The body sent: `{type, timestamp, data: {entity_type, entity_id, actor_id, details}}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `pending`, `delivered`, `failed` (given up, or 410) or `cancelled` (webhook deleted).
    pub status: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
    pub attempts: Vec<AttemptDto>,
}

impl From<Delivery> for DeliveryDto {
    fn from(d: Delivery) -> Self {
        DeliveryDto {
            id: d.id,
            event: d.event,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            status: d.status,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            attempts: d
                .attempts
                .into_iter()
                .map(|a| AttemptDto {
                    attempt: a.attempt,
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2e01", "event": "loan.overdue",
    "payload": {"type": "loan.overdue", "timestamp": "2026-12-11T09:00:00Z", "data": {
        "entity_type": "loan", "entity_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20", "actor_id": null,
        "details": {"kind": "loan.overdue", "rung": 0}}},
    "status": "delivered", "next_attempt_at": null,
    "created_at": "2026-12-11T09:00:00Z", "delivered_at": "2026-12-11T09:00:05Z",
    "attempts": [
        {"attempt": 1, "at": "2026-12-11T09:00:00Z", "status_code": 500, "error": null, "duration_ms": 12},
        {"attempt": 2, "at": "2026-12-11T09:00:05Z", "status_code": 204, "error": null, "duration_ms": 9}
    ]
}]}))]
pub struct DeliveryList {
    pub items: Vec<DeliveryDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// The newest this many (1 to 500; default 50).
    pub limit: Option<i64>,
}

/// A subscription's deliveries, newest first, each with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), DeliveryQuery),
    responses(
        (status = 200, description = "The deliveries", body = DeliveryList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such webhook, or its max_classification is above your clearance", body = Problem),
        (status = 422, description = "A limit out of range", body = Problem),
    ))]
#[get("/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    query: web::Query<DeliveryQuery>,
) -> Result<web::Json<DeliveryList>, ApiError> {
    caller.require(Capability::Administer)?;
    let limit = query.limit.unwrap_or(50);
    let (reader, id) = (caller.principal(), id.into_inner());
    let items = state
        .db(move |conn| webhooks::deliveries(conn, &reader, id, limit))
        .await?;
    Ok(web::Json(DeliveryList {
        items: items.into_iter().map(DeliveryDto::from).collect(),
    }))
}
