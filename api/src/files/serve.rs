//! Files over HTTP: the answers an upload's failures get, a stored file checked through before a
//! byte is sent and then streamed with its digest and name, a failed check audited, and the
//! answer when markings queue up. Shared by every handler that takes or sends a file.

use actix_multipart::MultipartError;
use actix_web::{body::SizedStream, http::header, web, HttpResponse};
use base64::Engine;
use dangan_domain::file::FileKind;
use dangan_persistence::{
    cases::files::{self, Reading},
    store::files::ArchiveFile,
};
use futures_util::TryStreamExt;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, ErrorCode},
    files::{
        marking::{self, Busy},
        weigh, Files, FilesError, Stored,
    },
    state::AppState,
};

/// Why an upload was refused, in the words of its answer.
pub fn upload_error(error: FilesError, max_bytes: u64) -> ApiError {
    match error {
        FilesError::TooLarge(_) => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the file is larger than {max_bytes} bytes (DANGAN_FILES_MAX_BYTES)"),
        ),
        FilesError::Refused => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "not a kind of file an archive keeps: PDF, PNG, JPEG, TIFF, WebP or an office document",
        ),
        FilesError::Empty => ApiError::field("file", "is empty"),
        FilesError::Source(e) => ApiError::bad_request(format!("the upload broke off: {e}")),
        FilesError::Store(e) => {
            log::error!("file store: {e}");
            ApiError::new(
                ErrorCode::Unavailable,
                "the file store did not take the file",
            )
        }
        FilesError::Crypto(e) => ApiError::internal(e),
    }
}

pub fn multipart_error(error: MultipartError) -> ApiError {
    match error {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the file as multipart/form-data with a part named `file`",
        ),
        other => ApiError::bad_request(format!("invalid multipart body: {other}")),
    }
}

/// The answer when too many markings wait already.
pub fn busy(_: Busy) -> ApiError {
    ApiError {
        retry_after_secs: Some(marking::RETRY_AFTER_SECS),
        ..ApiError::new(
            ErrorCode::Unavailable,
            "too many copies are being marked; retry in a few seconds",
        )
    }
}

/// Why a stored file failed its check, or that the store did not answer.
pub enum CheckFailure {
    Failed(String),
    Unavailable,
}

impl CheckFailure {
    /// The reason to audit and tell, or 503 when the store did not answer.
    pub fn reason(self) -> Result<String, ApiError> {
        match self {
            CheckFailure::Failed(reason) => Ok(reason),
            CheckFailure::Unavailable => Err(ApiError::new(
                ErrorCode::Unavailable,
                "the file store did not answer",
            )),
        }
    }
}

/// Audits that `file` failed its check when `caller` asked for it, and says so.
pub async fn refuse_failed(
    state: &web::Data<AppState>,
    caller: &CurrentUser,
    file: &ArchiveFile,
    reason: String,
) -> ApiError {
    let (now, reader, failed) = (state.clock.now(), caller.user.clone(), file.clone());
    let noted = reason.clone();
    let audited = state
        .db(move |conn| {
            let reading = Reading::FailedCheck { reason: &noted };
            files::record_reading(conn, now, &reader, &failed, reading)
        })
        .await;
    match audited {
        Ok(()) => failed_check(&reason),
        Err(e) => e,
    }
}

pub fn failed_check(reason: &str) -> ApiError {
    ApiError::new(
        ErrorCode::FileFailedCheck,
        format!("{reason}: it was changed or damaged in the store"),
    )
}

/// Reads a sealed file through and checks every chunk and its digest.
pub async fn check(
    store: &Files,
    id: Uuid,
    wrapped: &[u8],
    sha256: &str,
) -> Result<(), CheckFailure> {
    match store.verify(id, wrapped, sha256).await {
        Ok(()) => Ok(()),
        Err(FilesError::Store(object_store::Error::NotFound { .. })) => Err(CheckFailure::Failed(
            "the file is missing from the store".to_owned(),
        )),
        Err(FilesError::Store(e)) => {
            log::error!("file store: {e}");
            Err(CheckFailure::Unavailable)
        }
        Err(other) => Err(CheckFailure::Failed(other.to_string())),
    }
}

/// A sealed file to send, and what to say of it.
pub struct Sealed<'a> {
    pub id: Uuid,
    pub wrapped: &'a [u8],
    pub sha256: &'a str,
    pub name: &'a str,
    pub media_type: &'a str,
    pub size_bytes: i64,
}

/// Streams a checked sealed file, opened, with its digest and name.
pub async fn send(store: &Files, file: Sealed<'_>) -> Result<HttpResponse, ApiError> {
    let file_id = file.id;
    let plain = store
        .read(file.id, file.wrapped)
        .await
        .map_err(|e| match e {
            FilesError::Store(e) => {
                log::error!("file store: {e}");
                ApiError::new(ErrorCode::Unavailable, "the file store did not answer")
            }
            other => ApiError::internal(other),
        })?
        .map_err(move |e| {
            // Checked a moment ago; a failure now is the store changing under the read.
            log::error!("reading file {file_id}: {e}");
            actix_web::Error::from(ApiError::internal(e))
        });
    let size = u64::try_from(file.size_bytes).map_err(ApiError::internal)?;
    Ok(file_response(file.media_type, file.name, file.sha256)?
        .body(SizedStream::new(size, Box::pin(plain))))
}

/// A 200 for a file's bytes: its type, name (as an attachment), digest (`Repr-Digest`), never
/// sniffed, never cached.
pub fn file_response(
    media_type: &str,
    name: &str,
    sha256: &str,
) -> Result<actix_web::HttpResponseBuilder, ApiError> {
    let digest = hex::decode(sha256).map_err(ApiError::internal)?;
    let mut response = HttpResponse::Ok();
    response
        .content_type(media_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            header::ContentDisposition {
                disposition: header::DispositionType::Attachment,
                parameters: vec![header::DispositionParam::FilenameExt(
                    header::ExtendedValue {
                        charset: header::Charset::Ext("UTF-8".into()),
                        language_tag: None,
                        value: name.as_bytes().to_vec(),
                    },
                )],
            },
        ))
        .insert_header((
            "Repr-Digest",
            format!(
                "sha-256=:{}:",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(response)
}

/// The largest PDF weighed at upload: it is read back whole for it, and an upload stays a
/// stream (a 200 MB upload holds under 100 MB). A larger one is weighed before each marking,
/// where it is refused the same way and never handed out.
const WEIGHED_AT_UPLOAD: u64 = 32 << 20;

/// A PDF is lent only as a marked copy, and marking it must stay within the budget of its size:
/// a file beyond it (a small file that unpacks to gigabytes) is refused now, before it can
/// reach a borrower or the marker. Read back whole, in a turn at marking.
pub async fn check_markable(store: &Files, file_id: Uuid, stored: &Stored) -> Result<(), ApiError> {
    if stored.kind != FileKind::Pdf || stored.size_bytes > WEIGHED_AT_UPLOAD {
        return Ok(());
    }
    let _turn = store.marking.turn(file_id).await.map_err(busy)?;
    let plain = store
        .read_whole(
            file_id,
            &stored.wrapped_key,
            &stored.sha256,
            stored.size_bytes,
            WEIGHED_AT_UPLOAD as usize,
        )
        .await
        .map_err(ApiError::internal)?;
    let weighed = web::block(move || weigh::check(&plain))
        .await
        .map_err(ApiError::internal)?;
    weighed.map_err(|over| {
        ApiError::field(
            "file",
            format!("is a PDF that cannot be lent as a marked copy: {over}"),
        )
    })
}
