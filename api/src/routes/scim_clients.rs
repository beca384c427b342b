//! Provisioning clients (admin): the identity providers allowed to push users and departments
//! through SCIM at `/scim/v2`, each with its own bearer token, shown once.

use actix_web::{delete, get, post, web, HttpResponse};
use dangan_domain::access::Capability;
use dangan_persistence::cases::provisioning::{self, ScimClient};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::{self, CurrentUser},
    error::{ApiError, Problem},
    extract::ValidJson,
    routes::created,
    scim::TOKEN_PREFIX,
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Keycloak (总部)"}))]
pub struct CreateScimClientRequest {
    /// Who provisions with it, as people will recognise it in the audit trail.
    #[schema(max_length = 100, pattern = "\\S")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2e01", "name": "Keycloak (总部)",
    "created_by": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b01", "created_at": "2026-11-30T08:00:00Z",
    "revoked_at": null
}))]
pub struct ScimClientDto {
    pub id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Set once revoked: its token opens nothing from then on.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ScimClient> for ScimClientDto {
    fn from(c: ScimClient) -> Self {
        ScimClientDto {
            id: c.id,
            name: c.name,
            created_by: c.created_by,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
        }
    }
}

/// A new client and its token: the only time the token is shown.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2e01", "name": "Keycloak (总部)",
    "created_by": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b01", "created_at": "2026-11-30T08:00:00Z",
    "revoked_at": null,
    "token": "dsc_5f0c1d9e2b7a4c3e8f6a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4"
}))]
pub struct CreatedScimClient {
    #[serde(flatten)]
    pub client: ScimClientDto,
    /// `Authorization: Bearer <token>` at `/scim/v2`; it opens nothing else. Dangan keeps only
    /// its hash: store it in the identity provider now.
    #[schema(min_length = 68, max_length = 68)]
    pub token: String,
}

/// Users an admin hands to a provisioning client.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"user_ids": ["0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b07"]}))]
pub struct HandOverRequest {
    #[schema(min_items = 1, max_items = 1000)]
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScimClientList {
    pub items: Vec<ScimClientDto>,
}

/// Let an identity provider provision users and departments through SCIM 2.0 at `/scim/v2`.
#[utoipa::path(post, path = "/api/v1/scim-clients", operation_id = "createScimClient", tag = "users",
    request_body = CreateScimClientRequest,
    responses(
        (status = 201, description = "Created; the token is in this answer only", body = CreatedScimClient),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "A blank or long name", body = Problem),
    ))]
#[post("/scim-clients")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateScimClientRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    // The document's bounds (1 to 100 characters, not blank) are checked by `ValidJson`.
    let name = body.accept()?.name;
    let token = format!("{TOKEN_PREFIX}{}", auth::random_secret());
    let token_hash = auth::hash_token(&token);
    let (now, admin) = (state.clock.now(), caller.id());
    let client = state
        .db(move |conn| provisioning::create_client(conn, now, admin, name, token_hash))
        .await?;
    let location = format!("/api/v1/scim-clients/{}", client.id);
    Ok(created(
        HttpResponse::Created().json(CreatedScimClient {
            client: client.into(),
            token,
        }),
        location,
    ))
}

/// The provisioning clients, newest first, revoked ones too (their tokens are never shown).
#[utoipa::path(get, path = "/api/v1/scim-clients", operation_id = "listScimClients", tag = "users",
    responses(
        (status = 200, description = "The clients", body = ScimClientList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
#[get("/scim-clients")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<ScimClientList>, ApiError> {
    caller.require(Capability::Administer)?;
    let items = state.db(provisioning::clients).await?;
    Ok(web::Json(ScimClientList {
        items: items.into_iter().map(ScimClientDto::from).collect(),
    }))
}

/// Revoke a provisioning client: its token opens nothing from now on.
#[utoipa::path(delete, path = "/api/v1/scim-clients/{id}", operation_id = "revokeScimClient", tag = "users",
    params(("id" = Uuid, Path, description = "Provisioning client id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such client", body = Problem),
    ))]
#[delete("/scim-clients/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (now, admin, id) = (state.clock.now(), caller.id(), id.into_inner());
    state
        .db(move |conn| provisioning::revoke_client(conn, now, admin, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Hand users to a provisioning client.
///
/// A client sees and writes only the users it provisioned and those an admin hands it here
/// (users who were in Dangan before the provider, say). Even then it never renames or enables
/// again a user with roles or a Dangan password, nor enables a user an admin disabled.
#[utoipa::path(post, path = "/api/v1/scim-clients/{id}/hand-over", operation_id = "handOverToScimClient", tag = "users",
    params(("id" = Uuid, Path, description = "Provisioning client id")),
    request_body = HandOverRequest,
    responses(
        (status = 200, description = "Handed over", body = ScimClientDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such client", body = Problem),
        (status = 409, description = "`scim_client_revoked`", body = Problem),
        (status = 422, description = "A user id names nobody", body = Problem),
    ))]
#[post("/scim-clients/{id}/hand-over")]
pub async fn hand_over(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: ValidJson<HandOverRequest>,
) -> Result<web::Json<ScimClientDto>, ApiError> {
    caller.require(Capability::Administer)?;
    let user_ids = body.accept()?.user_ids;
    let (now, admin, id) = (state.clock.now(), caller.id(), id.into_inner());
    let client = state
        .db(move |conn| provisioning::hand_over(conn, now, admin, id, &user_ids))
        .await?;
    Ok(web::Json(client.into()))
}
