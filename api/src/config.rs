//! Configuration from the environment and command-line flags (each variable is also a flag).

use std::{fmt, str::FromStr};

use clap::{Args, Parser, Subcommand};
use dangan_domain::reminder::ReminderSchedule;
use time::Duration;

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
