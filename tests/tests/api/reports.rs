//! Reports checked against a history built by hand with a movable clock: the summary (overdue
//! rate, average approval hours and loan days), loans grouped as JSON and CSV, the overdue list,
//! the compliance report, and who may read them.

use dangan_tests::{both_stores, PASSWORD};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use crate::org::{barcode, org, Org};

impl Org {
    fn report(&self, who: &str, path: &str) -> Value {
        let reply = self
            .app
            .client
            .get(&format!("/api/v1/reports/{path}"), Some(&self.token(who)));
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.json()
    }

    fn approve_step(&self, who: &str, request: &Value) -> Value {
        let reply = self.decide(who, request, "approve", &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    fn lend_out(&self, request: &Value, code: &str) -> Value {
        let loan = self.check_out("archivist", request, &barcode(code));
        assert_eq!(loan.status, 201, "{}", loan.body);
        loan.json()
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap().replace('+', "%2B")
}

/// The history: six requests made at T, five approved after 2, 2, 2, 4 and 6 hours and one
/// rejected; five loans out at T+6h; one back on time after a day, two back late (one damaged)
/// after four days, one lost, one still out and overdue at the report's time, T+6h+11d.
fn history(org: &Org) -> OffsetDateTime {
    let start = org.app.state.clock.now();
    let archives: Vec<(String, &str)> = [
        ("WS-2026-Y-1001", "public"),
        ("WS-2026-Y-1002", "public"),
        ("RS-2026-Y-1003", "internal"),
        ("KJ-2026-Y-1004", "secret"),
        ("WS-2026-Y-1005", "public"),
        ("WS-2026-Y-1006", "public"),
    ]
    .iter()
    .map(|(code, classification)| (org.archive(code, classification), *code))
    .collect();
    let ask = |n: usize, days: i64| org.request("borrower", &[&archives[n].0], "take_out", days);
    let (a, e, b, d, c, f) = (
        ask(0, 10),
        ask(1, 10),
        ask(2, 2),
        ask(3, 3),
        ask(4, 10),
        ask(5, 10),
    );

    org.app.clock.advance(Duration::hours(1));
    let b = org.approve_step("head", &b);
    let rejected = org.decide(
        "archivist",
        &c,
        "reject",
        &json!({"comment": "用途不符 / wrong purpose"}),
    );
    assert_eq!(rejected.status, 200, "{}", rejected.body);
    org.app.clock.advance(Duration::hours(1));
    let (a, e, f) = (
        org.approve_step("archivist", &a),
        org.approve_step("archivist", &e),
        org.approve_step("archivist", &f),
    );
    org.app.clock.advance(Duration::hours(2));
    let b = org.approve_step("archivist", &b);
    org.app.clock.advance(Duration::hours(1));
    let d = org.approve_step("head", &d);
    org.app.clock.advance(Duration::hours(1));
    let d = org.approve_step("officer", &d);
    assert_eq!(
        [&a, &e, &b, &d, &f].map(|r| r["status"].clone()),
        ["approved"; 5].map(Value::from)
    );

    let _loan_a = org.lend_out(&a, archives[0].1);
    org.lend_out(&e, archives[1].1);
    org.lend_out(&b, archives[2].1);
    let loan_d = org.lend_out(&d, archives[3].1);
    let loan_f = org.lend_out(&f, archives[5].1);
    let signed = org.loan_action("borrower", &loan_d, "sign", &json!({"password": PASSWORD}));
    assert_eq!(signed.status, 200, "{}", signed.body);

    org.app.clock.advance(Duration::days(1));
    assert_eq!(org.give_back(&barcode(archives[1].1), "intact").status, 200);
    org.app.clock.advance(Duration::days(3));
    assert_eq!(org.give_back(&barcode(archives[2].1), "intact").status, 200);
    let damaged = org.give_back(&barcode(archives[3].1), "damaged");
    assert_eq!(damaged.status, 200, "{}", damaged.body);
    assert_eq!(damaged.json()["status"], "return_pending");
    org.app.clock.advance(Duration::days(1));
    let lost = org.loan_action(
        "archivist",
        &loan_f,
        "report-lost",
        &json!({"notes": "遗失 / lost"}),
    );
    assert_eq!(lost.status, 200, "{}", lost.body);
    org.app.clock.advance(Duration::days(6));
    start
}

both_stores! {
    fn the_summary_matches_a_history_built_by_hand(store) {
        let org = org(store);
        let start = history(&org);
        let summary = org.report("admin", "summary");
        assert_eq!(summary, json!({
            "requests": 6, "approved": 5, "rejected": 1,
            "loans": 5, "returned": 3, "overdue_now": 1,
            // late: two back after their due time, one still out past it; of five loans
            "overdue_rate": 0.6,
            "avg_approval_hours": 3.2,
            "avg_loan_days": 3.0,
            "damaged": 1, "lost": 1,
        }));

        // The period bounds requests by when they were made and loans by when they went out.
        let later = org.report("archivist", &format!("summary?from={}", rfc3339(start + Duration::hours(7))));
        assert_eq!(later["requests"], 0);
        assert_eq!(later["loans"], 0);
        assert_eq!(later["overdue_rate"], 0.0);
        assert!(later["avg_approval_hours"].is_null());
        let window = format!("summary?from={}&to={}", rfc3339(start), rfc3339(start + Duration::hours(7)));
        assert_eq!(org.report("admin", &window)["loans"], 5);
    }

    fn loans_are_grouped_as_json_and_csv(store) {
        let org = org(store);
        history(&org);
        let by_class = org.report("admin", "loans?group_by=classification");
        assert_eq!(by_class, json!({"group_by": "classification", "rows": [
            {"key": "internal", "loans": 1, "returned": 1, "overdue": 1, "overdue_rate": 1.0},
            {"key": "public", "loans": 3, "returned": 1, "overdue": 1, "overdue_rate": 0.33},
            {"key": "secret", "loans": 1, "returned": 1, "overdue": 1, "overdue_rate": 1.0},
        ]}));
        let by_department = org.report("admin", "loans?group_by=department");
        assert_eq!(by_department["rows"], json!([
            {"key": "HR 部门", "loans": 5, "returned": 3, "overdue": 3, "overdue_rate": 0.6}
        ]));
        let by_category = org.report("admin", "loans?group_by=category");
        assert_eq!(by_category["rows"][0]["key"], "文书");
        assert_eq!(by_category["rows"][0]["loans"], 5);
        let by_month = org.report("admin", "loans");
        assert_eq!(by_month["group_by"], "month");
        let rows = by_month["rows"].as_array().unwrap();
        let total: i64 = rows.iter().map(|r| r["loans"].as_i64().unwrap()).sum();
        assert_eq!(total, 5);
        for row in rows {
            let key = row["key"].as_str().unwrap();
            assert!(key.len() == 7 && key.as_bytes()[4] == b'-', "{key}");
        }

        let token = format!("Bearer {}", org.token("admin"));
        let csv = org.app.client.get_with(
            "/api/v1/reports/loans?group_by=classification",
            &[("Authorization", token.as_str()), ("Accept", "text/csv")],
        );
        assert_eq!(csv.status, 200, "{}", csv.body);
        assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
        let lines: Vec<Vec<&str>> = csv.body.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(lines[0], ["key", "loans", "returned", "overdue", "overdue_rate"]);
        assert_eq!(lines[1..], [
            vec!["internal", "1", "1", "1", "1"],
            vec!["public", "3", "1", "1", "0.33"],
            vec!["secret", "1", "1", "1", "1"],
        ]);

        org.app.client
            .get("/api/v1/reports/loans?group_by=colour", Some(&org.token("admin")))
            .assert_problem(400, "bad_request");
    }

    fn the_overdue_list_and_the_compliance_report(store) {
        let org = org(store);
        history(&org);
        let overdue = org.report("archivist", "overdue");
        let items = overdue["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{overdue}");
        assert_eq!(items[0]["archive_code"], "WS-2026-Y-1001");
        assert_eq!(items[0]["borrower"], "borrower");
        assert_eq!(items[0]["borrower_id"], org.id("borrower"));
        assert_eq!(items[0]["department"], "HR 部门");
        assert_eq!(items[0]["days_overdue"], 1);
        assert!(overdue["next_cursor"].is_null());
        let first = org.report("archivist", "overdue?limit=1");
        assert_eq!(first["items"].as_array().unwrap().len(), 1);
        let after = org.report("archivist", &format!("overdue?limit=1&cursor={}", first["next_cursor"].as_str().unwrap()));
        assert!(after["items"].as_array().unwrap().is_empty());
        assert!(after["next_cursor"].is_null());
        org.app.client.get("/api/v1/reports/compliance?cursor=-3", Some(&org.token("admin"))).assert_problem(400, "bad_request");
        org.app.client.get("/api/v1/reports/overdue?limit=501", Some(&org.token("admin"))).assert_problem(422, "validation_failed");

        let compliance = org.report("admin", "compliance");
        let items = compliance["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "only the secret loan: {compliance}");
        let entry = &items[0];
        assert_eq!(entry["classification"], "secret");
        let deciders: Vec<&str> = entry["approvals"].as_array().unwrap().iter()
            .map(|s| org.names[s["decided_by"].as_str().unwrap()].as_str()).collect();
        assert_eq!(deciders, ["head", "officer"]);
        assert_eq!(entry["signature"]["signed_by"], org.id("borrower"));
        assert_eq!(entry["signature"]["digest"].as_str().unwrap().len(), 64);
        assert_eq!(entry["loan"]["condition"], "damaged");
        assert_eq!(entry["loan"]["status"], "return_pending");
        assert_eq!(entry["loan"]["inspected_by"], org.id("archivist"));
    }

    fn only_auditors_admins_and_archivists_read_reports(store) {
        let org = org(store);
        let auditor = org.app.user(&org.admin, "auditor", &org.department, &["auditor"], "top_secret");
        assert_eq!(auditor["roles"], json!(["auditor"]));
        for path in ["summary", "loans", "overdue", "compliance"] {
            let url = format!("/api/v1/reports/{path}");
            org.app.client.get(&url, Some(&org.token("borrower"))).assert_problem(403, "forbidden");
            org.app.client.get(&url, Some(&org.token("head"))).assert_problem(403, "forbidden");
            org.app.client.get(&url, None).assert_problem(401, "unauthorized");
            let as_auditor = org.app.client.get(&url, Some(&org.app.login("auditor", PASSWORD)));
            assert_eq!(as_auditor.status, 200, "{path}: {}", as_auditor.body);
            let as_archivist = org.app.client.get(&url, Some(&org.token("archivist")));
            let expected = if path == "compliance" { 403 } else { 200 };
            assert_eq!(as_archivist.status, expected, "{path}: {}", as_archivist.body);
        }
    }
}
