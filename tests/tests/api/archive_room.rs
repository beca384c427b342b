//! The archive room's model: fonds, categories and their 档号 rules (DA/T 13-2022), codes built
//! and checked (one at a time and by import), numbered under concurrency, found by prefix and in
//! the standard's order; the retention report; shelves, moves and what they withhold.

use dangan_tests::{both_stores, codes, config_for, enc, TestApp, PASSWORD};
use serde_json::{json, Value};

/// An archive filed under `category_code`, its other fields given by the test.
fn filed(barcode: &str, category_code: &str, extra: Value) -> Value {
    let mut body = json!({
        "barcode": barcode,
        "title": format!("{barcode} 文件"),
        "category_code": category_code,
        "classification": "internal",
        "medium": "paper",
        "location": "A-01-01-01",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// The message of the one error on `archive_code`.
fn refusal(app: &TestApp, token: &str, body: &Value) -> String {
    let problem = app
        .client
        .post("/api/v1/archives", Some(token), body)
        .assert_problem(422, "validation_failed");
    problem["errors"]["archive_code"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{problem}"))
        .to_owned()
}

fn staff(app: &TestApp) -> (String, String) {
    let admin = app.admin_token();
    let department = app.department(&admin, "DA");
    app.user(&admin, "archivist", &department, &["archivist"], "secret");
    (admin, app.login("archivist", PASSWORD))
}

both_stores! {
    fn codes_are_built_by_the_categorys_rule_and_given_ones_are_checked_element_by_element(store) {
        let app = TestApp::start(store);
        let (admin, archivist) = staff(&app);
        let categories = app.client.get("/api/v1/archive-categories", Some(&archivist)).json();
        let ws = categories["items"].as_array().unwrap().iter().find(|c| c["code"] == "WS").unwrap().clone();
        assert_eq!(ws["rule"], "fonds-category·year-retention-item", "{ws}");
        assert_eq!(ws["rule_labels"], "全宗号-门类代码·年度-保管期限-件号");
        assert_eq!(ws["arrangement"], "by_item");

        // 按件: 全宗号-门类代码·年度-保管期限-件号, numbered in the site's own fonds.
        let first = app.archive(&archivist, &filed("B1", "WS", json!({"year": 2019, "retention": "D30"})));
        assert_eq!(first["archive_code"], "J001-WS·2019-D30-0001", "{first}");
        assert_eq!(first["category"], "文书档案");
        assert_eq!(first["retention_ends_on"], "2049-12-31");
        assert_eq!(first["opening"], "controlled");
        assert_eq!(first["kind"], "item");
        let second = app.archive(&archivist, &filed("B2", "WS", json!({"year": 2019, "retention": "D30"})));
        assert_eq!(second["archive_code"], "J001-WS·2019-D30-0002");
        assert_eq!(second["fonds_id"], first["fonds_id"]);
        let fonds = app.client.get(&format!("/api/v1/fonds/{}", first["fonds_id"].as_str().unwrap()), Some(&archivist)).json();
        assert_eq!((fonds["number"].as_str(), fonds["is_default"].as_bool()), (Some("J001"), Some(true)), "{fonds}");

        // A code given by hand is checked; the counter then continues after it.
        let given = app.archive(&archivist, &filed("B3", "WS", json!({"archive_code": "J001-WS·2019-D30-0010", "year": 2019, "retention": "D30"})));
        assert_eq!(given["archive_code"], "J001-WS·2019-D30-0010");
        let next = app.archive(&archivist, &filed("B4", "WS", json!({"year": 2019, "retention": "D30"})));
        assert_eq!(next["archive_code"], "J001-WS·2019-D30-0011");
        let mut again = filed("B5", "WS", json!({"archive_code": "J001-WS·2019-D30-0010", "year": 2019, "retention": "D30"}));
        app.client.post("/api/v1/archives", Some(&archivist), &again).assert_problem(409, "duplicate_archive_code");

        // Each wrong element is named, in the standard's words.
        let mut wrong = |code: &str| {
            again["archive_code"] = json!(code);
            refusal(&app, &archivist, &again)
        };
        assert!(wrong("J002-WS·2019-D30-0012").starts_with("全宗号"));
        assert!(wrong("J001-KJ·2019-D30-0012").starts_with("门类代码"));
        assert!(wrong("J001-WS·2018-D30-0012").starts_with("年度"));
        assert!(wrong("J001-WS·2019-D10-0012").starts_with("保管期限"));
        assert!(wrong("J001-WS·2019-D30-12").starts_with("件号"));
        assert!(wrong("J001-WS·2019-D30-0000").starts_with("件号"));
        assert!(wrong("J001-WS-2019-D30-0012").contains("levels"));
        // What a new code needs is asked for by field.
        let problem = app.client.post("/api/v1/archives", Some(&archivist), &filed("B6", "WS", json!({"year": 2019})))
            .assert_problem(422, "validation_failed");
        assert!(problem["errors"]["retention"][0].as_str().unwrap().contains("保管期限"), "{problem}");
        app.client.post("/api/v1/archives", Some(&archivist), &filed("B6", "XX", json!({"year": 2019})))
            .assert_problem(422, "validation_failed");

        // What the archive leaves open is read from a given code (a second-level category and
        // a 机构(问题)代码, as a 分类方案 under DA/T 13-2022 writes them).
        let reply = app.client.post("/api/v1/archive-categories", Some(&admin), &json!({
            "code": "SW·JB", "name": "实物档案·奖杯", "rule": "fonds-category·year-retention-org-item"}));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let trophy = app.archive(&archivist, &filed("B7", "SW·JB", json!({"archive_code": "J001-SW·JB·2022-Y-XZ-0001"})));
        assert_eq!((trophy["year"].as_i64(), trophy["retention"].as_str(), trophy["org_code"].as_str()), (Some(2022), Some("Y"), Some("XZ")), "{trophy}");
        assert_eq!(trophy["retention_ends_on"], Value::Null, "permanent");
        app.client.post("/api/v1/archive-categories", Some(&admin), &json!({"code": "SW·XX", "name": "x", "rule": "category-fonds-item"}))
            .assert_problem(422, "validation_failed");
        app.client.post("/api/v1/archive-categories", Some(&archivist), &json!({"code": "SW·YY", "name": "y"}))
            .assert_problem(403, "forbidden");

        // 按卷: 全宗号-门类代码·项目号-案卷号, the items of a volume numbered after it.
        let volume = app.archive(&archivist, &filed("V1", "JJ", json!({"series_code": "001", "kind": "volume"})));
        assert_eq!(volume["archive_code"], "J001-JJ·001-001", "{volume}");
        let item = |barcode: &str| app.archive(&archivist, &filed(barcode, "JJ", json!({"volume_id": volume["id"]})));
        assert_eq!(item("V1-1")["archive_code"], "J001-JJ·001-001-0001");
        assert_eq!(item("V1-2")["archive_code"], "J001-JJ·001-001-0002");
        let loose = app.client.post("/api/v1/archives", Some(&archivist), &filed("V1-3", "JJ", json!({})))
            .assert_problem(422, "validation_failed");
        assert!(loose["errors"]["volume_id"].is_array(), "{loose}");
        let in_item = app.client.post("/api/v1/archives", Some(&archivist), &filed("V1-4", "JJ", json!({"volume_id": first["id"]})))
            .assert_problem(422, "validation_failed");
        assert!(in_item["errors"]["volume_id"].is_array(), "{in_item}");
        assert_eq!(codes(&app, &archivist, &format!("volume_id={}", volume["id"].as_str().unwrap())).len(), 2);
        // A volume holding an item above the reader's clearance says one is withheld, never which.
        let mut secret_item = filed("V1-S", "JJ", json!({"volume_id": volume["id"]}));
        secret_item["classification"] = json!("secret");
        app.archive(&archivist, &secret_item);
        let department = app.department(&admin, "YD");
        app.user(&admin, "reader", &department, &[], "internal");
        let reader = app.login("reader", PASSWORD);
        let volume_path = format!("/api/v1/archives/{}", volume["id"].as_str().unwrap());
        let seen = app.client.get(&volume_path, Some(&reader)).json();
        assert_eq!(seen["volume_items"], json!({"items": 2, "withheld": 1}), "{seen}");
        assert!(!seen.to_string().contains("V1-S"));
        assert_eq!(codes(&app, &reader, &format!("volume_id={}", volume["id"].as_str().unwrap())).len(), 2);
        assert_eq!(app.client.get(&volume_path, Some(&archivist)).json()["volume_items"], json!({"items": 3, "withheld": 0}));
        assert!(app.client.get(&format!("/api/v1/archives/{}", first["id"].as_str().unwrap()), Some(&archivist)).json().get("volume_items").is_none(), "an item has no items");

        // A code given with a category label alone is taken as given, as clients before the
        // model sent it; the label files it under the category it names.
        let old = app.archive(&archivist, &json!({"archive_code": "2019-HR-0042", "barcode": "OLD-1", "title": "旧档",
            "category": "文书", "classification": "public", "medium": "paper", "location": "A-01"}));
        assert_eq!((old["category"].as_str(), old["category_code"].as_str()), (Some("文书"), Some("WS")), "{old}");
        let free = app.archive(&archivist, &json!({"archive_code": "X-1", "barcode": "OLD-2", "title": "旧档",
            "category": "会议记录", "classification": "public", "medium": "paper", "location": "A-01"}));
        assert_eq!(free["category_code"], Value::Null);
    }

    fn two_hundred_concurrent_creates_in_one_group_take_two_hundred_consecutive_numbers(store) {
        let app = TestApp::start(store);
        let (_, archivist) = staff(&app);
        // A second instance on the same store: its own connection pool.
        let other = app.instance(&config_for(&app.store)).expect("a second instance");
        let clients = [&app.client, &other.client];
        let made: Vec<String> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..20)
                .map(|w| {
                    let (client, archivist) = (clients[w % 2], &archivist);
                    scope.spawn(move || {
                        (0..10)
                            .map(|i| {
                                let body = filed(&format!("C-{w}-{i}"), "WS", json!({"year": 2020, "retention": "D10"}));
                                let reply = client.post("/api/v1/archives", Some(archivist), &body);
                                assert_eq!(reply.status, 201, "{}", reply.body);
                                reply.json()["archive_code"].as_str().unwrap().to_owned()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let mut made = made;
        made.sort();
        let expected: Vec<String> = (1..=200).map(|n| format!("J001-WS·2020-D10-{n:04}")).collect();
        assert_eq!(made, expected);
    }

    fn a_groups_first_number_follows_the_codes_the_catalogue_already_holds(store) {
        let app = TestApp::start(store);
        let (_, archivist) = staff(&app);
        // Codes from before the rule (kept as given), one of a longer group sharing the prefix.
        for (barcode, code) in [("H1", "J001-WS·2019-Y-0001"), ("H2", "J001-WS·2019-Y-BGS-0009")] {
            app.archive(&archivist, &json!({"archive_code": code, "barcode": barcode, "title": "旧档",
                "category": "文书", "classification": "public", "medium": "paper", "location": "A-01"}));
        }
        let next = app.archive(&archivist, &filed("H3", "WS", json!({"year": 2019, "retention": "Y"})));
        assert_eq!(next["archive_code"], "J001-WS·2019-Y-0002", "{next}");
    }

    fn a_code_prefix_finds_its_group_in_the_standards_order(store) {
        let app = TestApp::start(store);
        let (_, archivist) = staff(&app);
        for (barcode, code, year) in [("P1", "J001-WS·2019-Y-0100", 2019), ("P2", "J001-WS·2019-Y-0009", 2019),
                                      ("P3", "J001-WS·2019-Y-0010", 2019), ("P4", "J001-WS·2020-Y-0001", 2020)] {
            app.archive(&archivist, &filed(barcode, "WS", json!({"archive_code": code, "year": year, "retention": "Y"})));
        }
        let prefix = |p: &str| codes(&app, &archivist, &format!("archive_code={}&sort=archive_code", enc(p)));
        assert_eq!(prefix("J001-WS·2019-Y"), ["J001-WS·2019-Y-0009", "J001-WS·2019-Y-0010", "J001-WS·2019-Y-0100"]);
        assert_eq!(prefix("J001-WS·20").len(), 4);
        assert_eq!(prefix("J001-WS·2020"), ["J001-WS·2020-Y-0001"]);
        assert_eq!(prefix("J002"), Vec::<String>::new());
        assert_eq!(codes(&app, &archivist, "category_code=WS&retention=Y&year_from=2020").len(), 1);
    }

    fn the_retention_report_lists_what_ends_before_a_date_within_clearance(store) {
        let app = TestApp::start(store);
        let (admin, archivist) = staff(&app);
        let department = app.department(&admin, "SJ");
        app.user(&admin, "auditor", &department, &["auditor"], "internal");
        app.user(&admin, "reader", &department, &[], "top_secret");
        let auditor = app.login("auditor", PASSWORD);
        let reader = app.login("reader", PASSWORD);
        let ten = app.archive(&archivist, &filed("R1", "WS", json!({"year": 2010, "retention": "D10"})));
        app.archive(&archivist, &filed("R2", "WS", json!({"year": 2019, "retention": "D30"})));
        app.archive(&archivist, &filed("R3", "WS", json!({"year": 2010, "retention": "Y"})));
        let mut secret = filed("R4", "WS", json!({"year": 2005, "retention": "D10"}));
        secret["classification"] = json!("secret");
        let secret = app.archive(&archivist, &secret);
        assert_eq!(ten["retention_ends_on"], "2020-12-31");

        let due = |token: &str, before: &str| {
            let reply = app.client.get(&format!("/api/v1/reports/retention-due?before={before}"), Some(token));
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.json()["items"].as_array().unwrap().iter().map(|a| a["archive_code"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(due(&archivist, "2030-01-01"), [secret["archive_code"].as_str().unwrap(), ten["archive_code"].as_str().unwrap()]);
        assert_eq!(due(&auditor, "2030-01-01"), [ten["archive_code"].as_str().unwrap()], "the secret one is above the auditor");
        assert_eq!(due(&archivist, "2020-12-31"), [secret["archive_code"].as_str().unwrap()], "ends on the 31st: not before it");
        let today = app.client.get("/api/v1/reports/retention-due", Some(&archivist)).json();
        assert_eq!(today["items"].as_array().unwrap().len(), 2, "without a date: what has ended by today");
        app.client.get("/api/v1/reports/retention-due?before=2030-01-01", Some(&reader)).assert_problem(403, "forbidden");
        app.client.get("/api/v1/reports/retention-due?before=someday", Some(&archivist)).assert_problem(400, "bad_request");
    }

    fn fonds_are_recorded_by_archivists_and_keep_the_number_their_archives_carry(store) {
        let app = TestApp::start(store);
        let (admin, archivist) = staff(&app);
        let department = app.department(&admin, "JY");
        app.user(&admin, "reader", &department, &[], "top_secret");
        let reader = app.login("reader", PASSWORD);
        let reply = app.client.post("/api/v1/fonds", Some(&archivist), &json!({"number": "J002", "name": "某市劳动局(已撤销)", "start_year": 1983, "end_year": 2009}));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let labour = reply.json();
        app.client.post("/api/v1/fonds", Some(&archivist), &json!({"number": "J002", "name": "again"})).assert_problem(409, "duplicate_code");
        let bad = app.client.post("/api/v1/fonds", Some(&archivist), &json!({"number": "J2", "name": "x", "start_year": 2000, "end_year": 1990}))
            .assert_problem(422, "validation_failed");
        assert!(bad["errors"]["number"].is_array(), "{bad}");
        app.client.post("/api/v1/fonds", Some(&reader), &json!({"number": "J003", "name": "x"})).assert_problem(403, "forbidden");
        app.client.get("/api/v1/fonds", Some(&reader)).assert_problem(403, "forbidden");
        let all = app.client.get("/api/v1/fonds", Some(&archivist)).json();
        let numbers: Vec<&str> = all["items"].as_array().unwrap().iter().map(|f| f["number"].as_str().unwrap()).collect();
        assert_eq!(numbers, ["J001", "J002"]);

        let id = labour["id"].as_str().unwrap();
        let archive = app.archive(&archivist, &filed("F1", "WS", json!({"fonds_id": id, "year": 2001, "retention": "D30"})));
        assert_eq!(archive["archive_code"], "J002-WS·2001-D30-0001");
        let renumber = app.client.patch(&format!("/api/v1/fonds/{id}"), Some(&archivist), Some("\"1\""), &json!({"number": "J009"}))
            .assert_problem(422, "validation_failed");
        assert!(renumber["errors"]["number"][0].as_str().unwrap().contains("档号"), "{renumber}");
        let renamed = app.client.patch(&format!("/api/v1/fonds/{id}"), Some(&archivist), Some("\"1\""), &json!({"name": "某市人力资源和社会保障局"}));
        assert_eq!(renamed.status, 200, "{}", renamed.body);
        app.client.patch(&format!("/api/v1/fonds/{id}"), Some(&archivist), Some("\"1\""), &json!({"name": "stale"}))
            .assert_problem(412, "precondition_failed");
        assert_eq!(codes(&app, &archivist, &format!("fonds_id={id}")), ["J002-WS·2001-D30-0001"]);
    }
}

both_stores! {
    fn an_import_numbers_its_rows_in_one_go_and_names_each_wrong_element(store) {
        let app = TestApp::start(store);
        let (_, archivist) = staff(&app);
        let import = |items: Value, dry_run: bool| {
            let path = format!("/api/v1/archives/import?dry_run={dry_run}");
            app.client.post(&path, Some(&archivist), &json!({"items": items}))
        };
        let rows = |from: usize, to: usize| -> Value {
            (from..to).map(|i| filed(&format!("I{i}"), "WS", json!({"year": "2021", "retention": "D10"}))).collect()
        };
        let checked = import(rows(0, 3), true);
        assert_eq!((checked.status, checked.json()["created"].as_i64()), (200, Some(3)), "{}", checked.body);
        let done = import(rows(0, 3), false);
        assert_eq!(done.status, 200, "{}", done.body);
        let mut more = rows(3, 5);
        more.as_array_mut().unwrap().push(filed("I5", "WS", json!({"archive_code": "J001-WS·2021-D10-0040", "year": "2021", "retention": "D10"})));
        assert_eq!(import(more, false).status, 200);
        // The dry run took no number; an import's new numbers follow the highest number given,
        // by hand in the same file included, so no built code can meet a given one.
        let made = codes(&app, &archivist, &format!("archive_code={}&sort=archive_code", enc("J001-WS·2021-D10")));
        let expected: Vec<String> = [1, 2, 3, 40, 41, 42].iter().map(|n| format!("J001-WS·2021-D10-{n:04}")).collect();
        assert_eq!(made, expected);

        let wrong = json!([
            filed("W1", "WS", json!({"archive_code": "J001-WS·2021-D10-7", "year": "2021", "retention": "D10"})),
            filed("W2", "WS", json!({"year": "2021"})),
            filed("W3", "ZZ", json!({"year": "2021", "retention": "D10"})),
        ]);
        let refused = import(wrong, false);
        assert_eq!(refused.status, 422, "{}", refused.body);
        let errors = refused.json()["errors"].clone();
        let found: Vec<(i64, &str)> = errors.as_array().unwrap().iter()
            .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap())).collect();
        assert_eq!(found, [(1, "archive_code"), (2, "retention"), (3, "category_code")], "{errors}");
        assert!(errors[0]["message"].as_str().unwrap().starts_with("件号"), "{errors}");
        assert_eq!(codes(&app, &archivist, &format!("archive_code={}", enc("J001-WS·2021-D10"))).len(), 6, "nothing written");
    }
}

both_stores! {
    fn shelves_hold_archives_moved_by_scan_and_count_what_they_withhold(store) {
        let app = TestApp::start(store);
        let (admin, archivist) = staff(&app);
        let department = app.department(&admin, "SH");
        app.user(&admin, "auditor", &department, &["auditor"], "internal");
        app.user(&admin, "reader", &department, &[], "top_secret");
        let auditor = app.login("auditor", PASSWORD);
        let reader = app.login("reader", PASSWORD);
        let place = |parent: Option<&Value>, code: &str, name: &str| {
            let reply = app.client.post("/api/v1/locations", Some(&archivist), &json!({
                "parent_id": parent.map(|p| p["id"].clone()), "code": code, "name": name, "barcode": format!("LOC-{name}")}));
            assert_eq!(reply.status, 201, "{}", reply.body);
            reply.json()
        };
        let room = place(None, "K1", "一号库房");
        let range = place(Some(&room), "A", "A区密集架");
        let column = place(Some(&range), "03", "第3列");
        let shelf = place(Some(&column), "05", "第5层");
        let other = place(Some(&range), "04", "第4列");
        assert_eq!((shelf["path"].as_str(), shelf["depth"].as_u64()), (Some("K1-A-03-05"), Some(4)));
        app.client.post("/api/v1/locations", Some(&archivist), &json!({"parent_id": range["id"], "code": "03", "name": "again", "barcode": "LOC-X"}))
            .assert_problem(409, "duplicate_code");

        let on_shelf = |barcode: &str, classification: &str| {
            let mut body = filed(barcode, "WS", json!({"year": 2019, "retention": "Y", "location_id": shelf["id"]}));
            body.as_object_mut().unwrap().remove("location");
            body["classification"] = json!(classification);
            app.archive(&archivist, &body)
        };
        let first = on_shelf("S1", "internal");
        let second = on_shelf("S2", "internal");
        let secret = on_shelf("S3", "secret");
        assert_eq!((first["location"].as_str(), first["location_id"].as_str()), (Some("K1-A-03-05"), shelf["id"].as_str()), "{first}");

        // Scan the other column, then the archives: moved all at once, audited one by one.
        let moved = app.client.post(&format!("/api/v1/locations/{}/moves", other["id"].as_str().unwrap()), Some(&archivist),
            &json!({"barcodes": ["S1"], "archive_ids": [second["id"]]}));
        assert_eq!(moved.status, 200, "{}", moved.body);
        let moved = moved.json();
        let labels: Vec<&str> = moved["items"].as_array().unwrap().iter().map(|a| a["location"].as_str().unwrap()).collect();
        assert_eq!(labels.len(), 2);
        assert!(labels.iter().all(|l| *l == "K1-A-04"), "{labels:?}");
        let audit = app.client.get(&format!("/api/v1/audit-events?entity_id={}", first["id"].as_str().unwrap()), Some(&admin)).json();
        let moved_event = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "archive.moved").unwrap_or_else(|| panic!("{audit}")).clone();
        assert_eq!(moved_event["data"]["from"]["location"], "K1-A-03-05", "{moved_event}");
        assert_eq!(moved_event["data"]["to"]["location"], "K1-A-04");
        let refused = app.client.post(&format!("/api/v1/locations/{}/moves", shelf["id"].as_str().unwrap()), Some(&archivist),
            &json!({"barcodes": ["S1", "NO-SUCH"]})).assert_problem(422, "validation_failed");
        assert!(refused["errors"]["barcodes[1]"].is_array(), "{refused}");
        assert_eq!(codes(&app, &archivist, &format!("location_id={}", other["id"].as_str().unwrap())).len(), 2, "nothing moved back");

        // A place and everything beneath it; what is above the reader is counted, not named.
        let range_id = range["id"].as_str().unwrap();
        assert_eq!(codes(&app, &archivist, &format!("location_id={range_id}")).len(), 3);
        assert_eq!(codes(&app, &auditor, &format!("location_id={range_id}")).len(), 2);
        assert_eq!(codes(&app, &archivist, &format!("location_id={}", column["id"].as_str().unwrap())).len(), 1);
        let seen = app.client.get(&format!("/api/v1/locations/{range_id}"), Some(&auditor)).json();
        assert_eq!((seen["archives"].as_i64(), seen["withheld"].as_i64()), (Some(2), Some(1)), "{seen}");
        let all = app.client.get(&format!("/api/v1/locations/{range_id}"), Some(&archivist)).json();
        assert_eq!((all["archives"].as_i64(), all["withheld"].as_i64()), (Some(3), Some(0)));
        let scanned = app.client.get(&format!("/api/v1/locations/by-barcode/{}", enc("LOC-第3列")), Some(&archivist)).json();
        assert_eq!((scanned["path"].as_str(), scanned["archives"].as_i64()), (Some("K1-A-03"), Some(1)), "{scanned}");
        app.client.get("/api/v1/locations/by-barcode/LOC-NONE", Some(&archivist)).assert_problem(404, "not_found");
        let children = app.client.get(&format!("/api/v1/locations?parent_id={range_id}"), Some(&archivist)).json();
        let paths: Vec<&str> = children["items"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["K1-A-03", "K1-A-04"]);
        app.client.get("/api/v1/locations", Some(&reader)).assert_problem(403, "forbidden");

        // Moving a column to another room moves what is on it; a place cannot go beneath itself.
        let second_room = place(None, "K2", "二号库房");
        let column_id = column["id"].as_str().unwrap();
        let reply = app.client.patch(&format!("/api/v1/locations/{column_id}"), Some(&archivist), Some("\"1\""), &json!({"parent_id": second_room["id"]}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["path"], "K2-03");
        let secret_now = app.client.get(&format!("/api/v1/archives/{}", secret["id"].as_str().unwrap()), Some(&archivist)).json();
        assert_eq!(secret_now["location"], "K2-03-05", "{secret_now}");
        let room_id = room["id"].as_str().unwrap();
        let cycle = app.client.patch(&format!("/api/v1/locations/{room_id}"), Some(&archivist), Some("\"1\""), &json!({"parent_id": range["id"]}))
            .assert_problem(422, "validation_failed");
        assert!(cycle["errors"]["parent_id"].is_array(), "{cycle}");
    }
}

both_stores! {
    fn an_open_archive_may_be_read_in_the_reading_room_without_approval_where_the_site_says_so(store) {
        let app = TestApp::start(store);
        let (admin, archivist) = staff(&app);
        let department = app.department(&admin, "YL");
        app.user(&admin, "reader", &department, &[], "internal");
        let reader = app.login("reader", PASSWORD);
        let policy = json!({
            "name": "开放档案阅览", "priority": 1000,
            "match": {"categories": ["WS"], "openings": ["open"], "loan_types": ["on_site"]},
            "approval_steps": [], "max_days": 1, "max_renewals": 0, "allowed_loan_types": ["on_site"], "pickup_days": 1
        });
        let created = app.client.post("/api/v1/policies", Some(&admin), &policy);
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.json()["match"]["openings"], json!(["open"]));
        let open = app.archive(&archivist, &filed("O1", "WS", json!({"year": 2001, "retention": "Y", "opening": "open", "classification": "public"})));
        let controlled = app.archive(&archivist, &filed("O2", "WS", json!({"year": 2001, "retention": "Y", "classification": "public"})));
        let ask = |archive: &Value| {
            let reply = app.client.post("/api/v1/loan-requests", Some(&reader), &json!({
                "archive_ids": [archive["id"]], "purpose": "查阅", "loan_type": "on_site", "days": 1}));
            assert_eq!(reply.status, 201, "{}", reply.body);
            reply.json()["status"].as_str().unwrap().to_owned()
        };
        assert_eq!(ask(&open), "approved", "open, in the reading room: no head's approval");
        assert_eq!(ask(&controlled), "pending", "controlled: the ordinary chain");
    }
}
