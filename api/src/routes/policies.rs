//! Loan policies: every user may read them and ask which applies to them; admins change them.

use actix_web::{delete, get, http::header, http::StatusCode, post, put, web, HttpResponse};
use dangan_domain::{
    access::Capability,
    policy::{LoanPolicy, LoanType, PolicyMatch, StepSpec},
};
use dangan_persistence::{
    cases::policies,
    store::{self, policies::StoredPolicy},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    extract::{etag, IfMatch, ValidJson},
    routes::created,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c01", "name": "secret default", "priority": 0,
    "match": {"classifications": ["secret"], "categories": [], "loan_types": []},
    "approval_steps": [
        {"name": "department head", "approver": {"kind": "department_head"}},
        {"name": "security officer", "approver": {"kind": "role", "role": "security_officer"}}
    ],
    "max_days": 14, "max_renewals": 1, "renewal_requires_approval": true,
    "allowed_loan_types": ["on_site", "take_out", "copy"], "dual_signoff_on_return": true, "pickup_days": 7,
    "unmarked_copies": false,
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1
}))]
pub struct PolicyDto {
    pub id: Uuid,
    pub name: String,
    /// The fitting policy with the highest priority applies.
    pub priority: i32,
    /// Which archives and loan types it covers; an empty list means any.
    #[serde(rename = "match")]
    pub matches: PolicyMatch,
    pub approval_steps: Vec<StepSpec>,
    pub max_days: i32,
    pub max_renewals: i32,
    pub renewal_requires_approval: bool,
    pub allowed_loan_types: Vec<LoanType>,
    pub dual_signoff_on_return: bool,
    pub pickup_days: i32,
    /// Whether online loans hand out files they cannot mark (images, office documents) as
    /// stored; PDFs are always marked.
    pub unmarked_copies: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl From<StoredPolicy> for PolicyDto {
    fn from(s: StoredPolicy) -> Self {
        let p = s.policy;
        PolicyDto {
            id: s.id,
            name: p.name,
            priority: p.priority,
            matches: p.matches,
            approval_steps: p.approval_steps,
            max_days: p.max_days,
            max_renewals: p.max_renewals,
            renewal_requires_approval: p.renewal_requires_approval,
            allowed_loan_types: p.allowed_loan_types,
            dual_signoff_on_return: p.dual_signoff_on_return,
            pickup_days: p.pickup_days,
            unmarked_copies: p.unmarked_copies,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    pub items: Vec<PolicyDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResolvedStepDto {
    pub index: usize,
    pub name: String,
    /// Who may decide the step (never the caller).
    pub approver_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "archive_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b42", "loan_type": "take_out", "loan_type_allowed": true,
    "policy": {"id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c01", "name": "internal default", "priority": 0,
        "match": {"classifications": ["internal"], "categories": [], "loan_types": []},
        "approval_steps": [{"name": "department head", "approver": {"kind": "department_head"}},
            {"name": "archivist", "approver": {"kind": "role", "role": "archivist"}}],
        "max_days": 30, "max_renewals": 1, "renewal_requires_approval": false,
        "allowed_loan_types": ["on_site", "take_out", "copy"], "dual_signoff_on_return": false, "pickup_days": 7, "unmarked_copies": false,
        "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1},
    "steps": [{"index": 0, "name": "department head", "approver_ids": ["0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11"]},
        {"index": 1, "name": "archivist", "approver_ids": ["0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b12"]}]
}))]
pub struct PolicyResolution {
    pub archive_id: Uuid,
    pub loan_type: LoanType,
    /// Whether the policy allows this loan type at all.
    pub loan_type_allowed: bool,
    pub policy: PolicyDto,
    pub steps: Vec<ResolvedStepDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ResolveQuery {
    pub archive_id: Uuid,
    #[param(example = "take_out")]
    pub loan_type: LoanType,
}

/// Every loan policy, highest priority first.
#[utoipa::path(get, path = "/api/v1/policies", operation_id = "listPolicies", tag = "policies",
    responses(
        (status = 200, description = "The policies", body = PolicyList),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/policies")]
pub async fn list(
    state: web::Data<AppState>,
    _caller: CurrentUser,
) -> Result<web::Json<PolicyList>, ApiError> {
    let policies = state.db(store::policies::list).await?;
    Ok(web::Json(PolicyList {
        items: policies.into_iter().map(PolicyDto::from).collect(),
    }))
}

/// Which policy applies to an archive and loan type, and the approval chain it gives the caller.
#[utoipa::path(get, path = "/api/v1/policies/resolve", operation_id = "resolvePolicy", tag = "policies", params(ResolveQuery),
    responses(
        (status = 200, description = "The policy and the caller's chain", body = PolicyResolution),
        (status = 400, description = "Missing or bad archive_id / loan_type", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such archive, or above your clearance", body = Problem),
        (status = 409, description = "`no_policy` covers it, or `no_approver` but the caller could decide a step", body = Problem),
    ))]
#[get("/policies/resolve")]
pub async fn resolve(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<ResolveQuery>,
) -> Result<web::Json<PolicyResolution>, ApiError> {
    let ResolveQuery {
        archive_id,
        loan_type,
    } = query.into_inner();
    let borrower = caller.principal();
    let resolution = state
        .db(move |conn| policies::resolve(conn, &borrower, archive_id, loan_type))
        .await?;
    Ok(web::Json(PolicyResolution {
        archive_id: resolution.archive.id,
        loan_type,
        loan_type_allowed: resolution
            .policy
            .policy
            .allowed_loan_types
            .contains(&loan_type),
        policy: resolution.policy.into(),
        steps: resolution
            .steps
            .into_iter()
            .enumerate()
            .map(|(index, s)| ResolvedStepDto {
                index,
                name: s.name,
                approver_ids: s.approver_ids,
            })
            .collect(),
    }))
}

/// Read one policy.
#[utoipa::path(get, path = "/api/v1/policies/{id}", operation_id = "getPolicy", tag = "policies",
    params(("id" = Uuid, Path, description = "Policy id")),
    responses(
        (status = 200, description = "The policy", body = PolicyDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such policy", body = Problem),
    ))]
#[get("/policies/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    _caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let policy = state.db(move |conn| policies::get(conn, id)).await?;
    Ok(policy_response(StatusCode::OK, policy))
}

/// A whole policy, as `POST` creates and `PUT` replaces it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "name": "人事 files: on site only", "priority": 10,
    "match": {"classifications": [], "categories": ["人事"], "loan_types": []},
    "approval_steps": [
        {"name": "department head", "approver": {"kind": "department_head"}},
        {"name": "archivist", "approver": {"kind": "role", "role": "archivist"}}
    ],
    "max_days": 7, "max_renewals": 0, "renewal_requires_approval": false,
    "allowed_loan_types": ["on_site"], "dual_signoff_on_return": false, "pickup_days": 3
}))]
pub struct PolicyInput {
    #[schema(max_length = 100, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    #[schema(minimum = -10000, maximum = 10000)]
    pub priority: i32,
    #[serde(rename = "match", default)]
    pub matches: PolicyMatch,
    #[schema(max_items = 10)]
    pub approval_steps: Vec<StepSpec>,
    #[schema(minimum = 1, maximum = 3650)]
    pub max_days: i32,
    #[schema(minimum = 0, maximum = 100)]
    pub max_renewals: i32,
    #[serde(default)]
    pub renewal_requires_approval: bool,
    #[schema(min_items = 1, max_items = 4)]
    pub allowed_loan_types: Vec<LoanType>,
    #[serde(default)]
    pub dual_signoff_on_return: bool,
    #[schema(minimum = 1, maximum = 365)]
    pub pickup_days: i32,
    /// Whether online loans hand out files they cannot mark as stored; default no.
    #[serde(default)]
    pub unmarked_copies: bool,
}

impl From<PolicyInput> for LoanPolicy {
    fn from(input: PolicyInput) -> Self {
        LoanPolicy {
            name: input.name.trim().to_owned(),
            priority: input.priority,
            matches: input.matches,
            approval_steps: input.approval_steps,
            max_days: input.max_days,
            max_renewals: input.max_renewals,
            renewal_requires_approval: input.renewal_requires_approval,
            allowed_loan_types: input.allowed_loan_types,
            dual_signoff_on_return: input.dual_signoff_on_return,
            pickup_days: input.pickup_days,
            unmarked_copies: input.unmarked_copies,
        }
    }
}

fn policy_response(status: StatusCode, policy: StoredPolicy) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(policy.version)))
        .json(PolicyDto::from(policy))
}

/// Create a policy.
#[utoipa::path(post, path = "/api/v1/policies", operation_id = "createPolicy", tag = "policies", request_body = PolicyInput,
    responses(
        (status = 201, description = "Created", body = PolicyDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "Invalid fields, or a named approver who does not exist", body = Problem),
    ))]
#[post("/policies")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<PolicyInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let policy = LoanPolicy::from(body.accept()?);
    let (now, actor) = (state.clock.now(), caller.id());
    let stored = state
        .db(move |conn| policies::create(conn, now, actor, policy))
        .await?;
    let location = format!("/api/v1/policies/{}", stored.id);
    Ok(created(
        policy_response(StatusCode::CREATED, stored),
        location,
    ))
}

/// Replace a policy.
#[utoipa::path(put, path = "/api/v1/policies/{id}", operation_id = "replacePolicy", tag = "policies", request_body = PolicyInput,
    params(
        ("id" = Uuid, Path, description = "Policy id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if it changed since"),
    ),
    responses(
        (status = 200, description = "Replaced", body = PolicyDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such policy", body = Problem),
        (status = 412, description = "`precondition_failed`", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[put("/policies/{id}")]
pub async fn replace(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<PolicyInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let policy = LoanPolicy::from(body.accept()?);
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let stored = state
        .db(move |conn| policies::replace(conn, now, actor, id, policy, if_match.0))
        .await?;
    Ok(policy_response(StatusCode::OK, stored))
}

/// Delete a policy.
#[utoipa::path(delete, path = "/api/v1/policies/{id}", operation_id = "deletePolicy", tag = "policies",
    params(("id" = Uuid, Path, description = "Policy id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such policy", body = Problem),
    ))]
#[delete("/policies/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    state
        .db(move |conn| policies::delete(conn, now, actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
