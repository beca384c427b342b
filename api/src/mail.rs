//! E-mail of notifications over SMTP (`DANGAN_SMTP_URL`): a sender thread claims the notices
//! due by mail and sends each to its user's address, subject and body in Chinese and English.

use std::time::Duration;

use dangan_persistence::{
    store::notifications::{self, Mail},
    PersistenceError,
};
use lettre::{
    message::{header::ContentTransferEncoding, header::ContentType, Mailbox},
    Message, SmtpTransport, Transport,
};

use crate::state::AppState;

/// Notices claimed per round.
const BATCH: i64 = 20;

/// An SMTP connection's settings and the sender's address.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl Mailer {
    /// `url` as lettre reads it: `smtp://host:port` (plain, for a local relay),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://user:pass@host` (TLS).
    pub fn new(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| format!("DANGAN_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = from.parse().map_err(|e| format!("DANGAN_MAIL_FROM: {e}"))?;
        Ok(Mailer { transport, from })
    }

    fn send(&self, mail: &Mail) -> Result<(), String> {
        let to = Mailbox::new(
            Some(mail.to_name.clone()),
            mail.to_address
                .parse()
                .map_err(|e| format!("address {}: {e}", mail.to_address))?,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .header(ContentTransferEncoding::Base64)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(&message)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Sends every notice due by mail now, one attempt each; returns how many were attempted.
pub fn deliver_due(state: &AppState) -> Result<usize, PersistenceError> {
    let Some(mailer) = &state.mailer else {
        return Ok(0);
    };
    let claimed = {
        let mut conn = state.pool.get()?;
        notifications::claim_mail(&mut conn, state.clock.now(), BATCH)?
    };
    for mail in &claimed {
        let outcome = mailer.send(mail);
        if let Err(e) = &outcome {
            log::warn!("e-mail to {} failed: {e}", mail.to_address);
        }
        let mut conn = state.pool.get()?;
        notifications::record_mail(&mut conn, state.clock.now(), mail, outcome)?;
    }
    Ok(claimed.len())
}

/// Runs the sender every `every` for as long as the process lives.
pub fn spawn(state: AppState, every: Duration) -> std::io::Result<()> {
    crate::background::drain_forever("dangan-mail", BATCH as usize, every, move || {
        deliver_due(&state)
    })
}
