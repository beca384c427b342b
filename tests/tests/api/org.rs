//! An organisation to lend in, shared by the lending and reminder tests.

use std::collections::HashMap;

use dangan_tests::{archive_body, Reply, TestApp, PASSWORD};
use serde_json::{json, Value};

/// An organisation to lend in: the HR department with its head, two archivists, a security
/// officer, a leader and two borrowers (every one cleared for top secret but `other`).
pub(crate) struct Org {
    pub(crate) app: TestApp,
    pub(crate) admin: String,
    pub(crate) department: String,
    pub(crate) names: HashMap<String, String>,
}

const PEOPLE: [(&str, &[&str], &str); 7] = [
    ("head", &[], "top_secret"),
    ("archivist", &["archivist"], "top_secret"),
    ("second", &["archivist"], "top_secret"),
    ("officer", &["security_officer"], "top_secret"),
    ("leader", &["leader"], "top_secret"),
    ("borrower", &[], "top_secret"),
    ("other", &[], "secret"),
];

pub(crate) fn org(store: dangan_tests::TestStore) -> Org {
    org_in(TestApp::start(store))
}

/// The organisation in an app already started (on a store or configuration of the test's own).
pub(crate) fn org_in(app: TestApp) -> Org {
    let admin = app.admin_token();
    let department = app.department(&admin, "HR");
    let mut names = HashMap::new();
    let me = app.client.get("/api/v1/me", Some(&admin)).json();
    names.insert(me["id"].as_str().unwrap().to_owned(), "admin".to_owned());
    for (name, roles, clearance) in PEOPLE {
        let user = app.user(&admin, name, &department, roles, clearance);
        names.insert(user["id"].as_str().unwrap().to_owned(), name.to_owned());
    }
    let head = org_id(&names, "head");
    let reply = app.client.patch(
        &format!("/api/v1/departments/{department}"),
        Some(&admin),
        None,
        &json!({"head_user_id": head}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    Org {
        app,
        admin,
        department,
        names,
    }
}

fn org_id(names: &HashMap<String, String>, name: &str) -> String {
    names
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(id, _)| id.clone())
        .unwrap()
}

impl Org {
    pub(crate) fn id(&self, name: &str) -> String {
        org_id(&self.names, name)
    }

    pub(crate) fn token(&self, name: &str) -> String {
        if name == "admin" {
            self.app.admin_token()
        } else {
            self.app.login(name, PASSWORD)
        }
    }

    /// Catalogues an archive of `classification`; returns its id.
    pub(crate) fn archive(&self, code: &str, classification: &str) -> String {
        let archive = self
            .app
            .archive(&self.token("admin"), &archive_body(code, classification));
        archive["id"].as_str().unwrap().to_owned()
    }

    pub(crate) fn ask(&self, who: &str, archives: &[&str], loan_type: &str, days: i64) -> Reply {
        self.app.client.post(
            "/api/v1/loan-requests",
            Some(&self.token(who)),
            &json!({"archive_ids": archives, "purpose": "年度审计 / annual audit", "loan_type": loan_type, "days": days}),
        )
    }

    pub(crate) fn request(
        &self,
        who: &str,
        archives: &[&str],
        loan_type: &str,
        days: i64,
    ) -> Value {
        let reply = self.ask(who, archives, loan_type, days);
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()
    }

    pub(crate) fn decide(&self, who: &str, request: &Value, verb: &str, body: &Value) -> Reply {
        let id = request["id"].as_str().unwrap();
        self.app.client.post(
            &format!("/api/v1/loan-requests/{id}/{verb}"),
            Some(&self.token(who)),
            body,
        )
    }

    /// The first approver of the current step.
    pub(crate) fn current_approver(&self, request: &Value) -> String {
        let step = request["current_step"].as_u64().unwrap() as usize;
        let id = request["steps"][step]["approver_ids"][0].as_str().unwrap();
        self.names[id].clone()
    }

    /// Approves step after step; returns the approved request.
    pub(crate) fn approve_all(&self, mut request: Value) -> Value {
        while request["status"] == "pending" {
            let approver = self.current_approver(&request);
            let reply = self.decide(&approver, &request, "approve", &json!({"comment": "同意"}));
            assert_eq!(reply.status, 200, "{}", reply.body);
            request = reply.json();
        }
        assert_eq!(request["status"], "approved");
        request
    }

    pub(crate) fn check_out(&self, who: &str, request: &Value, barcode: &str) -> Reply {
        self.app.client.post(
            "/api/v1/checkouts",
            Some(&self.token(who)),
            &json!({"request_id": request["id"], "barcode": barcode}),
        )
    }

    pub(crate) fn loan_action(&self, who: &str, loan: &Value, action: &str, body: &Value) -> Reply {
        let id = loan["id"].as_str().unwrap();
        self.app.client.post(
            &format!("/api/v1/loans/{id}/{action}"),
            Some(&self.token(who)),
            body,
        )
    }

    pub(crate) fn give_back(&self, barcode: &str, condition: &str) -> Reply {
        self.app.client.post(
            "/api/v1/returns",
            Some(&self.token("archivist")),
            &json!({"barcode": barcode, "condition": condition, "notes": "检查 / inspected"}),
        )
    }

    pub(crate) fn archive_status(&self, id: &str) -> Value {
        self.app
            .client
            .get(
                &format!("/api/v1/archives/{id}"),
                Some(&self.token("admin")),
            )
            .json()["status"]
            .clone()
    }

    pub(crate) fn actions(&self, entity_type: &str) -> Vec<String> {
        let events = self.app.client.get(
            &format!("/api/v1/audit-events?entity_type={entity_type}&limit=500"),
            Some(&self.token("admin")),
        );
        events.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub(crate) fn barcode(code: &str) -> String {
    format!("BC-{code}")
}
