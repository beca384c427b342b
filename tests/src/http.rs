//! A small blocking HTTP client that never turns a status into an error: tests assert on them.

use ureq::{
    http::{HeaderMap, Response},
    Agent, Body,
};

pub struct Client {
    pub base: String,
    agent: Agent,
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body as it came.
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json error with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) -> serde_json::Value {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {}",
            self.body
        );
        let problem = self.json();
        assert_eq!(problem["code"], code, "{}", self.body);
        assert_eq!(problem["status"], status);
        assert!(problem["title"].is_string() && problem["type"].is_string());
        problem
    }
}

impl Client {
    pub fn new(base: String) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Client { base, agent }
    }

    fn read(response: Result<Response<Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap_or_default();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Self::read(request.call())
    }

    /// GET with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.call())
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> Reply {
        self.send("POST", path, token, &[], body)
    }

    pub fn patch(
        &self,
        path: &str,
        token: Option<&str>,
        if_match: Option<&str>,
        body: &serde_json::Value,
    ) -> Reply {
        let headers: Vec<(&str, &str)> =
            if_match.map(|tag| ("If-Match", tag)).into_iter().collect();
        self.send("PATCH", path, token, &headers, body)
    }

    /// Any method with a JSON body and an optional `If-Match`.
    pub fn send_json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        if_match: Option<&str>,
        body: &serde_json::Value,
    ) -> Reply {
        let headers: Vec<(&str, &str)> =
            if_match.map(|tag| ("If-Match", tag)).into_iter().collect();
        self.send(method, path, Some(token), &headers, body)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Reply {
        let mut extra: Vec<(String, String)> =
            vec![("Content-Type".into(), "application/json".into())];
        if let Some(token) = token {
            extra.push(("Authorization".into(), format!("Bearer {token}")));
        }
        extra.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        self.raw(method, path, &extra, body.to_string().as_bytes())
    }

    /// Any method, any headers, any bytes.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Reply {
        let uri = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(body.to_vec()).expect("request");
        Self::read(self.agent.run(request))
    }
}
