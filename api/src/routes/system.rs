//! Liveness, readiness, metrics and the docs entry point.

use actix_web::{get, http::header, web, HttpResponse};
use dangan_domain::access::Capability;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::CurrentUser,
    error::{ApiError, ErrorCode, Problem},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    pub status: String,
}

/// The process is running.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "system", security(()),
    responses((status = 200, description = "The process runs", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
    })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "system", security(()),
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database does not answer", body = Problem),
    ))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    state
        .db(dangan_persistence::db::ping)
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "the database does not answer"))?;
    Ok(web::Json(Health {
        status: "ready".into(),
    }))
}

/// Prometheus metrics, for admins only: a reverse proxy on the same host makes every caller
/// look local, so the peer address proves nothing.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", tag = "system",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String,
            example = "dangan_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
#[get("/metrics")]
pub async fn metrics(
    caller: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool)))
}

/// The interactive API docs (Swagger UI, served from this binary: no internet needed).
#[utoipa::path(get, path = "/docs", operation_id = "getDocs", tag = "system", security(()),
    responses((status = 308, description = "Redirects to /swagger-ui/")))]
#[get("/docs")]
pub async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/swagger-ui/"))
        .finish()
}
