//! The trust boundaries of sign-in and provisioning (issue 26), attacked as the review found
//! them open, each test under the OWASP API Security Top 10 (2023) category it belongs to:
//! API1 (a SCIM token reading or writing accounts it did not provision), API2 (a provider
//! account becoming a Dangan user it is not; a re-authentication or a token exchange replayed),
//! API3 (provisioning writing properties Dangan keeps for its admins: names, status), API4
//! (unauthenticated sign-ins filling a table), API8 (a callback URL taken from any peer's
//! headers; the identity providers' documented requests, verbatim).

use dangan_api::config::OidcConfig;
use dangan_persistence::cases::identities::PendingLimits;
use dangan_tests::{
    archive_body, both_stores, config_for, oidc::query_value, oidc::OidcProvider, TestApp, PASSWORD,
};
use serde_json::{json, Value};

use crate::{
    oidc::{
        at_provider_asking, audit_of, callback, exchange, form, me, oidc_config, start, CLIENT_ID,
        CLIENT_SECRET, FRONT,
    },
    provisioning::{assert_scim_error, scim, scim_token, PATCH},
};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A user created through SCIM with `token`: its id.
fn provisioned(app: &TestApp, token: &str, body: Value) -> String {
    let reply = scim(app, "POST", "/scim/v2/Users", token, &body);
    assert_eq!(reply.status, 201, "{}", reply.body);
    id_of(&reply.json())
}

fn hand_over(app: &TestApp, admin: &str, client_id: &str, user_ids: &[&str]) {
    let reply = app.client.post(
        &format!("/api/v1/scim-clients/{client_id}/hand-over"),
        Some(admin),
        &json!({ "user_ids": user_ids }),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// `PATCH /scim/v2/Users/{id}` with one replace of `value`.
fn replace(app: &TestApp, token: &str, id: &str, value: Value) -> dangan_tests::Reply {
    scim(
        app,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        token,
        &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": value}]}),
    )
}

/// Starts a sign-in with `headers`: the answer.
fn begin_sign_in(
    client: &dangan_tests::Client,
    query: &str,
    headers: &[(&str, &str)],
) -> dangan_tests::Reply {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    client.raw(
        "GET",
        &format!("/api/v1/auth/oidc/login?redirect_uri={FRONT}{query}"),
        &headers,
        b"",
    )
}

/// The `redirect_uri` a sign-in sends the provider: Dangan's callback as it believes it is.
fn callback_sent(reply: &dangan_tests::Reply) -> String {
    assert_eq!(reply.status, 302, "{}", reply.body);
    query_value(reply.header("location").unwrap(), "redirect_uri").unwrap()
}

/// How many fetches of `what` from provider `staff` ended with `outcome`, as `/metrics` says.
fn fetches(app: &TestApp, what: &str, outcome: &str) -> u64 {
    let metrics = app.client.get("/metrics", Some(&app.admin_token()));
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    let labels = [
        "provider=\"staff\"".to_owned(),
        format!("what=\"{what}\""),
        format!("outcome=\"{outcome}\""),
    ];
    metrics
        .body
        .lines()
        .find(|l| {
            l.starts_with("dangan_oidc_provider_fetches_total{")
                && labels.iter().all(|label| l.contains(label.as_str()))
        })
        .map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

both_stores! {
    // API4: a burst of tokens naming a key Dangan lacks (the provider rotated its keys) makes
    // one request to the provider, for its key set alone; a provider that is down is asked once
    // per back-off, not by every sign-in.
    fn api4_one_fetch_serves_a_burst_and_a_failing_provider_is_not_hammered(store) {
        let Some(mut provider) = OidcProvider::start() else { return };
        let app = start(store, |c| c.oidc = oidc_config(&provider));
        provider.set_user("u-9", &json!({"preferred_username": "carol"}));
        assert_eq!(exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-9")).status, 200);
        assert_eq!(fetches(&app, "discovery", "ok"), 1);
        provider.restart();
        provider.set_user("u-9", &json!({"preferred_username": "carol"}));
        let rotated: Vec<String> = (0..8).map(|_| provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-9")).collect();
        app.clock.advance(time::Duration::seconds(11));
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let calls: Vec<_> = rotated.iter().map(|t| scope.spawn(|| exchange(&app, t).status)).collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(statuses, vec![200; 8]);
        assert_eq!(fetches(&app, "keys", "ok"), 1, "one fetch of the key set for eight tokens");
        assert_eq!(fetches(&app, "discovery", "ok"), 1, "discovery is not fetched again");

        // Down, past the hour keys are kept: eight sign-ins, one attempt; then one per back-off.
        let waiting: Vec<String> = (0..8).map(|_| provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-9")).collect();
        provider.stop();
        app.clock.advance(time::Duration::hours(1));
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let calls: Vec<_> = waiting.iter().map(|t| scope.spawn(|| exchange(&app, t).status)).collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(statuses, vec![502; 8]);
        assert_eq!(fetches(&app, "discovery", "failed"), 1);
        let remembered = exchange(&app, &waiting[0]);
        remembered.assert_problem(502, "provider_unavailable");
        assert!(remembered.header("retry-after").is_some());
        assert_eq!(fetches(&app, "discovery", "failed"), 1);
        app.clock.advance(time::Duration::seconds(3));
        exchange(&app, &waiting[0]).assert_problem(502, "provider_unavailable");
        assert_eq!(fetches(&app, "discovery", "failed"), 2);
        // Back, after the (now doubled) back-off: sign-ins go through again.
        provider.restart();
        provider.set_user("u-9", &json!({"preferred_username": "carol"}));
        app.clock.advance(time::Duration::seconds(5));
        assert_eq!(exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-9")).status, 200);
    }

    // API2: a receipt is signed by a sign-in made for it: `prompt=login` with `max_age=0`, an
    // `auth_time` after the re-authentication began, and a code only such a sign-in gives. A
    // code of an ordinary sign-in, even unspent, proves nothing.
    fn api2_a_reauthentication_needs_a_fresh_sign_in_made_for_it(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let app = start(store, |c| c.oidc = oidc_config(&provider));
        let admin = app.admin_token();
        provider.set_user("u-7", &json!({"preferred_username": "alice"}));
        let first = callback(&app, &at_provider_asking(&app, &provider, "u-7", "state=a"));
        let code = query_value(&first, "code").unwrap();
        let reply = form(&app, &format!("grant_type=authorization_code&code={code}"));
        let alice = reply.json()["access_token"].as_str().unwrap().to_owned();
        let hr = app.department(&admin, "ARC");
        app.user(&admin, "keeper", &hr, &["archivist"], "secret");
        let keeper = app.login("keeper", PASSWORD);
        let archive = app.archive(&admin, &archive_body("RA-1", "public"));
        let request = app.client.post("/api/v1/loan-requests", Some(&alice), &json!({
            "archive_ids": [archive["id"]], "purpose": "查档", "loan_type": "take_out", "days": 7
        }));
        let request_id = request.json()["id"].as_str().unwrap().to_owned();
        app.client.post(&format!("/api/v1/loan-requests/{request_id}/approve"), Some(&keeper), &json!({}));
        let loan = app.client.post("/api/v1/checkouts", Some(&keeper), &json!({"request_id": request_id, "barcode": "BC-RA-1"}));
        assert_eq!(loan.status, 201, "{}", loan.body);
        let sign = format!("/api/v1/loans/{}/sign", loan.json()["id"].as_str().unwrap());

        // An ordinary sign-in's code, never traded: not a re-authentication.
        let ordinary = callback(&app, &at_provider_asking(&app, &provider, "u-7", "state=b"));
        let ordinary = query_value(&ordinary, "code").unwrap();
        app.client.post(&sign, Some(&alice), &json!({"sso_code": ordinary})).assert_problem(403, "invalid_sso_code");
        // A re-authentication asks the provider for a sign-in now (`max_age=0`).
        let login = begin_sign_in(&app.client, "&prompt=login&state=c", &[]);
        let authorize = login.header("location").unwrap().to_owned();
        assert!(authorize.contains("prompt=login") && authorize.contains("max_age=0"), "{authorize}");
        // A provider that answers with an older sign-in (its auth_time before this began:
        // here Dangan's clock is ten minutes past the provider's) is refused.
        app.clock.advance(time::OffsetDateTime::now_utc() - dangan_tests::TEST_START + time::Duration::minutes(10));
        let stale = callback(&app, &at_provider_asking(&app, &provider, "u-7", "prompt=login&state=d"));
        assert_eq!(query_value(&stale, "error").as_deref(), Some("id_token_rejected"), "{stale}");
        assert!(query_value(&stale, "error_description").unwrap().contains("auth_time"), "{stale}");
        app.clock.advance(time::Duration::minutes(-10));
        let fresh = callback(&app, &at_provider_asking(&app, &provider, "u-7", "prompt=login&state=e"));
        let fresh = query_value(&fresh, "code").unwrap_or_else(|| panic!("{fresh}"));
        // Alice's access token has expired on the clock that moved; she signs in again.
        let again = callback(&app, &at_provider_asking(&app, &provider, "u-7", "state=f"));
        let again = query_value(&again, "code").unwrap();
        let reply = form(&app, &format!("grant_type=authorization_code&code={again}"));
        let alice = reply.json()["access_token"].as_str().unwrap().to_owned();
        let signed = app.client.post(&sign, Some(&alice), &json!({"sso_code": fresh}));
        assert_eq!(signed.status, 200, "{}", signed.body);
        assert_eq!(signed.json()["signature"]["method"], "oidc");
    }

    // API2: an app's ID token is exchanged once: replayed, or sent eight times at once, it
    // opens one login.
    fn api2_an_apps_id_token_is_exchanged_once(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let app = start(store, |c| c.oidc = oidc_config(&provider));
        provider.set_user("u-8", &json!({"preferred_username": "bob"}));
        let id_token = provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-8");
        assert_eq!(exchange(&app, &id_token).status, 200);
        let replayed = exchange(&app, &id_token).assert_problem(400, "invalid_grant");
        assert!(replayed["detail"].as_str().unwrap().contains("exchanged already"), "{replayed}");
        let another = provider.id_token(CLIENT_ID, CLIENT_SECRET, "u-8");
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let calls: Vec<_> = (0..8).map(|_| scope.spawn(|| exchange(&app, &another).status)).collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 7, "{statuses:?}");
    }

    // API8: Dangan's callback URL comes from its configuration, or from the forwarded headers
    // of a proxy it trusts; a peer's own `X-Forwarded-Host` names nothing, and without either
    // the sign-in is refused with what to set.
    fn api8_the_callback_url_is_never_taken_from_an_untrusted_peers_headers(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let evil = [("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https")];
        // No callback configured, no trusted proxy.
        let mut config = config_for(&store);
        config.oidc = oidc_config(&provider);
        let bare = TestApp::start_configured(store, config, |_| {});
        for headers in [&evil[..], &[]] {
            let refused = begin_sign_in(&bare.client, "", headers).assert_problem(503, "unavailable");
            assert!(refused["detail"].as_str().unwrap().contains("DANGAN_OIDC_CALLBACK_URL"), "{refused}");
        }
        // Configured: the configuration's, whatever the headers say.
        let mut configured = config_for(&bare.store);
        configured.oidc = OidcConfig {
            oidc_callback_url: Some("https://archives.example.cn/api/v1/auth/oidc/callback".into()),
            ..oidc_config(&provider)
        };
        let configured = bare.instance(&configured).unwrap();
        assert_eq!(callback_sent(&begin_sign_in(&configured.client, "", &evil)), "https://archives.example.cn/api/v1/auth/oidc/callback");
        // Behind a trusted proxy: the proxy's forwarded host and scheme.
        let mut proxied = config_for(&bare.store);
        proxied.oidc = oidc_config(&provider);
        proxied.trusted_proxies = vec!["127.0.0.1/32".into()];
        let proxied = bare.instance(&proxied).unwrap();
        let forwarded = [("X-Forwarded-Host", "archives.example.cn"), ("X-Forwarded-Proto", "https")];
        assert_eq!(callback_sent(&begin_sign_in(&proxied.client, "", &forwarded)), "https://archives.example.cn/api/v1/auth/oidc/callback");
    }

    // API4: sign-ins nobody finishes keep a row each until they expire: they are capped per
    // address (429 with Retry-After) and in all (503), and an expired one makes room.
    fn api4_waiting_sign_ins_are_capped_per_address_and_in_all(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let mut config = config_for(&store);
        config.oidc = oidc_config(&provider);
        config.trusted_proxies = vec!["127.0.0.1/32".into()];
        let app = TestApp::start_configured(store, config, |state| {
            state.sso_pending = PendingLimits { per_address: 3, total: 5 };
        });
        let from = |address: &str| begin_sign_in(&app.client, "", &[("X-Forwarded-For", address)]);
        for _ in 0..3 {
            assert_eq!(from("203.0.113.1").status, 302);
        }
        let throttled = from("203.0.113.1");
        throttled.assert_problem(429, "rate_limited");
        assert_eq!(throttled.header("retry-after"), Some("600"));
        assert_eq!(from("203.0.113.2").status, 302);
        assert_eq!(from("203.0.113.3").status, 302);
        let full = from("203.0.113.4");
        full.assert_problem(503, "unavailable");
        assert!(full.header("retry-after").is_some());
        app.clock.advance(time::Duration::minutes(11));
        assert_eq!(from("203.0.113.4").status, 302);
        assert_eq!(from("203.0.113.1").status, 302);
    }

    // API2: with linking on (as every site running SCIM and SSO together turns it on), a
    // provider's `ADMIN`, `Admin` or `admin` does not become Dangan's admin, an officer's
    // namesake does not become the officer, and a user already linked is not linked again.
    // Only a user provisioning made, unchanged since, is taken over, by their exact name.
    fn api2_provider_namesakes_never_take_over_users_dangan_made_or_granted(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let app = start(store, |c| {
            c.oidc = OidcConfig { oidc_link_by_username: true, ..oidc_config(&provider) };
        });
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        app.user(&admin, "officer", &hr, &["security_officer"], "top_secret");
        for (sub, name) in [("p-1", "ADMIN"), ("p-2", "Admin"), ("p-3", "admin"), ("p-4", "officer")] {
            provider.set_user(sub, &json!({"preferred_username": name}));
            exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, sub))
                .assert_problem(409, "duplicate_username");
        }
        // A user SCIM made, with nothing granted: taken over by the exact name only.
        let (_, token) = scim_token(&app, &admin, "Entra ID");
        let lisi = provisioned(&app, &token, json!({"userName": "lisi", "externalId": "e-1"}));
        provider.set_user("p-5", &json!({"preferred_username": "LiSi"}));
        exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "p-5"))
            .assert_problem(409, "duplicate_username");
        provider.set_user("p-6", &json!({"preferred_username": "lisi"}));
        let reply = exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "p-6"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(me(&app, reply.json()["access_token"].as_str().unwrap())["id"], lisi.as_str());
        // Linked now: another subject of the same name does not get lisi too.
        provider.set_user("p-7", &json!({"preferred_username": "lisi"}));
        exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "p-7"))
            .assert_problem(409, "duplicate_username");
        // Granted a role after provisioning: no longer anyone's to take over.
        let wangwu = provisioned(&app, &token, json!({"userName": "wangwu"}));
        let granted = app.client.patch(&format!("/api/v1/users/{wangwu}"), Some(&admin), None,
            &json!({"roles": ["archivist"]}));
        assert_eq!(granted.status, 200, "{}", granted.body);
        provider.set_user("p-8", &json!({"preferred_username": "wangwu"}));
        exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "p-8"))
            .assert_problem(409, "duplicate_username");
        let refused = audit_of(&app, &admin, "auth.sso_refused");
        assert_eq!(refused.iter().filter(|e| e["data"]["reason"] == "username_taken").count(), 7);
        assert_eq!(audit_of(&app, &admin, "user.identity_linked").len(), 1);
    }

    // API2: the chained attack of the review — a SCIM token renames an officer to a name the
    // attacker holds at the provider, who then signs in as that name. Both halves are closed.
    fn api2_the_rename_then_sign_in_chain_is_closed(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let app = start(store, |c| {
            c.oidc = OidcConfig { oidc_link_by_username: true, ..oidc_config(&provider) };
        });
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        let officer = id_of(&app.user(&admin, "officer", &hr, &["leader"], "secret"));
        let (client_id, token) = scim_token(&app, &admin, "HR system");
        // Not the client's: it cannot even see the officer.
        assert_scim_error(&replace(&app, &token, &officer, json!({"userName": "intern.li"})), 404, None);
        // Handed over by an admin: still no rename of someone with roles and a password.
        hand_over(&app, &admin, &client_id, &[&officer]);
        let refused = assert_scim_error(&replace(&app, &token, &officer, json!({"userName": "intern.li"})), 403, None);
        assert!(refused["detail"].as_str().unwrap().starts_with("userName:"), "{refused}");
        assert_eq!(app.client.get(&format!("/api/v1/users/{officer}"), Some(&admin)).json()["username"], "officer");
        provider.set_user("attacker", &json!({"preferred_username": "intern.li"}));
        let reply = exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "attacker"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let attacker = me(&app, reply.json()["access_token"].as_str().unwrap());
        assert_ne!(attacker["id"], officer.as_str());
        assert_eq!((attacker["roles"].clone(), attacker["clearance"].clone()), (json!([]), json!("public")));
    }

    // API2: everyone a sign-in may not take over is linked by an admin's one-time link, which
    // is listed, spent once, revocable, and audited; an identity can be unlinked again.
    fn api2_an_admins_one_time_link_is_the_way_to_link_anyone_else(store) {
        let Some(provider) = OidcProvider::start() else { return };
        let app = start(store, |c| c.oidc = oidc_config(&provider));
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        let officer = id_of(&app.user(&admin, "officer", &hr, &["leader"], "secret"));
        let issue = || app.client.post(&format!("/api/v1/users/{officer}/sign-in/link"), Some(&admin), &json!({}));
        let issued = issue();
        assert_eq!(issued.status, 201, "{}", issued.body);
        let link = issued.json();
        let code = link["code"].as_str().unwrap().to_owned();
        assert!(code.starts_with("dsl_"), "{link}");
        let listed = app.client.get(&format!("/api/v1/users/{officer}/sign-in"), Some(&admin)).json();
        assert_eq!(listed["links"][0]["id"], link["id"]);
        assert!(!listed.to_string().contains(&code), "the code is shown once");
        let officer_token = app.login("officer", PASSWORD);
        app.client.post(&format!("/api/v1/users/{officer}/sign-in/link"), Some(&officer_token), &json!({}))
            .assert_problem(403, "forbidden");

        // The person completes it at the provider, under any name there.
        provider.set_user("o-1", &json!({"preferred_username": "zhou.officer"}));
        let to_dangan = at_provider_asking(&app, &provider, "o-1", &format!("link={code}"));
        let to_front = callback(&app, &to_dangan);
        let front_code = query_value(&to_front, "code").unwrap_or_else(|| panic!("{to_front}"));
        let reply = form(&app, &format!("grant_type=authorization_code&code={front_code}"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(me(&app, reply.json()["access_token"].as_str().unwrap())["id"], officer.as_str());
        let methods = app.client.get(&format!("/api/v1/users/{officer}/sign-in"), Some(&admin)).json();
        assert_eq!(methods["identities"][0]["subject"], "o-1");
        assert_eq!(methods["links"], json!([]));
        let linked = audit_of(&app, &admin, "user.identity_linked");
        assert_eq!(linked[0]["data"]["via"]["link_id"], link["id"]);
        // Spent: the same link starts nothing; a second link for the same provider is refused.
        app.client.get(&format!("/api/v1/auth/oidc/login?redirect_uri={}&link={code}", crate::oidc::FRONT), None)
            .assert_problem(403, "link_unusable");
        issue().assert_problem(409, "identity_exists");

        // Unlinked, the identity signs nobody in; a revoked link opens nothing.
        let identity_id = methods["identities"][0]["id"].as_str().unwrap().to_owned();
        let unlinked = app.client.send_json("DELETE", &format!("/api/v1/users/{officer}/sign-in/identities/{identity_id}"), &admin, None, &json!({}));
        assert_eq!(unlinked.status, 204, "{}", unlinked.body);
        let reply = exchange(&app, &provider.id_token(CLIENT_ID, CLIENT_SECRET, "o-1"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let newcomer = me(&app, reply.json()["access_token"].as_str().unwrap());
        assert_eq!((newcomer["username"].clone(), newcomer["roles"].clone()), (json!("zhou.officer"), json!([])));
        assert_eq!(audit_of(&app, &admin, "user.identity_unlinked")[0]["entity_id"], officer.as_str());
        let second = issue().json();
        let revoked = app.client.send_json("DELETE", &format!("/api/v1/users/{officer}/sign-in/link/{}", second["id"].as_str().unwrap()), &admin, None, &json!({}));
        assert_eq!(revoked.status, 204, "{}", revoked.body);
        app.client.get(&format!("/api/v1/auth/oidc/login?redirect_uri={}&link={}", crate::oidc::FRONT, second["code"].as_str().unwrap()), None)
            .assert_problem(403, "link_unusable");
        assert_eq!(audit_of(&app, &admin, "user.sign_in_link_revoked").len(), 1);
    }

    // API1: a SCIM token sees and writes only the users and departments its client provisioned
    // (or an admin handed it): not the bootstrap admin, not an admin's departments, not another
    // client's users.
    fn api1_a_scim_token_reaches_only_what_its_client_provisioned(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        let officer = id_of(&app.user(&admin, "officer", &hr, &["leader"], "secret"));
        let admin_id = id_of(&app.client.get("/api/v1/me", Some(&admin)).json());
        let (_, token) = scim_token(&app, &admin, "Okta");
        let (_, other) = scim_token(&app, &admin, "Entra ID");
        let theirs = provisioned(&app, &other, json!({"userName": "theirs"}));
        for id in [&officer, &admin_id, &theirs] {
            let path = format!("/scim/v2/Users/{id}");
            assert_scim_error(&scim(&app, "GET", &path, &token, &Value::Null), 404, None);
            assert_scim_error(&replace(&app, &token, id, json!({"userName": "renamed"})), 404, None);
            assert_scim_error(&scim(&app, "PUT", &path, &token, &json!({"userName": "renamed"})), 404, None);
            assert_scim_error(&scim(&app, "DELETE", &path, &token, &Value::Null), 404, None);
        }
        let listed = scim(&app, "GET", "/scim/v2/Users?filter=userName%20eq%20%22admin%22", &token, &Value::Null).json();
        assert_eq!(listed["totalResults"], 0);
        assert_eq!(scim(&app, "GET", "/scim/v2/Users", &token, &Value::Null).json()["totalResults"], 0);
        // An admin's department: neither seen, changed, nor deleted.
        let path = format!("/scim/v2/Groups/{hr}");
        assert_scim_error(&scim(&app, "GET", &path, &token, &Value::Null), 404, None);
        assert_scim_error(&scim(&app, "DELETE", &path, &token, &Value::Null), 404, None);
        assert_eq!(scim(&app, "GET", "/scim/v2/Groups", &token, &Value::Null).json()["totalResults"], 0);
        // Nor made a member of the client's own group.
        let group = scim(&app, "POST", "/scim/v2/Groups", &token, &json!({"displayName": "G", "members": [{"value": officer}]}));
        assert_scim_error(&group, 400, Some("invalidValue"));
        for id in [&officer, &admin_id, &theirs] {
            let user = app.client.get(&format!("/api/v1/users/{id}"), Some(&admin)).json();
            assert_eq!(user["status"], "active");
            assert_ne!(user["username"], "renamed");
        }
        assert_eq!(app.client.get(&format!("/api/v1/departments/{hr}"), Some(&admin)).status, 200);
    }

    // API3: what Dangan holds of a user no provider undoes: an admin's disabling, a rename or
    // a re-enabling of someone with roles or a password; a PUT that leaves `active` out
    // changes nothing. Leaving (deactivation) always goes through.
    fn api3_provisioning_never_undoes_what_dangan_holds(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let (client_id, token) = scim_token(&app, &admin, "Keycloak");
        let lisi = provisioned(&app, &token, json!({"userName": "lisi"}));
        let status = |id: &str| app.client.get(&format!("/api/v1/users/{id}"), Some(&admin)).json()["status"].clone();

        // Disabled by the provider, a PUT without `active` leaves lisi disabled.
        assert_eq!(replace(&app, &token, &lisi, json!({"active": false})).status, 200);
        let put = scim(&app, "PUT", &format!("/scim/v2/Users/{lisi}"), &token, &json!({"userName": "lisi", "displayName": "李四"}));
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!((put.json()["active"].clone(), status(&lisi)), (json!(false), json!("disabled")));
        assert_eq!(replace(&app, &token, &lisi, json!({"active": true})).json()["active"], true);

        // Disabled by an admin: whatever the provider sends, lisi stays disabled until an
        // admin enables her.
        let reply = app.client.post(&format!("/api/v1/users/{lisi}/deactivate"), Some(&admin), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        for body in [json!({"active": true}), json!({"active": "True", "displayName": "李四"})] {
            let reply = replace(&app, &token, &lisi, body);
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_eq!(reply.json()["active"], false);
        }
        let put = scim(&app, "PUT", &format!("/scim/v2/Users/{lisi}"), &token, &json!({"userName": "lisi", "active": true}));
        assert_eq!(put.json()["active"], false, "{}", put.body);
        assert_eq!(status(&lisi), "disabled");
        let reply = app.client.post(&format!("/api/v1/users/{lisi}/activate"), Some(&admin), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(status(&lisi), "active");

        // Granted a role: the provider may still take lisi out, but not rename her or let her
        // in again.
        let granted = app.client.patch(&format!("/api/v1/users/{lisi}"), Some(&admin), None, &json!({"roles": ["archivist"]}));
        assert_eq!(granted.status, 200, "{}", granted.body);
        assert_scim_error(&replace(&app, &token, &lisi, json!({"userName": "li.si"})), 403, None);
        assert_eq!(replace(&app, &token, &lisi, json!({"active": false})).json()["active"], false);
        let refused = assert_scim_error(&replace(&app, &token, &lisi, json!({"active": true})), 403, None);
        assert!(refused["detail"].as_str().unwrap().starts_with("active:"), "{refused}");
        assert_eq!(status(&lisi), "disabled");

        // The bootstrap admin handed over: a provider still cannot rename it.
        let admin_id = id_of(&app.client.get("/api/v1/me", Some(&admin)).json());
        hand_over(&app, &admin, &client_id, &[&admin_id]);
        assert_scim_error(&replace(&app, &token, &admin_id, json!({"userName": "root"})), 403, None);
        let handed = audit_of(&app, &admin, "scim_client.handed_over");
        assert_eq!(handed[0]["data"]["user_ids"], json!([admin_id]));
    }

    // API8: Okta's and Microsoft Entra ID's documented requests, verbatim, are understood.
    fn api8_the_providers_documented_requests_are_understood(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        let (_, okta) = scim_token(&app, &admin, "Okta");
        // Okta's reference create-user request (its SCIM 2.0 guide), `groups: []` and all.
        let reply = scim(&app, "POST", "/scim/v2/Users", &okta, &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "isaac.brock@example.com",
            "name": {"givenName": "Isaac", "familyName": "Brock"},
            "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
            "displayName": "Isaac Brock", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "password": "1mz050nq", "active": true
        }));
        assert_eq!(reply.status, 201, "{}", reply.body);
        // Entra ID's default mappings: the enterprise extension's department and employee number.
        let (_, entra) = scim_token(&app, &admin, "Entra ID");
        let user = provisioned(&app, &entra, json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7b2c4d5e6f70", "userName": "Test_User_ab6490ee@contoso.com",
            "active": true, "displayName": "BobIsAmazing",
            ENTERPRISE: {"employeeNumber": "701984", "department": "HR"}
        }));
        assert_eq!(app.client.get(&format!("/api/v1/users/{user}"), Some(&admin)).json()["department_id"], hr.as_str());
        let reply = scim(&app, "PATCH", &format!("/scim/v2/Users/{user}"), &entra, &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "HR"},
                {"op": "Add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "701985"},
                {"op": "Replace", "path": "displayName", "value": "Bob"}
            ]
        }));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["displayName"], "Bob");
        assert_scim_error(&scim(&app, "GET", "/scim/v2/Users?filter=(userName%20eq%20%22x%22", &entra, &Value::Null), 400, Some("invalidFilter"));
        let parenthesised = scim(&app, "GET", "/scim/v2/Users?filter=(userName%20eq%20%22Test_User_ab6490ee@contoso.com%22)", &entra, &Value::Null);
        assert_eq!(parenthesised.json()["totalResults"], 1, "{}", parenthesised.body);
    }
}
