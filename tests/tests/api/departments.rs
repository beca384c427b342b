//! Departments: codes, parents, heads, and no loops in the tree.

use dangan_tests::{both_stores, TestApp};
use serde_json::json;

both_stores! {
    fn create_update_and_refuse_bad_references(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let root = app.department(&admin, "ROOT");
        let reply = app.client.post("/api/v1/departments", Some(&admin), &json!({"code": "HR", "name": "人事处", "parent_id": root}));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let hr = reply.json();
        assert_eq!(hr["parent_id"], root.as_str());
        assert!(hr["head_user_id"].is_null());
        let hr_id = hr["id"].as_str().unwrap().to_owned();

        app.client.post("/api/v1/departments", Some(&admin), &json!({"code": "HR", "name": "again"}))
            .assert_problem(409, "duplicate_code");
        let missing = uuid::Uuid::new_v4().to_string();
        let problem = app.client.post("/api/v1/departments", Some(&admin), &json!({"code": "X", "name": "x", "parent_id": missing}))
            .assert_problem(422, "validation_failed");
        assert!(problem["errors"]["parent_id"].is_array());
        let problem = app.client.post("/api/v1/departments", Some(&admin), &json!({"code": "Y", "name": "y", "head_user_id": missing}))
            .assert_problem(422, "validation_failed");
        assert!(problem["errors"]["head_user_id"].is_array());

        let head = app.user(&admin, "head", &hr_id, &[], "secret");
        let path = format!("/api/v1/departments/{hr_id}");
        let changed = app.client.patch(&path, Some(&admin), Some("\"1\""), &json!({"head_user_id": head["id"], "name": "人力资源处"}));
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(changed.json()["head_user_id"], head["id"]);
        assert_eq!(changed.header("etag"), Some("\"2\""));
        app.client.patch(&path, Some(&admin), Some("\"1\""), &json!({"name": "stale"}))
            .assert_problem(412, "precondition_failed");

        // ROOT under HR would close a loop, and so would HR under itself.
        let problem = app.client.patch(&format!("/api/v1/departments/{root}"), Some(&admin), None, &json!({"parent_id": hr_id}))
            .assert_problem(422, "validation_failed");
        assert!(problem["errors"]["parent_id"].is_array());
        app.client.patch(&path, Some(&admin), None, &json!({"parent_id": hr_id}))
            .assert_problem(422, "validation_failed");

        let detached = app.client.patch(&path, Some(&admin), None, &json!({"parent_id": null})).json();
        assert!(detached["parent_id"].is_null());
        let list = app.client.get("/api/v1/departments", Some(&admin)).json();
        let codes: Vec<&str> = list["items"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["HR", "ROOT"]);
        assert_eq!(app.client.get(&path, Some(&admin)).json()["name"], "人力资源处");
    }
}
