//! Departments, for admins: the organisation tree whose heads approve their members' requests.

use actix_web::{get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use dangan_domain::access::Capability;
use dangan_persistence::{
    cases::departments::{self, DepartmentPatch, NewDepartment},
    store::{self, departments::Department},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    extract::{etag, IfMatch, ValidJson},
    routes::{created, uuid_cursor, Paging},
    serde_util::double_option,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b00", "code": "HR", "name": "人事处",
    "parent_id": null, "head_user_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11",
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1
}))]
pub struct DepartmentDto {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub head_user_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl From<Department> for DepartmentDto {
    fn from(d: Department) -> Self {
        DepartmentDto {
            id: d.id,
            code: d.code,
            name: d.name,
            parent_id: d.parent_id,
            head_user_id: d.head_user_id,
            created_at: d.created_at,
            updated_at: d.updated_at,
            version: d.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentList {
    pub items: Vec<DepartmentDto>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"code": "HR", "name": "人事处", "parent_id": null, "head_user_id": null}))]
pub struct CreateDepartmentRequest {
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub head_user_id: Option<Uuid>,
}

/// Fields to change; absent fields stay, `null` clears `parent_id` or `head_user_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"head_user_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11"}))]
pub struct UpdateDepartmentRequest {
    #[schema(min_length = 1, max_length = 32)]
    pub code: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    pub head_user_id: Option<Option<Uuid>>,
}

fn department_response(status: StatusCode, department: Department) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(department.version)))
        .json(DepartmentDto::from(department))
}

/// Create a department.
#[utoipa::path(post, path = "/api/v1/departments", operation_id = "createDepartment", tag = "departments", request_body = CreateDepartmentRequest,
    responses(
        (status = 201, description = "Created", body = DepartmentDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 409, description = "`duplicate_code`", body = Problem),
        (status = 422, description = "Invalid fields, or the parent or head does not exist", body = Problem),
    ))]
#[post("/departments")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateDepartmentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let request = body.accept()?;
    let new = NewDepartment {
        code: request.code,
        name: request.name,
        parent_id: request.parent_id,
        head_user_id: request.head_user_id,
    };
    let (now, actor) = (state.clock.now(), caller.id());
    let department = state
        .db(move |conn| departments::create(conn, now, actor, new))
        .await?;
    let location = format!("/api/v1/departments/{}", department.id);
    Ok(created(
        department_response(StatusCode::CREATED, department),
        location,
    ))
}

/// List departments, newest first.
#[utoipa::path(get, path = "/api/v1/departments", operation_id = "listDepartments", tag = "departments", params(Paging),
    responses(
        (status = 200, description = "A page of departments", body = DepartmentList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
#[get("/departments")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
    paging: web::Query<Paging>,
) -> Result<web::Json<DepartmentList>, ApiError> {
    caller.require(Capability::Administer)?;
    let page = paging.request(uuid_cursor)?;
    let page = state.db(move |conn| departments::list(conn, &page)).await?;
    Ok(web::Json(DepartmentList {
        items: page.items.into_iter().map(DepartmentDto::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// Read a department.
#[utoipa::path(get, path = "/api/v1/departments/{id}", operation_id = "getDepartment", tag = "departments",
    params(("id" = Uuid, Path, description = "Department id")),
    responses(
        (status = 401, description = "No valid token", body = Problem),
        (status = 200, description = "The department, with its ETag", body = DepartmentDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such department", body = Problem),
    ))]
#[get("/departments/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let id = id.into_inner();
    let department = state
        .db(move |conn| store::departments::get(conn, id))
        .await?;
    Ok(department_response(StatusCode::OK, department))
}

/// Change a department.
#[utoipa::path(patch, path = "/api/v1/departments/{id}", operation_id = "updateDepartment", tag = "departments", request_body = UpdateDepartmentRequest,
    params(
        ("id" = Uuid, Path, description = "Department id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if it changed since"),
    ),
    responses(
        (status = 401, description = "No valid token", body = Problem),
        (status = 200, description = "The changed department", body = DepartmentDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such department", body = Problem),
        (status = 409, description = "`duplicate_code`", body = Problem),
        (status = 412, description = "`precondition_failed`", body = Problem),
        (status = 422, description = "Invalid fields, a missing parent or head, or a parent that would make a loop", body = Problem),
    ))]
#[patch("/departments/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateDepartmentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let request = body.accept()?;
    let patch = DepartmentPatch {
        code: request.code,
        name: request.name,
        parent_id: request.parent_id,
        head_user_id: request.head_user_id,
    };
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let department = state
        .db(move |conn| departments::update(conn, now, actor, id, patch, if_match.0))
        .await?;
    Ok(department_response(StatusCode::OK, department))
}
