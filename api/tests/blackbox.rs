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

/// The binary on `store`'s files, with their key: a command that opens the file store never
/// generates a key in the working directory.
fn binary_for(store: &TestStore) -> Command {
    let mut command = Command::new(binary());
    command
        .env(
            "DANGAN_FILES_URL",
            format!("file://{}", store.files_dir.display()),
        )
        .env("DANGAN_FILES_KEY", dangan_tests::FILES_KEY);
    command
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
    let (server, client, _) = start_with_pid(store);
    (server, client)
}

/// `start`, with the server's process id.
fn start_with_pid(store: &TestStore) -> (Server, Client, u32) {
    let mut child = binary_for(store)
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
    let pid = child.id();
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
    (server, client, pid)
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
        binary_for(&store)
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
    let output = binary_for(&store)
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
        binary_for(&store)
            .args(args)
            .env("DANGAN_DATABASE_URL", &store.url)
            .env("DANGAN_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    assert!(dangan(&["migrate"]).status.success());
    let signed = binary_for(&store)
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
        binary_for(&store)
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
    let refused = binary_for(&store)
        .args(["backup", file.to_str().unwrap()])
        .env("DANGAN_DATABASE_URL", &store.url)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
    assert!(!file.exists());
}

/// A multipart upload of a PDF-looking file of `size` bytes, made as it is read: the test holds
/// none of it in memory either.
struct GeneratedUpload {
    head: std::io::Cursor<Vec<u8>>,
    left: usize,
    tail: std::io::Cursor<Vec<u8>>,
    hash: sha2::Sha256,
    counter: u64,
}

impl GeneratedUpload {
    fn new(size: usize) -> GeneratedUpload {
        let head = b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n\
Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
            .to_vec();
        GeneratedUpload {
            head: std::io::Cursor::new(head),
            left: size - 9,
            tail: std::io::Cursor::new(b"\r\n--XBOUNDARYX--\r\n".to_vec()),
            hash: sha2::Digest::chain_update(sha2::Sha256::default(), b"%PDF-1.7\n"),
            counter: 0,
        }
    }
}

impl std::io::Read for GeneratedUpload {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if self.left > 0 {
            let n = buf.len().min(self.left).min(64 * 1024);
            for chunk in buf[..n].chunks_mut(8) {
                self.counter = self
                    .counter
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let bytes = self.counter.to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            sha2::Digest::update(&mut self.hash, &buf[..n]);
            self.left -= n;
            return Ok(n);
        }
        self.tail.read(buf)
    }
}

/// One line of process `pid`'s status now, in bytes (Linux): `VmRSS` is all its resident memory,
/// `RssAnon` the part that is not the binary's and libraries' own pages (heap and stacks: what
/// holding a file in memory would grow; a debug build's code pages make `VmRSS` far larger).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn rss(pid: u32) -> (u64, u64) {
    (status_bytes(pid, "VmRSS:"), status_bytes(pid, "RssAnon:"))
}

/// Samples `pid`'s resident memory every 10 ms until dropped; `peak` is the most seen.
struct RssWatch {
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, u64)>>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = (0, 0);
            while flag.load(std::sync::atomic::Ordering::Relaxed) {
                let now = rss(pid);
                peak = (peak.0.max(now.0), peak.1.max(now.1));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        RssWatch {
            running,
            thread: Some(thread),
        }
    }

    fn peak(mut self) -> (u64, u64) {
        self.running
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// A 200 MB file goes through the real server streamed: its resident memory stays under
/// 100 MB while the file is sealed into the store, and the file comes back whole.
fn a_large_upload_streams(store: TestStore) {
    use std::io::Read;
    const SIZE: usize = 200 * 1000 * 1000;
    let (_server, client, pid) = start_with_pid(&store);
    let login = client.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    let admin = login.json()["access_token"].as_str().unwrap().to_owned();
    let archive = client.post(
        "/api/v1/archives",
        Some(&admin),
        &dangan_tests::archive_body("BIG-1", "internal"),
    );
    assert_eq!(archive.status, 201, "{}", archive.body);
    let archive = archive.json()["id"].as_str().unwrap().to_owned();
    let before = rss(pid);
    let watch = RssWatch::start(pid);

    let mut body = GeneratedUpload::new(SIZE);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let started = Instant::now();
    let mut response = agent
        .post(format!("{}/api/v1/archives/{archive}/files", client.base))
        .header("Authorization", format!("Bearer {admin}"))
        .header("Content-Type", "multipart/form-data; boundary=XBOUNDARYX")
        .send(ureq::SendBody::from_reader(&mut body))
        .unwrap();
    let uploaded_in = started.elapsed();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status(), 201, "{text}");
    let created: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = hex::encode(sha2::Digest::finalize(body.hash));
    assert_eq!(created["size_bytes"], SIZE);
    assert_eq!(created["sha256"], expected.as_str());
    let peak = watch.peak();

    let started = Instant::now();
    let mut download = agent
        .get(format!(
            "{}/api/v1/archives/{archive}/files/{}",
            client.base,
            created["id"].as_str().unwrap()
        ))
        .header("Authorization", format!("Bearer {admin}"))
        .call()
        .unwrap();
    assert_eq!(download.status(), 200);
    let mut reader = download.body_mut().with_config().limit(u64::MAX).reader();
    let (mut hash, mut buf, mut total) = (
        <sha2::Sha256 as sha2::Digest>::new(),
        vec![0u8; 1 << 16],
        0usize,
    );
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut hash, &buf[..n]);
        total += n;
    }
    let downloaded_in = started.elapsed();
    assert_eq!(total, SIZE);
    assert_eq!(hex::encode(sha2::Digest::finalize(hash)), expected);
    let mb = SIZE as f64 / 1e6;
    eprintln!(
        "200 MB: upload {:.1} MB/s, download (checked, then streamed) {:.1} MB/s; server RSS \
         {:.1} MB before the upload ({:.1} MB anonymous), at most {:.1} MB during it ({:.1} MB \
         anonymous)",
        mb / uploaded_in.as_secs_f64(),
        mb / downloaded_in.as_secs_f64(),
        before.0 as f64 / 1e6,
        before.1 as f64 / 1e6,
        peak.0 as f64 / 1e6,
        peak.1 as f64 / 1e6
    );
    assert!(
        peak.1 < 100 * 1000 * 1000,
        "{} bytes of heap resident during a 200 MB upload",
        peak.1
    );
    assert!(
        peak.1 < before.1 + 40 * 1000 * 1000,
        "the upload grew the heap by {} bytes",
        peak.1 - before.1
    );
}

#[test]
fn a_200_mb_upload_streams_in_under_100_mb_on_sqlite() {
    a_large_upload_streams(TestStore::sqlite());
}

#[test]
fn a_200_mb_upload_streams_in_under_100_mb_on_postgres() {
    let Some(store) = TestStore::postgres() else {
        eprintln!("skipped: DANGAN_TEST_POSTGRES_URL is not set");
        return;
    };
    a_large_upload_streams(store);
}
