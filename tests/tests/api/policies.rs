//! Loan policies: the seeded defaults, and the chain a borrower would face.

use dangan_tests::{archive_body, both_stores, TestApp, PASSWORD};
use serde_json::json;

both_stores! {
    fn the_defaults_are_seeded_and_readable_by_everyone(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        app.user(&admin, "reader", &department, &[], "internal");
        let reader = app.login("reader", PASSWORD);
        let list = app.client.get("/api/v1/policies", Some(&reader));
        assert_eq!(list.status, 200, "{}", list.body);
        let items = list.json()["items"].as_array().unwrap().clone();
        let rows: Vec<(String, usize, i64)> = items.iter().map(|p| (
            p["match"]["classifications"][0].as_str().unwrap().to_owned(),
            p["approval_steps"].as_array().unwrap().len(),
            p["max_days"].as_i64().unwrap(),
        )).collect();
        let mut rows = rows;
        rows.sort();
        assert_eq!(rows, [
            ("confidential".to_owned(), 3, 7), ("internal".to_owned(), 2, 30), ("public".to_owned(), 1, 30),
            ("secret".to_owned(), 2, 14), ("top_secret".to_owned(), 3, 1),
        ]);
        let secret = items.iter().find(|p| p["match"]["classifications"][0] == "secret").unwrap();
        assert_eq!(secret["approval_steps"][1]["approver"], json!({"kind": "role", "role": "security_officer"}));
        assert_eq!(secret["dual_signoff_on_return"], true);
        let one = app.client.get(&format!("/api/v1/policies/{}", secret["id"].as_str().unwrap()), Some(&reader));
        assert_eq!(one.json(), *secret);
        app.client.get(&format!("/api/v1/policies/{}", uuid::Uuid::new_v4()), Some(&reader)).assert_problem(404, "not_found");
        app.client.get("/api/v1/policies", None).assert_problem(401, "unauthorized");
    }

    fn resolve_names_the_people_and_never_the_caller(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let parent = app.department(&admin, "HQ");
        let reply = app.client.post("/api/v1/departments", Some(&admin), &json!({"code": "HR", "name": "人事处", "parent_id": parent}));
        let hr = reply.json()["id"].as_str().unwrap().to_owned();
        let head = app.user(&admin, "head", &hr, &[], "secret");
        let director = app.user(&admin, "director", &parent, &[], "top_secret");
        let archivist = app.user(&admin, "archivist", &parent, &["archivist"], "secret");
        let borrower = app.user(&admin, "borrower", &hr, &[], "internal");
        app.client.patch(&format!("/api/v1/departments/{hr}"), Some(&admin), None, &json!({"head_user_id": head["id"]}));
        app.client.patch(&format!("/api/v1/departments/{parent}"), Some(&admin), None, &json!({"head_user_id": director["id"]}));
        let internal = app.archive(&admin, &archive_body("RS-1", "internal"));
        let secret = app.archive(&admin, &archive_body("RS-2", "secret"));
        let path = |archive: &serde_json::Value, loan_type: &str| {
            format!("/api/v1/policies/resolve?archive_id={}&loan_type={loan_type}", archive["id"].as_str().unwrap())
        };

        let token = app.login("borrower", PASSWORD);
        let resolved = app.client.get(&path(&internal, "take_out"), Some(&token));
        assert_eq!(resolved.status, 200, "{}", resolved.body);
        let body = resolved.json();
        assert_eq!(body["policy"]["name"], "internal default");
        assert_eq!(body["loan_type_allowed"], true);
        assert_eq!(body["steps"][0]["approver_ids"], json!([head["id"]]));
        assert_eq!(body["steps"][1]["approver_ids"], json!([archivist["id"]]));
        // Above the borrower's clearance the archive does not exist for them.
        app.client.get(&path(&secret, "on_site"), Some(&token)).assert_problem(404, "not_found");
        app.client.get(&format!("/api/v1/policies/resolve?archive_id={}&loan_type=borrow", internal["id"].as_str().unwrap()), Some(&token))
            .assert_problem(400, "bad_request");

        // The head borrowing: their own step goes to the parent department's head.
        let head_token = app.login("head", PASSWORD);
        let own = app.client.get(&path(&internal, "on_site"), Some(&head_token)).json();
        assert_eq!(own["steps"][0]["approver_ids"], json!([director["id"]]));
        let confidential = app.archive(&admin, &archive_body("RS-3", "confidential"));
        assert_eq!(borrower["clearance"], "internal");
        app.client.patch(&format!("/api/v1/users/{}", head["id"].as_str().unwrap()), Some(&admin), None, &json!({"clearance": "confidential"}));
        let head_token = app.login("head", PASSWORD);
        // Three steps and only the director and the admin cleared to decide them: nobody may
        // decide two steps of one request, so nobody can decide the third.
        app.client.get(&path(&confidential, "take_out"), Some(&head_token)).assert_problem(409, "no_approver");
        let leader = app.user(&admin, "leader", &parent, &["leader"], "top_secret");
        let refused = app.client.get(&path(&confidential, "take_out"), Some(&head_token)).json();
        assert_eq!(refused["loan_type_allowed"], false, "confidential files do not leave the room");
        // Nobody holds security_officer: that step falls back past the parent's head, who decides
        // the first step already (nobody decides two steps), to the admins.
        let admin_id = app.client.get("/api/v1/me", Some(&admin)).json()["id"].clone();
        assert_eq!(refused["steps"][0]["approver_ids"], json!([director["id"]]));
        assert_eq!(refused["steps"][1]["approver_ids"], json!([admin_id]));
        assert_eq!(refused["steps"][2]["approver_ids"], json!([leader["id"]]));
    }
}

fn on_site_only(name: &str, priority: i32) -> serde_json::Value {
    json!({
        "name": name, "priority": priority,
        "match": {"categories": ["人事"]},
        "approval_steps": [{"name": "archivist", "approver": {"kind": "role", "role": "archivist"}}],
        "max_days": 3, "max_renewals": 0, "allowed_loan_types": ["on_site"], "pickup_days": 2
    })
}

both_stores! {
    fn admins_change_policies_and_resolution_follows(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        app.user(&admin, "borrower", &department, &[], "internal");
        let archivist = app.user(&admin, "archivist", &department, &["archivist"], "internal");
        let borrower = app.login("borrower", PASSWORD);

        app.client.post("/api/v1/policies", Some(&borrower), &on_site_only("x", 1)).assert_problem(403, "forbidden");
        let created = app.client.post("/api/v1/policies", Some(&admin), &on_site_only("人事 on site", 10));
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.header("etag"), Some("\"1\""));
        let policy = created.json();
        assert_eq!(policy["match"]["categories"], json!(["人事"]));
        assert_eq!(policy["renewal_requires_approval"], false);

        let mut archive = archive_body("RS-9", "internal");
        archive["category"] = json!("人事");
        let archive = app.archive(&admin, &archive);
        let path = format!("/api/v1/policies/resolve?archive_id={}&loan_type=take_out", archive["id"].as_str().unwrap());
        let resolved = app.client.get(&path, Some(&borrower)).json();
        assert_eq!(resolved["policy"]["name"], "人事 on site", "the higher priority wins");
        assert_eq!(resolved["loan_type_allowed"], false);
        assert_eq!(resolved["steps"][0]["approver_ids"], json!([archivist["id"]]));

        let id = policy["id"].as_str().unwrap();
        let mut changed = on_site_only("人事 on site (revised)", 10);
        changed["allowed_loan_types"] = json!(["on_site", "take_out"]);
        let replaced = app.client.send_json("PUT", &format!("/api/v1/policies/{id}"), &admin, Some("\"1\""), &changed);
        assert_eq!(replaced.status, 200, "{}", replaced.body);
        assert_eq!(replaced.json()["version"], 2);
        app.client.send_json("PUT", &format!("/api/v1/policies/{id}"), &admin, Some("\"1\""), &changed)
            .assert_problem(412, "precondition_failed");
        assert_eq!(app.client.get(&path, Some(&borrower)).json()["loan_type_allowed"], true);

        let mut bad = on_site_only("", 1);
        bad["max_days"] = json!(0);
        bad["allowed_loan_types"] = json!([]);
        let problem = app.client.post("/api/v1/policies", Some(&admin), &bad).assert_problem(422, "validation_failed");
        for field in ["name", "max_days", "allowed_loan_types"] {
            assert!(problem["errors"][field].is_array(), "{field}: {problem}");
        }
        let mut ghost = on_site_only("named", 1);
        ghost["approval_steps"] = json!([{"name": "someone", "approver": {"kind": "user", "user_id": uuid::Uuid::new_v4()}}]);
        app.client.post("/api/v1/policies", Some(&admin), &ghost).assert_problem(422, "validation_failed");
        let mut unknown = on_site_only("odd", 1);
        unknown["approval_steps"] = json!([{"name": "x", "approver": {"kind": "astrologer"}}]);
        app.client.post("/api/v1/policies", Some(&admin), &unknown).assert_problem(422, "validation_failed");

        let deleted = app.client.raw("DELETE", &format!("/api/v1/policies/{id}"), &[("Authorization".into(), format!("Bearer {admin}"))], b"");
        assert_eq!(deleted.status, 204);
        app.client.get(&format!("/api/v1/policies/{id}"), Some(&admin)).assert_problem(404, "not_found");
        assert_eq!(app.client.get(&path, Some(&borrower)).json()["policy"]["name"], "internal default");
        let events = app.client.get("/api/v1/audit-events?entity_type=policy", Some(&admin)).json();
        let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["policy.seeded", "policy.created", "policy.updated", "policy.deleted"]);
    }
}

both_stores! {
    fn form_fields_are_read_by_all_and_written_by_admins(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        app.user(&admin, "borrower", &department, &[], "internal");
        let borrower = app.login("borrower", PASSWORD);
        let body = json!({"key": "case_number", "label": "案件编号", "type": "text", "required": true, "categories": ["人事"]});
        app.client.post("/api/v1/form-fields", Some(&borrower), &body).assert_problem(403, "forbidden");
        let created = app.client.post("/api/v1/form-fields", Some(&admin), &body);
        assert_eq!(created.status, 201, "{}", created.body);
        let field = created.json();
        assert_eq!(field["type"], "text");
        assert_eq!(field["categories"], json!(["人事"]));
        app.client.post("/api/v1/form-fields", Some(&admin), &body).assert_problem(409, "duplicate_key");
        let problem = app.client.post("/api/v1/form-fields", Some(&admin), &json!({"key": "Bad Key", "label": "", "type": "choice"}))
            .assert_problem(422, "validation_failed");
        for f in ["key", "label"] {
            assert!(problem["errors"][f].is_array(), "{f}: {problem}");
        }
        // What only the domain knows is reported once the body fits its schema.
        let problem = app.client.post("/api/v1/form-fields", Some(&admin), &json!({"key": "kind", "label": "种类", "type": "choice"}))
            .assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["options"], json!(["a choice needs at least one option"]), "{problem}");
        app.client.post("/api/v1/form-fields", Some(&admin), &json!({"key": "x", "label": "x", "type": "colour"}))
            .assert_problem(422, "validation_failed");

        let id = field["id"].as_str().unwrap();
        let choice = json!({"key": "case_number", "label": "用途", "type": "choice", "options": ["audit", "litigation"]});
        let replaced = app.client.send_json("PUT", &format!("/api/v1/form-fields/{id}"), &admin, Some("\"1\""), &choice);
        assert_eq!(replaced.status, 200, "{}", replaced.body);
        assert_eq!(replaced.header("etag"), Some("\"2\""));
        app.client.send_json("PUT", &format!("/api/v1/form-fields/{id}"), &admin, Some("\"1\""), &choice)
            .assert_problem(412, "precondition_failed");
        let listed = app.client.get("/api/v1/form-fields", Some(&borrower)).json();
        assert_eq!(listed["items"][0]["options"], json!(["audit", "litigation"]));
        let deleted = app.client.raw("DELETE", &format!("/api/v1/form-fields/{id}"), &[("Authorization".into(), format!("Bearer {admin}"))], b"");
        assert_eq!(deleted.status, 204);
        assert_eq!(app.client.get("/api/v1/form-fields", Some(&borrower)).json()["items"], json!([]));
        let events = app.client.get("/api/v1/audit-events?entity_type=form_field", Some(&admin)).json();
        assert_eq!(events["items"].as_array().unwrap().len(), 3);
    }
}
