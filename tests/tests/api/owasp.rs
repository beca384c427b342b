//! Black-box attacks after the OWASP API Security Top 10 (2023), one test per category, each
//! named after it. Categories not yet here are listed in issue 13's notes.

use std::sync::Arc;

use dangan_api::{clock::SystemClock, config::Secret};
use dangan_tests::{archive_body, both_stores, config_for, TestApp, TestStore};
use serde_json::json;

use crate::org::{barcode, org};

both_stores! {
    // API2: parallel guesses cannot outrun the lock-out: checking the throttle and counting the
    // attempt are one step, so at most the threshold of guesses reach the password check.
    fn api2_broken_authentication_parallel_guesses_stop_at_the_threshold(store) {
        let app = TestApp::start(store);
        let body = json!({"username": "admin", "password": "a-wrong-guess"});
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let guesses: Vec<_> = (0..200)
                .map(|_| scope.spawn(|| app.client.post("/api/v1/auth/login", None, &body).status))
                .collect();
            guesses.into_iter().map(|g| g.join().unwrap()).collect()
        });
        let wrong = statuses.iter().filter(|s| **s == 401).count();
        let throttled = statuses.iter().filter(|s| **s == 429).count();
        assert!(wrong <= 5, "{wrong} guesses were checked; the threshold is 5");
        assert_eq!(wrong + throttled, 200, "{statuses:?}");
        // The right password waits too, and the count is exact: one audited failure per check.
        login_status(&app, "admin", dangan_tests::ADMIN_PASSWORD, 429);
        app.clock.advance(time::Duration::minutes(31));
        let admin = app.admin_token();
        let failed = app.client.get("/api/v1/audit-events?action=auth.login_failed&limit=500", Some(&admin)).json();
        assert_eq!(failed["items"].as_array().unwrap().len(), wrong);
    }

    // A stolen access token buys no more guesses at its owner's password than a login form.
    fn api2_reauthentication_guesses_are_throttled_like_logins(store) {
        let org = org(store);
        let archive = org.archive("RA-1", "internal");
        let request = org.ask("borrower", &[archive.as_str()], "on_site", 3);
        let approved = org.approve_all(request.json());
        let loan = org.check_out("archivist", &approved, &barcode("RA-1")).json();
        // One token throughout: a login in between would be a right password, which resets the count.
        let token = org.token("borrower");
        let path = format!("/api/v1/loans/{}/sign", loan["id"].as_str().unwrap());
        let sign = |password: &str| org.app.client.post(&path, Some(&token), &json!({"password": password}));
        for _ in 0..5 {
            sign("not-my-password").assert_problem(403, "invalid_password");
        }
        let locked = sign(dangan_tests::PASSWORD);
        locked.assert_problem(429, "rate_limited");
        assert!(locked.header("retry-after").is_some());
        org.app.client.post("/api/v1/auth/login", None, &json!({"username": "borrower", "password": dangan_tests::PASSWORD}))
            .assert_problem(429, "rate_limited");
        org.app.clock.advance(time::Duration::seconds(61));
        assert_eq!(sign(dangan_tests::PASSWORD).status, 200, "the owner signs once the lock has passed");
        let admin = org.token("admin");
        let failed = org.app.client.get("/api/v1/audit-events?action=auth.login_failed", Some(&admin)).json();
        assert_eq!(failed["items"].as_array().unwrap().len(), 5, "each wrong password is audited");
    }

    // Refreshing keeps a login alive for at most DANGAN_SESSION_MAX_DAYS (30 here).
    fn api2_a_login_ends_after_its_absolute_lifetime(store) {
        let app = TestApp::start(store);
        let login = app.client.post("/api/v1/auth/login", None,
            &json!({"username": "admin", "password": dangan_tests::ADMIN_PASSWORD})).json();
        let mut refresh = login["refresh_token"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            app.clock.advance(time::Duration::days(14));
            let reply = app.client.post("/api/v1/auth/refresh", None, &json!({"refresh_token": refresh}));
            assert_eq!(reply.status, 200, "{}", reply.body);
            refresh = reply.json()["refresh_token"].as_str().unwrap().to_owned();
        }
        // Day 30: the newest refresh token is two days old, but the login is thirty.
        app.clock.advance(time::Duration::days(2));
        app.client.post("/api/v1/auth/refresh", None, &json!({"refresh_token": refresh}))
            .assert_problem(401, "unauthorized");
    }

    // Behind a trusted proxy the client is the forwarded address, so one guesser does not lock
    // out the whole office behind the proxy; a header from anyone else is not believed.
    fn api2_failures_count_against_the_client_behind_a_trusted_proxy(store) {
        let app = TestApp::start_with(store, |state| {
            state.trusted_proxies = Arc::new(vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]);
        });
        assert_eq!(failed_login_address(&app, "198.51.100.7, 203.0.113.9, 10.1.2.3"), "203.0.113.9");
        assert_eq!(failed_login_address(&app, "not-an-address"), "127.0.0.1");
    }

    // Names that never existed are forgotten once their window and lock have passed.
    fn api2_throttle_rows_of_unknown_names_are_pruned(store) {
        let app = TestApp::start(store);
        for _ in 0..6 {
            app.client.post("/api/v1/auth/login", None, &json!({"username": "nobody-at-all", "password": "x"}));
        }
        assert_eq!(throttle_rows(&app.store, "nobody-at-all"), 1);
        app.clock.advance(time::Duration::minutes(16));
        app.client.post("/api/v1/auth/login", None, &json!({"username": "admin", "password": "wrong"}));
        assert_eq!(throttle_rows(&app.store, "nobody-at-all"), 0, "the unknown name is forgotten");
        assert_eq!(throttle_rows(&app.store, "admin"), 1, "a real account keeps its count");
    }

    // API4: no parameter or body asks the server for unbounded work.
    fn api4_unrestricted_resource_consumption(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        // 257 characters of 档, percent-encoded: counted as characters once decoded.
        let long_query = format!("/api/v1/archives?q={}", "%E6%A1%A3".repeat(257));
        app.client.get(&long_query, Some(&token)).assert_problem(422, "validation_failed");
        app.client.get("/api/v1/archives?limit=100000", Some(&token)).assert_problem(422, "validation_failed");
        let mut body = archive_body("RC-1", "public");
        body["description"] = json!("x".repeat(5001));
        app.client.post("/api/v1/archives", Some(&token), &body).assert_problem(422, "validation_failed");
        // An import of many bad rows lists the first thousand errors and says how many there were.
        let mut rows = String::from("archive_code,barcode,title,category,classification,medium,location\n");
        for n in 0..1500 {
            rows.push_str(&format!("BAD-{n},B-{n},题名,文书,secretish,paper,A-01\n"));
        }
        let problem = app.send_bytes("POST", "/api/v1/archives/import", &token, "text/csv", rows.as_bytes())
            .assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"].as_array().unwrap().len(), 1000);
        assert_eq!(problem["errors_total"], 1500);
        assert_eq!(problem["detail"], "1500 row error(s), the first 1000 listed; nothing was imported");
        let huge = vec![b' '; 3 * 1024 * 1024];
        let reply = app.send_bytes("POST", "/api/v1/archives", &token, "application/json", &huge);
        reply.assert_problem(413, "payload_too_large");
    }

    // API8: answers carry no internals and the headers a browser needs to stay safe.
    fn api8_security_misconfiguration(store) {
        let org = org(store);
        let app = &org.app;
        // A forged token learns nothing about why it failed.
        let forged = app.client.get("/api/v1/me", Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
        let problem = forged.assert_problem(401, "unauthorized");
        assert_eq!(problem["detail"], "the token is not valid");
        assert_eq!(forged.header("x-content-type-options"), Some("nosniff"));

        // Tokens are never cached on the way.
        let login = app.client.post("/api/v1/auth/login", None,
            &json!({"username": "borrower", "password": dangan_tests::PASSWORD}));
        assert_eq!(login.status, 200, "{}", login.body);
        assert_eq!(login.header("cache-control"), Some("no-store"));

        // HTML pages run only this origin's scripts and cannot be framed.
        let docs = app.client.get("/swagger-ui/", None);
        assert_eq!(docs.status, 200);
        let policy = docs.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
        let archive = org.archive("MC-1", "internal");
        let request = org.ask("borrower", &[archive.as_str()], "on_site", 3);
        let approved = org.approve_all(request.json());
        let loan = org.check_out("archivist", &approved, &barcode("MC-1")).json();
        let page = app.client.get_with(&format!("/api/v1/loans/{}/voucher", loan["id"].as_str().unwrap()),
            &[("Authorization", &format!("Bearer {}", org.token("borrower"))), ("Accept", "text/html")]);
        assert_eq!(page.status, 200);
        assert!(page.header("content-security-policy").is_some_and(|p| p.contains("default-src 'self'")));
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

        // A report cell a spreadsheet would run as a formula is neutralised.
        let admin = org.token("admin");
        let mut body = archive_body("MC-2", "internal");
        body["category"] = json!("=HYPERLINK(\"http://evil.example\")");
        let formula = app.archive(&admin, &body)["id"].as_str().unwrap().to_owned();
        let request = org.ask("borrower", &[formula.as_str()], "on_site", 3);
        let approved = org.approve_all(request.json());
        org.check_out("archivist", &approved, &barcode("MC-2"));
        let csv = app.client.get_with("/api/v1/reports/loans?group_by=category",
            &[("Authorization", &format!("Bearer {admin}")), ("Accept", "text/csv")]);
        assert_eq!(csv.status, 200, "{}", csv.body);
        assert!(csv.body.contains("'=HYPERLINK"), "{}", csv.body);
        assert!(!csv.body.lines().any(|line| line.starts_with("\"=") || line.starts_with('=')), "{}", csv.body);
    }
}

/// The address the newest audited login failure was counted against, after one with this
/// `X-Forwarded-For`.
fn failed_login_address(app: &TestApp, forwarded_for: &str) -> String {
    let headers = [
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Forwarded-For".to_owned(), forwarded_for.to_owned()),
    ];
    let reply = app.client.raw(
        "POST",
        "/api/v1/auth/login",
        &headers,
        br#"{"username":"nobody","password":"wrong"}"#,
    );
    reply.assert_problem(401, "invalid_credentials");
    let admin = app.admin_token();
    let events = app
        .client
        .get(
            "/api/v1/audit-events?action=auth.login_failed&limit=500",
            Some(&admin),
        )
        .json();
    let newest = events["items"].as_array().unwrap().last().unwrap().clone();
    newest["data"]["address"].as_str().unwrap().to_owned()
}

#[test]
fn api2_a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::start(TestStore::sqlite());
    assert_eq!(failed_login_address(&app, "203.0.113.9"), "127.0.0.1");
}

fn login_status(app: &TestApp, username: &str, password: &str, status: u16) {
    let reply = app.client.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": username, "password": password}),
    );
    assert_eq!(reply.status, status, "{}", reply.body);
}

fn throttle_rows(store: &TestStore, username_key: &str) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let pool = dangan_persistence::db::connect(&store.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let sql =
        format!("SELECT COUNT(*) AS n FROM login_throttles WHERE username_key = '{username_key}'");
    diesel::sql_query(sql)
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n
}

/// API8: a signing key shorter than HS256's hash is refused at start, not used.
#[test]
fn api8_a_short_signing_key_stops_the_start() {
    let store = TestStore::sqlite();
    let mut config = config_for(&store);
    config.jwt_secret = Some("too-short-for-hs256".parse::<Secret>().unwrap());
    let Err(error) = dangan_api::prepare(&config, Arc::new(SystemClock)) else {
        panic!("a 19-byte key was accepted");
    };
    assert!(error.to_string().contains("at least 32 bytes"), "{error}");
}
