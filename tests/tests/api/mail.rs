//! E-mail of notifications through a real SMTP listener started by the test: recipient, sender,
//! the bilingual subject and body, nothing for users without an address, a retry after a
//! temporary refusal, and no backlog of day-old notices.

use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD, Engine};
use dangan_api::{mail::Mailer, scheduler};
use dangan_tests::{archive_body, both_stores, smtp::SmtpServer, TestApp, TestStore, PASSWORD};
use serde_json::json;
use time::Duration;

struct Setup {
    app: TestApp,
    smtp: SmtpServer,
    archive: String,
}

/// An app that mails through a test SMTP listener answering `codes`; the archivist (who
/// approves public archives) has an address, the borrower and the admin have none.
fn setup(store: TestStore, codes: &[u16]) -> Setup {
    let smtp = SmtpServer::start(codes);
    let url = smtp.url.clone();
    let app = TestApp::start_with(store, move |state| {
        state.mailer = Some(Arc::new(
            Mailer::new(&url, "Dangan 档案 <dangan@example.cn>").unwrap(),
        ));
    });
    let admin = app.admin_token();
    let department = app.department(&admin, "DA");
    let archivist = app.client.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "keeper", "display_name": "王档案", "password": PASSWORD,
                "department_id": department, "roles": ["archivist"], "clearance": "internal",
                "email": "keeper@example.cn"}),
    );
    assert_eq!(archivist.status, 201, "{}", archivist.body);
    app.user(&admin, "reader", &department, &[], "public");
    let archive = app.archive(&admin, &archive_body("WS-2026-Y-4001", "public"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup { app, smtp, archive }
}

impl Setup {
    /// A request waiting for the archivist: after 24 hours it earns them a reminder.
    fn ask(&self) {
        let reply = self.app.client.post(
            "/api/v1/loan-requests",
            Some(&self.app.login("reader", PASSWORD)),
            &json!({"archive_ids": [self.archive], "purpose": "编史 / chronicle", "loan_type": "on_site", "days": 2}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    fn mail(&self) -> usize {
        dangan_api::mail::deliver_due(&self.app.state).unwrap()
    }
}

/// The headers of a message, unfolded, and its body.
fn parse(data: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = data.split_once("\r\n\r\n").unwrap();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            // Unfolding removes the line break only (RFC 5322 2.2.3).
            headers.last_mut().unwrap().1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, body.to_owned())
}

/// Decodes RFC 2047 `=?utf-8?b?…?=` words (and plain text around them).
fn decode_words(value: &str) -> String {
    let mut text = String::new();
    for word in value.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if lower.starts_with("=?utf-8?b?") && word.ends_with("?=") {
            let encoded = &word[10..word.len() - 2];
            text.push_str(&String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap());
        } else {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
    }
    text
}

both_stores! {
    fn a_notification_is_mailed_to_its_user_in_chinese_and_english(store) {
        let setup = setup(store, &[250]);
        setup.ask();
        assert_eq!(setup.mail(), 0, "nothing to mail yet");
        setup.app.clock.advance(Duration::hours(24));
        assert_eq!(scheduler::run_once(&setup.app.state).unwrap().reminders, 1);
        assert_eq!(setup.mail(), 1);
        assert_eq!(setup.mail(), 0, "sent once");

        let accepted = setup.smtp.accepted();
        assert_eq!(accepted.len(), 1);
        let mail = &accepted[0];
        assert_eq!(mail.from, "dangan@example.cn");
        assert_eq!(mail.to, ["keeper@example.cn"]);
        let (headers, body) = parse(&mail.data);
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        let subject = decode_words(&header("subject"));
        assert!(subject.starts_with("待审批提醒 / Waiting for your approval: JY-"), "{subject}");
        assert!(header("to").contains("keeper@example.cn"));
        assert_eq!(header("content-transfer-encoding").to_ascii_lowercase(), "base64");
        let body = String::from_utf8(STANDARD.decode(body.replace("\r\n", "")).unwrap()).unwrap();
        assert!(body.contains("正在等待您的决定") && body.contains("is waiting for your decision"), "{body}");

        // The escalation goes to the admin, who has no address: in-app only.
        setup.app.clock.advance(Duration::hours(48));
        assert_eq!(scheduler::run_once(&setup.app.state).unwrap().reminders, 1);
        assert_eq!(setup.mail(), 0);
        assert_eq!(setup.smtp.accepted().len(), 1);
    }

    fn a_refused_mail_is_retried_and_a_stale_one_is_never_sent(store) {
        let setup = setup(store, &[451, 250]);
        setup.ask();
        setup.app.clock.advance(Duration::hours(24));
        scheduler::run_once(&setup.app.state).unwrap();
        assert_eq!(setup.mail(), 1, "tried, refused for now");
        assert!(setup.smtp.accepted().is_empty());
        assert_eq!(setup.mail(), 0, "the retry waits a minute");
        setup.app.clock.advance(Duration::minutes(1));
        assert_eq!(setup.mail(), 1);
        assert_eq!(setup.smtp.accepted().len(), 1);

        // A notice that waited more than a day for the mailer is not news any more.
        setup.ask();
        setup.app.clock.advance(Duration::hours(24));
        assert_eq!(scheduler::run_once(&setup.app.state).unwrap().reminders, 1);
        setup.app.clock.advance(Duration::hours(25));
        assert_eq!(setup.mail(), 0);
        assert_eq!(setup.smtp.accepted().len(), 1);
    }
}
