//! The trust boundary of copies lent online (issue 26), attacked as a borrower who wants an
//! untraceable original would, under the OWASP API Security Top 10 (2023) categories: API6
//! (the sensitive flow of lending a file: a mark that comes off, a copy that no longer leads
//! back, a PDF that slips through unmarked) and API4 (a small file that makes the marker unpack
//! gigabytes).

use dangan_tests::{both_stores, pdf::object_stream_bomb, Reply};
use serde_json::{json, Value};

use crate::{
    files::{multipart, upload},
    online::{lend, loan_ids, pdf, pdftotext, read, sha256, shelf, Shelf},
    org::Org,
};

/// The copies a suspected leak's pages name, asked by `who`.
fn identify(org: &Org, who: &str, bytes: &[u8]) -> Reply {
    org.app.client.raw(
        "POST",
        "/api/v1/loan-copies/identify",
        &[
            ("Authorization".into(), format!("Bearer {}", org.token(who))),
            (
                "Content-Type".into(),
                "multipart/form-data; boundary=XBOUNDARYX".into(),
            ),
        ],
        &multipart("found.pdf", "application/pdf", bytes),
    )
}

/// `pdf` re-saved by qpdf (a PDF tool nobody here wrote) with `args`, or `None` when it is not
/// installed (and not required).
fn qpdf(pdf: &[u8], args: &[&str]) -> Option<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("dangan-qpdf-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.pdf"), dir.join("out.pdf"));
    std::fs::write(&input, pdf).unwrap();
    let run = std::process::Command::new("qpdf")
        .args(args)
        .arg(&input)
        .arg(&output)
        .output();
    let saved = match run {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(std::fs::read(&output).unwrap())
        }
        Err(_) => {
            dangan_tests::skip_or_fail("qpdf");
            None
        }
    };
    std::fs::remove_dir_all(&dir).ok();
    saved
}

/// The text a PDF reader gets from `bytes`, or `None` where it cannot read them at all.
fn readable_text(bytes: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("dangan-cut-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.pdf");
    std::fs::write(&path, bytes).unwrap();
    let run = std::process::Command::new("pdftotext")
        .args(["-raw", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    std::fs::remove_dir_all(&dir).ok();
    run.status
        .success()
        .then(|| String::from_utf8_lossy(&run.stdout).into_owned())
}

fn copy_id_of(org: &Org, loan: &str) -> Value {
    let copies = org.app.client.get(
        &format!("/api/v1/loans/{loan}/copies"),
        Some(&org.token("archivist")),
    );
    copies.json()["items"][0]["id"].clone()
}

both_stores! {
    // API6: a copy is written whole, one revision: cut at the original's length or at any
    // `%%EOF`, it is not the original, and whatever a reader still makes of it carries the mark.
    // A borrower is not shown the original's digest or size to check a cut against.
    fn api6_a_marked_copy_cannot_be_cut_back_to_the_original(store) {
        let Shelf { org, archive, pdf, pdf_id, .. } = shelf(store);
        let loan = loan_ids(&lend(&org, "borrower", &[&archive], 7)).remove(0);
        let copy = read(&org, "borrower", &loan, &pdf_id).bytes;
        assert!(pdftotext(&copy).is_some_and(|t| t.matches("lent to borrower").count() == 3));
        let mut cuts = vec![pdf.len()];
        cuts.extend(copy.windows(5).enumerate().filter(|(_, w)| *w == b"%%EOF").map(|(at, _)| at + 5));
        for cut in cuts {
            let cut = &copy[..cut.min(copy.len())];
            assert_ne!(cut, pdf.as_slice(), "cut at {} bytes", cut.len());
            if let Some(text) = readable_text(cut).filter(|t| t.contains("Original page")) {
                assert_eq!(
                    text.matches("Original page").count(),
                    text.matches("lent to borrower").count(),
                    "cut at {} bytes: every page still marked: {text}", cut.len()
                );
            }
        }
        let shown = |who: &str| org.app.client.get(&format!("/api/v1/archives/{archive}/files"), Some(&org.token(who))).json();
        let to_borrower = shown("borrower");
        assert_eq!((to_borrower["items"][0]["sha256"].clone(), to_borrower["items"][0]["size_bytes"].clone()), (Value::Null, Value::Null));
        let to_archivist = shown("archivist");
        assert_eq!(to_archivist["items"][0]["sha256"].as_str(), Some(sha256(&pdf).as_str()));
    }

    // API6: a copy re-saved by a PDF tool (object streams made anew, streams recompressed, or
    // uncompressed and normalised) no longer has its digest, but its fingerprint still leads
    // to the loan and borrower.
    fn api6_a_copy_resaved_by_a_pdf_tool_is_identified_by_its_fingerprint(store) {
        let Shelf { org, archive, pdf, pdf_id, .. } = shelf(store);
        let loan = loan_ids(&lend(&org, "borrower", &[&archive], 7)).remove(0);
        let copy = read(&org, "borrower", &loan, &pdf_id).bytes;
        let copy_id = copy_id_of(&org, &loan);
        for args in [
            &["--object-streams=generate", "--recompress-flate", "--compression-level=9"][..],
            &["--qdf", "--object-streams=disable"][..],
            &["--linearize"][..],
        ] {
            let Some(resaved) = qpdf(&copy, args) else { return };
            assert_ne!(sha256(&resaved), sha256(&copy), "{args:?}");
            let by_digest = org.app.client.get(&format!("/api/v1/loan-copies/{}", sha256(&resaved)), Some(&org.token("archivist")));
            assert_eq!(by_digest.json()["items"], json!([]), "the digest alone no longer finds it");
            let found = identify(&org, "admin", &resaved);
            assert_eq!(found.status, 200, "{}", found.body);
            let items = found.json()["items"].clone();
            assert_eq!(items.as_array().unwrap().len(), 1, "{args:?}: {items}");
            assert_eq!(items[0]["copy"]["id"], copy_id);
            assert_eq!(items[0]["loan"]["borrower_id"].as_str(), Some(org.id("borrower").as_str()));
        }
        // As handed out, too; the original names nobody; a borrower may not ask.
        assert_eq!(identify(&org, "archivist", &copy).json()["items"][0]["copy"]["id"], copy_id);
        assert_eq!(identify(&org, "archivist", &pdf).json()["items"], json!([]));
        identify(&org, "borrower", &copy).assert_problem(403, "forbidden");
        identify(&org, "archivist", b"not a pdf").assert_problem(422, "validation_failed");
        let asked = org.app.client.get("/api/v1/loan-copies/identify", Some(&org.token("archivist")));
        asked.assert_problem(405, "method_not_allowed");
        assert_eq!(asked.header("allow"), Some("POST"));
    }

    // API4: 24 KB of object streams of compressed integers, which a parser unpacks into
    // millions of objects, is refused at upload naming the limit, before any borrower or the
    // marker meets it.
    fn api4_a_pdf_that_unpacks_to_gigabytes_is_refused_at_upload(store) {
        let Shelf { org, archive, .. } = shelf(store);
        let bomb = object_stream_bomb(4, 3_000_000, 0);
        assert!(bomb.len() <= 24 * 1024, "{} bytes", bomb.len());
        let refused = upload(&org.app, &org.token("archivist"), &archive, &multipart("bomb.pdf", "application/pdf", &bomb));
        let problem = refused.assert_problem(422, "validation_failed");
        let message = problem["errors"]["file"][0].as_str().unwrap();
        assert!(message.contains("unpack to more than") && message.contains("16 times the file's size"), "{message}");
        let files = org.app.client.get(&format!("/api/v1/archives/{archive}/files"), Some(&org.token("archivist"))).json();
        assert_eq!(files["items"].as_array().unwrap().len(), 2, "nothing was kept");
    }

    // API6: a PDF behind 30 bytes of ZIP header opens in every PDF reader: it is known as a
    // PDF and lent only as a marked copy, never handed out as stored.
    fn api6_a_pdf_behind_a_zip_header_is_lent_only_marked(store) {
        let Shelf { org, archive, .. } = shelf(store);
        let mut disguised = b"PK\x03\x04".to_vec();
        disguised.extend([0u8; 26]);
        disguised.extend(pdf(2));
        let reply = upload(&org.app, &org.token("archivist"), &archive, &multipart("letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", &disguised));
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.json()["media_type"], "application/pdf");
        let file_id = reply.json()["id"].as_str().unwrap().to_owned();
        let loan = loan_ids(&lend(&org, "borrower", &[&archive], 7)).remove(0);
        let copy = read(&org, "borrower", &loan, &file_id);
        assert_eq!(copy.status, 200, "{}", copy.body);
        assert_ne!(copy.bytes, disguised);
        let text = pdftotext(&copy.bytes).unwrap_or_default();
        assert_eq!(text.matches("lent to borrower").count(), 2, "{text}");
    }

    // API4: one borrower's four parallel reads of large PDFs take turns among themselves (one
    // marking per loan at a time), so another borrower's read of a small one is served in the
    // meantime, not after them.
    fn api4_one_borrowers_parallel_reads_do_not_hold_up_another_borrower(store) {
        let Shelf { org, archive, pdf_id, .. } = shelf(store);
        let heavy = pdf(1500);
        let archivist = org.token("archivist");
        let files: Vec<String> = (0..4).map(|n| {
            let reply = upload(&org.app, &archivist, &archive, &multipart(&format!("卷{n}.pdf"), "application/pdf", &heavy));
            assert_eq!(reply.status, 201, "{}", reply.body);
            reply.json()["id"].as_str().unwrap().to_owned()
        }).collect();
        let mine = loan_ids(&lend(&org, "borrower", &[&archive], 7)).remove(0);
        let theirs = loan_ids(&lend(&org, "other", &[&archive], 7)).remove(0);
        let (borrower, other) = (org.token("borrower"), org.token("other"));
        let started = std::time::Instant::now();
        let (mut mine_done, their_done) = std::thread::scope(|scope| {
            let reads: Vec<_> = files.iter().map(|file| {
                let (org, mine, borrower) = (&org, &mine, &borrower);
                scope.spawn(move || {
                    let reply = org.app.client.get(&format!("/api/v1/loans/{mine}/files/{file}"), Some(borrower));
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    started.elapsed()
                })
            }).collect();
            std::thread::sleep(std::time::Duration::from_millis(100));
            let reply = org.app.client.get(&format!("/api/v1/loans/{theirs}/files/{pdf_id}"), Some(&other));
            assert_eq!(reply.status, 200, "{}", reply.body);
            let their_done = started.elapsed();
            (reads.into_iter().map(|r| r.join().unwrap()).collect::<Vec<_>>(), their_done)
        });
        mine_done.sort();
        eprintln!("four large reads done at {mine_done:?}; the other borrower's small read at {their_done:?}");
        assert!(their_done < mine_done[1], "the other borrower waited behind two of the first borrower's markings");
    }

    // API6: a file that cannot be marked (an image) leaves as stored only where the loan's
    // policy says so, which the loan shows; elsewhere it is refused, not handed out untraced.
    fn api6_an_unmarkable_file_leaves_only_where_the_policy_allows_it(store) {
        let Shelf { org, archive, png_id, .. } = shelf(store);
        let allowed = loan_ids(&lend(&org, "borrower", &[&archive], 7)).remove(0);
        let shown = org.app.client.get(&format!("/api/v1/loans/{allowed}"), Some(&org.token("borrower"))).json();
        assert_eq!(shown["unmarked_copies"], true);
        assert_eq!(read(&org, "borrower", &allowed, &png_id).status, 200);
        // A secret archive under its default policy: the PDF marked, the image refused.
        let admin = org.token("admin");
        let mut body = dangan_tests::archive_body("EL-S", "secret");
        body["medium"] = json!("electronic");
        let secret = org.app.archive(&admin, &body)["id"].as_str().unwrap().to_owned();
        let archivist = org.token("archivist");
        let image = upload(&org.app, &archivist, &secret, &multipart("scan.png", "image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-png"));
        let image = image.json()["id"].as_str().unwrap().to_owned();
        let letter = upload(&org.app, &archivist, &secret, &multipart("letter.pdf", "application/pdf", &pdf(1)));
        let letter = letter.json()["id"].as_str().unwrap().to_owned();
        let loan = loan_ids(&lend(&org, "borrower", &[&secret], 7)).remove(0);
        let shown = org.app.client.get(&format!("/api/v1/loans/{loan}"), Some(&org.token("borrower"))).json();
        assert_eq!(shown["unmarked_copies"], false);
        let refused = read(&org, "borrower", &loan, &image).assert_problem(409, "file_not_markable");
        assert!(refused["detail"].as_str().unwrap().contains("allows no unmarked copies"), "{refused}");
        assert_eq!(read(&org, "borrower", &loan, &letter).status, 200);
        let copies = org.app.client.get(&format!("/api/v1/loans/{loan}/copies"), Some(&org.token("archivist"))).json();
        assert_eq!(copies["items"].as_array().unwrap().len(), 1, "nothing was handed out for the image");
    }
}
