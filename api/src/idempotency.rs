//! `Idempotency-Key` on mutating POSTs: the same key from the same user within 24 hours replays
//! the first response (same status and body) and does nothing again; the same key with another
//! request is refused with 422 `idempotency_key_reused`; a duplicate that arrives while the first
//! still runs gets 409 `idempotency_in_progress`. The database decides, so this holds across
//! instances.

use actix_web::{
    body::{to_bytes, BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{header, Method, StatusCode},
    middleware::Next,
    web, Error, HttpMessage, HttpResponse, ResponseError,
};
use dangan_persistence::store::idempotency::{self, Claim, StoredResponse};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::{
    auth::AccessToken,
    error::{ApiError, ErrorCode},
    state::AppState,
};

pub const HEADER: &str = "idempotency-key";
/// The longest key accepted; the document states the same bound.
pub const MAX_KEY_LENGTH: usize = 255;

fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

/// Whether a first response is worth replaying: not a server fault, and not an answer about the
/// caller's credentials or rate that a retry should get afresh.
fn replayable(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::TOO_MANY_REQUESTS)
}

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = req
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_owned));
    let (Some(key), true) = (key, req.method() == Method::POST) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(key) = key.ok().filter(|k| {
        (1..=MAX_KEY_LENGTH).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
    }) else {
        return Ok(refuse(
            req,
            ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters, no spaces"
            )),
        ));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Keys belong to users whose login is still open: a token of a login since ended, or of a
    // user since disabled, replays nothing; the handler answers it 401 as usual.
    let Some(token) = AccessToken::signed(req.request()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if state.db_as(token, |_, _| Ok(())).await.is_err() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    // No more is read than the endpoint itself would take.
    let limit = if req.path().ends_with("/import") {
        crate::IMPORT_LIMIT
    } else {
        crate::JSON_LIMIT
    };

    let mut body = web::BytesMut::new();
    let mut payload = req.take_payload();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                return Ok(refuse(
                    req,
                    ApiError::bad_request(format!("could not read the body: {e}")),
                ))
            }
        };
        if body.len() + chunk.len() > limit {
            return Ok(refuse(
                req,
                ApiError::new(ErrorCode::PayloadTooLarge, "the body is too large"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update([0]);
    hasher.update(req.uri().to_string());
    hasher.update([0]);
    hasher.update(req.content_type());
    hasher.update([0]);
    hasher.update(&body);
    let request_hash = hex::encode(hasher.finalize());
    req.set_payload(Payload::from(body));

    let (user_id, now) = (token.user_id, state.clock.now());
    let claim_key = key.clone();
    let claim = state
        .db(move |conn| idempotency::claim(conn, now, user_id, &claim_key, &request_hash))
        .await;
    match claim {
        Err(error) => Ok(refuse(req, error)),
        Ok(Claim::Mismatch) => Ok(refuse(
            req,
            ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for a different request",
            ),
        )),
        Ok(Claim::InProgress) => Ok(refuse(
            req,
            ApiError::new(
                ErrorCode::IdempotencyInProgress,
                "a request with this Idempotency-Key is still running",
            ),
        )),
        Ok(Claim::Replay(stored)) => {
            let mut response =
                HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
            if let Some(content_type) = stored.content_type {
                response.insert_header((header::CONTENT_TYPE, content_type));
            }
            if let Some(location) = stored.location {
                response.insert_header((header::LOCATION, location));
            }
            response.insert_header(("idempotent-replayed", "true"));
            Ok(req.into_response(response.body(stored.body)))
        }
        Ok(Claim::Fresh) => {
            let response = next.call(req).await?;
            let status = response.status();
            let text_of = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (content_type, location) =
                (text_of(header::CONTENT_TYPE), text_of(header::LOCATION));
            let (request, response) = response.into_parts();
            let (response, body) = response.into_parts();
            let bytes = to_bytes(body)
                .await
                .map_err(|e| ApiError::internal(e.into()))?;
            let record = if replayable(status) {
                let stored = StoredResponse {
                    status: status.as_u16(),
                    content_type,
                    body: bytes.to_vec(),
                    location,
                };
                state
                    .db(move |conn| idempotency::finish(conn, user_id, &key, &stored))
                    .await
            } else {
                state
                    .db(move |conn| idempotency::release(conn, user_id, &key))
                    .await
            };
            if let Err(error) = record {
                log::error!("idempotency key not recorded: {error}");
            }
            Ok(ServiceResponse::new(
                request,
                response.set_body(bytes).map_into_boxed_body(),
            ))
        }
    }
}
