//! `Idempotency-Key`: replay, mismatch, expiry, per-user keys, and concurrent duplicates.

use std::sync::{Arc, Barrier};

use dangan_tests::{both_stores, TestApp, PASSWORD};
use serde_json::json;

fn post_with_key(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &serde_json::Value,
) -> dangan_tests::Reply {
    let headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {token}")),
        ("Idempotency-Key".to_owned(), key.to_owned()),
    ];
    app.client
        .raw("POST", path, &headers, body.to_string().as_bytes())
}

fn departments(app: &TestApp, token: &str) -> usize {
    app.client
        .get("/api/v1/departments?limit=500", Some(token))
        .json()["items"]
        .as_array()
        .unwrap()
        .len()
}

both_stores! {
    fn a_replay_needs_a_login_that_is_still_open(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        app.user(&admin, "second_admin", &department, &["admin"], "secret");
        let second = app.login("second_admin", PASSWORD);
        let body = json!({"code": "OPS", "name": "运维"});
        let first = post_with_key(&app, &second, "/api/v1/departments", "ops-0001", &body);
        assert_eq!(first.status, 201, "{}", first.body);
        let id = app.client.get("/api/v1/users?limit=500", Some(&admin)).json()["items"]
            .as_array().unwrap().iter()
            .find(|u| u["username"] == "second_admin").unwrap()["id"].as_str().unwrap().to_owned();
        let off = app.client.post(&format!("/api/v1/users/{id}/deactivate"), Some(&admin), &json!({}));
        assert_eq!(off.status, 200, "{}", off.body);
        // The same key and body from the disabled user's token: no replay of the 201.
        post_with_key(&app, &second, "/api/v1/departments", "ops-0001", &body)
            .assert_problem(401, "unauthorized");
    }

    fn the_same_key_replays_the_first_response_and_does_nothing_again(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let body = json!({"code": "HR", "name": "人事处"});
        let first = post_with_key(&app, &admin, "/api/v1/departments", "k-1", &body);
        assert_eq!(first.status, 201, "{}", first.body);
        assert!(first.header("idempotent-replayed").is_none());
        let again = post_with_key(&app, &admin, "/api/v1/departments", "k-1", &body);
        assert_eq!(again.status, 201);
        assert_eq!(again.body, first.body, "same body, byte for byte");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.header("content-type"), first.header("content-type"));
        assert_eq!(departments(&app, &admin), 1);
        let events = app.client.get("/api/v1/audit-events?action=department.created", Some(&admin)).json();
        assert_eq!(events["items"].as_array().unwrap().len(), 1);

        // Another body under the same key is refused; the key keeps its first response.
        post_with_key(&app, &admin, "/api/v1/departments", "k-1", &json!({"code": "OPS", "name": "x"}))
            .assert_problem(422, "idempotency_key_reused");
        post_with_key(&app, &admin, "/api/v1/archives", "k-1", &body).assert_problem(422, "idempotency_key_reused");

        // Failures of the request itself are answers too, replayed as they were.
        let invalid = post_with_key(&app, &admin, "/api/v1/departments", "k-2", &json!({"code": ""}));
        invalid.assert_problem(422, "validation_failed");
        let replayed = post_with_key(&app, &admin, "/api/v1/departments", "k-2", &json!({"code": ""}));
        assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
        assert_eq!(replayed.body, invalid.body);

        // Keys are per user.
        let department = app.department(&admin, "IT");
        app.user(&admin, "admin2", &department, &["admin"], "secret");
        let other = app.login("admin2", PASSWORD);
        let theirs = post_with_key(&app, &other, "/api/v1/departments", "k-1", &json!({"code": "OPS", "name": "运维"}));
        assert_eq!(theirs.status, 201, "{}", theirs.body);

        // After 24 hours the key is free again.
        app.clock.advance(time::Duration::hours(25));
        let admin = app.admin_token();
        let later = post_with_key(&app, &admin, "/api/v1/departments", "k-1", &json!({"code": "LAW", "name": "法规处"}));
        assert_eq!(later.status, 201, "{}", later.body);
        assert!(later.header("idempotent-replayed").is_none());
        let key = "x".repeat(256);
        post_with_key(&app, &admin, "/api/v1/departments", &key, &body).assert_problem(400, "bad_request");
    }

    fn concurrent_duplicates_have_one_effect(store) {
        let app = Arc::new(TestApp::start(store));
        let admin = app.admin_token();
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (app, admin, barrier) = (app.clone(), admin.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    post_with_key(&app, &admin, "/api/v1/archives", "scan-7", &dangan_tests::archive_body("CC-1", "public"))
                })
            })
            .collect();
        let replies: Vec<dangan_tests::Reply> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let created: Vec<&str> = replies.iter().filter(|r| r.status == 201).map(|r| r.body.as_str()).collect();
        assert!(!created.is_empty());
        assert!(created.iter().all(|body| *body == created[0]), "every 201 is the first response");
        for reply in replies.iter().filter(|r| r.status != 201) {
            // Never `duplicate_archive_code`: the duplicates did not run at all.
            reply.assert_problem(409, "idempotency_in_progress");
        }
        let found = app.client.get("/api/v1/archives?q=CC-1", Some(&admin)).json();
        assert_eq!(found["items"].as_array().unwrap().len(), 1);
        let events = app.client.get("/api/v1/audit-events?action=archive.created", Some(&admin)).json();
        assert_eq!(events["items"].as_array().unwrap().len(), 1, "one effect");
    }
}
