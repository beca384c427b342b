//! The clearance wall on every channel: approval routing, delegation, hand-over, notices,
//! catalogue messages, reports, the audit listing, webhooks and every GET that returns
//! something derived from an archive. Each scenario has its positive control: the person who is
//! cleared does see it, or can act.

use std::collections::HashMap;

use dangan_api::scheduler;
use dangan_tests::{archive_body, both_stores, Reply, TestApp, PASSWORD, TEST_START};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, Duration};

/// HQ (headed by `chief`, cleared for secret) above HR (headed by `head`, cleared for internal
/// only); a secret-cleared borrower in HR; staff cleared for everything beside staff cleared for
/// internal only; two colleagues to delegate to.
struct Wall {
    app: TestApp,
    ids: HashMap<&'static str, String>,
}

const PEOPLE: [(&str, &[&str], &str); 12] = [
    ("chief", &[], "secret"),
    ("head", &[], "internal"),
    ("borrower", &[], "secret"),
    ("leaver", &[], "secret"),
    ("archivist", &["archivist"], "top_secret"),
    ("low_archivist", &["archivist"], "internal"),
    ("auditor", &["auditor"], "top_secret"),
    ("low_auditor", &["auditor"], "internal"),
    ("officer", &["security_officer"], "top_secret"),
    ("deputy", &[], "public"),
    ("deputy2", &[], "secret"),
    ("low_admin", &["admin"], "internal"),
];

fn wall(store: dangan_tests::TestStore) -> Wall {
    let app = TestApp::start(store);
    let admin = app.admin_token();
    let hq = app.department(&admin, "HQ");
    let hr = app.client.post(
        "/api/v1/departments",
        Some(&admin),
        &json!({"code": "HR", "name": "人事处", "parent_id": hq}),
    );
    assert_eq!(hr.status, 201, "{}", hr.body);
    let hr = hr.json()["id"].as_str().unwrap().to_owned();
    let mut ids = HashMap::new();
    for (name, roles, clearance) in PEOPLE {
        let department = if name == "chief" { &hq } else { &hr };
        let user = app.user(&admin, name, department, roles, clearance);
        ids.insert(name, user["id"].as_str().unwrap().to_owned());
    }
    for (department, head) in [(&hq, "chief"), (&hr, "head")] {
        let reply = app.client.patch(
            &format!("/api/v1/departments/{department}"),
            Some(&admin),
            None,
            &json!({"head_user_id": ids[head]}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    Wall { app, ids }
}

/// An archive's id, code, barcode and title: none may reach someone not cleared for it.
struct Marks {
    id: String,
    code: String,
    barcode: String,
    title: String,
}

impl Marks {
    fn assert_absent(&self, reply: &Reply, context: &str) {
        for mark in [&self.id, &self.code, &self.barcode, &self.title] {
            assert!(
                !reply.body.contains(mark.as_str()),
                "{context}: {mark} leaked ({}): {}",
                reply.status,
                reply.body
            );
        }
    }

    fn assert_present(&self, reply: &Reply, context: &str) {
        assert!(
            reply.body.contains(&self.code),
            "{context}: expected {} ({}): {}",
            self.code,
            reply.status,
            reply.body
        );
    }
}

fn at(offset: Duration) -> String {
    (TEST_START + offset).format(&Rfc3339).unwrap()
}

impl Wall {
    /// A fresh admin token: tests move the clock past a token's life.
    fn admin(&self) -> String {
        self.app.admin_token()
    }

    fn id(&self, name: &str) -> &str {
        &self.ids[name]
    }

    fn token(&self, name: &str) -> String {
        self.app.login(name, PASSWORD)
    }

    fn get(&self, who: &str, path: &str) -> Reply {
        self.app.client.get(path, Some(&self.token(who)))
    }

    fn archive(&self, code: &str, classification: &str) -> Marks {
        let archive = self
            .app
            .archive(&self.admin(), &archive_body(code, classification));
        Marks {
            id: archive["id"].as_str().unwrap().to_owned(),
            code: code.to_owned(),
            barcode: archive["barcode"].as_str().unwrap().to_owned(),
            title: archive["title"].as_str().unwrap().to_owned(),
        }
    }

    fn request(&self, who: &str, archive: &Marks, days: i64) -> Value {
        let reply = self.app.client.post(
            "/api/v1/loan-requests",
            Some(&self.token(who)),
            &json!({"archive_ids": [archive.id], "purpose": "审计 / audit", "loan_type": "on_site", "days": days}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()
    }

    fn decide(&self, who: &str, request: &Value, verb: &str) -> Reply {
        let id = request["id"].as_str().unwrap();
        self.app.client.post(
            &format!("/api/v1/loan-requests/{id}/{verb}"),
            Some(&self.token(who)),
            &json!({"comment": "意见 / noted"}),
        )
    }

    fn approve(&self, who: &str, request: &Value) -> Value {
        let reply = self.decide(who, request, "approve");
        assert_eq!(reply.status, 200, "{who}: {}", reply.body);
        reply.json()
    }

    fn approvers(&self, request: &Value, step: usize) -> Vec<&str> {
        let names: HashMap<&str, &str> = self.ids.iter().map(|(n, id)| (id.as_str(), *n)).collect();
        request["steps"][step]["approver_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| *names.get(id.as_str().unwrap()).unwrap_or(&"admin"))
            .collect()
    }

    fn task_ids(&self, who: &str) -> Vec<String> {
        let reply = self.get(who, "/api/v1/approvals");
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["request"]["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn set_user(&self, who: &str, change: &Value) {
        let reply = self.app.client.patch(
            &format!("/api/v1/users/{}", self.id(who)),
            Some(&self.admin()),
            None,
            change,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    fn check_out(&self, request: &Value, archive: &Marks) -> Reply {
        self.app.client.post(
            "/api/v1/checkouts",
            Some(&self.token("archivist")),
            &json!({"request_id": request["id"], "barcode": archive.barcode}),
        )
    }

    /// A secret archive requested by `who`, approved by the chief and the officer, checked out.
    fn lend_secret(&self, who: &str, archive: &Marks, days: i64) -> Value {
        let request = self.request(who, archive, days);
        self.approve("chief", &request);
        self.approve("officer", &request);
        let loan = self.check_out(&request, archive);
        assert_eq!(loan.status, 201, "{}", loan.body);
        loan.json()
    }

    fn lend_internal(&self, archive: &Marks) -> Value {
        let request = self.request("borrower", archive, 5);
        self.approve("head", &request);
        self.approve("archivist", &request);
        let loan = self.check_out(&request, archive);
        assert_eq!(loan.status, 201, "{}", loan.body);
        loan.json()
    }

    fn move_clock(&self, by: Duration) {
        self.app.clock.advance(by);
        scheduler::run_once(&self.app.state).unwrap();
    }
}

both_stores! {
    fn approval_goes_past_an_approver_not_cleared_for_the_request(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0001", "secret");
        let internal = w.archive("MI-I-0001", "internal");

        // What the borrower would face, and what they do face, agree: the chief, not the head.
        let resolved = w.get("borrower", &format!("/api/v1/policies/resolve?archive_id={}&loan_type=on_site", secret.id));
        assert_eq!(resolved.status, 200, "{}", resolved.body);
        assert_eq!(resolved.json()["steps"][0]["approver_ids"], json!([w.id("chief")]));
        let request = w.request("borrower", &secret, 7);
        assert_eq!(w.approvers(&request, 0), ["chief"]);
        assert_eq!(w.approvers(&request, 1), ["officer"]);
        let id = request["id"].as_str().unwrap();

        // The internal head never learns of it, and cannot decide it.
        let seen = w.get("head", &format!("/api/v1/loan-requests/{id}"));
        seen.assert_problem(404, "not_found");
        secret.assert_absent(&seen, "head reads the request");
        let tasks = w.get("head", "/api/v1/approvals");
        secret.assert_absent(&tasks, "head's approvals");
        secret.assert_absent(&w.get("head", "/api/v1/loan-requests"), "head's request list");
        w.decide("head", &request, "approve").assert_problem(404, "not_found");

        // The chief, cleared, sees and decides it.
        assert!(w.task_ids("chief").contains(&id.to_owned()));
        secret.assert_present(&w.get("chief", &format!("/api/v1/loan-requests/{id}")), "chief reads it");
        w.approve("chief", &request);

        // Positive control: an internal request is the head's.
        let ordinary = w.request("borrower", &internal, 5);
        assert_eq!(w.approvers(&ordinary, 0), ["head"]);
        assert!(w.task_ids("head").contains(&ordinary["id"].as_str().unwrap().to_owned()));

        // Eligibility is checked when the step is decided: the chief's clearance lowered since.
        let later = w.request("borrower", &secret, 7);
        assert_eq!(w.approvers(&later, 0), ["chief"]);
        w.set_user("chief", &json!({"clearance": "internal"}));
        w.decide("chief", &later, "approve").assert_problem(404, "not_found");
        assert!(!w.task_ids("chief").contains(&later["id"].as_str().unwrap().to_owned()));
        w.set_user("chief", &json!({"clearance": "secret"}));
        w.approve("chief", &later);
        // A security officer who lost the role can no longer decide the officer's step.
        w.set_user("officer", &json!({"roles": []}));
        w.decide("officer", &later, "approve").assert_problem(403, "not_your_step");
        w.set_user("officer", &json!({"roles": ["security_officer"]}));
        assert_eq!(w.approve("officer", &later)["status"], "approved");
    }

    fn nobody_decides_two_steps_of_one_request(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0002", "secret");
        // The chief is also the only security officer: the officer's step cannot be theirs too.
        w.set_user("officer", &json!({"roles": []}));
        w.set_user("chief", &json!({"roles": ["security_officer"]}));
        let request = w.request("borrower", &secret, 7);
        assert_eq!(w.approvers(&request, 0), ["chief"]);
        assert_ne!(w.approvers(&request, 1), ["chief"], "{request}");
        let request = w.approve("chief", &request);
        w.decide("chief", &request, "approve").assert_problem(403, "not_your_step");
    }

    fn a_delegate_gets_only_the_tasks_they_are_cleared_for(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0003", "secret");
        let to = |delegate: &str| {
            let reply = w.app.client.post("/api/v1/delegations", Some(&w.token("chief")), &json!({
                "delegate_id": w.id(delegate), "starts_at": at(-Duration::hours(1)), "ends_at": at(Duration::days(7))}));
            assert_eq!(reply.status, 201, "{}", reply.body);
        };
        to("deputy");
        let request = w.request("borrower", &secret, 7);
        let id = request["id"].as_str().unwrap().to_owned();

        // The public deputy gets nothing of the secret request; the chief keeps it.
        assert!(w.task_ids("deputy").is_empty());
        let seen = w.get("deputy", &format!("/api/v1/loan-requests/{id}"));
        seen.assert_problem(404, "not_found");
        secret.assert_absent(&seen, "deputy reads the request");
        secret.assert_absent(&w.get("deputy", "/api/v1/approvals"), "deputy's approvals");
        w.decide("deputy", &request, "approve").assert_problem(404, "not_found");
        assert!(w.task_ids("chief").contains(&id));

        // Positive control: a colleague cleared for secret decides it on the chief's behalf.
        to("deputy2");
        assert!(w.task_ids("deputy2").contains(&id));
        let decided = w.approve("deputy2", &request);
        assert_eq!(decided["steps"][0]["decided_by"], w.id("deputy2"));
        assert_eq!(decided["steps"][0]["on_behalf_of"], w.id("chief"));
    }

    fn check_out_renewal_and_signing_recheck_the_borrower(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0004", "secret");
        let request = w.request("borrower", &secret, 7);
        w.approve("chief", &request);
        w.approve("officer", &request);

        w.set_user("borrower", &json!({"clearance": "internal"}));
        w.check_out(&request, &secret).assert_problem(403, "borrower_not_cleared");
        w.set_user("borrower", &json!({"clearance": "secret"}));
        let loan = w.check_out(&request, &secret);
        assert_eq!(loan.status, 201, "positive control: {}", loan.body);
        let loan = loan.json();
        let loan_id = loan["id"].as_str().unwrap();

        // Lowered after the hand-over: no signing, no renewal, and the loan no longer shows.
        w.set_user("borrower", &json!({"clearance": "internal"}));
        let token = w.token("borrower");
        w.app.client.post(&format!("/api/v1/loans/{loan_id}/sign"), Some(&token), &json!({"password": PASSWORD}))
            .assert_problem(403, "borrower_not_cleared");
        w.app.client.post(&format!("/api/v1/loans/{loan_id}/renew"), Some(&token), &json!({"days": 3}))
            .assert_problem(403, "borrower_not_cleared");
        secret.assert_absent(&w.app.client.get(&format!("/api/v1/loans/{loan_id}"), Some(&token)), "borrower's loan");
        secret.assert_absent(&w.app.client.get("/api/v1/loans", Some(&token)), "borrower's loan list");
        w.set_user("borrower", &json!({"clearance": "secret"}));
        let signed = w.app.client.post(&format!("/api/v1/loans/{loan_id}/sign"), Some(&w.token("borrower")), &json!({"password": PASSWORD}));
        assert_eq!(signed.status, 200, "positive control: {}", signed.body);

        // Deactivated after approval: the archive stays on the shelf.
        let other = w.archive("MI-S-0005", "secret");
        let leaving = w.request("leaver", &other, 7);
        w.approve("chief", &leaving);
        w.approve("officer", &leaving);
        let reply = w.app.client.post(&format!("/api/v1/users/{}/deactivate", w.id("leaver")), Some(&w.admin()), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        w.check_out(&leaving, &other).assert_problem(409, "borrower_disabled");
        assert_eq!(w.get("archivist", &format!("/api/v1/archives/{}", other.id)).json()["status"], "available");
    }

    fn deactivation_lists_only_the_loans_the_admin_may_see(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0012", "secret");
        let internal = w.archive("MI-I-0012", "internal");
        w.lend_secret("borrower", &secret, 3);
        w.lend_internal(&internal);
        let reply = w.app.client.post(&format!("/api/v1/users/{}/deactivate", w.id("borrower")),
            Some(&w.token("low_admin")), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        secret.assert_absent(&reply, "deactivation by an admin cleared for internal");
        internal.assert_present(&reply, "the loan they may see");
        assert_eq!(reply.json()["withheld_open_loans"], 1);
        assert_eq!(reply.json()["open_loans"].as_array().unwrap().len(), 1);
    }

    fn escalations_reach_only_those_cleared_and_name_nothing_else(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0006", "secret");
        let internal = w.archive("MI-I-0006", "internal");
        w.lend_secret("borrower", &secret, 3);
        w.lend_internal(&internal);
        w.move_clock(Duration::days(13));

        let notices = |who: &str| w.get(who, "/api/v1/me/notifications?limit=500");
        let kinds = |who: &str| -> Vec<String> {
            notices(who).json()["items"].as_array().unwrap().iter()
                .map(|n| format!("{} {}", n["kind"].as_str().unwrap(), n["body"].as_str().unwrap())).collect()
        };
        // The cleared archivist is told about both loans; the internal one and the internal head
        // only about the internal loan.
        let top = kinds("archivist");
        assert!(top.iter().any(|k| k.starts_with("loan.overdue_escalated") && k.contains(&secret.code)), "{top:?}");
        assert!(top.iter().any(|k| k.starts_with("loan.overdue_escalated") && k.contains(&internal.code)), "{top:?}");
        for who in ["low_archivist", "head"] {
            let reply = notices(who);
            secret.assert_absent(&reply, who);
            let mine = kinds(who);
            assert!(mine.iter().any(|k| k.starts_with("loan.overdue_escalated") && k.contains(&internal.code)), "{who}: {mine:?}");
        }
        // The reminder's audit event lists only the cleared recipients.
        let events = w.get("auditor", "/api/v1/audit-events?action=reminder.sent&limit=500").json();
        let low = w.id("low_archivist");
        let escalation = events["items"].as_array().unwrap().iter()
            .find(|e| e["data"]["kind"] == "overdue_escalation" && e["data"]["recipients"].as_array().unwrap().iter().any(|r| r == w.id("archivist")) && !e["data"]["recipients"].as_array().unwrap().iter().any(|r| r == low))
            .cloned();
        assert!(escalation.is_some(), "{events}");

        // A borrower whose clearance was lowered finds the old notices' text withheld.
        w.set_user("borrower", &json!({"clearance": "internal"}));
        let reply = notices("borrower");
        secret.assert_absent(&reply, "borrower's notices after the lowering");
        assert!(reply.body.contains(&internal.code), "the internal loan's notices stay readable");
    }

    fn webhooks_receive_nothing_above_their_ceiling(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0007", "secret");
        let internal = w.archive("MI-I-0007", "internal");
        let subscribe = |token: &str, max: Option<&str>| {
            let mut body = json!({"url": "http://hooks.example.invalid/dangan", "events": ["loan.checked_out"],
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
            if let Some(max) = max {
                body["max_classification"] = json!(max);
            }
            w.app.client.post("/api/v1/webhooks", Some(token), &body)
        };
        let default = subscribe(&w.admin(), None);
        assert_eq!(default.status, 201, "{}", default.body);
        assert_eq!(default.json()["max_classification"], "internal");
        let cleared = subscribe(&w.admin(), Some("secret")).json();
        // Nobody subscribes a receiver above their own clearance.
        let low_admin = w.token("low_admin");
        let refused = subscribe(&low_admin, Some("secret")).assert_problem(422, "validation_failed");
        assert!(refused["errors"]["max_classification"].is_array(), "{refused}");

        w.lend_secret("borrower", &secret, 3);
        w.lend_internal(&internal);
        let deliveries = |token: &str, hook: &Value| {
            w.app.client.get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()), Some(token))
        };
        let to_default = deliveries(&w.admin(), &default.json());
        assert_eq!(to_default.json()["items"].as_array().unwrap().len(), 1, "{}", to_default.body);
        secret.assert_absent(&to_default, "the internal receiver");
        let to_cleared = deliveries(&w.admin(), &cleared);
        assert_eq!(to_cleared.json()["items"].as_array().unwrap().len(), 2, "{}", to_cleared.body);
        // Its payloads are for readers cleared as far as the subscription.
        deliveries(&low_admin, &cleared).assert_problem(404, "not_found");
    }

    fn catalogue_messages_never_name_a_hidden_archive_and_probes_are_audited(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0008", "secret");
        let low = w.token("low_archivist");

        let mut body = archive_body("NEW-0008", "internal");
        body["barcode"] = json!(secret.barcode);
        let reply = w.app.client.post("/api/v1/archives", Some(&low), &body);
        reply.assert_problem(409, "duplicate_barcode");
        secret.assert_absent(&reply, "create with a hidden barcode");

        let items = json!({"items": [body]});
        for dry_run in [true, false] {
            let reply = w.app.client.post(&format!("/api/v1/archives/import?dry_run={dry_run}"), Some(&low), &items);
            assert_eq!(reply.status, 422, "{}", reply.body);
            secret.assert_absent(&reply, "import with a hidden barcode");
            assert_eq!(reply.json()["errors"][0]["field"], "barcode");
            assert_eq!(reply.json()["errors"][0]["message"], "already in use");
        }
        // The same answer for a barcode the caller may see: nothing to tell the two apart.
        let visible = w.archive("MI-I-0008", "internal");
        body["barcode"] = json!(visible.barcode);
        let reply = w.app.client.post("/api/v1/archives/import?dry_run=true", Some(&low), &json!({"items": [body]}));
        assert_eq!(reply.json()["errors"][0]["message"], "already in use");

        // Dry runs are audited like imports: who probed what, with the payload's digest.
        body["barcode"] = json!("BC-FRESH-0008");
        let fine = w.app.client.post("/api/v1/archives/import?dry_run=true", Some(&low), &json!({"items": [body]}));
        assert_eq!(fine.status, 200, "{}", fine.body);
        let events = w.get("auditor", &format!("/api/v1/audit-events?actor_id={}&limit=500", w.id("low_archivist"))).json();
        let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap())
            .filter(|a| a.starts_with("archive.")).collect();
        assert_eq!(actions, ["archive.import_refused", "archive.import_refused", "archive.import_refused", "archive.import_checked"]);
        for event in events["items"].as_array().unwrap().iter().filter(|e| e["entity_type"] == "archive") {
            assert_eq!(event["data"]["sha256"].as_str().unwrap().len(), 64, "{event}");
        }
        assert_eq!(w.get("auditor", "/api/v1/audit-events/verify").json()["valid"], true);
    }

    fn reports_count_only_what_the_reader_may_see(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0009", "secret");
        let internal = w.archive("MI-I-0009", "internal");
        w.lend_secret("borrower", &secret, 3);
        w.lend_internal(&internal);
        w.app.clock.advance(Duration::days(10));

        let summary = |who: &str| w.get(who, "/api/v1/reports/summary").json();
        assert_eq!(summary("low_auditor")["loans"], 1);
        assert_eq!(summary("low_auditor")["requests"], 1);
        assert_eq!(summary("low_auditor")["overdue_now"], 1);
        assert_eq!(summary("auditor")["loans"], 2, "positive control");
        assert_eq!(summary("auditor")["requests"], 2);

        let keys = |who: &str| -> Vec<String> {
            w.get(who, "/api/v1/reports/loans?group_by=classification").json()["rows"].as_array().unwrap()
                .iter().map(|r| r["key"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(keys("low_auditor"), ["internal"]);
        assert_eq!(keys("low_archivist"), ["internal"]);
        assert_eq!(keys("auditor"), ["internal", "secret"]);
        let csv = w.app.client.get_with("/api/v1/reports/loans?group_by=classification",
            &[("Authorization", &format!("Bearer {}", w.token("low_auditor"))), ("Accept", "text/csv")]);
        assert_eq!(csv.status, 200);
        assert!(!csv.body.contains("secret"), "{}", csv.body);

        let overdue = w.get("low_auditor", "/api/v1/reports/overdue");
        secret.assert_absent(&overdue, "overdue list");
        internal.assert_present(&overdue, "overdue list");
        secret.assert_present(&w.get("auditor", "/api/v1/reports/overdue"), "positive control");
        let compliance = w.get("low_auditor", "/api/v1/reports/compliance");
        assert_eq!(compliance.json()["items"], json!([]), "{}", compliance.body);
        secret.assert_present(&w.get("auditor", "/api/v1/reports/compliance"), "positive control");
    }

    fn the_audit_listing_withholds_what_the_reader_may_not_see(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0010", "secret");
        let internal = w.archive("MI-I-0010", "internal");
        w.lend_secret("borrower", &secret, 3);
        w.lend_internal(&internal);

        let listing = |who: &str| w.get(who, "/api/v1/audit-events?limit=500");
        let low = listing("low_auditor");
        // Read second, so it holds one event more: the auditor's own login.
        let top = listing("auditor");
        secret.assert_absent(&low, "the audit listing");
        internal.assert_present(&low, "the audit listing");
        secret.assert_present(&top, "positive control");
        let (low, top) = (low.json(), top.json());
        let (low, top) = (low["items"].as_array().unwrap(), top["items"].as_array().unwrap());
        assert_eq!(low.len() + 1, top.len(), "every event is listed");
        let withheld: Vec<&Value> = low.iter().filter(|e| e["data_withheld"] == true).collect();
        // Catalogued, requested, two approvals, checked out.
        assert_eq!(withheld.len(), 5, "{withheld:?}");
        for (event, full) in low.iter().zip(top) {
            assert_eq!(event["hash"], full["hash"]);
            assert_eq!(event["seq"], full["seq"]);
            assert_eq!(event["action"], full["action"]);
            if event["data_withheld"] == true {
                assert_eq!(event["data"], Value::Null);
                assert_eq!(event["entity_id"], Value::Null);
            } else {
                assert_eq!(event["data"], full["data"]);
            }
        }
        assert_eq!(w.get("low_auditor", "/api/v1/audit-events/verify").json()["valid"], true);
    }

    fn no_get_endpoint_shows_an_archive_above_the_callers_clearance(store) {
        let w = wall(store);
        let secret = w.archive("MI-S-0011", "secret");
        let loan = w.lend_secret("borrower", &secret, 3);
        let request_id = loan["request_id"].as_str().unwrap().to_owned();
        let loan_id = loan["id"].as_str().unwrap().to_owned();
        let hook = w.app.client.post("/api/v1/webhooks", Some(&w.admin()), &json!({
            "url": "http://hooks.example.invalid/dangan", "events": ["loan.checked_out", "loan.overdue_escalated"],
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "max_classification": "top_secret"})).json();
        // Overdue and escalated, so notices, reports and deliveries all hold it.
        w.move_clock(Duration::days(12));
        // The borrower, lowered to one level below after the loan, is probed as well.
        w.set_user("borrower", &json!({"clearance": "internal"}));

        let paths = [
            "/api/v1/archives?limit=500".to_owned(),
            format!("/api/v1/archives?q={}", secret.code),
            format!("/api/v1/archives/{}", secret.id),
            format!("/api/v1/archives/by-barcode/{}", secret.barcode),
            format!("/api/v1/archives/{}/loans", secret.id),
            format!("/api/v1/policies/resolve?archive_id={}&loan_type=on_site", secret.id),
            "/api/v1/loan-requests?limit=500".to_owned(),
            format!("/api/v1/loan-requests/{request_id}"),
            "/api/v1/approvals".to_owned(),
            "/api/v1/loans?limit=500".to_owned(),
            format!("/api/v1/loans?archive_id={}", secret.id),
            "/api/v1/loans?overdue=true".to_owned(),
            format!("/api/v1/loans/{loan_id}"),
            format!("/api/v1/loans/{loan_id}/voucher"),
            "/api/v1/me".to_owned(),
            "/api/v1/me/notifications?limit=500".to_owned(),
            "/api/v1/reports/summary".to_owned(),
            "/api/v1/reports/loans?group_by=classification".to_owned(),
            "/api/v1/reports/loans?group_by=category".to_owned(),
            "/api/v1/reports/overdue".to_owned(),
            "/api/v1/reports/compliance".to_owned(),
            "/api/v1/audit-events?limit=500".to_owned(),
            format!("/api/v1/audit-events?entity_type=loan&entity_id={loan_id}"),
            "/api/v1/webhooks".to_owned(),
            format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()),
            "/api/v1/delegations".to_owned(),
            format!("/api/v1/users/{}", w.id("borrower")),
        ];
        let accepts = ["application/json", "text/html", "text/csv"];
        for who in ["low_archivist", "low_auditor", "low_admin", "head", "borrower"] {
            let token = w.token(who);
            for path in &paths {
                for accept in accepts {
                    let reply = w.app.client.get_with(path, &[("Authorization", &format!("Bearer {token}")), ("Accept", accept)]);
                    assert!(reply.status < 500, "{who} {path} {accept}: {}", reply.body);
                    secret.assert_absent(&reply, &format!("{who} GET {path} ({accept})"));
                }
            }
        }
        // Positive control: someone cleared finds it on those same channels.
        let token = w.token("auditor");
        let found = paths.iter().filter(|path| {
            w.app.client.get(path, Some(&token)).body.contains(&secret.code)
        }).count();
        assert!(found >= 12, "the cleared auditor found the archive on {found} channels");
    }
}
