//! The webhook sender: claims due deliveries from the outbox, checks where each may go, signs
//! it (Standard Webhooks) and records the attempt. It runs on its own thread, so a slow or dead
//! receiver delays only other deliveries, never an API request.

use std::{
    net::{IpAddr, ToSocketAddrs},
    time::{Duration, Instant},
};

use dangan_domain::webhook::{check_url, outcome, signature, target_allowed, Allowed, Outcome};
use dangan_persistence::{
    webhooks::{self, AttemptResult, DueDelivery},
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
    let agent = agent();
    for delivery in &claimed {
        let result = send(&agent, delivery, &state.webhook_allow, state.clock.now());
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

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(10)))
        // A redirect could lead anywhere, past the address check: it counts as a failure.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .build()
        .into()
}

fn send(
    agent: &ureq::Agent,
    delivery: &DueDelivery,
    allow: &[Allowed],
    now: time::OffsetDateTime,
) -> AttemptResult {
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
        return failed(format!(
            "{host} resolves to an address webhooks may not reach ({addresses:?}); \
             an admin can allow it with DANGAN_WEBHOOK_ALLOW"
        ));
    }
    let id = delivery.id.to_string();
    let timestamp = now.unix_timestamp();
    let sent = agent
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
