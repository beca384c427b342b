//! Configuration from the environment and command-line flags (each variable is also a flag).

use std::{fmt, str::FromStr};

use clap::{Args, Parser, Subcommand};

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
