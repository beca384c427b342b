//! A real OpenID provider for the tests: `oidc-provider-mock` from PyPI (authlib underneath),
//! started as a process on a free port. `DANGAN_TEST_OIDC_PROVIDER` holds the command that
//! runs it (`.ci/run` sets `<venv>/bin/python -m oidc_provider_mock`); unset, the tests that
//! need it are skipped, as those needing PostgreSQL are without its URL.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::Client;

pub struct OidcProvider {
    command: Vec<String>,
    child: Child,
    pub port: u16,
    /// Its issuer: `http://127.0.0.1:<port>`, as it names itself.
    pub issuer: String,
    pub client: Client,
}

fn spawn(command: &[String], port: u16) -> Child {
    Command::new(&command[0])
        .args(&command[1..])
        .args(["--port", &port.to_string(), "--require-nonce", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"))
}

impl OidcProvider {
    /// A provider on a free port, or `None` (the test is skipped) when none is installed.
    pub fn start() -> Option<OidcProvider> {
        let Ok(command) = std::env::var("DANGAN_TEST_OIDC_PROVIDER") else {
            crate::skip_or_fail("DANGAN_TEST_OIDC_PROVIDER");
            return None;
        };
        let command: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        let port = crate::free_port();
        let child = spawn(&command, port);
        let issuer = format!("http://127.0.0.1:{port}");
        let provider = OidcProvider {
            command,
            child,
            port,
            client: Client::new(issuer.clone()),
            issuer,
        };
        provider.wait_until_up();
        Some(provider)
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self
                    .client
                    .get("/.well-known/openid-configuration", None)
                    .status
                    == 200;
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the OpenID provider did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it and starts it again on the same port: the same issuer with a new signing key
    /// (it makes one at start), and no users.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.command, self.port);
        self.wait_until_up();
    }

    /// Stops the provider, as if it were down; `restart` brings it back.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sets the claims of the user `sub`.
    pub fn set_user(&self, sub: &str, claims: &Value) {
        let reply = self.client.raw(
            "PUT",
            &format!("/users/{sub}"),
            &[("Content-Type".into(), "application/json".into())],
            claims.to_string().as_bytes(),
        );
        assert_eq!(reply.status, 204, "{}", reply.body);
    }

    /// Signs `sub` in at `authorize_url` (what a browser would show and submit) and returns
    /// where the provider sends the browser next.
    pub fn authorize(&self, authorize_url: &str, sub: &str) -> String {
        let path = authorize_url
            .strip_prefix(&self.issuer)
            .unwrap_or_else(|| panic!("{authorize_url} is not at {}", self.issuer));
        let reply = self.client.raw(
            "POST",
            path,
            &[(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            format!("sub={sub}").as_bytes(),
        );
        assert_eq!(reply.status, 302, "{}", reply.body);
        reply.header("location").expect("Location").to_owned()
    }

    /// An ID token for `sub` issued to `client_id`, as an app that signed in at the provider
    /// itself holds one.
    pub fn id_token(&self, client_id: &str, client_secret: &str, sub: &str) -> String {
        let redirect = "http://app.example/signed-in";
        let authorize = format!(
            "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={redirect}\
             &scope=openid+profile+email&nonce=app-nonce&state=app-state",
            self.issuer
        );
        let back = self.authorize(&authorize, sub);
        let code = query_value(&back, "code").expect("a code");
        let body = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={redirect}\
             &client_id={client_id}&client_secret={client_secret}"
        );
        let reply = self.client.raw(
            "POST",
            "/oauth2/token",
            &[(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["id_token"]
            .as_str()
            .expect("an ID token")
            .to_owned()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The decoded value of `name` in the query of `url`.
pub fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| decode(value))
    })
}

/// Percent-decoding of a query value (`+` is a space).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
