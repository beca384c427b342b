//! What every handler shares: the pool, the clock, the keys, the throttle policy and the metrics.

use std::sync::Arc;

use actix_web::web;
use dangan_domain::{
    checkpoint::SigningKey, login_throttle::ThrottlePolicy, reminder::ReminderSchedule,
    voucher::VoucherKey, webhook::Allowed,
};
use dangan_persistence::{cases::logins, Conn, PersistenceError, Pool};

use crate::{
    auth::{AccessToken, CurrentUser, JwtKeys},
    clock::Clock,
    error::ApiError,
    mail::Mailer,
    metrics::Metrics,
};

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub clock: Arc<dyn Clock>,
    pub jwt: Arc<JwtKeys>,
    pub throttle: ThrottlePolicy,
    /// How long a login lasts at most, refreshes included (`DANGAN_SESSION_MAX_DAYS`).
    pub session_max: time::Duration,
    pub metrics: Metrics,
    pub reminders: ReminderSchedule,
    /// Where webhooks may go besides public and private networks (`DANGAN_WEBHOOK_ALLOW`).
    pub webhook_allow: Arc<Vec<Allowed>>,
    /// The OpenID providers people may sign in with (`DANGAN_OIDC_*`).
    pub oidc: Arc<crate::oidc::Providers>,
    /// Archive files and photos, sealed in their store (`DANGAN_FILES_URL`).
    pub files: Arc<crate::files::Files>,
    /// Whether Dangan passwords may be used to log in (`DANGAN_PASSWORD_LOGIN`).
    pub password_login: bool,
    /// Proxies whose `X-Forwarded-For` is believed (`DANGAN_TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<Vec<Allowed>>,
    /// How many sign-ins may wait for their provider, per address and in all.
    pub sso_pending: dangan_persistence::cases::identities::PendingLimits,
    /// Keys the verification codes printed on vouchers (kept in the store).
    pub voucher_key: Arc<VoucherKey>,
    /// Signs audit checkpoints (`DANGAN_AUDIT_SIGNING_KEY`); never stored in the database.
    pub audit_signing_key: Option<Arc<SigningKey>>,
    /// Set when `DANGAN_SMTP_URL` is.
    pub mailer: Option<Arc<Mailer>>,
}

impl AppState {
    /// Runs one persistence use case on a pooled connection, off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Conn) -> Result<T, PersistenceError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        Ok(web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await??)
    }

    /// Runs one persistence use case for the holder of `token`, after checking in the same call
    /// that their login is open and their account active (401 otherwise).
    pub async fn db_as<T, F>(&self, token: AccessToken, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Conn, &CurrentUser) -> Result<T, PersistenceError> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = self
            .db(move |conn| {
                let Some(user) = logins::principal(conn, token.session_id, token.user_id)? else {
                    return Ok(None);
                };
                let caller = CurrentUser {
                    user,
                    session_id: token.session_id,
                };
                f(conn, &caller).map(Some)
            })
            .await?;
        outcome
            .ok_or_else(|| ApiError::unauthorized("the login has ended or the account is disabled"))
    }
}

/// Runs CPU-heavy work (password hashing) off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f).await?
}
