//! Test support: a fresh database per test on each store, the app on a real port with a movable
//! clock, and a small HTTP client. Panicking on a broken fixture is the point here, so the
//! workspace's unwrap/expect lints are lifted for this crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod http;
pub mod oidc;
pub mod pdf;
pub mod pgwire;
pub mod receiver;
pub mod s3;
pub mod smtp;
pub mod store;

use std::{sync::Arc, thread::JoinHandle};

use dangan_api::{
    clock::ManualClock,
    config::{Config, OidcConfig, SchedulerConfig, Secret},
    prepare,
    state::AppState,
    Application,
};
use time::OffsetDateTime;

pub use http::{Client, Reply};
pub use store::TestStore;

pub const ADMIN_PASSWORD: &str = "admin-pass-2026";

/// Where every test clock starts: a fixed instant, so no test depends on the day it runs
/// (request numbers carry the year, reminders the date).
pub const TEST_START: OffsetDateTime = time::macros::datetime!(2026-11-24 09:00 UTC);
pub const PASSWORD: &str = "borrower-pass-2026";
/// The master key of archive files in tests.
pub const FILES_KEY: &str = "6a1f0c3e9b2d4f5a7c8e0b1d3f5a7c9e1b3d5f7a9c0e2b4d6f8a0c2e4b6d8f0a";

/// Runs a test body once per configured store: SQLite always, PostgreSQL when
/// `DANGAN_TEST_POSTGRES_URL` is set. Each run gets its own fresh database.
#[macro_export]
macro_rules! both_stores {
    ($(fn $name:ident($store:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[test]
                fn sqlite() {
                    let $store = $crate::TestStore::sqlite();
                    $body
                }

                #[test]
                fn postgres() {
                    let Some($store) = $crate::TestStore::postgres() else {
                        eprintln!("skipped: DANGAN_TEST_POSTGRES_URL is not set");
                        return;
                    };
                    $body
                }
            }
        )*
    };
}

/// The app, started in this process on a free port, with a clock the test moves.
pub struct TestApp {
    pub client: Client,
    pub clock: ManualClock,
    /// The server's state, for running its scheduler at the clock's time.
    pub state: AppState,
    pub store: TestStore,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

pub fn config_for(store: &TestStore) -> Config {
    Config {
        database_url: store.url.clone(),
        bind: "127.0.0.1:0".into(),
        jwt_secret: None,
        admin_password: Some(Secret::from(ADMIN_PASSWORD)),
        pool_size: 8,
        fonds_number: "J001".into(),
        fonds_name: "档案测试单位".into(),
        workers: Some(2),
        session_max_days: 30,
        audit_signing_key: None,
        // Tests run the scheduler themselves, at the clock's time they choose.
        scheduler: SchedulerConfig {
            scheduler_interval_secs: 0,
            ..SchedulerConfig::default()
        },
        webhook_allow: Vec::new(),
        trusted_proxies: Vec::new(),
        smtp_url: None,
        mail_from: "Dangan 档案 <dangan@localhost>".into(),
        password_login: true,
        oidc: OidcConfig::default(),
        files_url: format!("file://{}", store.files_dir.display()),
        files_key: Some(Secret::from(FILES_KEY)),
        files_max_bytes: 1 << 30,
    }
}

impl TestApp {
    pub fn start(store: TestStore) -> TestApp {
        Self::start_with(store, |_| {})
    }

    /// Starts the app after `adjust` has changed its state (e.g. a tighter throttle policy).
    pub fn start_with(store: TestStore, adjust: impl FnOnce(&mut AppState)) -> TestApp {
        let config = config_for(&store);
        Self::start_configured(store, config, adjust)
    }

    /// Starts the app with `config` (e.g. another database role) on `store`, which it cleans up.
    pub fn start_configured(
        store: TestStore,
        config: Config,
        adjust: impl FnOnce(&mut AppState),
    ) -> TestApp {
        let clock = ManualClock::new(TEST_START);
        let mut state = prepare(&config, Arc::new(clock.clone())).expect("app state");
        adjust(&mut state);
        let app = Application::build(state.clone(), &config.bind, config.workers).expect("bind");
        let port = app.port();
        let server = app.server();
        let handle = server.handle();
        let thread = std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
        TestApp {
            client: Client::new(format!("http://127.0.0.1:{port}")),
            clock,
            state,
            store,
            handle,
            thread: Some(thread),
        }
    }

    /// Logs in and returns the access token.
    pub fn login(&self, username: &str, password: &str) -> String {
        let reply = self.client.post(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({"username": username, "password": password}),
        );
        assert_eq!(reply.status, 200, "login of {username}: {}", reply.body);
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub fn admin_token(&self) -> String {
        self.login("admin", ADMIN_PASSWORD)
    }

    /// Creates a department and returns its id.
    pub fn department(&self, admin: &str, code: &str) -> String {
        let reply = self.client.post(
            "/api/v1/departments",
            Some(admin),
            &serde_json::json!({"code": code, "name": format!("{code} 部门")}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a user with `PASSWORD` and returns the created user object.
    pub fn user(
        &self,
        admin: &str,
        username: &str,
        department_id: &str,
        roles: &[&str],
        clearance: &str,
    ) -> serde_json::Value {
        let reply = self.client.post(
            "/api/v1/users",
            Some(admin),
            &serde_json::json!({
                "username": username,
                "display_name": username,
                "password": PASSWORD,
                "department_id": department_id,
                "roles": roles,
                "clearance": clearance,
            }),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()
    }
}

/// Another instance of the app, on the same store and clock as a `TestApp`, with its own
/// configuration (another key, another policy) and port.
pub struct Instance {
    pub client: Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts another instance with `config` beside this one, or says why it would not start.
    pub fn instance(&self, config: &Config) -> Result<Instance, dangan_api::StartupError> {
        let state = prepare(config, Arc::new(self.clock.clone()))?;
        let app = Application::build(state, "127.0.0.1:0", Some(1)).expect("bind");
        let port = app.port();
        let server = app.server();
        let handle = server.handle();
        let thread = std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
        Ok(Instance {
            client: Client::new(format!("http://127.0.0.1:{port}")),
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A port nobody listens on now, for a peer the tests start.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A test whose peer (`variable` names its command) is not installed is skipped, unless
/// `DANGAN_TEST_REQUIRE_PEERS` is set (as `.ci/run` sets it): then a missing peer fails the test
/// instead of passing it unseen.
pub fn skip_or_fail(variable: &str) {
    assert!(
        std::env::var_os("DANGAN_TEST_REQUIRE_PEERS").is_none(),
        "{variable} is not set, and DANGAN_TEST_REQUIRE_PEERS says every peer must run"
    );
    eprintln!("skipped: {variable} is not set");
}

/// Percent-encodes a query or path value (`·` and Chinese included).
pub fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The codes of the archives `GET /archives?{query}` lists, in its order.
pub fn codes(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let reply = app
        .client
        .get(&format!("/api/v1/archives?{query}"), Some(token));
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["archive_code"].as_str().unwrap().to_owned())
        .collect()
}

/// The fields of a valid archive; tests change what they are about.
pub fn archive_body(code: &str, classification: &str) -> serde_json::Value {
    serde_json::json!({
        "archive_code": code,
        "barcode": format!("BC-{code}"),
        "title": format!("{code} 档案"),
        "category": "文书",
        "classification": classification,
        "medium": "paper",
        "location": "A-01-01-01",
    })
}

impl TestApp {
    /// Catalogues an archive and returns it.
    pub fn archive(&self, token: &str, body: &serde_json::Value) -> serde_json::Value {
        let reply = self.client.post("/api/v1/archives", Some(token), body);
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()
    }

    /// Sends raw bytes with a content type.
    pub fn send_bytes(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        let headers = vec![
            ("Content-Type".to_owned(), content_type.to_owned()),
            ("Authorization".to_owned(), format!("Bearer {token}")),
        ];
        self.client.raw(method, path, &headers, body)
    }
}
