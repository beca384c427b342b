//! Dangan's HTTP API: configuration, start-up, and the actix-web application.

pub mod audit_offline;
pub mod auth;
mod background;
pub use background::{checkpoint_forever, fold_forever, seal_forever};
pub mod clock;
pub mod config;
pub mod dto;
pub mod error;
pub mod extract;
pub mod files;
mod headers;
pub mod idempotency;
pub mod ledger;
pub mod mail;
pub mod methods;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod routes;
pub mod scheduler;
pub mod scim;
mod serde_util;
mod shape;
pub mod sign_in;
pub mod state;
mod voucher_page;
pub mod webhooks;

use std::{net::TcpListener, sync::Arc};

use actix_web::{dev::Server, middleware::from_fn, web, App, HttpResponse, HttpServer};
use dangan_domain::{
    login_throttle::ThrottlePolicy,
    policy::default_policies,
    user::{check_password, UserFields},
    voucher::VoucherKey,
    webhook::Allowed,
    Classification, Role,
};
use dangan_persistence::{
    cases::{checkouts, fonds, policies, users},
    db,
    store::{
        self,
        audit::{self, Sealing},
        rollups, settings,
    },
    PersistenceError,
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{clock::Clock, config::Config, error::ApiError, metrics::Metrics, state::AppState};

/// Import bodies may be this large (other JSON bodies: `JSON_LIMIT`).
pub const IMPORT_LIMIT: usize = 64 * 1024 * 1024;

/// JSON bodies above this are refused with 413 (import endpoints set their own, larger limit).
pub const JSON_LIMIT: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Persistence(#[from] PersistenceError),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("audit chain: {0}")]
    Checkpoint(#[from] dangan_domain::checkpoint::CheckpointError),
}

/// Connects, migrates, creates the first admin on an empty store, and loads the signing key.
pub fn prepare(config: &Config, clock: Arc<dyn Clock>) -> Result<AppState, StartupError> {
    let pool = db::connect(&config.database_url, config.pool_size)?;
    let mut conn = pool.get().map_err(PersistenceError::from)?;
    for version in db::run_migrations(&mut conn)? {
        log::info!("applied migration {version}");
    }
    bootstrap_admin(&mut conn, config, clock.as_ref())?;
    if policies::seed_defaults(&mut conn, clock.now(), &default_policies())? {
        log::info!("seeded the default loan policies");
    }
    if fonds::adopt(
        &mut conn,
        clock.now(),
        &config.fonds_number,
        &config.fonds_name,
    )? {
        log::info!(
            "made the site's fonds {} ({}) and filed the catalogue in it",
            config.fonds_number,
            config.fonds_name
        );
    }
    let secret = match &config.jwt_secret {
        Some(secret) if secret.expose().len() < auth::MIN_SECRET_BYTES => {
            return Err(StartupError::Invalid(format!(
                "DANGAN_JWT_SECRET must be at least {} bytes (RFC 7518 §3.2: an HS256 key as \
                 long as the hash); `openssl rand -hex 32` makes one",
                auth::MIN_SECRET_BYTES
            )))
        }
        Some(secret) => secret.expose().to_owned(),
        None => settings::get_or_insert(&mut conn, "jwt_secret", &auth::random_secret())?,
    };
    let voucher_key = settings::get_or_insert(&mut conn, "voucher_key", &auth::random_secret())?;
    let voucher_key = VoucherKey::new(voucher_key.as_bytes())
        .ok_or_else(|| StartupError::Invalid("the stored voucher_key is unusable".to_owned()))?;
    let assigned = checkouts::assign_verification_codes(&mut conn, &voucher_key)?;
    if assigned > 0 {
        log::info!("gave {assigned} earlier loans their voucher verification code");
    }
    if rollups::build_if_missing(&mut conn)? {
        log::info!("filled the report counters from the loans and requests");
    }
    // What a process that died left unsealed is sealed now, before anyone reads the chain.
    audit::seal(&mut conn, Sealing::Wait)?;
    let files = Arc::new(files::open(config, &mut conn)?);
    drop(conn);
    let audit_signing_key = audit_offline::signing_key(config)?.map(Arc::new);
    let metrics = Metrics::new()?;
    let oidc = config
        .oidc
        .providers()
        .and_then(oidc::Providers::new)
        .map_err(|e| StartupError::Invalid(format!("OpenID Connect: {e}")))?
        .counting(metrics.provider_fetches());
    if !oidc.is_empty() {
        log::info!(
            "sign-in with OpenID providers: {}",
            oidc.names().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(AppState {
        pool,
        clock,
        jwt: Arc::new(auth::JwtKeys::new(secret.as_bytes())),
        throttle: ThrottlePolicy::default(),
        session_max: time::Duration::days(i64::from(config.session_max_days)),
        metrics,
        reminders: config.scheduler.schedule(),
        webhook_allow: Arc::new(
            config
                .webhook_allow
                .iter()
                .filter(|a| !a.trim().is_empty())
                .map(|a| a.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| StartupError::Invalid(format!("DANGAN_WEBHOOK_ALLOW: {e}")))?,
        ),
        oidc: Arc::new(oidc),
        files,
        password_login: config.password_login,
        trusted_proxies: Arc::new(
            config
                .trusted_proxies
                .iter()
                .filter(|a| !a.trim().is_empty())
                .map(|a| match a.parse() {
                    Ok(network @ Allowed::Network { .. }) => Ok(network),
                    Ok(_) => Err(format!("{a} is no network (CIDR)")),
                    Err(e) => Err(e),
                })
                .collect::<Result<_, _>>()
                .map_err(|e| StartupError::Invalid(format!("DANGAN_TRUSTED_PROXIES: {e}")))?,
        ),
        sso_pending: dangan_persistence::cases::identities::PendingLimits::default(),
        voucher_key: Arc::new(voucher_key),
        audit_signing_key,
        mailer: config
            .smtp_url
            .as_ref()
            .map(|url| mail::Mailer::new(url.expose(), &config.mail_from).map(Arc::new))
            .transpose()
            .map_err(StartupError::Invalid)?,
    })
}

fn bootstrap_admin(
    conn: &mut dangan_persistence::Conn,
    config: &Config,
    clock: &dyn Clock,
) -> Result<(), StartupError> {
    // Hash only when there is an admin to create: argon2's 19 MiB would otherwise stay in the
    // heap of every idle server.
    if store::users::count(conn)? > 0 {
        return Ok(());
    }
    let (password, generated) = match &config.admin_password {
        Some(password) => (password.expose().to_owned(), false),
        None => (auth::random_secret()[..20].to_owned(), true),
    };
    let created = users::bootstrap_admin(conn, clock.now(), auth::hash_password(&password)?)?;
    if created && generated {
        // Printed once, on the terminal only: it is never stored anywhere but as a hash.
        eprintln!(
            "Created user `admin` with password: {password}\nChange it, or set DANGAN_ADMIN_PASSWORD before the first start."
        );
    } else if created {
        log::info!("created user `admin` with the password from DANGAN_ADMIN_PASSWORD");
    }
    Ok(())
}

/// Seals what this process appended, for commands that exit without a sealer thread.
pub fn seal_audit(state: &AppState) -> Result<usize, StartupError> {
    let mut conn = state.pool.get().map_err(PersistenceError::from)?;
    Ok(audit::seal(&mut conn, Sealing::Wait)?)
}

/// Creates a user from the command line (`dangan admin create-user`).
pub fn create_user(
    state: &AppState,
    username: &str,
    display_name: Option<&str>,
    password: &str,
    roles: &str,
    clearance: &str,
) -> Result<store::users::User, StartupError> {
    let roles = roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.parse::<Role>())
        .collect::<Result<_, _>>()
        .map_err(|e| StartupError::Invalid(format!("--roles: {e}")))?;
    let clearance = clearance
        .parse::<Classification>()
        .map_err(|e| StartupError::Invalid(format!("--clearance: {e}")))?;
    if let Some(error) = check_password(password) {
        return Err(StartupError::Invalid(format!(
            "--password {}",
            error.message
        )));
    }
    let new = store::users::NewUser {
        fields: UserFields {
            username: username.to_owned(),
            display_name: display_name.unwrap_or(username).to_owned(),
            department_id: None,
            roles,
            clearance,
            email: None,
            phone: None,
        },
        password_hash: auth::hash_password(password)?,
    };
    let mut conn = state.pool.get().map_err(PersistenceError::from)?;
    Ok(users::create(&mut conn, state.clock.now(), None, new)?)
}

/// Where the OpenAPI document is served, for Swagger UI and generated clients.
const OPENAPI_JSON: &str = "/api-docs/openapi.json";

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(openapi::document_json())
}

/// Registers the whole application on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::PayloadConfig::new(JSON_LIMIT))
            .app_data(web::QueryConfig::default().error_handler(extract::query_error))
            .app_data(web::PathConfig::default().error_handler(methods::path_error))
            .app_data(
                web::FormConfig::default()
                    .limit(JSON_LIMIT)
                    .error_handler(extract::form_error),
            )
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}")
                    .config(utoipa_swagger_ui::Config::new([OPENAPI_JSON])),
            )
            .route(OPENAPI_JSON, web::get().to(openapi_json))
            .configure(routes::configure)
            .configure(scim::configure)
            .default_service(web::to(methods::unrouted));
    }
}

/// A bound, not yet running server: binding first lets tests ask for port 0 and learn the port.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub fn build(
        state: AppState,
        bind: &str,
        workers: Option<usize>,
    ) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(bind)?;
        let port = listener.local_addr()?.port();
        // Built here, once: what a worker thread builds stays in its own allocator arena.
        openapi::document_json();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(shape::check_query))
                .wrap(from_fn(headers::secure))
                .wrap(from_fn(metrics::track))
                .wrap(from_fn(methods::head_as_get))
                .configure(configure(state.clone()))
        })
        .listen(listener)?;
        if let Some(workers) = workers {
            server = server.workers(workers);
        }
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server(self) -> Server {
        self.server
    }
}
