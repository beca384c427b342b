//! Bulk import: CSV and JSON, all or nothing, dry runs, upserts, and the limits.

use dangan_tests::{both_stores, TestApp, PASSWORD};
use serde_json::json;

const HEADER: &str =
    "archive_code,barcode,title,description,category,classification,medium,location,year,pages";

fn csv(rows: &[&str]) -> String {
    let mut text = String::from(HEADER);
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text
}

fn import(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    body: &[u8],
) -> dangan_tests::Reply {
    app.send_bytes(
        "POST",
        &format!("/api/v1/archives/import{query}"),
        token,
        content_type,
        body,
    )
}

fn total(app: &TestApp, token: &str) -> usize {
    app.client
        .get("/api/v1/archives?limit=500", Some(token))
        .json()["items"]
        .as_array()
        .unwrap()
        .len()
}

both_stores! {
    fn a_good_csv_imports_and_its_audit_event_carries_the_hash(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        // BOM, CRLF, quoted commas, quotes and a line break inside a quoted field.
        let body = "\u{feff}archive_code,barcode,title,description,category,classification,medium,location,year\r\n\
            WS-2019-Y-0001,B1,\"合同, 第一卷\",\"他说 \"\"好\"\"\",文书,internal,paper,A-01,2019\r\n\
            WS-2019-Y-0002,B2,Plain title,\"two\r\nlines\",文书,public,electronic,A-02,\r\n";
        let reply = import(&app, &admin, "", "text/csv; charset=utf-8", body.as_bytes());
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json(), json!({"created": 2, "updated": 0, "unchanged": 0, "errors": []}));
        let first = app.client.get("/api/v1/archives/by-barcode/B1", Some(&admin)).json();
        assert_eq!(first["title"], "合同, 第一卷");
        assert_eq!(first["description"], "他说 \"好\"");
        assert_eq!(first["year"], 2019);
        let second = app.client.get("/api/v1/archives/by-barcode/B2", Some(&admin)).json();
        assert_eq!(second["description"], "two\r\nlines");
        assert!(second["year"].is_null());

        let events = app.client.get("/api/v1/audit-events?action=archive.imported", Some(&admin)).json();
        let data = &events["items"][0]["data"];
        assert_eq!(data["created"], 2);
        use sha2::Digest;
        assert_eq!(data["sha256"], hex::encode(sha2::Sha256::digest(body.as_bytes())));
    }

    fn one_bad_row_writes_nothing_and_every_error_names_its_row(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let body = csv(&[
            "OK-1,B1,Good,,文书,public,paper,A-01,2019,10",
            "OK-2,B2,Bad classification,,文书,secrte,paper,A-01,2019,10",
            "OK-3,B3,,,文书,public,paper,A-01,year,10",
            "OK-1,B4,Repeated code,,文书,public,paper,A-01,2019,10",
            "OK-5,B1,Repeated barcode,,文书,public,paper,A-01,2019,10",
        ]);
        let reply = import(&app, &admin, "", "text/csv", body.as_bytes());
        let problem = reply.assert_problem(422, "validation_failed");
        let errors: Vec<(i64, String)> = problem["errors"].as_array().unwrap().iter()
            .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(errors, [(3, "classification".to_owned()), (4, "year".to_owned()), (4, "title".to_owned())]);
        assert_eq!(problem["created"], 0);
        assert_eq!(total(&app, &admin), 0, "nothing written");

        // With the parse errors fixed, the in-file duplicates are what remains.
        let body = csv(&[
            "OK-1,B1,Good,,文书,public,paper,A-01,2019,10",
            "OK-1,B4,Repeated code,,文书,public,paper,A-01,2019,10",
            "OK-5,B1,Repeated barcode,,文书,public,paper,A-01,2019,10",
        ]);
        let problem = import(&app, &admin, "", "text/csv", body.as_bytes()).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"], json!([
            {"row": 3, "field": "archive_code", "message": "repeats row 2"},
            {"row": 4, "field": "barcode", "message": "repeats row 2"},
        ]));
        assert_eq!(total(&app, &admin), 0);

        let problem = import(&app, &admin, "", "text/csv", b"archive_code,shelf\nX,Y\n").assert_problem(422, "validation_failed");
        let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&"shelf") && fields.contains(&"barcode"), "{problem}");
        assert!(problem["errors"].as_array().unwrap().iter().all(|e| e["row"] == 1));
    }

    fn dry_run_upsert_and_insert_modes(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let body = csv(&["UP-1,B1,One,,文书,public,paper,A-01,2019,", "UP-2,B2,Two,,文书,public,paper,A-01,2019,"]);
        let dry = import(&app, &admin, "?dry_run=true", "text/csv", body.as_bytes());
        assert_eq!(dry.json(), json!({"created": 2, "updated": 0, "unchanged": 0, "errors": []}));
        assert_eq!(total(&app, &admin), 0, "a dry run writes nothing");
        assert_eq!(app.client.get("/api/v1/audit-events?action=archive.imported", Some(&admin)).json()["items"], json!([]));

        assert_eq!(import(&app, &admin, "", "text/csv", body.as_bytes()).status, 200);
        let again = csv(&["UP-1,B1,One,,文书,public,paper,A-01,2019,", "UP-2,B2,Two (revised),,文书,public,paper,B-09,2019,", "UP-3,B3,Three,,文书,public,paper,A-01,,"]);
        let reply = import(&app, &admin, "?mode=upsert", "text/csv", again.as_bytes());
        assert_eq!(reply.json(), json!({"created": 1, "updated": 1, "unchanged": 1, "errors": []}));
        let two = app.client.get("/api/v1/archives/by-barcode/B2", Some(&admin)).json();
        assert_eq!(two["title"], "Two (revised)");
        assert_eq!(two["location"], "B-09");
        assert_eq!(two["version"], 2);

        let problem = import(&app, &admin, "?mode=insert", "text/csv", again.as_bytes()).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"].as_array().unwrap().len(), 3);
        let stolen = csv(&["UP-9,B1,Steals a barcode,,文书,public,paper,A-01,,"]);
        let problem = import(&app, &admin, "", "text/csv", stolen.as_bytes()).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "barcode");
        assert_eq!(total(&app, &admin), 3);
        app.client.get("/api/v1/archives?limit=1", Some(&admin));
        assert_eq!(import(&app, &admin, "?mode=sideways", "text/csv", again.as_bytes()).status, 400);
    }

    fn json_items_import_like_csv_rows(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let body = json!({"items": [
            {"archive_code": "J-1", "barcode": "JB1", "title": "科技档案", "category": "科技", "classification": "internal",
             "medium": "paper", "location": "D-1", "year": 2015, "pages": 3},
            {"archive_code": "J-2", "barcode": "JB2", "title": "x", "category": "科技", "classification": "internal",
             "medium": "paper", "location": "D-1", "year": true, "colour": "red"},
        ]});
        let problem = import(&app, &admin, "", "application/json", body.to_string().as_bytes()).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"], json!([
            {"row": 2, "field": "colour", "message": "is not a field of an archive"},
            {"row": 2, "field": "year", "message": "must be text or a number"},
        ]));
        let good = json!({"items": [body["items"][0].clone()]});
        let reply = import(&app, &admin, "", "application/json", good.to_string().as_bytes());
        assert_eq!(reply.json(), json!({"created": 1, "updated": 0, "unchanged": 0, "errors": []}));
        assert_eq!(app.client.get("/api/v1/archives/by-barcode/JB1", Some(&admin)).json()["pages"], 3);
        import(&app, &admin, "", "application/json", b"{\"items\": [").assert_problem(400, "bad_request");
    }

    fn limits_types_and_roles(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "WS");
        app.user(&admin, "clerk", &department, &["archivist"], "internal");
        app.user(&admin, "reader", &department, &[], "top_secret");
        let clerk = app.login("clerk", PASSWORD);
        let reader = app.login("reader", PASSWORD);
        let body = csv(&["L-1,B1,One,,文书,secret,paper,A-01,,"]);
        let problem = import(&app, &clerk, "", "text/csv", body.as_bytes()).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "classification", "above the importer's clearance");
        import(&app, &reader, "", "text/csv", body.as_bytes()).assert_problem(403, "forbidden");
        import(&app, &admin, "", "application/xml", b"<archives/>").assert_problem(415, "unsupported_media_type");
        import(&app, &admin, "", "text/plain", body.as_bytes()).assert_problem(415, "unsupported_media_type");
        let huge = vec![b'a'; 64 * 1024 * 1024 + 1];
        import(&app, &admin, "", "text/csv", &huge).assert_problem(413, "payload_too_large");
        // Bigger than an ordinary JSON body, well within the import limit.
        let mut rows = Vec::new();
        for i in 0..12_000 {
            rows.push(format!("BIG-{i:05},BB{i:05},标题 {i} with some words to make the row long enough,,文书,public,paper,A-01-01-01,2020,100"));
        }
        let big = csv(&rows.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(big.len() > 1024 * 1024);
        let reply = import(&app, &admin, "", "text/csv", big.as_bytes());
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["created"], 12_000);
        let found = app.client.get("/api/v1/archives?q=BIG-11999", Some(&admin)).json();
        assert_eq!(found["items"][0]["barcode"], "BB11999");
    }
}

fn import_users(app: &TestApp, token: &str, query: &str, body: &str) -> dangan_tests::Reply {
    app.send_bytes(
        "POST",
        &format!("/api/v1/users/import{query}"),
        token,
        "text/csv",
        body.as_bytes(),
    )
}

both_stores! {
    fn users_import_creates_updates_and_keeps_the_rules(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let hr = app.department(&admin, "HR");
        app.department(&admin, "OPS");
        let body = "username,display_name,password,department_code,roles,clearance,email\n\
            zhangsan,张三,zhangsan-2026,HR,archivist;auditor,secret,zs@example.org\n\
            lisi,李四,lisi-pass-2026,OPS,,internal,\n";
        let reply = import_users(&app, &admin, "", body);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json(), json!({"created": 2, "updated": 0, "unchanged": 0, "errors": []}));
        let token = app.login("zhangsan", "zhangsan-2026");
        let me = app.client.get("/api/v1/me", Some(&token)).json();
        assert_eq!(me["roles"], json!(["archivist", "auditor"]));
        assert_eq!(me["department_id"], hr.as_str());
        assert_eq!(me["email"], "zs@example.org");

        // Upsert: one changed (and its password reset), one the same.
        let body = "username,display_name,password,department_code,roles,clearance,email\n\
            ZhangSan,张三,new-pass-2026,HR,archivist,confidential,zs@example.org\n\
            lisi,李四,,OPS,,internal,\n";
        let lisi = app.login("lisi", "lisi-pass-2026");
        let reply = import_users(&app, &admin, "?mode=upsert", body);
        assert_eq!(reply.json(), json!({"created": 0, "updated": 1, "unchanged": 1, "errors": []}));
        // A reset password ends the logins opened with the old one; an untouched user keeps hers.
        app.client.get("/api/v1/me", Some(&token)).assert_problem(401, "unauthorized");
        assert_eq!(app.client.get("/api/v1/me", Some(&lisi)).status, 200);
        let token = app.login("zhangsan", "new-pass-2026");
        let me = app.client.get("/api/v1/me", Some(&token)).json();
        assert_eq!(me["roles"], json!(["archivist"]));
        assert_eq!(me["clearance"], "confidential");
        assert_eq!(me["username"], "zhangsan", "the stored spelling stays");

        let bad = "username,password,department_code,roles,clearance\n\
            wangwu,,HR,,internal\n\
            zhaoliu,zhaoliu-2026,NOPE,,internal\n\
            sunqi,sunqi-2026,HR,root,internal\n\
            zhouba,zhouba-2026,HR,,internal\n\
            ZHOUBA,zhouba-2026,HR,,internal\n";
        let problem = import_users(&app, &admin, "", bad).assert_problem(422, "validation_failed");
        let errors: Vec<(i64, &str)> = problem["errors"].as_array().unwrap().iter()
            .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap())).collect();
        assert_eq!(errors, [(4, "roles")], "parse errors come first: {problem}");
        let bad = bad.replace(",root,", ",,");
        let problem = import_users(&app, &admin, "", &bad).assert_problem(422, "validation_failed");
        let errors: Vec<(i64, &str)> = problem["errors"].as_array().unwrap().iter()
            .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap())).collect();
        assert_eq!(errors, [(2, "password"), (3, "department_code"), (6, "username")], "{problem}");
        let listed = app.client.get("/api/v1/users?limit=500", Some(&admin)).json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 3, "nothing written");

        // Authority rules hold row by row: the admin cannot raise itself, nor leave no admin.
        let problem = import_users(&app, &admin, "", "username,roles,clearance\nadmin,admin;auditor,top_secret\n")
            .assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "roles");
        let problem = import_users(&app, &admin, "", "username,roles,clearance\nadmin,,top_secret\n")
            .assert_problem(422, "validation_failed");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains("last active admin"), "{problem}");
        // Handing over in the same file is fine.
        let reply = import_users(&app, &admin, "?dry_run=true", "username,roles,clearance\nadmin,,top_secret\nlisi,admin,internal\n");
        assert_eq!(reply.json()["updated"], 2, "{}", reply.body);

        let json_body = json!({"items": [{"username": "qianjiu", "password": "qianjiu-2026", "clearance": "public", "department_id": hr}]});
        let reply = app.send_bytes("POST", "/api/v1/users/import", &admin, "application/json", json_body.to_string().as_bytes());
        assert_eq!(reply.json()["created"], 1, "{}", reply.body);
        app.login("qianjiu", "qianjiu-2026");
        let events = app.client.get("/api/v1/audit-events?action=user.imported", Some(&admin)).json();
        assert_eq!(events["items"].as_array().unwrap().len(), 3);

        let clerk = app.login("lisi", "lisi-pass-2026");
        import_users(&app, &clerk, "", "username,clearance\nx,public\n").assert_problem(403, "forbidden");
        app.send_bytes("POST", "/api/v1/users/import", &admin, "text/plain", b"username\nx\n").assert_problem(415, "unsupported_media_type");
        assert!(!app.client.get("/api/v1/audit-events?limit=500", Some(&admin)).body.contains("new-pass-2026"));
    }
}
