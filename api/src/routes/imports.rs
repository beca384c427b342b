//! Bulk import of archives and users from CSV (a header row with the field names) or JSON
//! `{"items": [...]}`: every row checked, all or nothing, row numbers as a spreadsheet shows them.

use actix_web::{http::header, http::StatusCode, post, web, HttpRequest, HttpResponse};
use dangan_domain::{
    access::Capability,
    archive::{column_named, ledger_value, ArchiveFields, FIELD_NAMES, REQUIRED_FIELDS},
    user::{UserImport, IMPORT_FIELD_NAMES},
    FieldError,
};
use dangan_persistence::{
    cases::{
        archives::{self, Cataloguer},
        users::{self, UserImportRow},
    },
    import::{ImportMode, ImportOutcome, ImportRequest, ImportRow, RowError},
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::{self, CurrentUser},
    dto::archives::CreateArchiveRequest,
    error::{ApiError, ErrorCode, Problem},
    state::{blocking, AppState},
};

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
    #[param(inline)]
    pub mode: Option<ImportModeParam>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportRowError {
    /// The row as a spreadsheet numbers it (the header is row 1); for JSON, the item's position from 1.
    pub row: i64,
    /// The field (or unknown column, cut to its first 64 characters) the error is about.
    #[schema(max_length = 64)]
    pub field: String,
    pub message: String,
    /// The cell of a workbook the error is about (`D17`); none for CSV, JSON, or a whole row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
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
    "detail": "2 row error(s); nothing was imported", "code": "validation_failed",
    "created": 0, "updated": 0, "unchanged": 0, "errors_total": 2,
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
    /// How many row errors there were; `errors` lists the first 1000.
    pub errors_total: i64,
    #[schema(max_items = 1000)]
    pub errors: Vec<ImportRowError>,
}

/// What a refused import answers: its row errors, or (for a body that is not an import at all,
/// such as JSON without `items`) the field errors of any other request. Documentation only.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ImportRefusal {
    Rows(ImportProblem),
    Fields(Problem),
}

/// The JSON form of an archive import: the CSV's columns as keys.
#[derive(ToSchema)]
#[schema(example = json!({"items": [{"archive_code": "WS-2019-Y-0042", "barcode": "B000042",
    "title": "2019年劳动合同", "category": "人事", "classification": "internal", "medium": "paper",
    "location": "A-03-12-05", "year": 2019}]}))]
#[allow(dead_code)]
pub struct ArchiveImport {
    items: Vec<CreateArchiveRequest>,
}

/// The JSON form of a user import: the CSV's columns as keys, values as text.
#[derive(ToSchema)]
#[schema(example = json!({"items": [{"username": "zhangsan", "display_name": "张三",
    "password": "zhangsan-2026", "department_code": "HR", "roles": "archivist;auditor",
    "clearance": "secret", "email": "zs@example.org"}]}))]
#[allow(dead_code)]
pub struct UserImportBody {
    items: Vec<UserImportItem>,
}

/// One user of a JSON user import.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserImportItem {
    username: String,
    display_name: Option<String>,
    /// Required for a new user; resets the password of an existing one.
    password: Option<String>,
    department_id: Option<uuid::Uuid>,
    /// The department by the code people know it by (instead of `department_id`).
    department_code: Option<String>,
    /// Roles separated by `;` (or `|`).
    roles: Option<String>,
    clearance: dangan_domain::Classification,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
    Xlsx,
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
        Some(m) if m.essence_str() == ledger::XLSX => Ok(Format::Xlsx),
        _ => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send text/csv (with a header row), application/json ({\"items\": [...]}) or an \
             .xlsx workbook (a heading row on its first sheet)",
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

use crate::ledger::{self, Texts};

fn lookup<'a>(texts: &'a Texts, name: &str) -> Option<&'a str> {
    texts
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// Rows numbered as their writer sees them, each read into texts or refused.
type RawRows = Vec<(i64, Result<Texts, Vec<RowError>>)>;

fn rows_from_csv(
    bytes: &[u8],
    names: &'static [&'static str],
    required: &[&str],
    noun: &str,
) -> Result<RawRows, Vec<RowError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| {
            vec![RowError::new(
                1,
                "",
                format!("not readable as UTF-8 CSV: {e}"),
            )]
        })?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut columns = Vec::new();
    let mut errors = Vec::new();
    for header in &headers {
        match names.iter().find(|n| **n == header.as_str()) {
            Some(name) => columns.push(*name),
            None => errors.push(RowError::new(
                1,
                header,
                format!("is not a field of {noun}"),
            )),
        }
    }
    for name in required {
        if !headers.iter().any(|h| h == name) {
            errors.push(RowError::new(1, name, "column is missing"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(reader
        .records()
        .enumerate()
        .map(|(index, record)| {
            let row = i64::try_from(index).unwrap_or(i64::MAX - 2) + 2;
            let texts = record
                .map(|record| {
                    columns
                        .iter()
                        .copied()
                        .zip(record.iter().map(str::to_owned))
                        .collect()
                })
                .map_err(|e| vec![RowError::new(row, "", format!("not readable: {e}"))]);
            (row, texts)
        })
        .collect())
}

#[derive(Deserialize)]
struct JsonImport {
    items: Vec<serde_json::Map<String, serde_json::Value>>,
}

fn rows_from_json(
    bytes: &[u8],
    names: &'static [&'static str],
    noun: &str,
) -> Result<RawRows, ApiError> {
    let import: JsonImport = crate::extract::parse_json(bytes)?;
    Ok(import
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let row = i64::try_from(index).unwrap_or(i64::MAX - 1) + 1;
            let mut texts = Texts::new();
            let mut errors = Vec::new();
            for (key, value) in item {
                let Some(&name) = names.iter().find(|n| *n == key) else {
                    errors.push(RowError::new(row, key, format!("is not a field of {noun}")));
                    continue;
                };
                match value {
                    serde_json::Value::Null => {}
                    serde_json::Value::String(s) => texts.push((name, s.clone())),
                    serde_json::Value::Number(n) => texts.push((name, n.to_string())),
                    _ => errors.push(RowError::new(row, name, "must be text or a number")),
                }
            }
            (
                row,
                if errors.is_empty() {
                    Ok(texts)
                } else {
                    Err(errors)
                },
            )
        })
        .collect())
}

/// The rows of an import, each checked by `parse`, or every error found.
type Parsed<T> = Result<Vec<ImportRow<T>>, Vec<RowError>>;

/// The column letter each field was read from in a workbook (none for CSV and JSON), so that
/// an error can name its cell.
type Columns = Vec<(&'static str, String)>;

/// How a workbook's headings and words are read: the archivist's Chinese headings and terms for
/// archives, the field names as they are for users.
struct Reading {
    column: fn(&str) -> Option<&'static str>,
    value: fn(&str, &str) -> String,
}

fn parse_rows<T>(
    format: Format,
    bytes: &[u8],
    names: &'static [&'static str],
    required: &[&str],
    noun: &str,
    reading: Reading,
    parse: impl Fn(&Texts) -> Result<T, Vec<FieldError>>,
) -> Result<(Parsed<T>, Columns), ApiError> {
    let mut columns = Columns::new();
    let raw = match format {
        Format::Csv => match rows_from_csv(bytes, names, required, noun) {
            Ok(raw) => raw,
            Err(errors) => return Ok((Err(errors), columns)),
        },
        Format::Json => rows_from_json(bytes, names, noun)?,
        Format::Xlsx => match ledger::read(bytes, reading.column, required, noun, reading.value) {
            Ok(sheet) => {
                columns = sheet.columns;
                sheet.rows
            }
            Err(errors) => return Ok((Err(errors), columns)),
        },
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (row, texts) in raw {
        match texts.and_then(|texts| {
            parse(&texts).map_err(|e| {
                e.into_iter()
                    .map(|e| RowError::new(row, &e.field, e.message))
                    .collect()
            })
        }) {
            Ok(fields) => rows.push(ImportRow { row, fields }),
            Err(mut e) => errors.append(&mut e),
        }
    }
    Ok((
        if errors.is_empty() {
            Ok(rows)
        } else {
            Err(errors)
        },
        columns,
    ))
}

fn import_request(query: &ImportQuery, format: Format, payload_sha256: String) -> ImportRequest {
    ImportRequest {
        mode: match query.mode.unwrap_or_default() {
            ImportModeParam::Upsert => ImportMode::Upsert,
            ImportModeParam::Insert => ImportMode::Insert,
        },
        dry_run: query.dry_run.unwrap_or(false),
        payload_sha256,
        format: match format {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
        },
    }
}

fn answer(outcome: ImportOutcome, columns: &Columns) -> HttpResponse {
    match outcome {
        ImportOutcome::Done(counts) => HttpResponse::Ok().json(ImportResult {
            created: counts.created,
            updated: counts.updated,
            unchanged: counts.unchanged,
            errors: Vec::new(),
        }),
        ImportOutcome::Refused(errors) => refused(errors, columns),
    }
}

/// The most row errors an answer lists: a spreadsheet of 300 000 bad rows would otherwise come
/// back as tens of megabytes of errors. The first ones show what is wrong; `errors_total` says
/// how many there were.
pub const MAX_LISTED_ERRORS: usize = 1000;

fn refused(errors: Vec<RowError>, columns: &Columns) -> HttpResponse {
    let cell = |row: i64, field: &str| {
        columns
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, letters)| format!("{letters}{row}"))
    };
    let total = errors.len();
    let detail = if total > MAX_LISTED_ERRORS {
        format!("{total} row error(s), the first {MAX_LISTED_ERRORS} listed; nothing was imported")
    } else {
        format!("{total} row error(s); nothing was imported")
    };
    let problem = ImportProblem {
        type_: "urn:dangan:problem:validation_failed".into(),
        title: "Validation failed".into(),
        status: 422,
        detail,
        code: "validation_failed".into(),
        created: 0,
        updated: 0,
        unchanged: 0,
        errors_total: i64::try_from(total).unwrap_or(i64::MAX),
        errors: errors
            .into_iter()
            .take(MAX_LISTED_ERRORS)
            .map(|e| ImportRowError {
                cell: cell(e.row, &e.field),
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
#[utoipa::path(post, path = "/api/v1/archives/import", operation_id = "importArchives", tag = "archives", params(ImportQuery),
    request_body(
        description = "CSV with a header row of field names (UTF-8, BOM allowed), JSON `{\"items\": [archive fields...]}`, \
            or an .xlsx workbook whose first sheet has a heading row of field names or the ledger's Chinese headings \
            (档号, 题名, 密级, 保管期限, 件号 …) and the ledger's words for values (秘密, 纸质, 永久, 定期30年 …)",
        content(
            (String = "text/csv", example = "archive_code,barcode,title,category,classification,medium,location,year\nWS-2019-Y-0042,B000042,2019年劳动合同,人事,internal,paper,A-03-12-05,2019\n"),
            (ArchiveImport = "application/json"),
            (crate::ledger::XlsxWorkbook = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )
    ),
    responses(
        (status = 200, description = "Imported (or, with dry_run, would import)", body = ImportResult),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 413, description = "Over 64 MiB", body = Problem),
        (status = 415, description = "Neither text/csv, application/json nor an .xlsx workbook", body = Problem),
        (status = 422, description = "Row errors (or, for a body that is no import, field errors); nothing written", body = ImportRefusal, content_type = "application/problem+json"),
    ))]
#[post("/archives/import")]
pub async fn import_archives(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let format = format_of(&req)?;
    let bytes = read_limited(&req, payload, crate::IMPORT_LIMIT).await?;
    let clearance = caller.user.clearance;
    let (parsed, payload_sha256) = blocking(move || {
        let reading = Reading {
            column: column_named,
            value: ledger_value,
        };
        let parsed = parse_rows(
            format,
            &bytes,
            &FIELD_NAMES,
            &REQUIRED_FIELDS,
            "an archive",
            reading,
            |texts| ArchiveFields::parse(|name| lookup(texts, name), clearance),
        )?;
        Ok((parsed, hex::encode(Sha256::digest(&bytes))))
    })
    .await?;
    let (parsed, columns) = parsed;
    let rows = match parsed {
        Ok(rows) => rows,
        Err(errors) => return Ok(refused(errors, &columns)),
    };
    let request = import_request(&query, format, payload_sha256);
    let by = Cataloguer {
        id: caller.id(),
        clearance,
    };
    let now = state.clock.now();
    let outcome = state
        .db(move |conn| archives::import(conn, now, by, rows, &request))
        .await?;
    Ok(answer(outcome, &columns))
}

/// Create and update users (keyed by username), all or nothing.
#[utoipa::path(post, path = "/api/v1/users/import", operation_id = "importUsers", tag = "users", params(ImportQuery),
    request_body(
        description = "CSV with a header row (username, display_name, password, department_id or department_code, \
            roles separated by `;`, clearance, email, phone), or JSON `{\"items\": [...]}` with the same keys. \
            A password is required for new users and resets it for existing ones.",
        content(
            (String = "text/csv", example = "username,display_name,password,department_code,roles,clearance,email\nzhangsan,张三,zhangsan-2026,HR,archivist;auditor,secret,zs@example.org\n"),
            (UserImportBody = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Imported (or, with dry_run, would import)", body = ImportResult),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 413, description = "Over 64 MiB", body = Problem),
        (status = 415, description = "Neither text/csv nor application/json", body = Problem),
        (status = 422, description = "Row errors (or, for a body that is no import, field errors); nothing written", body = ImportRefusal, content_type = "application/problem+json"),
    ))]
#[post("/users/import")]
pub async fn import_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let format = format_of(&req)?;
    let bytes = read_limited(&req, payload, crate::IMPORT_LIMIT).await?;
    let (parsed, payload_sha256) = blocking(move || {
        let reading = Reading {
            column: |heading| IMPORT_FIELD_NAMES.iter().copied().find(|n| *n == heading),
            value: |_, text| text.to_owned(),
        };
        let parsed = parse_rows(
            format,
            &bytes,
            &IMPORT_FIELD_NAMES,
            &["username", "clearance"],
            "a user",
            reading,
            |texts| UserImport::parse(|name| lookup(texts, name)),
        )?;
        Ok((parsed, hex::encode(Sha256::digest(&bytes))))
    })
    .await?;
    let (parsed, columns) = parsed;
    let rows = match parsed {
        Ok(rows) => rows,
        Err(errors) => return Ok(refused(errors, &columns)),
    };
    // Hashing is the slow part (argon2id, by design): done once per row that carries a password.
    let rows = blocking(move || {
        rows.into_iter()
            .map(|r| {
                let password_hash = r
                    .fields
                    .password
                    .as_deref()
                    .map(auth::hash_password)
                    .transpose()?;
                Ok(ImportRow {
                    row: r.row,
                    fields: UserImportRow {
                        import: r.fields,
                        password_hash,
                    },
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    let request = import_request(&query, format, payload_sha256);
    let (now, actor) = (state.clock.now(), caller.id());
    let outcome = state
        .db(move |conn| users::import(conn, now, actor, rows, &request))
        .await?;
    Ok(answer(outcome, &columns))
}
