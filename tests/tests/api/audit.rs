//! The audit chain: written with each change, append-only in the store, verifiable, unforked.

use dangan_api::clock::Clock;
use dangan_domain::audit::NewAuditEvent;
use dangan_persistence::{audit, db};
use dangan_tests::{both_stores, TestApp, TestStore};
use diesel::RunQueryDsl;
use serde_json::json;

fn raw(store: &TestStore, sql: &str) -> Result<usize, diesel::result::Error> {
    let pool = db::connect(&store.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    diesel::sql_query(sql).execute(&mut *conn)
}

/// Drops one of the audit table's guard triggers, as a database administrator could.
fn drop_trigger(store: &TestStore, name: &str) {
    let sql = if store.is_postgres() {
        format!("DROP TRIGGER {name} ON audit_events")
    } else {
        format!("DROP TRIGGER {name}")
    };
    raw(store, &sql).unwrap();
}

fn verify(app: &TestApp, token: &str) -> serde_json::Value {
    let reply = app.client.get("/api/v1/audit-events/verify", Some(token));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

both_stores! {
    fn each_change_appends_an_event_and_the_chain_verifies(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        app.client.post("/api/v1/auth/login", None, &json!({"username": "admin", "password": "wrong-password"}));
        let department = app.department(&admin, "HR");
        let user = app.user(&admin, "auditor1", &department, &["auditor"], "secret");
        let path = format!("/api/v1/departments/{department}");
        app.client.patch(&path, Some(&admin), None, &json!({"head_user_id": user["id"]}));

        let auditor = app.login("auditor1", dangan_tests::PASSWORD);
        let events = app.client.get("/api/v1/audit-events", Some(&auditor)).json();
        let items = events["items"].as_array().unwrap();
        let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, [
            "user.bootstrapped", "policy.seeded", "auth.login", "auth.login_failed", "department.created",
            "user.created", "department.updated", "auth.login",
        ]);
        for (i, pair) in items.windows(2).enumerate() {
            assert_eq!(pair[0]["seq"], i as i64 + 1);
            assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "each event links to the one before");
        }
        let created = &items[5];
        assert_eq!(created["entity_id"], user["id"]);
        assert_eq!(created["data"]["roles"], json!(["auditor"]));
        assert!(!events.to_string().contains(dangan_tests::PASSWORD));

        let filtered = app.client.get("/api/v1/audit-events?entity_type=department&action=department.updated", Some(&auditor)).json();
        assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
        let admin_id = app.client.get("/api/v1/me", Some(&admin)).json()["id"].clone();
        let by_admin = app.client.get(&format!("/api/v1/audit-events?actor_id={}", admin_id.as_str().unwrap()), Some(&auditor)).json();
        assert_eq!(by_admin["items"].as_array().unwrap().len(), 4);
        let later = (app.clock.now() + time::Duration::minutes(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let none_after = app.client.get(&format!("/api/v1/audit-events?from={later}"), Some(&auditor)).json();
        assert_eq!(none_after["items"].as_array().unwrap().len(), 0);
        let page = app.client.get("/api/v1/audit-events?limit=3", Some(&auditor)).json();
        assert_eq!(page["next_cursor"], "3");
        let rest = app.client.get("/api/v1/audit-events?limit=10&cursor=3", Some(&auditor)).json();
        assert_eq!(rest["items"][0]["seq"], 4);
        assert_eq!(rest["items"].as_array().unwrap().len(), 5);
        assert!(rest["next_cursor"].is_null());
        let user_id = user["id"].as_str().unwrap();
        let of_user = app.client.get(&format!("/api/v1/audit-events?entity_type=user&entity_id={user_id}"), Some(&auditor)).json();
        let of_user: Vec<&str> = of_user["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(of_user, ["user.created", "auth.login"]);
        let first_at = items[0]["at"].as_str().unwrap().replace('+', "%2B");
        let before_first = app.client.get(&format!("/api/v1/audit-events?to={first_at}"), Some(&auditor)).json();
        assert_eq!(before_first["items"].as_array().unwrap().len(), 0, "`to` is exclusive");
        let until_later = app.client.get(&format!("/api/v1/audit-events?to={later}"), Some(&auditor)).json();
        assert_eq!(until_later["items"].as_array().unwrap().len(), 8);

        let report = verify(&app, &auditor);
        assert_eq!(report["valid"], true);
        assert_eq!(report["checked"], 8);
        assert_eq!(report["head_hash"], items[7]["hash"]);
        assert!(report["first_invalid_seq"].is_null());
    }

    fn the_store_refuses_update_and_delete_and_verify_finds_tampering(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        app.department(&admin, "HR");
        app.department(&admin, "OPS");

        let update = "UPDATE audit_events SET data = '{\"code\":\"FORGED\"}' WHERE seq = 3";
        assert!(raw(&app.store, update).is_err(), "UPDATE must fail while the trigger stands");
        assert!(raw(&app.store, "DELETE FROM audit_events WHERE seq = 3").is_err(), "DELETE must fail");
        assert_eq!(verify(&app, &admin)["valid"], true);

        drop_trigger(&app.store, "audit_events_no_update");
        assert_eq!(raw(&app.store, update).unwrap(), 1);
        let report = verify(&app, &admin);
        assert_eq!(report["valid"], false);
        assert_eq!(report["first_invalid_seq"], 3);
        assert_eq!(report["checked"], 5);
    }

    fn removing_the_newest_events_is_found_and_truncate_is_refused(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        app.department(&admin, "HR");
        app.department(&admin, "OPS");
        let all = if app.store.is_postgres() { "TRUNCATE audit_events" } else { "DELETE FROM audit_events" };
        assert!(raw(&app.store, all).is_err(), "{all} must fail");
        assert_eq!(verify(&app, &admin)["valid"], true);

        // Whoever can drop the trigger can cut the newest events off: the rest is a chain that
        // verifies on its own, but it no longer ends at the head.
        drop_trigger(&app.store, "audit_events_no_delete");
        assert_eq!(raw(&app.store, "DELETE FROM audit_events WHERE seq >= 4").unwrap(), 2);
        let report = verify(&app, &admin);
        assert_eq!(report["valid"], false, "{report}");
        assert_eq!(report["first_invalid_seq"], 4);
        assert_eq!(report["checked"], 3);
    }

    fn eight_writers_at_once_leave_one_unbroken_chain(store) {
        let app = TestApp::start(store);
        let before = verify(&app, &app.admin_token())["checked"].as_i64().unwrap();
        let pool = db::connect(&app.store.url, 8).unwrap();
        let now = dangan_tests::TEST_START;
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    for i in 0..25 {
                        db::write_transaction(&mut conn, |conn| {
                            audit::append(conn, now, NewAuditEvent::new("test.append", "test").on(format!("{writer}-{i}")))
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let mut conn = pool.get().unwrap();
        let report = audit::verify(&mut conn).unwrap();
        assert!(report.valid, "{report:?}");
        assert_eq!(report.checked, before + 200, "every append landed once");
    }
}
