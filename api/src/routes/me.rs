//! The caller: who they are, their department, and whether they may borrow.

use actix_web::{get, web};
use dangan_domain::loan::borrower_blocked;
use dangan_persistence::{departments, loans};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    routes::users::UserDto,
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
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
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
