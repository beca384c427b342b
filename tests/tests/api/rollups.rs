//! The day counters reports are read from agree with the loans and requests themselves, over a
//! generated history of requests, approvals, rejections, check-outs, returns (late, damaged,
//! confirmed), losses and renewals spread over days, with an archive reclassified and moved to
//! another category and a borrower moved to another department on the way; before and after the
//! counters are folded, for periods of whole and partial days, and within a lower clearance;
//! and while archives are reclassified and borrowers moved at the same time as they are lent.

use dangan_domain::access::Principal;
use dangan_persistence::{
    cases::reports::{self, GroupBy, Period, Source},
    store::{rollups, users},
};
use std::{
    collections::HashMap,
    sync::atomic::{AtomicUsize, Ordering},
};

use dangan_tests::{archive_body, both_stores};
use serde_json::{json, Value};
use time::Duration;
use uuid::Uuid;

use crate::org::{barcode, org, Org};

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

const CLASSIFICATIONS: [&str; 4] = ["public", "internal", "secret", "confidential"];
const CATEGORIES: [&str; 3] = ["文书", "人事", "会计"];

struct Catalogued {
    id: String,
    code: String,
    confidential: bool,
    on_shelf: bool,
}

fn check(org: &Org, what: &str) {
    let now = org.app.state.clock.now();
    let mut conn = org.app.state.pool.get().unwrap();
    let other = users::get(&mut conn, Uuid::parse_str(&org.id("other")).unwrap())
        .unwrap()
        .principal();
    let day = |n: i64| {
        let start = now - Duration::days(n);
        start.replace_time(time::Time::MIDNIGHT)
    };
    let periods = [
        Period {
            from: None,
            to: None,
        },
        Period {
            from: Some(day(9) + Duration::hours(7)),
            to: Some(day(2) + Duration::hours(15)),
        },
        Period {
            from: Some(day(8)),
            to: Some(day(3)),
        },
        Period {
            from: Some(day(6) + Duration::hours(1)),
            to: Some(day(6) + Duration::hours(23)),
        },
        Period {
            from: Some(day(30)),
            to: None,
        },
    ];
    for viewer in [Principal::operator(), other] {
        for period in &periods {
            let found = reports::disagreements(&mut conn, &viewer, period, now).unwrap();
            assert!(
                found.is_empty(),
                "{what}: clearance {:?}, {period:?}:\n{}",
                viewer.clearance,
                found.join("\n")
            );
        }
    }
}

/// Not agreement by emptiness: the history has something in every figure.
fn the_history_has_something_in_every_figure(org: &Org) {
    let now = org.app.state.clock.now();
    let mut conn = org.app.state.pool.get().unwrap();
    let everything = Period {
        from: None,
        to: None,
    };
    let summary = reports::summary(
        &mut conn,
        &Principal::operator(),
        &everything,
        now,
        Source::Rollups,
    )
    .unwrap();
    assert!(
        summary.loans >= 20
            && summary.returned > 0
            && summary.late > 0
            && summary.rejected > 0
            && summary.avg_approval_hours > Some(0.0),
        "{summary:?}"
    );
    assert!(
        summary.damaged > 0 && summary.lost > 0 && summary.overdue_now > 0,
        "{summary:?}"
    );
    let departments = reports::loans_by(
        &mut conn,
        &Principal::operator(),
        &everything,
        GroupBy::Department,
        now,
        Source::Rollups,
    )
    .unwrap();
    assert_eq!(
        departments.len(),
        2,
        "both departments lent: {departments:?}"
    );
}

fn lend(org: &Org, dice: &mut Dice, shelf: &mut [Catalogued], out: &mut Vec<(Value, usize)>) {
    for (n, archive) in shelf.iter_mut().enumerate() {
        if !archive.on_shelf || dice.roll(3) == 0 {
            continue;
        }
        let who = if dice.roll(3) == 0 {
            "other"
        } else {
            "borrower"
        };
        // the confidential policy lends only to be read on site
        let loan_type = if archive.confidential {
            "on_site"
        } else {
            "take_out"
        };
        let request = org.ask(who, &[&archive.id], loan_type, 1 + dice.roll(5) as i64);
        if request.status != 201 {
            // above `other`'s clearance, or the borrower has an overdue loan: refused, nothing
            // counted
            assert!([403, 404].contains(&request.status), "{}", request.body);
            continue;
        }
        let request = request.json();
        if dice.roll(5) == 0 {
            let rejected = org.decide(
                &org.current_approver(&request),
                &request,
                "reject",
                &json!({"comment": "用途不符"}),
            );
            assert_eq!(rejected.status, 200, "{}", rejected.body);
            continue;
        }
        org.app
            .clock
            .advance(Duration::minutes(10 + dice.roll(300) as i64));
        let request = org.approve_all(request);
        org.app
            .clock
            .advance(Duration::minutes(30 + dice.roll(120) as i64));
        let loan = org.check_out("archivist", &request, &barcode(&archive.code));
        assert_eq!(loan.status, 201, "{}", loan.body);
        archive.on_shelf = false;
        out.push((loan.json(), n));
    }
}

fn act(org: &Org, dice: &mut Dice, shelf: &mut [Catalogued], out: &mut Vec<(Value, usize)>) {
    let mut still_out = Vec::new();
    for (loan, n) in out.drain(..) {
        let code = shelf[n].code.clone();
        match dice.roll(20) {
            0..=7 => {
                let back = org.give_back(&barcode(&code), "intact");
                assert_eq!(back.status, 200, "{}", back.body);
                shelf[n].on_shelf = back.json()["status"] == "returned";
                if !shelf[n].on_shelf {
                    let confirmed = org.loan_action("second", &loan, "confirm-return", &json!({}));
                    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
                    shelf[n].on_shelf = true;
                }
            }
            8 => {
                let back = org.give_back(&barcode(&code), "damaged");
                assert_eq!(back.status, 200, "{}", back.body);
                if back.json()["status"] == "return_pending" {
                    let confirmed = org.loan_action("second", &loan, "confirm-return", &json!({}));
                    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
                }
            }
            9 => {
                let lost =
                    org.loan_action("archivist", &loan, "report-lost", &json!({"notes": "遗失"}));
                assert_eq!(lost.status, 200, "{}", lost.body);
            }
            10..=12 => {
                let borrower = org.names[loan["borrower_id"].as_str().unwrap()].clone();
                let renewed = org.loan_action(&borrower, &loan, "renew", &json!({"days": 2}));
                assert!(
                    [200, 202, 403, 409, 422].contains(&renewed.status),
                    "{}",
                    renewed.body
                );
                still_out.push((loan, n));
            }
            _ => still_out.push((loan, n)),
        }
    }
    *out = still_out;
}

both_stores! {
    fn the_day_counters_agree_with_the_loans_and_requests(store) {
        let org = org(store);
        let admin = org.token("admin");
        let finance = org.app.department(&admin, "FIN");
        let mut shelf: Vec<Catalogued> = (0..12)
            .map(|n| {
                let code = format!("GD-2026-R-{n:04}");
                let mut body = archive_body(&code, CLASSIFICATIONS[n % 4]);
                body["category"] = json!(CATEGORIES[n % 3]);
                let archive = org.app.archive(&admin, &body);
                Catalogued {
                    id: archive["id"].as_str().unwrap().to_owned(),
                    code,
                    confidential: n % 4 == 3,
                    on_shelf: true,
                }
            })
            .collect();

        let mut dice = Dice(0x2545_f491_4f6c_dd1d);
        let mut out = Vec::new();
        for day in 0..12 {
            org.app.clock.advance(Duration::hours(1 + dice.roll(6) as i64));
            lend(&org, &mut dice, &mut shelf, &mut out);
            org.app.clock.advance(Duration::hours(3 + dice.roll(8) as i64));
            act(&org, &mut dice, &mut shelf, &mut out);
            if day == 5 {
                check(&org, "before any fold");
                let mut conn = org.app.state.pool.get().unwrap();
                assert!(rollups::fold(&mut conn).unwrap() > 0);
                drop(conn);
                check(&org, "after a fold");
                // Dimensions change under loans already counted.
                let admin = org.token("admin");
                let path = format!("/api/v1/archives/{}", shelf[1].id);
                let moved = org.app.client.patch(&path, Some(&admin), None, &json!({"classification": "secret", "category": "会计"}));
                assert_eq!(moved.status, 200, "{}", moved.body);
                let path = format!("/api/v1/users/{}", org.id("borrower"));
                let moved = org.app.client.patch(&path, Some(&admin), None, &json!({"department_id": finance}));
                assert_eq!(moved.status, 200, "{}", moved.body);
                check(&org, "after a reclassification and a move");
            }
            org.app.clock.advance(Duration::days(1));
        }
        // The last loans stay out past their due time.
        lend(&org, &mut dice, &mut shelf, &mut out);
        org.app.clock.advance(Duration::days(8));
        check(&org, "at the end, unfolded");
        let mut conn = org.app.state.pool.get().unwrap();
        rollups::fold(&mut conn).unwrap();
        assert_eq!(rollups::fold(&mut conn).unwrap(), 0, "nothing waits after a fold");
        drop(conn);
        check(&org, "at the end, folded");
        the_history_has_something_in_every_figure(&org);
        let mut conn = org.app.state.pool.get().unwrap();
        rollups::rebuild(&mut conn).unwrap();
        drop(conn);
        check(&org, "after a rebuild");
    }
}

/// One lender's round: a request for `archive`, approved step by step, checked out and returned,
/// with tokens taken once (a login per call would leave the race nothing to race).
fn lend_and_take_back(org: &Org, tokens: &HashMap<&str, String>, archive: &str, code: &str) {
    let client = &org.app.client;
    let asked = client.post(
        "/api/v1/loan-requests",
        Some(&tokens["borrower"]),
        &json!({"archive_ids": [archive], "purpose": "年度审计 / annual audit", "loan_type": "take_out", "days": 3}),
    );
    assert_eq!(asked.status, 201, "{}", asked.body);
    let mut request = asked.json();
    while request["status"] == "pending" {
        let approver = org.current_approver(&request);
        let id = request["id"].as_str().unwrap();
        let reply = client.post(
            &format!("/api/v1/loan-requests/{id}/approve"),
            Some(&tokens[approver.as_str()]),
            &json!({"comment": "同意"}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        request = reply.json();
    }
    assert_eq!(request["status"], "approved", "{request}");
    let loan = client.post(
        "/api/v1/checkouts",
        Some(&tokens["archivist"]),
        &json!({"request_id": request["id"], "barcode": barcode(code)}),
    );
    assert_eq!(loan.status, 201, "{}", loan.body);
    let back = client.post(
        "/api/v1/returns",
        Some(&tokens["archivist"]),
        &json!({"barcode": barcode(code), "condition": "intact"}),
    );
    assert_eq!(back.status, 200, "{}", back.body);
    if back.json()["status"] == "return_pending" {
        let id = loan.json()["id"].as_str().unwrap().to_owned();
        let confirmed = client.post(
            &format!("/api/v1/loans/{id}/confirm-return"),
            Some(&tokens["second"]),
            &json!({}),
        );
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    }
}

/// A lender still lending; the changers stop once none is, even one that failed.
struct Lending<'a>(&'a AtomicUsize);

impl Drop for Lending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

both_stores! {
    fn the_day_counters_hold_while_archives_and_borrowers_change_under_loans(store) {
        let org = org(store);
        let admin = org.token("admin");
        let finance = org.app.department(&admin, "FIN");
        let departments = [org.department.clone(), finance];
        let tokens: HashMap<&str, String> = ["admin", "borrower", "archivist", "second", "head", "leader", "officer"]
            .into_iter()
            .map(|name| (name, org.token(name)))
            .collect();
        let shelf: Vec<(String, String)> = (0..2)
            .map(|n| {
                let code = format!("GD-2026-C-{n:04}");
                (org.archive(&code, "public"), code)
            })
            .collect();
        const ROUNDS: usize = 12;
        let lending = AtomicUsize::new(shelf.len());
        let (reclassified, moved) = std::thread::scope(|s| {
            let lenders: Vec<_> = shelf
                .iter()
                .map(|(id, code)| {
                    let (org, tokens, lending) = (&org, &tokens, &lending);
                    s.spawn(move || {
                        let _lending = Lending(lending);
                        for _ in 0..ROUNDS {
                            lend_and_take_back(org, tokens, id, code);
                        }
                    })
                })
                .collect();
            let reclassifier = s.spawn(|| {
                let mut changes = 0;
                while lending.load(Ordering::Relaxed) > 0 {
                    let (id, _) = &shelf[changes % shelf.len()];
                    let classification = ["internal", "public"][changes / 2 % 2];
                    let body = json!({"classification": classification, "category": CATEGORIES[changes % 3]});
                    let reply = org.app.client.patch(&format!("/api/v1/archives/{id}"), Some(&admin), None, &body);
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    changes += 1;
                }
                changes
            });
            let mover = s.spawn(|| {
                let mut changes = 0;
                while lending.load(Ordering::Relaxed) > 0 {
                    let body = json!({"department_id": departments[(changes + 1) % 2]});
                    let reply = org.app.client.patch(&format!("/api/v1/users/{}", org.id("borrower")), Some(&admin), None, &body);
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    changes += 1;
                }
                changes
            });
            for lender in lenders {
                lender.join().unwrap();
            }
            (reclassifier.join().unwrap(), mover.join().unwrap())
        });
        assert!(reclassified >= 10 && moved >= 10, "changes raced: {reclassified} reclassifications, {moved} moves");
        check(&org, "after lending raced reclassifications and moves, unfolded");
        let mut conn = org.app.state.pool.get().unwrap();
        rollups::fold(&mut conn).unwrap();
        drop(conn);
        check(&org, "after lending raced reclassifications and moves, folded");
        let everything = Period { from: None, to: None };
        let mut conn = org.app.state.pool.get().unwrap();
        let now = org.app.state.clock.now();
        let summary = reports::summary(&mut conn, &Principal::operator(), &everything, now, Source::Rollups).unwrap();
        assert_eq!(summary.loans, (ROUNDS * shelf.len()) as i64, "{summary:?}");
    }
}
