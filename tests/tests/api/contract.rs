//! The contract as typed clients meet it: 405 with `Allow` for a method a path does not serve,
//! `HEAD` wherever `GET` is, every missing or mistyped field of a body at once under its own
//! name, the bounds the document states enforced as stated (bodies and queries), `GET
//! /me/loans`, notifications with `title`, every documented operation served, and `Location`
//! on every 201, replays included.

use dangan_tests::{archive_body, both_stores, TestApp};
use serde_json::{json, Value};

use crate::org::{barcode, org};

both_stores! {
    fn a_known_path_with_another_method_is_405_with_allow(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        let reply = app.send_bytes("DELETE", "/api/v1/archives", &token, "application/json", b"");
        reply.assert_problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some("GET, HEAD, POST"));
        let trace = app.send_bytes("TRACE", "/api/v1/loans/0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20", &token, "application/json", b"");
        trace.assert_problem(405, "method_not_allowed");
        assert_eq!(trace.header("allow"), Some("GET, HEAD"));
        let put = app.send_bytes("PUT", "/api/v1/auth/login", &token, "application/json", b"{}");
        assert_eq!(put.header("allow"), Some("POST"));
        // An unknown path stays 404.
        app.send_bytes("DELETE", "/api/v1/nothing-here", &token, "application/json", b"")
            .assert_problem(404, "not_found");
    }

    fn a_literal_path_asked_with_another_method_is_405_not_a_bad_id(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        // `PUT /policies/resolve` reaches the route of `PUT /policies/{id}` with "resolve" as id.
        let reply = app.send_bytes("PUT", "/api/v1/policies/resolve", &token, "application/json", b"{}");
        reply.assert_problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
        // A malformed id on a path that does serve the method names nothing: 404.
        app.send_bytes("PUT", "/api/v1/policies/not-a-uuid", &token, "application/json", b"{}")
            .assert_problem(404, "not_found");
    }

    fn body_bounds_are_enforced_as_the_document_states_them(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        let mut body = archive_body("BD-1", "public");
        body["title"] = json!("档".repeat(501));
        body["barcode"] = json!("B 42");
        body["category"] = json!("   ");
        body["year"] = json!(10_000);
        let problem = app.client.post("/api/v1/archives", Some(&token), &body).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["title"], json!(["must be at most 500 characters"]), "{problem}");
        assert_eq!(problem["errors"]["barcode"], json!(["must not contain spaces or control characters"]), "{problem}");
        assert_eq!(problem["errors"]["category"], json!(["is required"]), "{problem}");
        assert_eq!(problem["errors"]["year"], json!(["must be between 1 and 9999"]));
        // Exactly at the bound is accepted: 500 characters, counted as characters, not bytes.
        body = archive_body("BD-1", "public");
        body["title"] = json!("档".repeat(500));
        app.archive(&token, &body);

        let policy = json!({"name": "BD", "priority": 10.0, "match": {"classifications": [], "categories": ["BD"], "loan_types": []},
            "approval_steps": [], "max_days": 3, "max_renewals": 0, "allowed_loan_types": [], "pickup_days": 7});
        let problem = app.client.post("/api/v1/policies", Some(&token), &policy).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["allowed_loan_types"], json!(["must list 1 to 4 items"]), "{problem}");
        assert!(problem["errors"].get("priority").is_none(), "10.0 is an integer in JSON Schema: {problem}");
        let mut policy = policy;
        policy["allowed_loan_types"] = json!(["on_site"]);
        let created = app.client.post("/api/v1/policies", Some(&token), &policy);
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.json()["priority"], 10);

        let hook = json!({"url": "http://hooks.example.invalid/bd", "events": ["loan.nothing"], "secret": "short"});
        let problem = app.client.post("/api/v1/webhooks", Some(&token), &hook).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["events[0]"][0].as_str().unwrap().starts_with("must be one of"), "{problem}");
        assert_eq!(problem["errors"]["secret"], json!(["must be 16 to 500 characters"]));
    }

    fn query_bounds_are_enforced_as_the_document_states_them(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        // Outside the bounds: 422 under the parameter's name.
        for query in ["/api/v1/archives?limit=0", "/api/v1/loans?limit=501", "/api/v1/reports/overdue?limit=-9223372036854775808"] {
            let problem = app.client.get(query, Some(&token)).assert_problem(422, "validation_failed");
            assert_eq!(problem["errors"]["limit"], json!(["must be between 1 and 500"]), "{query}: {problem}");
        }
        // Not a value of the parameter at all (enumeration, format, pattern): a malformed query, 400.
        for (query, field) in [
            ("/api/v1/users?cursor=", "cursor"),
            ("/api/v1/users?cursor=not-a-uuid", "cursor"),
            ("/api/v1/audit-events?cursor=-1", "cursor"),
            ("/api/v1/archives?sort=", "sort"),
            ("/api/v1/reports/loans?group_by=weekday", "group_by"),
        ] {
            let problem = app.client.get(query, Some(&token)).assert_problem(400, "bad_request");
            assert!(problem["detail"].as_str().unwrap().starts_with(&format!("invalid query: {field} ")), "{query}: {problem}");
        }
        let long = "q".repeat(257);
        let problem = app.client.get(&format!("/api/v1/archives?q={long}"), Some(&token)).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["q"], json!(["must be at most 256 characters"]));
        assert_eq!(app.client.get(&format!("/api/v1/archives?q={}&limit=500", &long[1..]), Some(&token)).status, 200);
        // Validation needs no privilege, but the caller still needs a token.
        app.client.get("/api/v1/archives?limit=0", None).assert_problem(401, "unauthorized");
    }

    fn head_is_answered_wherever_get_is(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        app.archive(&token, &archive_body("HD-1", "public"));
        for path in ["/healthz", "/api/v1/archives", "/api/v1/me"] {
            let head = app.send_bytes("HEAD", path, &token, "application/json", b"");
            assert_eq!(head.status, 200, "HEAD {path}");
            assert!(head.body.is_empty(), "HEAD {path} sent a body: {}", head.body);
            assert_eq!(app.client.get(path, Some(&token)).status, 200);
        }
        let head = app.send_bytes("HEAD", "/api/v1/me", "not-a-token", "application/json", b"");
        assert_eq!(head.status, 401, "HEAD is checked like GET");
    }

    fn every_missing_or_mistyped_field_is_reported_at_once(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        let problem = app.client.post("/api/v1/archives", Some(&token), &json!({"archive_code": "X1"}))
            .assert_problem(422, "validation_failed");
        let mut fields: Vec<&str> = problem["errors"].as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        // `category` may be left out for a `category_code`, `location` for a `location_id`: the
        // domain asks for one of each once the body has the shape (see the blank category above).
        assert_eq!(fields, ["barcode", "classification", "medium", "title"], "{problem}");
        assert_eq!(problem["errors"]["title"], json!(["is required"]));

        let mut body = archive_body("X2", "public");
        body["year"] = json!("2019");
        body["classification"] = json!("secretish");
        body["pages"] = json!(1.5);
        let problem = app.client.post("/api/v1/archives", Some(&token), &body).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["year"], json!(["must be integer"]), "{problem}");
        assert!(problem["errors"]["classification"][0].as_str().unwrap().starts_with("must be one of"), "{problem}");
        assert_eq!(problem["errors"]["pages"], json!(["must be integer"]));
        assert!(problem["errors"].get("body").is_none(), "{problem}");

        let problem = app.client.post("/api/v1/users", Some(&token), &json!({"username": 7, "roles": "admin"}))
            .assert_problem(422, "validation_failed");
        for field in ["username", "roles", "display_name", "password", "clearance"] {
            assert!(problem["errors"][field].is_array(), "{field}: {problem}");
        }
        // Nested fields are named by their path.
        let problem = app.client.post("/api/v1/policies", Some(&token), &json!({
            "name": "x", "priority": 1, "match": {"classifications": ["public"], "categories": [], "loan_types": []},
            "approval_steps": [{"name": 5, "approver": {"kind": "role", "role": "archivist"}}],
            "max_days": 3, "max_renewals": 0, "renewal_requires_approval": false,
            "allowed_loan_types": ["on_site"], "dual_signoff_on_return": false, "pickup_days": 7
        })).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["approval_steps[0].name"], json!(["must be string"]), "{problem}");
        // Malformed JSON is still 400.
        app.send_bytes("POST", "/api/v1/archives", &token, "application/json", b"{\"archive_code\":")
            .assert_problem(400, "bad_request");
    }

    fn a_reject_without_a_comment_names_the_comment(store) {
        let org = org(store);
        let archive = org.archive("RJ-1", "internal");
        let request = org.request("borrower", &[&archive], "on_site", 3);
        let problem = org.decide("head", &request, "reject", &json!({})).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"], json!({"comment": ["is required"]}), "{problem}");
    }

    fn me_loans_lists_only_the_callers_loans(store) {
        let org = org(store);
        let mine = org.archive("ML-1", "public");
        let theirs = org.archive("ML-2", "public");
        for (who, archive, code) in [("borrower", &mine, "ML-1"), ("archivist", &theirs, "ML-2")] {
            let request = org.approve_all(org.request(who, &[archive], "on_site", 3));
            let loan = org.check_out(if who == "archivist" { "second" } else { "archivist" }, &request, &barcode(code));
            assert_eq!(loan.status, 201, "{}", loan.body);
        }
        let ids = |who: &str| -> Vec<Value> {
            let reply = org.app.client.get("/api/v1/me/loans?limit=10", Some(&org.token(who)));
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.json()["items"].as_array().unwrap().iter().map(|l| l["archive_id"].clone()).collect()
        };
        assert_eq!(ids("borrower"), [json!(mine)]);
        // Staff see every loan at /loans, but only their own at /me/loans.
        assert_eq!(ids("archivist"), [json!(theirs)]);
        let all = org.app.client.get("/api/v1/loans", Some(&org.token("archivist"))).json();
        assert_eq!(all["items"].as_array().unwrap().len(), 2);
        assert_eq!(org.app.client.get("/api/v1/me/loans?status=returned", Some(&org.token("borrower"))).json()["items"], json!([]));
        org.app.client.get("/api/v1/me/loans", None).assert_problem(401, "unauthorized");
    }

    fn every_documented_operation_is_served(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        let document = app.client.get("/api-docs/openapi.json", None).json();
        let mut checked = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                // Parameters get a well-formed id that names nothing; nothing is created.
                let concrete = path.split('/').map(|s| if s.starts_with('{') { "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20" } else { s })
                    .collect::<Vec<_>>().join("/");
                let reply = app.send_bytes(&method.to_uppercase(), &concrete, &token, "text/plain", b"");
                let unrouted = reply.status == 405
                    || (reply.status == 404 && reply.body.contains("no such endpoint"));
                assert!(!unrouted, "{method} {path} is documented but not served: {} {}", reply.status, reply.body);
                checked += 1;
            }
        }
        assert!(checked >= 70, "{checked} operations");
    }

    fn every_201_says_where_the_created_resource_is(store) {
        let org = org(store);
        let admin = org.token("admin");
        let follow = |reply: &dangan_tests::Reply, token: &str, readable: bool| {
            assert_eq!(reply.status, 201, "{}", reply.body);
            let location = reply.header("location").unwrap_or_else(|| panic!("no Location: {}", reply.body)).to_owned();
            let id = reply.json()["id"].as_str().unwrap().to_owned();
            assert!(location.starts_with("/api/v1/") && location.ends_with(&id), "{location}");
            if readable {
                let read = org.app.client.get(&location, Some(token));
                assert_eq!(read.status, 200, "GET {location}: {}", read.body);
                assert_eq!(read.json()["id"], json!(id));
            }
        };
        let archive = org.app.client.post("/api/v1/archives", Some(&admin), &archive_body("LO-1", "public"));
        follow(&archive, &admin, true);
        let department = org.app.client.post("/api/v1/departments", Some(&admin), &json!({"code": "LO", "name": "LO"}));
        follow(&department, &admin, true);
        let user = org.app.client.post("/api/v1/users", Some(&admin), &json!({"username": "lo_user", "display_name": "LO",
            "password": "lo-user-pass-2026", "department_id": department.json()["id"], "roles": [], "clearance": "public"}));
        follow(&user, &admin, true);
        let borrower = org.token("borrower");
        let request = org.ask("borrower", &[archive.json()["id"].as_str().unwrap()], "on_site", 3);
        follow(&request, &borrower, true);
        let approved = org.approve_all(request.json());
        let loan = org.check_out("archivist", &approved, &barcode("LO-1"));
        follow(&loan, &borrower, true);
        let policy = json!({"name": "LO policy", "priority": 5, "match": {"classifications": [], "categories": ["LO"], "loan_types": []},
            "approval_steps": [], "max_days": 3, "max_renewals": 0, "renewal_requires_approval": false,
            "allowed_loan_types": ["on_site"], "dual_signoff_on_return": false, "pickup_days": 7});
        follow(&org.app.client.post("/api/v1/policies", Some(&admin), &policy), &admin, true);
        let field = json!({"key": "lo_case", "label": "案卷号", "type": "text", "required": false, "options": [], "categories": ["LO"]});
        follow(&org.app.client.post("/api/v1/form-fields", Some(&admin), &field), &admin, false);
        let delegation = json!({"delegate_id": org.id("second"), "starts_at": "2026-11-24T09:00:00Z", "ends_at": "2026-12-24T09:00:00Z"});
        follow(&org.app.client.post("/api/v1/delegations", Some(&org.token("head")), &delegation), &admin, false);
        let hook = json!({"url": "http://hooks.example.invalid/lo", "events": ["loan.checked_out"], "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
        follow(&org.app.client.post("/api/v1/webhooks", Some(&admin), &hook), &admin, false);
    }

    fn a_replayed_201_says_where_the_created_resource_is(store) {
        let app = TestApp::start(store);
        let token = app.admin_token();
        let send = || app.client.raw("POST", "/api/v1/archives", &[
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Authorization".to_owned(), format!("Bearer {token}")),
            ("Idempotency-Key".to_owned(), "rp-archive-0001".to_owned()),
        ], archive_body("RP-1", "public").to_string().as_bytes());
        let first = send();
        assert_eq!(first.status, 201, "{}", first.body);
        let again = send();
        assert_eq!(again.status, 201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.header("location"), first.header("location"));
        assert!(first.header("location").is_some());
        assert_eq!(again.body, first.body);
    }
}
