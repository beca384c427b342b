//! Delegations: given by the caller, to someone else, for a window, ended by the giver only.

use dangan_tests::{both_stores, TestApp, PASSWORD};
use serde_json::json;
use time::{format_description::well_known::Rfc3339, Duration};

both_stores! {
    fn give_list_and_end_a_delegation(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        let head = app.user(&admin, "head", &department, &[], "secret");
        let deputy = app.user(&admin, "deputy", &department, &[], "secret");
        app.user(&admin, "other", &department, &[], "internal");
        let head_token = app.login("head", PASSWORD);
        let deputy_token = app.login("deputy", PASSWORD);
        let other_token = app.login("other", PASSWORD);
        let now = dangan_api::clock::Clock::now(&app.clock);
        let at = |offset: Duration| (now + offset).format(&Rfc3339).unwrap();

        let body = json!({"delegate_id": deputy["id"], "starts_at": at(Duration::ZERO), "ends_at": at(Duration::days(7)), "reason": "出差"});
        let created = app.client.post("/api/v1/delegations", Some(&head_token), &body);
        assert_eq!(created.status, 201, "{}", created.body);
        let delegation = created.json();
        assert_eq!(delegation["delegator_id"], head["id"], "the caller delegates their own tasks");
        assert_eq!(delegation["reason"], "出差");

        for token in [&head_token, &deputy_token] {
            let listed = app.client.get("/api/v1/delegations", Some(token)).json();
            assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        }
        assert_eq!(app.client.get("/api/v1/delegations", Some(&other_token)).json()["items"], json!([]));

        let to_self = json!({"delegate_id": head["id"], "starts_at": at(Duration::ZERO), "ends_at": at(Duration::days(1))});
        let problem = app.client.post("/api/v1/delegations", Some(&head_token), &to_self).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["delegate_id"].is_array());
        let backwards = json!({"delegate_id": deputy["id"], "starts_at": at(Duration::days(2)), "ends_at": at(Duration::days(1))});
        app.client.post("/api/v1/delegations", Some(&head_token), &backwards).assert_problem(422, "validation_failed");
        let nobody = json!({"delegate_id": uuid::Uuid::new_v4(), "starts_at": at(Duration::ZERO), "ends_at": at(Duration::days(1))});
        let problem = app.client.post("/api/v1/delegations", Some(&head_token), &nobody).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["delegate_id"].is_array());

        let id = delegation["id"].as_str().unwrap();
        let auth = |t: &str| vec![("Authorization".to_owned(), format!("Bearer {t}"))];
        app.client.raw("DELETE", &format!("/api/v1/delegations/{id}"), &auth(&deputy_token), b"").assert_problem(404, "not_found");
        assert_eq!(app.client.raw("DELETE", &format!("/api/v1/delegations/{id}"), &auth(&head_token), b"").status, 204);
        assert_eq!(app.client.get("/api/v1/delegations", Some(&head_token)).json()["items"], json!([]));

        // Ended windows drop out of the list by themselves.
        let short = json!({"delegate_id": deputy["id"], "starts_at": at(Duration::ZERO), "ends_at": at(Duration::hours(1))});
        app.client.post("/api/v1/delegations", Some(&head_token), &short);
        app.clock.advance(Duration::hours(2));
        let head_token = app.login("head", PASSWORD);
        assert_eq!(app.client.get("/api/v1/delegations", Some(&head_token)).json()["items"], json!([]));
        let admin = app.admin_token();
        let events = app.client.get("/api/v1/audit-events?entity_type=delegation", Some(&admin)).json();
        let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["delegation.created", "delegation.revoked", "delegation.created"]);
    }
}
