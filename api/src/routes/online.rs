//! Online loans: the borrower reads the archive's files through the loan — each PDF a copy
//! marked for them, each copy recorded with its digest — until the loan ends; they may give it
//! back early, an archivist may revoke it, and a copy found outside is traced to its loan.

use actix_web::{get, http::StatusCode, post, web, HttpResponse};
use dangan_domain::{
    access::Capability,
    file::{handing, CopyMark, Handing},
};
use dangan_persistence::{
    cases::online::{self, Copy, NewCopy, Reading},
    store::loans::StoredLoan,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    dto::loans::{loan_response, CopyDto, LoanDto},
    error::{ApiError, ErrorCode, Problem},
    extract::ValidJson,
    files::{
        mark::{fingerprints, mark_pdf, MarkError, MAX_MARKED_BYTES},
        marking::MarkedCopy,
        serve::{busy, check, file_response, multipart_error, refuse_failed, send, Sealed},
        FilesError,
    },
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct CopyList {
    pub items: Vec<CopyDto>,
}

/// A copy found by its digest, with the loan it was handed out by.
#[derive(Debug, Serialize, ToSchema)]
pub struct TracedCopy {
    pub copy: CopyDto,
    pub loan: LoanDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TracedCopyList {
    pub items: Vec<TracedCopy>,
}

impl TracedCopyList {
    fn new(found: Vec<(Copy, StoredLoan)>, now: OffsetDateTime) -> TracedCopyList {
        TracedCopyList {
            items: found
                .into_iter()
                .map(|(copy, loan)| TracedCopy {
                    copy: copy.into(),
                    loan: LoanDto::new(loan, now),
                })
                .collect(),
        }
    }
}

/// Read a file of an online loan (its borrower, while the loan is open).
///
/// A PDF comes as a copy marked for the reader: on every page a line naming the borrower, the
/// loan's number, the copy and the time, the borrower's name and loan number faint across the
/// page, and the copy's fingerprint as invisible text. The copy is written whole, one revision
/// with every page's content replaced: nothing of the unmarked original is left in it to cut
/// back to, and a digital signature inside the original does not verify on it. Other kinds
/// come as stored. Every copy is recorded with its digest (`GET /loans/{id}/copies`) and
/// audited (`loan.file_read`: who, which file, when, bytes); `POST /loan-copies/identify`
/// finds it again by its fingerprint, even re-saved.
#[utoipa::path(get, path = "/api/v1/loans/{id}/files/{file_id}", operation_id = "readOnlineLoanFile", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id"), ("file_id" = Uuid, Path, description = "File id (see `GET /archives/{id}/files`)")),
    responses(
        (status = 200, description = "The copy, with `Repr-Digest` (the copy's SHA-256) and `Content-Disposition`",
            content((Vec<u8> = "application/pdf"), (Vec<u8> = "application/*"), (Vec<u8> = "image/*"))),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "Not your online loan, the archive is above your clearance now, or no such file", body = Problem),
        (status = 409, description = "`loan_not_open` (it opens later), `file_failed_check`, `file_not_markable` (a PDF that cannot be read, is over 256 MiB or beyond its marking budget is not handed out unmarked; nor is a file that cannot be marked where the loan's `unmarked_copies` is false)", body = Problem,
            example = json!({"type": "urn:dangan:problem:loan_not_open", "title": "The loan has not opened yet", "status": 409, "detail": "the online loan opens at 2026-12-07T01:00:00Z", "code": "loan_not_open"})),
        (status = 410, description = "`loan_ended`: due, given back, revoked, or ended with your account", body = Problem,
            example = json!({"type": "urn:dangan:problem:loan_ended", "title": "The loan has ended", "status": 410, "detail": "the online loan has ended: its files are no longer readable", "code": "loan_ended"})),
        (status = 503, description = "The file store did not answer, or too many copies are being marked (see `Retry-After`)", body = Problem),
    ))]
#[get("/loans/{id}/files/{file_id}")]
pub async fn read(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let store = &*state.files;
    let (loan_id, file_id) = path.into_inner();
    let (now, reader) = (state.clock.now(), caller.user.clone());
    let reading = state
        .db(move |conn| online::reading(conn, now, &reader, loan_id, file_id))
        .await?;
    let wrapped = hex::decode(&reading.wrapped_key).map_err(ApiError::internal)?;
    let file = &reading.file;
    let copy_id = Uuid::now_v7();
    if handing(&file.media_type, reading.loan.unmarked_copies)? == Handing::AsStored {
        if let Err(failure) = check(store, file.id, &wrapped, &file.sha256).await {
            return Err(refuse_failed(&state, &caller, file, failure.reason()?).await);
        }
        let copy = NewCopy {
            id: copy_id,
            sha256: file.sha256.clone(),
            size_bytes: file.size_bytes,
            marked: false,
        };
        record(&state, &caller, &reading, copy).await?;
        return send(
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
        .await;
    }
    let loan_id = reading.loan.id;
    if let Some(kept) = store.marking.kept(loan_id, file.id, now) {
        return hand_again(&state, &caller, &reading, kept).await;
    }
    let _turn = store.marking.turn(loan_id).await.map_err(busy)?;
    // The loan's marking before this one may have made this very copy meanwhile.
    if let Some(kept) = store.marking.kept(loan_id, file.id, now) {
        return hand_again(&state, &caller, &reading, kept).await;
    }
    let size = u64::try_from(file.size_bytes).map_err(ApiError::internal)?;
    let read = store
        .read_whole(file.id, &wrapped, &file.sha256, size, MAX_MARKED_BYTES)
        .await;
    let plain = match read {
        Ok(plain) => plain,
        Err(FilesError::TooLarge(_)) => return Err(not_markable(&MarkError::TooLarge)),
        Err(FilesError::Store(object_store::Error::NotFound { .. })) => {
            let reason = "the file is missing from the store".to_owned();
            return Err(refuse_failed(&state, &caller, file, reason).await);
        }
        Err(FilesError::Store(e)) => {
            log::error!("file store: {e}");
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "the file store did not answer",
            ));
        }
        Err(other) => return Err(refuse_failed(&state, &caller, file, other.to_string()).await),
    };
    let mark = CopyMark::new(
        &reading.number,
        &caller.user.username,
        caller.user.id,
        copy_id,
        now,
    );
    let marked = web::block(move || mark_pdf(plain, &mark, copy_id))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| not_markable(&e))?;
    let kept = MarkedCopy {
        copy_id,
        sha256: hex::encode(Sha256::digest(&marked)),
        bytes: marked.into(),
    };
    store.marking.keep(loan_id, file.id, now, kept.clone());
    hand_again(&state, &caller, &reading, kept).await
}

/// Records and sends a marked copy: made just now, or kept from a moment ago for the same loan
/// (recorded again as read, the same copy).
async fn hand_again(
    state: &web::Data<AppState>,
    caller: &CurrentUser,
    reading: &Reading,
    kept: MarkedCopy,
) -> Result<HttpResponse, ApiError> {
    let copy = NewCopy {
        id: kept.copy_id,
        sha256: kept.sha256.clone(),
        size_bytes: i64::try_from(kept.bytes.len()).map_err(ApiError::internal)?,
        marked: true,
    };
    record(state, caller, reading, copy).await?;
    let file = &reading.file;
    Ok(file_response(&file.media_type, &file.name, &kept.sha256)?.body(kept.bytes))
}

fn not_markable(error: &MarkError) -> ApiError {
    ApiError::new(
        ErrorCode::FileNotMarkable,
        format!("{error}; PDFs are lent only as marked copies"),
    )
}

async fn record(
    state: &web::Data<AppState>,
    caller: &CurrentUser,
    reading: &Reading,
    copy: NewCopy,
) -> Result<Copy, ApiError> {
    let (now, reader, reading) = (state.clock.now(), caller.user.clone(), reading.clone());
    state
        .db(move |conn| online::record_copy(conn, now, &reader, &reading, copy))
        .await
}

/// The copies an online loan handed out, oldest first (archivists, admins and auditors, within
/// clearance, and the borrower).
#[utoipa::path(get, path = "/api/v1/loans/{id}/copies", operation_id = "listLoanCopies", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")),
    responses(
        (status = 200, description = "Every copy with its digest", body = CopyList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
    ))]
#[get("/loans/{id}/copies")]
pub async fn copies(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<CopyList>, ApiError> {
    let loan_id = id.into_inner();
    let items = state
        .db(move |conn| online::copies(conn, &caller.user, loan_id))
        .await?;
    Ok(web::Json(CopyList {
        items: items.into_iter().map(CopyDto::from).collect(),
    }))
}

/// Trace a copy found outside by its SHA-256 (archivists, admins, auditors; within clearance):
/// the copies with that digest and the loans — borrowers — they were handed out to.
#[utoipa::path(get, path = "/api/v1/loan-copies/{sha256}", operation_id = "traceLoanCopy", tag = "circulation",
    params(("sha256" = String, Path, description = "Hex SHA-256 of the copy found", pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The copies with this digest (none: not a copy Dangan handed out, or above your clearance)", body = TracedCopyList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist, admin or auditor", body = Problem),
        (status = 422, description = "Not a SHA-256 in hex", body = Problem),
    ))]
#[get("/loan-copies/{sha256}")]
pub async fn trace(
    state: web::Data<AppState>,
    caller: CurrentUser,
    sha256: web::Path<String>,
) -> Result<web::Json<TracedCopyList>, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let sha256 = sha256.into_inner();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field("sha256", "must be 64 hex digits"));
    }
    let now = state.clock.now();
    let found = state
        .db(move |conn| online::trace(conn, &caller.user, &sha256))
        .await?;
    Ok(web::Json(TracedCopyList::new(found, now)))
}

/// The upload form of a suspected leak: one part named `file`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SuspectedCopy {
    /// The PDF found outside: as handed out, or re-saved by a viewer or a PDF tool.
    #[schema(value_type = String, format = Binary, max_length = 268435456)]
    pub file: Vec<u8>,
}

/// Identify the loan a leaked copy came from by the fingerprints in its pages (archivists,
/// admins, auditors; within clearance).
///
/// Every page of a marked copy carries its copy's fingerprint in its content, which survives a
/// viewer or a PDF tool re-saving the file (whose digest then matches nothing): the copies it
/// names, with their loans and borrowers. None: not a copy Dangan handed out, or above your
/// clearance.
#[utoipa::path(post, path = "/api/v1/loan-copies/identify", operation_id = "identifyLoanCopy", tag = "circulation",
    request_body(content = SuspectedCopy, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The copies its pages name", body = TracedCopyList),
        (status = 400, description = "A multipart body that does not parse or broke off", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist, admin or auditor", body = Problem),
        (status = 413, description = "Larger than 256 MiB", body = Problem),
        (status = 415, description = "Not multipart", body = Problem),
        (status = 422, description = "No part named `file`, or not a PDF that can be read", body = Problem),
    ))]
#[post("/loan-copies/identify")]
pub async fn identify(
    state: web::Data<AppState>,
    caller: CurrentUser,
    mut body: actix_multipart::Multipart,
) -> Result<web::Json<TracedCopyList>, ApiError> {
    caller.require(Capability::ReadAllLending)?;
    let Some(field) = futures_util::StreamExt::next(&mut body).await else {
        return Err(ApiError::field("file", "is required: a part named `file`"));
    };
    let mut field = field.map_err(multipart_error)?;
    if field.name() != Some("file") {
        return Err(ApiError::field(
            "file",
            "is the only part (the form allows no other)",
        ));
    }
    let mut pdf = Vec::new();
    while let Some(piece) = futures_util::StreamExt::next(&mut field).await {
        let piece = piece.map_err(multipart_error)?;
        if pdf.len() + piece.len() > MAX_MARKED_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("a suspected copy is at most {MAX_MARKED_BYTES} bytes"),
            ));
        }
        pdf.extend_from_slice(&piece);
    }
    let ids = web::block(move || fingerprints(&pdf))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::field("file", format!("is not a PDF that can be read: {e}")))?;
    let now = state.clock.now();
    let found = state
        .db(move |conn| online::identify(conn, &caller.user, &ids))
        .await?;
    Ok(web::Json(TracedCopyList::new(found, now)))
}

/// Give an online loan back before its due date (its borrower): reading ends at once.
#[utoipa::path(post, path = "/api/v1/loans/{id}/give-back", operation_id = "giveBackOnlineLoan", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")),
    responses(
        (status = 200, description = "The loan, `returned` with `end_reason: returned`", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not the borrower", body = Problem),
        (status = 404, description = "No such loan visible to you", body = Problem),
        (status = 409, description = "`invalid_transition`: a paper loan (returned at the desk), or ended already", body = Problem),
    ))]
#[post("/loans/{id}/give-back")]
pub async fn give_back(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (loan_id, now) = (id.into_inner(), state.clock.now());
    let loan = state
        .db(move |conn| online::give_back(conn, now, &caller.user, loan_id))
        .await?;
    Ok(loan_response(StatusCode::OK, loan, now))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"reason": "用途已变更 / purpose withdrawn by the department"}))]
pub struct RevokeBody {
    /// Why, for the borrower and the audit trail.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: String,
}

/// Revoke someone's online loan (archivist or admin, within clearance): reading ends at once.
#[utoipa::path(post, path = "/api/v1/loans/{id}/revoke", operation_id = "revokeOnlineLoan", tag = "circulation",
    params(("id" = Uuid, Path, description = "Loan id")), request_body = RevokeBody,
    responses(
        (status = 200, description = "The loan, `returned` with `end_reason: revoked`", body = LoanDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an archivist or admin", body = Problem),
        (status = 404, description = "No such loan within your clearance", body = Problem),
        (status = 409, description = "`invalid_transition`: a paper loan, or ended already", body = Problem),
        (status = 422, description = "No reason given", body = Problem),
    ))]
#[post("/loans/{id}/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: ValidJson<RevokeBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Circulate)?;
    let reason = body.accept()?.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(ApiError::field("reason", "must say why"));
    }
    let (loan_id, now) = (id.into_inner(), state.clock.now());
    let loan = state
        .db(move |conn| online::revoke(conn, now, &caller.user, loan_id, &reason))
        .await?;
    Ok(loan_response(StatusCode::OK, loan, now))
}
