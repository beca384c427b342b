//! Every malformed, oversized, mistyped or forbidden request gets its problem+json, never a 5xx.

use dangan_tests::{both_stores, TestApp};
use serde_json::json;

fn json_headers(token: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("Authorization".into(), format!("Bearer {token}")),
    ]
}

both_stores! {
    fn bad_bodies_get_400_413_415_and_422(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();

        app.client
            .raw("POST", "/api/v1/departments", &json_headers(&admin), b"{\"code\": \"HR\",")
            .assert_problem(400, "bad_request");
        app.client
            .raw("POST", "/api/v1/auth/login", &[("Content-Type".into(), "application/json".into())], b"not json")
            .assert_problem(400, "bad_request");

        let huge = format!("{{\"code\": \"HR\", \"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
        app.client
            .raw("POST", "/api/v1/departments", &json_headers(&admin), huge.as_bytes())
            .assert_problem(413, "payload_too_large");

        let text = vec![
            ("Content-Type".to_owned(), "text/plain".to_owned()),
            ("Authorization".to_owned(), format!("Bearer {admin}")),
        ];
        app.client
            .raw("POST", "/api/v1/departments", &text, b"{\"code\": \"HR\", \"name\": \"x\"}")
            .assert_problem(415, "unsupported_media_type");
        app.client
            .raw("POST", "/api/v1/departments", &[("Authorization".into(), format!("Bearer {admin}"))], b"{}")
            .assert_problem(415, "unsupported_media_type");

        let empty = app.client.post("/api/v1/departments", Some(&admin), &json!({"code": "", "name": "人事处"}));
        let problem = empty.assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["code"][0], "must be 1 to 32 characters");

        let mistyped = app.client.post("/api/v1/departments", Some(&admin), &json!({"code": 7, "name": "x"}));
        let problem = mistyped.assert_problem(422, "validation_failed");
        assert!(problem["errors"]["code"].is_array(), "{problem}");

        let department = app.department(&admin, "HR");
        let bad_user = app.client.post("/api/v1/users", Some(&admin), &json!({
            "username": "li si", "display_name": "李四", "password": "short", "department_id": department,
            "roles": ["archivist"], "clearance": "secret", "email": "not-an-address"
        }));
        let problem = bad_user.assert_problem(422, "validation_failed");
        for field in ["username", "password", "email"] {
            assert!(problem["errors"][field].is_array(), "{field} in {problem}");
        }
        let bad_role = app.client.post("/api/v1/users", Some(&admin), &json!({
            "username": "lisi", "display_name": "李四", "password": "long enough", "department_id": department,
            "roles": ["root"], "clearance": "secret"
        }));
        let problem = bad_role.assert_problem(422, "validation_failed");
        assert!(problem["errors"]["roles[0]"].is_array(), "{problem}");
    }

    fn unknown_things_are_404(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let missing = uuid::Uuid::new_v4();
        app.client.get(&format!("/api/v1/users/{missing}"), Some(&admin)).assert_problem(404, "not_found");
        app.client.get("/api/v1/users/not-a-uuid", Some(&admin)).assert_problem(404, "not_found");
        app.client.get(&format!("/api/v1/departments/{missing}"), Some(&admin)).assert_problem(404, "not_found");
        app.client
            .post(&format!("/api/v1/users/{missing}/deactivate"), Some(&admin), &json!({}))
            .assert_problem(404, "not_found");
        app.client.get("/api/v1/no-such-thing", Some(&admin)).assert_problem(404, "not_found");
    }

    fn bad_queries_are_400_or_422(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        app.client.get("/api/v1/users?status=sleeping", Some(&admin)).assert_problem(400, "bad_request");
        app.client.get("/api/v1/users?limit=abc", Some(&admin)).assert_problem(400, "bad_request");
        app.client.get("/api/v1/users?cursor=garbage", Some(&admin)).assert_problem(400, "bad_request");
        app.client.get("/api/v1/users?limit=501", Some(&admin)).assert_problem(422, "validation_failed");
        app.client.get("/api/v1/users?limit=0", Some(&admin)).assert_problem(422, "validation_failed");
        app.client.get("/api/v1/audit-events?from=yesterday", Some(&admin)).assert_problem(400, "bad_request");
    }

    fn a_borrower_gets_403_on_admin_endpoints(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        let borrower = app.user(&admin, "wangwu", &department, &[], "internal");
        let archivist = app.user(&admin, "zhaoliu", &department, &["archivist"], "secret");
        let id = borrower["id"].as_str().unwrap();
        for token in [app.login("wangwu", dangan_tests::PASSWORD), app.login("zhaoliu", dangan_tests::PASSWORD)] {
            let t = Some(token.as_str());
            app.client.get("/api/v1/users", t).assert_problem(403, "forbidden");
            app.client.get(&format!("/api/v1/users/{id}"), t).assert_problem(403, "forbidden");
            app.client.post("/api/v1/users", t, &json!({})).assert_problem(403, "forbidden");
            app.client.patch(&format!("/api/v1/users/{id}"), t, None, &json!({"roles": ["admin"]})).assert_problem(403, "forbidden");
            app.client.post(&format!("/api/v1/users/{id}/deactivate"), t, &json!({})).assert_problem(403, "forbidden");
            app.client.get("/api/v1/departments", t).assert_problem(403, "forbidden");
            app.client.post("/api/v1/departments", t, &json!({"code": "X", "name": "X"})).assert_problem(403, "forbidden");
            app.client.get("/api/v1/audit-events", t).assert_problem(403, "forbidden");
            app.client.get("/api/v1/audit-events/verify", t).assert_problem(403, "forbidden");
        }
        assert_eq!(archivist["roles"], json!(["archivist"]));
    }
}

/// The pool checks no connection as it hands it out (a round trip per checkout), so a connection
/// the database ended must be found another way: the first request on it answers 503, and for
/// a while after that the pool checks what it hands out and replaces what is dead.
#[test]
fn connections_the_database_ended_are_replaced_not_handed_out_again() {
    use diesel::RunQueryDsl;
    let Some(store) = dangan_tests::TestStore::postgres() else {
        eprintln!("skipped: DANGAN_TEST_POSTGRES_URL is not set");
        return;
    };
    let app = TestApp::start(store);
    let admin = app.admin_token();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(app.client.get("/api/v1/archives", Some(&admin)).status, 200));
        }
    });
    let mut conn = app.state.pool.get().unwrap();
    let ended = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut conn)
    .unwrap();
    drop(conn);
    assert!(ended >= 1, "the server's other connections were ended");
    // Waves of requests at once, so that every pooled connection is handed out.
    let waves: Vec<Vec<u16>> = (0..10)
        .map(|_| {
            std::thread::scope(|s| {
                let requests: Vec<_> = (0..6)
                    .map(|_| {
                        s.spawn(|| {
                            let reply = app.client.get("/api/v1/archives", Some(&admin));
                            if reply.status == 503 {
                                assert!(reply.header("retry-after").is_some(), "{}", reply.body);
                            }
                            reply.status
                        })
                    })
                    .collect();
                requests.into_iter().map(|r| r.join().unwrap()).collect()
            })
        })
        .collect();
    assert!(
        waves.iter().flatten().all(|s| [200, 503].contains(s)),
        "{waves:?}"
    );
    assert!(
        waves[5..].iter().flatten().all(|s| *s == 200),
        "recovered: {waves:?}"
    );
}

/// SQLite's write lock held by another process (a backup, an admin's `sqlite3` shell) past the
/// busy timeout: the write answers 503 with `Retry-After`, not 500, and goes through once the
/// lock is let go.
#[test]
fn a_store_locked_by_another_process_is_503_with_retry_after() {
    use diesel::{Connection, RunQueryDsl};
    let store = dangan_tests::TestStore::sqlite();
    let path = store.url.trim_start_matches("sqlite://").to_owned();
    let app = TestApp::start(store);
    let admin = app.admin_token();
    let mut shell = diesel::SqliteConnection::establish(&path).unwrap();
    diesel::sql_query("BEGIN EXCLUSIVE")
        .execute(&mut shell)
        .unwrap();
    let body = json!({"code": "LOCK", "name": "锁"});
    let reply = app.client.post("/api/v1/departments", Some(&admin), &body);
    reply.assert_problem(503, "unavailable");
    assert!(reply.header("retry-after").is_some());
    diesel::sql_query("ROLLBACK").execute(&mut shell).unwrap();
    assert_eq!(
        app.client
            .post("/api/v1/departments", Some(&admin), &body)
            .status,
        201
    );
}
