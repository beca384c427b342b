//! Configuration from the environment and command-line flags (each variable is also a flag).

use std::{fmt, str::FromStr};

use clap::{Args, Parser, Subcommand};
use dangan_domain::{reminder::ReminderSchedule, sso::ClaimMapping};
use time::Duration;

use crate::oidc::ProviderConfig;

/// A value that never appears in logs, debug output or `--help`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "dangan",
    version,
    about = "Dangan (档案): archive lending — request, approval, check-out, return, audit"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `sqlite://dangan.db` (embedded) or `postgres://user:pass@host/db`.
    #[arg(
        long,
        env = "DANGAN_DATABASE_URL",
        default_value = "sqlite://dangan.db",
        global = true
    )]
    pub database_url: String,
    /// Listen address.
    #[arg(
        long,
        env = "DANGAN_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,
    /// HS256 key for access tokens; generated on first start and kept in the database when unset.
    #[arg(long, env = "DANGAN_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<Secret>,
    /// Password of the `admin` user created on an empty database (random and printed once when unset).
    #[arg(
        long,
        env = "DANGAN_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<Secret>,
    /// Database connections per instance.
    #[arg(
        long,
        env = "DANGAN_DATABASE_POOL_SIZE",
        default_value_t = 16,
        global = true
    )]
    pub pool_size: u32,
    /// The site's own fonds number (全宗号, 4 capital letters or digits as the archives bureau
    /// gave it): made at the first start with the archive room's model, holding every archive
    /// catalogued before it and every archive created without a fonds.
    #[arg(
        long,
        env = "DANGAN_FONDS_NUMBER",
        default_value = "0001",
        global = true
    )]
    pub fonds_number: String,
    /// The site's own fonds name (the organisation that formed it).
    #[arg(
        long,
        env = "DANGAN_FONDS_NAME",
        default_value = "本单位",
        global = true
    )]
    pub fonds_name: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "DANGAN_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Days a login lasts at most, however often it is refreshed; then its user logs in again.
    #[arg(
        long,
        env = "DANGAN_SESSION_MAX_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u16).range(1..),
        global = true
    )]
    pub session_max_days: u16,
    /// Ed25519 key that signs audit checkpoints, kept outside the database: PKCS#8 PEM
    /// (`openssl genpkey -algorithm ed25519`), the 32-byte seed in hex, or the path of a file
    /// holding either. Unset, checkpoints are unsigned.
    #[arg(
        long,
        env = "DANGAN_AUDIT_SIGNING_KEY",
        hide_env_values = true,
        global = true
    )]
    pub audit_signing_key: Option<Secret>,
    #[command(flatten)]
    pub scheduler: SchedulerConfig,
    /// Networks (CIDR) and host names webhooks may reach although they are loopback or
    /// link-local (comma-separated), e.g. `127.0.0.1/32,oa.internal`.
    #[arg(
        long,
        env = "DANGAN_WEBHOOK_ALLOW",
        value_delimiter = ',',
        global = true
    )]
    pub webhook_allow: Vec<String>,
    /// Reverse proxies (CIDR, comma-separated) whose `X-Forwarded-For` names the client, e.g.
    /// `127.0.0.1/32,10.0.0.0/8`; a header from anyone else is ignored. Unset, the TCP peer is
    /// the client, and behind a proxy every client shares the proxy's address.
    #[arg(
        long,
        env = "DANGAN_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<String>,
    /// SMTP server for e-mail notices, e.g. `smtp://user:pass@mail.example.cn:587?tls=required`;
    /// unset, notices stay in-app only.
    #[arg(long, env = "DANGAN_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<Secret>,
    /// The sender of e-mail notices.
    #[arg(
        long,
        env = "DANGAN_MAIL_FROM",
        default_value = "Dangan 档案 <dangan@localhost>",
        global = true
    )]
    pub mail_from: String,
    /// Whether anyone may log in with a Dangan password (`false` once everyone signs in with
    /// the organisation's provider; users without a password never can).
    #[arg(
        long,
        env = "DANGAN_PASSWORD_LOGIN",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub password_login: bool,
    #[command(flatten)]
    pub oidc: OidcConfig,
    /// Where archive files are stored, sealed: `file://<directory>` or
    /// `s3://<bucket>?endpoint=…&region=…` (credentials from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`).
    #[arg(
        long,
        env = "DANGAN_FILES_URL",
        default_value = "file://./files",
        global = true
    )]
    pub files_url: String,
    /// The master key that wraps every file's own key: 64 hex digits (`openssl rand -hex 32`)
    /// or the path of a file holding them. Unset, a local store's key is generated on first start
    /// and kept beside its directory (`./files.key`); an S3-compatible store needs it set.
    #[arg(long, env = "DANGAN_FILES_KEY", hide_env_values = true, global = true)]
    pub files_key: Option<Secret>,
    /// The largest file accepted, in bytes.
    #[arg(
        long,
        env = "DANGAN_FILES_MAX_BYTES",
        default_value_t = 1 << 30,
        global = true
    )]
    pub files_max_bytes: u64,
}

/// Sign-in with OpenID Connect: one provider from these variables, more from a file.
#[derive(Debug, Clone, Args)]
pub struct OidcConfig {
    /// A YAML file listing providers (`providers: [{name, issuer, client_id, ...}]`), for
    /// several of them; see the README.
    #[arg(long, env = "DANGAN_OIDC_PROVIDERS", global = true)]
    pub oidc_providers: Option<std::path::PathBuf>,
    /// The provider's issuer URL, e.g. `https://sso.example.cn/realms/staff`.
    #[arg(long, env = "DANGAN_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,
    /// The name logins and the audit trail call this provider by.
    #[arg(long, env = "DANGAN_OIDC_NAME", default_value = "sso", global = true)]
    pub oidc_name: String,
    #[arg(long, env = "DANGAN_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,
    #[arg(
        long,
        env = "DANGAN_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub oidc_client_secret: Option<Secret>,
    /// Front-end pages a sign-in may end at (comma-separated, exact).
    #[arg(
        long,
        env = "DANGAN_OIDC_REDIRECT_URIS",
        value_delimiter = ',',
        global = true
    )]
    pub oidc_redirect_uris: Vec<String>,
    /// Dangan's callback as registered at the provider
    /// (`https://dangan.example.cn/api/v1/auth/oidc/callback`); unset, made from the request.
    #[arg(long, env = "DANGAN_OIDC_CALLBACK_URL", global = true)]
    pub oidc_callback_url: Option<String>,
    /// Create a user at the first sign-in of someone Dangan does not know.
    #[arg(
        long,
        env = "DANGAN_OIDC_CREATE_USERS",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub oidc_create_users: bool,
    /// Take a first sign-in for the user provisioning made under the same username (exactly), or
    /// with `DANGAN_OIDC_LINK_CLAIM` the one whose SCIM `externalId` the claim holds; never a
    /// user with roles, a Dangan password or a linked identity (an admin links those).
    #[arg(long, env = "DANGAN_OIDC_LINK_BY_USERNAME", global = true)]
    pub oidc_link_by_username: bool,
    /// The stable claim (`oid`, `sub`, an employee id) linking matches against the `externalId`
    /// the provider's SCIM client gave a user; unset, linking matches the username.
    #[arg(long, env = "DANGAN_OIDC_LINK_CLAIM", global = true)]
    pub oidc_link_claim: Option<String>,
    /// The claim new users' usernames come from.
    #[arg(
        long,
        env = "DANGAN_OIDC_USERNAME_CLAIM",
        default_value = "preferred_username",
        global = true
    )]
    pub oidc_username_claim: String,
    /// A claim holding a department code for new users.
    #[arg(long, env = "DANGAN_OIDC_DEPARTMENT_CLAIM", global = true)]
    pub oidc_department_claim: Option<String>,
    /// A claim holding role names for new users (never `admin`).
    #[arg(long, env = "DANGAN_OIDC_ROLES_CLAIM", global = true)]
    pub oidc_roles_claim: Option<String>,
    /// A claim holding new users' clearance; unset, they are `public` until an admin says more.
    #[arg(long, env = "DANGAN_OIDC_CLEARANCE_CLAIM", global = true)]
    pub oidc_clearance_claim: Option<String>,
}

impl Default for OidcConfig {
    /// No provider; the rest as the flags' defaults.
    fn default() -> Self {
        OidcConfig {
            oidc_providers: None,
            oidc_issuer: None,
            oidc_name: "sso".into(),
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_redirect_uris: Vec::new(),
            oidc_callback_url: None,
            oidc_create_users: true,
            oidc_link_by_username: false,
            oidc_link_claim: None,
            oidc_username_claim: "preferred_username".into(),
            oidc_department_claim: None,
            oidc_roles_claim: None,
            oidc_clearance_claim: None,
        }
    }
}

impl OidcConfig {
    /// Every provider configured: the one of the variables first, then the file's.
    pub fn providers(&self) -> Result<Vec<ProviderConfig>, String> {
        let mut providers = Vec::new();
        if let Some(issuer) = &self.oidc_issuer {
            let (Some(client_id), Some(client_secret)) =
                (&self.oidc_client_id, &self.oidc_client_secret)
            else {
                return Err(
                    "DANGAN_OIDC_ISSUER needs DANGAN_OIDC_CLIENT_ID and DANGAN_OIDC_CLIENT_SECRET"
                        .into(),
                );
            };
            providers.push(ProviderConfig {
                name: self.oidc_name.clone(),
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                redirect_uris: self.oidc_redirect_uris.clone(),
                callback_url: self.oidc_callback_url.clone(),
                scopes: vec!["profile".into(), "email".into()],
                claims: ClaimMapping {
                    username_claim: self.oidc_username_claim.clone(),
                    department_claim: self.oidc_department_claim.clone(),
                    roles_claim: self.oidc_roles_claim.clone(),
                    clearance_claim: self.oidc_clearance_claim.clone(),
                    link_claim: self.oidc_link_claim.clone(),
                    ..ClaimMapping::default()
                },
                create_users: self.oidc_create_users,
                link_by_username: self.oidc_link_by_username,
            });
        }
        if let Some(path) = &self.oidc_providers {
            providers.extend(crate::oidc::read_providers_file(path)?);
        }
        Ok(providers)
    }
}

/// The reminder scheduler: how often it runs inside `serve`, and its offsets.
#[derive(Debug, Clone, Args)]
pub struct SchedulerConfig {
    /// Seconds between scheduler runs inside `serve`; 0 turns it off (then run
    /// `dangan scheduler run-once` from cron).
    #[arg(
        long,
        env = "DANGAN_SCHEDULER_INTERVAL_SECS",
        default_value_t = 60,
        global = true
    )]
    pub scheduler_interval_secs: u64,
    /// Days before the due date when due-soon reminders go out (comma-separated).
    #[arg(long, env = "DANGAN_REMIND_DUE_DAYS", value_delimiter = ',', default_values_t = [3, 1], global = true)]
    pub remind_due_days: Vec<i64>,
    /// Days between overdue notices (the first goes out on the first day overdue).
    #[arg(
        long,
        env = "DANGAN_OVERDUE_EVERY_DAYS",
        default_value_t = 3,
        global = true
    )]
    pub overdue_every_days: i64,
    /// Days overdue after which the department head and the archivists are told.
    #[arg(
        long,
        env = "DANGAN_ESCALATE_OVERDUE_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub escalate_overdue_days: i64,
    /// Hours an approval step waits before its approvers are reminded.
    #[arg(
        long,
        env = "DANGAN_APPROVAL_REMIND_HOURS",
        default_value_t = 24,
        global = true
    )]
    pub approval_remind_hours: i64,
    /// Hours an approval step waits before the admins are told.
    #[arg(
        long,
        env = "DANGAN_APPROVAL_ESCALATE_HOURS",
        default_value_t = 72,
        global = true
    )]
    pub approval_escalate_hours: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_interval_secs: 60,
            remind_due_days: vec![3, 1],
            overdue_every_days: 3,
            escalate_overdue_days: 7,
            approval_remind_hours: 24,
            approval_escalate_hours: 72,
        }
    }
}

impl SchedulerConfig {
    pub fn schedule(&self) -> ReminderSchedule {
        ReminderSchedule {
            due_soon: self
                .remind_due_days
                .iter()
                .map(|d| Duration::days(*d))
                .collect(),
            overdue_every: Duration::days(self.overdue_every_days),
            escalate_overdue_after: Duration::days(self.escalate_overdue_days),
            approval_remind_after: Duration::hours(self.approval_remind_hours),
            approval_escalate_after: Duration::hours(self.approval_escalate_hours),
        }
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as YAML.
    Openapi,
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The reminder scheduler.
    #[command(subcommand)]
    Scheduler(SchedulerCommand),
    /// The audit chain, read straight from the database (no server needed).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Copy the SQLite database to FILE while the server runs (PostgreSQL: use pg_dump).
    Backup {
        /// Where the copy goes; it must not exist yet.
        file: std::path::PathBuf,
    },
    /// The day counters reports are read from, straight in the database.
    #[command(subcommand)]
    Rollups(RollupsCommand),
    /// Archive files.
    #[command(subcommand)]
    Files(FilesCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum FilesCommand {
    /// Re-wrap every file's key from DANGAN_FILES_KEY to a new master key, without rewriting a
    /// file; then start every instance with DANGAN_FILES_KEY set to the new key.
    RotateKey {
        /// The new key: 64 hex digits or the path of a file holding them (or set
        /// DANGAN_FILES_NEW_KEY).
        #[arg(long, env = "DANGAN_FILES_NEW_KEY", hide_env_values = true)]
        new_key: Secret,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum RollupsCommand {
    /// Refill them from the loans and requests (after history was written into the store
    /// directly, or to repair them).
    Rebuild,
    /// Compare every report over the whole history with the same report computed from the
    /// loans and requests alone. Exits 1 when they differ.
    Verify,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain; with `--checkpoint`, also prove it still extends a checkpoint saved
    /// from `GET /audit-events/checkpoint`. Exits 1 when it does not.
    Verify {
        /// A checkpoint (JSON) saved earlier.
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
        /// The public key the checkpoint must be signed with (hex or PEM); default: the key of
        /// DANGAN_AUDIT_SIGNING_KEY, else the one named in the checkpoint.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print a checkpoint of the chain's head as JSON, signed with DANGAN_AUDIT_SIGNING_KEY.
    Checkpoint,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SchedulerCommand {
    /// Send what is due now once and exit (for cron; safe beside running servers).
    RunOnce,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create a user directly in the database.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// The new user's password (or set DANGAN_NEW_USER_PASSWORD).
        #[arg(long, env = "DANGAN_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Secret,
        /// Comma-separated roles: archivist, security_officer, leader, auditor, admin.
        #[arg(long, default_value = "")]
        roles: String,
        /// public, internal, secret, confidential or top_secret.
        #[arg(long, default_value = "internal")]
        clearance: String,
    },
}
