//! Photos taken at the desk when an archive comes back: sent with the return as
//! `multipart/form-data`, sealed into the file store like archive files, listed with their
//! digests on the voucher and in the compliance report, read by whoever may see the loan.

use actix_multipart::Multipart;
use actix_web::{get, web, HttpRequest, HttpResponse};
use dangan_domain::file::{check_file_name, MAX_RETURN_PHOTOS};
use dangan_persistence::{cases::photos::Photo, store::files::NewFile};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, ErrorCode, Problem},
    extract::parse_checked,
    files::serve::{check, failed_check, multipart_error, send, upload_error, Sealed},
    files::Files,
    routes::loans::ReturnBody,
    state::AppState,
};

/// The most bytes of a text part of the return form.
const MAX_TEXT_BYTES: usize = 4096;

/// A photo taken at the desk as evidence of a returned archive's condition.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoDto {
    pub id: Uuid,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the photo as taken; also in the return's audit event.
    pub sha256: String,
    /// The incident the return opened, if it opened one.
    pub incident_id: Option<Uuid>,
    pub taken_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
}

impl From<Photo> for PhotoDto {
    fn from(p: Photo) -> Self {
        PhotoDto {
            id: p.id,
            name: p.name,
            media_type: p.media_type,
            size_bytes: p.size_bytes,
            sha256: p.sha256,
            incident_id: p.incident_id,
            taken_by: p.taken_by,
            taken_at: p.taken_at,
        }
    }
}

/// The return as a form, with photos (`multipart/form-data`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ReturnForm {
    #[schema(min_length = 1, max_length = 64)]
    pub barcode: String,
    pub condition: dangan_domain::loan::Condition,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    /// Up to 10 photos (PNG, JPEG, TIFF, WebP), each a part named `photo`.
    #[schema(value_type = Vec<String>, format = Binary, max_items = 10, max_length = 1073741824)]
    pub photo: Vec<Vec<u8>>,
}

async fn text(mut field: actix_multipart::Field, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(piece) = field.next().await {
        bytes.extend_from_slice(&piece.map_err(multipart_error)?);
        if bytes.len() > MAX_TEXT_BYTES {
            return Err(ApiError::field(name, "is too long"));
        }
    }
    String::from_utf8(bytes).map_err(|_| ApiError::field(name, "must be UTF-8 text"))
}

/// Reads the form's parts, sealing each photo into `store` as it arrives (recorded in
/// `photos`, for the caller to remove if the return does not happen).
async fn read_parts(
    store: &Files,
    mut form: Multipart,
    photos: &mut Vec<NewFile>,
) -> Result<ReturnBody, ApiError> {
    let mut fields = serde_json::Map::new();
    while let Some(field) = form.next().await {
        let field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "barcode" | "condition" | "notes" => {
                let value = text(field, &name).await?;
                fields.insert(name, serde_json::Value::String(value));
            }
            "photo" => {
                if photos.len() == MAX_RETURN_PHOTOS {
                    return Err(ApiError::field(
                        "photo",
                        format!("at most {MAX_RETURN_PHOTOS} photos a return"),
                    ));
                }
                let file_name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .map(check_file_name)
                    .unwrap_or_else(|| Ok("photo".to_owned()))
                    .map_err(|e| ApiError::field("photo", &e.message))?;
                let declared = field.content_type().map(|m| m.essence_str().to_owned());
                let id = Uuid::now_v7();
                let stored = store
                    .put(id, field.map_err(|e| e.to_string()))
                    .await
                    .map_err(|e| upload_error(e, store.max_bytes))?;
                let new = NewFile {
                    id,
                    name: file_name,
                    media_type: stored.kind.media_type(declared.as_deref()),
                    size_bytes: i64::try_from(stored.size_bytes).unwrap_or(i64::MAX),
                    sha256: stored.sha256,
                    wrapped_key: hex::encode(&stored.wrapped_key),
                };
                photos.push(new);
                if !stored.kind.is_image() {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedMediaType,
                        "a photo is a PNG, JPEG, TIFF or WebP image",
                    ));
                }
            }
            other => {
                return Err(ApiError::field(
                    "body",
                    format!("a return has no part named {other:?}"),
                ))
            }
        }
    }
    let body =
        serde_json::to_vec(&serde_json::Value::Object(fields)).map_err(ApiError::internal)?;
    parse_checked::<ReturnBody>(&body)
}

/// The return and its photos from a `multipart/form-data` body; the photos are in the store,
/// and the caller removes them (`forget`) if the return is refused.
pub async fn read_return(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(ReturnBody, Vec<NewFile>), ApiError> {
    let store = &*state.files;
    let form = Multipart::new(req.headers(), payload.into_inner());
    let mut photos = Vec::new();
    match read_parts(store, form, &mut photos).await {
        Ok(body) => Ok((body, photos)),
        Err(refused) => {
            forget(store, &photos).await;
            Err(refused)
        }
    }
}

/// Removes stored photos of a return that did not happen.
pub async fn forget(store: &Files, photos: &[NewFile]) {
    for photo in photos {
        if let Err(e) = store.delete(photo.id).await {
            log::warn!(
                "left photo {} of a refused return in the store: {e}",
                photo.id
            );
        }
    }
}

/// Whether the request's body is a form with parts.
pub fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        })
}

/// A photo taken at a loan's return (whoever may see the loan), checked before it is sent; each
/// reading is audited (`loan.photo_read`).
#[utoipa::path(get, path = "/api/v1/loans/{id}/photos/{photo_id}", operation_id = "readReturnPhoto", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id"), ("photo_id" = Uuid, Path, description = "Photo id")),
    responses(
        (status = 200, description = "The photo, with `Repr-Digest` (its SHA-256)", content((Vec<u8> = "image/*"), (Vec<u8> = "application/*"))),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such loan visible to you, or no such photo of it", body = Problem),
        (status = 409, description = "`file_failed_check`: the stored photo is not what was taken", body = Problem),
        (status = 503, description = "The file store did not answer", body = Problem),
    ))]
#[get("/loans/{id}/photos/{photo_id}")]
pub async fn read(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let store = &*state.files;
    let (loan_id, photo_id) = path.into_inner();
    let viewer = caller.user.clone();
    let (photo, wrapped) = state
        .db(move |conn| dangan_persistence::cases::photos::get(conn, &viewer, loan_id, photo_id))
        .await?;
    let wrapped = hex::decode(&wrapped).map_err(ApiError::internal)?;
    if let Err(failure) = check(store, photo.id, &wrapped, &photo.sha256).await {
        return Err(failed_check(&failure.reason()?));
    }
    let (now, reader, read) = (state.clock.now(), caller.user.clone(), photo.clone());
    state
        .db(move |conn| {
            dangan_persistence::cases::photos::record_reading(conn, now, &reader, &read)
        })
        .await?;
    send(
        store,
        Sealed {
            id: photo.id,
            wrapped: &wrapped,
            sha256: &photo.sha256,
            name: &photo.name,
            media_type: &photo.media_type,
            size_bytes: photo.size_bytes,
        },
    )
    .await
}
