//! A real S3-compatible server for the tests: moto's server (`moto[server]` from PyPI), started
//! as a process on a free port. `DANGAN_TEST_S3_SERVER` holds the command that runs it (`.ci/run`
//! sets `<venv>/bin/moto_server`); unset, the tests that need it are skipped.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::Client;

pub struct S3Server {
    child: Child,
    pub port: u16,
    pub client: Client,
}

impl S3Server {
    pub fn start() -> Option<S3Server> {
        let Ok(command) = std::env::var("DANGAN_TEST_S3_SERVER") else {
            crate::skip_or_fail("DANGAN_TEST_S3_SERVER");
            return None;
        };
        let command: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        let port = crate::free_port();
        let child = Command::new(&command[0])
            .args(&command[1..])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        let server = S3Server {
            child,
            port,
            client: Client::new(format!("http://127.0.0.1:{port}")),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || server.client.get("/", None).status != 200
        {
            assert!(Instant::now() < deadline, "the S3 server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// Creates `bucket` and returns the `DANGAN_FILES_URL` of it.
    pub fn bucket(&self, bucket: &str) -> String {
        let reply = self.client.raw("PUT", &format!("/{bucket}"), &[], b"");
        assert_eq!(reply.status, 200, "{}", reply.body);
        format!(
            "s3://{bucket}?endpoint=http://127.0.0.1:{}&region=us-east-1&allow_http=true\
             &access_key_id=test&secret_access_key=test",
            self.port
        )
    }

    /// The keys of every object in `bucket`.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let reply = self.client.get(&format!("/{bucket}?list-type=2"), None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply
            .body
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    pub fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let reply = self.client.get(&format!("/{bucket}/{key}"), None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.bytes
    }

    pub fn replace(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let reply = self
            .client
            .raw("PUT", &format!("/{bucket}/{key}"), &[], bytes);
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
