//! The return form as `multipart/form-data`: the inspection's fields as parts, and up to ten
//! photos sealed into the file store as they stream in.

use crate::{
    dto::loans::ReturnBody,
    error::{ApiError, ErrorCode},
    extract::parse_checked,
    files::serve::{multipart_error, upload_error},
    files::Files,
    state::AppState,
};
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use dangan_domain::file::{check_file_name, MAX_RETURN_PHOTOS};
use dangan_persistence::store::files::NewFile;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most bytes of a text part of the return form.
const MAX_TEXT_BYTES: usize = 4096;

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
