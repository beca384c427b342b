//! The audit chain checked straight from the database, with no server running: `dangan audit
//! verify [--checkpoint FILE]` and `dangan audit checkpoint`.

use std::path::Path;

use dangan_domain::{
    audit::ChainReport,
    checkpoint::{self, Checkpoint, CheckpointError, SigningKey},
};
use dangan_persistence::{
    db,
    store::audit::{self, Sealing},
    PersistenceError,
};
use time::OffsetDateTime;

use crate::{config::Config, StartupError};

/// The key of `DANGAN_AUDIT_SIGNING_KEY`: the key itself (PEM or hex) or the path of a file
/// holding it, as container secrets are mounted.
pub fn signing_key(config: &Config) -> Result<Option<SigningKey>, StartupError> {
    let Some(value) = &config.audit_signing_key else {
        return Ok(None);
    };
    let text = value.expose().trim();
    let text = if text.starts_with("-----BEGIN") || checkpoint::signing_key(text).is_ok() {
        text.to_owned()
    } else {
        std::fs::read_to_string(text).map_err(|e| {
            StartupError::Invalid(format!(
                "DANGAN_AUDIT_SIGNING_KEY is neither a key (PEM or 64 hex digits) nor a readable file: {e}"
            ))
        })?
    };
    checkpoint::signing_key(&text)
        .map(Some)
        .map_err(|e| StartupError::Invalid(format!("DANGAN_AUDIT_SIGNING_KEY: {e}")))
}

/// `dangan audit checkpoint`: seals what was committed, then signs the head.
pub fn checkpoint(config: &Config, now: OffsetDateTime) -> Result<Checkpoint, StartupError> {
    let key = signing_key(config)?;
    let pool = db::connect(&config.database_url, 1)?;
    let mut conn = pool.get().map_err(PersistenceError::from)?;
    audit::seal(&mut conn, Sealing::Wait)?;
    let (seq, head_hash) = audit::head(&mut conn)?;
    Ok(Checkpoint::of(seq, head_hash, now).signed_if(key.as_ref()))
}

/// What `dangan audit verify` found, when the chain holds.
#[derive(Debug)]
pub struct Verified {
    pub report: ChainReport,
    /// The key whose signature on the checkpoint verified (hex), if one was checked.
    pub signed_by: Option<String>,
    /// Where that key came from, for the operator to judge what the signature proves.
    pub key_source: &'static str,
    /// Events committed but not yet sealed (a server seals them; verifying only reads).
    pub pending: i64,
}

/// `dangan audit verify [--checkpoint FILE] [--public-key KEY]`.
pub fn verify(
    config: &Config,
    checkpoint: Option<&Path>,
    public_key: Option<&str>,
) -> Result<Verified, StartupError> {
    let checkpoint = checkpoint.map(read_checkpoint).transpose()?;
    let (key, key_source) = match (public_key, signing_key(config)?) {
        (Some(text), _) => (
            Some(
                checkpoint::verifying_key(text)
                    .map_err(|e| StartupError::Invalid(format!("--public-key: {e}")))?,
            ),
            "--public-key",
        ),
        (None, Some(own)) => (Some(own.verifying_key()), "DANGAN_AUDIT_SIGNING_KEY"),
        (None, None) => (None, "the checkpoint itself"),
    };
    let signed_by = match &checkpoint {
        Some(checkpoint) => checkpoint.signer(key, public_key.is_some())?,
        None => None,
    };
    let pool = db::connect(&config.database_url, 1)?;
    let mut conn = pool.get().map_err(PersistenceError::from)?;
    let report = match &checkpoint {
        Some(checkpoint) => audit::verify_witnessing(&mut conn, checkpoint.seq)?,
        None => audit::verify(&mut conn)?,
    };
    match &checkpoint {
        Some(checkpoint) => checkpoint.held_by(&report)?,
        None => {
            if let Some(seq) = report.first_invalid_seq {
                return Err(CheckpointError::ChainBroken(seq).into());
            }
        }
    }
    Ok(Verified {
        report,
        signed_by: signed_by.map(|key| hex::encode(key.as_bytes())),
        key_source,
        pending: audit::pending(&mut conn)?,
    })
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint, StartupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StartupError::Invalid(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| StartupError::Invalid(format!("{}: not a checkpoint: {e}", path.display())))
}
