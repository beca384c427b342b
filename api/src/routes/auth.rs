//! Login, token refresh and logout.

use actix_web::{post, web, HttpRequest, HttpResponse};
use dangan_persistence::{
    cases::logins::{self, Refresh},
    store::{sessions::NewRefreshToken, users},
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::sign_in::{admit, client_address, token_pair, tokens, TokenPair};
use crate::{
    auth::{self, CurrentUser, REFRESH_TTL},
    error::{ApiError, ErrorCode, Problem},
    extract::ValidJson,
    state::{blocking, AppState},
};

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "zhangsan", "password": "correct horse battery"}))]
pub struct LoginRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "drt_5f0c…"}))]
pub struct RefreshRequest {
    #[schema(min_length = 1, max_length = 4096)]
    pub refresh_token: String,
}

/// Log in with username and password.
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 401, description = "Unknown user or wrong password (the same answer for both)", body = Problem,
            example = json!({"type": "urn:dangan:problem:invalid_credentials", "title": "Invalid username or password", "status": 401, "detail": "invalid username or password", "code": "invalid_credentials"})),
        (status = 403, description = "The account is disabled, or password sign-in is turned off (`password_login_disabled`)", body = Problem),
        (status = 422, description = "Missing fields", body = Problem),
        (status = 429, description = "Too many failures for this account or address; see Retry-After", body = Problem),
    ))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.accept()?;
    if !state.password_login {
        return Err(ApiError::new(
            ErrorCode::PasswordLoginDisabled,
            "password sign-in is turned off here: sign in with the organisation's provider",
        ));
    }
    let address = client_address(&req);
    let username_key = username.trim().to_lowercase();
    let now = state.clock.now();
    let attempt = admit(&state, &username_key, &address).await?;

    let key = username_key.clone();
    let found = state
        .db(move |conn| users::find_credentials(conn, &key))
        .await?;
    let (user, password_ok) = blocking(move || {
        let hash = found
            .as_ref()
            .map_or(auth::DUMMY_PASSWORD_HASH, |(_, hash)| hash.as_str());
        let ok = auth::verify_password(&password, hash);
        Ok((found.map(|(user, _)| user), ok))
    })
    .await?;

    let user = match user {
        Some(user) if password_ok => user,
        _ => {
            let user_id = user.map(|u| u.id);
            state
                .db(move |conn| {
                    logins::record_failure(conn, now, &username_key, &address, user_id, &attempt)
                })
                .await?;
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "invalid username or password",
            ));
        }
    };
    if user.status != dangan_domain::UserStatus::Active {
        state
            .db(move |conn| logins::forget_attempt(conn, &username_key, &attempt))
            .await?;
        return Err(ApiError::new(
            ErrorCode::AccountDisabled,
            "this account has been disabled",
        ));
    }

    let (refresh_token, token_hash) = auth::new_refresh_token();
    let first_refresh = NewRefreshToken {
        token_hash,
        expires_at: now + REFRESH_TTL,
    };
    let user_id = user.id;
    let session_id = state
        .db(move |conn| {
            logins::start_session(
                conn,
                now,
                user_id,
                &username_key,
                &address,
                &attempt,
                first_refresh,
            )
        })
        .await?;
    let access_token = state.jwt.issue(user_id, session_id, now)?;
    Ok(tokens(token_pair(access_token, refresh_token)))
}

/// Exchange a refresh token for a new pair. The old one is spent; presenting it again ends the
/// whole login (every token of it).
#[utoipa::path(post, path = "/api/v1/auth/refresh", operation_id = "refreshTokens", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "Unknown, expired, spent or revoked refresh token", body = Problem),
        (status = 422, description = "Missing field", body = Problem),
    ))]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: ValidJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = auth::hash_token(&body.accept()?.refresh_token);
    let now = state.clock.now();
    let (refresh_token, token_hash) = auth::new_refresh_token();
    let next = NewRefreshToken {
        token_hash,
        expires_at: now + REFRESH_TTL,
    };
    let session_max = state.session_max;
    let outcome = state
        .db(move |conn| logins::rotate_refresh(conn, now, &presented, next, session_max))
        .await?;
    match outcome {
        Refresh::Rotated {
            user_id,
            session_id,
        } => {
            let access_token = state.jwt.issue(user_id, session_id, now)?;
            Ok(tokens(token_pair(access_token, refresh_token)))
        }
        Refresh::Refused => Err(ApiError::unauthorized("the refresh token is not valid")),
        Refresh::ReuseDetected => Err(ApiError::unauthorized(
            "the refresh token was already used; the login has been revoked",
        )),
    }
}

/// End the login that a refresh token belongs to.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out (also when the token was already spent)"),
        (status = 401, description = "No valid access token", body = Problem),
        (status = 422, description = "Missing field", body = Problem),
    ))]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = auth::hash_token(&body.accept()?.refresh_token);
    let now = state.clock.now();
    let caller_id = caller.id();
    state
        .db(move |conn| logins::logout(conn, now, caller_id, &presented))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
