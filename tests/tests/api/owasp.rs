//! Black-box attacks after the OWASP API Security Top 10 (2023), one test per category, each
//! named after it (API10, a flood from a webhook receiver, is in webhooks.rs beside its receiver).

use std::sync::Arc;

use dangan_api::{
    clock::{Clock, SystemClock},
    config::Secret,
};
use dangan_tests::{archive_body, both_stores, config_for, TestApp, TestStore};
use serde_json::{json, Value};

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

    // The per-address limit holds under parallel guesses too: one address spraying many names
    // at once gets exactly the limit of answers before 429.
    fn api2_parallel_guesses_from_one_address_stop_at_its_limit(store) {
        let app = TestApp::start_with(store, |state| state.throttle.max_address_failures = 10);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let app = &app;
            let guesses: Vec<_> = (0..60)
                .map(|n| scope.spawn(move || {
                    let body = json!({"username": format!("sprayed-{n}"), "password": "a-wrong-guess"});
                    app.client.post("/api/v1/auth/login", None, &body).status
                }))
                .collect();
            guesses.into_iter().map(|g| g.join().unwrap()).collect()
        });
        let checked = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!(checked, 10, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 50);
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
        let many_words = (0..17).map(|n| format!("w{n}")).collect::<Vec<_>>().join("+");
        let problem = app.client.get(&format!("/api/v1/archives?q={many_words}"), Some(&token)).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["q"].is_array(), "{problem}");
        let sixteen = (0..16).map(|n| format!("w{n}")).collect::<Vec<_>>().join("+");
        assert_eq!(app.client.get(&format!("/api/v1/archives?q={sixteen}"), Some(&token)).status, 200);
        // Long reports come in pages of at most 500 rows.
        for report in ["compliance", "overdue"] {
            app.client.get(&format!("/api/v1/reports/{report}?limit=501"), Some(&token)).assert_problem(422, "validation_failed");
        }
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

/// Any method on `path` with a JSON body, the caller's token and an `If-Match` that matches
/// anything, so a precondition is never what refuses the call.
fn call(app: &TestApp, method: &str, path: &str, token: &str, body: &Value) -> dangan_tests::Reply {
    app.client.send_json(method, path, token, Some("*"), body)
}

fn format_time(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

both_stores! {
    // API1: nobody reaches an object of someone else's by its id: every documented path that
    // takes an id is tried with a colleague's token, and what is shared with everyone by design
    // (the catalogue within clearance, departments, form fields, policies) is named as such.
    fn api1_broken_object_level_authorization(store) {
        let org = org(store);
        let app = &org.app;
        let admin = org.token("admin");
        let archive = org.archive("BO-1", "secret");
        let hidden = org.archive("BO-2", "top_secret");
        let approved = org.approve_all(org.request("borrower", &[&archive], "take_out", 7));
        let request_id = approved["id"].as_str().unwrap().to_owned();
        let loan = org.check_out("archivist", &approved, &barcode("BO-1")).json();
        let loan_id = loan["id"].as_str().unwrap().to_owned();
        org.loan_action("borrower", &loan, "sign", &json!({"password": dangan_tests::PASSWORD}));
        let pending = org.loan_action("borrower", &loan, "renew", &json!({"days": 3}));
        assert_eq!(pending.status, 202, "a secret loan's renewal waits for approval: {}", pending.body);
        let renewal_id = pending.json()["id"].as_str().unwrap().to_owned();
        let waiting = org.request("borrower", &[&org.archive("BO-3", "internal")], "on_site", 1);
        let waiting_id = waiting["id"].as_str().unwrap().to_owned();
        let borrower = org.token("borrower");
        let officer = org.token("officer");
        let notices = app.client.get("/api/v1/me/notifications", Some(&officer)).json();
        let notice_id = notices["items"][0]["id"].as_str().expect("the officer was asked to approve the renewal").to_owned();
        let head = org.token("head");
        let delegation = app.client.post("/api/v1/delegations", Some(&head), &json!({
            "delegate_id": org.id("officer"),
            "starts_at": format_time(app.clock.now()),
            "ends_at": format_time(app.clock.now() + time::Duration::days(3)),
        }));
        assert_eq!(delegation.status, 201, "{}", delegation.body);
        let delegation_id = delegation.json()["id"].as_str().unwrap().to_owned();
        let webhook = app.client.post("/api/v1/webhooks", Some(&admin), &json!({
            "url": "http://10.20.30.40:8080/hooks", "events": ["loan.overdue"], "secret": "a-webhook-secret-of-enough-bytes",
        }));
        assert_eq!(webhook.status, 201, "{}", webhook.body);
        let webhook_id = webhook.json()["id"].as_str().unwrap().to_owned();
        let scim_client = app.client.post("/api/v1/scim-clients", Some(&admin), &json!({"name": "HR system"}));
        assert_eq!(scim_client.status, 201, "{}", scim_client.body);
        let scim_client_id = scim_client.json()["id"].as_str().unwrap().to_owned();
        let voucher = app.client.get(&format!("/api/v1/loans/{loan_id}/voucher"), Some(&borrower)).json();
        let code = voucher["verification_code"].as_str().unwrap().to_owned();
        let borrower_id = org.id("borrower");

        // `other` is a colleague in the same department, cleared for secret, with no role.
        let other = org.token("other");
        let attempts: Vec<(&str, String)> = vec![
            ("GET", format!("/api/v1/loan-requests/{request_id}")),
            ("POST", format!("/api/v1/loan-requests/{waiting_id}/approve")),
            ("POST", format!("/api/v1/loan-requests/{waiting_id}/reject")),
            ("POST", format!("/api/v1/loan-requests/{waiting_id}/withdraw")),
            ("GET", format!("/api/v1/loans/{loan_id}")),
            ("GET", format!("/api/v1/loans/{loan_id}/voucher")),
            ("GET", format!("/api/v1/loans/{loan_id}/photos/{}", uuid::Uuid::now_v7())),
            ("GET", format!("/api/v1/loans/{loan_id}/files/{}", uuid::Uuid::now_v7())),
            ("GET", format!("/api/v1/loans/{loan_id}/copies")),
            ("POST", format!("/api/v1/loans/{loan_id}/give-back")),
            ("POST", format!("/api/v1/loans/{loan_id}/revoke")),
            ("GET", format!("/api/v1/loan-copies/{}", "ab".repeat(32))),
            ("POST", format!("/api/v1/loans/{loan_id}/renew")),
            ("POST", format!("/api/v1/loans/{loan_id}/sign")),
            ("POST", format!("/api/v1/loans/{loan_id}/confirm-return")),
            ("POST", format!("/api/v1/loans/{loan_id}/report-lost")),
            ("POST", format!("/api/v1/loans/{loan_id}/renewals/{renewal_id}/approve")),
            ("POST", format!("/api/v1/loans/{loan_id}/renewals/{renewal_id}/reject")),
            ("POST", format!("/api/v1/me/notifications/{notice_id}/read")),
            ("GET", format!("/api/v1/users/{borrower_id}")),
            ("PATCH", format!("/api/v1/users/{borrower_id}")),
            ("POST", format!("/api/v1/users/{borrower_id}/deactivate")),
            ("DELETE", format!("/api/v1/users/{borrower_id}/password")),
            ("GET", format!("/api/v1/users/{borrower_id}/sign-in")),
            ("DELETE", format!("/api/v1/delegations/{delegation_id}")),
            ("DELETE", format!("/api/v1/webhooks/{webhook_id}")),
            ("GET", format!("/api/v1/webhooks/{webhook_id}/deliveries")),
            ("DELETE", format!("/api/v1/scim-clients/{scim_client_id}")),
            ("POST", format!("/api/v1/scim-clients/{scim_client_id}/hand-over")),
            ("POST", format!("/api/v1/users/{borrower_id}/activate")),
            ("POST", format!("/api/v1/users/{borrower_id}/sign-in/link")),
            ("DELETE", format!("/api/v1/users/{borrower_id}/sign-in/link/{}", uuid::Uuid::now_v7())),
            ("DELETE", format!("/api/v1/users/{borrower_id}/sign-in/identities/{}", uuid::Uuid::now_v7())),
            ("GET", format!("/api/v1/archives/{archive}/loans")),
            ("PATCH", format!("/api/v1/archives/{archive}")),
            ("POST", format!("/api/v1/archives/{archive}/retire")),
            ("GET", format!("/api/v1/archives/{hidden}")),
            ("GET", format!("/api/v1/archives/{hidden}/files")),
            ("POST", format!("/api/v1/archives/{hidden}/files")),
            ("GET", format!("/api/v1/archives/{hidden}/files/{}", uuid::Uuid::now_v7())),
            ("DELETE", format!("/api/v1/archives/{hidden}/files/{}", uuid::Uuid::now_v7())),
            ("GET", "/api/v1/archives/by-barcode/BC-BO-2".to_owned()),
            ("GET", format!("/api/v1/vouchers/{code}")),
        ];
        let bodies = [json!({}), json!({"password": dangan_tests::PASSWORD, "days": 1, "reason": "x", "comment": "x"})];
        for (method, path) in &attempts {
            for (n, body) in bodies.iter().enumerate() {
                let reply = call(app, method, path, &other, body);
                // An empty body may be refused for its fields first, which tells nothing of the object.
                let refused = matches!(reply.status, 403 | 404) || (n == 0 && reply.status == 422);
                assert!(refused, "{method} {path}: {} {}", reply.status, reply.body);
                assert!(!reply.body.contains("BO-1 档案") && !reply.body.contains("BO-2"), "{method} {path}: {}", reply.body);
            }
        }
        // Nothing changed hands.
        let still = app.client.get(&format!("/api/v1/loans/{loan_id}"), Some(&borrower)).json();
        assert_eq!(still["status"], "active");
        assert_eq!(still["due_at"], loan["due_at"]);
        let waiting = app.client.get(&format!("/api/v1/loan-requests/{waiting_id}"), Some(&borrower)).json();
        assert_eq!(waiting["status"], "pending");
        let notices = app.client.get("/api/v1/me/notifications", Some(&officer)).json();
        assert!(notices["items"][0]["read_at"].is_null(), "{}", notices["items"][0]);
        assert_eq!(app.client.get("/api/v1/delegations", Some(&head)).json()["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.client.get("/api/v1/webhooks", Some(&admin)).json()["items"].as_array().unwrap().len(), 1);
        assert!(app.client.get("/api/v1/scim-clients", Some(&admin)).json()["items"][0]["revoked_at"].is_null());

        // Every documented path with an id is either tried above or shared by design.
        // The archive room's frame (fonds, categories, places) belongs to no one person; the
        // archives on a place are moved, and counted, within the mover's clearance.
        let shared_by_design = [
            "/api/v1/departments/{id}", "/api/v1/form-fields/{id}", "/api/v1/policies/{id}",
            "/api/v1/fonds/{id}", "/api/v1/archive-categories/{code}", "/api/v1/locations/{id}",
            "/api/v1/locations/{id}/moves", "/api/v1/locations/by-barcode/{barcode}",
        ];
        let fits = |template: &str, path: &str| {
            let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
            template.len() == path.len()
                && template.iter().zip(&path).all(|(t, p)| t == p || t.starts_with('{'))
        };
        let document = dangan_api::openapi::document();
        for template in document["paths"].as_object().unwrap().keys().filter(|p| p.contains('{')) {
            let tried = attempts.iter().any(|(_, path)| fits(template, path));
            let shared = shared_by_design.contains(&template.as_str());
            assert!(tried != shared, "{template}: tried by a colleague {tried}, shared by design {shared}");
        }
    }

    // API3: no request body sets what the server decides (roles, clearance, status, version,
    // owner), and no response carries a secret.
    fn api3_broken_object_property_level_authorization(store) {
        let org = org(store);
        let app = &org.app;
        let admin = org.token("admin");
        let other = org.token("other");
        let other_id = org.id("other");

        // A colleague cannot raise themself, whatever they send.
        for body in [json!({"roles": ["admin"]}), json!({"clearance": "top_secret"}), json!({"status": "active", "version": 99})] {
            let reply = call(app, "PATCH", &format!("/api/v1/users/{other_id}"), &other, &body);
            assert_eq!(reply.status, 403, "{body}: {}", reply.body);
        }
        let me = app.client.get("/api/v1/me", Some(&other)).json();
        assert_eq!(me["roles"], json!([]));
        assert_eq!(me["clearance"], "secret");

        // A request cannot be filed approved, for someone else, or with its own number.
        let archive = org.archive("PL-1", "internal");
        let forged = app.client.post("/api/v1/loan-requests", Some(&other), &json!({
            "archive_ids": [archive], "purpose": "核对 / check", "loan_type": "on_site", "days": 1,
            "status": "approved", "borrower_id": org.id("borrower"), "number": "JY-2026-999999", "version": 7,
        }));
        match forged.status {
            422 => {}
            201 => {
                let filed = forged.json();
                assert_eq!(filed["status"], "pending", "{filed}");
                assert_eq!(filed["borrower_id"], other_id.as_str());
                assert_ne!(filed["number"], "JY-2026-999999");
            }
            status => panic!("unexpected {status}: {}", forged.body),
        }
        // An archivist's edit cannot move an archive's status or version.
        let edited = call(app, "PATCH", &format!("/api/v1/archives/{archive}"), &org.token("archivist"),
            &json!({"status": "lost", "version": 42}));
        assert!(matches!(edited.status, 200 | 422), "{}", edited.body);
        let read = app.client.get(&format!("/api/v1/archives/{archive}"), Some(&admin)).json();
        assert_ne!(read["status"], "lost", "{read}");
        assert_ne!(read["version"], 42, "{read}");

        // Responses never carry hashes or secrets.
        let users = app.client.get("/api/v1/users?limit=50", Some(&admin)).body;
        let login = app.client.post("/api/v1/auth/login", None, &json!({"username": "other", "password": dangan_tests::PASSWORD})).body;
        let webhook = app.client.post("/api/v1/webhooks", Some(&admin), &json!({
            "url": "http://10.20.30.40:8080/hooks", "events": ["loan.overdue"], "secret": "a-webhook-secret-of-enough-bytes",
        })).body;
        let webhooks = app.client.get("/api/v1/webhooks", Some(&admin)).body;
        for body in [&users, &login, &webhook, &webhooks, &me.to_string()] {
            for secret in ["password_hash", "$argon2", "a-webhook-secret-of-enough-bytes", dangan_tests::PASSWORD, "refresh_token_hash"] {
                assert!(!body.contains(secret), "{secret} in {body}");
            }
        }
    }

    // API5: every staff operation in the document refuses every lesser role with 403, before it
    // looks at ids or bodies; the roles each admits are read from its documented 403.
    fn api5_broken_function_level_authorization(store) {
        let org = org(store);
        let app = &org.app;
        let department = org.department.clone();
        for (name, roles) in [("plain", &[][..]), ("a_leader", &["leader"][..]), ("an_officer", &["security_officer"][..]),
            ("an_archivist", &["archivist"][..]), ("an_auditor", &["auditor"][..])] {
            app.user(&org.admin, name, &department, roles, "top_secret");
        }
        let tokens: Vec<(&str, Option<&str>, String)> = [
            ("plain", None), ("a_leader", Some("leader")), ("an_officer", Some("security_officer")),
            ("an_archivist", Some("archivist")), ("an_auditor", Some("auditor")),
        ]
        .into_iter()
        .map(|(name, role)| (name, role, app.login(name, dangan_tests::PASSWORD)))
        .collect();
        let document = dangan_api::openapi::document();
        let mut checked = 0;
        for (template, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let Some(refusal) = operation["responses"]["403"]["description"].as_str() else { continue };
                if !(refusal.starts_with("Not an") || refusal.starts_with("Not staff")) {
                    continue;
                }
                let admitted: Vec<&str> = if refusal.starts_with("Not staff") {
                    vec!["archivist", "auditor"]
                } else {
                    ["archivist", "auditor"].into_iter().filter(|role| refusal.contains(role)).collect()
                };
                let path = template
                    .replace("{verification_code}", "0000-0000-0000-0000")
                    .replace("{barcode}", "BC-NONE");
                let path = with_unknown_ids(&path);
                for (name, role, token) in &tokens {
                    if role.is_some_and(|r| admitted.contains(&r)) {
                        continue;
                    }
                    let reply = call(app, &method.to_uppercase(), &path, token, &json!({}));
                    assert_eq!(reply.status, 403, "{method} {template} as {name}: {}", reply.body);
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} calls were refused");
    }

    // API6: the flows a person could abuse for gain are closed: a second check-out of what is
    // out, renewing past the policy, signing someone else's receipt, the inspector giving the
    // second sign-off on their own inspection.
    fn api6_unrestricted_access_to_sensitive_business_flows(store) {
        let org = org(store);
        let archive = org.archive("BF-1", "internal");
        let approved = org.approve_all(org.request("borrower", &[&archive], "take_out", 7));
        let loan = org.check_out("archivist", &approved, &barcode("BF-1"));
        assert_eq!(loan.status, 201, "{}", loan.body);
        let loan = loan.json();
        org.check_out("second", &approved, &barcode("BF-1")).assert_problem(409, "already_checked_out");
        org.loan_action("archivist", &loan, "sign", &json!({"password": dangan_tests::PASSWORD})).assert_problem(403, "forbidden");
        org.loan_action("other", &loan, "sign", &json!({"password": dangan_tests::PASSWORD})).assert_problem(404, "not_found");
        assert_eq!(org.loan_action("borrower", &loan, "sign", &json!({"password": dangan_tests::PASSWORD})).status, 200);
        assert_eq!(org.loan_action("borrower", &loan, "renew", &json!({"days": 3})).status, 200, "the one renewal internal allows");
        org.loan_action("borrower", &loan, "renew", &json!({"days": 3})).assert_problem(409, "renewal_limit_reached");
        org.loan_action("borrower", &loan, "renew", &json!({"days": 3650})).assert_problem(409, "renewal_limit_reached");

        let secret = org.archive("BF-2", "secret");
        let approved = org.approve_all(org.request("borrower", &[&secret], "take_out", 7));
        let loan = org.check_out("archivist", &approved, &barcode("BF-2")).json();
        assert_eq!(org.loan_action("borrower", &loan, "sign", &json!({"password": dangan_tests::PASSWORD})).status, 200);
        assert_eq!(org.give_back(&barcode("BF-2"), "intact").json()["status"], "return_pending");
        org.loan_action("archivist", &loan, "confirm-return", &json!({})).assert_problem(403, "forbidden");
        org.loan_action("archivist", &loan, "confirm-return", &json!({"password": dangan_tests::PASSWORD})).assert_problem(403, "forbidden");
        let still = org.app.client.get(&format!("/api/v1/loans/{}", loan["id"].as_str().unwrap()), Some(&org.token("borrower"))).json();
        assert_eq!(still["status"], "return_pending", "the inspector alone does not close a secret loan");
    }

    // API7: no address the table refuses can be subscribed to, however it is written.
    fn api7_server_side_request_forgery(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        for url in [
            "http://100.100.100.200/latest/meta-data/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://[64:ff9b::7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.1.2.3/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://127.1/",
            "http://localhost./",
            "http://[::1]:8080/",
        ] {
            let reply = app.client.post("/api/v1/webhooks", Some(&admin), &json!({
                "url": url, "events": ["loan.overdue"], "secret": "a-webhook-secret-of-enough-bytes",
            }));
            let problem = reply.assert_problem(422, "validation_failed");
            assert!(problem["errors"]["url"].is_array(), "{url}: {problem}");
        }
    }

    // API9: nothing is served beside the documented API (openapi::served_routes_are_the_documented_ones
    // checks the route table itself): no older version, no debug or management pages.
    fn api9_improper_inventory_management(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        for path in ["/api/v2/me", "/api/v0/me", "/api/me", "/.env", "/admin", "/debug", "/actuator", "/api/v1/internal", "/server-status"] {
            let reply = app.client.get(path, Some(&admin));
            assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        }
        let document = dangan_api::openapi::document();
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}

/// Replaces every `{…}` left in a path with an id that names nothing.
fn with_unknown_ids(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        out.push_str("0193a1c2-7b7e-7c4e-9a51-000000000000");
        rest = &rest[rest[start..]
            .find('}')
            .map_or(rest.len(), |end| start + end + 1)..];
    }
    out.push_str(rest);
    out
}
