//! Electronic files of archives: sealed on the way into the store (no plaintext there), read
//! back whole and checked, refused when the stored bytes were changed, within clearance and
//! role; the master key checked at start and rotated without rewriting a file.

use dangan_tests::{archive_body, both_stores, config_for, Reply, TestApp, PASSWORD};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub(crate) const MARKER: &[u8] = b"PLAINTEXT-MARKER-7f3a";

/// A PDF-looking file of about `size` bytes with `MARKER` all through it.
pub(crate) fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut n: u32 = 1;
    while bytes.len() < size {
        bytes.extend_from_slice(MARKER);
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        bytes.extend_from_slice(&n.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

pub(crate) fn multipart(name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--XBOUNDARYX--\r\n");
    body
}

pub(crate) fn upload(app: &TestApp, token: &str, archive: &str, body: &[u8]) -> Reply {
    app.client.raw(
        "POST",
        &format!("/api/v1/archives/{archive}/files"),
        &[
            ("Authorization".into(), format!("Bearer {token}")),
            (
                "Content-Type".into(),
                "multipart/form-data; boundary=XBOUNDARYX".into(),
            ),
        ],
        body,
    )
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every stored object under `dir`, with its bytes.
pub(crate) fn stored(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.push((path, bytes));
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn actions(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let reply = app.client.get(
        &format!("/api/v1/audit-events?action={action}"),
        Some(admin),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["items"].as_array().unwrap().clone()
}

struct Desk {
    app: TestApp,
    admin: String,
    archivist: String,
    archive: String,
}

fn desk(app: TestApp) -> Desk {
    let admin = app.admin_token();
    let department = app.department(&admin, "ARC");
    app.user(&admin, "keeper", &department, &["archivist"], "top_secret");
    let archivist = app.login("keeper", PASSWORD);
    let archive = app.archive(&admin, &archive_body("EF-1", "secret"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Desk {
        app,
        admin,
        archivist,
        archive,
    }
}

both_stores! {
    fn a_file_goes_in_sealed_and_comes_back_whole_within_clearance_and_role(store) {
        let Desk { app, admin, archivist, archive } = desk(TestApp::start(store));
        let department = app.department(&admin, "HR");
        app.user(&admin, "reader", &department, &[], "top_secret");
        app.user(&admin, "junior", &department, &["archivist"], "internal");
        let reader = app.login("reader", PASSWORD);
        let junior = app.login("junior", PASSWORD);
        let content = pdf(300_000);

        let reply = upload(&app, &archivist, &archive, &multipart("C:\\\\扫描\\\\2019年劳动合同.pdf", "text/html", &content));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let file = reply.json();
        let file_id = file["id"].as_str().unwrap().to_owned();
        assert_eq!(reply.header("location").unwrap(), format!("/api/v1/archives/{archive}/files/{file_id}"));
        assert_eq!(file["name"], "2019年劳动合同.pdf");
        assert_eq!(file["media_type"], "application/pdf", "known by its bytes, not its claimed type");
        assert_eq!(file["size_bytes"], 300_000);
        assert_eq!(file["sha256"], sha256(&content));

        // The store holds it sealed: not one plaintext marker, and about as many bytes.
        let objects = stored(&app.store.files_dir);
        assert_eq!(objects.len(), 1, "{objects:?}");
        let (_, sealed) = &objects[0];
        assert!(!contains(sealed, MARKER), "plaintext in the store");
        assert!(!contains(sealed, b"%PDF"), "plaintext in the store");
        assert!(sealed.len() > content.len() && sealed.len() < content.len() + 1000);

        let read_path = format!("/api/v1/archives/{archive}/files/{file_id}");
        let back = app.client.get(&read_path, Some(&archivist));
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(back.header("content-type"), Some("application/pdf"));
        assert_eq!(back.header("content-length"), Some("300000"));
        assert!(back.header("content-disposition").unwrap().contains("attachment"));
        use base64::Engine;
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&content));
        assert_eq!(back.header("repr-digest"), Some(format!("sha-256=:{digest}:").as_str()));
        assert_eq!(sha256(&back.bytes), sha256(&content), "whole and unchanged");

        // Listed to whoever sees the archive; read only by archivists; nothing to those below.
        let listed = app.client.get(&format!("/api/v1/archives/{archive}/files"), Some(&reader));
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(listed.json()["items"][0]["id"], file_id.as_str());
        app.client.get(&read_path, Some(&reader)).assert_problem(403, "forbidden");
        app.client.get(&format!("/api/v1/archives/{archive}/files"), Some(&junior)).assert_problem(404, "not_found");
        app.client.get(&read_path, Some(&junior)).assert_problem(404, "not_found");
        upload(&app, &junior, &archive, &multipart("x.pdf", "application/pdf", &content)).assert_problem(404, "not_found");
        upload(&app, &reader, &archive, &multipart("x.pdf", "application/pdf", &content)).assert_problem(403, "forbidden");

        // What an archive does not keep, and bodies that are no upload.
        upload(&app, &archivist, &archive, &multipart("setup.exe", "application/pdf", b"MZ\x90\0\x03\0\0\0 a program"))
            .assert_problem(415, "unsupported_media_type");
        upload(&app, &archivist, &archive, &multipart("empty.pdf", "application/pdf", b"")).assert_problem(422, "validation_failed");
        let other_part = b"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--XBOUNDARYX--\r\n";
        upload(&app, &archivist, &archive, other_part).assert_problem(422, "validation_failed");
        upload(&app, &archivist, &archive, b"--XBOUNDARYX--\r\n").assert_problem(422, "validation_failed");
        app.client.post(&format!("/api/v1/archives/{archive}/files"), Some(&archivist), &json!({"file": "x"}))
            .assert_problem(415, "unsupported_media_type");
        assert_eq!(stored(&app.store.files_dir).len(), 1, "nothing refused was kept");

        let added = actions(&app, &admin, "archive.file_added");
        assert_eq!(added.len(), 1);
        assert_eq!(added[0]["data"]["file"]["sha256"], sha256(&content));
        assert_eq!(added[0]["actor_id"], app.client.get("/api/v1/me", Some(&archivist)).json()["id"]);
        let reads = actions(&app, &admin, "archive.file_read");
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0]["data"]["bytes"], 300_000);
        assert_eq!(reads[0]["data"]["file"]["id"], file_id.as_str());

        // Retired: gone from the list, unreadable, and its sealed bytes removed.
        app.client.send_json("DELETE", &read_path, &reader, None, &json!({})).assert_problem(403, "forbidden");
        let retired = app.client.send_json("DELETE", &read_path, &archivist, None, &json!({}));
        assert_eq!(retired.status, 204, "{}", retired.body);
        assert_eq!(app.client.get(&format!("/api/v1/archives/{archive}/files"), Some(&archivist)).json()["items"], json!([]));
        app.client.get(&read_path, Some(&archivist)).assert_problem(404, "not_found");
        assert!(stored(&app.store.files_dir).is_empty());
        assert_eq!(actions(&app, &admin, "archive.file_retired").len(), 1);
    }

    fn a_file_larger_than_allowed_is_refused_and_nothing_is_kept(store) {
        let mut config = config_for(&store);
        config.files_max_bytes = 1 << 20;
        let Desk { app, archivist, archive, .. } = desk(TestApp::start_configured(store, config, |_| {}));
        let reply = upload(&app, &archivist, &archive, &multipart("big.pdf", "application/pdf", &pdf(3 << 20)));
        reply.assert_problem(413, "payload_too_large");
        assert!(stored(&app.store.files_dir).is_empty(), "{:?}", stored(&app.store.files_dir).len());
        let fits = upload(&app, &archivist, &archive, &multipart("fits.pdf", "application/pdf", &pdf(1 << 20)));
        assert_eq!(fits.status, 201, "{}", fits.body);
    }

    fn a_changed_cut_or_missing_stored_file_is_refused_and_audited(store) {
        let Desk { app, admin, archivist, archive } = desk(TestApp::start(store));
        let mut paths = Vec::new();
        for n in 0..3 {
            let reply = upload(&app, &archivist, &archive, &multipart(&format!("{n}.pdf"), "application/pdf", &pdf(200_000)));
            assert_eq!(reply.status, 201, "{}", reply.body);
            let id = reply.json()["id"].as_str().unwrap().to_owned();
            let (object, _) = stored(&app.store.files_dir).into_iter().find(|(p, _)| p.ends_with(&id)).unwrap();
            paths.push((id, object));
        }
        // One bit changed, the last chunk cut off, the object deleted.
        let mut bytes = std::fs::read(&paths[0].1).unwrap();
        bytes[100_000] ^= 0x01;
        std::fs::write(&paths[0].1, bytes).unwrap();
        let bytes = std::fs::read(&paths[1].1).unwrap();
        std::fs::write(&paths[1].1, &bytes[..bytes.len() - 5000]).unwrap();
        std::fs::remove_file(&paths[2].1).unwrap();
        for (id, _) in &paths {
            let reply = app.client.get(&format!("/api/v1/archives/{archive}/files/{id}"), Some(&archivist));
            let problem = reply.assert_problem(409, "file_failed_check");
            assert!(!reply.body.contains("PLAINTEXT"), "not a byte of it is sent");
            assert!(problem["detail"].as_str().unwrap().contains("changed or damaged"), "{problem}");
        }
        let failed = actions(&app, &admin, "archive.file_failed_check");
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(failed.iter().any(|e| e["data"]["reason"] == "the file is missing from the store"));
        assert!(actions(&app, &admin, "archive.file_read").is_empty());
    }

    fn the_master_key_is_checked_at_start_and_rotated_without_rewriting_a_file(store) {
        let Desk { app, archivist, archive, .. } = desk(TestApp::start(store));
        let mut uploaded = Vec::new();
        for n in 0..3 {
            let content = pdf(100_000 + n * 70_000);
            let reply = upload(&app, &archivist, &archive, &multipart(&format!("{n}.pdf"), "application/pdf", &content));
            assert_eq!(reply.status, 201, "{}", reply.body);
            uploaded.push((reply.json()["id"].as_str().unwrap().to_owned(), content));
        }
        let before = stored(&app.store.files_dir);

        // Another instance with another key refuses to start, saying why.
        let new_key = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let mut other = config_for(&app.store);
        other.files_key = Some(dangan_api::config::Secret::from(new_key));
        let refused = app.instance(&other).err().expect("a wrong key refuses to start");
        assert!(refused.to_string().contains("DANGAN_FILES_KEY is not the key"), "{refused}");
        let mut not_a_key = config_for(&app.store);
        not_a_key.files_key = Some(dangan_api::config::Secret::from("short"));
        assert!(app.instance(&not_a_key).is_err());

        // Rotation re-wraps the keys; no stored byte changes.
        let rotated = dangan_api::files::rotate_key(&config_for(&app.store), new_key).unwrap();
        assert_eq!(rotated, 3);
        let after = stored(&app.store.files_dir);
        assert_eq!(before, after, "no file was rewritten");
        let old = app.instance(&config_for(&app.store)).err().expect("the old key is refused now");
        assert!(old.to_string().contains("DANGAN_FILES_KEY is not the key"), "{old}");
        let instance = app.instance(&other).expect("the new key starts");
        for (id, content) in &uploaded {
            let back = instance.client.get(&format!("/api/v1/archives/{archive}/files/{id}"), Some(&archivist));
            assert_eq!(back.status, 200, "{}", back.body);
            assert_eq!(sha256(&back.bytes), sha256(content));
        }
    }

    fn without_a_key_a_local_store_keeps_a_generated_one_beside_its_files(store) {
        use std::os::unix::fs::PermissionsExt;
        let mut config = config_for(&store);
        config.files_key = None;
        let key_path = store.files_dir.with_file_name("files.key");
        let Desk { app, archivist, archive, .. } = desk(TestApp::start_configured(store, config.clone(), |_| {}));
        let key = std::fs::read_to_string(&key_path).expect("a key beside the files");
        assert!(key.trim().len() == 64 && key.trim().bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(stored(&app.store.files_dir).is_empty(), "the key is beside the files, not among them");

        // Until something is sealed, another key may take its place (a `migrate` run elsewhere).
        let mut other = config_for(&app.store);
        other.files_key = Some(dangan_api::config::Secret::from(
            "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ));
        drop(app.instance(&other).expect("nothing is sealed yet"));
        drop(app.instance(&config).expect("and back"));

        let content = pdf(50_000);
        let reply = upload(&app, &archivist, &archive, &multipart("a.pdf", "application/pdf", &content));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        let refused = app.instance(&other).err().expect("now the key is the generated one");
        assert!(refused.to_string().contains("DANGAN_FILES_KEY is not the key"), "{refused}");
        let restarted = app.instance(&config).expect("the kept key is read again");
        let back = restarted.client.get(&format!("/api/v1/archives/{archive}/files/{id}"), Some(&archivist));
        assert_eq!((back.status, sha256(&back.bytes)), (200, sha256(&content)));
        let mut explicit = config.clone();
        explicit.files_key = Some(dangan_api::config::Secret::from(key.trim()));
        drop(app.instance(&explicit).expect("the same key given explicitly"));

        // Files on an S3-compatible store sit beside nothing: their key must be given.
        let mut s3 = config.clone();
        s3.files_url = "s3://dangan-files?endpoint=http://127.0.0.1:9&region=us-east-1".into();
        let refused = app.instance(&s3).err().expect("no key for an S3 store");
        assert!(refused.to_string().contains("DANGAN_FILES_KEY must be set"), "{refused}");
    }

    fn files_live_sealed_in_an_s3_compatible_store(store) {
        let Some(s3) = dangan_tests::s3::S3Server::start() else { return };
        let mut config = config_for(&store);
        config.files_url = s3.bucket("dangan-files");
        let Desk { app, archivist, archive, .. } = desk(TestApp::start_configured(store, config, |_| {}));
        // Large enough for a multipart upload of three parts.
        let content = pdf(12 << 20);
        let reply = upload(&app, &archivist, &archive, &multipart("scan.pdf", "application/pdf", &content));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        let keys = s3.keys("dangan-files");
        assert_eq!(keys, [format!("files/{id}")]);
        let sealed = s3.object("dangan-files", &keys[0]);
        assert!(!contains(&sealed, MARKER), "plaintext in the bucket");
        assert!(sealed.len() > content.len());

        let path = format!("/api/v1/archives/{archive}/files/{id}");
        let back = app.client.get(&path, Some(&archivist));
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(sha256(&back.bytes), sha256(&content));

        let mut changed = sealed.clone();
        changed[7 << 20] ^= 0x80;
        s3.replace("dangan-files", &keys[0], &changed);
        app.client.get(&path, Some(&archivist)).assert_problem(409, "file_failed_check");

        let retired = app.client.send_json("DELETE", &path, &archivist, None, &json!({}));
        assert_eq!(retired.status, 204, "{}", retired.body);
        assert!(s3.keys("dangan-files").is_empty());
    }

    fn photos_taken_at_the_desk_are_sealed_evidence_of_the_return(store) {
        let org = crate::org::org(store);
        let app = &org.app;
        let archive = org.archive("PH-1", "secret");
        let request = org.approve_all(org.request("borrower", &[&archive], "take_out", 7));
        let loan = org.check_out("archivist", &request, &crate::org::barcode("PH-1")).json();
        let loan_id = loan["id"].as_str().unwrap().to_owned();
        let signed = org.loan_action("borrower", &loan, "sign", &json!({"password": PASSWORD}));
        assert_eq!(signed.status, 200, "{}", signed.body);
        let archivist = org.token("archivist");
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), MARKER, b"png-body"].concat();
        let jpeg = [b"\xFF\xD8\xFF\xE0".as_slice(), MARKER, b"jpeg-body"].concat();
        let form = |barcode: &str, photos: &[(&str, &[u8])]| {
            let mut body = Vec::new();
            for (name, value) in [("barcode", barcode), ("condition", "damaged"), ("notes", "封皮破损 / cover torn")] {
                body.extend_from_slice(format!("--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
            }
            for (file, bytes) in photos {
                body.extend_from_slice(format!("--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{file}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"--XBOUNDARYX--\r\n");
            body
        };
        let give_back = |body: Vec<u8>| app.client.raw("POST", "/api/v1/returns", &[
            ("Authorization".into(), format!("Bearer {archivist}")),
            ("Content-Type".into(), "multipart/form-data; boundary=XBOUNDARYX".into()),
        ], &body);

        // Refused returns keep no photo: a wrong barcode, a photo that is no image.
        give_back(form("BC-NONE", &[("a.png", &png)])).assert_problem(404, "no_open_loan");
        give_back(form(&crate::org::barcode("PH-1"), &[("a.png", &png), ("scan.pdf", b"%PDF-1.7 x")]))
            .assert_problem(415, "unsupported_media_type");
        let eleven: Vec<(&str, &[u8])> = (0..11).map(|_| ("p.png", png.as_slice())).collect();
        give_back(form(&crate::org::barcode("PH-1"), &eleven)).assert_problem(422, "validation_failed");
        assert!(stored(&app.store.files_dir).is_empty(), "{:?}", stored(&app.store.files_dir).len());
        assert_eq!(app.client.get(&format!("/api/v1/loans/{loan_id}"), Some(&archivist)).json()["status"], "active");

        let returned = give_back(form(&crate::org::barcode("PH-1"), &[("front.png", &png), ("back.jpg", &jpeg)]));
        assert_eq!(returned.status, 200, "{}", returned.body);
        assert_eq!(returned.json()["status"], "return_pending");
        let objects = stored(&app.store.files_dir);
        assert_eq!(objects.len(), 2);
        assert!(objects.iter().all(|(_, bytes)| !contains(bytes, MARKER)), "photos sealed");

        let voucher = app.client.get(&format!("/api/v1/loans/{loan_id}/voucher"), Some(&org.token("borrower"))).json();
        let photos = voucher["return_photos"].as_array().unwrap().clone();
        assert_eq!(photos.len(), 2, "{voucher}");
        assert_eq!(photos[0]["name"], "front.png");
        assert_eq!(photos[0]["media_type"], "image/png");
        assert_eq!(photos[0]["sha256"], sha256(&png));
        assert_eq!(photos[1]["sha256"], sha256(&jpeg));
        let bearer = format!("Bearer {}", org.token("borrower"));
        let page = app.client.get_with(&format!("/api/v1/loans/{loan_id}/voucher"), &[("Authorization", &bearer), ("Accept", "text/html")]);
        assert!(page.body.contains(&sha256(&jpeg)), "the printed voucher lists the photos");
        assert!(photos[0]["incident_id"].is_string(), "the damage opened an incident the photos belong to");
        // What the borrower signed still hashes to the signature's digest: the photos are beside
        // it, not in it.
        let mut canonical = voucher.clone();
        for key in ["signature", "verification_code", "status", "return_photos"] {
            canonical.as_object_mut().unwrap().remove(key);
        }
        assert_eq!(voucher["signature"]["digest"], sha256(canonical.to_string().as_bytes()));
        let report = app.client.get("/api/v1/reports/compliance?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z", Some(&org.token("admin")));
        assert_eq!(report.status, 200, "{}", report.body);
        let entry = report.json()["items"].as_array().unwrap().iter().find(|e| e["loan"]["id"] == loan_id.as_str()).cloned().unwrap();
        assert_eq!(entry["return_photos"][1]["sha256"], sha256(&jpeg));

        let photo_path = format!("/api/v1/loans/{loan_id}/photos/{}", photos[1]["id"].as_str().unwrap());
        let back = app.client.get(&photo_path, Some(&archivist));
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(back.bytes, jpeg);
        assert_eq!(back.header("content-type"), Some("image/jpeg"));
        app.client.get(&photo_path, Some(&org.token("other"))).assert_problem(404, "not_found");
        let read = &actions(app, &org.token("admin"), "loan.photo_read");
        assert_eq!(read.len(), 1, "{read:?}");
        assert_eq!((read[0]["data"]["photo"]["sha256"].as_str(), read[0]["entity_id"].as_str()), (Some(sha256(&jpeg).as_str()), Some(loan_id.as_str())));
        let event = &actions(app, &org.token("admin"), "loan.returned")[0];
        assert_eq!(event["data"]["photos"][0]["sha256"], sha256(&png));
        assert_eq!(event["data"]["photos"].as_array().unwrap().len(), 2);

        // A change of master key re-wraps the photos' keys too: they stay readable.
        let new_key = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
        assert_eq!(dangan_api::files::rotate_key(&config_for(&app.store), new_key).unwrap(), 2);
        let mut rotated = config_for(&app.store);
        rotated.files_key = Some(dangan_api::config::Secret::from(new_key));
        let instance = app.instance(&rotated).expect("the new key starts");
        let back = instance.client.get(&photo_path, Some(&archivist));
        assert_eq!((back.status, back.bytes), (200, jpeg));
    }
}
