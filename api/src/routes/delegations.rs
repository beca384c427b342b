//! Delegations: while away, an approver lets someone else decide their approval tasks.

use actix_web::{delete, get, post, web, HttpResponse};
use dangan_domain::request::Delegation;
use dangan_persistence::{cases::delegations, store::delegations::StoredDelegation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    extract::ValidJson,
    routes::created,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2e01", "delegator_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11",
    "delegate_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b12", "starts_at": "2026-12-01T00:00:00Z",
    "ends_at": "2026-12-15T00:00:00Z", "reason": "出差 / travelling", "created_at": "2026-11-24T08:00:00Z"
}))]
pub struct DelegationDto {
    pub id: Uuid,
    pub delegator_id: Uuid,
    pub delegate_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<StoredDelegation> for DelegationDto {
    fn from(s: StoredDelegation) -> Self {
        DelegationDto {
            id: s.id,
            delegator_id: s.delegation.delegator_id,
            delegate_id: s.delegation.delegate_id,
            starts_at: s.delegation.starts_at,
            ends_at: s.delegation.ends_at,
            reason: s.reason,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationList {
    pub items: Vec<DelegationDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "delegate_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b12", "starts_at": "2026-12-01T00:00:00Z",
    "ends_at": "2026-12-15T00:00:00Z", "reason": "出差 / travelling"
}))]
pub struct CreateDelegationRequest {
    pub delegate_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// Hand your approval tasks to someone for a time window.
#[utoipa::path(post, path = "/api/v1/delegations", operation_id = "createDelegation", tag = "delegations", request_body = CreateDelegationRequest,
    responses(
        (status = 201, description = "Created", body = DelegationDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 422, description = "Yourself, a window that ends before it starts or has ended, or no such active user", body = Problem),
    ))]
#[post("/delegations")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateDelegationRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.accept()?;
    let delegation = Delegation {
        delegator_id: caller.id(),
        delegate_id: request.delegate_id,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
    };
    let (now, reason) = (state.clock.now(), request.reason);
    let stored = state
        .db(move |conn| delegations::create(conn, now, delegation, reason))
        .await?;
    let location = format!("/api/v1/delegations/{}", stored.id);
    Ok(created(
        HttpResponse::Created().json(DelegationDto::from(stored)),
        location,
    ))
}

/// The delegations you gave or received that have not ended.
#[utoipa::path(get, path = "/api/v1/delegations", operation_id = "listDelegations", tag = "delegations",
    responses(
        (status = 200, description = "Your delegations", body = DelegationList),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/delegations")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<DelegationList>, ApiError> {
    let (now, id) = (state.clock.now(), caller.id());
    let items = state
        .db(move |conn| delegations::list_for(conn, id, now))
        .await?;
    Ok(web::Json(DelegationList {
        items: items.into_iter().map(DelegationDto::from).collect(),
    }))
}

/// End one of your delegations now.
#[utoipa::path(delete, path = "/api/v1/delegations/{id}", operation_id = "revokeDelegation", tag = "delegations",
    params(("id" = Uuid, Path, description = "Delegation id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such delegation of yours", body = Problem),
    ))]
#[delete("/delegations/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (now, me, id) = (state.clock.now(), caller.id(), id.into_inner());
    state
        .db(move |conn| delegations::revoke(conn, now, me, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
