//! Photos taken at the desk when an archive comes back: sent with the return as
//! `multipart/form-data`, sealed into the file store like archive files, listed with their
//! digests on the voucher and in the compliance report, read by whoever may see the loan.

use actix_web::{get, web, HttpResponse};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{ApiError, Problem},
    files::serve::{check, failed_check, send, Sealed},
    state::AppState,
};

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
