//! The audit chain: written with each change, append-only in the store, verifiable, unforked.

use std::{path::PathBuf, sync::Arc};

use dangan_api::{audit_offline, clock::Clock, StartupError};
use dangan_domain::{
    audit::{AuditEvent, NewAuditEvent},
    checkpoint::{CheckpointError, SigningKey},
};
use dangan_persistence::{
    db,
    store::audit::{self, Sealing},
};
use dangan_tests::{both_stores, config_for, TestApp, TestStore};
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

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
            "user.bootstrapped", "policy.seeded", "fonds.adopted", "auth.login", "auth.login_failed",
            "department.created", "user.created", "department.updated", "auth.login",
        ]);
        for (i, pair) in items.windows(2).enumerate() {
            assert_eq!(pair[0]["seq"], i as i64 + 1);
            assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "each event links to the one before");
        }
        let created = &items[6];
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
        assert_eq!(rest["items"].as_array().unwrap().len(), 6);
        assert!(rest["next_cursor"].is_null());
        let user_id = user["id"].as_str().unwrap();
        let of_user = app.client.get(&format!("/api/v1/audit-events?entity_type=user&entity_id={user_id}"), Some(&auditor)).json();
        let of_user: Vec<&str> = of_user["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(of_user, ["user.created", "auth.login"]);
        let first_at = items[0]["at"].as_str().unwrap().replace('+', "%2B");
        let before_first = app.client.get(&format!("/api/v1/audit-events?to={first_at}"), Some(&auditor)).json();
        assert_eq!(before_first["items"].as_array().unwrap().len(), 0, "`to` is exclusive");
        let until_later = app.client.get(&format!("/api/v1/audit-events?to={later}"), Some(&auditor)).json();
        assert_eq!(until_later["items"].as_array().unwrap().len(), 9);

        let report = verify(&app, &auditor);
        assert_eq!(report["valid"], true);
        assert_eq!(report["checked"], 9);
        assert_eq!(report["head_hash"], items[8]["hash"]);
        assert!(report["first_invalid_seq"].is_null());
    }

    fn the_store_refuses_update_and_delete_and_verify_finds_tampering(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        app.department(&admin, "HR");
        app.department(&admin, "OPS");
        assert_eq!(verify(&app, &admin)["valid"], true, "sealed, so the rows below exist");

        let update = "UPDATE audit_events SET data = '{\"code\":\"FORGED\"}' WHERE seq = 3";
        assert!(raw(&app.store, update).is_err(), "UPDATE must fail while the trigger stands");
        assert!(raw(&app.store, "DELETE FROM audit_events WHERE seq = 3").is_err(), "DELETE must fail");
        assert_eq!(verify(&app, &admin)["valid"], true);

        drop_trigger(&app.store, "audit_events_no_update");
        assert_eq!(raw(&app.store, update).unwrap(), 1);
        let report = verify(&app, &admin);
        assert_eq!(report["valid"], false);
        assert_eq!(report["first_invalid_seq"], 3);
        assert_eq!(report["checked"], 6);
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
        assert_eq!(raw(&app.store, "DELETE FROM audit_events WHERE seq >= 5").unwrap(), 2);
        let report = verify(&app, &admin);
        assert_eq!(report["valid"], false, "{report}");
        assert_eq!(report["first_invalid_seq"], 5);
        assert_eq!(report["checked"], 4);
    }

    // Two instances (two pools) with eight writers between them and both sealers running all
    // along: every append is sealed once, into one chain, and no writer waited on another's.
    fn two_pools_of_writers_and_two_racing_sealers_leave_one_unbroken_chain(store) {
        let app = TestApp::start(store);
        let before = verify(&app, &app.admin_token())["checked"].as_i64().unwrap();
        let pools = [db::connect(&app.store.url, 5).unwrap(), db::connect(&app.store.url, 5).unwrap()];
        let now = dangan_tests::TEST_START;
        let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sealers: Vec<_> = pools
            .iter()
            .map(|pool| {
                let (pool, writing) = (pool.clone(), writing.clone());
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    let mut sealed = 0;
                    while writing.load(std::sync::atomic::Ordering::Relaxed) {
                        sealed += audit::seal(&mut conn, Sealing::GiveUp).unwrap();
                    }
                    sealed
                })
            })
            .collect();
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let pool = pools[writer % 2].clone();
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
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        let sealed_while_writing: usize = sealers.into_iter().map(|s| s.join().unwrap()).sum();
        let mut conn = pools[0].get().unwrap();
        let rest = audit::seal(&mut conn, Sealing::Wait).unwrap();
        assert_eq!(sealed_while_writing + rest, 200, "each append sealed exactly once");
        assert_eq!(audit::pending(&mut conn).unwrap(), 0);
        let report = audit::verify(&mut conn).unwrap();
        assert!(report.valid, "{report:?}");
        assert_eq!(report.checked, before + 200, "every append landed once");
        let tags: std::collections::HashSet<String> = app
            .client
            .get("/api/v1/audit-events?action=test.append&limit=500", Some(&app.admin_token()))
            .json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["entity_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(tags.len(), 200, "no append lost or doubled");
    }

    // A process that dies after its use cases committed but before it sealed leaves the events
    // waiting; the next start seals them, and listings say how many still wait meanwhile.
    fn events_committed_but_not_sealed_before_a_crash_are_sealed_at_the_next_start(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let sealed = verify(&app, &admin)["checked"].as_i64().unwrap();
        let pool = db::connect(&app.store.url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        for i in 0..3 {
            db::write_transaction(&mut conn, |conn| {
                audit::append(conn, dangan_tests::TEST_START, NewAuditEvent::new("test.append", "test").on(i))
            })
            .unwrap();
        }
        assert_eq!(audit::pending(&mut conn).unwrap(), 3, "committed, not sealed: the process died here");
        assert_eq!(audit::verify(&mut conn).unwrap().checked, sealed, "the chain holds sealed events only");

        dangan_api::prepare(&config_for(&app.store), Arc::new(dangan_api::clock::SystemClock)).unwrap();
        assert_eq!(audit::pending(&mut conn).unwrap(), 0);
        let report = audit::verify(&mut conn).unwrap();
        assert!(report.valid, "{report:?}");
        assert_eq!(report.checked, sealed + 3);
        let online = verify(&app, &admin);
        assert_eq!(online["pending"], 0);
        assert_eq!(online["checked"], sealed + 3);
    }
}

/// A checkpoint saved where the database's administrators cannot write.
struct SavedCheckpoint(PathBuf);

impl SavedCheckpoint {
    fn new(checkpoint: &Value) -> SavedCheckpoint {
        let path = std::env::temp_dir().join(format!(
            "dangan-checkpoint-{}.json",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, checkpoint.to_string()).unwrap();
        SavedCheckpoint(path)
    }
}

impl Drop for SavedCheckpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn offline(
    store: &TestStore,
    checkpoint: &SavedCheckpoint,
    public_key: Option<&str>,
) -> Result<audit_offline::Verified, StartupError> {
    audit_offline::verify(&config_for(store), Some(&checkpoint.0), public_key)
}

fn refused_with(outcome: Result<audit_offline::Verified, StartupError>) -> CheckpointError {
    match outcome {
        Err(StartupError::Checkpoint(e)) => e,
        other => panic!("expected a refused checkpoint, got {other:?}"),
    }
}

/// Rewrites history as someone who can write the database would: changes the data of event
/// `seq`, then recomputes every hash after it and the head, so the chain verifies on its own.
fn rewrite_history_from(app: &TestApp, admin: &str, seq: i64) {
    drop_trigger(&app.store, "audit_events_no_update");
    let listed = app
        .client
        .get("/api/v1/audit-events?limit=200", Some(admin))
        .json();
    let items = listed["items"].as_array().unwrap();
    let mut prev = items[seq as usize - 2]["hash"].as_str().unwrap().to_owned();
    for item in &items[seq as usize - 1..] {
        let forged = item["seq"] == seq;
        let data = if forged {
            json!({"forged": true})
        } else {
            item["data"].clone()
        };
        let event = AuditEvent {
            seq: item["seq"].as_i64().unwrap(),
            at: time::OffsetDateTime::parse(
                item["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap(),
            actor_id: item["actor_id"].as_str().map(|id| id.parse().unwrap()),
            action: item["action"].as_str().unwrap().to_owned(),
            entity_type: item["entity_type"].as_str().unwrap().to_owned(),
            entity_id: item["entity_id"].as_str().map(str::to_owned),
            data: data.clone(),
        };
        let hash = event.hash(&prev);
        let data = data.to_string().replace('\'', "''");
        raw(&app.store, &format!(
            "UPDATE audit_events SET data = '{data}', prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}", event.seq
        )).unwrap();
        prev = hash;
    }
    raw(
        &app.store,
        &format!("UPDATE audit_head SET hash = '{prev}' WHERE id = 1"),
    )
    .unwrap();
}

both_stores! {
    fn a_signed_checkpoint_proves_offline_that_history_was_not_rewritten(store) {
        let key = SigningKey::from_bytes(&[42; 32]);
        let public_key = hex::encode(key.verifying_key().as_bytes());
        let signing = key.clone();
        let app = TestApp::start_with(store, move |state| state.audit_signing_key = Some(Arc::new(signing)));
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        app.user(&admin, "reader", &department, &[], "internal");

        let reader = app.login("reader", dangan_tests::PASSWORD);
        app.client.get("/api/v1/audit-events/checkpoint", Some(&reader)).assert_problem(403, "forbidden");
        app.client.get("/api/v1/audit-events/checkpoint", None).assert_problem(401, "unauthorized");
        let reply = app.client.get("/api/v1/audit-events/checkpoint", Some(&admin));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let checkpoint = reply.json();
        let report = verify(&app, &admin);
        assert_eq!(checkpoint["seq"], report["checked"], "{checkpoint}");
        assert_eq!(checkpoint["head_hash"], report["head_hash"]);
        assert_eq!(checkpoint["algorithm"], "Ed25519");
        assert_eq!(checkpoint["public_key"], public_key.as_str());
        assert_eq!(checkpoint["signature"].as_str().unwrap().len(), 128);
        let seq = checkpoint["seq"].as_i64().unwrap();
        let saved = SavedCheckpoint::new(&checkpoint);

        // The chain grows on: it still extends the checkpoint, checked offline, with the key
        // the checkpoint names and with the key given on the command line.
        app.department(&admin, "OPS");
        assert_eq!(verify(&app, &admin)["valid"], true, "sealed now");
        let held = offline(&app.store, &saved, None).unwrap();
        assert_eq!(held.signed_by.as_deref(), Some(public_key.as_str()));
        assert_eq!(held.report.checked, seq + 1);
        assert!(offline(&app.store, &saved, Some(&public_key)).is_ok());
        let stranger = hex::encode(SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes());
        assert_eq!(refused_with(offline(&app.store, &saved, Some(&stranger))), CheckpointError::BadSignature);

        // A checkpoint edited to match another head no longer carries a valid signature.
        let mut edited = checkpoint.clone();
        edited["head_hash"] = json!("0".repeat(64));
        let edited = SavedCheckpoint::new(&edited);
        assert_eq!(refused_with(offline(&app.store, &edited, None)), CheckpointError::BadSignature);

        // History rewritten from seq 3 with every hash recomputed: the chain verifies on its
        // own, online and offline, but it no longer holds what the checkpoint saw.
        rewrite_history_from(&app, &admin, 3);
        let report = verify(&app, &admin);
        assert_eq!(report["valid"], true, "the rewritten chain is consistent: {report}");
        assert!(audit_offline::verify(&config_for(&app.store), None, None).is_ok());
        assert_eq!(refused_with(offline(&app.store, &saved, None)), CheckpointError::Diverged(seq));
    }

    fn an_unsigned_checkpoint_holds_the_chain_but_proves_no_signer(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        app.department(&admin, "HR");
        let checkpoint = app.client.get("/api/v1/audit-events/checkpoint", Some(&admin)).json();
        assert_eq!(checkpoint["signature"], Value::Null, "no DANGAN_AUDIT_SIGNING_KEY");
        assert_eq!(checkpoint["algorithm"], Value::Null);
        let saved = SavedCheckpoint::new(&checkpoint);
        let held = offline(&app.store, &saved, None).unwrap();
        assert_eq!(held.signed_by, None);
        let some_key = hex::encode(SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes());
        assert_eq!(refused_with(offline(&app.store, &saved, Some(&some_key))), CheckpointError::Unsigned);

        // Cutting the newest events off and moving the head back leaves a shorter chain that is
        // intact on its own; the checkpoint says where it had reached.
        drop_trigger(&app.store, "audit_events_no_delete");
        let seq = checkpoint["seq"].as_i64().unwrap();
        let listed = app.client.get("/api/v1/audit-events?limit=200", Some(&admin)).json();
        let keep = listed["items"][seq as usize - 2].clone();
        raw(&app.store, &format!("DELETE FROM audit_events WHERE seq >= {seq}")).unwrap();
        raw(&app.store, &format!("UPDATE audit_head SET seq = {}, hash = '{}' WHERE id = 1", keep["seq"], keep["hash"].as_str().unwrap())).unwrap();
        assert_eq!(verify(&app, &admin)["valid"], true);
        assert_eq!(
            refused_with(offline(&app.store, &saved, None)),
            CheckpointError::Shorter { seq, head_seq: seq - 1 }
        );
    }
}

/// A PostgreSQL role for one test, dropped after the test's database.
struct Role {
    name: String,
    admin_url: String,
}

impl Drop for Role {
    fn drop(&mut self) {
        let mut conn = diesel::PgConnection::establish(&self.admin_url).unwrap();
        diesel::sql_query(format!("DROP ROLE IF EXISTS {}", self.name))
            .execute(&mut conn)
            .unwrap();
    }
}

/// The deployment the README and docker-compose.yml describe: the schema's owner migrates, the
/// server runs as a role made by deploy/app-role.sql that owns nothing.
#[test]
fn a_role_that_owns_nothing_runs_dangan_but_cannot_remove_the_audit_guards() {
    let Some(store) = TestStore::postgres() else {
        eprintln!("skipped: DANGAN_TEST_POSTGRES_URL is not set");
        return;
    };
    let role = Role {
        name: format!(
            "dangan_app_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ),
        admin_url: std::env::var("DANGAN_TEST_POSTGRES_URL").unwrap(),
    };
    dangan_api::prepare(
        &config_for(&store),
        Arc::new(dangan_api::clock::SystemClock),
    )
    .unwrap();
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/app-role.sql"
    ))
    .unwrap();
    let script = script
        .replace("dangan_app", &role.name)
        .replace(":'app_password'", "'unused-here'");
    {
        let pool = db::connect(&store.url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        let db::AnyConnection::Postgresql(pg) = &mut *conn else {
            unreachable!()
        };
        diesel::connection::SimpleConnection::batch_execute(pg, &script).unwrap();
    }
    let at = store.url.find('@').unwrap();
    let role_url = format!("postgres://{}@{}", role.name, &store.url[at + 1..]);
    let mut config = config_for(&store);
    config.database_url = role_url.clone();
    let app = TestApp::start_configured(store, config, |_| {});

    let admin = app.admin_token();
    app.department(&admin, "HR");
    assert_eq!(verify(&app, &admin)["valid"], true);

    let mut conn = diesel::PgConnection::establish(&role_url).unwrap();
    for statement in [
        "DROP TRIGGER audit_events_no_update ON audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "TRUNCATE audit_events",
        "UPDATE audit_events SET data = '{}' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
        "DROP TABLE audit_events",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn);
        assert!(
            refused.is_err(),
            "{statement} must be refused to the role dangan runs as"
        );
    }
    drop(conn);
    drop(app);
}
