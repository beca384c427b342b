//! The one error type of the API and its single mapping to RFC 9457 problem+json.

use std::collections::BTreeMap;

use actix_web::{
    http::{header, StatusCode},
    HttpResponse, ResponseError,
};
use dangan_domain::{DomainError, FieldError};
use dangan_persistence::{Conflict, PersistenceError};
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => $status:ident, $code:literal, $title:literal;)+) => {
        /// Every error code the API can answer with, its status and its title: the one table of them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub fn parts(self) -> (StatusCode, &'static str, &'static str) {
                match self { $(ErrorCode::$variant => (StatusCode::$status, $code, $title)),+ }
            }
        }
    };
}

error_codes! {
    BadRequest => BAD_REQUEST, "bad_request", "Malformed request";
    Unauthorized => UNAUTHORIZED, "unauthorized", "Authentication required";
    InvalidCredentials => UNAUTHORIZED, "invalid_credentials", "Invalid username or password";
    Forbidden => FORBIDDEN, "forbidden", "Not allowed";
    AccountDisabled => FORBIDDEN, "account_disabled", "Account disabled";
    SelfElevation => FORBIDDEN, "self_elevation", "Cannot raise one's own authority";
    NotYourStep => FORBIDDEN, "not_your_step", "Not an approver of the current step";
    BorrowerBlocked => FORBIDDEN, "borrower_blocked", "The borrower has an overdue loan";
    BorrowerNotCleared => FORBIDDEN, "borrower_not_cleared", "The borrower is not cleared for the archive";
    InvalidPassword => FORBIDDEN, "invalid_password", "The password does not match";
    InvalidSsoCode => FORBIDDEN, "invalid_sso_code", "The sign-in code does not prove a fresh sign-in";
    NotProvisioned => FORBIDDEN, "not_provisioned", "No Dangan account for this identity";
    LinkUnusable => FORBIDDEN, "link_unusable", "The sign-in link cannot be used";
    PasswordLoginDisabled => FORBIDDEN, "password_login_disabled", "Password sign-in is turned off";
    RedirectUriNotAllowed => BAD_REQUEST, "redirect_uri_not_allowed", "The redirect URI is not on the allow-list";
    InvalidGrant => BAD_REQUEST, "invalid_grant", "The code or token cannot be used";
    UnsupportedGrantType => BAD_REQUEST, "unsupported_grant_type", "Unsupported grant type";
    IdTokenRejected => UNAUTHORIZED, "id_token_rejected", "The ID token is not accepted";
    ProviderUnavailable => BAD_GATEWAY, "provider_unavailable", "The identity provider did not answer as expected";
    NotFound => NOT_FOUND, "not_found", "Not found";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed";
    NoOpenLoan => NOT_FOUND, "no_open_loan", "No open loan of this archive";
    LoanEnded => GONE, "loan_ended", "The loan has ended";
    DuplicateCode => CONFLICT, "duplicate_code", "Code already in use";
    DuplicateUsername => CONFLICT, "duplicate_username", "Username already in use";
    DuplicateKey => CONFLICT, "duplicate_key", "Key already in use";
    DuplicateArchiveCode => CONFLICT, "duplicate_archive_code", "Archive code already in use";
    DuplicateBarcode => CONFLICT, "duplicate_barcode", "Barcode already in use";
    ArchiveOnLoan => CONFLICT, "archive_on_loan", "The archive is out";
    IdempotencyInProgress => CONFLICT, "idempotency_in_progress", "A request with this key is still running";
    LastAdmin => CONFLICT, "last_admin", "The last active admin must stay";
    FileFailedCheck => CONFLICT, "file_failed_check", "The stored file fails its integrity check";
    FileNotMarkable => CONFLICT, "file_not_markable", "The file cannot be marked for lending";
    LoanNotOpen => CONFLICT, "loan_not_open", "The loan has not opened yet";
    NoOtherSignIn => CONFLICT, "no_other_sign_in", "The user has no other way to sign in";
    IdentityExists => CONFLICT, "identity_exists", "The user has an identity from this provider";
    DuplicateIdentity => CONFLICT, "duplicate_identity", "The identity is another user's already";
    ScimClientRevoked => CONFLICT, "scim_client_revoked", "The provisioning client is revoked";
    NoApprover => CONFLICT, "no_approver", "Nobody but the borrower could approve a step";
    NoPolicy => CONFLICT, "no_policy", "No loan policy covers this";
    RequestNotPending => CONFLICT, "request_not_pending", "The request is not pending";
    InvalidTransition => CONFLICT, "invalid_transition", "Not possible in the current state";
    RenewalLimitReached => CONFLICT, "renewal_limit_reached", "No renewals left";
    ArchiveRequested => CONFLICT, "archive_requested", "Someone is waiting for the archive";
    ArchiveUnavailable => CONFLICT, "archive_unavailable", "The archive is not available";
    BarcodeMismatch => CONFLICT, "barcode_mismatch", "The barcode is not an archive of this request";
    RequestNotApproved => CONFLICT, "request_not_approved", "The request is not approved";
    AlreadyCheckedOut => CONFLICT, "already_checked_out", "Already checked out";
    RenewalPending => CONFLICT, "renewal_pending", "A renewal of this loan awaits approval";
    BorrowerDisabled => CONFLICT, "borrower_disabled", "The borrower's account is disabled";
    PreconditionFailed => PRECONDITION_FAILED, "precondition_failed", "The resource changed";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large", "Body too large";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported content type";
    ValidationFailed => UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed";
    IdempotencyKeyReused => UNPROCESSABLE_ENTITY, "idempotency_key_reused", "Idempotency key reused with another request";
    RateLimited => TOO_MANY_REQUESTS, "rate_limited", "Too many attempts";
    Internal => INTERNAL_SERVER_ERROR, "internal_error", "Internal error";
    NotImplemented => NOT_IMPLEMENTED, "not_implemented", "Not implemented";
    Unavailable => SERVICE_UNAVAILABLE, "unavailable", "Service unavailable";
}

impl ErrorCode {
    /// Each conflict's code: exhaustive, so a new conflict cannot fall through to a 500.
    pub fn from_conflict(conflict: Conflict) -> ErrorCode {
        match conflict {
            Conflict::ArchiveUnavailable => ErrorCode::ArchiveUnavailable,
            Conflict::DuplicateArchiveCode => ErrorCode::DuplicateArchiveCode,
            Conflict::DuplicateBarcode => ErrorCode::DuplicateBarcode,
            Conflict::DuplicateCode => ErrorCode::DuplicateCode,
            Conflict::DuplicateIdentity => ErrorCode::DuplicateIdentity,
            Conflict::DuplicateKey => ErrorCode::DuplicateKey,
            Conflict::DuplicateUsername => ErrorCode::DuplicateUsername,
            Conflict::IdTokenSpent => ErrorCode::InvalidGrant,
            Conflict::IdentityExists => ErrorCode::IdentityExists,
            Conflict::LinkUnusable => ErrorCode::LinkUnusable,
            Conflict::NoOpenLoan => ErrorCode::NoOpenLoan,
            Conflict::NoOtherSignIn => ErrorCode::NoOtherSignIn,
            Conflict::NoPolicy => ErrorCode::NoPolicy,
            Conflict::RenewalPending => ErrorCode::RenewalPending,
            Conflict::ScimClientRevoked => ErrorCode::ScimClientRevoked,
        }
    }
}

/// Field path → messages, as validation failures report them.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:dangan:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "the request has invalid fields",
    "code": "validation_failed",
    "errors": {"password": ["must be 8 to 128 characters"]}
}))]
pub struct Problem {
    /// `urn:dangan:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Present on validation failures only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {detail}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Option<FieldErrors>,
    pub retry_after_secs: Option<i64>,
    /// What RFC 7644 calls this error when a SCIM client gets it (`invalidValue`, ...).
    pub scim_type: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            errors: None,
            retry_after_secs: None,
            scim_type: None,
        }
    }

    pub fn not_found() -> Self {
        ApiError::new(ErrorCode::NotFound, "no such resource")
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, detail)
    }

    pub fn validation(errors: FieldErrors) -> Self {
        ApiError {
            errors: Some(errors),
            ..ApiError::new(
                ErrorCode::ValidationFailed,
                "the request has invalid fields",
            )
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::validation(FieldErrors::from([(
            field.to_owned(),
            vec![message.into()],
        )]))
    }

    pub fn rate_limited(retry_after_secs: i64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..ApiError::new(
                ErrorCode::RateLimited,
                "too many failed attempts; retry later",
            )
        }
    }

    /// The error's code and detail, for an answer that is a redirect rather than a problem
    /// document (OAuth's `error` and `error_description`).
    pub fn code_and_detail(&self) -> (String, String) {
        (self.code.parts().1.to_owned(), self.detail.clone())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        ApiError::new(
            ErrorCode::Internal,
            "an unexpected error occurred; it has been logged",
        )
    }

    pub fn problem(&self) -> Problem {
        let (status, code, title) = self.code.parts();
        Problem {
            type_: format!("urn:dangan:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: code.to_owned(),
            errors: self.errors.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"dangan\""));
        }
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(self.problem())
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::SelfElevation => {
                ApiError::new(ErrorCode::SelfElevation, error.to_string())
            }
            DomainError::LastAdmin => ApiError::new(ErrorCode::LastAdmin, error.to_string()),
            DomainError::DepartmentCycle => ApiError::field("parent_id", error.to_string()),
            DomainError::ArchiveOnLoan => {
                ApiError::new(ErrorCode::ArchiveOnLoan, error.to_string())
            }
            DomainError::StatusChange { .. } => ApiError::field("status", error.to_string()),
            DomainError::NoApprover(_) => ApiError::new(ErrorCode::NoApprover, error.to_string()),
            DomainError::NotYourStep | DomainError::SeparationOfDuties => {
                ApiError::new(ErrorCode::NotYourStep, error.to_string())
            }
            DomainError::RequestNotPending => {
                ApiError::new(ErrorCode::RequestNotPending, error.to_string())
            }
            DomainError::NotBorrower | DomainError::Forbidden => {
                ApiError::forbidden(error.to_string())
            }
            DomainError::BorrowerDisabled => {
                ApiError::new(ErrorCode::BorrowerDisabled, error.to_string())
            }
            DomainError::BorrowerNotCleared => {
                ApiError::new(ErrorCode::BorrowerNotCleared, error.to_string())
            }
            DomainError::Transition { .. } | DomainError::LoanTransition { .. } => {
                ApiError::new(ErrorCode::InvalidTransition, error.to_string())
            }
            DomainError::BorrowerBlocked => {
                ApiError::new(ErrorCode::BorrowerBlocked, error.to_string())
            }
            DomainError::LoanEnded => ApiError::new(ErrorCode::LoanEnded, error.to_string()),
            DomainError::LoanNotOpen { opens_at } => ApiError::new(
                ErrorCode::LoanNotOpen,
                format!(
                    "the online loan opens at {}",
                    opens_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_else(|_| opens_at.to_string())
                ),
            ),
            DomainError::RenewalLimitReached => {
                ApiError::new(ErrorCode::RenewalLimitReached, error.to_string())
            }
            DomainError::ArchiveRequested => {
                ApiError::new(ErrorCode::ArchiveRequested, error.to_string())
            }
            DomainError::DaysOutOfRange { .. } => ApiError::field("days", error.to_string()),
            DomainError::SameInspector => ApiError::forbidden(error.to_string()),
            DomainError::ArchiveUnavailable => {
                ApiError::new(ErrorCode::ArchiveUnavailable, error.to_string())
            }
            DomainError::BarcodeMismatch => {
                ApiError::new(ErrorCode::BarcodeMismatch, error.to_string())
            }
            DomainError::RequestNotApproved => {
                ApiError::new(ErrorCode::RequestNotApproved, error.to_string())
            }
            DomainError::AlreadyCheckedOut => {
                ApiError::new(ErrorCode::AlreadyCheckedOut, error.to_string())
            }
            DomainError::Provisioning { scim_type, detail } => ApiError {
                scim_type: Some(scim_type),
                ..ApiError::bad_request(detail)
            },
            DomainError::UnmarkedCopy => {
                ApiError::new(ErrorCode::FileNotMarkable, error.to_string())
            }
            DomainError::ProvisioningRefused(detail) => {
                ApiError::new(ErrorCode::Forbidden, detail.clone())
            }
            DomainError::UnknownValue(_) => {
                ApiError::new(ErrorCode::ValidationFailed, error.to_string())
            }
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        let mut map = FieldErrors::new();
        for e in errors {
            map.entry(e.field.into_owned()).or_default().push(e.message);
        }
        ApiError::validation(map)
    }
}

/// What a client is told to wait before retrying when the database is away: a restart of
/// PostgreSQL takes a few seconds, and the pool reconnects by itself meanwhile.
const DATABASE_RETRY_AFTER_SECS: i64 = 2;

impl From<PersistenceError> for ApiError {
    fn from(error: PersistenceError) -> Self {
        match error {
            PersistenceError::NotFound => ApiError::not_found(),
            PersistenceError::Conflict(code) => {
                ApiError::new(ErrorCode::from_conflict(code), error.to_string())
            }
            PersistenceError::MissingReference(field) => ApiError::field(field, "does not exist"),
            PersistenceError::Invalid(errors) => errors.into(),
            PersistenceError::VersionMismatch => ApiError::new(
                ErrorCode::PreconditionFailed,
                "the resource changed since it was read; fetch it again",
            ),
            PersistenceError::Domain(domain) => domain.into(),
            PersistenceError::Busy(_) => {
                log::warn!("{error}");
                ApiError {
                    retry_after_secs: Some(DATABASE_RETRY_AFTER_SECS),
                    ..ApiError::new(
                        ErrorCode::Unavailable,
                        "the database is busy (another process holds its write lock); nothing \
                         was written: retry shortly",
                    )
                }
            }
            PersistenceError::Pool(_)
            | PersistenceError::Connect(_)
            | PersistenceError::Lost(_) => {
                log::error!("database unavailable: {error}");
                ApiError {
                    retry_after_secs: Some(DATABASE_RETRY_AFTER_SECS),
                    ..ApiError::new(
                        ErrorCode::Unavailable,
                        "the database is not answering; retry shortly (a write that got this \
                         answer may or may not have been made: retry it with the same \
                         Idempotency-Key)",
                    )
                }
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conflict_answers_its_own_documented_client_error() {
        let document = crate::openapi::document().to_string();
        for conflict in Conflict::ALL {
            let (status, code, _) = ErrorCode::from_conflict(conflict).parts();
            assert!(status.is_client_error(), "{conflict:?} answers {status}");
            // Each keeps its name, but a spent ID token is OAuth's `invalid_grant`.
            let expected = match conflict {
                Conflict::IdTokenSpent => "invalid_grant",
                other => other.as_str(),
            };
            assert_eq!(code, expected, "{conflict:?}");
            assert!(
                document.contains(&format!("`{code}`"))
                    || document.contains(&format!("\"{code}\"")),
                "{code} is named nowhere in the OpenAPI document"
            );
        }
    }

    #[test]
    fn a_lost_database_connection_is_503_with_retry_after_not_500() {
        let lost = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new("terminating connection due to administrator command".to_owned()),
        );
        let error = ApiError::from(PersistenceError::from(lost));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER).unwrap(),
            &DATABASE_RETRY_AFTER_SECS.to_string()
        );
        let statement = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("division by zero".to_owned()),
        );
        let internal = ApiError::from(PersistenceError::from(statement));
        assert_eq!(internal.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
