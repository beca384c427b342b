//! Authentication: argon2id passwords, HS256 access tokens (RFC 9068 `at+jwt`, algorithm pinned),
//! opaque refresh tokens stored only as hashes, and the `CurrentUser` extractor.

use std::{future::Future, pin::Pin};

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use dangan_domain::access::{Capability, Principal};
use dangan_persistence::store::users::User;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

pub const ISSUER: &str = "dangan";
pub const AUDIENCE: &str = "dangan-api";
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
pub const ACCESS_TTL: Duration = Duration::minutes(15);
/// The shortest signing key accepted: as long as HS256's hash output.
pub const MIN_SECRET_BYTES: usize = 32;
pub const REFRESH_TTL: Duration = Duration::days(30);
const REFRESH_PREFIX: &str = "drt_";

/// The claims of an access token. `typ` keeps it from ever passing for any other token (RFC 8725).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    /// The login (session) the token belongs to: revoking it revokes the token.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub typ: String,
}

/// The signing key and the pinned verification rules.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is checked against the app's `Clock` below, so tests can move time.
        validation.validate_exp = false;
        validation.leeway = 0;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        let claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user_id,
            sid: session_id,
            iat: now.unix_timestamp(),
            exp: (now + ACCESS_TTL).unix_timestamp(),
            jti: Uuid::new_v4(),
            typ: "access".into(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(ApiError::internal)
    }

    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, ApiError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                // What exactly failed helps whoever forges tokens more than whoever holds one.
                log::debug!("refused token: {e}");
                ApiError::unauthorized("the token is not valid")
            })?;
        if data.header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) || data.claims.typ != "access" {
            return Err(ApiError::unauthorized("not an access token"));
        }
        if data.claims.exp <= now.unix_timestamp() {
            return Err(ApiError::unauthorized("the token has expired"));
        }
        Ok(data.claims)
    }
}

/// A hash of a random password nobody knows, with the same parameters as every real hash: a login
/// naming no user is checked against it, so it takes as long as a wrong password. A constant
/// rather than a hash made at start-up, whose 19 MiB of argon2 memory would stay in an idle heap.
pub const DUMMY_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$z9U0sTxmL/uGXKQcBTEA9Q$fN6BCknSXBwD2kGjGyOWXH7YePcY6gJeN+7vqtDe1do";

/// Password hashes computed at once, at most: each takes 19 MiB of argon2 memory, so a burst of
/// logins (or an import of thousands of users) queues here instead of growing the heap by
/// gigabytes. More than the cores would only make each one slower.
pub const MAX_PASSWORD_WORK: usize = 4;

/// A place among the `MAX_PASSWORD_WORK` that may hash at once; the next waiting thread takes it
/// when this is dropped.
struct PasswordWork;

static PASSWORD_WORK: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

impl PasswordWork {
    /// Waits (on a blocking thread, never an async worker) for a place.
    fn begin() -> PasswordWork {
        let (running, freed) = &PASSWORD_WORK;
        let mut running = running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *running >= MAX_PASSWORD_WORK {
            running = freed
                .wait(running)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *running += 1;
        PasswordWork
    }
}

impl Drop for PasswordWork {
    fn drop(&mut self) {
        let (running, freed) = &PASSWORD_WORK;
        let mut running = running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *running = running.saturating_sub(1);
        freed.notify_one();
    }
}

pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let _place = PasswordWork::begin();
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` is the one `hash` was made from. A user without a local password (whose
/// hash is no argon2 hash) matches nothing, after as long as a real check takes.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let _place = PasswordWork::begin();
    let usable = dangan_persistence::store::users::has_password(hash);
    let checked = if usable { hash } else { DUMMY_PASSWORD_HASH };
    let matches =
        PasswordVerifier::<str>::verify_password(&Argon2::default(), password.as_bytes(), checked)
            .is_ok();
    matches && usable
}

/// 32 random bytes, hex: the secret text a client keeps.
pub fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A new refresh token and the hash that is all the store keeps of it.
pub fn new_refresh_token() -> (String, String) {
    let token = format!("{REFRESH_PREFIX}{}", random_secret());
    let hash = hash_token(&token);
    (token, hash)
}

/// What the store keeps of a bearer secret (a refresh token, a SCIM client's token): its SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller: a valid access token whose login is open and whose user is active.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub session_id: Uuid,
}

impl CurrentUser {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn principal(&self) -> Principal {
        self.user.principal()
    }

    /// Passes when the caller's roles grant `capability`.
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        if self.principal().can(capability) {
            Ok(())
        } else {
            Err(ApiError::forbidden("your roles do not allow this"))
        }
    }
}

pub(crate) fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("send an access token: Authorization: Bearer <token>")
    })?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be Bearer <token>",
        )),
    }
}

/// A verified access token whose login and user are not yet looked up: `AppState::db_as` checks
/// them in the same database call as the handler's own work (one pool checkout, one hop to the
/// blocking pool instead of two). Used by the reads clients poll; everything else takes `CurrentUser`.
#[derive(Debug, Clone, Copy)]
pub struct AccessToken {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

impl AccessToken {
    /// The token `req` carries, if this server signed it and it has not expired; whether its
    /// login is still open is `CurrentUser`'s (or `AppState::db_as`'s) question.
    pub fn signed(req: &HttpRequest) -> Option<AccessToken> {
        AccessToken::extract(req).ok().map(|(_, token)| token)
    }

    fn extract(req: &HttpRequest) -> Result<(web::Data<AppState>, AccessToken), ApiError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::internal("application state missing"))?;
        let claims = state.jwt.verify(&bearer_token(req)?, state.clock.now())?;
        Ok((
            state,
            AccessToken {
                user_id: claims.sub,
                session_id: claims.sid,
            },
        ))
    }
}

impl FromRequest for AccessToken {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(AccessToken::extract(req).map(|(_, token)| token))
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let extracted = AccessToken::extract(req);
        Box::pin(async move {
            let (state, token) = extracted?;
            state.db_as(token, |_, caller| Ok(caller.clone())).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = hash_password("any password").unwrap();
        let parameters = |hash: &str| hash.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(parameters(DUMMY_PASSWORD_HASH), parameters(&real));
        assert!(!verify_password("any password", DUMMY_PASSWORD_HASH));
        assert!(verify_password("any password", &real));
    }

    #[test]
    fn a_burst_of_password_work_queues_at_its_bound() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    let _place = PasswordWork::begin();
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        let peak = peak.into_inner();
        assert!(peak <= MAX_PASSWORD_WORK, "{peak} at once");
        assert!(peak >= 2, "the work still runs side by side: {peak}");
    }
}
