//! A loan as every resource that shows one shows it (circulation, a user's page, online loans,
//! reports), with its signature, return photos and copies; and the return's body, which the
//! JSON and the multipart forms of a return both carry.

use actix_web::{http::header, http::StatusCode, HttpResponse};
use dangan_domain::{
    loan::{days_overdue, Condition, LoanKind, LoanStatus, OnlineEnd},
    voucher::Voucher,
};
use dangan_persistence::{
    cases::{online::Copy, photos::Photo},
    store::loans::{Signature, StoredLoan},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::etag;

#[derive(Debug, Serialize, ToSchema)]
pub struct SignatureDto {
    pub signed_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    /// `password`: the borrower re-entered their password; `oidc`: they signed in again at their
    /// provider (`sso_code`).
    pub method: String,
    /// Hex SHA-256 of the canonical voucher signed.
    pub digest: String,
}

impl From<Signature> for SignatureDto {
    fn from(s: Signature) -> Self {
        SignatureDto {
            signed_by: s.signed_by,
            signed_at: s.signed_at,
            method: s.method,
            digest: s.digest,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2e51", "request_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2d01",
    "archive_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2a01", "archive_code": "WS-2019-Y-0042", "title": "2019年度合同汇编",
    "borrower_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11", "kind": "paper", "status": "active",
    "checked_out_at": "2026-11-24T08:00:00Z", "checked_out_by": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b14",
    "signed_at": "2026-11-24T08:01:00Z", "due_at": "2026-12-01T08:00:00Z", "renewals": 0,
    "returned_at": null, "condition": null, "return_notes": null, "inspected_by": null, "confirmed_by": null,
    "end_reason": null, "unmarked_copies": false, "overdue": false, "days_overdue": 0,
    "signature": {"signed_by": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b11", "signed_at": "2026-11-24T08:01:00Z",
        "method": "password", "digest": "9f2c5e0d4b1a7c3e8f6a2d1b0c9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"},
    "version": 2
}))]
pub struct LoanDto {
    pub id: Uuid,
    pub request_id: Uuid,
    pub archive_id: Uuid,
    pub archive_code: String,
    pub title: String,
    pub borrower_id: Uuid,
    /// `paper`: the archive handed over at the desk; `online`: its electronic files, read through
    /// `GET /loans/{id}/files/{file_id}` until the loan ends.
    pub kind: LoanKind,
    pub status: LoanStatus,
    /// When it was handed over; for an online loan, when it opens (reading starts).
    #[serde(with = "time::serde::rfc3339")]
    pub checked_out_at: OffsetDateTime,
    pub checked_out_by: Uuid,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub renewals: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub returned_at: Option<OffsetDateTime>,
    pub condition: Option<Condition>,
    pub return_notes: Option<String>,
    pub inspected_by: Option<Uuid>,
    pub confirmed_by: Option<Uuid>,
    /// Why an online loan ended; `null` while open and for paper loans.
    pub end_reason: Option<OnlineEnd>,
    /// Whether an online loan hands out files it cannot mark (images, office documents) as
    /// stored, as its policy said when it opened; PDFs are always marked. `false` for paper.
    pub unmarked_copies: bool,
    pub overdue: bool,
    pub days_overdue: i64,
    pub signature: Option<SignatureDto>,
    pub version: i32,
}

impl LoanDto {
    pub fn new(l: StoredLoan, now: OffsetDateTime) -> Self {
        let overdue = l.loan.overdue(now);
        LoanDto {
            id: l.id,
            request_id: l.request_id,
            archive_id: l.archive_id,
            archive_code: l.archive_code,
            title: l.title,
            borrower_id: l.loan.borrower_id,
            kind: l.loan.kind,
            status: l.loan.status,
            checked_out_at: l.checked_out_at,
            checked_out_by: l.checked_out_by,
            signed_at: l.loan.signed_at,
            due_at: l.loan.due_at,
            renewals: l.loan.renewals,
            returned_at: l.loan.returned_at,
            condition: l.loan.condition,
            return_notes: l.return_notes,
            inspected_by: l.loan.inspected_by,
            confirmed_by: l.confirmed_by,
            end_reason: l.end_reason,
            unmarked_copies: l.unmarked_copies,
            overdue,
            days_overdue: if overdue {
                days_overdue(l.loan.due_at, now)
            } else {
                0
            },
            signature: l.signature.map(SignatureDto::from),
            version: l.version,
        }
    }
}

pub(crate) fn loan_response(
    status: StatusCode,
    loan: StoredLoan,
    now: OffsetDateTime,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(loan.version)))
        .json(LoanDto::new(loan, now))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"barcode": "DA0000042", "condition": "intact", "notes": "完好 / complete"}))]
pub struct ReturnBody {
    #[schema(min_length = 1, max_length = 64)]
    pub barcode: String,
    pub condition: Condition,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// A photo taken at the desk as evidence of a returned archive's condition.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoDto {
    pub id: Uuid,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the photo as taken; also in the return's audit event.
    pub sha256: String,
    /// The incident the return opened, if it opened one.
    pub incident_id: Option<Uuid>,
    pub taken_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
}

impl From<Photo> for PhotoDto {
    fn from(p: Photo) -> Self {
        PhotoDto {
            id: p.id,
            name: p.name,
            media_type: p.media_type,
            size_bytes: p.size_bytes,
            sha256: p.sha256,
            incident_id: p.incident_id,
            taken_by: p.taken_by,
            taken_at: p.taken_at,
        }
    }
}

/// A copy of a file handed out by an online loan.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c41", "loan_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2e51",
    "file_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b31",
    "sha256": "5d41402abc4b2a76b9719d911017c592ae5f8c1c8b5c4b0e5d2f0e8e5a3b1c2d", "size_bytes": 483377,
    "marked": true, "handed_out_at": "2026-12-01T09:30:00Z"
}))]
pub struct CopyDto {
    pub id: Uuid,
    pub loan_id: Uuid,
    pub file_id: Uuid,
    /// Hex SHA-256 of the bytes handed out (a marked PDF's differ from the stored file's).
    pub sha256: String,
    pub size_bytes: i64,
    /// Whether the copy carries the visible mark (PDFs do; other kinds are sent as stored).
    pub marked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub handed_out_at: OffsetDateTime,
}

impl From<Copy> for CopyDto {
    fn from(c: Copy) -> Self {
        CopyDto {
            id: c.id,
            loan_id: c.loan_id,
            file_id: c.file_id,
            sha256: c.sha256,
            size_bytes: c.size_bytes,
            marked: c.marked,
            handed_out_at: c.handed_out_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherDto {
    #[serde(flatten)]
    pub voucher: Voucher,
    /// Photos taken at the desk when the archive came back, with their SHA-256: not part of
    /// what the borrower signed, and absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 10)]
    pub return_photos: Vec<PhotoDto>,
    /// The copies an online loan handed out, each with the SHA-256 of the bytes sent; absent
    /// when there are none (always for a paper loan).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<CopyDto>,
    /// Why an online loan ended; absent while it is open and for paper loans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<OnlineEnd>,
    /// The signature, once the borrower signed; `digest` is the SHA-256 of the voucher's
    /// canonical JSON (sorted keys, no white space) without `signature`, `verification_code`,
    /// `status` and `return_photos` (an online loan, which has `copies` and `end_reason`, is
    /// never signed).
    pub signature: Option<SignatureDto>,
    /// The code printed on the voucher and in its QR code: 64 bits of an HMAC of the loan with a
    /// key only the server holds. `GET /vouchers/{verification_code}` finds the loan by it.
    #[schema(
        pattern = "^[0-9A-F]{4}(-[0-9A-F]{4}){3}$",
        example = "3F2A-9C1B-0011-2233"
    )]
    pub verification_code: String,
    pub status: LoanStatus,
}
