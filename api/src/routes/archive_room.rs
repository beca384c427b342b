//! The archive room's frame: fonds (全宗) and archive categories (门类) with their 档号 rules,
//! which the catalogue is filed in, and the archives whose retention ends. Archivists and
//! admins record fonds, staff read them; admins define categories, which anyone may read.

use actix_web::{get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use dangan_domain::{
    access::Capability,
    archival::{Arrangement, CategoryFields, FondsFields},
};
use dangan_persistence::{
    cases::{
        archives,
        categories::{self, CategoryPatch},
        fonds::{self, FondsPatch},
    },
    store::{self, categories::Category, fonds::Fonds},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    dto::archives::{read_date, ArchiveDto, ArchiveList},
    error::{ApiError, Problem},
    extract::{etag, IfMatch, ValidJson},
    routes::{created, Paging},
    serde_util::double_option,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b01", "number": "J001", "name": "某市人力资源和社会保障局",
    "formed_by": null, "start_year": 1983, "end_year": null, "is_default": true,
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1
}))]
pub struct FondsDto {
    pub id: Uuid,
    /// 全宗号.
    pub number: String,
    pub name: String,
    /// The organisation that formed it (立档单位), where its name does not say.
    pub formed_by: Option<String>,
    pub start_year: Option<i32>,
    pub end_year: Option<i32>,
    /// The site's own fonds: archives created without a `fonds_id` are filed in it.
    pub is_default: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl From<Fonds> for FondsDto {
    fn from(f: Fonds) -> Self {
        FondsDto {
            id: f.id,
            number: f.number,
            name: f.name,
            formed_by: f.formed_by,
            start_year: f.start_year,
            end_year: f.end_year,
            is_default: f.is_default,
            created_at: f.created_at,
            updated_at: f.updated_at,
            version: f.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FondsList {
    pub items: Vec<FondsDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"number": "J002", "name": "某市劳动局(已撤销)", "start_year": 1983, "end_year": 2009}))]
pub struct CreateFondsRequest {
    #[schema(pattern = "^[A-Z0-9]{4}$")]
    pub number: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 200)]
    pub formed_by: Option<String>,
    #[schema(minimum = 1, maximum = 9999)]
    pub start_year: Option<i32>,
    #[schema(minimum = 1, maximum = 9999)]
    pub end_year: Option<i32>,
}

/// Fields to change; absent fields stay, `null` clears an optional one. The number of a fonds
/// that holds archives cannot change: their 档号 carry it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"end_year": 2009}))]
pub struct UpdateFondsRequest {
    #[schema(pattern = "^[A-Z0-9]{4}$")]
    pub number: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 200)]
    pub formed_by: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(minimum = 1, maximum = 9999)]
    pub start_year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(minimum = 1, maximum = 9999)]
    pub end_year: Option<Option<i32>>,
}

fn fonds_response(status: StatusCode, fonds: Fonds) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(fonds.version)))
        .json(FondsDto::from(fonds))
}

/// Record a fonds.
#[utoipa::path(post, path = "/api/v1/fonds", operation_id = "createFonds", tag = "archive-room", request_body = CreateFondsRequest,
    responses(
        (status = 201, description = "Recorded", body = FondsDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 409, description = "`duplicate_code`: the number is taken", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[post("/fonds")]
pub async fn create_fonds(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateFondsRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let r = body.accept()?;
    let fields = FondsFields {
        number: r.number.trim().to_owned(),
        name: r.name.trim().to_owned(),
        formed_by: r.formed_by.map(|f| f.trim().to_owned()),
        start_year: r.start_year,
        end_year: r.end_year,
    };
    let (now, actor) = (state.clock.now(), caller.id());
    let fonds = state
        .db(move |conn| fonds::create(conn, now, actor, fields))
        .await?;
    let location = format!("/api/v1/fonds/{}", fonds.id);
    Ok(created(
        fonds_response(StatusCode::CREATED, fonds),
        location,
    ))
}

/// List the fonds, by number.
#[utoipa::path(get, path = "/api/v1/fonds", operation_id = "listFonds", tag = "archive-room",
    responses(
        (status = 200, description = "Every fonds", body = FondsList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not archive staff (archivist, admin, auditor)", body = Problem),
    ))]
#[get("/fonds")]
pub async fn list_fonds(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<web::Json<FondsList>, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let all = state.db(store::fonds::all).await?;
    Ok(web::Json(FondsList {
        items: all.into_iter().map(FondsDto::from).collect(),
    }))
}

/// Read a fonds.
#[utoipa::path(get, path = "/api/v1/fonds/{id}", operation_id = "getFonds", tag = "archive-room",
    params(("id" = Uuid, Path, description = "Fonds id")),
    responses(
        (status = 200, description = "The fonds, with its ETag", body = FondsDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not archive staff (archivist, admin, auditor)", body = Problem),
        (status = 404, description = "No such fonds", body = Problem),
    ))]
#[get("/fonds/{id}")]
pub async fn get_fonds(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let id = id.into_inner();
    let fonds = state.db(move |conn| store::fonds::get(conn, id)).await?;
    Ok(fonds_response(StatusCode::OK, fonds))
}

/// Change a fonds.
#[utoipa::path(patch, path = "/api/v1/fonds/{id}", operation_id = "updateFonds", tag = "archive-room", request_body = UpdateFondsRequest,
    params(
        ("id" = Uuid, Path, description = "Fonds id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if it changed since"),
    ),
    responses(
        (status = 200, description = "The changed fonds", body = FondsDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such fonds", body = Problem),
        (status = 409, description = "`duplicate_code`: the number is taken", body = Problem),
        (status = 412, description = "`precondition_failed`", body = Problem),
        (status = 422, description = "Invalid fields, or a new number for a fonds that holds archives", body = Problem),
    ))]
#[patch("/fonds/{id}")]
pub async fn update_fonds(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateFondsRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let r = body.accept()?;
    let patch = FondsPatch {
        number: r.number.map(|n| n.trim().to_owned()),
        name: r.name.map(|n| n.trim().to_owned()),
        formed_by: r.formed_by,
        start_year: r.start_year,
        end_year: r.end_year,
    };
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let fonds = state
        .db(move |conn| fonds::update(conn, now, actor, id, patch, if_match.0))
        .await?;
    Ok(fonds_response(StatusCode::OK, fonds))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "code": "WS", "name": "文书档案", "rule": "fonds-category·year-retention-item",
    "rule_labels": "全宗号-门类代码·年度-保管期限-件号", "arrangement": "by_item",
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1
}))]
pub struct CategoryDto {
    /// 门类代码.
    pub code: String,
    pub name: String,
    /// How its 档号 is built (DA/T 13-2022): elements level by level, `-` between levels and
    /// `·` inside one, from `fonds`, `category`, `series`, `project`, `catalogue`, `year`,
    /// `retention`, `org`, and a closing `item` (按件) or `volume` (按卷). None: codes are
    /// given by hand.
    pub rule: Option<String>,
    /// The rule in the standard's words.
    pub rule_labels: Option<String>,
    pub arrangement: Option<Arrangement>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl From<Category> for CategoryDto {
    fn from(c: Category) -> Self {
        CategoryDto {
            code: c.code,
            name: c.name,
            rule: c.rule.as_ref().map(ToString::to_string),
            rule_labels: c.rule.as_ref().map(|r| r.labels()),
            arrangement: c.rule.as_ref().map(|r| r.arrangement()),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<CategoryDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"code": "KU·01", "name": "会计凭证", "rule": "fonds-category·year-retention-volume"}))]
pub struct CreateCategoryRequest {
    #[schema(max_length = 16, pattern = "^[A-Z]{2}(·[A-Z0-9]{1,4}){0,2}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 200)]
    pub rule: Option<String>,
}

/// Fields to change; `rule: null` makes codes given by hand. A new rule applies to codes
/// built or checked from then on; codes already given keep their form.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"rule": "fonds-category·year-retention-org-item"}))]
pub struct UpdateCategoryRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 200)]
    pub rule: Option<Option<String>>,
}

fn category_response(status: StatusCode, category: Category) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(category.version)))
        .json(CategoryDto::from(category))
}

/// Define a category and its 档号 rule.
#[utoipa::path(post, path = "/api/v1/archive-categories", operation_id = "createArchiveCategory", tag = "archive-room", request_body = CreateCategoryRequest,
    responses(
        (status = 201, description = "Defined", body = CategoryDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 409, description = "`duplicate_code`", body = Problem),
        (status = 422, description = "Invalid fields, or a rule that breaks the standard's structure", body = Problem),
    ))]
#[post("/archive-categories")]
pub async fn create_category(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateCategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let r = body.accept()?;
    let fields = CategoryFields {
        code: r.code.trim().to_owned(),
        name: r.name.trim().to_owned(),
        rule: r.rule.map(|r| r.trim().to_owned()),
    };
    let (now, actor) = (state.clock.now(), caller.id());
    let category = state
        .db(move |conn| categories::create(conn, now, actor, fields))
        .await?;
    let location = format!("/api/v1/archive-categories/{}", category.code);
    Ok(created(
        category_response(StatusCode::CREATED, category),
        location,
    ))
}

/// List the categories, by code.
#[utoipa::path(get, path = "/api/v1/archive-categories", operation_id = "listArchiveCategories", tag = "archive-room",
    responses(
        (status = 200, description = "Every category", body = CategoryList),
        (status = 401, description = "No valid token", body = Problem),
    ))]
#[get("/archive-categories")]
pub async fn list_categories(
    state: web::Data<AppState>,
    _caller: CurrentUser,
) -> Result<web::Json<CategoryList>, ApiError> {
    let all = state.db(store::categories::all).await?;
    Ok(web::Json(CategoryList {
        items: all.into_iter().map(CategoryDto::from).collect(),
    }))
}

/// Read a category.
#[utoipa::path(get, path = "/api/v1/archive-categories/{code}", operation_id = "getArchiveCategory", tag = "archive-room",
    params(("code" = String, Path, description = "Category code (`WS`)")),
    responses(
        (status = 200, description = "The category, with its ETag", body = CategoryDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such category", body = Problem),
    ))]
#[get("/archive-categories/{code}")]
pub async fn get_category(
    state: web::Data<AppState>,
    _caller: CurrentUser,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = code.into_inner();
    let category = state
        .db(move |conn| store::categories::get(conn, &code))
        .await?;
    Ok(category_response(StatusCode::OK, category))
}

/// Rename a category or change its 档号 rule.
#[utoipa::path(patch, path = "/api/v1/archive-categories/{code}", operation_id = "updateArchiveCategory", tag = "archive-room", request_body = UpdateCategoryRequest,
    params(
        ("code" = String, Path, description = "Category code (`WS`)"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if it changed since"),
    ),
    responses(
        (status = 200, description = "The changed category", body = CategoryDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such category", body = Problem),
        (status = 412, description = "`precondition_failed`", body = Problem),
        (status = 422, description = "Invalid fields, or a rule that breaks the standard's structure", body = Problem),
    ))]
#[patch("/archive-categories/{code}")]
pub async fn update_category(
    state: web::Data<AppState>,
    caller: CurrentUser,
    code: web::Path<String>,
    if_match: IfMatch,
    body: ValidJson<UpdateCategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let r = body.accept()?;
    let patch = CategoryPatch {
        name: r.name.map(|n| n.trim().to_owned()),
        rule: r.rule.map(|r| r.map(|r| r.trim().to_owned())),
    };
    let (now, actor, code) = (state.clock.now(), caller.id(), code.into_inner());
    let category = state
        .db(move |conn| categories::update(conn, now, actor, &code, patch, if_match.0))
        .await?;
    Ok(category_response(StatusCode::OK, category))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RetentionQuery {
    /// Archives whose retention period ends before this date (`YYYY-MM-DD`); today when left
    /// out: what has already reached its end.
    #[param(format = Date, example = "2027-01-01")]
    pub before: Option<String>,
    /// 1 to 500; default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{1,2000}$")]
    pub cursor: Option<String>,
}

fn encode_cursor((ends_on, code): &(String, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ends_on}\n{code}"))
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (ends_on, code) = text.split_once('\n')?;
    Some((ends_on.to_owned(), code.to_owned()))
}

/// Archives whose 保管期限 ends before a date, within your clearance, soonest first: what an
/// appraisal (鉴定) reviews. Permanent archives, and those without a year, never appear.
#[utoipa::path(get, path = "/api/v1/reports/retention-due", operation_id = "getRetentionDueReport", tag = "reports", params(RetentionQuery),
    responses(
        (status = 200, description = "A page of archives", body = ArchiveList),
        (status = 400, description = "`before` is not a date, or a bad cursor", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist, auditor or admin", body = Problem),
        (status = 422, description = "Bad limit", body = Problem),
    ))]
#[get("/reports/retention-due")]
pub async fn retention_due(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<RetentionQuery>,
) -> Result<web::Json<ArchiveList>, ApiError> {
    caller.require(Capability::ReadReports)?;
    let query = query.into_inner();
    let before = match &query.before {
        Some(before) => read_date("before", before).map_err(|e| ApiError::from(vec![e]))?,
        None => state.clock.now().date(),
    };
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request(decode_cursor)?;
    let clearance = caller.user.clearance;
    let page = state
        .db(move |conn| archives::retention_due(conn, before, clearance, &page))
        .await?;
    Ok(web::Json(ArchiveList {
        next_cursor: page.next.as_ref().map(encode_cursor),
        items: page.items.into_iter().map(ArchiveDto::from).collect(),
    }))
}
