//! The organisation's OpenID providers, as Dangan (a confidential client) talks to them through
//! the `openidconnect` crate: discovery and signing keys cached per provider, fetched by one
//! request at a time (the others wait for its answer), failures remembered with a growing
//! back-off, and only the key set fetched again when a token names a key the cache lacks (the
//! provider rotated its keys); the authorization code flow with PKCE and a nonce, and ID tokens
//! verified against the app's clock.

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
};

use base64::Engine;
use dangan_domain::sso::{ClaimMapping, SignInRules};
use openidconnect::{
    core::{
        CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreProviderMetadata,
    },
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::{
    config::Secret,
    error::{ApiError, ErrorCode},
};

/// How long discovery and signing keys are kept before they are fetched again.
const KEYS_KEPT: Duration = Duration::hours(1);
/// The least time between two fetches that a token naming an unknown key can cause: a stream of
/// made-up key ids must not turn into a stream of requests to the provider.
const REFETCH_AFTER: Duration = Duration::seconds(10);
/// The most of a provider's answer read.
const MAX_ANSWER_BYTES: u64 = 1 << 20;
/// How long a failed fetch is remembered at first; each failure after it doubles the wait, up to
/// `MOST_BACK_OFF`: a provider that is down is not asked again by every sign-in.
const FIRST_BACK_OFF: Duration = Duration::seconds(2);
const MOST_BACK_OFF: Duration = Duration::minutes(2);

fn default_true() -> bool {
    true
}

fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}

/// One provider as the administrator configures it (`DANGAN_OIDC_*`, or one entry of the file
/// `DANGAN_OIDC_PROVIDERS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name logins choose it by (`?provider=`) and the audit trail records.
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The front-end pages a login may end at, exactly as written.
    pub redirect_uris: Vec<String>,
    /// Dangan's own callback as registered with the provider; unset, it is made from the
    /// address the login was asked at (`…/api/v1/auth/oidc/callback`).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claims: ClaimMapping,
    #[serde(default = "default_true")]
    pub create_users: bool,
    #[serde(default)]
    pub link_by_username: bool,
}

impl ProviderConfig {
    pub fn rules(&self) -> SignInRules {
        SignInRules {
            create_users: self.create_users,
            link_by_username: self.link_by_username,
        }
    }
}

/// The file `DANGAN_OIDC_PROVIDERS` names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvidersFile {
    providers: Vec<ProviderConfig>,
}

/// Reads the providers of a YAML file.
pub fn read_providers_file(path: &std::path::Path) -> Result<Vec<ProviderConfig>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: ProvidersFile =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file.providers)
}

/// What a verified ID token says: who, by whom, and every claim for the mapping.
#[derive(Debug, Clone)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub claims: Map<String, Value>,
}

/// A login begun: where to send the browser, and what the callback needs to finish it.
pub struct Begun {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: OffsetDateTime,
}

/// The last fetch that failed: what it said, and until when no other is tried.
struct Failure {
    error: ApiError,
    until: OffsetDateTime,
    back_off: Duration,
}

/// What is known of a provider: held while a fetch runs, so concurrent sign-ins wait for one
/// answer instead of each asking the provider.
#[derive(Default)]
struct Known {
    discovered: Option<Arc<Discovered>>,
    failure: Option<Failure>,
}

pub struct Provider {
    pub config: ProviderConfig,
    issuer: IssuerUrl,
    known: Mutex<Known>,
}

/// The providers configured, in the order given: the first is the default.
#[derive(Default)]
pub struct Providers {
    list: Vec<Provider>,
    agent: Option<ureq::Agent>,
    /// Fetches from providers, by provider, what (`discovery`, `keys`) and outcome.
    fetches: Option<prometheus::IntCounterVec>,
}

impl Providers {
    pub fn new(configs: Vec<ProviderConfig>) -> Result<Providers, String> {
        let mut list: Vec<Provider> = Vec::new();
        for config in configs {
            let issuer = IssuerUrl::new(config.issuer.clone())
                .map_err(|e| format!("provider {}: issuer: {e}", config.name))?;
            if list.iter().any(|p| p.config.name == config.name) {
                return Err(format!("provider {} is configured twice", config.name));
            }
            if config.redirect_uris.is_empty() {
                return Err(format!(
                    "provider {}: name at least one front-end redirect URI",
                    config.name
                ));
            }
            list.push(Provider {
                config,
                issuer,
                known: Mutex::new(Known::default()),
            });
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A provider's answer that redirects elsewhere is an answer to refuse, not follow.
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        Ok(Providers {
            list,
            agent: Some(agent),
            fetches: None,
        })
    }

    /// Counts every fetch from a provider in `fetches` (labels: provider, what, outcome).
    pub fn counting(self, fetches: prometheus::IntCounterVec) -> Providers {
        Providers {
            fetches: Some(fetches),
            ..self
        }
    }

    fn fetcher<'a>(&'a self, provider: &'a Provider) -> Result<Fetcher<'a>, ApiError> {
        Ok(Fetcher {
            agent: self.agent()?,
            provider,
            fetches: self.fetches.as_ref(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|p| p.config.name.as_str())
    }

    /// The provider `name` names, or the first one.
    pub fn find(&self, name: Option<&str>) -> Result<&Provider, ApiError> {
        let found = match name {
            Some(name) => self.list.iter().find(|p| p.config.name == name),
            None => self.list.first(),
        };
        found.ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                if self.list.is_empty() {
                    "no OpenID provider is configured".to_owned()
                } else {
                    format!(
                        "no OpenID provider is called {:?}",
                        name.unwrap_or_default()
                    )
                },
            )
        })
    }

    /// The provider that issued `raw` (an ID token), judged by its unverified `iss`: which keys
    /// verify it is the provider's business.
    pub fn issuer_of(&self, raw: &str) -> Result<&Provider, ApiError> {
        let claims = payload(raw).ok_or_else(|| rejected("the subject token is not a JWT"))?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| rejected("the ID token names no issuer"))?;
        self.list
            .iter()
            .find(|p| p.issuer.as_str() == issuer || p.config.issuer == issuer)
            .ok_or_else(|| {
                rejected(format!(
                    "the ID token was issued by {issuer}, which is not a configured provider"
                ))
            })
    }

    fn agent(&self) -> Result<&ureq::Agent, ApiError> {
        self.agent
            .as_ref()
            .ok_or_else(|| ApiError::internal("no HTTP agent for OpenID providers"))
    }

    /// Where to send the browser to sign in at `provider` (with OpenID's `prompt`, if given),
    /// answering at `callback_url`.
    pub fn begin(
        &self,
        provider: &Provider,
        callback_url: &str,
        prompt: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Begun, ApiError> {
        let discovered = self.fetcher(provider)?.discovered(now, false)?;
        let client = provider.client(&discovered, callback_url)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &provider.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(prompt) = prompt {
            request = request.add_extra_param("prompt", prompt);
        }
        // A sign-in made to prove again who someone is: the provider must make them sign in
        // now, not ride an earlier session (OpenID Connect Core §3.1.2.1).
        if prompt == Some("login") {
            request = request.set_max_age(std::time::Duration::ZERO);
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Begun {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Trades the provider's `code` for tokens and verifies the ID token (signature, issuer,
    /// audience, expiry, and that it carries `nonce`).
    pub fn finish(
        &self,
        provider: &Provider,
        code: &str,
        pkce_verifier: &str,
        callback_url: &str,
        nonce: &str,
        now: OffsetDateTime,
    ) -> Result<Verified, ApiError> {
        let agent = self.agent()?;
        let discovered = self.fetcher(provider)?.discovered(now, false)?;
        let client = provider.client(&discovered, callback_url)?;
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable(&provider.config.name, e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request(&http(agent))
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(refusal) => ApiError::new(
                    ErrorCode::InvalidGrant,
                    format!("the provider refused the code: {refusal}"),
                ),
                other => unavailable(&provider.config.name, other),
            })?;
        let id_token = answer
            .id_token()
            .ok_or_else(|| rejected("the provider answered without an ID token"))?;
        let nonce = Nonce::new(nonce.to_owned());
        // The access token is not used (Dangan asks the provider nothing more), so its
        // `at_hash` needs no check (OpenID Connect Core §3.1.3.8: MAY).
        self.verify(provider, id_token, Some(&nonce), now)
    }

    /// Verifies an ID token an app already holds (RFC 8693 token exchange): its nonce was the
    /// app's, so only signature, issuer, audience and expiry are Dangan's to check.
    pub fn verify_presented(
        &self,
        provider: &Provider,
        raw: &str,
        now: OffsetDateTime,
    ) -> Result<Verified, ApiError> {
        let id_token = CoreIdToken::from_str(raw)
            .map_err(|e| rejected(format!("the subject token is not an ID token: {e}")))?;
        self.verify(provider, &id_token, None, now)
    }

    fn verify(
        &self,
        provider: &Provider,
        id_token: &CoreIdToken,
        nonce: Option<&Nonce>,
        now: OffsetDateTime,
    ) -> Result<Verified, ApiError> {
        let fetcher = self.fetcher(provider)?;
        let check = |discovered: &Discovered| {
            let verifier = provider.verifier(discovered, now);
            match nonce {
                Some(nonce) => id_token
                    .claims(&verifier, nonce)
                    .map(|c| c.subject().clone()),
                None => id_token
                    .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                    .map(|c| c.subject().clone()),
            }
        };
        let discovered = fetcher.discovered(now, false)?;
        let subject = match check(&discovered) {
            // The provider may have rotated its keys since they were fetched: a token naming
            // a key the cache lacks, or (from a provider whose tokens name no key) one whose
            // signature no cached key verifies.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
                | SignatureVerificationError::CryptoError(_),
            )) => {
                let fresh = fetcher.discovered(now, true)?;
                check(&fresh)
            }
            other => other,
        }
        .map_err(|e| rejected(explain(&e)))?;
        let claims = payload(&id_token.to_string())
            .ok_or_else(|| rejected("the ID token's claims cannot be read"))?;
        Ok(Verified {
            issuer: provider.config.issuer.clone(),
            subject: subject.as_str().to_owned(),
            claims,
        })
    }
}

/// Fetches a provider's metadata and keys for a sign-in, counting each fetch.
struct Fetcher<'a> {
    agent: &'a ureq::Agent,
    provider: &'a Provider,
    fetches: Option<&'a prometheus::IntCounterVec>,
}

impl Fetcher<'_> {
    /// The provider's metadata and keys: cached, or fetched when older than `KEYS_KEPT`; with
    /// `again` (a token names a key the cache lacks) the key set alone is fetched again, not
    /// sooner than `REFETCH_AFTER`. One fetch runs at a time per provider: whoever comes
    /// meanwhile waits for its answer. A failure is answered from memory until its back-off ends.
    fn discovered(&self, now: OffsetDateTime, again: bool) -> Result<Arc<Discovered>, ApiError> {
        let provider = self.provider;
        let mut known = provider
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cached = known.discovered.clone();
        if let Some(cached) = cached
            .as_ref()
            .filter(|c| !fetch_again(now - c.fetched_at, again))
        {
            return Ok(cached.clone());
        }
        if let Some(failure) = known.failure.as_ref().filter(|f| now < f.until) {
            return Err(ApiError {
                retry_after_secs: Some((failure.until - now).whole_seconds().max(1)),
                ..failure.error.clone()
            });
        }
        let fetched = match cached.filter(|c| again && now - c.fetched_at < KEYS_KEPT) {
            Some(cached) => self.keys(&cached.metadata),
            None => self.discovery(),
        };
        match fetched {
            Ok(metadata) => {
                let discovered = Arc::new(Discovered {
                    metadata,
                    fetched_at: now,
                });
                known.discovered = Some(discovered.clone());
                known.failure = None;
                Ok(discovered)
            }
            Err(error) => {
                let back_off = known.failure.as_ref().map_or(FIRST_BACK_OFF, |f| {
                    f.back_off.saturating_mul(2).min(MOST_BACK_OFF)
                });
                known.failure = Some(Failure {
                    error: error.clone(),
                    until: now + back_off,
                    back_off,
                });
                Err(error)
            }
        }
    }

    fn discovery(&self) -> Result<CoreProviderMetadata, ApiError> {
        let fetched = CoreProviderMetadata::discover(&self.provider.issuer, &http(self.agent));
        self.count("discovery", fetched.is_ok());
        fetched.map_err(|e| unavailable(&self.provider.config.name, e))
    }

    /// The provider's key set fetched again, into the metadata discovered before.
    fn keys(&self, metadata: &CoreProviderMetadata) -> Result<CoreProviderMetadata, ApiError> {
        let fetched = openidconnect::JsonWebKeySet::fetch(metadata.jwks_uri(), &http(self.agent));
        self.count("keys", fetched.is_ok());
        let keys = fetched.map_err(|e| unavailable(&self.provider.config.name, e))?;
        Ok(metadata.clone().set_jwks(keys))
    }

    fn count(&self, what: &str, ok: bool) {
        if let Some(fetches) = self.fetches {
            let outcome = if ok { "ok" } else { "failed" };
            fetches
                .with_label_values(&[self.provider.config.name.as_str(), what, outcome])
                .inc();
        }
    }
}

impl Provider {
    fn client(
        &self,
        discovered: &Discovered,
        callback_url: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        ApiError,
    > {
        let callback = RedirectUrl::new(callback_url.to_owned())
            .map_err(|e| ApiError::internal(format!("callback URL {callback_url}: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            discovered.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(callback))
    }

    fn verifier<'a>(
        &self,
        discovered: &Discovered,
        now: OffsetDateTime,
    ) -> CoreIdTokenVerifier<'a> {
        let at = chrono::DateTime::from_timestamp(now.unix_timestamp(), 0).unwrap_or_default();
        CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.config.client_id.clone()),
            ClientSecret::new(self.config.client_secret.expose().to_owned()),
            self.issuer.clone(),
            discovered.metadata.jwks().clone(),
        )
        .set_time_fn(move || at)
    }
}

/// Whether keys fetched `age` ago are fetched again: once old (or from a clock that went back),
/// or when a token names a key they lack (`again`), but not sooner than `REFETCH_AFTER`.
fn fetch_again(age: Duration, again: bool) -> bool {
    let stale = age >= KEYS_KEPT || age < Duration::ZERO;
    stale || (again && age >= REFETCH_AFTER)
}

/// The claims of a JWT, unverified: only for choosing a provider, or after verification.
fn payload(raw: &str) -> Option<Map<String, Value>> {
    let part = raw.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn rejected(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::IdTokenRejected, detail)
}

fn unavailable(provider: &str, error: impl std::error::Error) -> ApiError {
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    log::warn!("OpenID provider {provider}: {detail}");
    ApiError::new(
        ErrorCode::ProviderUnavailable,
        format!("the OpenID provider {provider} did not answer as expected: {detail}"),
    )
}

/// What a person reading the error needs to know about why a token was refused.
fn explain(error: &ClaimsVerificationError) -> String {
    match error {
        ClaimsVerificationError::Expired(_) => "the ID token has expired".into(),
        ClaimsVerificationError::InvalidNonce(_) => {
            "the ID token's nonce is not the one this login sent".into()
        }
        ClaimsVerificationError::InvalidIssuer(detail) => {
            format!("the ID token is from another issuer: {detail}")
        }
        ClaimsVerificationError::InvalidAudience(detail) => {
            format!("the ID token is not meant for Dangan: {detail}")
        }
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => "the ID token is signed with a key the provider does not publish".into(),
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::CryptoError(_),
        ) => "the ID token's signature does not verify with the keys the provider publishes".into(),
        ClaimsVerificationError::SignatureVerification(e) => {
            format!("the ID token's signature does not verify: {e}")
        }
        other => format!("the ID token is not valid: {other}"),
    }
}

/// The provider's HTTP goes through `agent`: a closure is what `openidconnect` calls.
fn http(agent: &ureq::Agent) -> impl Fn(HttpRequest) -> Result<HttpResponse, ureq::Error> + '_ {
    move |request| {
        let mut response = agent.run(request)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()?;
        let mut answer = HttpResponse::new(body);
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fetched_again_when_old_or_missing_but_not_at_every_unknown_key() {
        assert!(!fetch_again(Duration::minutes(5), false));
        assert!(fetch_again(KEYS_KEPT, false));
        assert!(
            fetch_again(Duration::seconds(-1), false),
            "a clock that went back"
        );
        assert!(
            !fetch_again(Duration::seconds(3), true),
            "a burst of made-up key ids"
        );
        assert!(fetch_again(REFETCH_AFTER, true));
    }
}
