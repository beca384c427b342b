//! Signed checkpoints of the audit chain, after Certificate Transparency's signed tree heads
//! (RFC 9162 §4.10): the server signs the head it has reached with a key the database never
//! holds. Whoever keeps a checkpoint can later prove, offline, that the chain still extends it:
//! a history rewritten by someone who can write the database (and recompute every hash) verifies
//! on its own, but no longer holds the checkpoint's hash at its `seq`.

use ed25519_dalek::{
    pkcs8::{DecodePrivateKey, DecodePublicKey},
    Signature, Signer,
};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::audit::ChainReport;

/// What the server attests: the chain had reached `seq` with `head_hash` at `signed_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "seq": 1024, "head_hash": "07ab3c1f9e2d4b5a60718293a4b5c6d7e8f90112233445566778899aabbccdd",
    "signed_at": "2026-11-30T09:00:00Z", "algorithm": "Ed25519",
    "public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "signature": "fd03ba69fb07f269c9dd7a6b7024ee94316471a81cebf5ae84a94b4d1ed09744336d281b498ea4fd7ab8eb3880b09a5aa5423adabc3a31ec4293cfac5339d607"
})))]
pub struct Checkpoint {
    pub seq: i64,
    pub head_hash: String,
    /// Whole seconds, so the signed text is the same whichever RFC 3339 parser reads it back.
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    /// `Ed25519` when signed; null when the server has no `DANGAN_AUDIT_SIGNING_KEY`.
    pub algorithm: Option<String>,
    /// The signer's public key (32 bytes, hex).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub public_key: Option<String>,
    /// Ed25519 over [`Checkpoint::message`] (64 bytes, hex).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{128}$"))]
    pub signature: Option<String>,
}

pub const ALGORITHM: &str = "Ed25519";

/// Why a checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is not signed")]
    Unsigned,
    #[error("the checkpoint's signature does not verify with the public key")]
    BadSignature,
    #[error("the chain itself is broken at seq {0}")]
    ChainBroken(i64),
    #[error("the chain ends at seq {head_seq}, before the checkpoint's seq {seq}")]
    Shorter { seq: i64, head_seq: i64 },
    #[error("the event at seq {0} is not the one the checkpoint saw: the history was rewritten")]
    Diverged(i64),
}

/// A key given as text is neither 32 hex-encoded bytes nor PEM of the right kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl Checkpoint {
    /// An unsigned checkpoint of the head `(seq, head_hash)`.
    pub fn of(seq: i64, head_hash: String, now: OffsetDateTime) -> Checkpoint {
        Checkpoint {
            seq,
            head_hash,
            signed_at: now.replace_nanosecond(0).unwrap_or(now),
            algorithm: None,
            public_key: None,
            signature: None,
        }
    }

    /// The signed text: a fixed label, then `seq`, `head_hash` and `signed_at`, one per line.
    pub fn message(&self) -> String {
        let signed_at = self.signed_at.format(&Rfc3339).unwrap_or_default();
        format!(
            "dangan audit checkpoint v1\n{}\n{}\n{signed_at}\n",
            self.seq, self.head_hash
        )
    }

    /// Signed with `key` when there is one (`DANGAN_AUDIT_SIGNING_KEY`), unsigned otherwise.
    pub fn signed_if(self, key: Option<&SigningKey>) -> Checkpoint {
        match key {
            Some(key) => self.signed(key),
            None => self,
        }
    }

    pub fn signed(mut self, key: &SigningKey) -> Checkpoint {
        let signature = key.sign(self.message().as_bytes());
        self.algorithm = Some(ALGORITHM.to_owned());
        self.public_key = Some(hex::encode(key.verifying_key().as_bytes()));
        self.signature = Some(hex::encode(signature.to_bytes()));
        self
    }

    /// Checks the signature with `key` (strictly: no malleable or small-order forms).
    pub fn check_signature(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        let text = self.signature.as_deref().ok_or(CheckpointError::Unsigned)?;
        let bytes: [u8; 64] = hex::decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(CheckpointError::BadSignature)?;
        key.verify_strict(self.message().as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| CheckpointError::BadSignature)
    }

    /// The key that vouches for this checkpoint: `key` when one is given, else the one the
    /// checkpoint names itself. An unsigned checkpoint is vouched for by nobody (`None`), which
    /// is accepted unless a key was asked for: it still proves the chain extends what its keeper
    /// saw, not who issued it.
    pub fn signer(
        &self,
        key: Option<VerifyingKey>,
        key_required: bool,
    ) -> Result<Option<VerifyingKey>, CheckpointError> {
        let key = match (key, &self.public_key) {
            (Some(key), _) => key,
            (None, Some(named)) => {
                verifying_key(named).map_err(|_| CheckpointError::BadSignature)?
            }
            (None, None) if key_required => return Err(CheckpointError::Unsigned),
            (None, None) => return Ok(None),
        };
        if self.signature.is_none() && !key_required {
            return Ok(None);
        }
        self.check_signature(&key)?;
        Ok(Some(key))
    }

    /// Whether a chain, verified while witnessing this checkpoint's `seq`, still extends it.
    pub fn held_by(&self, report: &ChainReport) -> Result<(), CheckpointError> {
        if let Some(seq) = report.first_invalid_seq {
            return Err(CheckpointError::ChainBroken(seq));
        }
        if report.checked < self.seq {
            return Err(CheckpointError::Shorter {
                seq: self.seq,
                head_seq: report.checked,
            });
        }
        match &report.witnessed_hash {
            Some(hash) if *hash == self.head_hash => Ok(()),
            // A checkpoint of the empty chain is held by any chain.
            None if self.seq == 0 => Ok(()),
            _ => Err(CheckpointError::Diverged(self.seq)),
        }
    }
}

/// A signing key from `DANGAN_AUDIT_SIGNING_KEY`'s text: PKCS#8 PEM (`openssl genpkey -algorithm
/// ed25519`) or the 32-byte seed in hex.
pub fn signing_key(text: &str) -> Result<SigningKey, KeyError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(text)
            .map_err(|e| KeyError(format!("not an Ed25519 private key in PKCS#8 PEM: {e}")));
    }
    seed(text).map(|bytes| SigningKey::from_bytes(&bytes))
}

/// A public key: SubjectPublicKeyInfo PEM (`openssl pkey -pubout`) or 32 bytes in hex.
pub fn verifying_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| KeyError(format!("not an Ed25519 public key in PEM: {e}")));
    }
    VerifyingKey::from_bytes(&seed(text)?)
        .map_err(|_| KeyError("not a valid Ed25519 public key".to_owned()))
}

fn seed(text: &str) -> Result<[u8; 32], KeyError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| KeyError("expected PEM or 64 hexadecimal digits (32 bytes)".to_owned()))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    // RFC 8032 §7.1, test 1.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";

    fn report(checked: i64, witnessed: Option<&str>) -> ChainReport {
        ChainReport {
            valid: true,
            checked,
            head_hash: "h".into(),
            first_invalid_seq: None,
            witnessed_hash: witnessed.map(str::to_owned),
        }
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint::of(7, "ab".repeat(32), datetime!(2026-11-30 09:00:00.5 UTC))
    }

    #[test]
    fn keys_read_from_hex_and_pem_alike() {
        let from_hex = signing_key(SEED).unwrap();
        assert_eq!(hex::encode(from_hex.verifying_key().as_bytes()), PUBLIC);
        assert_eq!(signing_key(PEM).unwrap().to_bytes(), from_hex.to_bytes());
        assert_eq!(verifying_key(PUBLIC).unwrap(), from_hex.verifying_key());
        assert!(signing_key("not a key").is_err());
        assert!(signing_key(&SEED[..62]).is_err());
        assert!(
            signing_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
        );
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_breaks_it() {
        let key = signing_key(SEED).unwrap();
        let signed = checkpoint().signed(&key);
        assert_eq!(
            signed.signed_at,
            datetime!(2026-11-30 09:00 UTC),
            "whole seconds"
        );
        assert_eq!(signed.public_key.as_deref(), Some(PUBLIC));
        signed.check_signature(&key.verifying_key()).unwrap();

        let mut moved = signed.clone();
        moved.head_hash = "cd".repeat(32);
        assert_eq!(
            moved.check_signature(&key.verifying_key()),
            Err(CheckpointError::BadSignature)
        );
        let mut later = signed.clone();
        later.seq += 1;
        assert_eq!(
            later.check_signature(&key.verifying_key()),
            Err(CheckpointError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(
            signed.check_signature(&other),
            Err(CheckpointError::BadSignature)
        );
        assert_eq!(
            checkpoint().check_signature(&other),
            Err(CheckpointError::Unsigned)
        );
    }

    #[test]
    fn the_signer_is_the_given_key_or_the_named_one() {
        let key = signing_key(SEED).unwrap();
        let signed = checkpoint().signed_if(Some(&key));
        let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(
            signed.signer(None, false),
            Ok(Some(key.verifying_key())),
            "the named key"
        );
        assert_eq!(
            signed.signer(Some(key.verifying_key()), true),
            Ok(Some(key.verifying_key()))
        );
        assert_eq!(
            signed.signer(Some(other), true),
            Err(CheckpointError::BadSignature)
        );
        let unsigned = checkpoint().signed_if(None);
        assert_eq!(unsigned.signature, None);
        assert_eq!(
            unsigned.signer(None, false),
            Ok(None),
            "vouched for by nobody"
        );
        assert_eq!(unsigned.signer(Some(other), false), Ok(None));
        assert_eq!(
            unsigned.signer(Some(other), true),
            Err(CheckpointError::Unsigned)
        );
        let mut misnamed = signed.clone();
        misnamed.public_key = Some("not a key".into());
        assert_eq!(
            misnamed.signer(None, false),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn the_documented_example_verifies() {
        let example: Checkpoint = serde_json::from_value(serde_json::json!({
            "seq": 1024, "head_hash": "07ab3c1f9e2d4b5a60718293a4b5c6d7e8f90112233445566778899aabbccdd",
            "signed_at": "2026-11-30T09:00:00Z", "algorithm": "Ed25519", "public_key": PUBLIC,
            "signature": "fd03ba69fb07f269c9dd7a6b7024ee94316471a81cebf5ae84a94b4d1ed09744336d281b498ea4fd7ab8eb3880b09a5aa5423adabc3a31ec4293cfac5339d607"
        }))
        .unwrap();
        example
            .check_signature(&verifying_key(PUBLIC).unwrap())
            .unwrap();
    }

    #[test]
    fn the_signed_text_survives_a_round_trip_through_json() {
        let signed = checkpoint().signed(&signing_key(SEED).unwrap());
        let text = serde_json::to_string(&signed).unwrap();
        let back: Checkpoint = serde_json::from_str(&text).unwrap();
        assert_eq!(back.message(), signed.message());
        assert!(back.message().ends_with("\n2026-11-30T09:00:00Z\n"));
    }

    #[test]
    fn a_chain_holds_a_checkpoint_only_through_its_hash() {
        let head = "ab".repeat(32);
        let cp = checkpoint();
        assert_eq!(
            cp.held_by(&report(9, Some(&head))),
            Ok(()),
            "a chain that grew on"
        );
        assert_eq!(cp.held_by(&report(7, Some(&head))), Ok(()));
        assert_eq!(
            cp.held_by(&report(9, Some("rewritten"))),
            Err(CheckpointError::Diverged(7))
        );
        assert_eq!(
            cp.held_by(&report(5, None)),
            Err(CheckpointError::Shorter {
                seq: 7,
                head_seq: 5
            })
        );
        let mut broken = report(9, Some(&head));
        broken.first_invalid_seq = Some(3);
        assert_eq!(cp.held_by(&broken), Err(CheckpointError::ChainBroken(3)));
        let empty = Checkpoint::of(
            0,
            crate::audit::GENESIS_HASH.into(),
            datetime!(2026-11-30 09:00 UTC),
        );
        assert_eq!(empty.held_by(&report(0, None)), Ok(()));
    }
}
