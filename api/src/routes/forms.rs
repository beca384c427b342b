//! Custom request form fields: every user reads them (a front end builds its request form from
//! them); admins change them.

use actix_web::{delete, get, http::header, http::StatusCode, post, put, web, HttpResponse};
use dangan_domain::{
    access::Capability,
    form::{FieldType, FormField},
};
use dangan_persistence::{
    cases::forms,
    store::{self, forms::StoredField},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
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
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2d01", "key": "case_number", "label": "案件编号 / Case number",
    "type": "text", "required": true, "options": [], "categories": ["人事"], "version": 1
}))]
pub struct FormFieldDto {
    pub id: Uuid,
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub required: bool,
    pub options: Vec<String>,
    /// Categories of archive it applies to; empty means every request.
    pub categories: Vec<String>,
    pub version: i32,
}

impl From<StoredField> for FormFieldDto {
    fn from(s: StoredField) -> Self {
        FormFieldDto {
            id: s.id,
            key: s.field.key,
            label: s.field.label,
            field_type: s.field.field_type,
            required: s.field.required,
            options: s.field.options,
            categories: s.field.categories,
            version: s.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormFieldList {
    pub items: Vec<FormFieldDto>,
}

/// A field as `POST` creates and `PUT` replaces it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "key": "purpose_kind", "label": "用途 / Purpose", "type": "choice", "required": true,
    "options": ["audit", "litigation", "research"], "categories": []
}))]
pub struct FormFieldInput {
    #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$")]
    pub key: String,
    #[schema(max_length = 200, pattern = "\\S")]
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub options: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub categories: Vec<String>,
}

impl From<FormFieldInput> for FormField {
    fn from(input: FormFieldInput) -> Self {
        FormField {
            key: input.key.trim().to_owned(),
            label: input.label.trim().to_owned(),
            field_type: input.field_type,
            required: input.required,
            options: input.options,
            categories: input.categories,
        }
    }
}

fn field_response(status: StatusCode, field: StoredField) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(field.version)))
        .json(FormFieldDto::from(field))
}

/// Every custom request form field.
#[utoipa::path(get, path = "/api/v1/form-fields", operation_id = "listFormFields", tag = "form-fields",
    responses(
        (status = 200, description = "The fields, by key", body = FormFieldList),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/form-fields")]
pub async fn list(
    state: web::Data<AppState>,
    _caller: CurrentUser,
) -> Result<web::Json<FormFieldList>, ApiError> {
    let fields = state.db(store::forms::list).await?;
    Ok(web::Json(FormFieldList {
        items: fields.into_iter().map(FormFieldDto::from).collect(),
    }))
}

/// Add a form field.
#[utoipa::path(post, path = "/api/v1/form-fields", operation_id = "createFormField", tag = "form-fields", request_body = FormFieldInput,
    responses(
        (status = 201, description = "Created", body = FormFieldDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 409, description = "`duplicate_key`", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[post("/form-fields")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<FormFieldInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let field = FormField::from(body.accept()?);
    let (now, actor) = (state.clock.now(), caller.id());
    let stored = state
        .db(move |conn| forms::create(conn, now, actor, field))
        .await?;
    let location = format!("/api/v1/form-fields/{}", stored.id);
    Ok(created(
        field_response(StatusCode::CREATED, stored),
        location,
    ))
}

/// Replace a form field.
#[utoipa::path(put, path = "/api/v1/form-fields/{id}", operation_id = "replaceFormField", tag = "form-fields", request_body = FormFieldInput,
    params(
        ("id" = Uuid, Path, description = "Field id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if it changed since"),
    ),
    responses(
        (status = 200, description = "Replaced", body = FormFieldDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such field", body = Problem),
        (status = 409, description = "`duplicate_key`", body = Problem),
        (status = 412, description = "`precondition_failed`", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[put("/form-fields/{id}")]
pub async fn replace(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<FormFieldInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let field = FormField::from(body.accept()?);
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let stored = state
        .db(move |conn| forms::replace(conn, now, actor, id, field, if_match.0))
        .await?;
    Ok(field_response(StatusCode::OK, stored))
}

/// Delete a form field.
#[utoipa::path(delete, path = "/api/v1/form-fields/{id}", operation_id = "deleteFormField", tag = "form-fields",
    params(("id" = Uuid, Path, description = "Field id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such field", body = Problem),
    ))]
#[delete("/form-fields/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    state
        .db(move |conn| forms::delete(conn, now, actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
