//! The caller: who they are, their department, whether they may borrow, and their notifications.

use actix_web::{get, post, web, HttpResponse};
use dangan_domain::loan::borrower_blocked;
use dangan_persistence::store::{
    departments, loans,
    notifications::{self, Notification},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::{AccessToken, CurrentUser},
    dto::users::UserDto,
    error::{ApiError, Problem},
    routes::{uuid_cursor, Paging},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentSummary {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11", "username": "zhangsan", "display_name": "张三",
    "department_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b00", "roles": [], "clearance": "internal",
    "email": null, "phone": null, "status": "active",
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1,
    "department": {"id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b00", "code": "HR", "name": "人事处"},
    "blocked": false, "blocked_reason": null
}))]
pub struct Me {
    #[serde(flatten)]
    pub user: UserDto,
    pub department: Option<DepartmentSummary>,
    /// True while the caller has an overdue loan: no new requests or renewals until it is back.
    pub blocked: bool,
    pub blocked_reason: Option<String>,
}

/// The authenticated caller.
#[utoipa::path(get, path = "/api/v1/me", operation_id = "getMe", tag = "me",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/me")]
pub async fn me(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<Me>, ApiError> {
    let (department_id, user_id, now) = (caller.user.department_id, caller.id(), state.clock.now());
    let (department, overdue) = state
        .db(move |conn| {
            let department = department_id
                .map(|id| departments::get(conn, id))
                .transpose()?;
            Ok((department, loans::count_overdue(conn, user_id, now)?))
        })
        .await?;
    let blocked = borrower_blocked(overdue);
    Ok(web::Json(Me {
        user: caller.user.into(),
        department: department.map(|d| DepartmentSummary {
            id: d.id,
            code: d.code,
            name: d.name,
        }),
        blocked,
        blocked_reason: blocked
            .then(|| format!("{overdue} overdue loan(s): return them to request or renew again")),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c40", "kind": "loan.due_soon",
    "title": "借阅即将到期 / Loan due soon: WS-2019-Y-0042",
    "subject": "借阅即将到期 / Loan due soon: WS-2019-Y-0042",
    "body": "《2019年度会议纪要》(WS-2019-Y-0042) 应于 2026-12-10 归还。\n\"2019年度会议纪要\" (WS-2019-Y-0042) is due back on 2026-12-10.",
    "entity_type": "loan", "entity_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20",
    "created_at": "2026-12-07T09:00:00Z", "read_at": null
}))]
pub struct NotificationDto {
    pub id: Uuid,
    /// What it is about: `loan.due_soon`, `loan.overdue`, `loan.overdue_escalated`,
    /// `approval.reminder`, `approval.escalated`, `archive.reserved`, `reservation.lapsed`,
    /// `request.pickup_expired`, `renewal.requested`.
    pub kind: String,
    /// The notice's headline (the contract's field).
    pub title: String,
    /// The same as `title`, kept for clients written against earlier versions; also the
    /// e-mail's subject.
    pub subject: String,
    pub body: String,
    /// `loan` or `loan_request`.
    pub entity_type: String,
    pub entity_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<OffsetDateTime>,
}

impl From<Notification> for NotificationDto {
    fn from(n: Notification) -> Self {
        NotificationDto {
            id: n.id,
            kind: n.kind,
            title: n.subject.clone(),
            subject: n.subject,
            body: n.body,
            entity_type: n.entity_type,
            entity_id: n.entity_id,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationDto>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    /// Only those not read yet.
    #[serde(default)]
    pub unread: bool,
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/me/notifications", operation_id = "listMyNotifications", tag = "me", params(NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/me/notifications")]
pub async fn list_notifications(
    state: web::Data<AppState>,
    token: AccessToken,
    query: web::Query<NotificationQuery>,
) -> Result<web::Json<NotificationList>, ApiError> {
    let query = query.into_inner();
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request(uuid_cursor)?;
    let page = state
        .db_as(token, move |conn, caller| {
            notifications::list(conn, &caller.principal(), query.unread, &page)
        })
        .await?;
    Ok(web::Json(NotificationList {
        items: page.items.into_iter().map(NotificationDto::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// Mark one of your notifications read (reading it again keeps the first time).
#[utoipa::path(post, path = "/api/v1/me/notifications/{id}/read", operation_id = "markNotificationRead", tag = "me",
    params(("id" = Uuid, Path, description = "Notification id")),
    responses(
        (status = 204, description = "Read"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such notification of yours", body = Problem),
    ))]
#[post("/me/notifications/{id}/read")]
pub async fn read_notification(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (id, now, user_id) = (id.into_inner(), state.clock.now(), caller.id());
    state
        .db(move |conn| notifications::mark_read(conn, now, user_id, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"marked": 3}))]
pub struct MarkedRead {
    /// How many were unread.
    pub marked: usize,
}

/// Mark all your notifications read.
#[utoipa::path(post, path = "/api/v1/me/notifications/read-all", operation_id = "markAllNotificationsRead", tag = "me",
    responses(
        (status = 200, description = "How many were unread", body = MarkedRead),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[post("/me/notifications/read-all")]
pub async fn read_all_notifications(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<MarkedRead>, ApiError> {
    let (now, user_id) = (state.clock.now(), caller.id());
    let marked = state
        .db(move |conn| notifications::mark_all_read(conn, now, user_id))
        .await?;
    Ok(web::Json(MarkedRead { marked }))
}
