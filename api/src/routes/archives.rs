//! The catalogue: read by every user within clearance, written by archivists and admins.

use actix_web::{get, http::header, http::StatusCode, patch, post, web, HttpRequest, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use dangan_domain::{
    access::Capability,
    archival::{ArchiveKind, Opening},
    archive::{ArchiveStatus, Medium},
    search::query_terms,
    Classification,
};
use dangan_persistence::{
    cases::archives::{
        self, ArchiveCursor, ArchivePatch, ArchiveSearch, ArchiveSort, Cataloguer, FilingFilter,
    },
    store::{self, archives::Archive},
    PageRequest,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    dto::archives::{read_date, ArchiveDto, ArchiveList, CreateArchiveRequest, VolumeItems},
    error::{ApiError, Problem},
    extract::{etag, IfMatch, ValidJson},
    ledger,
    routes::{accepts, created, Paging, MAX_LIMIT},
    serde_util::double_option,
    state::AppState,
};

/// Fields to change; absent fields stay, `null` clears a nullable one. `status` may only move
/// between `available` and `damaged` here.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"location": "B-01-02-03", "status": "available"}))]
pub struct UpdateArchiveRequest {
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub archive_code: Option<String>,
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub barcode: Option<String>,
    #[schema(max_length = 500, pattern = "\\S")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 5000)]
    pub description: Option<Option<String>>,
    #[schema(max_length = 64, pattern = "\\S")]
    pub category: Option<String>,
    pub classification: Option<Classification>,
    pub medium: Option<Medium>,
    #[serde(default, deserialize_with = "double_option")]
    pub department_id: Option<Option<Uuid>>,
    #[schema(max_length = 100, pattern = "\\S")]
    pub location: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(minimum = 1, maximum = 9999)]
    pub year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub pages: Option<Option<i32>>,
    pub status: Option<ArchiveStatus>,
    pub fonds_id: Option<Uuid>,
    /// Files the archive under this category; with `archive_code` the code is checked against
    /// its rule, with `archive_code: ""` the rule gives it a new one.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 16, pattern = "^[A-Z]{2}(·[A-Z0-9]{1,4}){0,2}$")]
    pub category_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(pattern = "^(Y|D[1-9][0-9]{0,2})$")]
    pub retention: Option<Option<String>>,
    pub opening: Option<Opening>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(format = Date)]
    pub opens_on: Option<Option<String>>,
    pub kind: Option<ArchiveKind>,
    #[serde(default, deserialize_with = "double_option")]
    pub volume_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 8, pattern = "^[A-Z0-9]{1,8}$")]
    pub org_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 8, pattern = "^[A-Z0-9]{1,8}$")]
    pub series_code: Option<Option<String>>,
    /// Puts the archive on a shelf (its path becomes `location`); `null` takes it off, leaving
    /// `location` as it was.
    #[serde(default, deserialize_with = "double_option")]
    pub location_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
pub enum SortParam {
    #[serde(rename = "created_at")]
    CreatedAt,
    #[default]
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    #[serde(rename = "archive_code")]
    ArchiveCode,
    #[serde(rename = "title")]
    Title,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ArchiveQuery {
    /// Words or Chinese text found in the code, barcode, title or description (any case); at
    /// most 16 words or runs of Chinese characters.
    pub q: Option<String>,
    pub category: Option<String>,
    pub classification: Option<Classification>,
    pub status: Option<ArchiveStatus>,
    pub department_id: Option<Uuid>,
    pub medium: Option<Medium>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    /// Location prefix, e.g. `A-03`.
    pub location: Option<String>,
    /// 档号 prefix, e.g. `J001-WS·2019-Y`: every archive whose code starts with it.
    #[param(max_length = 64)]
    pub archive_code: Option<String>,
    pub fonds_id: Option<Uuid>,
    /// Category code (`WS`).
    pub category_code: Option<String>,
    /// 保管期限 (`Y`, `D30`, …).
    pub retention: Option<String>,
    pub opening: Option<Opening>,
    pub kind: Option<ArchiveKind>,
    /// The items of this volume.
    pub volume_id: Option<Uuid>,
    /// What sits on this shelf or anywhere beneath it.
    pub location_id: Option<Uuid>,
    /// `created_at`, `-created_at` (default), `archive_code` or `title`.
    #[param(inline)]
    pub sort: Option<SortParam>,
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page, with the same `sort`.
    #[param(pattern = "^[A-Za-z0-9_-]{1,2000}$")]
    pub cursor: Option<String>,
}

/// Cursors are opaque to clients: the sort key of the last item, base64url-encoded.
fn encode_cursor(cursor: &ArchiveCursor) -> String {
    let text = match cursor {
        ArchiveCursor::Catalogued(seq) => format!("c\u{1f}{seq}"),
        ArchiveCursor::ArchiveCode(code) => format!("k\u{1f}{code}"),
        ArchiveCursor::Title(title, id) => format!("t\u{1f}{title}\u{1f}{id}"),
    };
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Option<ArchiveCursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let parts: Vec<&str> = text.split('\u{1f}').collect();
    match parts.as_slice() {
        ["c", seq] => Some(ArchiveCursor::Catalogued(seq.parse().ok()?)),
        ["k", code] => Some(ArchiveCursor::ArchiveCode((*code).to_owned())),
        ["t", title, id] => Some(ArchiveCursor::Title(
            (*title).to_owned(),
            Uuid::try_parse(id).ok()?,
        )),
        _ => None,
    }
}

/// A cursor only continues the sort it came from.
fn fits(cursor: &ArchiveCursor, sort: ArchiveSort) -> bool {
    matches!(
        (cursor, sort),
        (
            ArchiveCursor::Catalogued(_),
            ArchiveSort::CreatedAt | ArchiveSort::CreatedAtDesc
        ) | (ArchiveCursor::ArchiveCode(_), ArchiveSort::ArchiveCode)
            | (ArchiveCursor::Title(..), ArchiveSort::Title)
    )
}

fn cataloguer(caller: &CurrentUser) -> Cataloguer {
    Cataloguer {
        id: caller.id(),
        clearance: caller.user.clearance,
    }
}

fn archive_response(status: StatusCode, archive: Archive) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(archive.version)))
        .json(ArchiveDto::from(archive))
}

/// Catalogue an archive.
#[utoipa::path(post, path = "/api/v1/archives", operation_id = "createArchive", tag = "archives", request_body = CreateArchiveRequest,
    responses(
        (status = 201, description = "Catalogued", body = ArchiveDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 409, description = "`duplicate_archive_code` or `duplicate_barcode`", body = Problem),
        (status = 422, description = "Invalid fields (classification above your clearance included)", body = Problem),
    ))]
#[post("/archives")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateArchiveRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let fields = body.accept()?.into_fields()?;
    let (now, by) = (state.clock.now(), cataloguer(&caller));
    let archive = state
        .db(move |conn| archives::create(conn, now, by, fields))
        .await?;
    let location = format!("/api/v1/archives/{}", archive.id);
    Ok(created(
        archive_response(StatusCode::CREATED, archive),
        location,
    ))
}

/// Search the catalogue within your clearance. With `Accept:
/// application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` the whole result (from the
/// cursor on, at most 100,000 archives) comes as an `.xlsx` ledger whose headings the import
/// reads back.
#[utoipa::path(get, path = "/api/v1/archives", operation_id = "listArchives", tag = "archives", params(ArchiveQuery),
    responses(
        (status = 200, description = "A page of archives, or the whole result as an .xlsx ledger",
            content((ArchiveList = "application/json"),
                (crate::ledger::XlsxWorkbook = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, description = "Bad query or cursor", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 422, description = "Bad limit, or `q` of more than 16 words", body = Problem),
    ))]
#[get("/archives")]
pub async fn list(
    request: HttpRequest,
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<ArchiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let sort = match query.sort.unwrap_or_default() {
        SortParam::CreatedAt => ArchiveSort::CreatedAt,
        SortParam::CreatedAtDesc => ArchiveSort::CreatedAtDesc,
        SortParam::ArchiveCode => ArchiveSort::ArchiveCode,
        SortParam::Title => ArchiveSort::Title,
    };
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request(|c| decode_cursor(c).filter(|cursor| fits(cursor, sort)))?;
    let terms = match query.q.as_deref().map(query_terms).transpose() {
        Ok(terms) => terms.flatten(),
        Err(e) => return Err(vec![e].into()),
    };
    let search = ArchiveSearch {
        terms,
        category: query.category,
        classification: query.classification,
        status: query.status,
        department_id: query.department_id,
        medium: query.medium,
        year_from: query.year_from,
        year_to: query.year_to,
        location_prefix: query.location,
        code_prefix: query.archive_code,
        filing: FilingFilter {
            fonds_id: query.fonds_id,
            category_code: query.category_code,
            retention: query.retention,
            opening: query.opening,
            kind: query.kind,
            volume_id: query.volume_id,
            location_id: query.location_id,
        },
        clearance: caller.user.clearance,
        sort,
    };
    if accepts(&request, ledger::XLSX) {
        let all = state
            .db(move |conn| {
                let mut all = Vec::new();
                let mut page = PageRequest {
                    limit: MAX_LIMIT,
                    after: page.after,
                };
                while all.len() < LEDGER_ROWS {
                    let found = archives::search(conn, &search, &page)?;
                    all.extend(found.items);
                    match found.next {
                        Some(next) => page.after = Some(next),
                        None => break,
                    }
                }
                Ok::<_, dangan_persistence::PersistenceError>(all)
            })
            .await?;
        let body = web::block(move || ledger_of(all))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        return Ok(HttpResponse::Ok()
            .content_type(ledger::XLSX)
            .insert_header((
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"archives.xlsx\"",
            ))
            .body(body));
    }
    let page = state
        .db(move |conn| archives::search(conn, &search, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ArchiveList {
        next_cursor: page.next.as_ref().map(encode_cursor),
        items: page.items.into_iter().map(ArchiveDto::from).collect(),
    }))
}

/// The most archives one ledger holds: a catalogue larger than that is exported in parts, from
/// the cursor of the last one.
const LEDGER_ROWS: usize = 100_000;

/// The columns of an exported ledger, with the headings the import reads them by.
const LEDGER_COLUMNS: [(&str, &str); 17] = [
    ("档号", "archive_code"),
    ("条码", "barcode"),
    ("题名", "title"),
    ("描述", "description"),
    ("门类", "category"),
    ("门类代码", "category_code"),
    ("密级", "classification"),
    ("载体", "medium"),
    ("存放位置", "location"),
    ("年度", "year"),
    ("页数", "pages"),
    ("保管期限", "retention"),
    ("开放状态", "opening"),
    ("开放日期", "opens_on"),
    ("件卷", "kind"),
    ("机构(问题)代码", "org_code"),
    ("类别号", "series_code"),
];

fn ledger_of(archives: Vec<Archive>) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let headings: Vec<&str> = LEDGER_COLUMNS.iter().map(|(h, _)| *h).collect();
    let rows = archives.into_iter().map(|a| {
        let dto = serde_json::to_value(ArchiveDto::from(a)).unwrap_or_default();
        LEDGER_COLUMNS
            .iter()
            .map(|(_, field)| match &dto[*field] {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect()
    });
    ledger::write("档案", &headings, rows)
}

/// Read an archive.
#[utoipa::path(get, path = "/api/v1/archives/{id}", operation_id = "getArchive", tag = "archives",
    params(("id" = Uuid, Path, description = "Archive id")),
    responses(
        (status = 200, description = "The archive, with its ETag", body = ArchiveDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such archive, or above your clearance", body = Problem),
    ))]
#[get("/archives/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (id, clearance) = (id.into_inner(), caller.user.clearance);
    let (archive, items) = state
        .db(move |conn| {
            let archive = store::archives::get(conn, id, clearance)?;
            let items = match archive.fields.filing.kind {
                ArchiveKind::Volume => Some(store::archives::volume_items(conn, id, clearance)?),
                ArchiveKind::Item => None,
            };
            Ok::<_, dangan_persistence::PersistenceError>((archive, items))
        })
        .await?;
    let version = archive.version;
    let mut dto = ArchiveDto::from(archive);
    dto.volume_items = items.map(|(items, withheld)| VolumeItems { items, withheld });
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(version)))
        .json(dto))
}

/// Find an archive by its barcode (what a scanner calls).
#[utoipa::path(get, path = "/api/v1/archives/by-barcode/{barcode}", operation_id = "getArchiveByBarcode", tag = "archives",
    params(("barcode" = String, Path, description = "The barcode as scanned", max_length = 64)),
    responses(
        (status = 200, description = "The archive", body = ArchiveDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such barcode, or above your clearance", body = Problem),
    ))]
#[get("/archives/by-barcode/{barcode}")]
pub async fn by_barcode(
    state: web::Data<AppState>,
    caller: CurrentUser,
    barcode: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (barcode, clearance) = (barcode.into_inner(), caller.user.clearance);
    let archive = state
        .db(move |conn| store::archives::get_by_barcode(conn, &barcode, clearance))
        .await?;
    Ok(archive_response(StatusCode::OK, archive))
}

/// Edit an archive.
#[utoipa::path(patch, path = "/api/v1/archives/{id}", operation_id = "updateArchive", tag = "archives", request_body = UpdateArchiveRequest,
    params(
        ("id" = Uuid, Path, description = "Archive id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if it changed since"),
    ),
    responses(
        (status = 200, description = "The edited archive", body = ArchiveDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such archive, or above your clearance", body = Problem),
        (status = 409, description = "`duplicate_archive_code` or `duplicate_barcode`", body = Problem),
        (status = 412, description = "`precondition_failed`", body = Problem),
        (status = 422, description = "Invalid fields or status change", body = Problem),
    ))]
#[patch("/archives/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateArchiveRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let r = body.accept()?;
    let patch = ArchivePatch {
        archive_code: r.archive_code.map(|v| v.trim().to_owned()),
        barcode: r.barcode.map(|v| v.trim().to_owned()),
        title: r.title.map(|v| v.trim().to_owned()),
        description: r.description,
        category: r.category.map(|v| v.trim().to_owned()),
        classification: r.classification,
        medium: r.medium,
        department_id: r.department_id,
        location: r.location.map(|v| v.trim().to_owned()),
        year: r.year,
        pages: r.pages,
        status: r.status,
        fonds_id: r.fonds_id,
        category_code: r.category_code.map(|c| c.map(|c| c.trim().to_owned())),
        retention: r
            .retention
            .map(|r| r.map(|r| r.parse()).transpose())
            .transpose()
            .map_err(|_| ApiError::field("retention", "is not Y, D30, D10 or another Dn"))?,
        opening: r.opening,
        opens_on: r
            .opens_on
            .map(|d| d.map(|d| read_date("opens_on", &d)).transpose())
            .transpose()
            .map_err(|e| ApiError::from(vec![e]))?,
        kind: r.kind,
        volume_id: r.volume_id,
        org_code: r.org_code,
        series_code: r.series_code,
        location_id: r.location_id,
    };
    let (now, by, id) = (state.clock.now(), cataloguer(&caller), id.into_inner());
    let archive = state
        .db(move |conn| archives::update(conn, now, by, id, patch, if_match.0))
        .await?;
    Ok(archive_response(StatusCode::OK, archive))
}

/// Retire an archive from circulation.
#[utoipa::path(post, path = "/api/v1/archives/{id}/retire", operation_id = "retireArchive", tag = "archives",
    params(("id" = Uuid, Path, description = "Archive id")),
    responses(
        (status = 200, description = "Retired", body = ArchiveDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such archive, or above your clearance", body = Problem),
        (status = 409, description = "`archive_on_loan`", body = Problem),
    ))]
#[post("/archives/{id}/retire")]
pub async fn retire(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let (now, by, id) = (state.clock.now(), cataloguer(&caller), id.into_inner());
    let archive = state
        .db(move |conn| archives::retire(conn, now, by, id))
        .await?;
    Ok(archive_response(StatusCode::OK, archive))
}
