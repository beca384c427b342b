//! The real `dangan` binary on a free port against a fresh database, spoken to over HTTP only.
// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use dangan_tests::{Client, TestStore, ADMIN_PASSWORD, PASSWORD};
use serde_json::json;

/// Cargo builds the package's binary before its integration tests and says where it is.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dangan"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on port 0 and reads the port it reports.
fn start(store: &TestStore) -> (Server, Client) {
    let mut child = Command::new(binary())
        .arg("serve")
        .env("DANGAN_DATABASE_URL", &store.url)
        .env("DANGAN_BIND", "127.0.0.1:0")
        .env("DANGAN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("DANGAN_WORKERS", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut port = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("(port ").nth(1) {
            port = rest.trim_end_matches(')').parse::<u16>().ok();
            break;
        }
    }
    let port = port.expect("the server reports its port");
    // Keep draining the log so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get("/healthz", None).status != 200 {
        assert!(Instant::now() < deadline, "no /healthz within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, client)
}

fn login_create_user_me(store: TestStore) {
    let (_server, client) = start(&store);
    let login = client.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let admin = login.json()["access_token"].as_str().unwrap().to_owned();
    let department = client.post(
        "/api/v1/departments",
        Some(&admin),
        &json!({"code": "WS", "name": "文书科"}),
    );
    assert_eq!(department.status, 201, "{}", department.body);
    let created = client.post(
        "/api/v1/users",
        Some(&admin),
        &json!({
            "username": "chenba", "display_name": "陈八", "password": PASSWORD,
            "department_id": department.json()["id"], "roles": [], "clearance": "internal"
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let login = client.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "chenba", "password": PASSWORD}),
    );
    let token = login.json()["access_token"].as_str().unwrap().to_owned();
    let me = client.get("/api/v1/me", Some(&token));
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "chenba");
    assert_eq!(me.json()["department"]["name"], "文书科");
}

#[test]
fn the_binary_serves_login_create_user_and_me_on_sqlite() {
    login_create_user_me(TestStore::sqlite());
}

#[test]
fn the_binary_serves_login_create_user_and_me_on_postgres() {
    let Some(store) = TestStore::postgres() else {
        eprintln!("skipped: DANGAN_TEST_POSTGRES_URL is not set");
        return;
    };
    login_create_user_me(store);
}

#[test]
fn the_binary_prints_the_committed_openapi_document() {
    let output = Command::new(binary()).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml"))
            .unwrap_or_default();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[test]
fn the_scheduler_runs_once_from_the_command_line() {
    let store = TestStore::sqlite();
    let run = || {
        Command::new(binary())
            .args(["scheduler", "run-once"])
            .env("DANGAN_DATABASE_URL", &store.url)
            .env("DANGAN_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let output = run();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("reminders: 0"), "{printed}");
    assert!(
        run().status.success(),
        "a second run beside the first state"
    );
}

#[test]
fn a_bad_webhook_allow_list_stops_the_start() {
    let store = TestStore::sqlite();
    let output = Command::new(binary())
        .arg("migrate")
        .env("DANGAN_DATABASE_URL", &store.url)
        .env("DANGAN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("DANGAN_WEBHOOK_ALLOW", "10.0.0.0/99")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DANGAN_WEBHOOK_ALLOW"), "{stderr}");
}

#[test]
fn the_audit_chain_is_checked_against_a_checkpoint_from_the_command_line() {
    let store = TestStore::sqlite();
    // RFC 8032 §7.1, test 1: a key given in hex, as from a secret store.
    let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let dangan = |args: &[&str]| {
        Command::new(binary())
            .args(args)
            .env("DANGAN_DATABASE_URL", &store.url)
            .env("DANGAN_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    assert!(dangan(&["migrate"]).status.success());
    let signed = Command::new(binary())
        .args(["audit", "checkpoint"])
        .env("DANGAN_DATABASE_URL", &store.url)
        .env("DANGAN_AUDIT_SIGNING_KEY", seed)
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let checkpoint: serde_json::Value = serde_json::from_slice(&signed.stdout).unwrap();
    assert_eq!(checkpoint["public_key"], public_key);
    let file = std::env::temp_dir().join(format!("checkpoint-{}.json", std::process::id()));
    std::fs::write(&file, &signed.stdout).unwrap();
    let file = file.to_str().unwrap();

    let held = dangan(&[
        "audit",
        "verify",
        "--checkpoint",
        file,
        "--public-key",
        public_key,
    ]);
    let printed = String::from_utf8_lossy(&held.stdout);
    assert!(
        held.status.success(),
        "{printed} {}",
        String::from_utf8_lossy(&held.stderr)
    );
    assert!(
        printed.contains(&format!("signed by {public_key}")),
        "{printed}"
    );

    let stranger = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let refused = dangan(&[
        "audit",
        "verify",
        "--checkpoint",
        file,
        "--public-key",
        stranger,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("signature does not verify"), "{said}");
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_backup_taken_while_the_server_writes_restores_to_a_chain_and_counters_that_verify() {
    let store = TestStore::sqlite();
    let (_server, client) = start(&store);
    let login = client.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    let admin = login.json()["access_token"].as_str().unwrap().to_owned();
    let writing = std::sync::atomic::AtomicBool::new(true);
    let copy = std::env::temp_dir().join(format!("dangan-backup-{}.db", uuid::Uuid::new_v4()));
    let dangan = |url: &str, args: &[&str]| {
        Command::new(binary())
            .args(args)
            .env("DANGAN_DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut made = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"code": format!("D{made}"), "name": format!("部门 {made}")});
                let reply = client.post("/api/v1/departments", Some(&admin), &body);
                assert_eq!(reply.status, 201, "{}", reply.body);
                made += 1;
            }
            made
        });
        std::thread::sleep(Duration::from_millis(300));
        let backup = dangan(&store.url, &["backup", copy.to_str().unwrap()]);
        assert!(
            backup.status.success(),
            "{}",
            String::from_utf8_lossy(&backup.stderr)
        );
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        assert!(
            writer.join().unwrap() > 0,
            "the server wrote during the backup"
        );
    });

    let copied = format!("sqlite://{}", copy.display());
    let verified = dangan(&copied, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let agreed = dangan(&copied, &["rollups", "verify"]);
    assert!(
        agreed.status.success(),
        "{}",
        String::from_utf8_lossy(&agreed.stderr)
    );

    // A backup never writes over a file.
    let again = dangan(&store.url, &["backup", copy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    // Counters that no longer match the loans are caught.
    {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::SqliteConnection::establish(copy.to_str().unwrap()).unwrap();
        diesel::sql_query(
            "INSERT INTO loan_days VALUES ('all', '', '2026-01-01', 'public', 1, 0, 0, 0.0, 0, 0)",
        )
        .execute(&mut conn)
        .unwrap();
    }
    let disagreed = dangan(&copied, &["rollups", "verify"]);
    assert_eq!(disagreed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&disagreed.stderr).contains("summary: counters"),
        "{}",
        String::from_utf8_lossy(&disagreed.stderr)
    );
    let rebuilt = dangan(&copied, &["rollups", "rebuild"]);
    assert!(rebuilt.status.success());
    assert!(dangan(&copied, &["rollups", "verify"]).status.success());
    let _ = std::fs::remove_file(&copy);
}

#[test]
fn postgres_is_backed_up_with_pg_dump() {
    let Some(store) = TestStore::postgres() else {
        eprintln!("DANGAN_TEST_POSTGRES_URL is not set; skipping");
        return;
    };
    let file = std::env::temp_dir().join(format!("dangan-backup-{}.db", uuid::Uuid::new_v4()));
    let refused = Command::new(binary())
        .args(["backup", file.to_str().unwrap()])
        .env("DANGAN_DATABASE_URL", &store.url)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
    assert!(!file.exists());
}
