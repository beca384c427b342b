//! Excel ledgers: a workbook written by openpyxl (PyPI) the way an archivist keeps one imports,
//! a bad cell is named, and an exported workbook read back by openpyxl is the search result.

use std::process::Command;

use dangan_tests::{both_stores, enc, skip_or_fail, TestApp, PASSWORD};
use serde_json::{json, Value};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The Python with openpyxl that `.ci/run` installs, or none (the test skips, or fails where
/// every peer must run).
fn openpyxl() -> Option<String> {
    let python = std::env::var("DANGAN_TEST_OPENPYXL").ok();
    if python.is_none() {
        skip_or_fail("DANGAN_TEST_OPENPYXL");
    }
    python
}

/// Runs `script` with the workbook's path as `sys.argv[1]` and returns what it prints.
fn python(interpreter: &str, script: &str, path: &std::path::Path) -> String {
    let out = Command::new(interpreter)
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A ledger as an archivist keeps it: Chinese headings, a 件号 typed as a number, a year typed
/// as text in one row and as a number in the other, a date cell, a trailing space, the
/// ledger's words for classification and retention, and a row of nothing but a space at the end.
const LEDGER: &str = r#"
import sys, datetime, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "档案台账"
ws.append(["门类代码", "年度", "保管期限", "件号", "条码", "题名", "密级", "载体", "存放位置", "开放状态", "开放日期"])
ws.append(["WS", 2019, "永久", 7, "LX-1 ", "关于开展档案检查的通知", "内部", "纸质", "A-01", "延期开放", datetime.date(2045, 1, 1)])
ws.append(["WS", "2019", "定期30年", 8, "LX-2", "2019年度工作会议纪要", "秘密", "纸质", "A-01", None, None])
ws.append([" "])
wb.save(sys.argv[1])
"#;

/// The same ledger with a classification no one uses, in its third row.
const BAD_LEDGER: &str = r#"
import sys, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
ws.append(["门类代码", "年度", "保管期限", "件号", "条码", "题名", "密级", "载体", "存放位置"])
ws.append(["WS", 2020, "永久", 1, "LX-3", "通知", "内部", "纸质", "A-01"])
ws.append(["WS", 2020, "永久", 2, "LX-4", "通知", "绝对机密", "纸质", "A-01"])
wb.save(sys.argv[1])
"#;

/// Every row of the first sheet, as JSON: the headings, then the values as text.
const READ_BACK: &str = r#"
import sys, json, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
print(json.dumps([[None if c is None else str(c) for c in row] for row in ws.iter_rows(values_only=True)], ensure_ascii=False))
"#;

fn workbook(interpreter: &str, script: &str, name: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("dangan-ledger-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    python(interpreter, script, &path);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    bytes
}

both_stores! {
    fn an_archivists_excel_ledger_imports_and_the_catalogue_exports_as_one(store) {
        let Some(interpreter) = openpyxl() else { return };
        let app = TestApp::start(store);
        let admin = app.admin_token();
        let department = app.department(&admin, "DA");
        app.user(&admin, "archivist", &department, &["archivist"], "secret");
        let archivist = app.login("archivist", PASSWORD);

        let ledger = workbook(&interpreter, LEDGER, "台账.xlsx");
        let reply = app.send_bytes("POST", "/api/v1/archives/import", &archivist, XLSX, &ledger);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["created"], 2);
        let found = app.client.get(&format!("/api/v1/archives?archive_code={}&sort=archive_code", enc("J001-WS·2019")), Some(&archivist)).json();
        let items = found["items"].as_array().unwrap();
        let codes: Vec<&str> = items.iter().map(|a| a["archive_code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["J001-WS·2019-D30-0008", "J001-WS·2019-Y-0007"]);
        let delayed = &items[1];
        assert_eq!(delayed["barcode"], "LX-1", "the trailing space is no part of it");
        assert_eq!((delayed["classification"].as_str(), delayed["medium"].as_str()), (Some("internal"), Some("paper")));
        assert_eq!((delayed["opening"].as_str(), delayed["opens_on"].as_str()), (Some("delayed"), Some("2045-01-01")), "{delayed}");
        assert_eq!((items[0]["classification"].as_str(), items[0]["year"].as_i64()), (Some("secret"), Some(2019)));

        let bad = workbook(&interpreter, BAD_LEDGER, "bad.xlsx");
        let refused = app.send_bytes("POST", "/api/v1/archives/import", &archivist, XLSX, &bad);
        assert_eq!(refused.status, 422, "{}", refused.body);
        let errors = refused.json()["errors"].clone();
        assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
        assert_eq!((errors[0]["cell"].as_str(), errors[0]["field"].as_str(), errors[0]["row"].as_i64()), (Some("G3"), Some("classification"), Some(3)), "{errors}");
        assert_eq!(app.client.get("/api/v1/archives?q=LX-3", Some(&archivist)).json()["items"], json!([]), "nothing written");

        // The catalogue as a ledger: openpyxl reads back what the search shows.
        let exported = app.client.get_with("/api/v1/archives?category_code=WS&sort=archive_code", &[("Authorization", &format!("Bearer {archivist}")), ("Accept", XLSX)]);
        assert_eq!(exported.status, 200, "{}", exported.body);
        assert_eq!(exported.header("content-type"), Some(XLSX));
        let dir = std::env::temp_dir().join(format!("dangan-export-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("archives.xlsx");
        std::fs::write(&path, &exported.bytes).unwrap();
        let rows: Vec<Vec<Option<String>>> = serde_json::from_str(&python(&interpreter, READ_BACK, &path)).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let headings = &rows[0];
        let column = |heading: &str| headings.iter().position(|h| h.as_deref() == Some(heading)).unwrap();
        let searched = app.client.get("/api/v1/archives?category_code=WS&sort=archive_code", Some(&archivist)).json();
        let searched = searched["items"].as_array().unwrap();
        assert_eq!(rows.len() - 1, searched.len());
        for (row, archive) in rows[1..].iter().zip(searched) {
            for (heading, field) in [("档号", "archive_code"), ("条码", "barcode"), ("题名", "title"), ("密级", "classification"),
                                     ("保管期限", "retention"), ("开放日期", "opens_on"), ("年度", "year")] {
                let expected = match &archive[field] { Value::Null => None, Value::String(s) => Some(s.clone()), other => Some(other.to_string()) };
                assert_eq!(row[column(heading)], expected, "{heading} of {}", archive["archive_code"]);
            }
        }
        // What it exported imports again as it is.
        let again = app.send_bytes("POST", "/api/v1/archives/import?dry_run=true", &archivist, XLSX, &exported.bytes);
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!((again.json()["unchanged"].as_i64(), again.json()["created"].as_i64()), (Some(2), Some(0)), "{}", again.body);
    }
}
