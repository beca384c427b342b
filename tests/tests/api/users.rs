//! Users: creation, listing with filters, changes under If-Match, and the rules on authority.

use dangan_tests::{both_stores, TestApp, PASSWORD};
use serde_json::json;

both_stores! {
    fn create_read_and_log_in_without_ever_showing_a_password(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        let reply = app.client.post("/api/v1/users", Some(&admin), &json!({
            "username": "ZhangSan", "display_name": "张三", "password": PASSWORD, "department_id": department,
            "roles": ["archivist", "auditor"], "clearance": "secret", "email": "zs@example.org", "phone": "010-1234"
        }));
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert!(!reply.body.contains(PASSWORD) && !reply.body.contains("argon2") && !reply.body.contains("password"));
        let user = reply.json();
        assert_eq!(user["username"], "ZhangSan");
        assert_eq!(user["roles"], json!(["archivist", "auditor"]));
        assert_eq!(user["clearance"], "secret");
        assert_eq!(user["status"], "active");
        assert_eq!(user["department_id"], department.as_str());
        assert_eq!(reply.header("etag"), Some("\"1\""));

        let id = user["id"].as_str().unwrap();
        let read = app.client.get(&format!("/api/v1/users/{id}"), Some(&admin));
        assert_eq!(read.json(), user);
        assert!(!read.body.contains("argon2"));

        // Usernames are unique whatever their case; login ignores case too.
        app.client.post("/api/v1/users", Some(&admin), &json!({
            "username": "zhangsan", "display_name": "x", "password": PASSWORD, "department_id": department,
            "roles": [], "clearance": "public"
        })).assert_problem(409, "duplicate_username");
        let token = app.login("zhangsan", PASSWORD);
        let me = app.client.get("/api/v1/me", Some(&token)).json();
        assert_eq!(me["id"], user["id"]);
        assert_eq!(me["department"]["code"], "HR");
        assert_eq!(me["blocked"], false);
        assert!(me["blocked_reason"].is_null());

        let missing = uuid::Uuid::new_v4().to_string();
        let problem = app.client.post("/api/v1/users", Some(&admin), &json!({
            "username": "nobody", "display_name": "x", "password": PASSWORD, "department_id": missing,
            "roles": [], "clearance": "public"
        })).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["department_id"].is_array());
    }

    fn list_filters_and_pages_without_gaps(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        let ops = app.department(&admin, "OPS");
        for i in 0..7 {
            let department = if i % 2 == 0 { &hr } else { &ops };
            let roles: &[&str] = if i < 3 { &["archivist"] } else { &[] };
            app.user(&admin, &format!("user{i}"), department, roles, "internal");
        }
        app.user(&admin, "李小龙", &hr, &["auditor"], "public");

        let ids = |path: &str| -> Vec<String> {
            let reply = app.client.get(path, Some(&admin));
            assert_eq!(reply.status, 200, "{path}: {}", reply.body);
            reply.json()["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(ids("/api/v1/users?role=archivist"), ["user2", "user1", "user0"]);
        assert_eq!(ids(&format!("/api/v1/users?department_id={ops}")), ["user5", "user3", "user1"]);
        assert_eq!(ids("/api/v1/users?q=USER6"), ["user6"]);
        assert_eq!(ids("/api/v1/users?q=%E5%B0%8F%E9%BE%99"), ["李小龙"], "q=小龙");
        assert_eq!(ids("/api/v1/users?q=%25"), Vec::<String>::new(), "LIKE wildcards are literal");
        assert_eq!(ids("/api/v1/users?role=admin"), ["admin"]);

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/users?limit=3&cursor={c}"),
                None => "/api/v1/users?limit=3".to_owned(),
            };
            let page = app.client.get(&path, Some(&admin)).json();
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|u| u["username"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 9);
        assert_eq!(seen.first().map(String::as_str), Some("李小龙"), "newest first");
        assert_eq!(seen.last().map(String::as_str), Some("admin"));
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 9, "no duplicates across pages");

        let id = app.client.get("/api/v1/users?q=user0", Some(&admin)).json()["items"][0]["id"].as_str().unwrap().to_owned();
        app.client.post(&format!("/api/v1/users/{id}/deactivate"), Some(&admin), &json!({}));
        assert_eq!(ids("/api/v1/users?status=disabled"), ["user0"]);
    }

    fn patch_honours_if_match_and_clears_with_null(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        let user = app.user(&admin, "lisi", &department, &[], "internal");
        let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());

        let changed = app.client.patch(&path, Some(&admin), Some("\"1\""), &json!({
            "display_name": "李四", "roles": ["leader"], "clearance": "confidential", "email": "ls@example.org"
        }));
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(changed.header("etag"), Some("\"2\""));
        let body = changed.json();
        assert_eq!(body["display_name"], "李四");
        assert_eq!(body["roles"], json!(["leader"]));
        assert_eq!(body["clearance"], "confidential");
        assert_eq!(body["version"], 2);

        app.client.patch(&path, Some(&admin), Some("\"1\""), &json!({"display_name": "stale"}))
            .assert_problem(412, "precondition_failed");
        let cleared = app.client.patch(&path, Some(&admin), None, &json!({"email": null, "department_id": null})).json();
        assert!(cleared["email"].is_null() && cleared["department_id"].is_null());
        assert_eq!(cleared["display_name"], "李四", "absent fields stay");
    }

    fn nobody_raises_their_own_authority_and_the_last_admin_stays(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let me = app.client.get("/api/v1/me", Some(&admin)).json();
        let my_path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());

        app.client.patch(&my_path, Some(&admin), None, &json!({"roles": ["admin", "auditor"]}))
            .assert_problem(403, "self_elevation");
        app.client.patch(&my_path, Some(&admin), None, &json!({"roles": []}))
            .assert_problem(409, "last_admin");
        // Swapping admin for another role is still gaining that role.
        app.client.patch(&my_path, Some(&admin), None, &json!({"roles": ["auditor"]}))
            .assert_problem(403, "self_elevation");
        app.client.post(&format!("{my_path}/deactivate"), Some(&admin), &json!({}))
            .assert_problem(409, "last_admin");

        // With a second admin the first may step down; the second cannot raise itself further.
        let department = app.department(&admin, "IT");
        let second = app.user(&admin, "admin2", &department, &["admin"], "internal");
        let second_token = app.login("admin2", PASSWORD);
        let second_path = format!("/api/v1/users/{}", second["id"].as_str().unwrap());
        app.client.patch(&second_path, Some(&second_token), None, &json!({"clearance": "top_secret"}))
            .assert_problem(403, "self_elevation");
        let lowered = app.client.patch(&second_path, Some(&second_token), None, &json!({"clearance": "public"}));
        assert_eq!(lowered.status, 200, "lowering one's own clearance is allowed: {}", lowered.body);

        let stepped_down = app.client.patch(&my_path, Some(&admin), None, &json!({"roles": []}));
        assert_eq!(stepped_down.status, 200, "{}", stepped_down.body);
        app.client.post(&format!("{second_path}/deactivate"), Some(&second_token), &json!({}))
            .assert_problem(409, "last_admin");
    }

    fn deactivation_lists_open_loans_and_is_audited(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        let user = app.user(&admin, "sunqi", &department, &[], "internal");
        let id = user["id"].as_str().unwrap();
        let reply = app.client.post(&format!("/api/v1/users/{id}/deactivate"), Some(&admin), &json!({}));
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert_eq!(body["status"], "disabled");
        assert_eq!(body["open_loans"], json!([]));
        let events = app.client.get(&format!("/api/v1/audit-events?entity_id={id}"), Some(&admin)).json();
        let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["user.created", "user.deactivated"]);
    }
}
