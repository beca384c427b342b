//! Login, tokens, refresh rotation, logout and brute-force protection.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use dangan_tests::{both_stores, TestApp, ADMIN_PASSWORD, PASSWORD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use time::Duration;

fn login_reply(app: &TestApp, username: &str, password: &str) -> dangan_tests::Reply {
    app.client.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": username, "password": password}),
    )
}

fn tokens(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let reply = login_reply(app, username, password);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn refresh(app: &TestApp, refresh_token: &str) -> dangan_tests::Reply {
    app.client.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token}),
    )
}

/// A token with the app's shape, signed with `secret`, with `claims` changed as given.
fn forged(secret: &[u8], alg: Algorithm, changes: serde_json::Value) -> String {
    let now = dangan_tests::TEST_START.unix_timestamp();
    let mut claims = json!({
        "iss": "dangan", "aud": "dangan-api", "sub": uuid::Uuid::new_v4(), "sid": uuid::Uuid::new_v4(),
        "iat": now, "exp": now + 600, "jti": uuid::Uuid::new_v4(), "typ": "access"
    });
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn assert_unauthorized(reply: &dangan_tests::Reply) {
    reply.assert_problem(401, "unauthorized");
    assert!(reply
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
}

both_stores! {
    fn login_answers_the_same_for_unknown_user_and_wrong_password(store) {
        let app = TestApp::start(store);
        let reply = login_reply(&app, "admin", ADMIN_PASSWORD);
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert!(body["refresh_token"].as_str().unwrap().starts_with("drt_"));

        let wrong = login_reply(&app, "admin", "not-the-password");
        let unknown = login_reply(&app, "nobody-here", "not-the-password");
        let wrong_problem = wrong.assert_problem(401, "invalid_credentials");
        let unknown_problem = unknown.assert_problem(401, "invalid_credentials");
        assert_eq!(wrong_problem, unknown_problem);
    }

    fn a_disabled_account_cannot_log_in_and_its_tokens_stop_at_once(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "HR");
        let user = app.user(&admin, "zhangsan", &department, &[], "internal");
        let (access, refresh_token) = tokens(&app, "zhangsan", PASSWORD);
        assert_eq!(app.client.get("/api/v1/me", Some(&access)).status, 200);

        let id = user["id"].as_str().unwrap();
        let reply = app.client.post(&format!("/api/v1/users/{id}/deactivate"), Some(&admin), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);

        assert_unauthorized(&app.client.get("/api/v1/me", Some(&access)));
        assert_unauthorized(&refresh(&app, &refresh_token));
        login_reply(&app, "zhangsan", PASSWORD).assert_problem(403, "account_disabled");
        login_reply(&app, "zhangsan", "wrong-password").assert_problem(401, "invalid_credentials");
    }

    fn refresh_rotates_and_reuse_revokes_the_whole_login(store) {
        let app = TestApp::start(store);
        let (access, first) = tokens(&app, "admin", ADMIN_PASSWORD);
        let reply = refresh(&app, &first);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let second = reply.json()["refresh_token"].as_str().unwrap().to_owned();
        let second_access = reply.json()["access_token"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        assert_eq!(app.client.get("/api/v1/me", Some(&second_access)).status, 200);

        // The spent token comes back: someone holds a copy.
        assert_unauthorized(&refresh(&app, &first));
        assert_unauthorized(&refresh(&app, &second));
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&access)));
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&second_access)));

        // Another login of the same user is untouched.
        let (other, _) = tokens(&app, "admin", ADMIN_PASSWORD);
        let events = app.client.get("/api/v1/audit-events?action=auth.refresh_reused", Some(&other)).json();
        assert_eq!(events["items"].as_array().unwrap().len(), 1);
    }

    fn logout_ends_the_login(store) {
        let app = TestApp::start(store);
        let (access, refresh_token) = tokens(&app, "admin", ADMIN_PASSWORD);
        let reply = app.client.post("/api/v1/auth/logout", Some(&access), &json!({"refresh_token": refresh_token}));
        assert_eq!(reply.status, 204);
        assert_unauthorized(&refresh(&app, &refresh_token));
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&access)));
    }

    fn expired_forged_and_misaddressed_tokens_are_refused(store) {
        let app = TestApp::start(store);
        let (access, refresh_token) = tokens(&app, "admin", ADMIN_PASSWORD);
        assert_eq!(app.client.get("/api/v1/me", Some(&access)).status, 200);

        assert_unauthorized(&app.client.get("/api/v1/me", None));
        assert_unauthorized(&app.client.get("/api/v1/me", Some("not-a-jwt")));
        assert_unauthorized(&app.client.get_with("/api/v1/me", &[("Authorization", &format!("Basic {access}"))]));
        // Another key.
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&forged(b"some other key", Algorithm::HS256, json!({})))));
        // `alg: none`, with the claims of a real token.
        let payload = access.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.{payload}.");
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&none)));
        // A refresh token is no access token, nor the other way round.
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&refresh_token)));
        assert_unauthorized(&refresh(&app, &access));

        // Expired: the app's clock moves past the 15 minutes.
        app.clock.advance(Duration::minutes(16));
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&access)));
    }

    fn tokens_with_the_right_key_but_wrong_audience_or_type_are_refused(store) {
        let app = TestApp::start_with(store, |_| {});
        // The signing key lives in the store; read it as an attacker with the key would have it.
        let secret = {
            let pool = dangan_persistence::db::connect(&app.store.url, 1).unwrap();
            let mut conn = pool.get().unwrap();
            dangan_persistence::store::settings::get_or_insert(&mut conn, "jwt_secret", "unused").unwrap()
        };
        let (access, _) = tokens(&app, "admin", ADMIN_PASSWORD);
        let claims: serde_json::Value = {
            let payload = access.split('.').nth(1).unwrap();
            let bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        let same = json!({"sub": claims["sub"], "sid": claims["sid"]});
        let good = forged(secret.as_bytes(), Algorithm::HS256, same.clone());
        assert_eq!(app.client.get("/api/v1/me", Some(&good)).status, 200, "control: a correct forgery passes");

        let mut wrong_aud = same.clone();
        wrong_aud["aud"] = json!("another-api");
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&forged(secret.as_bytes(), Algorithm::HS256, wrong_aud))));
        let mut wrong_iss = same.clone();
        wrong_iss["iss"] = json!("someone-else");
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&forged(secret.as_bytes(), Algorithm::HS256, wrong_iss))));
        let mut wrong_typ = same.clone();
        wrong_typ["typ"] = json!("refresh");
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&forged(secret.as_bytes(), Algorithm::HS256, wrong_typ))));
        assert_unauthorized(&app.client.get("/api/v1/me", Some(&forged(secret.as_bytes(), Algorithm::HS384, same))));
    }

    fn repeated_failures_lock_the_account_for_a_growing_but_bounded_time(store) {
        let app = TestApp::start(store);
        for _ in 0..5 {
            login_reply(&app, "admin", "wrong-password").assert_problem(401, "invalid_credentials");
        }
        // Locked: even the right password waits.
        let locked = login_reply(&app, "admin", ADMIN_PASSWORD);
        locked.assert_problem(429, "rate_limited");
        let retry: i64 = locked.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=61).contains(&retry), "Retry-After {retry}");
        // Unknown names are throttled alike, so a 429 tells nothing about which names exist.
        for _ in 0..5 {
            login_reply(&app, "ghost", "wrong-password");
        }
        login_reply(&app, "ghost", "wrong-password").assert_problem(429, "rate_limited");

        app.clock.advance(Duration::seconds(61));
        for _ in 0..5 {
            login_reply(&app, "admin", "wrong-password");
        }
        let second = login_reply(&app, "admin", ADMIN_PASSWORD);
        second.assert_problem(429, "rate_limited");
        let retry: i64 = second.header("retry-after").unwrap().parse().unwrap();
        assert!(retry > 61, "the second lock-out is longer: {retry}");

        // Never forever: past the cap the admin gets in.
        app.clock.advance(Duration::minutes(31));
        let admin = app.admin_token();
        let events = app.client.get("/api/v1/audit-events?action=auth.locked_out", Some(&admin)).json();
        assert_eq!(events["items"].as_array().unwrap().len(), 3, "each lock-out is audited");
        let failed = app.client.get("/api/v1/audit-events?action=auth.login_failed&limit=500", Some(&admin)).json();
        assert_eq!(failed["items"].as_array().unwrap().len(), 15, "refused (429) attempts are not failures");
    }

    fn one_address_is_limited_on_failures_only(store) {
        let app = TestApp::start_with(store, |state| state.throttle.max_address_failures = 10);
        let admin = app.admin_token();
        let department = app.department(&admin, "OPS");
        // A whole office behind one address logging in correctly is never throttled.
        for i in 0..12 {
            app.user(&admin, &format!("clerk{i}"), &department, &[], "internal");
        }
        for i in 0..12 {
            app.login(&format!("clerk{i}"), PASSWORD);
        }
        // Failures spread over many names still add up for the address.
        for i in 0..10 {
            login_reply(&app, &format!("guess{i}"), "wrong-password").assert_problem(401, "invalid_credentials");
        }
        let limited = login_reply(&app, "clerk0", PASSWORD);
        limited.assert_problem(429, "rate_limited");
        assert!(limited.header("retry-after").is_some());
        app.clock.advance(Duration::minutes(16));
        app.login("clerk0", PASSWORD);
    }
}
