//! Sign-in with OpenID Connect against a real provider (`oidc-provider-mock`, PyPI): the
//! browser-less code flow, the token exchange of an app's ID token, and each way a sign-in is
//! refused — a code carried to another login (nonce), an expired token, another issuer, another
//! audience, a rotated signing key, an unlisted redirect URI, an unknown or disabled user.

use dangan_api::config::{Config, OidcConfig, Secret};
use dangan_tests::{
    archive_body, both_stores, config_for,
    oidc::{query_value, OidcProvider},
    Reply, TestApp, TestStore, ADMIN_PASSWORD, PASSWORD,
};
use serde_json::{json, Value};

pub(crate) const CLIENT_ID: &str = "dangan";
pub(crate) const CLIENT_SECRET: &str = "dangan-client-secret";
pub(crate) const FRONT: &str = "http://front.example/signed-in";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

pub(crate) fn oidc_config(provider: &OidcProvider) -> OidcConfig {
    OidcConfig {
        oidc_issuer: Some(provider.issuer.clone()),
        oidc_name: "staff".into(),
        oidc_client_id: Some(CLIENT_ID.into()),
        oidc_client_secret: Some(Secret::from(CLIENT_SECRET)),
        oidc_redirect_uris: vec![FRONT.into()],
        ..OidcConfig::default()
    }
}

/// An app whose sign-ins make their callback URL from the request: the tests' client is a
/// trusted proxy (loopback), as a reverse proxy in front of Dangan would be.
pub(crate) fn start(store: TestStore, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = config_for(&store);
    config.trusted_proxies = vec!["127.0.0.1/32".into()];
    adjust(&mut config);
    TestApp::start_configured(store, config, |_| {})
}

pub(crate) fn form(app: &TestApp, body: &str) -> Reply {
    app.client.raw(
        "POST",
        "/api/v1/auth/oidc/token",
        &[(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body.as_bytes(),
    )
}

pub(crate) fn exchange(app: &TestApp, id_token: &str) -> Reply {
    form(
        app,
        &format!("grant_type={EXCHANGE}&subject_token={id_token}&subject_token_type={ID_TOKEN}"),
    )
}

/// Starts a sign-in and signs `sub` in at the provider: where the provider sends the browser.
pub(crate) fn at_provider(
    app: &TestApp,
    provider: &OidcProvider,
    sub: &str,
    state: &str,
) -> String {
    at_provider_asking(app, provider, sub, &format!("state={state}"))
}

/// `at_provider` with more of the login's query.
pub(crate) fn at_provider_asking(
    app: &TestApp,
    provider: &OidcProvider,
    sub: &str,
    query: &str,
) -> String {
    let reply = app.client.get(
        &format!("/api/v1/auth/oidc/login?redirect_uri={FRONT}&{query}"),
        None,
    );
    assert_eq!(reply.status, 302, "{}", reply.body);
    let authorize = reply.header("location").unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", provider.issuer)),
        "{authorize}"
    );
    let asked = query.split('&').filter(|p| p.starts_with("prompt="));
    for part in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "client_id=dangan",
    ]
    .into_iter()
    .chain(asked)
    {
        assert!(authorize.contains(part), "{part} missing from {authorize}");
    }
    provider.authorize(&authorize, sub)
}

/// Follows the provider's redirect to Dangan's callback: where Dangan sends the browser.
pub(crate) fn callback(app: &TestApp, to_dangan: &str) -> String {
    let path = to_dangan
        .strip_prefix(&app.client.base)
        .unwrap_or_else(|| panic!("{to_dangan} is not Dangan's callback"));
    let reply = app.client.get(path, None);
    assert_eq!(reply.status, 302, "{}", reply.body);
    reply.header("location").unwrap().to_owned()
}

pub(crate) fn me(app: &TestApp, access_token: &str) -> Value {
    let reply = app.client.get("/api/v1/me", Some(access_token));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

pub(crate) fn audit_of(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let reply = app.client.get(
        &format!("/api/v1/audit-events?action={action}"),
        Some(admin),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["items"].as_array().unwrap().clone()
}

/// How far the test clock must move to be past every token the provider issued just now
/// (they live an hour, on the real clock).
fn past_real_tokens() -> time::Duration {
    time::OffsetDateTime::now_utc() - dangan_tests::TEST_START + time::Duration::hours(2)
}

both_stores! {
    fn password_sign_in_can_be_turned_off(store) {
        let app = start(store, |c| c.password_login = false);
        app.client
            .post("/api/v1/auth/login", None, &json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .assert_problem(403, "password_login_disabled");
        app.client
            .post("/api/v1/auth/login", None, &json!({"username": "nobody", "password": "wrong"}))
            .assert_problem(403, "password_login_disabled");
    }

    fn the_code_flow_signs_a_newcomer_in_as_public_and_audits_provider_and_subject(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let app = start(store, |c| c.oidc = oidc_config(&provider));
        provider.set_user("u-1001", &json!({
            "preferred_username": "alice", "name": "Alice 李", "email": "alice@example.cn",
            "roles": ["archivist", "admin"], "clearance": "top_secret"
        }));

        let to_dangan = at_provider(&app, &provider, "u-1001", "front-state-1");
        assert!(to_dangan.starts_with(&format!("{}/api/v1/auth/oidc/callback?", app.client.base)), "{to_dangan}");
        let to_front = callback(&app, &to_dangan);
        assert!(to_front.starts_with(&format!("{FRONT}?")), "{to_front}");
        assert_eq!(query_value(&to_front, "state").as_deref(), Some("front-state-1"));
        assert!(query_value(&to_front, "error").is_none(), "{to_front}");
        assert!(!to_front.contains('#'), "nothing in a fragment: {to_front}");
        let code = query_value(&to_front, "code").unwrap();
        assert!(!to_front.contains("access_token") && !to_front.contains("eyJ"), "{to_front}");

        let reply = form(&app, &format!("grant_type=authorization_code&code={code}"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let tokens = reply.json();
        let access = tokens["access_token"].as_str().unwrap();
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("drt_"));
        assert!(tokens.get("issued_token_type").is_none());
        let alice = me(&app, access);
        assert_eq!(alice["username"], "alice");
        assert_eq!(alice["display_name"], "Alice 李");
        assert_eq!(alice["email"], "alice@example.cn");
        // Claims raise nothing unless the administrator maps them.
        assert_eq!(alice["clearance"], "public");
        assert_eq!(alice["roles"], json!([]));

        // The code is spent; the provider's answer cannot be replayed either.
        form(&app, &format!("grant_type=authorization_code&code={code}")).assert_problem(400, "invalid_grant");
        let replay = to_dangan.strip_prefix(&app.client.base).unwrap();
        app.client.get(replay, None).assert_problem(400, "invalid_grant");
        // A user made at sign-in has no password to log in with.
        let password = app.client.post("/api/v1/auth/login", None, &json!({"username": "alice", "password": "!"}));
        password.assert_problem(401, "invalid_credentials");

        // The same subject is the same user, whatever its username says now.
        provider.set_user("u-1001", &json!({"preferred_username": "alice.li"}));
        let again = callback(&app, &at_provider(&app, &provider, "u-1001", "front-state-2"));
        let code = query_value(&again, "code").unwrap();
        let reply = form(&app, &format!("grant_type=authorization_code&code={code}"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let same = me(&app, reply.json()["access_token"].as_str().unwrap());
        assert_eq!(same["id"], alice["id"]);
        assert_eq!(same["username"], "alice");

        // Alice borrows a public file; with no password, she signs the receipt by signing in
        // at the provider again (`prompt=login`) and sending the code that comes back.
        let admin = app.admin_token();
        let department = app.department(&admin, "ARC");
        app.user(&admin, "keeper", &department, &["archivist"], "top_secret");
        let keeper = app.login("keeper", PASSWORD);
        let archive = app.archive(&admin, &archive_body("PUB-1", "public"));
        let request = app.client.post("/api/v1/loan-requests", Some(access), &json!({
            "archive_ids": [archive["id"]], "purpose": "查档 / research", "loan_type": "take_out", "days": 7
        }));
        assert_eq!(request.status, 201, "{}", request.body);
        let request_id = request.json()["id"].as_str().unwrap().to_owned();
        let approved = app.client.post(&format!("/api/v1/loan-requests/{request_id}/approve"), Some(&keeper), &json!({"comment": "同意"}));
        assert_eq!(approved.json()["status"], "approved", "{}", approved.body);
        let loan = app.client.post("/api/v1/checkouts", Some(&keeper), &json!({"request_id": request_id, "barcode": "BC-PUB-1"}));
        assert_eq!(loan.status, 201, "{}", loan.body);
        let sign = format!("/api/v1/loans/{}/sign", loan.json()["id"].as_str().unwrap());
        app.client.post(&sign, Some(access), &json!({"password": "!"})).assert_problem(403, "invalid_password");
        app.client.post(&sign, Some(access), &json!({})).assert_problem(422, "validation_failed");
        // The code of a sign-in already traded for tokens proves nothing more.
        app.client.post(&sign, Some(access), &json!({"sso_code": code})).assert_problem(403, "invalid_sso_code");
        let fresh = callback(&app, &at_provider_asking(&app, &provider, "u-1001", "prompt=login&state=sign"));
        let fresh_code = query_value(&fresh, "code").unwrap();
        // Not to the archivist (a code is its own user's) — and spent by trying.
        let stolen = app.client.post(&sign, Some(&keeper), &json!({"sso_code": fresh_code}));
        assert_eq!(stolen.status, 403, "{}", stolen.body);
        let fresh = callback(&app, &at_provider_asking(&app, &provider, "u-1001", "prompt=login&state=sign"));
        let fresh_code = query_value(&fresh, "code").unwrap();
        app.client.post(&sign, Some(access), &json!({"password": "x", "sso_code": fresh_code})).assert_problem(422, "validation_failed");
        let signed = app.client.post(&sign, Some(access), &json!({"sso_code": fresh_code}));
        assert_eq!(signed.status, 200, "{}", signed.body);
        assert_eq!(signed.json()["signature"]["method"], "oidc");
        assert_eq!(signed.json()["status"], "active");
        form(&app, &format!("grant_type=authorization_code&code={fresh_code}")).assert_problem(400, "invalid_grant");
        let proved = audit_of(&app, &admin, "auth.reauthenticated");
        assert_eq!(proved.len(), 1, "{proved:?}");
        assert_eq!(proved[0]["actor_id"], alice["id"]);
        assert_eq!(proved[0]["data"]["via"]["oidc"]["subject"], "u-1001");

        let provisioned = audit_of(&app, &admin, "user.provisioned");
        assert_eq!(provisioned.len(), 1, "{provisioned:?}");
        assert_eq!(provisioned[0]["entity_id"], alice["id"]);
        assert_eq!(provisioned[0]["data"]["via"]["oidc"], json!({
            "provider": "staff", "issuer": provider.issuer, "subject": "u-1001"
        }));
        assert_eq!(provisioned[0]["data"]["roles_refused"], json!([]), "no roles claim is mapped");
        let logins: Vec<Value> = audit_of(&app, &admin, "auth.login")
            .into_iter()
            .filter(|e| e["entity_id"] == alice["id"])
            .collect();
        assert_eq!(logins.len(), 2);
        for login in &logins {
            assert_eq!(login["actor_id"], alice["id"]);
            assert_eq!(login["data"]["via"]["oidc"]["subject"], "u-1001");
            assert_eq!(login["data"]["via"]["oidc"]["issuer"], provider.issuer.as_str());
        }
    }

    fn an_unlisted_redirect_uri_or_provider_and_a_code_carried_to_another_login_are_refused(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let app = start(store, |c| c.oidc = oidc_config(&provider));

        let evil = app.client.get("/api/v1/auth/oidc/login?redirect_uri=https://evil.example/steal", None);
        let problem = evil.assert_problem(400, "redirect_uri_not_allowed");
        assert!(problem["detail"].as_str().unwrap().contains("https://evil.example/steal"));
        assert!(evil.header("location").is_none());
        // Near misses are no match: the allow-list is exact.
        app.client
            .get(&format!("/api/v1/auth/oidc/login?redirect_uri={FRONT}/../x"), None)
            .assert_problem(400, "redirect_uri_not_allowed");
        app.client
            .get(&format!("/api/v1/auth/oidc/login?provider=parent&redirect_uri={FRONT}"), None)
            .assert_problem(404, "not_found");
        app.client.get("/api/v1/auth/oidc/callback?state=made-up&code=x", None).assert_problem(400, "invalid_grant");

        // The provider's code for login A, brought back with login B's state (a code injected
        // into someone else's sign-in): the ID token carries A's nonce, not B's.
        provider.set_user("u-2002", &json!({"preferred_username": "mallory"}));
        let for_a = at_provider(&app, &provider, "u-2002", "a");
        let for_b = at_provider(&app, &provider, "u-2002", "b");
        let code_a = query_value(&for_a, "code").unwrap();
        let state_b = query_value(&for_b, "state").unwrap();
        let injected = format!("{}/api/v1/auth/oidc/callback?code={code_a}&state={state_b}", app.client.base);
        let to_front = callback(&app, &injected);
        assert_eq!(query_value(&to_front, "error").as_deref(), Some("id_token_rejected"), "{to_front}");
        let description = query_value(&to_front, "error_description").unwrap();
        assert!(description.contains("nonce"), "{description}");
        assert!(query_value(&to_front, "code").is_none());
        assert_eq!(query_value(&to_front, "state").as_deref(), Some("b"));

        // A provider that says no sends the browser back with its error.
        let for_c = at_provider(&app, &provider, "u-2002", "c");
        let state_c = query_value(&for_c, "state").unwrap();
        let denied = callback(&app, &format!(
            "{}/api/v1/auth/oidc/callback?error=access_denied&error_description=no&state={state_c}",
            app.client.base
        ));
        assert_eq!(query_value(&denied, "error").as_deref(), Some("access_denied"));
        assert_eq!(query_value(&denied, "state").as_deref(), Some("c"));

        let admin = app.admin_token();
        assert!(audit_of(&app, &admin, "user.provisioned").is_empty(), "nobody was signed in");
    }

    fn an_apps_id_token_is_exchanged_unless_expired_foreign_or_signed_with_a_retired_key(store) {
        let Some(mut provider) = OidcProvider::start() else { return };
        let Some(stranger) = OidcProvider::start() else { return };
        let app = start(store, |c| c.oidc = oidc_config(&provider));
        provider.set_user("u-3003", &json!({"preferred_username": "bob"}));
        stranger.set_user("u-3003", &json!({"preferred_username": "bob"}));

        let id_token = provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-3003");
        let reply = exchange(&app, &id_token);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
        let bob = me(&app, reply.json()["access_token"].as_str().unwrap());
        assert_eq!(bob["username"], "bob");

        // The same subject at another issuer is nobody Dangan trusts.
        let foreign = exchange(&app, &stranger.id_token(CLIENT_ID, CLIENT_SECRET, "u-3003"));
        let problem = foreign.assert_problem(401, "id_token_rejected");
        assert!(problem["detail"].as_str().unwrap().contains("not a configured provider"), "{problem}");
        // A token the provider issued to another application.
        let other_app = exchange(&app, &provider.id_token("another-app", "x", "u-3003"));
        let problem = other_app.assert_problem(401, "id_token_rejected");
        assert!(problem["detail"].as_str().unwrap().contains("not meant for Dangan"), "{problem}");
        // A forged signature: bob's token with its payload swapped for mallory's.
        let parts: Vec<&str> = id_token.split('.').collect();
        let forged_payload = {
            use base64::Engine;
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
            claims["sub"] = json!("u-admin");
            engine.encode(claims.to_string())
        };
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        exchange(&app, &forged).assert_problem(401, "id_token_rejected");
        exchange(&app, "not-a-jwt").assert_problem(401, "id_token_rejected");
        form(&app, &format!("grant_type={EXCHANGE}&subject_token={id_token}&subject_token_type=urn:ietf:params:oauth:token-type:access_token"))
            .assert_problem(400, "invalid_grant");
        form(&app, "grant_type=password&username=admin&password=x").assert_problem(400, "unsupported_grant_type");
        let json_body = app.client.post("/api/v1/auth/oidc/token", None, &json!({"grant_type": "authorization_code"}));
        json_body.assert_problem(415, "unsupported_media_type");

        // The provider rotates its signing key (a restart makes a new one). A token signed with
        // the new key is accepted: Dangan fetches the keys again when a token names one it lacks.
        provider.restart();
        let rotated = provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-3003");
        app.clock.advance(time::Duration::seconds(11));
        let reply = exchange(&app, &rotated);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(me(&app, reply.json()["access_token"].as_str().unwrap())["id"], bob["id"]);
        // One signed with the retired key no longer is.
        let retired = exchange(&app, &id_token);
        let problem = retired.assert_problem(401, "id_token_rejected");
        assert!(problem["detail"].as_str().unwrap().contains("key"), "{problem}");

        // Past its expiry, a token is refused.
        app.clock.advance(past_real_tokens());
        let expired = exchange(&app, &rotated);
        let problem = expired.assert_problem(401, "id_token_rejected");
        assert_eq!(problem["detail"], "the ID token has expired");
    }

    fn the_administrators_rules_decide_who_is_created_and_with_what(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let Some(parent) = OidcProvider::start() else { return };
        let dir = std::env::temp_dir().join(format!("dangan-oidc-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("providers.yaml");
        std::fs::write(&file, format!(
            "providers:\n  - name: parent\n    issuer: {}\n    client_id: {CLIENT_ID}\n    client_secret: {CLIENT_SECRET}\n    redirect_uris: [\"{FRONT}\"]\n    create_users: false\n",
            parent.issuer
        )).unwrap();
        let app = start(store, |c| {
            c.oidc = OidcConfig {
                oidc_providers: Some(file.clone()),
                oidc_department_claim: Some("department".into()),
                oidc_roles_claim: Some("roles".into()),
                oidc_clearance_claim: Some("clearance".into()),
                ..oidc_config(&provider)
            };
        });
        let admin = app.admin_token();
        // The first provider maps roles (never admin), department and clearance, as configured.
        let hr = app.department(&admin, "HR");
        provider.set_user("u-4004", &json!({
            "preferred_username": "carol", "department": "HR",
            "roles": ["archivist", "admin", "janitor"], "clearance": "secret"
        }));
        // Her first sign-in, from eight tabs at once: one user, every tab signed in.
        let id_tokens: Vec<String> = (0..8).map(|_| provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-4004")).collect();
        let replies: Vec<Reply> = std::thread::scope(|scope| {
            let tabs: Vec<_> = id_tokens.iter().map(|id_token| scope.spawn(|| exchange(&app, id_token))).collect();
            tabs.into_iter().map(|tab| tab.join().unwrap()).collect()
        });
        for reply in &replies {
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        let reply = replies.into_iter().next().unwrap();
        let carol = me(&app, reply.json()["access_token"].as_str().unwrap());
        assert_eq!(carol["roles"], json!(["archivist"]));
        assert_eq!(carol["clearance"], "secret");
        assert_eq!(carol["department_id"].as_str(), Some(hr.as_str()));
        let provisioned = audit_of(&app, &admin, "user.provisioned");
        assert_eq!(provisioned.len(), 1, "{provisioned:?}");
        assert_eq!(provisioned[0]["data"]["roles_refused"], json!(["admin", "janitor"]));

        // A username a local user has is not taken over.
        provider.set_user("u-4005", &json!({"preferred_username": "admin"}));
        exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-4005")).assert_problem(409, "duplicate_username");
        // Claims that make no username.
        provider.set_user("u-4006", &json!({"name": "No Name"}));
        exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-4006")).assert_problem(422, "validation_failed");

        // The second provider (from the file) may not create users: someone new is refused, and
        // the browser flow says so to the front end.
        parent.set_user("p-1", &json!({"preferred_username": "dave"}));
        exchange(&app, &parent.id_token(CLIENT_ID, CLIENT_SECRET, "p-1")).assert_problem(403, "not_provisioned");
        let login = app.client.get(&format!("/api/v1/auth/oidc/login?provider=parent&redirect_uri={FRONT}"), None);
        assert_eq!(login.status, 302, "{}", login.body);
        let authorize = login.header("location").unwrap().to_owned();
        assert!(authorize.starts_with(&parent.issuer), "{authorize}");
        let to_front = callback(&app, &parent.authorize(&authorize, "p-1"));
        assert_eq!(query_value(&to_front, "error").as_deref(), Some("not_provisioned"), "{to_front}");
        let refused = audit_of(&app, &admin, "auth.sso_refused");
        assert!(refused.iter().any(|e| e["data"]["reason"] == "not_provisioned"
            && e["data"]["via"]["oidc"]["provider"] == "parent"), "{refused:?}");

        // An admin turns off carol's Dangan password (she has none; it would be the same for
        // one who had): refused for a user no provider has signed in, who would have no way in.
        let carol_id = carol["id"].as_str().unwrap();
        let carol_token = reply.json()["access_token"].as_str().unwrap().to_owned();
        app.client.send_json("DELETE", &format!("/api/v1/users/{carol_id}/password"), &carol_token, None, &json!({}))
            .assert_problem(403, "forbidden");
        let admin_id = me(&app, &admin)["id"].as_str().unwrap().to_owned();
        app.client.send_json("DELETE", &format!("/api/v1/users/{admin_id}/password"), &admin, None, &json!({}))
            .assert_problem(409, "no_other_sign_in");
        // The admin sees how each can sign in.
        let methods = app.client.get(&format!("/api/v1/users/{carol_id}/sign-in"), Some(&admin));
        assert_eq!(methods.status, 200, "{}", methods.body);
        assert_eq!(methods.json()["password"], false);
        assert_eq!(methods.json()["identities"][0]["provider"], "staff");
        assert_eq!(methods.json()["identities"][0]["subject"], "u-4004");
        assert_eq!(methods.json()["identities"][0]["issuer"], provider.issuer.as_str());
        let own = app.client.get(&format!("/api/v1/users/{admin_id}/sign-in"), Some(&admin)).json();
        assert_eq!(own, json!({"password": true, "identities": [], "links": []}));
        app.client.get(&format!("/api/v1/users/{carol_id}/sign-in"), Some(&carol_token)).assert_problem(403, "forbidden");
        let removed = app.client.send_json("DELETE", &format!("/api/v1/users/{carol_id}/password"), &admin, None, &json!({}));
        assert_eq!(removed.status, 204, "{}", removed.body);
        app.client.get("/api/v1/me", Some(&carol_token)).assert_problem(401, "unauthorized");
        let event = &audit_of(&app, &admin, "user.password_removed")[0];
        assert_eq!(event["entity_id"], carol_id);
        assert_eq!(event["data"]["providers"], json!(["staff"]));

        // Deactivated in Dangan, carol cannot sign in with the provider either.
        let reply = app.client.post(&format!("/api/v1/users/{}/deactivate", carol["id"].as_str().unwrap()), Some(&admin), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-4004")).assert_problem(403, "account_disabled");
        let to_front = callback(&app, &at_provider(&app, &provider, "u-4004", "s"));
        assert_eq!(query_value(&to_front, "error").as_deref(), Some("account_disabled"), "{to_front}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
