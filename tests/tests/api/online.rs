//! Online loans: an approved request for electronic archives opens loans at once (or when the
//! approver said), read by the borrower only — each PDF a copy marked for them on every page,
//! each copy recorded and audited with its digest — until the loan ends by its due date, a give
//! back, a revocation, the borrower's deactivation or a lowered clearance; never overdue.

use dangan_api::scheduler;
use dangan_tests::{archive_body, both_stores, Reply};
use lopdf::{dictionary, Document, Object, Stream};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::Duration;

use crate::files::{multipart, upload};
use crate::org::{org, Org};

/// A real PDF of `pages` pages whose text names each page; its resources are inherited from
/// the page tree, as many scanners write them.
pub(crate) fn pdf(pages: usize) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let mut kids = Vec::new();
    for n in 1..=pages {
        let text = format!("BT /F1 24 Tf 72 700 Td (Original page {n}) Tj ET");
        let contents = doc.add_object(Stream::new(dictionary! {}, text.into_bytes()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => contents,
        });
        kids.push(Object::Reference(page));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => pages as i64,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-really-an-image-but-png-bytes";

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The text of every page of `pdf`, as a PDF reader nobody here wrote (poppler's `pdftotext`)
/// extracts it, or `None` when it is not installed (and not required).
pub(crate) fn pdftotext(pdf: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("dangan-pdf-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("copy.pdf");
    std::fs::write(&path, pdf).unwrap();
    let run = std::process::Command::new("pdftotext")
        .args(["-raw", path.to_str().unwrap(), "-"])
        .output();
    std::fs::remove_dir_all(&dir).ok();
    match run {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(_) => {
            dangan_tests::skip_or_fail("pdftotext (poppler-utils)");
            None
        }
    }
}

pub(crate) struct Shelf {
    pub(crate) org: Org,
    pub(crate) archive: String,
    pub(crate) pdf: Vec<u8>,
    pub(crate) pdf_id: String,
    pub(crate) png_id: String,
}

/// An electronic archive of `classification` holding a 3-page PDF and a PNG.
fn electronic(org: &Org, code: &str, classification: &str) -> (String, String, String) {
    let admin = org.token("admin");
    let mut body = archive_body(code, classification);
    body["medium"] = json!("electronic");
    let archive = org.app.archive(&admin, &body)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let archivist = org.token("archivist");
    let mut ids = Vec::new();
    for (name, kind, bytes) in [
        ("合同.pdf", "application/pdf", pdf(3)),
        ("photo.png", "image/png", PNG.to_vec()),
    ] {
        let reply = upload(
            &org.app,
            &archivist,
            &archive,
            &multipart(name, kind, &bytes),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    (archive, ids[0].clone(), ids[1].clone())
}

/// Lets online loans of `classification` hand out files they cannot mark as stored (an
/// admin's change to its default policy).
pub(crate) fn allow_unmarked(org: &Org, classification: &str) {
    let admin = org.token("admin");
    let policies = org.app.client.get("/api/v1/policies", Some(&admin)).json();
    let policy = policies["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == format!("{classification} default").as_str())
        .unwrap()
        .clone();
    let mut changed = policy.clone();
    changed["unmarked_copies"] = json!(true);
    for server_kept in ["id", "created_at", "updated_at", "version"] {
        changed.as_object_mut().unwrap().remove(server_kept);
    }
    let reply = org.app.client.send_json(
        "PUT",
        &format!("/api/v1/policies/{}", policy["id"].as_str().unwrap()),
        &admin,
        Some(&format!("\"{}\"", policy["version"])),
        &changed,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// An internal electronic archive (a PDF and a PNG) whose policy lets the PNG go out as stored.
pub(crate) fn shelf(store: dangan_tests::TestStore) -> Shelf {
    let org = org(store);
    allow_unmarked(&org, "internal");
    let (archive, pdf_id, png_id) = electronic(&org, "EL-1", "internal");
    Shelf {
        org,
        archive,
        pdf: pdf(3),
        pdf_id,
        png_id,
    }
}

pub(crate) fn read(org: &Org, who: &str, loan: &str, file: &str) -> Reply {
    org.app.client.get(
        &format!("/api/v1/loans/{loan}/files/{file}"),
        Some(&org.token(who)),
    )
}

fn loan(org: &Org, id: &str) -> Value {
    let reply = org.app.client.get(
        &format!("/api/v1/loans/{id}"),
        Some(&org.token("archivist")),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// An online request by `who` for `archives`, approved through; returns the request.
pub(crate) fn lend(org: &Org, who: &str, archives: &[&str], days: i64) -> Value {
    let mut request = org.request(who, archives, "online", days);
    while request["status"] == "pending" {
        let approver = org.current_approver(&request);
        let reply = org.decide(&approver, &request, "approve", &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        request = reply.json();
    }
    assert_eq!(request["status"], "fulfilled", "{request}");
    request
}

pub(crate) fn loan_ids(request: &Value) -> Vec<String> {
    request["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["loan_id"].as_str().expect("a loan per item").to_owned())
        .collect()
}

fn events(org: &Org, action: &str) -> Vec<Value> {
    let reply = org.app.client.get(
        &format!("/api/v1/audit-events?action={action}"),
        Some(&org.token("admin")),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["items"].as_array().unwrap().clone()
}

/// Asserts a 422 whose errors name `field` with a message containing `words`.
fn assert_field_error(reply: &Reply, field: &str, words: &str) {
    let problem = reply.assert_problem(422, "validation_failed");
    let messages = problem["errors"][field]
        .as_array()
        .unwrap_or_else(|| panic!("{problem}"));
    assert!(
        messages.iter().any(|m| m.as_str().unwrap().contains(words)),
        "{problem}"
    );
}

both_stores! {
    fn an_online_loan_hands_out_marked_copies_to_its_borrower_until_its_due_date(store) {
        let Shelf { org, archive, pdf, pdf_id, png_id } = shelf(store);
        let app = &org.app;

        // Only electronic archives with a file are lent online.
        let paper = org.archive("PA-1", "internal");
        assert_field_error(&org.ask("borrower", &[&paper], "online", 7), "loan_type", "paper only");
        let mut empty = archive_body("EL-0", "internal");
        empty["medium"] = json!("mixed");
        let empty = app.archive(&org.token("admin"), &empty)["id"].as_str().unwrap().to_owned();
        assert_field_error(&org.ask("borrower", &[&empty], "online", 7), "loan_type", "no electronic file");

        // Before approval there is no loan to read through.
        let request = org.request("borrower", &[&archive], "online", 7);
        assert!(request["items"][0]["loan_id"].is_null());
        let request_id = request["id"].as_str().unwrap();
        read(&org, "borrower", request_id, &pdf_id).assert_problem(404, "not_found");

        // The last approval opens the loan at once: active, no barcode, the paper untouched.
        let request = lend(&org, "borrower", &[&archive], 7);
        assert_eq!(request["status"], "fulfilled", "{request}");
        let loan_id = loan_ids(&request).remove(0);
        let opened = loan(&org, &loan_id);
        assert_eq!((opened["kind"].as_str(), opened["status"].as_str()), (Some("online"), Some("active")));
        assert!(opened["end_reason"].is_null());
        assert_eq!(org.archive_status(&archive), "available");
        assert_eq!(events(&org, "loan.opened").len(), 1);

        // The borrower reads a copy marked for them on every page, written whole.
        let first = read(&org, "borrower", &loan_id, &pdf_id);
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.header("content-type"), Some("application/pdf"));
        let copy = first.bytes.clone();
        assert!(!copy.starts_with(&pdf[..pdf.len() - 8]), "not an update appended to the original");
        assert_eq!(copy.windows(5).filter(|w| w == b"%%EOF").count(), 1, "one revision");
        let digest = sha256(&copy);
        let expected = format!("sha-256=:{}:", base64_of(&Sha256::digest(&copy)));
        assert_eq!(first.header("repr-digest"), Some(expected.as_str()));
        let number = format!("{}-01", request["number"].as_str().unwrap());
        let borrower_id = org.id("borrower");
        let marked = Document::load_mem(&copy).unwrap();
        assert_eq!(marked.get_pages().len(), 3);
        for (n, page) in marked.get_pages() {
            let text = String::from_utf8_lossy(&marked.get_page_content(page)).into_owned();
            assert!(text.contains(&format!("Original page {n}")), "{text}");
            assert!(text.contains("lent to borrower") && text.contains(&borrower_id), "page {n}: {text}");
            assert!(text.contains(&number), "page {n}: {text}");
            let fonts = marked.get_page_fonts(page).unwrap();
            assert!(fonts.contains_key(b"F1".as_slice()), "the page keeps its own font");
        }
        if let Some(text) = pdftotext(&copy) {
            assert_eq!(text.matches("lent to borrower").count(), 3, "{text}");
            assert_eq!(text.matches(number.as_str()).count(), 6, "foot line and banner on 3 pages: {text}");
            assert_eq!(text.matches("Original page").count(), 3, "{text}");
        }

        // Read again within the minute, the same copy is handed again (a viewer reopening it,
        // four tabs at once), audited as read again; after it, each copy is its own, recorded
        // and audited with its digest; a copy found outside is traced back to the loan and
        // borrower.
        let again = read(&org, "borrower", &loan_id, &pdf_id);
        assert_eq!(sha256(&again.bytes), digest, "the same copy within the minute");
        app.clock.advance(Duration::seconds(61));
        let second = read(&org, "borrower", &loan_id, &pdf_id);
        assert_eq!(second.status, 200);
        assert_ne!(sha256(&second.bytes), digest, "every copy differs");
        let image = read(&org, "borrower", &loan_id, &png_id);
        assert_eq!((image.status, image.bytes.as_slice()), (200, PNG));
        let copies = app.client.get(&format!("/api/v1/loans/{loan_id}/copies"), Some(&org.token("archivist"))).json();
        let copies = copies["items"].as_array().unwrap();
        assert_eq!(copies.len(), 3);
        assert_eq!((copies[0]["sha256"].as_str(), copies[0]["marked"].as_bool()), (Some(digest.as_str()), Some(true)));
        assert_eq!(copies[0]["size_bytes"], json!(copy.len()));
        assert_eq!((copies[2]["sha256"].as_str(), copies[2]["marked"].as_bool()), (Some(sha256(PNG).as_str()), Some(false)));
        let voucher = app.client.get(&format!("/api/v1/loans/{loan_id}/voucher"), Some(&org.token("borrower"))).json();
        assert_eq!((voucher["loan_type"].as_str(), voucher["copies"][0]["sha256"].as_str()), (Some("online"), Some(digest.as_str())));
        let bearer = format!("Bearer {}", org.token("borrower"));
        let page = app.client.get_with(&format!("/api/v1/loans/{loan_id}/voucher"), &[("Authorization", &bearer), ("Accept", "text/html")]);
        assert!(page.body.contains(&digest), "the printed voucher lists the copies");
        let reads = events(&org, "loan.file_read");
        assert_eq!(reads.len(), 4);
        assert_eq!(reads.iter().filter(|e| e["data"]["copy"]["again"] == true).count(), 1);
        let audited = reads.iter().find(|e| e["data"]["copy"]["sha256"] == digest.as_str() && e["data"]["copy"]["again"] == false).expect("audited");
        assert_eq!(audited["actor_id"].as_str(), Some(borrower_id.as_str()));
        assert_eq!(audited["data"]["file"]["id"].as_str(), Some(pdf_id.as_str()));
        assert_eq!(audited["data"]["bytes"], json!(copy.len()));
        let traced = app.client.get(&format!("/api/v1/loan-copies/{digest}"), Some(&org.token("archivist")));
        assert_eq!(traced.status, 200, "{}", traced.body);
        let traced = traced.json();
        assert_eq!(traced["items"][0]["loan"]["borrower_id"].as_str(), Some(borrower_id.as_str()));
        assert_eq!(traced["items"][0]["copy"]["loan_id"].as_str(), Some(loan_id.as_str()));
        app.client.get(&format!("/api/v1/loan-copies/{digest}"), Some(&org.token("borrower")))
            .assert_problem(403, "forbidden");
        app.client.get("/api/v1/loan-copies/not-a-digest", Some(&org.token("archivist")))
            .assert_problem(422, "validation_failed");

        // Nobody else reads through the loan: not another borrower, not an archivist.
        read(&org, "other", &loan_id, &pdf_id).assert_problem(404, "not_found");
        read(&org, "archivist", &loan_id, &pdf_id).assert_problem(404, "not_found");
        // Two people may hold online loans of one archive at once.
        let theirs = lend(&org, "other", &[&archive], 7);
        let their_loan = loan_ids(&theirs).remove(0);
        assert_eq!(read(&org, "other", &their_loan, &png_id).status, 200);

        // At the due date reading ends, before any scheduler runs; the loan is never overdue.
        app.clock.advance(Duration::days(7) - Duration::seconds(62));
        assert_eq!(read(&org, "borrower", &loan_id, &png_id).status, 200);
        app.clock.advance(Duration::seconds(1));
        read(&org, "borrower", &loan_id, &pdf_id).assert_problem(410, "loan_ended");
        app.clock.advance(Duration::days(2));
        let late = loan(&org, &loan_id);
        assert_eq!((late["status"].as_str(), late["overdue"].as_bool()), (Some("active"), Some(false)));
        let overdue = app.client.get("/api/v1/loans?overdue=true", Some(&org.token("archivist"))).json();
        assert_eq!(overdue["items"].as_array().unwrap().len(), 0);
        assert_eq!(org.ask("borrower", &[&archive], "online", 7).status, 201, "an online loan never blocks its borrower");
        let summary = app.client.get("/api/v1/reports/summary", Some(&org.token("archivist"))).json();
        assert_eq!(summary["overdue_now"], 0, "past due, still active, not overdue: {summary}");
        let overdue_report = app.client.get("/api/v1/reports/overdue", Some(&org.token("archivist"))).json();
        assert_eq!(overdue_report["items"].as_array().map(Vec::len), Some(0), "{overdue_report}");
        let run = scheduler::run_once(&app.state).unwrap();
        assert_eq!(run.expired_online_loans, 2);
        let about_loans = events(&org, "reminder.sent").into_iter().filter(|e| e["entity_type"] == "loan").count();
        assert_eq!(about_loans, 0, "no reminder of a loan whose reading has ended");
        let ended = loan(&org, &loan_id);
        assert_eq!((ended["status"].as_str(), ended["end_reason"].as_str()), (Some("returned"), Some("expired")));
        assert_eq!(ended["returned_at"], opened["due_at"], "it ended at its due date");
        read(&org, "borrower", &loan_id, &pdf_id).assert_problem(410, "loan_ended");
        let closed = app.client.get(&format!("/api/v1/loan-requests/{}", request["id"].as_str().unwrap()), Some(&org.token("borrower"))).json();
        assert_eq!(closed["status"], "closed");
        assert_eq!(events(&org, "loan.expired").len(), 2);
    }

    fn an_online_loan_ends_at_once_on_give_back_revocation_deactivation_or_lowered_clearance(store) {
        let org = org(store);
        let app = &org.app;
        let (archive, pdf_id, _) = electronic(&org, "EL-2", "internal");
        let (secret, secret_pdf, _) = electronic(&org, "EL-S", "secret");

        // Given back by its borrower, and only by them.
        let request = lend(&org, "borrower", &[&archive, &secret], 7);
        let loans = loan_ids(&request);
        let (given, revoked) = (json!({"id": loans[0]}), json!({"id": loans[1]}));
        org.loan_action("other", &given, "give-back", &json!({})).assert_problem(404, "not_found");
        org.loan_action("archivist", &given, "give-back", &json!({})).assert_problem(403, "forbidden");
        let reply = org.loan_action("borrower", &given, "give-back", &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["end_reason"], "returned");
        read(&org, "borrower", &loans[0], &pdf_id).assert_problem(410, "loan_ended");
        org.loan_action("borrower", &given, "give-back", &json!({})).assert_problem(409, "invalid_transition");

        // Revoked by an archivist who says why; not by the borrower.
        assert_eq!(read(&org, "borrower", &loans[1], &secret_pdf).status, 200);
        org.loan_action("borrower", &revoked, "revoke", &json!({"reason": "x"})).assert_problem(403, "forbidden");
        org.loan_action("archivist", &revoked, "revoke", &json!({"reason": " "})).assert_problem(422, "validation_failed");
        let reply = org.loan_action("archivist", &revoked, "revoke", &json!({"reason": "用途已变更"}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!((reply.json()["end_reason"].as_str(), reply.json()["return_notes"].as_str()), (Some("revoked"), Some("用途已变更")));
        read(&org, "borrower", &loans[1], &secret_pdf).assert_problem(410, "loan_ended");
        assert_eq!(events(&org, "loan.revoked")[0]["data"]["notes"], "用途已变更");

        // A paper loan is not revoked or given back online, and online loans leave the archive
        // free for one.
        let mut mixed = archive_body("MX-1", "internal");
        mixed["medium"] = json!("mixed");
        let mixed = app.archive(&org.token("admin"), &mixed)["id"].as_str().unwrap().to_owned();
        let archivist = org.token("archivist");
        let reply = upload(app, &archivist, &mixed, &multipart("scan.pdf", "application/pdf", &pdf(1)));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let scan = reply.json()["id"].as_str().unwrap().to_owned();
        let online = lend(&org, "borrower", &[&mixed], 7);
        let paper = org.approve_all(org.request("other", &[&mixed], "take_out", 7));
        let paper_loan = org.check_out("archivist", &paper, "BC-MX-1");
        assert_eq!(paper_loan.status, 201, "{}", paper_loan.body);
        let paper_loan = paper_loan.json();
        org.loan_action("archivist", &paper_loan, "revoke", &json!({"reason": "x"})).assert_problem(409, "invalid_transition");
        org.loan_action("other", &paper_loan, "give-back", &json!({})).assert_problem(409, "invalid_transition");
        read(&org, "other", paper_loan["id"].as_str().unwrap(), &pdf_id).assert_problem(404, "not_found");
        let online_loan = loan_ids(&online).remove(0);

        // Opening later, at the time the last approver set.
        let opens_at = "2026-12-10T01:00:00Z";
        let later = org.request("other", &[&archive], "online", 3);
        let head = org.current_approver(&later);
        assert_field_error(&org.decide(&head, &later, "approve", &json!({"opens_at": opens_at})), "opens_at", "last step");
        let later = org.decide(&head, &later, "approve", &json!({})).json();
        let keeper = org.current_approver(&later);
        assert_field_error(&org.decide(&keeper, &later, "approve", &json!({"opens_at": "2020-01-01T00:00:00Z"})), "opens_at", "past");
        let reply = org.decide(&keeper, &later, "approve", &json!({"opens_at": opens_at}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let later = org.app.client.get(&format!("/api/v1/loan-requests/{}", later["id"].as_str().unwrap()), Some(&org.token("other"))).json();
        let later_loan = loan_ids(&later).remove(0);
        let opening = loan(&org, &later_loan);
        assert_eq!(opening["checked_out_at"], opens_at);
        assert_eq!(opening["due_at"], "2026-12-13T01:00:00Z");
        let early = read(&org, "other", &later_loan, &pdf_id);
        early.assert_problem(409, "loan_not_open");
        assert!(early.json()["detail"].as_str().unwrap().contains(opens_at), "{}", early.body);

        // Deactivation ends the borrower's online loans for good: reactivated, they stay ended.
        let other_id = org.id("other");
        let reply = app.client.post(&format!("/api/v1/users/{other_id}/deactivate"), Some(&org.token("admin")), &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let ended = loan(&org, &later_loan);
        assert_eq!((ended["status"].as_str(), ended["end_reason"].as_str()), (Some("returned"), Some("deactivated")));
        assert_eq!(loan(&org, paper_loan["id"].as_str().unwrap())["status"], "checked_out", "the paper is still to be handed back");
        reactivate(&org, &other_id);
        read(&org, "other", &later_loan, &pdf_id).assert_problem(410, "loan_ended");

        // A lowered clearance ends the loans of archives above it at once (404: the archive is
        // out of sight), and raising it again does not bring them back (410).
        let secret_loan = loan_ids(&lend(&org, "borrower", &[&secret], 7)).remove(0);
        assert_eq!(read(&org, "borrower", &secret_loan, &secret_pdf).status, 200);
        set_clearance(&org, "borrower", "internal");
        read(&org, "borrower", &secret_loan, &secret_pdf).assert_problem(404, "not_found");
        assert_eq!(loan(&org, &secret_loan)["end_reason"], "clearance_lowered");
        assert_eq!(read(&org, "borrower", &online_loan, &scan).status, 200, "an internal archive's loan goes on");
        set_clearance(&org, "borrower", "top_secret");
        read(&org, "borrower", &secret_loan, &secret_pdf).assert_problem(410, "loan_ended");
        let ended = events(&org, "loan.ended");
        assert_eq!(ended.len(), 2, "{ended:?}");

        // Nor does a loan open for a borrower no longer cleared when the last approval comes.
        let pending = org.request("borrower", &[&secret], "online", 7);
        let pending = org.decide(&org.current_approver(&pending), &pending, "approve", &json!({})).json();
        set_clearance(&org, "borrower", "internal");
        org.decide(&org.current_approver(&pending), &pending, "approve", &json!({}))
            .assert_problem(403, "borrower_not_cleared");
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn set_clearance(org: &Org, who: &str, clearance: &str) {
    let reply = org.app.client.patch(
        &format!("/api/v1/users/{}", org.id(who)),
        Some(&org.token("admin")),
        None,
        &json!({"clearance": clearance}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Active again: an admin enables them.
fn reactivate(org: &Org, id: &str) {
    let reply = org.app.client.post(
        &format!("/api/v1/users/{id}/activate"),
        Some(&org.token("admin")),
        &json!({}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}
