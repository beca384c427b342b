//! Provisioning through SCIM 2.0 at /scim/v2: client tokens that open nothing else, users and
//! departments as the identity provider writes them, and deactivation that ends every login.
//! (`contract/scim.sh` runs scim2-tester, the compliance checker, against the same endpoints.)

use dangan_tests::{both_stores, http::Reply, TestApp, PASSWORD};
use serde_json::{json, Value};

pub(crate) const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A provisioning client's token, created by the admin.
pub(crate) fn scim_token(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let reply = app
        .client
        .post("/api/v1/scim-clients", Some(admin), &json!({"name": name}));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created = reply.json();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("dsc_") && token.len() == 68, "{token}");
    (created["id"].as_str().unwrap().to_owned(), token)
}

pub(crate) fn scim(app: &TestApp, method: &str, path: &str, token: &str, body: &Value) -> Reply {
    let headers = vec![
        (
            "Content-Type".to_owned(),
            "application/scim+json".to_owned(),
        ),
        ("Authorization".to_owned(), format!("Bearer {token}")),
    ];
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    app.client.raw(method, path, &headers, &bytes)
}

/// Asserts a SCIM error answer and returns its body.
pub(crate) fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/scim+json"));
    let body = reply.json();
    assert_eq!(body["schemas"], json!([ERROR]));
    assert_eq!(body["status"], status.to_string());
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    body
}

pub(crate) fn audit_actions(app: &TestApp, admin: &str, entity_id: &str) -> Vec<Value> {
    let reply = app.client.get(
        &format!("/api/v1/audit-events?entity_id={entity_id}"),
        Some(admin),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["items"].as_array().unwrap().clone()
}

both_stores! {
    fn a_scim_token_opens_scim_only_and_only_admins_make_one(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        let clerk = app.user(&admin, "clerk", &hr, &["archivist"], "secret");
        let clerk_token = app.login("clerk", PASSWORD);
        app.client.post("/api/v1/scim-clients", Some(&clerk_token), &json!({"name": "x"}))
            .assert_problem(403, "forbidden");
        app.client.post("/api/v1/scim-clients", Some(&admin), &json!({"name": " "}))
            .assert_problem(422, "validation_failed");

        let (client_id, token) = scim_token(&app, &admin, "Keycloak 总部");
        // The SCIM token is no access token: every endpoint of /api/v1 refuses it.
        for path in ["/api/v1/me", "/api/v1/users", "/api/v1/archives", "/api/v1/scim-clients"] {
            app.client.get(path, Some(&token)).assert_problem(401, "unauthorized");
        }
        let clerk_id = clerk["id"].as_str().unwrap();
        app.client.post(&format!("/api/v1/users/{clerk_id}/deactivate"), Some(&token), &json!({}))
            .assert_problem(401, "unauthorized");
        // And an access token, even an admin's, opens no SCIM resource.
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Users", &admin, &Value::Null), 401, None);
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Users", "dsc_not-a-token", &Value::Null), 401, None);
        // The clerk is Dangan's own, not the client's: it does not see them.
        let listed = scim(&app, "GET", "/scim/v2/Users?filter=userName%20eq%20%22CLERK%22", &token, &Value::Null);
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(listed.json()["totalResults"], 0);

        let clients = app.client.get("/api/v1/scim-clients", Some(&admin));
        assert_eq!(clients.status, 200);
        assert!(!clients.body.contains(&token[4..]), "the token is shown once only");
        assert_eq!(clients.json()["items"][0]["name"], "Keycloak 总部");
        let revoke = app.client.send_json("DELETE", &format!("/api/v1/scim-clients/{client_id}"), &admin, None, &json!({}));
        assert_eq!(revoke.status, 204, "{}", revoke.body);
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Users", &token, &Value::Null), 401, None);
        assert!(app.client.get("/api/v1/scim-clients", Some(&admin)).json()["items"][0]["revoked_at"].is_string());
        let actions: Vec<Value> = audit_actions(&app, &admin, &client_id).iter().map(|e| e["action"].clone()).collect();
        assert_eq!(actions, [json!("scim_client.created"), json!("scim_client.revoked")]);
    }

    fn deactivation_through_scim_ends_every_login_at_once(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        let leaver = app.user(&admin, "leaver", &hr, &["archivist"], "internal");
        let leaver_id = leaver["id"].as_str().unwrap();
        let desk = app.login("leaver", PASSWORD);
        let phone = app.client.post("/api/v1/auth/login", None, &json!({"username": "leaver", "password": PASSWORD})).json();
        for token in [desk.as_str(), phone["access_token"].as_str().unwrap()] {
            assert_eq!(app.client.get("/api/v1/me", Some(token)).status, 200);
        }
        let (client_id, scim_token) = scim_token(&app, &admin, "HR system");
        // In Dangan before the provider: an admin hands them to it.
        let reply = app.client.post(&format!("/api/v1/scim-clients/{client_id}/hand-over"), Some(&admin), &json!({"user_ids": [leaver_id]}));
        assert_eq!(reply.status, 200, "{}", reply.body);

        // As Microsoft Entra ID writes it: capitalised op, no path, the flag as a string.
        let reply = scim(&app, "PATCH", &format!("/scim/v2/Users/{leaver_id}"), &scim_token, &json!({
            "schemas": [PATCH], "Operations": [{"op": "Replace", "value": {"active": "False"}}]
        }));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["active"], false);

        for token in [desk.as_str(), phone["access_token"].as_str().unwrap()] {
            app.client.get("/api/v1/me", Some(token)).assert_problem(401, "unauthorized");
        }
        let refreshed = app.client.post("/api/v1/auth/refresh", None, &json!({"refresh_token": phone["refresh_token"]}));
        assert_eq!(refreshed.status, 401, "{}", refreshed.body);
        app.client.post("/api/v1/auth/login", None, &json!({"username": "leaver", "password": PASSWORD}))
            .assert_problem(403, "account_disabled");
        assert_eq!(app.client.get(&format!("/api/v1/users/{leaver_id}"), Some(&admin)).json()["status"], "disabled");

        let events = audit_actions(&app, &admin, leaver_id);
        let deactivated = events.iter().find(|e| e["action"] == "user.deactivated").expect("audited");
        assert_eq!(deactivated["data"]["via"]["scim_client"]["name"], "HR system");
        assert!(deactivated["data"].get("open_loans").is_none(), "no loan is named to auditors of any clearance");
        assert!(deactivated["actor_id"].is_null());
        let updated = events.iter().find(|e| e["action"] == "user.updated").expect("audited");
        assert_eq!(updated["data"]["after"]["status"], "disabled");

        // Active again at the provider: a user with roles and a Dangan password is let in again
        // by an admin only, and may then log in again (with a new login).
        let reply = scim(&app, "PATCH", &format!("/scim/v2/Users/{leaver_id}"), &scim_token, &json!({
            "schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": true}]
        }));
        assert_scim_error(&reply, 403, None);
        let reply = app.client.post(&format!("/api/v1/users/{leaver_id}/activate"), Some(&admin), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        app.client.get("/api/v1/me", Some(&desk)).assert_problem(401, "unauthorized");
        app.login("leaver", PASSWORD);
    }

    fn the_provider_writes_people_and_departments_but_never_authority(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let (_, token) = scim_token(&app, &admin, "Keycloak");

        // Roles and clearance in the body are not SCIM attributes of ours: they are ignored.
        let reply = scim(&app, "POST", "/scim/v2/Users", &token, &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "wangwu", "displayName": "王五", "externalId": "kc-42",
            "emails": [{"value": "ww@example.org", "type": "work", "primary": true}],
            "roles": [{"value": "admin"}], "clearance": "top_secret",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "42"}
        }));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let created = reply.json();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(reply.header("location"), created["meta"]["location"].as_str());
        assert_eq!(created["externalId"], "kc-42");
        assert_eq!(created["emails"], json!([{"value": "ww@example.org"}]));
        let user = app.client.get(&format!("/api/v1/users/{id}"), Some(&admin)).json();
        assert_eq!((user["roles"].clone(), user["clearance"].clone()), (json!([]), json!("public")));
        assert_eq!(user["display_name"], "王五");
        // No local password: nothing logs in as them, and the answer is the usual one.
        for guess in ["!", "x", PASSWORD] {
            app.client.post("/api/v1/auth/login", None, &json!({"username": "wangwu", "password": guess}))
                .assert_problem(401, "invalid_credentials");
        }

        // A department with the user as member; membership is the user's department.
        let reply = scim(&app, "POST", "/scim/v2/Groups", &token, &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "财务处",
            "members": [{"value": id}]
        }));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let group_id = reply.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(app.client.get(&format!("/api/v1/users/{id}"), Some(&admin)).json()["department_id"], group_id.as_str());
        let scim_user = scim(&app, "GET", &format!("/scim/v2/Users/{id}"), &token, &Value::Null).json();
        assert_eq!(scim_user["groups"][0]["value"], group_id.as_str());
        assert_eq!(scim_user["groups"][0]["display"], "财务处");
        let department = app.client.get(&format!("/api/v1/departments/{group_id}"), Some(&admin)).json();
        assert_eq!(department["name"], "财务处");

        let reply = scim(&app, "PATCH", &format!("/scim/v2/Groups/{group_id}"), &token, &json!({
            "schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]
        }));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.json().get("members").is_none());
        assert!(app.client.get(&format!("/api/v1/users/{id}"), Some(&admin)).json()["department_id"].is_null());

        // An admin grants authority in Dangan; deleted at the provider, the user is disabled and
        // gone from SCIM; re-created under the same name, they are the same person with nothing
        // granted, since whoever comes back is granted anew.
        let granted = app.client.patch(&format!("/api/v1/users/{id}"), Some(&admin), None,
            &json!({"roles": ["archivist"], "clearance": "secret"}));
        assert_eq!(granted.status, 200, "{}", granted.body);
        let deleted = scim(&app, "DELETE", &format!("/scim/v2/Users/{id}"), &token, &Value::Null);
        assert_eq!(deleted.status, 204, "{}", deleted.body);
        assert_scim_error(&scim(&app, "GET", &format!("/scim/v2/Users/{id}"), &token, &Value::Null), 404, None);
        assert_eq!(app.client.get(&format!("/api/v1/users/{id}"), Some(&admin)).json()["status"], "disabled");
        let again = scim(&app, "POST", "/scim/v2/Users", &token, &json!({"userName": "WangWu"}));
        assert_eq!(again.status, 201, "{}", again.body);
        assert_eq!(again.json()["id"], id.as_str());
        let user = app.client.get(&format!("/api/v1/users/{id}"), Some(&admin)).json();
        assert_eq!((user["status"].clone(), user["roles"].clone(), user["clearance"].clone()),
            (json!("active"), json!([]), json!("public")));
        let actions: Vec<Value> = audit_actions(&app, &admin, &id).iter().map(|e| e["action"].clone()).collect();
        for action in ["user.provisioned", "user.deprovisioned"] {
            assert_eq!(actions.iter().filter(|a| *a == action).count(), if action == "user.provisioned" { 2 } else { 1 }, "{actions:?}");
        }

        // The department deleted at the provider stays in Dangan for what names it.
        let gone = scim(&app, "DELETE", &format!("/scim/v2/Groups/{group_id}"), &token, &Value::Null);
        assert_eq!(gone.status, 204, "{}", gone.body);
        assert_scim_error(&scim(&app, "GET", &format!("/scim/v2/Groups/{group_id}"), &token, &Value::Null), 404, None);
        assert_eq!(app.client.get(&format!("/api/v1/departments/{group_id}"), Some(&admin)).status, 200);
    }

    fn scim_errors_say_what_is_wrong_in_scim_terms(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let (client_id, token) = scim_token(&app, &admin, "Okta");
        let create = |body: Value| scim(&app, "POST", "/scim/v2/Users", &token, &body);
        assert_eq!(create(json!({"userName": "lisi"})).status, 201);
        assert_scim_error(&create(json!({"userName": "LISI"})), 409, Some("uniqueness"));
        assert_scim_error(&create(json!({"displayName": "no name"})), 400, Some("invalidValue"));
        let spaced = assert_scim_error(&create(json!({"userName": "li si"})), 400, Some("invalidValue"));
        assert!(spaced["detail"].as_str().unwrap().starts_with("userName:"), "{spaced}");
        assert_scim_error(&create(json!({"userName": "x", "emails": [{"value": "a@x.org"}, {"value": "b@x.org"}]})), 400, Some("invalidValue"));
        let malformed = app.client.raw("POST", "/scim/v2/Users", &[
            ("Content-Type".to_owned(), "application/scim+json".to_owned()),
            ("Authorization".to_owned(), format!("Bearer {token}")),
        ], b"{\"userName\": ");
        assert_scim_error(&malformed, 400, Some("invalidSyntax"));
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Users?filter=userName%20co%20%22li%22", &token, &Value::Null), 400, Some("invalidFilter"));
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Users?filter=title%20eq%20%22x%22", &token, &Value::Null), 400, Some("invalidFilter"));
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Users/not-a-uuid", &token, &Value::Null), 404, None);
        assert_scim_error(&scim(&app, "GET", &format!("/scim/v2/Users/{}", uuid::Uuid::new_v4()), &token, &Value::Null), 404, None);
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Nothing", &token, &Value::Null), 404, None);
        assert_scim_error(&scim(&app, "POST", "/scim/v2/Schemas", &token, &json!({})), 405, None);
        let lisi = scim(&app, "GET", "/scim/v2/Users?filter=userName%20eq%20%22lisi%22", &token, &Value::Null).json()["Resources"][0]["id"].clone();
        let path = format!("/scim/v2/Users/{}", lisi.as_str().unwrap());
        assert_scim_error(&scim(&app, "PATCH", &path, &token, &json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "userName"}]})), 400, Some("invalidValue"));
        assert_scim_error(&scim(&app, "PATCH", &path, &token, &json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "groups", "value": []}]})), 400, Some("mutability"));
        assert_scim_error(&scim(&app, "PATCH", &path, &token, &json!({"Operations": []})), 400, Some("invalidSyntax"));
        // The last active admin stays, whoever asks (here a client an admin handed it to).
        let own = app.client.get("/api/v1/me", Some(&admin)).json()["id"].clone();
        let reply = app.client.post(&format!("/api/v1/scim-clients/{client_id}/hand-over"), Some(&admin), &json!({"user_ids": [own]}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let admin_id = scim(&app, "GET", "/scim/v2/Users?filter=userName%20eq%20%22admin%22", &token, &Value::Null).json()["Resources"][0]["id"].clone();
        let last = scim(&app, "DELETE", &format!("/scim/v2/Users/{}", admin_id.as_str().unwrap()), &token, &Value::Null);
        assert_scim_error(&last, 409, None);
        assert_eq!(app.client.get("/api/v1/me", Some(&admin)).status, 200);
        // Pages: startIndex counts from 1, totalResults counts them all.
        for n in 0..4 {
            assert_eq!(create(json!({"userName": format!("page{n}")})).status, 201);
        }
        let page = scim(&app, "GET", "/scim/v2/Users?startIndex=2&count=2", &token, &Value::Null).json();
        assert_eq!((page["totalResults"].clone(), page["startIndex"].clone(), page["itemsPerPage"].clone()), (json!(6), json!(2), json!(2)));
        assert_eq!(page["Resources"][0]["userName"], "lisi");
    }
}
