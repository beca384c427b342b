//! Bulk import of archives from CSV (a header row with the field names) or JSON `{"items": [...]}`:
//! every row checked, all or nothing, row numbers as a spreadsheet shows them.

use actix_web::{http::header, http::StatusCode, post, web, HttpRequest, HttpResponse};
use dangan_domain::{
    archive::{ArchiveFields, FIELD_NAMES},
    Classification,
};
use dangan_persistence::archives::{
    self, Cataloguer, ImportMode, ImportOutcome, ImportRequest, ImportRow, RowError,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::CurrentUser,
    error::{ApiError, ErrorCode, Problem},
    routes::archives::CATALOGUERS,
    state::{blocking, AppState},
};

/// Import bodies may be this large (other JSON bodies: 1 MiB).
pub const IMPORT_LIMIT: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportModeParam {
    #[default]
    Upsert,
    Insert,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportQuery {
    /// Check everything, write nothing.
    pub dry_run: Option<bool>,
    /// `upsert` (default: keyed by `archive_code`) or `insert` (existing codes are errors).
    #[param(value_type = Option<String>)]
    pub mode: Option<ImportModeParam>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportRowError {
    /// The row as a spreadsheet numbers it (the header is row 1); for JSON, the item's position from 1.
    pub row: i64,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"created": 998, "updated": 2, "unchanged": 0, "errors": []}))]
pub struct ImportResult {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub errors: Vec<ImportRowError>,
}

/// A refused import: problem details plus every row error; nothing was written.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:dangan:problem:validation_failed", "title": "Validation failed", "status": 422,
    "detail": "2 rows have errors; nothing was imported", "code": "validation_failed",
    "created": 0, "updated": 0, "unchanged": 0,
    "errors": [{"row": 3, "field": "classification", "message": "\"secrte\" is not one of public, internal, secret, confidential, top_secret"},
               {"row": 7, "field": "archive_code", "message": "repeats row 2"}]
}))]
pub struct ImportProblem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub errors: Vec<ImportRowError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

fn format_of(req: &HttpRequest) -> Result<Format, ApiError> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok());
    match mime {
        Some(m) if m.type_() == mime::TEXT && m.subtype() == mime::CSV => Ok(Format::Csv),
        Some(m) if m.type_() == mime::APPLICATION && m.subtype() == mime::JSON => Ok(Format::Json),
        _ => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send text/csv (with a header row) or application/json ({\"items\": [...]})",
        )),
    }
}

/// Reads the whole body, refusing it with 413 as soon as it passes `limit`.
pub async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

type Parsed = Result<Vec<ImportRow>, Vec<RowError>>;

fn collect(results: Vec<(i64, Result<ArchiveFields, Vec<RowError>>)>) -> Parsed {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (row, result) in results {
        match result {
            Ok(fields) => rows.push(ImportRow { row, fields }),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn parse_fields<'a>(
    row: i64,
    get: impl Fn(&str) -> Option<&'a str>,
    clearance: Classification,
) -> Result<ArchiveFields, Vec<RowError>> {
    ArchiveFields::parse(get, clearance).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| RowError::new(row, e.field, e.message))
            .collect()
    })
}

fn parse_csv(bytes: &[u8], clearance: Classification) -> Parsed {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| {
            vec![RowError::new(
                1,
                "",
                format!("not readable as UTF-8 CSV: {e}"),
            )]
        })?
        .clone();
    let mut errors: Vec<RowError> = headers
        .iter()
        .filter(|h| !FIELD_NAMES.contains(h))
        .map(|h| RowError::new(1, h, "is not a field of an archive"))
        .collect();
    for required in [
        "archive_code",
        "barcode",
        "title",
        "category",
        "classification",
        "medium",
        "location",
    ] {
        if !headers.iter().any(|h| h == required) {
            errors.push(RowError::new(1, required, "column is missing"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut results = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = i64::try_from(index).unwrap_or(i64::MAX - 2) + 2;
        let result = match record {
            Ok(record) => parse_fields(
                row,
                |name| {
                    headers
                        .iter()
                        .position(|h| h == name)
                        .and_then(|i| record.get(i))
                },
                clearance,
            ),
            Err(e) => Err(vec![RowError::new(row, "", format!("not readable: {e}"))]),
        };
        results.push((row, result));
    }
    collect(results)
}

#[derive(Deserialize)]
struct JsonImport {
    items: Vec<serde_json::Map<String, serde_json::Value>>,
}

fn parse_json(bytes: &[u8], clearance: Classification) -> Result<Parsed, ApiError> {
    let import: JsonImport = crate::extract::parse_json(bytes)?;
    let mut results = Vec::new();
    for (index, item) in import.items.iter().enumerate() {
        let row = i64::try_from(index).unwrap_or(i64::MAX - 1) + 1;
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for (key, value) in item {
            let Some(&name) = FIELD_NAMES.iter().find(|n| *n == key) else {
                errors.push(RowError::new(row, key, "is not a field of an archive"));
                continue;
            };
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => texts.push((name, s.clone())),
                serde_json::Value::Number(n) => texts.push((name, n.to_string())),
                _ => errors.push(RowError::new(row, name, "must be text or a number")),
            }
        }
        let result = if errors.is_empty() {
            parse_fields(
                row,
                |name| {
                    texts
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.as_str())
                },
                clearance,
            )
        } else {
            Err(errors)
        };
        results.push((row, result));
    }
    Ok(collect(results))
}

fn refused(errors: Vec<RowError>) -> HttpResponse {
    let problem = ImportProblem {
        type_: "urn:dangan:problem:validation_failed".into(),
        title: "Validation failed".into(),
        status: 422,
        detail: format!("{} row error(s); nothing was imported", errors.len()),
        code: "validation_failed".into(),
        created: 0,
        updated: 0,
        unchanged: 0,
        errors: errors
            .into_iter()
            .map(|e| ImportRowError {
                row: e.row,
                field: e.field,
                message: e.message,
            })
            .collect(),
    };
    HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY)
        .content_type("application/problem+json")
        .json(problem)
}

/// Import archives, all or nothing.
#[utoipa::path(post, path = "/api/v1/archives/import", tag = "archives", params(ImportQuery),
    request_body(
        description = "CSV with a header row of field names (UTF-8, BOM allowed), or JSON `{\"items\": [archive fields...]}`",
        content(
            (String = "text/csv", example = "archive_code,barcode,title,category,classification,medium,location,year\nWS-2019-Y-0042,B000042,2019年劳动合同,人事,internal,paper,A-03-12-05,2019\n"),
            (crate::routes::archives::CreateArchiveRequest = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Imported (or, with dry_run, would import)", body = ImportResult),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 413, description = "Over 64 MiB", body = Problem),
        (status = 415, description = "Neither text/csv nor application/json", body = Problem),
        (status = 422, description = "Row errors; nothing written", body = ImportProblem, content_type = "application/problem+json"),
    ))]
#[post("/archives/import")]
pub async fn import_archives(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(CATALOGUERS)?;
    let format = format_of(&req)?;
    let bytes = read_limited(&req, payload, IMPORT_LIMIT).await?;
    let clearance = caller.user.clearance;
    let (parsed, payload_sha256) = blocking(move || {
        let sha = hex::encode(Sha256::digest(&bytes));
        let parsed = match format {
            Format::Csv => parse_csv(&bytes, clearance),
            Format::Json => parse_json(&bytes, clearance)?,
        };
        Ok((parsed, sha))
    })
    .await?;
    let rows = match parsed {
        Ok(rows) => rows,
        Err(errors) => return Ok(refused(errors)),
    };
    let request = ImportRequest {
        mode: match query.mode.unwrap_or_default() {
            ImportModeParam::Upsert => ImportMode::Upsert,
            ImportModeParam::Insert => ImportMode::Insert,
        },
        dry_run: query.dry_run.unwrap_or(false),
        payload_sha256,
        format: match format {
            Format::Csv => "csv",
            Format::Json => "json",
        },
    };
    let (now, by) = (
        state.clock.now(),
        Cataloguer {
            id: caller.id(),
            clearance,
        },
    );
    let outcome = state
        .db(move |conn| archives::import(conn, now, by, rows, &request))
        .await?;
    Ok(match outcome {
        ImportOutcome::Done(counts) => HttpResponse::Ok().json(ImportResult {
            created: counts.created,
            updated: counts.updated,
            unchanged: counts.unchanged,
            errors: Vec::new(),
        }),
        ImportOutcome::Refused(errors) => refused(errors),
    })
}
