//! The loan voucher (借阅凭证): what the borrower signs when an archive is handed over. Its
//! canonical form is JSON with sorted keys; the signature keeps that text's SHA-256 digest. The
//! verification code printed on the voucher (and in its QR code) names the loan with a key only
//! the server holds: nobody can print a code that leads to a loan, and a scanned code shows the
//! desk the loan as the store keeps it, to compare with the paper.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{policy::LoanType, Classification};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoucherPerson {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoucherArchive {
    pub id: Uuid,
    pub archive_code: String,
    pub title: String,
    pub classification: Classification,
}

/// One approval the loan rests on: who decided which step, for whom, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoucherApproval {
    pub step: String,
    pub decided_by: Uuid,
    pub on_behalf_of: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
}

/// The voucher as signed: the hand-over and the approvals behind it. Later changes to the loan
/// (a renewal, the return) do not alter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Voucher {
    pub voucher_number: String,
    pub loan_id: Uuid,
    pub request_number: String,
    pub purpose: String,
    pub loan_type: LoanType,
    pub borrower: VoucherPerson,
    pub archive: VoucherArchive,
    pub checked_out_by: VoucherPerson,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_out_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub approvals: Vec<VoucherApproval>,
}

/// A voucher's number: its request's number and the archive's place in the request.
pub fn voucher_number(request_number: &str, position: i32) -> String {
    format!("{request_number}-{position:02}")
}

impl Voucher {
    /// JSON with sorted keys and no white space (`serde_json` sorts object keys).
    pub fn canonical(&self) -> String {
        serde_json::to_value(self)
            .map(|value| value.to_string())
            .unwrap_or_default()
    }
}

/// `hex(SHA-256(canonical voucher))`.
pub fn digest(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The server's key for verification codes (generated on first start, kept in the store).
#[derive(Clone)]
pub struct VoucherKey(Hmac<Sha256>);

impl std::fmt::Debug for VoucherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VoucherKey(***)")
    }
}

impl VoucherKey {
    /// `None` only if HMAC refused the key, which it does for no length.
    pub fn new(key: &[u8]) -> Option<VoucherKey> {
        Hmac::<Sha256>::new_from_slice(key).ok().map(VoucherKey)
    }

    /// The code a person reads off the voucher of `loan_id`: the first 64 bits of
    /// HMAC-SHA256(key, loan id), upper-case hex in groups of four. Guessing one that belongs to
    /// some loan takes about 2^64 / (number of loans) tries.
    pub fn code_for(&self, loan_id: uuid::Uuid) -> String {
        let mut mac = self.0.clone();
        mac.update(b"dangan voucher v1\n");
        mac.update(loan_id.as_bytes());
        let tag = mac.finalize().into_bytes();
        grouped(&hex::encode_upper(&tag[..8]))
    }
}

fn grouped(hex16: &str) -> String {
    let groups: Vec<&str> = (0..4).map(|i| &hex16[i * 4..i * 4 + 4]).collect();
    groups.join("-")
}

/// A code as typed or scanned (any case, with or without the dashes) in its printed form, or
/// `None` when it cannot be one.
pub fn normalise_code(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| *c != '-').collect();
    (digits.len() == 16 && digits.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| grouped(&digits.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn voucher() -> Voucher {
        let person = |n: u128, name: &str| VoucherPerson {
            id: Uuid::from_u128(n),
            username: name.into(),
            display_name: name.to_uppercase(),
        };
        Voucher {
            voucher_number: voucher_number("JY-2026-000001", 1),
            loan_id: Uuid::from_u128(9),
            request_number: "JY-2026-000001".into(),
            purpose: "审计".into(),
            loan_type: LoanType::OnSite,
            borrower: person(1, "li"),
            archive: VoucherArchive {
                id: Uuid::from_u128(5),
                archive_code: "WS-2019-Y-0042".into(),
                title: "合同".into(),
                classification: Classification::Secret,
            },
            checked_out_by: person(2, "wang"),
            checked_out_at: datetime!(2026-11-24 09:00 UTC),
            due_at: datetime!(2026-12-08 09:00 UTC),
            approvals: vec![],
        }
    }

    #[test]
    fn canonical_form_is_sorted_and_stable() {
        let text = voucher().canonical();
        assert!(text.starts_with(r#"{"approvals":[],"archive":{"archive_code":"WS-2019-Y-0042""#));
        assert!(text.contains(r#""checked_out_at":"2026-11-24T09:00:00Z""#));
        assert_eq!(digest(&text), digest(&voucher().canonical()));
        let mut changed = voucher();
        changed.due_at = datetime!(2026-12-09 09:00 UTC);
        assert_ne!(digest(&text), digest(&changed.canonical()));
    }

    #[test]
    fn numbers_and_codes_read_well() {
        assert_eq!(voucher_number("JY-2026-000123", 2), "JY-2026-000123-02");
        assert_eq!(
            normalise_code("3f2a9c1b00112233").as_deref(),
            Some("3F2A-9C1B-0011-2233")
        );
        assert_eq!(
            normalise_code("3F2A-9C1B-0011-2233").as_deref(),
            Some("3F2A-9C1B-0011-2233")
        );
        assert_eq!(normalise_code("3F2A-9C1B-0011-223"), None);
        assert_eq!(normalise_code("3F2A-9C1B-0011-223G"), None);
        assert_eq!(normalise_code("3F2A-9C1B-0011-2233-0"), None);
    }

    #[test]
    fn codes_are_keyed() {
        let key = VoucherKey::new(b"one server").unwrap();
        let code = key.code_for(Uuid::from_u128(9));
        assert_eq!(normalise_code(&code).as_deref(), Some(code.as_str()));
        assert_eq!(
            code,
            key.code_for(Uuid::from_u128(9)),
            "stable for the loan"
        );
        assert_ne!(code, key.code_for(Uuid::from_u128(10)));
        assert_ne!(
            code,
            VoucherKey::new(b"another server")
                .unwrap()
                .code_for(Uuid::from_u128(9)),
            "without the key nobody computes it"
        );
    }
}
