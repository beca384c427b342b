//! The audit chain: each event's hash covers the previous hash and the event's canonical form,
//! so changing, removing or reordering any stored event breaks every hash after it.

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{format_description::BorrowedFormatItem, macros::format_description, OffsetDateTime};
use uuid::Uuid;

use crate::Classification;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Fixed to microseconds, which both stores keep exactly, so a stored time hashes as it was written.
const CANONICAL_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// One state change, as it is hashed and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub data: Value,
}

/// What a use case records; the chain gives it its `seq` and time when it is appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub actor_id: Option<Uuid>,
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Option<String>,
    pub data: Value,
    /// The highest classification of the archives it is about, if any: who may be told of it
    /// (webhook subscriptions). Not part of the chained event.
    pub classification: Option<Classification>,
}

impl NewAuditEvent {
    pub fn new(action: &'static str, entity_type: &'static str) -> Self {
        NewAuditEvent {
            actor_id: None,
            action,
            entity_type,
            entity_id: None,
            data: Value::Object(Default::default()),
            classification: None,
        }
    }

    pub fn about(mut self, classification: Classification) -> Self {
        self.classification = Some(classification);
        self
    }

    pub fn by(mut self, actor_id: Option<Uuid>) -> Self {
        self.actor_id = actor_id;
        self
    }

    pub fn on(mut self, entity_id: impl ToString) -> Self {
        self.entity_id = Some(entity_id.to_string());
        self
    }

    pub fn with(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// Places the event at `seq` at time `at` (truncated to what the stores keep).
    pub fn at(self, seq: i64, at: OffsetDateTime) -> AuditEvent {
        AuditEvent {
            seq,
            at: truncate_to_micros(at),
            actor_id: self.actor_id,
            action: self.action.to_owned(),
            entity_type: self.entity_type.to_owned(),
            entity_id: self.entity_id,
            data: self.data,
        }
    }
}

pub fn truncate_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let micros = at.microsecond();
    at.replace_microsecond(micros).unwrap_or(at)
}

/// The canonical form's fields in their sorted order, borrowed: serialising this writes the same
/// text as a sorted JSON object without building one (verifying a million events builds none).
#[derive(serde::Serialize)]
struct Canonical<'a> {
    action: &'a str,
    actor_id: Option<Uuid>,
    at: &'a str,
    data: &'a Value,
    entity_id: Option<&'a str>,
    entity_type: &'a str,
    seq: i64,
}

impl AuditEvent {
    /// JSON with sorted keys and no white space; `serde_json` keeps object keys sorted.
    pub fn canonical(&self) -> String {
        let at = self
            .at
            .to_offset(time::UtcOffset::UTC)
            .format(CANONICAL_TIME)
            .unwrap_or_default();
        serde_json::to_string(&Canonical {
            action: &self.action,
            actor_id: self.actor_id,
            at: &at,
            data: &self.data,
            entity_id: self.entity_id.as_deref(),
            entity_type: &self.entity_type,
            seq: self.seq,
        })
        .unwrap_or_default()
    }

    /// `hex(SHA-256(prev_hash ‖ canonical event))`.
    pub fn hash(&self, prev_hash: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(self.canonical().as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// Walks a stored chain in `seq` order, one event at a time, so any length fits in memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_prev: String,
    expected_seq: i64,
    checked: i64,
    first_invalid_seq: Option<i64>,
    witness: Option<(i64, Option<String>)>,
}

/// The verdict on a whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub valid: bool,
    pub checked: i64,
    pub head_hash: String,
    pub first_invalid_seq: Option<i64>,
    /// The stored hash of the event the verifier was asked to witness, if the chain has it.
    pub witnessed_hash: Option<String>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_prev: GENESIS_HASH.to_owned(),
            expected_seq: 1,
            checked: 0,
            first_invalid_seq: None,
            witness: None,
        }
    }
}

impl ChainVerifier {
    /// A verifier that also keeps the stored hash of the event at `seq`, to hold against a
    /// checkpoint.
    pub fn witnessing(seq: i64) -> Self {
        ChainVerifier {
            witness: Some((seq, None)),
            ..ChainVerifier::default()
        }
    }

    /// Checks the next stored event with the hashes stored beside it.
    pub fn check(&mut self, event: &AuditEvent, stored_prev_hash: &str, stored_hash: &str) {
        let hash_matches = event.hash(stored_prev_hash) == stored_hash;
        self.check_link(event.seq, stored_prev_hash, stored_hash, hash_matches);
    }

    /// Checks the next stored event whose own hash was recomputed elsewhere (`hash_matches`):
    /// each event's hash depends only on what is stored beside it, so many can be recomputed
    /// at once; the links between them are checked here, in order.
    pub fn check_link(
        &mut self,
        seq: i64,
        stored_prev_hash: &str,
        stored_hash: &str,
        hash_matches: bool,
    ) {
        self.checked += 1;
        if self.first_invalid_seq.is_none() {
            let intact =
                seq == self.expected_seq && stored_prev_hash == self.expected_prev && hash_matches;
            if !intact {
                self.first_invalid_seq = Some(seq);
            }
        }
        if let Some((witnessed, found)) = &mut self.witness {
            if *witnessed == seq {
                *found = Some(stored_hash.to_owned());
            }
        }
        self.expected_seq = seq + 1;
        self.expected_prev = stored_hash.to_owned();
    }

    /// The verdict, given the head the store keeps beside the chain (`seq` and `hash` of the
    /// newest event). Events removed from the end leave a chain that is intact on its own, so
    /// it must also end where the head says: otherwise the first event missing is the first
    /// invalid one.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> ChainReport {
        let last_seq = self.expected_seq - 1;
        let ends_at_head = last_seq == head_seq && self.expected_prev == head_hash;
        let first_invalid_seq = self
            .first_invalid_seq
            .or((!ends_at_head).then_some(last_seq.min(head_seq) + 1));
        ChainReport {
            valid: first_invalid_seq.is_none(),
            checked: self.checked,
            head_hash: self.expected_prev,
            first_invalid_seq,
            witnessed_hash: self.witness.and_then(|(_, found)| found),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn chain(n: i64) -> Vec<(AuditEvent, String, String)> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let event = NewAuditEvent::new("user.created", "user")
                    .on(seq)
                    .with(json!({"n": seq, "名": "张三"}))
                    .at(seq, datetime!(2026-11-24 08:00:00.123456789 UTC));
                let hash = event.hash(&prev);
                let row = (event, prev.clone(), hash.clone());
                prev = hash;
                row
            })
            .collect()
    }

    /// Verifies `rows` against the head they end at themselves.
    fn verify(rows: &[(AuditEvent, String, String)]) -> ChainReport {
        let (seq, hash) = rows
            .last()
            .map_or((0, GENESIS_HASH.to_owned()), |(e, _, h)| (e.seq, h.clone()));
        verify_against(rows, seq, &hash)
    }

    fn verify_against(rows: &[(AuditEvent, String, String)], seq: i64, hash: &str) -> ChainReport {
        let mut verifier = ChainVerifier::default();
        for (event, prev, hash) in rows {
            verifier.check(event, prev, hash);
        }
        verifier.finish(seq, hash)
    }

    #[test]
    fn removing_the_newest_events_is_found_against_the_head() {
        let rows = chain(5);
        let head = rows[4].2.clone();
        let report = verify_against(&rows[..3], 5, &head);
        assert!(!report.valid);
        assert_eq!(report.first_invalid_seq, Some(4), "the first event missing");
        assert!(verify_against(&rows, 5, &head).valid);
        assert!(
            verify_against(&[], 0, GENESIS_HASH).valid,
            "an empty chain at the genesis head"
        );
        assert_eq!(verify_against(&[], 5, &head).first_invalid_seq, Some(1));
        // A head that moved on without its events (or events past the head) is no chain either.
        assert_eq!(
            verify_against(&rows, 4, &rows[3].2).first_invalid_seq,
            Some(5)
        );
    }

    #[test]
    fn canonical_form_is_stable_and_sorted() {
        let event = &chain(1)[0].0;
        assert_eq!(
            event.canonical(),
            r#"{"action":"user.created","actor_id":null,"at":"2026-11-24T08:00:00.123456Z","data":{"n":1,"名":"张三"},"entity_id":"1","entity_type":"user","seq":1}"#
        );
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let rows = chain(5);
        let report = verify(&rows);
        assert_eq!(report.checked, 5);
        assert!(report.valid);
        assert_eq!(report.head_hash, rows[4].2);
    }

    #[test]
    fn changed_data_is_found_at_its_seq() {
        let mut rows = chain(5);
        rows[2].0.data = json!({"n": 99});
        let report = verify(&rows);
        assert!(!report.valid);
        assert_eq!(report.first_invalid_seq, Some(3));
    }

    #[test]
    fn a_removed_event_is_found_after_the_gap() {
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(verify(&rows).first_invalid_seq, Some(3));
    }

    #[test]
    fn a_rewritten_hash_breaks_the_next_link() {
        let mut rows = chain(5);
        rows[1].0.action = "user.deleted".into();
        rows[1].2 = rows[1].0.hash(&rows[1].1);
        assert_eq!(verify(&rows).first_invalid_seq, Some(3));
    }
}
