//! Sign-in with the organisation's OpenID provider: the browser goes to the provider and comes
//! back to the callback, which hands the front end a one-time code (never tokens in a URL); the
//! front end, or an app holding the provider's ID token, trades it for Dangan's own tokens.

use actix_web::{get, http::header, post, web, HttpRequest, HttpResponse};
use dangan_domain::sso::signed_in_since;
use dangan_persistence::{
    cases::identities::{self, Attempt, Identity, PendingLogin, Redeemed, SignIn, Then, Waiting},
    Conflict, PersistenceError,
};
use openidconnect::url::Url;
use serde::Deserialize;
use serde_json::Value;
use time::Duration;
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::{self, REFRESH_TTL},
    error::{ApiError, ErrorCode, Problem},
    oidc::Verified,
    sign_in::{client_address, through_trusted_proxy, token_pair, tokens, TokenPair},
    state::{blocking, AppState},
};

impl Prompt {
    fn name(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::None => "none",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }
}

/// How long a login may stay at the provider before its answer is refused.
const LOGIN_TTL: Duration = Duration::minutes(10);
/// How long the front end has to trade its one-time code.
const CODE_TTL: Duration = Duration::minutes(2);
const CODE_PREFIX: &str = "doc_";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

#[derive(Debug, Deserialize, IntoParams)]
pub struct LoginQuery {
    /// The configured provider's name; default the first.
    #[param(max_length = 64)]
    pub provider: Option<String>,
    /// The front-end page the sign-in ends at: one of the provider's allow-listed URIs, exactly.
    #[param(max_length = 2048)]
    pub redirect_uri: String,
    /// The front end's own value, handed back to `redirect_uri` untouched (its CSRF check).
    #[param(max_length = 512)]
    pub state: Option<String>,
    /// Passed to the provider: `login` makes the person sign in again even with a session
    /// there (to sign a receipt with the code that comes back: `sso_code`).
    #[param(inline)]
    pub prompt: Option<Prompt>,
    /// A sign-in link an admin issued (`POST /users/{id}/sign-in/link`): the identity that
    /// signs in becomes that user's.
    #[param(max_length = 256)]
    pub link: Option<String>,
}

/// OpenID Connect's `prompt` values.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    Login,
    None,
    Consent,
    SelectAccount,
}

/// Start a sign-in at the organisation's OpenID provider.
///
/// Redirects the browser to the provider (authorization code flow with PKCE and a nonce). The
/// provider sends it back to `GET /auth/oidc/callback`, which ends at `redirect_uri` with
/// `?code=` (a one-time code for `POST /auth/oidc/token`) or `?error=`.
#[utoipa::path(get, path = "/api/v1/auth/oidc/login", operation_id = "startOidcLogin", tag = "auth", security(()),
    params(LoginQuery),
    responses(
        (status = 302, description = "To the provider's authorization endpoint",
            headers(("Location" = String, description = "The provider's authorization URL"))),
        (status = 400, description = "`redirect_uri` is missing or not on the provider's allow-list", body = Problem,
            example = json!({"type": "urn:dangan:problem:redirect_uri_not_allowed", "title": "The redirect URI is not on the allow-list", "status": 400, "detail": "https://evil.example/ is not an allowed redirect URI of provider sso", "code": "redirect_uri_not_allowed"})),
        (status = 403, description = "`link_unusable`: the sign-in link is unknown, spent, revoked or expired", body = Problem),
        (status = 404, description = "No provider is configured, or none by that name", body = Problem),
        (status = 422, description = "A parameter is too long", body = Problem),
        (status = 429, description = "Too many sign-ins from this address wait for the provider", body = Problem,
            headers(("Retry-After" = i64, description = "Seconds until one of them has expired"))),
        (status = 502, description = "The provider's discovery document or keys could not be fetched", body = Problem),
        (status = 503, description = "Too many sign-ins wait for the provider in all, or Dangan's callback URL is neither configured nor told by a trusted proxy", body = Problem),
    ))]
#[get("/auth/oidc/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, ApiError> {
    let LoginQuery {
        provider,
        redirect_uri,
        state: client_state,
        prompt,
        link,
    } = query.into_inner();
    let chosen = state.oidc.find(provider.as_deref())?;
    if !chosen.config.redirect_uris.contains(&redirect_uri) {
        return Err(ApiError::new(
            ErrorCode::RedirectUriNotAllowed,
            format!(
                "{redirect_uri} is not an allowed redirect URI of provider {}",
                chosen.config.name
            ),
        ));
    }
    let name = chosen.config.name.clone();
    let callback_url = match &chosen.config.callback_url {
        Some(configured) => configured.clone(),
        // Forwarded headers are anyone's to write: they name Dangan's address only when a
        // proxy Dangan trusts wrote them.
        None if through_trusted_proxy(&req) => {
            let info = req.connection_info();
            format!(
                "{}://{}/api/v1/auth/oidc/callback",
                info.scheme(),
                info.host()
            )
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "sign-in with {name} is not set up: set DANGAN_OIDC_CALLBACK_URL (callback_url \
                     in the providers file) to Dangan's callback as registered with the \
                     provider, or DANGAN_TRUSTED_PROXIES to the proxy in front of Dangan"
                ),
            ))
        }
    };
    let address = client_address(&req);
    let now = state.clock.now();
    let providers = state.oidc.clone();
    let (begun, callback_url) = blocking(move || {
        let chosen = providers.find(Some(&name))?;
        Ok((
            providers.begin(chosen, &callback_url, prompt.map(Prompt::name), now)?,
            callback_url,
        ))
    })
    .await?;
    let provider_name = chosen.config.name.clone();
    let link_hash = link.as_deref().map(auth::hash_token);
    let mut pending = PendingLogin {
        provider: provider_name.clone(),
        nonce: begun.nonce,
        pkce_verifier: begun.pkce_verifier,
        callback_url,
        redirect_uri,
        client_state,
        link_id: None,
        reauthentication: matches!(prompt, Some(Prompt::Login)),
        begun_at: now,
        address,
    };
    let state_hash = auth::hash_token(&begun.state);
    let limits = state.sso_pending;
    let waiting = state
        .db(move |conn| {
            if let Some(link_hash) = link_hash {
                pending.link_id = identities::waiting_link(conn, now, &link_hash, &provider_name)?;
                if pending.link_id.is_none() {
                    return Err(PersistenceError::Conflict(Conflict::LinkUnusable));
                }
            }
            identities::begin_login(conn, now, &state_hash, &pending, now + LOGIN_TTL, limits)
        })
        .await?;
    match waiting {
        Waiting::Kept => Ok(redirect(&begun.authorize_url)),
        Waiting::TooManyFromAddress => Err(ApiError {
            detail: "too many sign-ins from this address are waiting for the provider; \
                     finish one or retry later"
                .into(),
            ..ApiError::rate_limited(LOGIN_TTL.whole_seconds())
        }),
        Waiting::TooMany => Err(ApiError {
            retry_after_secs: Some(60),
            ..ApiError::new(
                ErrorCode::Unavailable,
                "too many sign-ins are waiting for the provider; retry in a minute",
            )
        }),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    /// The state Dangan sent the provider.
    #[param(max_length = 512)]
    pub state: Option<String>,
    /// The provider's authorization code.
    #[param(max_length = 4096)]
    pub code: Option<String>,
    /// The provider's refusal (`access_denied`, ...).
    #[param(max_length = 256)]
    pub error: Option<String>,
    #[param(max_length = 1024)]
    pub error_description: Option<String>,
}

/// The provider's answer to a sign-in (the redirect URI registered at the provider).
///
/// Trades the provider's code for its tokens, verifies the ID token (signature against the
/// provider's published keys, issuer, audience, expiry, nonce), finds or creates the user, and
/// redirects to the front end's `redirect_uri` with `?code=` (one-time, two minutes) and its
/// `state`, or with `?error=` and `error_description`.
#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", operation_id = "finishOidcLogin", tag = "auth", security(()),
    params(CallbackQuery),
    responses(
        (status = 302, description = "To the front end's redirect URI with `code` and `state`, or with `error` and `error_description`",
            headers(("Location" = String, description = "The front end's page"))),
        (status = 400, description = "No sign-in with this `state` is waiting (unknown, used or expired)", body = Problem,
            example = json!({"type": "urn:dangan:problem:invalid_grant", "title": "The code or token cannot be used", "status": 400, "detail": "no sign-in with this state is waiting: it is unknown, finished or older than 10 minutes; start again", "code": "invalid_grant"})),
        (status = 422, description = "A parameter is too long", body = Problem),
    ))]
#[get("/auth/oidc/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let CallbackQuery {
        state: returned_state,
        code,
        error,
        error_description,
    } = query.into_inner();
    let now = state.clock.now();
    let state_hash = auth::hash_token(returned_state.as_deref().unwrap_or_default());
    let pending = state
        .db(move |conn| identities::take_login(conn, now, &state_hash))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidGrant,
                "no sign-in with this state is waiting: it is unknown, finished or older than \
                 10 minutes; start again",
            )
        })?;
    let back = |outcome: Result<String, (String, String)>| {
        let mut url = Url::parse(&pending.redirect_uri)
            .map_err(|e| ApiError::internal(format!("redirect URI: {e}")))?;
        {
            let mut pairs = url.query_pairs_mut();
            match &outcome {
                Ok(code) => pairs.append_pair("code", code),
                Err((error, description)) => pairs
                    .append_pair("error", error)
                    .append_pair("error_description", description),
            };
            if let Some(client_state) = &pending.client_state {
                pairs.append_pair("state", client_state);
            }
        }
        Ok::<_, ApiError>(redirect(url.as_str()))
    };
    if let Some(error) = error {
        return back(Err((error, error_description.unwrap_or_default())));
    }
    let Some(code) = code else {
        return back(Err((
            "invalid_request".into(),
            "the provider answered without a code".into(),
        )));
    };
    let providers = state.oidc.clone();
    let waiting = pending.clone();
    let verified = blocking(move || {
        let provider = providers.find(Some(&waiting.provider))?;
        providers.finish(
            provider,
            &code,
            &waiting.pkce_verifier,
            &waiting.callback_url,
            &waiting.nonce,
            now,
        )
    })
    .await;
    let verified = match verified {
        Ok(verified) => verified,
        Err(refused) => return back(Err(refused.code_and_detail())),
    };
    if pending.reauthentication {
        let auth_time = verified.claims.get("auth_time").and_then(Value::as_i64);
        if let Err(stale) = signed_in_since(auth_time, pending.begun_at) {
            let stale = ApiError::new(ErrorCode::IdTokenRejected, stale.to_string());
            return back(Err(stale.code_and_detail()));
        }
    }
    let (code, code_hash) = one_time_code();
    let then = Then::Code {
        code_hash,
        expires_at: now + CODE_TTL,
        reauthentication: pending.reauthentication,
    };
    match sign_in(&state, &pending.provider, verified, pending.link_id, then).await? {
        SignIn::Granted { .. } => back(Ok(code)),
        refused => back(Err(refusal(&refused).code_and_detail())),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "authorization_code", "code": "doc_4f1c…"}))]
pub struct TokenRequest {
    /// `authorization_code` (a one-time code from the callback) or
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693: an ID token the app holds).
    #[schema(max_length = 128)]
    pub grant_type: String,
    /// The one-time code (`authorization_code`).
    #[schema(max_length = 256)]
    pub code: Option<String>,
    /// The provider's ID token (token exchange).
    #[schema(max_length = 16384)]
    pub subject_token: Option<String>,
    /// `urn:ietf:params:oauth:token-type:id_token` (token exchange).
    #[schema(max_length = 128)]
    pub subject_token_type: Option<String>,
    /// Only Dangan's access token can be asked for (token exchange).
    #[schema(max_length = 128)]
    pub requested_token_type: Option<String>,
}

/// Trade a one-time code from the callback, or an ID token from the provider, for Dangan's
/// tokens.
///
/// The form is OAuth's (`application/x-www-form-urlencoded`). With `grant_type=authorization_code`
/// the code is spent at once. With RFC 8693 token exchange, an app that signed in at the same
/// provider (for the same client id) sends its ID token as `subject_token`; the provider is the
/// one whose issuer the token names, and the token must be signed with its published keys,
/// be for Dangan's client id and not have expired.
#[utoipa::path(post, path = "/api/v1/auth/oidc/token", operation_id = "exchangeOidcToken", tag = "auth", security(()),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in: Dangan's tokens (with `issued_token_type` for a token exchange)", body = TokenPair),
        (status = 400, description = "Unknown, spent or expired code; a missing field; or an unsupported grant or token type", body = Problem,
            example = json!({"type": "urn:dangan:problem:invalid_grant", "title": "The code or token cannot be used", "status": 400, "detail": "the code is unknown, spent or expired", "code": "invalid_grant"})),
        (status = 401, description = "The ID token was refused: its signature, issuer, audience or expiry", body = Problem,
            example = json!({"type": "urn:dangan:problem:id_token_rejected", "title": "The ID token is not accepted", "status": 401, "detail": "the ID token has expired", "code": "id_token_rejected"})),
        (status = 403, description = "The identity's account is disabled, or Dangan has none for it and may not create one", body = Problem),
        (status = 404, description = "No OpenID provider is configured", body = Problem),
        (status = 409, description = "`duplicate_username`: a new user would take a local user's username; `duplicate_identity`: first sign-ins of one person raced and this one lost twice (sign in again)", body = Problem),
        (status = 415, description = "Not a form", body = Problem),
        (status = 422, description = "The provider's claims make no valid user", body = Problem),
        (status = 502, description = "The provider's keys could not be fetched", body = Problem),
    ))]
#[post("/auth/oidc/token")]
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let now = state.clock.now();
    let address = client_address(&req);
    let (refresh_token, token_hash) = auth::new_refresh_token();
    let refresh = dangan_persistence::store::sessions::NewRefreshToken {
        token_hash,
        expires_at: now + REFRESH_TTL,
    };
    match form.grant_type.as_str() {
        "authorization_code" => {
            let code = form.code.ok_or_else(|| missing("code"))?;
            let code_hash = auth::hash_token(&code);
            let redeemed = state
                .db(move |conn| identities::redeem_code(conn, now, &code_hash, &address, refresh))
                .await?;
            let Redeemed::Session {
                user_id,
                session_id,
            } = redeemed
            else {
                return Err(ApiError::new(
                    ErrorCode::InvalidGrant,
                    "the code is unknown, spent or expired",
                ));
            };
            let access_token = state.jwt.issue(user_id, session_id, now)?;
            Ok(tokens(token_pair(access_token, refresh_token)))
        }
        TOKEN_EXCHANGE => {
            let subject_token = form.subject_token.ok_or_else(|| missing("subject_token"))?;
            if form.subject_token_type.as_deref() != Some(ID_TOKEN_TYPE) {
                return Err(ApiError::new(
                    ErrorCode::InvalidGrant,
                    format!("subject_token_type must be {ID_TOKEN_TYPE}"),
                ));
            }
            if form
                .requested_token_type
                .as_deref()
                .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
            {
                return Err(ApiError::new(
                    ErrorCode::InvalidGrant,
                    format!("only {ACCESS_TOKEN_TYPE} can be requested"),
                ));
            }
            let providers = state.oidc.clone();
            let spent_key = auth::hash_token(&subject_token);
            let (name, verified) = blocking(move || {
                providers.find(None)?;
                let provider = providers.issuer_of(&subject_token)?;
                let verified = providers.verify_presented(provider, &subject_token, now)?;
                Ok((provider.config.name.clone(), verified))
            })
            .await?;
            spend(&state, &verified, spent_key).await?;
            let then = Then::Session { address, refresh };
            match sign_in(&state, &name, verified, None, then).await? {
                SignIn::Granted {
                    user,
                    session_id: Some(session_id),
                } => {
                    let access_token = state.jwt.issue(user.id, session_id, now)?;
                    let mut pair = token_pair(access_token, refresh_token);
                    pair.issued_token_type = Some(ACCESS_TOKEN_TYPE.into());
                    Ok(tokens(pair))
                }
                refused => Err(refusal(&refused)),
            }
        }
        other => Err(ApiError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type {other:?} is not supported: use authorization_code or {TOKEN_EXCHANGE}"
            ),
        )),
    }
}

async fn sign_in(
    state: &AppState,
    provider_name: &str,
    verified: Verified,
    link_id: Option<uuid::Uuid>,
    then: Then,
) -> Result<SignIn, ApiError> {
    let provider = state.oidc.find(Some(provider_name))?;
    let newcomer = provider.config.claims.newcomer(&verified.claims);
    let rules = provider.config.rules();
    let username = newcomer.as_ref().ok().map(|n| n.fields.username.as_str());
    let link_key = rules.link_key(&provider.config.claims, &verified.claims, username);
    let identity = Identity {
        provider: provider.config.name.clone(),
        issuer: verified.issuer,
        subject: verified.subject,
    };
    let attempt = Attempt {
        identity,
        newcomer,
        rules,
        link_key,
        link_id,
        then,
    };
    let now = state.clock.now();
    state
        .db(move |conn| identities::sign_in(conn, now, attempt))
        .await
}

/// The error a refused sign-in answers with.
fn refusal(refused: &SignIn) -> ApiError {
    match refused {
        SignIn::Granted { .. } => ApiError::internal("a granted sign-in is no refusal"),
        SignIn::NotProvisioned => ApiError::new(
            ErrorCode::NotProvisioned,
            "Dangan has no account for this identity and may not create one: ask an admin",
        ),
        SignIn::Disabled => {
            ApiError::new(ErrorCode::AccountDisabled, "this account has been disabled")
        }
        SignIn::UsernameTaken => ApiError::new(
            ErrorCode::DuplicateUsername,
            "a local user already has this username; an admin must link or rename them",
        ),
        SignIn::Unusable(errors) => PersistenceError::Invalid(errors.clone()).into(),
        SignIn::LinkUnusable => link_unusable(),
    }
}

/// Spends an app's ID token for this exchange (RFC 8693 tokens are not one-time by
/// themselves): by its `jti`, or by the whole token where it has none.
async fn spend(state: &AppState, verified: &Verified, whole: String) -> Result<(), ApiError> {
    let key = match verified
        .claims
        .get("jti")
        .and_then(serde_json::Value::as_str)
    {
        Some(jti) => auth::hash_token(&format!("{}\n{jti}", verified.issuer)),
        None => whole,
    };
    let expires_at = verified
        .claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .and_then(|exp| time::OffsetDateTime::from_unix_timestamp(exp).ok())
        .unwrap_or_else(|| state.clock.now() + Duration::days(1));
    let now = state.clock.now();
    let fresh = state
        .db(move |conn| {
            // Two exchanges of one token at once: the second meets the first's key.
            identities::spend_id_token(conn, now, &key, expires_at).or_else(|e| match e {
                PersistenceError::Conflict(Conflict::IdTokenSpent) => Ok(false),
                other => Err(other),
            })
        })
        .await?;
    if fresh {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidGrant,
            "this ID token has been exchanged already: sign in at the provider again for a new one",
        ))
    }
}

fn link_unusable() -> ApiError {
    ApiError::new(
        ErrorCode::LinkUnusable,
        "the sign-in link is unknown, spent, revoked or expired, or this identity is another \
         user's: ask an admin for a new link",
    )
}

fn missing(field: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidGrant, format!("{field} is required"))
}

/// A one-time code and the hash that is all the store keeps of it.
fn one_time_code() -> (String, String) {
    let code = format!("{CODE_PREFIX}{}", auth::random_secret());
    let hash = auth::hash_token(&code);
    (code, hash)
}

/// A redirect nobody caches: each carries a fresh code or state.
fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
