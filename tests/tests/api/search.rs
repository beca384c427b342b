//! Catalogue search: every field, Chinese and English, case, each filter, sorts, and paging.

use dangan_tests::{archive_body, both_stores, codes, enc, TestApp, PASSWORD};
use diesel::RunQueryDsl;
use serde_json::json;

fn seed(app: &TestApp, token: &str, department: &str) {
    let rows = [
        (
            "WS-2019-Y-0042",
            "B-0042",
            "2019年劳动合同",
            "人事处 合同 汇编",
            "人事",
            "internal",
            "paper",
            "A-03-12-05",
            2019,
        ),
        (
            "WS-2020-Y-0007",
            "B-0007",
            "Annual Budget REPORT",
            "finance, yearly",
            "会计",
            "public",
            "electronic",
            "A-03-14-01",
            2020,
        ),
        (
            "KJ-2018-C-0100",
            "B-0100",
            "桥梁设计图纸",
            "Bridge drawings, steel",
            "科技",
            "secret",
            "mixed",
            "B-01-02-03",
            2018,
        ),
        (
            "JJ-2021-Y-0300",
            "B-0300",
            "基建工程合同",
            "construction contract",
            "基建",
            "internal",
            "paper",
            "A-04-01-01",
            2021,
        ),
        (
            "RS-2017-Y-0005",
            "B-0005",
            "人事任免文件",
            "personnel appointments",
            "人事",
            "confidential",
            "paper",
            "C-01-01-01",
            2017,
        ),
    ];
    for (code, barcode, title, description, category, classification, medium, location, year) in
        rows
    {
        let mut body = archive_body(code, classification);
        body["barcode"] = json!(barcode);
        body["title"] = json!(title);
        body["description"] = json!(description);
        body["category"] = json!(category);
        body["medium"] = json!(medium);
        body["location"] = json!(location);
        body["year"] = json!(year);
        if category == "人事" {
            body["department_id"] = json!(department);
        }
        app.archive(token, &body);
    }
}

both_stores! {
    fn q_matches_code_barcode_title_and_description_in_any_case(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "RS");
        seed(&app, &admin, &department);
        let q = |text: &str| codes(&app, &admin, &format!("q={}", enc(text)));

        assert_eq!(q("合同"), ["JJ-2021-Y-0300", "WS-2019-Y-0042"], "two-character Chinese word, title and description");
        assert_eq!(q("人事"), ["RS-2017-Y-0005", "WS-2019-Y-0042"]);
        assert_eq!(q("劳动合同"), ["WS-2019-Y-0042"], "a longer Chinese phrase");
        assert_eq!(q("合同劳动"), Vec::<String>::new(), "phrase order matters");
        assert_eq!(q("桥"), ["KJ-2018-C-0100"], "one character");
        assert_eq!(q("report"), ["WS-2020-Y-0007"], "case-insensitive title");
        assert_eq!(q("REP"), ["WS-2020-Y-0007"], "prefix of a word");
        assert_eq!(q("Steel"), ["KJ-2018-C-0100"], "description");
        assert_eq!(q("ws-2019-y-0042"), ["WS-2019-Y-0042"], "archive code, any case");
        assert_eq!(q("B-0300"), ["JJ-2021-Y-0300"], "barcode");
        assert_eq!(q("2019年"), ["WS-2019-Y-0042"], "digits and Chinese together");
        assert_eq!(q("contract 基建"), ["JJ-2021-Y-0300"], "all words must match");
        assert_eq!(q("nothing-like-this"), Vec::<String>::new());
        assert_eq!(q("%_"), q(""), "a query with nothing searchable is no filter");
    }

    fn every_filter_narrows_and_combines(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "RS");
        seed(&app, &admin, &department);
        let f = |query: &str| codes(&app, &admin, query);

        assert_eq!(f(&format!("category={}", enc("人事"))), ["RS-2017-Y-0005", "WS-2019-Y-0042"]);
        assert_eq!(f("classification=internal"), ["JJ-2021-Y-0300", "WS-2019-Y-0042"]);
        assert_eq!(f("medium=electronic"), ["WS-2020-Y-0007"]);
        assert_eq!(f(&format!("department_id={department}")), ["RS-2017-Y-0005", "WS-2019-Y-0042"]);
        assert_eq!(f("year_from=2019&year_to=2020"), ["WS-2020-Y-0007", "WS-2019-Y-0042"]);
        assert_eq!(f("year_from=2021"), ["JJ-2021-Y-0300"]);
        assert_eq!(f("location=A-03"), ["WS-2020-Y-0007", "WS-2019-Y-0042"]);
        assert_eq!(f("location=A-03-12"), ["WS-2019-Y-0042"]);
        assert_eq!(f("location=a-03"), Vec::<String>::new(), "locations are codes: exact case");
        assert_eq!(f("status=available").len(), 5);
        assert_eq!(f("status=retired").len(), 0);
        assert_eq!(f(&format!("q={}&classification=internal&location=A", enc("合同"))), ["JJ-2021-Y-0300", "WS-2019-Y-0042"]);
        assert_eq!(f(&format!("q={}&year_to=2020", enc("合同"))), ["WS-2019-Y-0042"]);

        // Sorted by code or title the filters and the clearance are written for no index to
        // serve (persistence `filtered`): they narrow exactly as in catalogue order.
        app.user(&admin, "reader", &department, &[], "internal");
        let reader = app.login("reader", PASSWORD);
        assert_eq!(codes(&app, &reader, "sort=archive_code"), ["JJ-2021-Y-0300", "WS-2019-Y-0042", "WS-2020-Y-0007"]);
        let department_filter = format!("department_id={department}");
        let category_filter = format!("category={}", enc("人事"));
        for filter in ["", "classification=internal", "medium=paper", "status=available", "year_from=2019&year_to=2019", &department_filter, &category_filter] {
            for token in [&admin, &reader] {
                let mut newest = codes(&app, token, filter);
                newest.sort();
                assert_eq!(codes(&app, token, &format!("{filter}&sort=archive_code")), newest, "{filter}");
                let mut by_title = codes(&app, token, &format!("{filter}&sort=title"));
                by_title.sort();
                assert_eq!(by_title, newest, "{filter}");
            }
        }
        app.client.get("/api/v1/archives?classification=restricted", Some(&admin)).assert_problem(400, "bad_request");
        app.client.get("/api/v1/archives?sort=size", Some(&admin)).assert_problem(400, "bad_request");
        app.client.get("/api/v1/archives?year_from=soon", Some(&admin)).assert_problem(400, "bad_request");
    }

    fn sorts_and_pages_without_duplicates_or_gaps_while_others_insert(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        for i in 0..23 {
            let mut body = archive_body(&format!("PG-{:03}", (i * 7) % 23), "public");
            body["title"] = json!(format!("标题 {}", (i * 5) % 23 % 4));
            app.archive(&admin, &body);
        }
        let by = |sort: &str| codes(&app, &admin, &format!("sort={sort}&limit=500&q=PG"));
        let created = by("created_at");
        let mut newest = by("-created_at");
        assert_eq!(newest, by("-created_at"));
        newest.reverse();
        assert_eq!(created, newest, "created_at is the reverse of -created_at");
        let mut sorted = created.clone();
        sorted.sort();
        assert_eq!(by("archive_code"), sorted);
        let titles: Vec<String> = app.client.get("/api/v1/archives?sort=title&limit=500", Some(&admin)).json()["items"]
            .as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap().to_owned()).collect();
        let mut sorted_titles = titles.clone();
        sorted_titles.sort();
        assert_eq!(titles, sorted_titles);

        for sort in ["-created_at", "created_at", "archive_code", "title"] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/api/v1/archives?sort={sort}&limit=5&q=PG&cursor={c}"),
                    None => format!("/api/v1/archives?sort={sort}&limit=5&q=PG"),
                };
                let page = app.client.get(&path, Some(&admin)).json();
                pages += 1;
                seen.extend(page["items"].as_array().unwrap().iter().map(|a| a["archive_code"].as_str().unwrap().to_owned()));
                if pages == 2 {
                    // Someone catalogues more while we page: the walk neither repeats nor skips.
                    let mut body = archive_body(&format!("PG-NEW-{sort}"), "public");
                    body["title"] = json!("标题 9");
                    app.archive(&admin, &body);
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), seen.len(), "{sort}: no duplicates");
            for code in &created {
                assert!(seen.contains(code), "{sort}: {code} was skipped");
            }
        }
        let first = app.client.get("/api/v1/archives?sort=title&limit=2", Some(&admin)).json();
        let cursor = first["next_cursor"].as_str().unwrap();
        app.client.get(&format!("/api/v1/archives?sort=archive_code&cursor={cursor}"), Some(&admin)).assert_problem(400, "bad_request");
        app.client.get("/api/v1/archives?cursor=not-a-cursor", Some(&admin)).assert_problem(400, "bad_request");
    }
}

both_stores! {
    fn a_common_word_with_a_rare_filter_is_found_across_the_whole_index(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        // 20,100 archives share a word; only the three oldest are 基建. SQLite reads its full-text
        // index in batches and PostgreSQL checks the newest 20,000 row by row before asking its
        // index, so finding them means going past every newer match on both stores.
        let mut csv = String::from("archive_code,barcode,title,category,classification,medium,location\n");
        for i in 0..20_100 {
            let category = match i {
                0..=2 => "基建",
                5 | 20_000 | 20_098.. => "科技",
                _ => "文书",
            };
            csv.push_str(&format!("BULK-{i:05},BB-{i:05},批量档案 {i},{category},public,paper,A-01\n"));
        }
        let reply = app.send_bytes("POST", "/api/v1/archives/import", &admin, "text/csv", csv.as_bytes());
        assert_eq!(reply.status, 200, "{}", reply.body);
        let query = format!("q={}&category={}", enc("批量"), enc("基建"));
        assert_eq!(codes(&app, &admin, &query), ["BULK-00002", "BULK-00001", "BULK-00000"]);
        assert_eq!(codes(&app, &admin, &format!("{query}&sort=created_at")), ["BULK-00000", "BULK-00001", "BULK-00002"]);

        let first = app.client.get(&format!("/api/v1/archives?{query}&limit=2"), Some(&admin)).json();
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = codes(&app, &admin, &format!("{query}&limit=2&cursor={cursor}"));
        assert_eq!(second, ["BULK-00000"]);
        let all = app.client.get(&format!("/api/v1/archives?q={}&limit=500", enc("批量")), Some(&admin)).json();
        assert_eq!(all["items"][0]["archive_code"], "BULK-20099");
        assert_eq!(all["items"].as_array().unwrap().len(), 500);
        // A page that straddles the newest 20,000 and the rest continues without a gap.
        let cursor = all["next_cursor"].as_str().unwrap();
        let mut seen = 500;
        let mut cursor = cursor.to_owned();
        let mut last = String::new();
        for _ in 0..40 {
            let page = app.client.get(&format!("/api/v1/archives?q={}&limit=500&cursor={cursor}", enc("批量")), Some(&admin)).json();
            let items = page["items"].as_array().unwrap();
            seen += items.len();
            last = items.last().map(|a| a["archive_code"].as_str().unwrap().to_owned()).unwrap_or(last);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, 20_100);
        assert_eq!(last, "BULK-00000");

        // Sorted by code or title, PostgreSQL checks the 20,000 archives after the cursor row by
        // row and finds the rest through its index: matches on both sides of that edge and on
        // the edge itself (BULK-20000 is the 20,001st code), in order.
        let rare = format!("q={}&category={}", enc("批量"), enc("科技"));
        assert_eq!(codes(&app, &admin, &format!("{rare}&sort=archive_code")), ["BULK-00005", "BULK-20000", "BULK-20098", "BULK-20099"]);
        assert_eq!(codes(&app, &admin, &format!("{rare}&sort=title")), ["BULK-20000", "BULK-20098", "BULK-20099", "BULK-00005"]);
        for sort in ["archive_code", "title"] {
            let mut paged = Vec::new();
            let mut cursor = String::new();
            for _ in 0..5 {
                let page = app.client.get(&format!("/api/v1/archives?{rare}&sort={sort}&limit=1{cursor}"), Some(&admin)).json();
                paged.extend(page["items"].as_array().unwrap().iter().map(|a| a["archive_code"].as_str().unwrap().to_owned()));
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = format!("&cursor={next}"),
                    None => break,
                }
            }
            assert_eq!(paged, codes(&app, &admin, &format!("{rare}&sort={sort}")), "sort={sort}, one per page");
        }
    }
}

/// The store's own full-text index, checked against the archives: SQLite's FTS5 integrity check
/// compares the index with its content table; on PostgreSQL every vector must be the one
/// `archive_search_vector` makes from the archive's tokens, whoever wrote it.
fn index_matches_catalogue(app: &TestApp) {
    #[derive(diesel::QueryableByName)]
    struct Stale {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        stale: i64,
    }
    let pool = dangan_persistence::db::connect(&app.store.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    if app.store.url.starts_with("postgres") {
        let found: Stale = diesel::sql_query(
            "SELECT count(*) AS stale FROM archives \
             WHERE search_vector IS DISTINCT FROM archive_search_vector(search_text)",
        )
        .get_result(&mut *conn)
        .unwrap();
        assert_eq!(
            found.stale, 0,
            "vectors that differ from archive_search_vector"
        );
    } else {
        diesel::sql_query(
            "INSERT INTO archives_fts (archives_fts, rank) VALUES ('integrity-check', 1)",
        )
        .execute(&mut *conn)
        .unwrap();
    }
}

both_stores! {
    fn the_index_follows_creates_edits_and_imports(store) {
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let q = |text: &str| codes(&app, &admin, &format!("q={}", enc(text)));
        let mut body = archive_body("IX-1", "public");
        body["title"] = json!("旧标题 alpha");
        let created = app.archive(&admin, &body);
        assert_eq!(q("alpha"), ["IX-1"]);
        assert_eq!(q("旧标题"), ["IX-1"]);

        let path = format!("/api/v1/archives/{}", created["id"].as_str().unwrap());
        let changed = app.client.patch(&path, Some(&admin), None, &json!({"title": "新标题 beta"}));
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(q("beta"), ["IX-1"]);
        assert_eq!(q("alpha"), Vec::<String>::new(), "the old title is gone from the index");
        assert_eq!(q("旧标题"), Vec::<String>::new());
        app.client.patch(&path, Some(&admin), None, &json!({"location": "Z-9"}));
        assert_eq!(q("beta"), ["IX-1"], "an edit that leaves the text alone keeps it indexed");

        // Tokens at PostgreSQL's limits: a word over 2,047 bytes, a bigram 300 times, a phrase
        // past both, through the import (which writes vectors itself) and through a create.
        let long_word = "é".repeat(1_100);
        let repeated = "哈".repeat(301);
        let csv = format!(
            "archive_code,barcode,title,description,category,classification,medium,location\n\
             IX-1,IX-B1,导入标题 gamma,,文书,public,paper,A-1\n\
             IX-2,IX-B2,边界 delta,{long_word} {repeated} 终点,文书,public,paper,A-1\n\
             IX-3,IX-B3,第三 epsilon,,文书,public,paper,A-1\n"
        );
        let imported = app.send_bytes("POST", "/api/v1/archives/import", &admin, "text/csv", csv.as_bytes());
        assert_eq!(imported.status, 200, "{}", imported.body);
        assert_eq!(imported.json()["created"], 2);
        assert_eq!(imported.json()["updated"], 1);
        assert_eq!(q("gamma"), ["IX-1"], "an upserted title is indexed");
        assert_eq!(q("beta"), Vec::<String>::new());
        assert_eq!(q("delta 终点"), ["IX-2"]);
        assert_eq!(q("哈哈 epsilon"), Vec::<String>::new());
        assert_eq!(q("哈哈"), ["IX-2"]);
        assert_eq!(q("epsilon"), ["IX-3"]);
        let mut edge = archive_body("IX-4", "public");
        edge["description"] = json!(format!("{long_word} {repeated} 终点"));
        app.archive(&admin, &edge);
        assert_eq!(q("终点"), ["IX-4", "IX-2"]);
        index_matches_catalogue(&app);
    }
}
