//! The archive room's places (库房 → 区/密集架 → 列 → 节 → 层): recorded and moved by archivists,
//! read by archive staff, and archives moved onto them by scanning the shelf, then the archives.

use actix_web::{get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use dangan_domain::{
    access::Capability,
    shelf::{depth, LocationFields},
    Classification,
};
use dangan_persistence::{
    cases::locations::{self, LocationPatch, Moves, NewLocation},
    store::{self, locations::Location},
    Conn, PersistenceError,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    dto::archives::{ArchiveDto, ArchiveList},
    error::{ApiError, Problem},
    extract::{etag, IfMatch, ValidJson},
    routes::created,
    serde_util::double_option,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b70", "parent_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b6f",
    "code": "03", "name": "第 3 列", "barcode": "LOC-K1-A-03", "path": "K1-A-03", "depth": 3,
    "archives": 120, "withheld": 2,
    "created_at": "2026-11-24T08:00:00Z", "updated_at": "2026-11-24T08:00:00Z", "version": 1
}))]
pub struct LocationDto {
    pub id: Uuid,
    /// The place it is in; none for a room (库房).
    pub parent_id: Option<Uuid>,
    /// Its part of the path.
    pub code: String,
    pub name: String,
    pub barcode: String,
    /// The codes from the room down, joined by `-`: the `location` of the archives on it.
    pub path: String,
    /// 1 for a room.
    pub depth: usize,
    /// Archives on it or beneath it that you may see.
    pub archives: i64,
    /// Archives on it or beneath it above your clearance: counted, never named.
    pub withheld: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl LocationDto {
    fn new(l: Location, (archives, withheld): (i64, i64)) -> Self {
        LocationDto {
            id: l.id,
            parent_id: l.parent_id,
            code: l.code,
            name: l.name,
            barcode: l.barcode,
            depth: depth(&l.path),
            path: l.path,
            archives,
            withheld,
            created_at: l.created_at,
            updated_at: l.updated_at,
            version: l.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationList {
    pub items: Vec<LocationDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"parent_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b6f", "code": "03", "name": "第 3 列", "barcode": "LOC-K1-A-03"}))]
pub struct CreateLocationRequest {
    /// The place it is in; none for a room.
    pub parent_id: Option<Uuid>,
    #[schema(pattern = "^[A-Za-z0-9]{1,16}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub barcode: String,
}

/// Fields to change; a new `code` or `parent_id` moves the place with everything beneath it,
/// and the archives on them take their new path as `location`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "第 3 列(东)"}))]
pub struct UpdateLocationRequest {
    #[serde(default, deserialize_with = "double_option")]
    pub parent_id: Option<Option<Uuid>>,
    #[schema(pattern = "^[A-Za-z0-9]{1,16}$")]
    pub code: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 64, pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$")]
    pub barcode: Option<String>,
}

/// The archives to put on the place: by id, or by the barcodes scanned, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"barcodes": ["B000042", "B000043"]}))]
pub struct MoveRequest {
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub archive_ids: Vec<Uuid>,
    #[serde(default)]
    #[schema(max_items = 1000, inline, value_type = Vec<String>)]
    pub barcodes: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LocationQuery {
    /// The places in this one; the rooms when left out.
    pub parent_id: Option<Uuid>,
}

fn with_holdings(
    conn: &mut Conn,
    place: Location,
    clearance: Classification,
) -> Result<LocationDto, PersistenceError> {
    let holdings = store::locations::holdings(conn, &place.path, clearance)?;
    Ok(LocationDto::new(place, holdings))
}

fn location_response(status: StatusCode, place: LocationDto) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(place.version)))
        .json(place)
}

/// Record a place.
#[utoipa::path(post, path = "/api/v1/locations", operation_id = "createLocation", tag = "archive-room", request_body = CreateLocationRequest,
    responses(
        (status = 201, description = "Recorded", body = LocationDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 409, description = "`duplicate_code`: the barcode, or the code under that parent, is taken", body = Problem),
        (status = 422, description = "Invalid fields, a missing parent, or a tree too deep", body = Problem),
    ))]
#[post("/locations")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateLocationRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let r = body.accept()?;
    let new = NewLocation {
        parent_id: r.parent_id,
        fields: LocationFields {
            code: r.code.trim().to_owned(),
            name: r.name.trim().to_owned(),
            barcode: r.barcode.trim().to_owned(),
        },
    };
    let (now, actor) = (state.clock.now(), caller.id());
    let place = state
        .db(move |conn| locations::create(conn, now, actor, new))
        .await?;
    let location = format!("/api/v1/locations/{}", place.id);
    Ok(created(
        location_response(StatusCode::CREATED, LocationDto::new(place, (0, 0))),
        location,
    ))
}

/// The places in a place (the rooms when no parent is given), by path.
#[utoipa::path(get, path = "/api/v1/locations", operation_id = "listLocations", tag = "archive-room", params(LocationQuery),
    responses(
        (status = 200, description = "The places", body = LocationList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not archive staff (archivist, admin, auditor)", body = Problem),
    ))]
#[get("/locations")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<LocationQuery>,
) -> Result<web::Json<LocationList>, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let (parent, clearance) = (query.parent_id, caller.user.clearance);
    let items = state
        .db(move |conn| {
            store::locations::children(conn, parent)?
                .into_iter()
                .map(|place| with_holdings(conn, place, clearance))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(web::Json(LocationList { items }))
}

/// Read a place, with how many archives it holds.
#[utoipa::path(get, path = "/api/v1/locations/{id}", operation_id = "getLocation", tag = "archive-room",
    params(("id" = Uuid, Path, description = "Location id")),
    responses(
        (status = 200, description = "The place, with its ETag", body = LocationDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not archive staff (archivist, admin, auditor)", body = Problem),
        (status = 404, description = "No such place", body = Problem),
    ))]
#[get("/locations/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let (id, clearance) = (id.into_inner(), caller.user.clearance);
    let place = state
        .db(move |conn| {
            let place = store::locations::get(conn, id)?;
            with_holdings(conn, place, clearance)
        })
        .await?;
    Ok(location_response(StatusCode::OK, place))
}

/// Read the place a scanned shelf barcode names.
#[utoipa::path(get, path = "/api/v1/locations/by-barcode/{barcode}", operation_id = "getLocationByBarcode", tag = "archive-room",
    params(("barcode" = String, Path, description = "The place's barcode")),
    responses(
        (status = 200, description = "The place, with its ETag", body = LocationDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not archive staff (archivist, admin, auditor)", body = Problem),
        (status = 404, description = "No place has this barcode", body = Problem),
    ))]
#[get("/locations/by-barcode/{barcode}")]
pub async fn by_barcode(
    state: web::Data<AppState>,
    caller: CurrentUser,
    barcode: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let (barcode, clearance) = (barcode.into_inner(), caller.user.clearance);
    let place = state
        .db(move |conn| {
            let place = store::locations::by_barcode(conn, &barcode)?;
            with_holdings(conn, place, clearance)
        })
        .await?;
    Ok(location_response(StatusCode::OK, place))
}

/// Rename, recode or move a place.
#[utoipa::path(patch, path = "/api/v1/locations/{id}", operation_id = "updateLocation", tag = "archive-room", request_body = UpdateLocationRequest,
    params(
        ("id" = Uuid, Path, description = "Location id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if it changed since"),
    ),
    responses(
        (status = 200, description = "The changed place", body = LocationDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such place", body = Problem),
        (status = 409, description = "`duplicate_code`: the barcode, or the new path, is taken", body = Problem),
        (status = 412, description = "`precondition_failed`", body = Problem),
        (status = 422, description = "Invalid fields, a missing parent, or a parent beneath the place itself", body = Problem),
    ))]
#[patch("/locations/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateLocationRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let r = body.accept()?;
    let patch = LocationPatch {
        parent_id: r.parent_id,
        code: r.code.map(|c| c.trim().to_owned()),
        name: r.name.map(|n| n.trim().to_owned()),
        barcode: r.barcode.map(|b| b.trim().to_owned()),
    };
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let clearance = caller.user.clearance;
    let place = state
        .db(move |conn| {
            let place = locations::update(conn, now, actor, id, patch, if_match.0)?;
            with_holdings(conn, place, clearance)
        })
        .await?;
    Ok(location_response(StatusCode::OK, place))
}

/// Move archives onto a place: scan the shelf, then the archives. All or none; each move is
/// audited with where the archive came from.
#[utoipa::path(post, path = "/api/v1/locations/{id}/moves", operation_id = "moveArchivesToLocation", tag = "archive-room", request_body = MoveRequest,
    params(("id" = Uuid, Path, description = "Location id")),
    responses(
        (status = 200, description = "The archives, on their new place", body = ArchiveList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such place", body = Problem),
        (status = 412, description = "`precondition_failed`: an archive changed while it moved", body = Problem),
        (status = 422, description = "No archive named, or one that does not exist for you (`barcodes[2]`)", body = Problem),
    ))]
#[post("/locations/{id}/moves")]
pub async fn move_archives(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: ValidJson<MoveRequest>,
) -> Result<web::Json<ArchiveList>, ApiError> {
    caller.require(Capability::Catalogue)?;
    let r = body.accept()?;
    let moves = Moves {
        archive_ids: r.archive_ids,
        barcodes: r
            .barcodes
            .into_iter()
            .map(|b| b.trim().to_owned())
            .collect(),
    };
    let (now, by, id) = (
        state.clock.now(),
        (caller.id(), caller.user.clearance),
        id.into_inner(),
    );
    let moved = state
        .db(move |conn| locations::move_archives(conn, now, by, id, moves))
        .await?;
    Ok(web::Json(ArchiveList {
        items: moved.into_iter().map(ArchiveDto::from).collect(),
        next_cursor: None,
    }))
}
