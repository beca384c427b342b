//! The webhook sender: claims due deliveries from the outbox, checks where each may go, signs
//! it (Standard Webhooks) and records the attempt. It runs on its own thread, so a slow or dead
//! receiver delays only other deliveries, never an API request.

use std::{
    net::{IpAddr, SocketAddr, ToSocketAddrs},
    time::{Duration, Instant},
};

use dangan_domain::webhook::{check_url, outcome, signature, target_allowed, Allowed, Outcome};
use dangan_persistence::{
    cases::webhooks::{self, AttemptResult, DueDelivery},
    PersistenceError,
};

use crate::state::AppState;

/// Deliveries claimed per round.
const BATCH: i64 = 20;

/// Sends every delivery due now, one attempt each; returns how many were attempted.
pub fn deliver_due(state: &AppState) -> Result<usize, PersistenceError> {
    let claimed = {
        let mut conn = state.pool.get()?;
        webhooks::claim_due(&mut conn, state.clock.now(), BATCH)?
    };
    for delivery in &claimed {
        let result = send(delivery, &state.webhook_allow, state.clock.now());
        let mut conn = state.pool.get()?;
        webhooks::record_attempt(&mut conn, state.clock.now(), delivery, &result)?;
    }
    Ok(claimed.len())
}

/// Runs the sender every `every` for as long as the process lives.
pub fn spawn(state: AppState, every: Duration) -> std::io::Result<()> {
    crate::background::drain_forever("dangan-webhooks", BATCH as usize, every, move || {
        deliver_due(&state)
    })
}

/// An agent that connects only to `addresses`, the ones that passed the check: a second lookup
/// could answer otherwise (DNS rebinding) and reach what the check refused.
fn agent(addresses: &[IpAddr], port: u16) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(10)))
        // A redirect could lead anywhere, past the address check: it counts as a failure.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .build();
    let pinned = Pinned(
        addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect(),
    );
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        pinned,
    )
}

/// A resolver that answers the addresses it was made with, whatever the name.
#[derive(Debug)]
struct Pinned(Vec<SocketAddr>);

impl ureq::unversioned::resolver::Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut found = self.empty();
        // ureq keeps at most 16 addresses of a name.
        for address in self.0.iter().take(16) {
            found.push(*address);
        }
        if found.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(found)
    }
}

fn send(delivery: &DueDelivery, allow: &[Allowed], now: time::OffsetDateTime) -> AttemptResult {
    let started = Instant::now();
    let failed = |error: String| AttemptResult {
        status_code: None,
        error: Some(error),
        duration_ms: elapsed_ms(started),
        outcome: Outcome::Retry,
    };
    let (host, port) = match check_url(&delivery.url) {
        Ok(target) => target,
        Err(e) => return failed(e.message),
    };
    let addresses = resolve(&host, port);
    if !target_allowed(&host, &addresses, allow) {
        // The addresses are not named: an admin reading deliveries is no reason to map the
        // internal network for whoever chose the URL.
        return failed(format!(
            "{host} resolves to an address webhooks may not reach; \
             an admin can allow it with DANGAN_WEBHOOK_ALLOW"
        ));
    }
    let id = delivery.id.to_string();
    let timestamp = now.unix_timestamp();
    let sent = agent(&addresses, port)
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("user-agent", "dangan-webhooks")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&delivery.secret, &id, timestamp, &delivery.payload),
        )
        .send(delivery.payload.as_bytes());
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            AttemptResult {
                status_code: Some(status),
                error: None,
                duration_ms: elapsed_ms(started),
                outcome: outcome(Some(status)),
            }
        }
        Err(e) => failed(e.to_string()),
    }
}

/// The addresses a host name stands for now; none when it does not resolve.
pub fn resolve(host: &str, port: u16) -> Vec<IpAddr> {
    (host, port)
        .to_socket_addrs()
        .map(|found| found.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{Ipv4Addr, TcpListener},
    };

    use super::*;

    /// The name in the URL is never looked up again: the agent connects to the address that
    /// passed the check, so a DNS answer that changes in between (rebinding) reaches nothing.
    #[test]
    fn a_delivery_connects_to_the_checked_address_not_a_new_lookup() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answered = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0; 1024];
            let read = stream.read(&mut request).unwrap();
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&request[..read]).into_owned()
        });
        // `.invalid` never resolves (RFC 6761): only the pinned address can be reached.
        let url = format!("http://rebinding.invalid:{port}/hooks");
        let response = agent(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], port)
            .post(&url)
            .send("{}")
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        let request = answered.join().unwrap();
        assert!(
            request
                .to_ascii_lowercase()
                .contains("host: rebinding.invalid"),
            "{request}"
        );
        assert!(resolve("rebinding.invalid", port).is_empty());
    }
}
