//! What every way of signing in shares: the token pair a session answers with, the client
//! address failures are counted against (and whether its proxy is trusted), and the admission
//! of a password check under the login throttle.

use crate::{auth::ACCESS_TTL, error::ApiError, state::AppState};
use actix_web::{web, HttpRequest, HttpResponse};
use dangan_persistence::cases::logins::{self, Attempt, CountedAttempt};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9…",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "drt_5f0c…"
}))]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: each refresh returns a new one and spends the old.
    pub refresh_token: String,
    /// What `access_token` is, in RFC 8693's words: only in answer to a token exchange
    /// (`POST /auth/oidc/token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "urn:ietf:params:oauth:token-type:access_token")]
    pub issued_token_type: Option<String>,
}

/// Tokens are never kept by a cache or proxy on the way (RFC 6749 §5.1).
pub fn tokens(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::PRAGMA, "no-cache"))
        .json(pair)
}

pub fn token_pair(access_token: String, refresh_token: String) -> TokenPair {
    TokenPair {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ACCESS_TTL.whole_seconds(),
        refresh_token,
        issued_token_type: None,
    }
}

/// The client address failures are counted against: the TCP peer, unless the peer is a trusted
/// proxy (`DANGAN_TRUSTED_PROXIES`); then the nearest address in `X-Forwarded-For` that is not
/// itself a trusted proxy (the right-most ones were added by proxies we trust; anything further
/// left could be written by the client).
pub fn client_address(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|addr| addr.ip()) else {
        return "unknown".to_owned();
    };
    let trusted = |ip: std::net::IpAddr| is_trusted_proxy(req, ip);
    if !trusted(peer) {
        return peer.to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted(*ip))
        .unwrap_or(peer)
        .to_string()
}

fn is_trusted_proxy(req: &HttpRequest, ip: std::net::IpAddr) -> bool {
    req.app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.trusted_proxies.iter().any(|p| p.admits_address(ip)))
}

/// Whether the request came through a proxy of `DANGAN_TRUSTED_PROXIES`, whose forwarded
/// headers (`X-Forwarded-Host`, `-Proto`, `-For`) may then be believed.
pub fn through_trusted_proxy(req: &HttpRequest) -> bool {
    req.peer_addr()
        .is_some_and(|addr| is_trusted_proxy(req, addr.ip()))
}

/// Admits a password check for the name `username_key` from `address`, already counted as a
/// failure (`logins::begin_attempt`), or answers 429 with the wait.
pub async fn admit(
    state: &AppState,
    username_key: &str,
    address: &str,
) -> Result<CountedAttempt, ApiError> {
    let (now, policy) = (state.clock.now(), state.throttle);
    let (key, addr) = (username_key.to_owned(), address.to_owned());
    match state
        .db(move |conn| logins::begin_attempt(conn, now, &key, &addr, &policy))
        .await?
    {
        Attempt::Throttled(wait) => Err(ApiError::rate_limited(wait.whole_seconds() + 1)),
        Attempt::Counted(attempt) => Ok(attempt),
    }
}
