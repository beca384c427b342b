//! Electronic files of an archive: uploaded by an archivist (streamed into the store, sealed on
//! the way), listed to whoever may see the archive, read back by archivists, retired.

use actix_multipart::Multipart;
use actix_web::{delete, get, post, web, HttpResponse};
use dangan_domain::{
    access::Capability,
    file::{check_file_name, sees_original},
};
use dangan_persistence::{
    cases::files::{self, Reading},
    store::{
        self,
        files::{ArchiveFile, NewFile},
    },
};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    files::serve::{
        check, check_markable, multipart_error, refuse_failed, send, upload_error, Sealed,
    },
    routes::created,
    state::AppState,
};

/// An electronic file of an archive. Its bytes are stored sealed with a key of its own.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b31", "archive_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b21",
    "name": "2019年劳动合同.pdf", "media_type": "application/pdf", "size_bytes": 482133,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "uploaded_by": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11", "uploaded_at": "2026-12-01T08:00:00Z"
}))]
pub struct ArchiveFileDto {
    pub id: Uuid,
    pub archive_id: Uuid,
    /// The name it was uploaded under (its last path segment).
    pub name: String,
    /// What the file is, judged by its first bytes: PDF, an image, an office document.
    pub media_type: String,
    /// Its size in bytes; `null` for readers who are not staff (a borrower is not shown the
    /// original's size or digest).
    pub size_bytes: Option<i64>,
    /// Hex SHA-256 of the file as uploaded; also in the upload's audit event. `null` for
    /// readers who are not staff.
    pub sha256: Option<String>,
    pub uploaded_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
}

impl ArchiveFileDto {
    /// The file as `viewer` is shown it.
    fn shown_to(f: ArchiveFile, viewer: &dangan_domain::access::Principal) -> Self {
        let original = sees_original(viewer);
        ArchiveFileDto {
            id: f.id,
            archive_id: f.archive_id,
            name: f.name,
            media_type: f.media_type,
            size_bytes: Some(f.size_bytes).filter(|_| original),
            sha256: Some(f.sha256).filter(|_| original),
            uploaded_by: f.uploaded_by,
            uploaded_at: f.uploaded_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArchiveFileList {
    pub items: Vec<ArchiveFileDto>,
}

/// The upload form: one part named `file`, and no other.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FileUpload {
    /// The file: PDF, PNG, JPEG, TIFF, WebP, or an office document (docx/xlsx/pptx/odt/doc/xls).
    /// At most `DANGAN_FILES_MAX_BYTES` (1 GiB unless set otherwise).
    #[schema(value_type = String, format = Binary, max_length = 1073741824)]
    pub file: Vec<u8>,
}

/// Upload a file to an archive (archivist or admin).
///
/// `multipart/form-data` with one part named `file`. The file is streamed into the store, sealed
/// on the way with a key of its own (AES-256-GCM), never held whole in memory; its kind is judged
/// by its first bytes. The upload's audit event carries the file's SHA-256.
#[utoipa::path(post, path = "/api/v1/archives/{id}/files", operation_id = "uploadArchiveFile", tag = "archives",
    params(("id" = Uuid, Path, description = "Archive id")),
    request_body(content = FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored; `Location` names it", body = ArchiveFileDto),
        (status = 400, description = "A multipart body that does not parse or broke off", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such archive within your clearance", body = Problem),
        (status = 413, description = "Larger than `DANGAN_FILES_MAX_BYTES`", body = Problem),
        (status = 415, description = "Not multipart, or not a kind of file an archive keeps", body = Problem,
            example = json!({"type": "urn:dangan:problem:unsupported_media_type", "title": "Unsupported content type", "status": 415, "detail": "not a kind of file an archive keeps: PDF, PNG, JPEG, TIFF, WebP or an office document", "code": "unsupported_media_type"})),
        (status = 422, description = "No part named `file`, another part, no file name, an empty file, or a PDF (up to 32 MiB; larger ones are weighed before each marking) beyond its marking budget (its object streams unpack to more than 1 MiB and 16 times its size, or hold more than 10,000 tokens and one per two bytes)", body = Problem),
        (status = 503, description = "The file store did not take the file, or too many copies are being marked to weigh a PDF now (see `Retry-After`)", body = Problem),
    ))]
#[post("/archives/{id}/files")]
pub async fn upload(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    mut body: Multipart,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let store = &*state.files;
    let archive_id = id.into_inner();
    let viewer = caller.user.clone();
    state
        .db(move |conn| store::files::archive(conn, &viewer, archive_id))
        .await?;
    let Some(field) = body.next().await else {
        return Err(ApiError::field("file", "is required: a part named `file`"));
    };
    let field = field.map_err(multipart_error)?;
    if field.name() != Some("file") {
        return Err(ApiError::field(
            "file",
            "is the only part an upload has (the form allows no other)",
        ));
    }
    let name = field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .map(check_file_name)
        .unwrap_or_else(|| Err(dangan_domain::FieldError::new("file", "needs a file name")))
        .map_err(|e| ApiError::field("file", &e.message))?;
    let declared = field.content_type().map(|m| m.essence_str().to_owned());
    let file_id = Uuid::now_v7();
    let max_bytes = store.max_bytes;
    let stored = store
        .put(file_id, field.map_err(|e| e.to_string()))
        .await
        .map_err(|e| upload_error(e, max_bytes))?;
    if let Err(refused) = check_markable(store, file_id, &stored).await {
        if let Err(cleanup) = store.delete(file_id).await {
            log::warn!("left a refused file {file_id} in the store: {cleanup}");
        }
        return Err(refused);
    }
    let new = NewFile {
        id: file_id,
        name,
        media_type: stored.kind.media_type(declared.as_deref()),
        size_bytes: i64::try_from(stored.size_bytes).unwrap_or(i64::MAX),
        sha256: stored.sha256,
        wrapped_key: hex::encode(&stored.wrapped_key),
    };
    let (now, actor) = (state.clock.now(), caller.user.clone());
    let recorded = state
        .db(move |conn| files::add(conn, now, &actor, archive_id, new))
        .await;
    let file = match recorded {
        Ok(file) => file,
        Err(e) => {
            if let Err(cleanup) = store.delete(file_id).await {
                log::warn!("left an unrecorded file {file_id} in the store: {cleanup}");
            }
            return Err(e);
        }
    };
    let location = format!("/api/v1/archives/{archive_id}/files/{}", file.id);
    Ok(created(
        HttpResponse::Created().json(ArchiveFileDto::shown_to(file, &caller.principal())),
        location,
    ))
}

/// The files of an archive, oldest first (whoever may see the archive).
#[utoipa::path(get, path = "/api/v1/archives/{id}/files", operation_id = "listArchiveFiles", tag = "archives",
    params(("id" = Uuid, Path, description = "Archive id")),
    responses(
        (status = 200, description = "The files that are not retired", body = ArchiveFileList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such archive within your clearance", body = Problem),
    ))]
#[get("/archives/{id}/files")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<ArchiveFileList>, ApiError> {
    let archive_id = id.into_inner();
    let viewer = caller.principal();
    let items = state
        .db(move |conn| files::list(conn, &caller.user, archive_id))
        .await?;
    Ok(web::Json(ArchiveFileList {
        items: items
            .into_iter()
            .map(|f| ArchiveFileDto::shown_to(f, &viewer))
            .collect(),
    }))
}

/// Read a file of an archive (archivist or admin; borrowers read through an online loan).
///
/// Every chunk and the whole file's SHA-256 are checked before a byte is sent: a stored file
/// that was changed, cut short or swapped is refused (409 `file_failed_check`, audited). Each
/// reading is audited: who, which file, when, how many bytes.
#[utoipa::path(get, path = "/api/v1/archives/{id}/files/{file_id}", operation_id = "readArchiveFile", tag = "archives",
    params(("id" = Uuid, Path, description = "Archive id"), ("file_id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, description = "The file as its `media_type` (a PDF, an image, an office document), with `Repr-Digest` (its SHA-256) and `Content-Disposition`",
            content((Vec<u8> = "application/*"), (Vec<u8> = "image/*"))),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such archive within your clearance, or no such file", body = Problem),
        (status = 409, description = "`file_failed_check`: the stored file is not what was uploaded", body = Problem,
            example = json!({"type": "urn:dangan:problem:file_failed_check", "title": "The stored file fails its integrity check", "status": 409, "detail": "the stored file fails its integrity check: it was changed or damaged in the store", "code": "file_failed_check"})),
        (status = 503, description = "The file store did not answer", body = Problem),
    ))]
#[get("/archives/{id}/files/{file_id}")]
pub async fn read(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let store = &*state.files;
    let (archive_id, file_id) = path.into_inner();
    let viewer = caller.user.clone();
    let (file, wrapped) = state
        .db(move |conn| store::files::get(conn, &viewer, archive_id, file_id))
        .await?;
    let wrapped = hex::decode(&wrapped).map_err(ApiError::internal)?;
    if let Err(failure) = check(store, file.id, &wrapped, &file.sha256).await {
        return Err(refuse_failed(&state, &caller, &file, failure.reason()?).await);
    }
    let (now, reader, read) = (state.clock.now(), caller.user.clone(), file.clone());
    state
        .db(move |conn| files::record_reading(conn, now, &reader, &read, Reading::Sent))
        .await?;
    send(
        store,
        Sealed {
            id: file.id,
            wrapped: &wrapped,
            sha256: &file.sha256,
            name: &file.name,
            media_type: &file.media_type,
            size_bytes: file.size_bytes,
        },
    )
    .await
}

/// Retire a file (archivist or admin): no longer listed or readable; its sealed bytes are
/// removed from the store and its key forgotten. Audited.
#[utoipa::path(delete, path = "/api/v1/archives/{id}/files/{file_id}", operation_id = "retireArchiveFile", tag = "archives",
    params(("id" = Uuid, Path, description = "Archive id"), ("file_id" = Uuid, Path, description = "File id")),
    responses(
        (status = 204, description = "Retired"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such archive within your clearance, or no such file", body = Problem),
    ))]
#[delete("/archives/{id}/files/{file_id}")]
pub async fn retire(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Catalogue)?;
    let store = &*state.files;
    let (archive_id, file_id) = path.into_inner();
    let now = state.clock.now();
    state
        .db(move |conn| files::retire(conn, now, &caller.user, archive_id, file_id))
        .await?;
    if let Err(e) = store.delete(file_id).await {
        // The key is gone already: what is left in the store can never be read.
        log::warn!("retired file {file_id} stays sealed in the store: {e}");
    }
    Ok(HttpResponse::NoContent().finish())
}
