//! Loan requests and their approval: borrowers ask, approvers (or their delegates) decide step
//! by step, borrowers may withdraw.

use actix_web::{get, post, web, HttpResponse};
use dangan_domain::{
    policy::LoanType,
    request::{ItemStatus, RequestStatus},
};
use dangan_persistence::{
    cases::requests::{self, ApprovalTask, Decision, NewRequest, RequestFilter},
    store::{
        self,
        requests::{RequestItem, StoredRequest},
    },
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::{AccessToken, CurrentUser},
    dto::requests::StepDto,
    error::{ApiError, Problem},
    extract::{etag, OptionalJson, ValidJson},
    routes::{created, uuid_cursor, Paging},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestItemDto {
    pub archive_id: Uuid,
    pub archive_code: String,
    pub title: String,
    /// `waiting`, `reserved` (kept for this request until `reserved_until`), `checked_out`,
    /// `expired` or `withdrawn`.
    pub status: ItemStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub reserved_until: Option<OffsetDateTime>,
    pub loan_id: Option<Uuid>,
}

impl From<RequestItem> for RequestItemDto {
    fn from(i: RequestItem) -> Self {
        RequestItemDto {
            archive_id: i.archive_id,
            archive_code: i.archive_code,
            title: i.title,
            status: i.status,
            reserved_until: i.reserved_until,
            loan_id: i.loan_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2d01", "number": "JY-2026-000123",
    "borrower_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11", "purpose": "年度审计 / annual audit",
    "loan_type": "on_site", "days": 7, "fields": {"case_number": "SJ-2026-17"}, "status": "pending",
    "items": [{"archive_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2a01", "archive_code": "WS-2019-Y-0042",
        "title": "2019年度合同汇编", "status": "waiting", "reserved_until": null, "loan_id": null}],
    "current_step": 0,
    "steps": [
        {"index": 0, "name": "department head", "status": "pending",
         "approver_ids": ["0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b12"], "decided_by": null,
         "on_behalf_of": null, "comment": null, "decided_at": null},
        {"index": 1, "name": "security officer", "status": "waiting",
         "approver_ids": ["0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b13"], "decided_by": null,
         "on_behalf_of": null, "comment": null, "decided_at": null}
    ],
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1
}))]
pub struct RequestDto {
    pub id: Uuid,
    /// `JY-<year>-<six digits>`.
    pub number: String,
    pub borrower_id: Uuid,
    pub purpose: String,
    pub loan_type: LoanType,
    pub days: i32,
    /// Answers to the custom form fields.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub status: RequestStatus,
    pub items: Vec<RequestItemDto>,
    /// Index of the step awaiting a decision, if any.
    pub current_step: Option<usize>,
    pub steps: Vec<StepDto>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl From<StoredRequest> for RequestDto {
    fn from(r: StoredRequest) -> Self {
        let current_step = r.current_step();
        RequestDto {
            id: r.id,
            number: r.number,
            borrower_id: r.borrower_id,
            purpose: r.purpose,
            loan_type: r.loan_type,
            days: r.days,
            fields: r.fields,
            status: r.status,
            items: r.items.into_iter().map(RequestItemDto::from).collect(),
            current_step,
            steps: r
                .steps
                .into_iter()
                .enumerate()
                .map(|(i, s)| StepDto::new(i, s))
                .collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestList {
    pub items: Vec<RequestDto>,
    pub next_cursor: Option<String>,
}

/// A step waiting for the caller's decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalTaskDto {
    pub request: RequestDto,
    pub step_index: Option<usize>,
    /// Set when the caller decides as a delegate: whose task this is.
    pub on_behalf_of: Option<Uuid>,
}

impl From<ApprovalTask> for ApprovalTaskDto {
    fn from(t: ApprovalTask) -> Self {
        ApprovalTaskDto {
            step_index: t.request.current_step(),
            request: t.request.into(),
            on_behalf_of: t.on_behalf_of,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalTaskList {
    pub items: Vec<ApprovalTaskDto>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "archive_ids": ["0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2a01"], "purpose": "年度审计 / annual audit",
    "loan_type": "on_site", "days": 7, "fields": {"case_number": "SJ-2026-17"}
}))]
pub struct CreateRequestBody {
    #[schema(min_items = 1, max_items = 50)]
    pub archive_ids: Vec<Uuid>,
    #[schema(max_length = 2000, pattern = "\\S")]
    pub purpose: String,
    pub loan_type: LoanType,
    /// 1 to the policy's `max_days`.
    #[schema(minimum = 1, maximum = 3650)]
    pub days: i32,
    /// Answers to the custom form fields that apply to the archives' categories.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"comment": "同意 / approved"}))]
pub struct ApproveBody {
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    /// For the approval that approves an `online` request: when its loans open (RFC 3339; not
    /// past, within 365 days). Without it they open at once.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-07T09:00:00+08:00")]
    pub opens_at: Option<time::OffsetDateTime>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"comment": "用途不明确 / purpose unclear"}))]
pub struct RejectBody {
    #[schema(min_length = 1, max_length = 2000)]
    pub comment: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RequestQuery {
    pub status: Option<RequestStatus>,
    pub borrower_id: Option<Uuid>,
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

fn request_response(status: actix_web::http::StatusCode, request: StoredRequest) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((actix_web::http::header::ETAG, etag(request.version)))
        .json(RequestDto::from(request))
}

/// Ask to borrow archives.
#[utoipa::path(post, path = "/api/v1/loan-requests", operation_id = "createLoanRequest", tag = "requests", request_body = CreateRequestBody,
    responses(
        (status = 201, description = "Created: pending on its first step, or approved when the policy has no step", body = RequestDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "`borrower_blocked`: you have an overdue loan", body = Problem),
        (status = 404, description = "An archive is missing or above your clearance", body = Problem),
        (status = 409, description = "`archive_unavailable` (lost, retired or damaged), `no_policy`, `no_approver`", body = Problem),
        (status = 422, description = "Purpose, days, loan type or custom fields break the policy", body = Problem),
    ))]
#[post("/loan-requests")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.accept()?;
    let new = NewRequest {
        archive_ids: body.archive_ids,
        purpose: body.purpose,
        loan_type: body.loan_type,
        days: body.days,
        fields: body.fields,
    };
    let now = state.clock.now();
    let voucher_key = state.voucher_key.clone();
    let request = state
        .db(move |conn| requests::create(conn, now, &caller.user, new, &voucher_key))
        .await?;
    let location = format!("/api/v1/loan-requests/{}", request.id);
    Ok(created(
        request_response(actix_web::http::StatusCode::CREATED, request),
        location,
    ))
}

/// Requests you may see, newest first: your own, those you decide (or decided), and for
/// archivists, admins and auditors all within their clearance.
#[utoipa::path(get, path = "/api/v1/loan-requests", operation_id = "listLoanRequests", tag = "requests", params(RequestQuery),
    responses(
        (status = 200, description = "A page of requests", body = RequestList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/loan-requests")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<RequestQuery>,
) -> Result<web::Json<RequestList>, ApiError> {
    let query = query.into_inner();
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request(uuid_cursor)?;
    let filter = RequestFilter {
        status: query.status,
        borrower_id: query.borrower_id,
    };
    let now = state.clock.now();
    let page = state
        .db(move |conn| requests::list(conn, &caller.user, &filter, &page, now))
        .await?;
    Ok(web::Json(RequestList {
        items: page.items.into_iter().map(RequestDto::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// Read a request with its approval timeline.
#[utoipa::path(get, path = "/api/v1/loan-requests/{id}", operation_id = "getLoanRequest", tag = "requests",
    params(("id" = Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "The request, with its ETag", body = RequestDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such request visible to you", body = Problem),
    ))]
#[get("/loan-requests/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    token: AccessToken,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let request = state
        .db_as(token, move |conn, caller| {
            store::requests::get(conn, &caller.user, id, now)
        })
        .await?;
    Ok(request_response(actix_web::http::StatusCode::OK, request))
}

/// Withdraw your request while nothing of it is checked out.
#[utoipa::path(post, path = "/api/v1/loan-requests/{id}/withdraw", operation_id = "withdrawLoanRequest", tag = "requests",
    params(("id" = Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "Withdrawn; a reservation it held passes to the next in line", body = RequestDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not your request", body = Problem),
        (status = 404, description = "No such request visible to you", body = Problem),
        (status = 409, description = "`invalid_transition`: decided already, or something of it is out", body = Problem),
    ))]
#[post("/loan-requests/{id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let request = state
        .db(move |conn| requests::withdraw(conn, now, &caller.user, id))
        .await?;
    Ok(request_response(actix_web::http::StatusCode::OK, request))
}

/// Your pending approval tasks, delegated ones included, oldest first.
#[utoipa::path(get, path = "/api/v1/approvals", operation_id = "listApprovalTasks", tag = "approvals", params(Paging),
    responses(
        (status = 200, description = "Steps waiting for your decision", body = ApprovalTaskList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/approvals")]
pub async fn approvals(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<Paging>,
) -> Result<web::Json<ApprovalTaskList>, ApiError> {
    let page = query.request(uuid_cursor)?;
    let now = state.clock.now();
    let page = state
        .db(move |conn| requests::approval_tasks(conn, &caller.user, &page, now))
        .await?;
    Ok(web::Json(ApprovalTaskList {
        items: page.items.into_iter().map(ApprovalTaskDto::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

async fn decide(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: Uuid,
    decision: Decision,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let voucher_key = state.voucher_key.clone();
    let request = state
        .db(move |conn| requests::decide(conn, now, &caller.user, id, decision, &voucher_key))
        .await?;
    Ok(request_response(actix_web::http::StatusCode::OK, request))
}

/// Approve the current step (as its approver or their delegate).
#[utoipa::path(post, path = "/api/v1/loan-requests/{id}/approve", operation_id = "approveLoanRequest", tag = "approvals",
    params(("id" = Uuid, Path, description = "Request id")), request_body = ApproveBody,
    responses(
        (status = 200, description = "Approved: the next step is pending, or the request is approved (an `online` request's loans open then, or at `opens_at`)", body = RequestDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "`not_your_step`", body = Problem),
        (status = 404, description = "No such request visible to you", body = Problem),
        (status = 409, description = "`request_not_pending`", body = Problem),
        (status = 422, description = "Comment too long; `opens_at` past, too far off, or not for this approval", body = Problem),
    ))]
#[post("/loan-requests/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: OptionalJson<ApproveBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.accept()?;
    decide(
        state,
        caller,
        id.into_inner(),
        Decision::Approve {
            comment: body.comment,
            opens_at: body.opens_at,
        },
    )
    .await
}

/// Reject the current step, which rejects the request.
#[utoipa::path(post, path = "/api/v1/loan-requests/{id}/reject", operation_id = "rejectLoanRequest", tag = "approvals",
    params(("id" = Uuid, Path, description = "Request id")), request_body = RejectBody,
    responses(
        (status = 200, description = "Rejected", body = RequestDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "`not_your_step`", body = Problem),
        (status = 404, description = "No such request visible to you", body = Problem),
        (status = 409, description = "`request_not_pending`", body = Problem),
        (status = 422, description = "A comment is required", body = Problem),
    ))]
#[post("/loan-requests/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: ValidJson<RejectBody>,
) -> Result<HttpResponse, ApiError> {
    let comment = body.accept()?.comment;
    decide(state, caller, id.into_inner(), Decision::Reject { comment }).await
}
