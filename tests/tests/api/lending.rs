//! The lending loop over HTTP: request → approval → check-out → signed receipt → renewal →
//! return, with the default policies of DESIGN.md and the unhappy paths of each step.

use dangan_tests::{both_stores, Reply, PASSWORD};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::Duration;

use crate::org::{barcode, org};

both_stores! {
    fn the_whole_loop_under_each_default_policy(store) {
        let org = org(store);
        // (classification, steps, max days, dual sign-off, an allowed and a refused loan type)
        let cases = [
            ("public", &["archivist"][..], 30, false, "take_out", None),
            ("internal", &["head", "archivist"][..], 30, false, "take_out", None),
            ("secret", &["head", "officer"][..], 14, true, "take_out", None),
            ("confidential", &["head", "officer", "leader"][..], 7, true, "copy", Some("take_out")),
            ("top_secret", &["head", "officer", "leader"][..], 1, true, "on_site", Some("copy")),
        ];
        for (classification, chain, max_days, dual, allowed, refused) in cases {
            let code = format!("WS-{classification}");
            let archive = org.archive(&code, classification);

            let too_long = org.ask("borrower", &[&archive], allowed, max_days + 1);
            let problem = too_long.assert_problem(422, "validation_failed");
            assert!(problem["errors"]["days"].is_array(), "{classification}: {problem}");
            if let Some(refused) = refused {
                let problem = org.ask("borrower", &[&archive], refused, 1).assert_problem(422, "validation_failed");
                assert!(problem["errors"]["loan_type"].is_array(), "{classification}: {problem}");
            }

            let request = org.request("borrower", &[&archive], allowed, max_days);
            assert!(request["number"].as_str().unwrap().starts_with("JY-2026-"), "{request}");
            let approvers: Vec<String> = request["steps"].as_array().unwrap().iter()
                .map(|s| org.names[s["approver_ids"][0].as_str().unwrap()].clone()).collect();
            assert_eq!(approvers, chain, "{classification}");
            let request = org.approve_all(request);

            let loan = org.check_out("archivist", &request, &barcode(&code));
            assert_eq!(loan.status, 201, "{}", loan.body);
            let loan = loan.json();
            assert_eq!(loan["status"], "checked_out");
            assert_eq!(org.archive_status(&archive), "on_loan");
            let out = time::OffsetDateTime::parse(loan["checked_out_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
            let due = time::OffsetDateTime::parse(loan["due_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
            assert_eq!(due - out, Duration::days(max_days), "due = now + days");

            let signed = org.loan_action("borrower", &loan, "sign", &json!({"password": PASSWORD}));
            assert_eq!(signed.status, 200, "{}", signed.body);
            assert_eq!(signed.json()["status"], "active");

            let back = org.give_back(&barcode(&code), "intact");
            assert_eq!(back.status, 200, "{}", back.body);
            if dual {
                assert_eq!(back.json()["status"], "return_pending", "{classification}");
                assert_eq!(org.archive_status(&archive), "on_loan", "not back until signed off");
                let confirmed = org.loan_action("second", &loan, "confirm-return", &json!({}));
                assert_eq!(confirmed.status, 200, "{}", confirmed.body);
                assert_eq!(confirmed.json()["status"], "returned");
            } else {
                assert_eq!(back.json()["status"], "returned", "{classification}");
            }
            assert_eq!(org.archive_status(&archive), "available");
            let id = request["id"].as_str().unwrap();
            let closed = org.app.client.get(&format!("/api/v1/loan-requests/{id}"), Some(&org.token("borrower"))).json();
            assert_eq!(closed["status"], "closed", "{classification}");
            assert_eq!(closed["items"][0]["loan_id"], loan["id"]);
        }
        let loans = org.actions("loan");
        assert_eq!(loans.iter().filter(|a| *a == "loan.checked_out").count(), 5);
        assert_eq!(loans.iter().filter(|a| *a == "loan.signed").count(), 5);
        assert_eq!(loans.iter().filter(|a| *a == "loan.return_confirmed").count(), 3);
        let requests = org.actions("loan_request");
        assert_eq!(requests.iter().filter(|a| *a == "request.created").count(), 5);
        assert_eq!(requests.iter().filter(|a| *a == "request.approved").count(), 5);
        assert_eq!(requests.iter().filter(|a| *a == "request.step_approved").count(), 6);
        let verify = org.app.client.get("/api/v1/audit-events/verify", Some(&org.admin)).json();
        assert_eq!(verify["valid"], true);
    }

    fn requests_are_checked_before_they_are_stored(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "internal");
        let secret = org.archive("WS-2", "secret");

        let problem = org.app.client.post("/api/v1/loan-requests", Some(&org.token("borrower")),
            &json!({"archive_ids": [], "purpose": " ", "loan_type": "on_site", "days": 0}))
            .assert_problem(422, "validation_failed");
        for field in ["archive_ids", "purpose", "days"] {
            assert!(problem["errors"][field].is_array(), "{field}: {problem}");
        }
        // What only the domain knows is reported once the body fits its schema.
        let problem = org.app.client.post("/api/v1/loan-requests", Some(&org.token("borrower")),
            &json!({"archive_ids": [archive, archive], "purpose": "审计", "loan_type": "on_site", "days": 1}))
            .assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"]["archive_ids"], json!(["must not list an archive twice"]), "{problem}");
        let problem = org.app.client.post("/api/v1/loan-requests", Some(&org.token("borrower")),
            &json!({"archive_ids": [archive], "purpose": "x", "loan_type": "borrow", "days": 1}))
            .assert_problem(422, "validation_failed");
        assert!(problem["errors"]["loan_type"].is_array());

        // Above clearance, or missing: the same 404.
        org.ask("other", &[&org.archive("WS-3", "confidential")], "on_site", 1).assert_problem(404, "not_found");
        org.ask("other", &[&uuid::Uuid::new_v4().to_string()], "on_site", 1).assert_problem(404, "not_found");
        assert_eq!(org.ask("other", &[&secret], "on_site", 1).status, 201);

        // A lost, retired or damaged archive cannot be asked for.
        let retired = org.archive("WS-4", "public");
        org.app.client.post(&format!("/api/v1/archives/{retired}/retire"), Some(&org.admin), &json!({}));
        org.ask("borrower", &[&retired], "on_site", 1).assert_problem(409, "archive_unavailable");

        // Several archives: the strictest policy (secret: 14 days, two steps) governs.
        let public = org.archive("WS-5", "public");
        let mixed = org.ask("borrower", &[&public, &secret], "on_site", 15).assert_problem(422, "validation_failed");
        assert!(mixed["errors"]["days"].is_array());
        let mixed = org.request("borrower", &[&public, &secret], "on_site", 14);
        assert_eq!(mixed["steps"].as_array().unwrap().len(), 2);
        assert_eq!(mixed["items"].as_array().unwrap().len(), 2);

        // A required custom field for the archive's category.
        let field = org.app.client.post("/api/v1/form-fields", Some(&org.admin), &json!({
            "key": "case_number", "label": "案卷号", "type": "text", "required": true, "options": [], "categories": ["文书"]}));
        assert_eq!(field.status, 201, "{}", field.body);
        let problem = org.ask("borrower", &[&archive], "on_site", 1).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["fields.case_number"].is_array(), "{problem}");
        let answered = org.app.client.post("/api/v1/loan-requests", Some(&org.token("borrower")),
            &json!({"archive_ids": [archive], "purpose": "审计", "loan_type": "on_site", "days": 1, "fields": {"case_number": "SJ-17"}}));
        assert_eq!(answered.status, 201, "{}", answered.body);
        assert_eq!(answered.json()["fields"]["case_number"], "SJ-17");
    }

    fn only_the_current_approver_decides_and_only_once(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "secret");
        let request = org.request("borrower", &[&archive], "on_site", 7);
        assert_eq!(request["status"], "pending");
        assert_eq!(request["current_step"], 0);

        // The officer's step is next, not now; an archivist is no approver here at all.
        org.decide("officer", &request, "approve", &json!({})).assert_problem(403, "not_your_step");
        org.decide("archivist", &request, "approve", &json!({})).assert_problem(403, "not_your_step");
        // The borrower cannot see another's request at all; their own they cannot decide.
        org.decide("other", &request, "approve", &json!({})).assert_problem(404, "not_found");
        org.decide("borrower", &request, "approve", &json!({})).assert_problem(403, "not_your_step");

        // An approval with no body at all is fine (the comment is optional).
        let id = request["id"].as_str().unwrap();
        let headers = vec![("Authorization".to_owned(), format!("Bearer {}", org.token("head")))];
        let first = org.app.client.raw("POST", &format!("/api/v1/loan-requests/{id}/approve"), &headers, b"");
        assert_eq!(first.status, 200, "{}", first.body);
        let first = first.json();
        assert_eq!(first["steps"][0]["status"], "approved");
        assert_eq!(first["steps"][0]["decided_by"], org.id("head"));
        assert_eq!(first["steps"][1]["status"], "pending");
        org.decide("head", &request, "approve", &json!({})).assert_problem(403, "not_your_step");

        org.decide("officer", &request, "reject", &json!({})).assert_problem(422, "validation_failed");
        let rejected = org.decide("officer", &request, "reject", &json!({"comment": "用途不明确"}));
        assert_eq!(rejected.status, 200, "{}", rejected.body);
        let rejected = rejected.json();
        assert_eq!(rejected["status"], "rejected");
        assert_eq!(rejected["steps"][1]["comment"], "用途不明确");
        assert_eq!(rejected["current_step"], Value::Null);
        org.decide("officer", &request, "approve", &json!({})).assert_problem(409, "request_not_pending");

        // Approving an approved request again.
        let approved = org.approve_all(org.request("borrower", &[&archive], "on_site", 7));
        org.decide("officer", &approved, "approve", &json!({})).assert_problem(409, "request_not_pending");

        // The approval task list: what waits for the caller, and nothing else.
        let waiting = org.request("borrower", &[&archive], "on_site", 7);
        let inbox = org.app.client.get("/api/v1/approvals", Some(&org.token("head"))).json();
        let ids: Vec<&Value> = inbox["items"].as_array().unwrap().iter().map(|t| &t["request"]["id"]).collect();
        assert_eq!(ids, [&waiting["id"]]);
        assert_eq!(org.app.client.get("/api/v1/approvals", Some(&org.token("officer"))).json()["items"], json!([]));

        let actions = org.actions("loan_request");
        assert_eq!(actions.iter().filter(|a| *a == "request.rejected").count(), 1);
    }

    fn self_approval_goes_up_the_tree(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "internal");
        // The head asks: their own step goes to the parent department's head, else to admin.
        let request = org.request("head", &[&archive], "on_site", 3);
        let first: Vec<&str> = request["steps"][0]["approver_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(first, [org.id("admin")]);
        org.decide("head", &request, "approve", &json!({})).assert_problem(403, "not_your_step");

        let parent = org.app.department(&org.admin, "HQ");
        let director = org.app.user(&org.admin, "director", &parent, &[], "top_secret");
        org.app.client.patch(&format!("/api/v1/departments/{parent}"), Some(&org.admin), None, &json!({"head_user_id": director["id"]}));
        org.app.client.patch(&format!("/api/v1/departments/{}", org.department), Some(&org.admin), None, &json!({"parent_id": parent}));
        let request = org.request("head", &[&archive], "on_site", 3);
        assert_eq!(request["steps"][0]["approver_ids"], json!([director["id"]]));
        let reply = org.decide("director", &request, "approve", &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    fn a_delegate_decides_inside_the_window_only(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "internal");
        let now = dangan_api::clock::Clock::now(&org.app.clock);
        let at = |d: Duration| (now + d).format(&time::format_description::well_known::Rfc3339).unwrap();
        let delegation = org.app.client.post("/api/v1/delegations", Some(&org.token("head")),
            &json!({"delegate_id": org.id("leader"), "starts_at": at(Duration::hours(1)), "ends_at": at(Duration::days(2))}));
        assert_eq!(delegation.status, 201, "{}", delegation.body);
        let request = org.request("borrower", &[&archive], "on_site", 3);

        // Before the window opens the request is none of the delegate's business: not found.
        org.decide("leader", &request, "approve", &json!({})).assert_problem(404, "not_found");
        org.app.clock.advance(Duration::hours(2));
        let inbox = org.app.client.get("/api/v1/approvals", Some(&org.token("leader"))).json();
        assert_eq!(inbox["items"][0]["on_behalf_of"], org.id("head"), "{inbox}");
        let approved = org.decide("leader", &request, "approve", &json!({"comment": "代批"}));
        assert_eq!(approved.status, 200, "{}", approved.body);
        let step = &approved.json()["steps"][0];
        assert_eq!(step["decided_by"], org.id("leader"));
        assert_eq!(step["on_behalf_of"], org.id("head"));

        // After it has closed.
        let later = org.request("borrower", &[&archive], "on_site", 3);
        org.app.clock.advance(Duration::days(3));
        org.decide("leader", &later, "approve", &json!({})).assert_problem(404, "not_found");
        let audit = org.app.client.get("/api/v1/audit-events?action=request.step_approved", Some(&org.token("admin"))).json();
        assert_eq!(audit["items"][0]["data"]["on_behalf_of"], org.id("head"));
    }

    fn check_out_needs_the_right_barcode_of_an_approved_request(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "public");
        org.archive("WS-2", "public");
        let pending = org.request("borrower", &[&archive], "on_site", 3);
        org.check_out("archivist", &pending, &barcode("WS-1")).assert_problem(409, "request_not_approved");
        let request = org.approve_all(pending);
        org.check_out("borrower", &request, &barcode("WS-1")).assert_problem(403, "forbidden");
        org.check_out("archivist", &request, &barcode("WS-2")).assert_problem(409, "barcode_mismatch");
        org.check_out("archivist", &request, "NO-SUCH-CODE").assert_problem(409, "barcode_mismatch");
        let loan = org.check_out("archivist", &request, &barcode("WS-1"));
        assert_eq!(loan.status, 201, "{}", loan.body);
        org.check_out("archivist", &request, &barcode("WS-1")).assert_problem(409, "already_checked_out");

        // Someone else's approved request for the archive while it is out.
        let second = org.approve_all(org.request("other", &[&archive], "on_site", 3));
        org.check_out("archivist", &second, &barcode("WS-1")).assert_problem(409, "archive_unavailable");
        // A withdrawn request is over; nothing out of it yet, so it may be withdrawn.
        let withdrawn = org.app.client.post(&format!("/api/v1/loan-requests/{}/withdraw", second["id"].as_str().unwrap()), Some(&org.token("other")), &json!({}));
        assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
        assert_eq!(withdrawn.json()["status"], "withdrawn");
        // The first borrower cannot withdraw: something of it is out.
        org.app.client.post(&format!("/api/v1/loan-requests/{}/withdraw", request["id"].as_str().unwrap()), Some(&org.token("borrower")), &json!({}))
            .assert_problem(409, "invalid_transition");
    }

    fn two_archivists_scanning_at_once_hand_over_once(store) {
        let org = org(store);
        for round in 0..3 {
            let code = format!("WS-{round}");
            let archive = org.archive(&code, "public");
            // Same request twice at once, and two requests for the same archive at once.
            let one = org.approve_all(org.request("borrower", &[&archive], "on_site", 3));
            let two = org.approve_all(org.request("other", &[&archive], "on_site", 3));
            let tokens = [org.token("archivist"), org.token("second")];
            let requests = if round == 0 { [one.clone(), one] } else { [one, two] };
            let barrier = std::sync::Barrier::new(2);
            let replies: Vec<Reply> = std::thread::scope(|s| {
                let handles: Vec<_> = tokens.iter().zip(&requests).map(|(token, request)| {
                    let barrier = &barrier;
                    let client = &org.app.client;
                    let body = json!({"request_id": request["id"], "barcode": barcode(&code)});
                    s.spawn(move || {
                        barrier.wait();
                        client.post("/api/v1/checkouts", Some(token), &body)
                    })
                }).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
            statuses.sort();
            assert_eq!(statuses, [201, 409], "round {round}: {:?}", replies.iter().map(|r| &r.body).collect::<Vec<_>>());
            let history = org.app.client.get(&format!("/api/v1/archives/{archive}/loans"), Some(&org.token("archivist"))).json();
            assert_eq!(history["items"].as_array().unwrap().len(), 1, "round {round}");
        }
    }

    fn loans_from_before_voucher_codes_get_theirs_at_the_next_start(store) {
        let org = org(store);
        let archivist = org.token("archivist");
        let mut codes = Vec::new();
        for n in 0..3 {
            let code = format!("VC-{n}");
            let archive = org.archive(&code, "internal");
            let request = org.approve_all(org.request("borrower", &[&archive], "take_out", 7));
            let loan = org.check_out("archivist", &request, &barcode(&code)).json();
            let id = loan["id"].as_str().unwrap().to_owned();
            let voucher = org.app.client.get(&format!("/api/v1/loans/{id}/voucher"), Some(&archivist)).json();
            codes.push((id, voucher["verification_code"].as_str().unwrap().to_owned()));
        }
        // As a store from before migration 000014 holds them.
        {
            use diesel::RunQueryDsl;
            let pool = dangan_persistence::db::connect(&org.app.store.url, 1).unwrap();
            let mut conn = pool.get().unwrap();
            diesel::sql_query("UPDATE loans SET verification_code = NULL").execute(&mut conn).unwrap();
        }
        org.app.client.get(&format!("/api/v1/vouchers/{}", codes[0].1), Some(&archivist)).assert_problem(404, "not_found");

        dangan_api::prepare(&dangan_tests::config_for(&org.app.store), std::sync::Arc::new(dangan_api::clock::SystemClock)).unwrap();
        for (id, code) in &codes {
            let found = org.app.client.get(&format!("/api/v1/vouchers/{code}"), Some(&archivist));
            assert_eq!(found.status, 200, "{code}: {}", found.body);
            assert_eq!(found.json()["loan_id"], id.as_str(), "the same code as before, keyed on the loan");
        }
    }

    fn a_printed_voucher_is_found_by_its_code_within_clearance(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "secret");
        let request = org.approve_all(org.request("borrower", &[&archive], "take_out", 7));
        let loan = org.check_out("archivist", &request, &barcode("WS-1")).json();
        let id = loan["id"].as_str().unwrap();
        let archivist = org.token("archivist");
        let voucher = org.app.client.get(&format!("/api/v1/loans/{id}/voucher"), Some(&archivist)).json();
        let code = voucher["verification_code"].as_str().unwrap().to_owned();

        for typed in [code.clone(), code.replace('-', "").to_lowercase()] {
            let found = org.app.client.get(&format!("/api/v1/vouchers/{typed}"), Some(&archivist));
            assert_eq!(found.status, 200, "{typed}: {}", found.body);
            let found = found.json();
            assert_eq!(found["loan_id"], id);
            assert_eq!(found["voucher_number"], voucher["voucher_number"]);
            assert_eq!(found["verification_code"], code.as_str());
        }
        let auditor = org.app.user(&org.admin, "auditor", &org.department, &["auditor"], "top_secret");
        assert_eq!(auditor["roles"], json!(["auditor"]));
        let auditor = org.app.login("auditor", PASSWORD);
        assert_eq!(org.app.client.get(&format!("/api/v1/vouchers/{code}"), Some(&auditor)).status, 200);

        // A forged code leads nowhere; so does the real one for staff below the archive.
        let last = if code.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &code[..code.len() - 1]);
        org.app.client.get(&format!("/api/v1/vouchers/{forged}"), Some(&archivist)).assert_problem(404, "not_found");
        org.app.client.get("/api/v1/vouchers/not-a-code", Some(&archivist)).assert_problem(404, "not_found");
        org.app.user(&org.admin, "junior", &org.department, &["archivist"], "internal");
        let junior = org.app.login("junior", PASSWORD);
        org.app.client.get(&format!("/api/v1/vouchers/{code}"), Some(&junior)).assert_problem(404, "not_found");
        // Borrowers, the loan's own included, read their vouchers by loan, not by code.
        org.app.client.get(&format!("/api/v1/vouchers/{code}"), Some(&org.token("borrower"))).assert_problem(403, "forbidden");
        org.app.client.get(&format!("/api/v1/vouchers/{code}"), None).assert_problem(401, "unauthorized");
    }

    fn the_receipt_is_signed_by_the_borrower_with_their_password(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "secret");
        let request = org.approve_all(org.request("borrower", &[&archive], "take_out", 7));
        let loan = org.check_out("archivist", &request, &barcode("WS-1")).json();

        org.loan_action("archivist", &loan, "sign", &json!({"password": PASSWORD})).assert_problem(403, "forbidden");
        org.loan_action("other", &loan, "sign", &json!({"password": PASSWORD})).assert_problem(404, "not_found");
        org.loan_action("borrower", &loan, "sign", &json!({"password": "wrong-password"})).assert_problem(403, "invalid_password");
        org.loan_action("borrower", &loan, "sign", &json!({})).assert_problem(422, "validation_failed");

        let unsigned = org.app.client.get(&format!("/api/v1/loans/{}/voucher", loan["id"].as_str().unwrap()), Some(&org.token("borrower"))).json();
        assert_eq!(unsigned["signature"], Value::Null);

        let signed = org.loan_action("borrower", &loan, "sign", &json!({"password": PASSWORD}));
        assert_eq!(signed.status, 200, "{}", signed.body);
        let signed = signed.json();
        assert_eq!(signed["signature"]["signed_by"], org.id("borrower"));
        assert_eq!(signed["signature"]["method"], "password");
        org.loan_action("borrower", &loan, "sign", &json!({"password": PASSWORD})).assert_problem(409, "invalid_transition");

        let id = loan["id"].as_str().unwrap();
        let voucher = org.app.client.get(&format!("/api/v1/loans/{id}/voucher"), Some(&org.token("borrower"))).json();
        assert_eq!(voucher["voucher_number"], format!("{}-01", request["number"].as_str().unwrap()));
        assert_eq!(voucher["borrower"]["username"], "borrower");
        assert_eq!(voucher["archive"]["archive_code"], "WS-1");
        assert_eq!(voucher["checked_out_by"]["username"], "archivist");
        let steps: Vec<&Value> = voucher["approvals"].as_array().unwrap().iter().map(|a| &a["decided_by"]).collect();
        assert_eq!(steps, [&json!(org.id("head")), &json!(org.id("officer"))]);
        // The digest is the SHA-256 of the canonical voucher: sorted keys, no white space.
        let mut canonical = voucher.clone();
        for key in ["signature", "verification_code", "status"] {
            canonical.as_object_mut().unwrap().remove(key);
        }
        let digest = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
        assert_eq!(voucher["signature"]["digest"], digest);
        assert_eq!(signed["signature"]["digest"], digest);
        // The printed code is keyed: not derivable from the (public) canonical voucher.
        let code = voucher["verification_code"].as_str().unwrap().to_owned();
        let unkeyed: String = digest[..16].to_uppercase().chars().collect::<Vec<_>>().chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-");
        assert_ne!(code, unkeyed);
        assert_eq!(unsigned["verification_code"], code.as_str(), "the same code before and after signing");
        assert!(code.len() == 19 && code.split('-').all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())), "{code}");

        let page = org.app.client.get_with(&format!("/api/v1/loans/{id}/voucher"), &[
            ("Authorization", &format!("Bearer {}", org.token("borrower"))), ("Accept", "text/html")]);
        assert_eq!(page.status, 200);
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        assert!(page.body.contains("<svg") && page.body.contains(&code), "a QR code and the code in print");
        assert!(page.body.contains("WS-1"));

        // A renewal does not alter what was signed.
        let renewed = org.loan_action("borrower", &loan, "renew", &json!({"days": 3}));
        assert_eq!(renewed.status, 202, "the secret policy wants renewals approved: {}", renewed.body);
        let renewal = renewed.json()["id"].as_str().unwrap().to_owned();
        let granted = org.app.client.post(&format!("/api/v1/loans/{id}/renewals/{renewal}/approve"), Some(&org.token("officer")), &json!({}));
        assert_eq!(granted.status, 200, "{}", granted.body);
        assert_ne!(granted.json()["due_at"], loan["due_at"], "the due date moved");
        let again = org.app.client.get(&format!("/api/v1/loans/{id}/voucher"), Some(&org.token("borrower"))).json();
        assert_eq!(again["signature"]["digest"], digest);
        assert_eq!(again["due_at"], loan["due_at"], "the voucher shows the due date signed for");
    }

    fn a_renewal_the_policy_wants_approved_waits_for_the_last_approver(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "secret");
        let request = org.approve_all(org.request("borrower", &[&archive], "take_out", 7));
        let loan = org.check_out("archivist", &request, &barcode("WS-1")).json();
        let pending = org.loan_action("borrower", &loan, "renew", &json!({"days": 3, "reason": "审计延期"}));
        assert_eq!(pending.status, 202, "{}", pending.body);
        let pending = pending.json();
        assert_eq!(pending["status"], "pending");
        org.loan_action("borrower", &loan, "renew", &json!({"days": 3})).assert_problem(409, "renewal_pending");
        let path = |verb: &str| format!("/api/v1/loans/{}/renewals/{}/{verb}", loan["id"].as_str().unwrap(), pending["id"].as_str().unwrap());

        // The secret chain ends with the security officer: the head (to whom the loan is none of
        // their business now) and the borrower may not decide.
        org.app.client.post(&path("approve"), Some(&org.token("head")), &json!({})).assert_problem(404, "not_found");
        org.app.client.post(&path("approve"), Some(&org.token("archivist")), &json!({})).assert_problem(403, "not_your_step");
        org.app.client.post(&path("approve"), Some(&org.token("borrower")), &json!({})).assert_problem(403, "not_your_step");
        org.app.client.post(&path("approve"), Some(&org.token("other")), &json!({})).assert_problem(404, "not_found");
        let granted = org.app.client.post(&path("approve"), Some(&org.token("officer")), &json!({}));
        assert_eq!(granted.status, 200, "{}", granted.body);
        let granted = granted.json();
        assert_eq!(granted["renewals"], 1);
        let before = time::OffsetDateTime::parse(loan["due_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        let after = time::OffsetDateTime::parse(granted["due_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(after - before, Duration::days(3));
        org.app.client.post(&path("reject"), Some(&org.token("officer")), &json!({})).assert_problem(409, "request_not_pending");
        // secret allows one renewal.
        org.loan_action("borrower", &loan, "renew", &json!({"days": 3})).assert_problem(409, "renewal_limit_reached");
        let actions = org.actions("loan");
        assert!(actions.contains(&"loan.renewal_requested".to_owned()) && actions.contains(&"loan.renewal_approved".to_owned()), "{actions:?}");
    }

    fn renewals_stay_within_the_policy(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "internal");
        let request = org.approve_all(org.request("borrower", &[&archive], "take_out", 10));
        let loan = org.check_out("archivist", &request, &barcode("WS-1")).json();
        org.loan_action("other", &loan, "renew", &json!({"days": 5})).assert_problem(404, "not_found");
        org.loan_action("archivist", &loan, "renew", &json!({"days": 5})).assert_problem(403, "forbidden");
        let problem = org.loan_action("borrower", &loan, "renew", &json!({"days": 31})).assert_problem(422, "validation_failed");
        assert!(problem["errors"]["days"].is_array());
        let renewed = org.loan_action("borrower", &loan, "renew", &json!({"days": 5, "reason": "审计延期"}));
        assert_eq!(renewed.status, 200, "{}", renewed.body);
        let renewed = renewed.json();
        assert_eq!(renewed["renewals"], 1);
        let before = time::OffsetDateTime::parse(loan["due_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        let after = time::OffsetDateTime::parse(renewed["due_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(after - before, Duration::days(5));
        // internal allows one renewal.
        org.loan_action("borrower", &loan, "renew", &json!({"days": 5})).assert_problem(409, "renewal_limit_reached");

        // Someone waiting for the archive stops a renewal.
        let public = org.archive("WS-2", "public");
        let mine = org.approve_all(org.request("borrower", &[&public], "take_out", 10));
        let out = org.check_out("archivist", &mine, &barcode("WS-2")).json();
        org.request("other", &[&public], "take_out", 3);
        org.loan_action("borrower", &out, "renew", &json!({"days": 5})).assert_problem(409, "archive_requested");

        // Overdue: blocked from renewing and from asking, until it is back.
        org.app.clock.advance(Duration::days(16));
        let listed = org.app.client.get("/api/v1/loans?overdue=true", Some(&org.token("borrower"))).json();
        let overdue: Vec<&Value> = listed["items"].as_array().unwrap().iter().map(|l| &l["id"]).collect();
        assert_eq!(overdue.len(), 2, "{listed}");
        let one = org.app.client.get(&format!("/api/v1/loans/{}", out["id"].as_str().unwrap()), Some(&org.token("borrower"))).json();
        assert_eq!(one["overdue"], true);
        assert_eq!(one["days_overdue"], 6);
        org.loan_action("borrower", &out, "renew", &json!({"days": 1})).assert_problem(403, "borrower_blocked");
        let me = org.app.client.get("/api/v1/me", Some(&org.token("borrower"))).json();
        assert_eq!(me["blocked"], true, "{me}");
        assert!(me["blocked_reason"].is_string());
        let other_archive = org.archive("WS-3", "public");
        org.ask("borrower", &[&other_archive], "on_site", 1).assert_problem(403, "borrower_blocked");
        assert_eq!(org.give_back(&barcode("WS-1"), "intact").status, 200);
        assert_eq!(org.give_back(&barcode("WS-2"), "intact").status, 200);
        assert_eq!(org.ask("borrower", &[&other_archive], "on_site", 1).status, 201, "unblocked once returned");
        assert_eq!(org.app.client.get("/api/v1/me", Some(&org.token("borrower"))).json()["blocked"], false);
    }

    fn returns_are_inspected_and_signed_off(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "secret");
        let request = org.approve_all(org.request("borrower", &[&archive], "on_site", 7));
        let loan = org.check_out("archivist", &request, &barcode("WS-1")).json();
        org.give_back("NO-SUCH-CODE", "intact").assert_problem(404, "no_open_loan");
        org.app.client.post("/api/v1/returns", Some(&org.token("borrower")), &json!({"barcode": barcode("WS-1"), "condition": "intact"}))
            .assert_problem(403, "forbidden");
        org.app.client.post("/api/v1/returns", Some(&org.token("archivist")), &json!({"barcode": barcode("WS-1"), "condition": "wet"}))
            .assert_problem(422, "validation_failed");

        let back = org.give_back(&barcode("WS-1"), "damaged");
        assert_eq!(back.status, 200, "{}", back.body);
        let back = back.json();
        assert_eq!(back["status"], "return_pending");
        assert_eq!(back["condition"], "damaged");
        assert_eq!(org.archive_status(&archive), "damaged", "a damaged archive goes to repair at once");
        org.give_back(&barcode("WS-1"), "intact").assert_problem(404, "no_open_loan");

        // The inspector may not give the second sign-off; the borrower needs their password.
        org.loan_action("archivist", &loan, "confirm-return", &json!({})).assert_problem(403, "forbidden");
        org.loan_action("borrower", &loan, "confirm-return", &json!({})).assert_problem(422, "validation_failed");
        org.loan_action("borrower", &loan, "confirm-return", &json!({"password": "nope-nope"})).assert_problem(403, "invalid_password");
        let confirmed = org.loan_action("borrower", &loan, "confirm-return", &json!({"password": PASSWORD}));
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        assert_eq!(confirmed.json()["confirmed_by"], org.id("borrower"));
        assert_eq!(org.archive_status(&archive), "damaged");
        org.ask("borrower", &[&archive], "on_site", 1).assert_problem(409, "archive_unavailable");
        let returned = org.actions("loan");
        assert!(returned.contains(&"loan.returned".to_owned()));
        let audit = org.app.client.get("/api/v1/audit-events?action=loan.returned", Some(&org.admin)).json();
        assert!(audit["items"][0]["data"]["incident_id"].is_string(), "an incident was opened");

        // Lost.
        let public = org.archive("WS-2", "public");
        let request = org.approve_all(org.request("borrower", &[&public], "take_out", 7));
        let loan = org.check_out("archivist", &request, &barcode("WS-2")).json();
        org.loan_action("borrower", &loan, "report-lost", &json!({})).assert_problem(403, "forbidden");
        let lost = org.loan_action("archivist", &loan, "report-lost", &json!({"notes": "借阅人报告遗失"}));
        assert_eq!(lost.status, 200, "{}", lost.body);
        assert_eq!(lost.json()["status"], "lost");
        assert_eq!(org.archive_status(&public), "lost");
        org.loan_action("archivist", &loan, "report-lost", &json!({})).assert_problem(409, "invalid_transition");
    }

    fn the_waiting_line_reserves_and_lapses(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "public");
        let first = org.approve_all(org.request("borrower", &[&archive], "take_out", 5));
        assert_eq!(org.check_out("archivist", &first, &barcode("WS-1")).status, 201);
        // Two more wait for it, approved in this order.
        let second = org.approve_all(org.request("other", &[&archive], "take_out", 5));
        let third = org.approve_all(org.request("head", &[&archive], "take_out", 5));

        assert_eq!(org.give_back(&barcode("WS-1"), "intact").json()["status"], "returned");
        assert_eq!(org.archive_status(&archive), "reserved");
        let read = |request: &Value, who: &str| org.app.client.get(&format!("/api/v1/loan-requests/{}", request["id"].as_str().unwrap()), Some(&org.token(who))).json();
        let item = &read(&second, "other")["items"][0];
        assert_eq!(item["status"], "reserved");
        assert!(item["reserved_until"].is_string());
        // Only the first in line may take it now.
        org.check_out("archivist", &third, &barcode("WS-1")).assert_problem(409, "archive_unavailable");

        // Not picked up within pickup_days (7): it lapses and passes to the next in line.
        org.app.clock.advance(Duration::days(8));
        let loan = org.check_out("archivist", &third, &barcode("WS-1"));
        assert_eq!(loan.status, 201, "{}", loan.body);
        assert_eq!(read(&second, "other")["status"], "expired");
        assert_eq!(read(&second, "other")["items"][0]["status"], "expired");
        org.check_out("archivist", &second, &barcode("WS-1")).assert_problem(409, "request_not_approved");
    }

    fn borrowers_see_their_own_and_approvers_what_they_act_on(store) {
        let org = org(store);
        let archive = org.archive("WS-1", "internal");
        let mine = org.approve_all(org.request("borrower", &[&archive], "on_site", 3));
        let loan = org.check_out("archivist", &mine, &barcode("WS-1")).json();
        let theirs = org.request("other", &[&org.archive("WS-2", "public")], "on_site", 3);

        let other = org.token("other");
        org.app.client.get(&format!("/api/v1/loan-requests/{}", mine["id"].as_str().unwrap()), Some(&other)).assert_problem(404, "not_found");
        org.app.client.get(&format!("/api/v1/loans/{}", loan["id"].as_str().unwrap()), Some(&other)).assert_problem(404, "not_found");
        org.app.client.get(&format!("/api/v1/loans/{}/voucher", loan["id"].as_str().unwrap()), Some(&other)).assert_problem(404, "not_found");
        let listed = org.app.client.get("/api/v1/loan-requests", Some(&other)).json();
        let ids: Vec<&Value> = listed["items"].as_array().unwrap().iter().map(|r| &r["id"]).collect();
        assert_eq!(ids, [&theirs["id"]]);
        assert_eq!(org.app.client.get("/api/v1/loans", Some(&other)).json()["items"], json!([]));
        assert_eq!(org.app.client.get("/api/v1/loans", Some(&org.token("borrower"))).json()["items"].as_array().unwrap().len(), 1);

        // The head decided the borrower's request; the public one asks only the archivists.
        let head = org.app.client.get("/api/v1/loan-requests", Some(&org.token("head"))).json();
        let ids: Vec<&Value> = head["items"].as_array().unwrap().iter().map(|r| &r["id"]).collect();
        assert_eq!(ids, [&mine["id"]]);
        org.app.client.get(&format!("/api/v1/loan-requests/{}", theirs["id"].as_str().unwrap()), Some(&org.token("head"))).assert_problem(404, "not_found");
        // Archivists see every request; filters apply.
        let all = org.app.client.get("/api/v1/loan-requests?status=pending", Some(&org.token("archivist"))).json();
        let ids: Vec<&Value> = all["items"].as_array().unwrap().iter().map(|r| &r["id"]).collect();
        assert_eq!(ids, [&theirs["id"]]);
        let by_borrower = org.app.client.get(&format!("/api/v1/loan-requests?borrower_id={}", org.id("borrower")), Some(&org.token("archivist"))).json();
        assert_eq!(by_borrower["items"].as_array().unwrap().len(), 1);

        // Loan history of an archive: archivists, admins and auditors only.
        org.app.client.get(&format!("/api/v1/archives/{archive}/loans"), Some(&org.token("borrower"))).assert_problem(403, "forbidden");
        let history = org.app.client.get(&format!("/api/v1/archives/{archive}/loans"), Some(&org.token("archivist"))).json();
        assert_eq!(history["items"][0]["id"], loan["id"]);

        // Deactivating a borrower lists what they still have out.
        let deactivated = org.app.client.post(&format!("/api/v1/users/{}/deactivate", org.id("borrower")), Some(&org.token("admin")), &json!({}));
        assert_eq!(deactivated.status, 200, "{}", deactivated.body);
        let open: Vec<Value> = deactivated.json()["open_loans"].as_array().unwrap().iter().map(|l| l["id"].clone()).collect();
        assert_eq!(open, [loan["id"].clone()]);
    }
}
