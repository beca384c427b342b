//! The scheduler with a movable clock: reminders at their offsets and only once, no backlog after
//! downtime, escalations, approval reminders, pickup windows that end, two schedulers on one
//! database, and `/me/notifications`.

use std::sync::{Arc, Barrier};

use dangan_api::scheduler;
use dangan_tests::{both_stores, config_for};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use crate::org::{barcode, org, Org};

impl Org {
    /// Runs one scheduler tick at the clock's time.
    fn tick(&self) -> scheduler::SchedulerRun {
        scheduler::run_once(&self.app.state).unwrap()
    }

    /// Moves the clock to `at` (forward only).
    fn move_to(&self, at: OffsetDateTime) {
        let now = self.app.state.clock.now();
        assert!(at >= now, "the clock only moves forward");
        self.app.clock.advance(at - now);
    }

    fn notifications(&self, who: &str, query: &str) -> Vec<Value> {
        let reply = self.app.client.get(
            &format!("/api/v1/me/notifications?limit=500{query}"),
            Some(&self.token(who)),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["items"].as_array().unwrap().clone()
    }

    fn kinds(&self, who: &str) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .notifications(who, "")
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_owned())
            .collect();
        kinds.sort();
        kinds
    }

    /// A public archive lent to `who` for `days`; returns the loan.
    fn lend(&self, who: &str, code: &str, days: i64) -> Value {
        let archive = self.archive(code, "public");
        let request = self.request(who, &[&archive], "take_out", days);
        let request = self.approve_all(request);
        let loan = self.check_out("archivist", &request, &barcode(code));
        assert_eq!(loan.status, 201, "{}", loan.body);
        loan.json()
    }

    fn blocked(&self, who: &str) -> bool {
        self.app
            .client
            .get("/api/v1/me", Some(&self.token(who)))
            .json()["blocked"]
            .as_bool()
            .unwrap()
    }
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

fn strings(kinds: &[&str]) -> Vec<String> {
    let mut kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    kinds.sort();
    kinds
}

both_stores! {
    fn each_loan_reminder_fires_at_its_offset_and_only_once(store) {
        let org = org(store);
        let loan = org.lend("borrower", "WS-2026-Y-0001", 10);
        let due = time_of(&loan["due_at"]);

        assert_eq!(org.tick().reminders, 0, "nothing is due ten days ahead");
        org.move_to(due - Duration::days(3) - Duration::minutes(1));
        org.tick();
        assert!(org.kinds("borrower").is_empty(), "a minute before the first offset");

        org.move_to(due - Duration::days(3));
        assert_eq!(org.tick().reminders, 1);
        assert_eq!(org.tick().reminders, 0, "a second run sends nothing again");
        let notices = org.notifications("borrower", "");
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0]["kind"], "loan.due_soon");
        assert_eq!(notices[0]["entity_type"], "loan");
        assert_eq!(notices[0]["entity_id"], loan["id"]);
        let subject = notices[0]["subject"].as_str().unwrap();
        assert!(subject.contains("借阅即将到期") && subject.contains("WS-2026-Y-0001"), "{subject}");

        org.move_to(due - Duration::hours(12));
        org.tick();
        assert_eq!(org.kinds("borrower"), strings(&["loan.due_soon", "loan.due_soon"]));
        assert!(!org.blocked("borrower"));

        org.move_to(due + Duration::hours(1));
        assert_eq!(org.tick().reminders, 1);
        org.tick();
        assert_eq!(org.kinds("borrower"), strings(&["loan.due_soon", "loan.due_soon", "loan.overdue"]));
        assert!(org.blocked("borrower"), "an overdue borrower is blocked");

        org.move_to(due + Duration::days(3));
        org.tick();
        org.tick();
        let overdue = org.kinds("borrower").iter().filter(|k| *k == "loan.overdue").count();
        assert_eq!(overdue, 2, "the next notice three days later");
        assert!(org.kinds("head").is_empty(), "no escalation before seven days");

        org.move_to(due + Duration::days(7));
        let run = org.tick();
        assert_eq!(run.reminders, 2, "the third notice and the escalation: {run:?}");
        for staff in ["head", "archivist", "second"] {
            assert_eq!(org.kinds(staff), strings(&["loan.overdue_escalated"]), "{staff}");
        }
        let escalation = &org.notifications("head", "")[0];
        assert!(escalation["body"].as_str().unwrap().contains("7"), "{escalation}");
        assert!(!org.kinds("borrower").contains(&"loan.overdue_escalated".to_owned()));
        assert!(org.kinds("officer").is_empty(), "only the head and the archivists");

        let back = org.give_back("BC-WS-2026-Y-0001", "intact");
        assert_eq!(back.status, 200, "{}", back.body);
        assert!(!org.blocked("borrower"), "unblocked on return");
        org.move_to(due + Duration::days(9));
        assert_eq!(org.tick().reminders, 0, "a returned loan is not reminded");
        assert!(org.actions("loan").contains(&"reminder.sent".to_owned()));
    }

    fn after_downtime_one_notice_and_no_backlog(store) {
        let org = org(store);
        let loan = org.lend("borrower", "WS-2026-Y-0002", 10);
        let due = time_of(&loan["due_at"]);
        // The scheduler was down from before the first reminder until 25 days overdue.
        org.move_to(due + Duration::days(25));
        let run = org.tick();
        assert_eq!(run.reminders, 2, "{run:?}");
        assert_eq!(org.kinds("borrower"), strings(&["loan.overdue"]), "one notice, no due-soon");
        assert_eq!(org.kinds("archivist"), strings(&["loan.overdue_escalated"]));
        assert_eq!(org.tick().reminders, 0);
    }

    fn approval_steps_are_reminded_then_escalated(store) {
        let org = org(store);
        let archive = org.archive("RS-2026-Y-0001", "internal");
        let request = org.request("borrower", &[&archive], "take_out", 5);
        let created = time_of(&request["created_at"]);

        org.move_to(created + Duration::hours(23));
        assert_eq!(org.tick().reminders, 0);
        org.move_to(created + Duration::hours(24));
        assert_eq!(org.tick().reminders, 1);
        assert_eq!(org.tick().reminders, 0);
        assert_eq!(org.kinds("head"), strings(&["approval.reminder"]));
        let reminder = &org.notifications("head", "")[0];
        assert_eq!(reminder["entity_type"], "loan_request");
        assert_eq!(reminder["entity_id"], request["id"]);
        assert!(org.kinds("admin").is_empty());

        org.move_to(created + Duration::hours(72));
        assert_eq!(org.tick().reminders, 1);
        assert_eq!(org.kinds("admin"), strings(&["approval.escalated"]));
        assert_eq!(org.kinds("head"), strings(&["approval.reminder"]), "the head is not reminded twice");

        // The next step waits from the head's decision, not from the request.
        let approved = org.decide("head", &request, "approve", &json!({}));
        assert_eq!(approved.status, 200, "{}", approved.body);
        org.move_to(created + Duration::hours(95));
        assert_eq!(org.tick().reminders, 0);
        assert!(org.kinds("archivist").is_empty());
        org.move_to(created + Duration::hours(96));
        assert_eq!(org.tick().reminders, 1);
        assert_eq!(org.kinds("archivist"), strings(&["approval.reminder"]));
        assert!(org.kinds("second").contains(&"approval.reminder".to_owned()), "every archivist of the step");
    }

    fn an_ended_pickup_window_releases_the_reservation_to_the_next_in_line(store) {
        let org = org(store);
        let loan = org.lend("borrower", "WS-2026-Y-0003", 10);
        let archive = loan["archive_id"].as_str().unwrap().to_owned();
        let first = org.approve_all(org.request("other", &[&archive], "take_out", 5));
        let second = org.approve_all(org.request("borrower", &[&archive], "take_out", 5));

        let back = org.give_back("BC-WS-2026-Y-0003", "intact");
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(org.archive_status(&archive), "reserved");
        assert_eq!(org.kinds("other"), strings(&["archive.reserved"]));

        org.move_to(org.app.state.clock.now() + Duration::days(7) - Duration::minutes(1));
        assert_eq!(org.tick().lapsed_reservations, 0, "still inside the window");
        org.move_to(org.app.state.clock.now() + Duration::minutes(1));
        let run = org.tick();
        assert_eq!(run.lapsed_reservations, 1, "{run:?}");
        assert_eq!(org.tick().lapsed_reservations, 0);

        assert_eq!(org.kinds("other"), strings(&["archive.reserved", "reservation.lapsed"]));
        assert!(org.kinds("borrower").contains(&"archive.reserved".to_owned()), "the next in line is told");
        assert_eq!(org.archive_status(&archive), "reserved");
        let admin = org.token("admin");
        let first = org.app.client.get(&format!("/api/v1/loan-requests/{}", first["id"].as_str().unwrap()), Some(&admin)).json();
        assert_eq!(first["status"], "expired");
        let loan = org.check_out("archivist", &second, "BC-WS-2026-Y-0003");
        assert_eq!(loan.status, 201, "{}", loan.body);
        assert!(org.actions("archive").contains(&"reservation.lapsed".to_owned()));
    }

    fn an_approved_request_not_collected_in_time_expires(store) {
        let org = org(store);
        let archive = org.archive("KJ-2026-Y-0001", "public");
        let request = org.approve_all(org.request("borrower", &[&archive], "take_out", 5));
        let approved = org.app.state.clock.now();

        org.move_to(approved + Duration::days(6));
        assert_eq!(org.tick().expired_items, 0);
        org.move_to(approved + Duration::days(7));
        assert_eq!(org.tick().expired_items, 1);
        assert_eq!(org.tick().expired_items, 0);

        let admin = org.token("admin");
        let stored = org.app.client.get(&format!("/api/v1/loan-requests/{}", request["id"].as_str().unwrap()), Some(&admin)).json();
        assert_eq!(stored["status"], "expired", "{stored}");
        assert_eq!(stored["items"][0]["status"], "expired");
        assert_eq!(org.kinds("borrower"), strings(&["request.pickup_expired"]));
        org.check_out("archivist", &request, "BC-KJ-2026-Y-0001").assert_problem(409, "request_not_approved");
    }

    fn two_schedulers_on_one_database_send_every_reminder_once(store) {
        let org = org(store);
        let due = (0..4)
            .map(|n| time_of(&org.lend("borrower", &format!("WS-2026-Y-01{n:02}"), 10)["due_at"]))
            .max()
            .unwrap();
        let archive = org.archive("RS-2026-Y-0100", "internal");
        org.request("borrower", &[&archive], "take_out", 5);

        // A second instance: its own pool on the same database, the same clock.
        let config = config_for(&org.app.store);
        let twin = dangan_api::prepare(&config, Arc::new(org.app.clock.clone())).unwrap();
        let stages = [
            // four due-soon reminders, the step's reminder and its escalation
            (due - Duration::days(2), 6),
            // four first overdue notices
            (due + Duration::hours(1), 4),
            // a third notice and an escalation per loan
            (due + Duration::days(7), 8),
        ];
        for (at, expected) in stages {
            org.move_to(at);
            for round in 0..3 {
                let barrier = Barrier::new(2);
                let runs = std::thread::scope(|s| {
                    let handles = [&org.app.state, &twin].map(|state| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            barrier.wait();
                            scheduler::run_once(state).unwrap()
                        })
                    });
                    handles.map(|h| h.join().unwrap())
                });
                let sent: usize = runs.iter().map(|r| r.reminders).sum();
                // Between both schedulers each reminder once; later rounds find everything sent.
                let due_now = if round == 0 { expected } else { 0 };
                assert_eq!(sent, due_now, "round {round}: {runs:?}");
            }
        }
        assert_eq!(org.notifications("borrower", "").len(), 4 + 4 + 4, "due soon, then two overdue notices per loan");
        let escalated = "loan.overdue_escalated";
        assert_eq!(
            org.kinds("head"),
            strings(&["approval.reminder", escalated, escalated, escalated, escalated])
        );
        assert_eq!(org.kinds("admin"), strings(&["approval.escalated"]));
        assert_eq!(org.kinds("archivist"), strings(&[escalated; 4]));
    }

    fn notifications_are_listed_filtered_and_marked_read(store) {
        let org = org(store);
        for n in 0..3 {
            org.lend("borrower", &format!("WS-2026-Y-02{n:02}"), 10);
        }
        org.move_to(org.app.state.clock.now() + Duration::days(8));
        assert_eq!(org.tick().reminders, 3);
        let token = org.token("borrower");

        let first = org.app.client.get("/api/v1/me/notifications?limit=2", Some(&token));
        assert_eq!(first.status, 200, "{}", first.body);
        let first = first.json();
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"].as_str().unwrap();
        let rest = org.app.client.get(&format!("/api/v1/me/notifications?limit=2&cursor={cursor}"), Some(&token)).json();
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert!(rest["next_cursor"].is_null());
        let newest = first["items"][0].clone();
        assert!(newest["read_at"].is_null());
        assert!(!newest["title"].as_str().unwrap().is_empty(), "{newest}");
        assert_eq!(newest["title"], newest["subject"], "subject is kept as an alias");

        let id = newest["id"].as_str().unwrap();
        let read_at = |org: &Org| org.notifications("borrower", "").into_iter()
            .find(|n| n["id"] == newest["id"]).unwrap()["read_at"].clone();
        let read = org.app.client.post(&format!("/api/v1/me/notifications/{id}/read"), Some(&token), &json!({}));
        assert_eq!(read.status, 204, "the contract's answer: {}", read.body);
        assert!(read.body.is_empty());
        let first_read = read_at(&org);
        assert!(first_read.is_string());
        org.app.clock.advance(Duration::minutes(5));
        let again = org.app.client.post(&format!("/api/v1/me/notifications/{id}/read"), Some(&token), &json!({}));
        assert_eq!(again.status, 204);
        assert_eq!(read_at(&org), first_read, "reading again keeps the first time");
        assert_eq!(org.notifications("borrower", "&unread=true").len(), 2);

        org.app.client
            .post(&format!("/api/v1/me/notifications/{id}/read"), Some(&org.token("other")), &json!({}))
            .assert_problem(404, "not_found");
        org.app.client.get("/api/v1/me/notifications", None).assert_problem(401, "unauthorized");
        org.app.client.get("/api/v1/me/notifications?cursor=nope", Some(&token)).assert_problem(400, "bad_request");

        let all = org.app.client.post("/api/v1/me/notifications/read-all", Some(&token), &json!({}));
        assert_eq!(all.status, 200, "{}", all.body);
        assert_eq!(all.json()["marked"], 2);
        assert!(org.notifications("borrower", "&unread=true").is_empty());
        assert_eq!(org.notifications("borrower", "").len(), 3);
    }
}
