//! Webhooks to real HTTP receivers started by the test: signed deliveries that verify with the
//! secret, retry after a 500, the delivery log, 410 disabling the subscription, the SSRF checks,
//! and a receiver that never answers while the API goes on answering.

use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD, Engine};
use dangan_api::webhooks::deliver_due;
use dangan_domain::webhook::Allowed;
use dangan_tests::{archive_body, both_stores, receiver::Receiver, TestApp, TestStore, PASSWORD};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An app whose webhooks may reach this machine's loopback, with a borrower and an archive.
struct Setup {
    app: TestApp,
    admin: String,
    borrower: String,
    archive: String,
}

fn setup(store: TestStore, allow_loopback: bool) -> Setup {
    let app = TestApp::start_with(store, |state| {
        if allow_loopback {
            state.webhook_allow = Arc::new(vec!["127.0.0.0/8".parse::<Allowed>().unwrap()]);
        }
    });
    let admin = app.admin_token();
    let department = app.department(&admin, "OA");
    app.user(&admin, "reader", &department, &[], "public");
    let borrower = app.login("reader", PASSWORD);
    let archive = app.archive(&admin, &archive_body("WS-2026-Y-3001", "public"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        app,
        admin,
        borrower,
        archive,
    }
}

impl Setup {
    fn subscribe(&self, url: &str, events: &[&str]) -> Value {
        let reply = self.app.client.post(
            "/api/v1/webhooks",
            Some(&self.admin),
            &json!({"url": url, "events": events, "secret": SECRET}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()
    }

    fn ask(&self) -> Value {
        let reply = self.app.client.post(
            "/api/v1/loan-requests",
            Some(&self.borrower),
            &json!({"archive_ids": [self.archive], "purpose": "对接测试 / integration", "loan_type": "on_site", "days": 3}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()
    }

    fn deliveries(&self, webhook: &Value) -> Vec<Value> {
        let id = webhook["id"].as_str().unwrap();
        let reply = self.app.client.get(
            &format!("/api/v1/webhooks/{id}/deliveries"),
            Some(&self.app.admin_token()),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["items"].as_array().unwrap().clone()
    }
}

/// Verifies a delivery the way a receiver would, with the Standard Webhooks recipe.
fn verify(headers: &std::collections::HashMap<String, String>, body: &str) {
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let signed = format!(
        "{}.{}.{body}",
        headers["webhook-id"], headers["webhook-timestamp"]
    );
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(headers["webhook-signature"], expected);
}

both_stores! {
    fn deliveries_are_signed_retried_after_a_500_and_listed(store) {
        let setup = setup(store, true);
        let receiver = Receiver::start(&[500, 204]);
        let webhook = setup.subscribe(&receiver.url, &["request.created", "loan.checked_out"]);
        assert_eq!(webhook["active"], true);
        assert!(webhook.get("secret").is_none(), "the secret never leaves the server");

        let request = setup.ask();
        assert_eq!(deliver_due(&setup.app.state).unwrap(), 1);
        let first = setup.deliveries(&webhook);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["status"], "pending");
        assert_eq!(first[0]["attempts"][0]["status_code"], 500);

        assert_eq!(deliver_due(&setup.app.state).unwrap(), 0, "the retry waits five seconds");
        setup.app.clock.advance(Duration::seconds(5));
        assert_eq!(deliver_due(&setup.app.state).unwrap(), 1);

        let got = receiver.received();
        assert_eq!(got.len(), 2);
        for delivery in &got {
            assert_eq!(delivery.path, "/hooks");
            assert_eq!(delivery.headers["content-type"], "application/json");
            verify(&delivery.headers, &delivery.body);
        }
        assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"], "one message, two attempts");
        assert_eq!(got[0].body, got[1].body);
        let body: Value = serde_json::from_str(&got[1].body).unwrap();
        assert_eq!(body["type"], "request.created");
        assert_eq!(body["data"]["entity_type"], "loan_request");
        assert_eq!(body["data"]["entity_id"], request["id"]);

        let listed = setup.deliveries(&webhook);
        assert_eq!(listed[0]["status"], "delivered");
        assert_eq!(listed[0]["id"].as_str().unwrap(), got[0].headers["webhook-id"]);
        let statuses: Vec<&Value> = listed[0]["attempts"].as_array().unwrap().iter().map(|a| &a["status_code"]).collect();
        assert_eq!(statuses, [&json!(500), &json!(204)]);
        assert!(listed[0]["delivered_at"].is_string());

        // An event nobody subscribed to goes nowhere.
        let withdrawn = setup.app.client.post(
            &format!("/api/v1/loan-requests/{}/withdraw", request["id"].as_str().unwrap()),
            Some(&setup.borrower),
            &json!({}),
        );
        assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
        assert_eq!(deliver_due(&setup.app.state).unwrap(), 0);

        let list = setup.app.client.get("/api/v1/webhooks", Some(&setup.admin)).json();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let id = webhook["id"].as_str().unwrap();
        let bearer = [("Authorization".to_owned(), format!("Bearer {}", setup.admin))];
        let deleted = setup.app.client.raw("DELETE", &format!("/api/v1/webhooks/{id}"), &bearer, b"");
        assert_eq!(deleted.status, 204, "{}", deleted.body);
        setup.ask();
        assert_eq!(deliver_due(&setup.app.state).unwrap(), 0, "a deleted subscription gets nothing");
        setup.app.client.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&setup.admin)).assert_problem(404, "not_found");
    }

    fn a_410_disables_the_subscription(store) {
        let setup = setup(store, true);
        let receiver = Receiver::start(&[410]);
        let webhook = setup.subscribe(&receiver.url, &["request.created"]);
        setup.ask();
        assert_eq!(deliver_due(&setup.app.state).unwrap(), 1);
        let list = setup.app.client.get("/api/v1/webhooks", Some(&setup.admin)).json();
        assert_eq!(list["items"][0]["active"], false);
        assert!(list["items"][0]["disabled_reason"].as_str().unwrap().contains("410"));
        assert_eq!(setup.deliveries(&webhook)[0]["status"], "failed");
        setup.ask();
        setup.app.clock.advance(Duration::hours(1));
        assert_eq!(deliver_due(&setup.app.state).unwrap(), 0);
        assert_eq!(receiver.received().len(), 1);
    }

    fn webhook_urls_are_checked_against_ssrf(store) {
        let setup = setup(store, false);
        let create = |url: &str, events: Value, secret: &str| {
            setup.app.client.post(
                "/api/v1/webhooks",
                Some(&setup.admin),
                &json!({"url": url, "events": events, "secret": secret}),
            )
        };
        let events = json!(["loan.overdue"]);
        for url in [
            "http://127.0.0.1:9/hooks",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/hooks",
            "http://localhost/hooks",
            "http://0.0.0.0/",
            "file:///etc/passwd",
            "gopher://10.0.0.1/",
            "https://user:pass@oa.example.cn/",
        ] {
            let problem = create(url, events.clone(), SECRET).assert_problem(422, "validation_failed");
            assert!(problem["errors"]["url"].is_array(), "{url}: {problem}");
        }
        let problem = create("http://10.20.30.40/hooks", json!(["auth.login"]), SECRET).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["events[0]"].is_array(), "{problem}");
        let problem = create("http://10.20.30.40/hooks", events.clone(), "short").assert_problem(422, "validation_failed");
        assert!(problem["errors"]["secret"].is_array(), "{problem}");
        let created = create("http://10.20.30.40:8080/hooks", events.clone(), SECRET);
        assert_eq!(created.status, 201, "a private network is where OA servers live: {}", created.body);

        setup.app.client
            .post("/api/v1/webhooks", Some(&setup.borrower), &json!({"url": "http://10.20.30.40/", "events": events, "secret": SECRET}))
            .assert_problem(403, "forbidden");
        setup.app.client.get("/api/v1/webhooks", Some(&setup.borrower)).assert_problem(403, "forbidden");
    }

    fn a_receiver_that_never_answers_does_not_slow_the_api(store) {
        let setup = setup(store, true);
        let silent = Receiver::black_hole();
        let webhook = setup.subscribe(&silent.url, &["request.created"]);
        setup.ask();
        let state = setup.app.state.clone();
        let sender = std::thread::spawn(move || deliver_due(&state).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(200));
        // The sender waits for the receiver (up to its ten-second time-out) while the API answers.
        for _ in 0..3 {
            setup.ask();
            assert_eq!(setup.app.client.get("/api/v1/me", Some(&setup.borrower)).status, 200);
        }
        assert!(!sender.is_finished(), "the API answered while the sender still waited");
        assert_eq!(sender.join().unwrap(), 1);
        let deliveries = setup.deliveries(&webhook);
        let attempted = deliveries.iter().find(|d| !d["attempts"].as_array().unwrap().is_empty()).unwrap();
        assert_eq!(attempted["status"], "pending", "retried later");
        assert!(attempted["attempts"][0]["status_code"].is_null());
        assert!(attempted["attempts"][0]["error"].is_string());
        assert_eq!(deliveries.len(), 4, "every request made while it waited is queued");
    }
}

/// Resident memory of this process (the server runs in it), in bytes.
fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 1024
}

both_stores! {
    // API10: what a receiver answers is not consumed: the status is all a delivery needs, so a
    // 100 MB body is never read into memory, and the delivery ends without waiting for it.
    fn api10_unsafe_consumption_a_100_mb_answer_is_not_read(store) {
        let setup = setup(store, true);
        let (flood, written) = Receiver::flood(100 * 1024 * 1024);
        let webhook = setup.subscribe(&flood.url, &["request.created"]);
        setup.ask();
        let before = resident_bytes();
        let started = std::time::Instant::now();
        assert_eq!(deliver_due(&setup.app.state).unwrap(), 1);
        let took = started.elapsed();
        let grown = resident_bytes().saturating_sub(before);
        let deliveries = setup.deliveries(&webhook);
        assert_eq!(deliveries[0]["status"], "delivered", "{deliveries:?}");
        assert_eq!(deliveries[0]["attempts"][0]["status_code"], 200);
        assert!(took < std::time::Duration::from_secs(5), "the delivery took {took:?}");
        assert!(grown < 20 * 1024 * 1024, "resident memory grew by {grown} bytes");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let sent = written.load(std::sync::atomic::Ordering::Relaxed);
        assert!(sent < 100 * 1024 * 1024, "the receiver could send only {sent} bytes before the connection closed");
    }
}
