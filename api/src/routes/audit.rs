//! The audit trail, for auditors and admins: filtered listing and chain verification.

use actix_web::{get, web};
use dangan_domain::{access::Capability, checkpoint::Checkpoint};
use dangan_persistence::store::audit::{self, AuditFilter, Sealing, StoredAuditEvent};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    routes::Paging,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "seq": 42, "at": "2026-11-24T08:00:00.123456Z", "actor_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11",
    "action": "user.created", "entity_type": "user", "entity_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b12",
    "data": {"username": "lisi"}, "data_withheld": false,
    "prev_hash": "9f2c…", "hash": "07ab…"
}))]
pub struct AuditEventDto {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    /// Null when withheld.
    #[schema(value_type = Option<Object>)]
    pub data: serde_json::Value,
    /// True when the event is about an archive above your clearance: `data` and `entity_id` are
    /// withheld (null); the rest is listed so the listing stays complete.
    pub data_withheld: bool,
    pub prev_hash: String,
    pub hash: String,
}

impl From<StoredAuditEvent> for AuditEventDto {
    fn from(s: StoredAuditEvent) -> Self {
        AuditEventDto {
            seq: s.event.seq,
            at: s.event.at,
            actor_id: s.event.actor_id,
            action: s.event.action,
            entity_type: s.event.entity_type,
            entity_id: s.event.entity_id,
            data: s.event.data,
            data_withheld: s.withheld,
            prev_hash: s.prev_hash,
            hash: s.hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    pub items: Vec<AuditEventDto>,
    pub next_cursor: Option<String>,
    /// Events committed since this listing sealed the chain, not yet in it (usually 0; each is
    /// sealed within a second of its commit).
    pub pending: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"valid": true, "checked": 1024, "head_hash": "07ab…", "first_invalid_seq": null, "pending": 0}))]
pub struct ChainVerification {
    pub valid: bool,
    pub checked: i64,
    pub head_hash: String,
    pub first_invalid_seq: Option<i64>,
    /// Events committed but not yet sealed into the chain when it was verified.
    pub pending: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    /// Events at or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// Events before this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// Audit events in `seq` order. Events about archives above your clearance are listed with
/// `data` and `entity_id` withheld.
#[utoipa::path(get, path = "/api/v1/audit-events", operation_id = "listAuditEvents", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditEventList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an auditor or admin", body = Problem),
    ))]
#[get("/audit-events")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditEventList>, ApiError> {
    caller.require(Capability::ReadAudit)?;
    let query = query.into_inner();
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request(|c| c.parse::<i64>().ok())?;
    let filter = AuditFilter {
        entity_type: query.entity_type,
        entity_id: query.entity_id,
        actor_id: query.actor_id,
        action: query.action,
        from: query.from,
        to: query.to,
    };
    let reader = caller.principal();
    let (page, pending) = state
        .db(move |conn| {
            // Sealing first: what was committed before this request is listed.
            audit::seal(conn, Sealing::Wait)?;
            let page = audit::list(conn, &reader, &filter, &page)?;
            Ok((page, audit::pending(conn)?))
        })
        .await?;
    Ok(web::Json(AuditEventList {
        items: page.items.into_iter().map(AuditEventDto::from).collect(),
        next_cursor: page.next.map(|seq| seq.to_string()),
        pending,
    }))
}

/// Seal what was committed, recompute the whole hash chain and name the first event that does
/// not fit.
#[utoipa::path(get, path = "/api/v1/audit-events/verify", operation_id = "verifyAuditChain", tag = "audit",
    responses(
        (status = 200, description = "The verdict", body = ChainVerification),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an auditor or admin", body = Problem),
    ))]
#[get("/audit-events/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<ChainVerification>, ApiError> {
    caller.require(Capability::ReadAudit)?;
    let (report, pending) = state
        .db(|conn| {
            audit::seal(conn, Sealing::Wait)?;
            let report = audit::verify(conn)?;
            Ok((report, audit::pending(conn)?))
        })
        .await?;
    Ok(web::Json(ChainVerification {
        valid: report.valid,
        checked: report.checked,
        head_hash: report.head_hash,
        first_invalid_seq: report.first_invalid_seq,
        pending,
    }))
}

/// A checkpoint of the chain's head, signed with the server's Ed25519 key
/// (`DANGAN_AUDIT_SIGNING_KEY`, kept outside the database; unsigned without one). Keep it
/// somewhere the database's administrators cannot write: `dangan audit verify --checkpoint FILE`
/// later proves, offline, that the chain still extends it.
#[utoipa::path(get, path = "/api/v1/audit-events/checkpoint", operation_id = "getAuditCheckpoint", tag = "audit",
    responses(
        (status = 200, description = "The head, signed", body = Checkpoint),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an auditor or admin", body = Problem),
    ))]
#[get("/audit-events/checkpoint")]
pub async fn checkpoint(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<Checkpoint>, ApiError> {
    caller.require(Capability::ReadAudit)?;
    let head = state
        .db(|conn| {
            audit::seal(conn, Sealing::Wait)?;
            audit::head(conn)
        })
        .await?;
    let key = state.audit_signing_key.as_deref();
    let (seq, head_hash) = head;
    Ok(web::Json(
        Checkpoint::of(seq, head_hash, state.clock.now()).signed_if(key),
    ))
}
