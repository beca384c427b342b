//! The one error type of the domain: a rule that a command would break.

use std::borrow::Cow;

/// A business rule refused a command. Each variant names the rule, not the layer that noticed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0} is not a known value")]
    UnknownValue(String),
    #[error("nobody can raise their own roles or clearance")]
    SelfElevation,
    #[error("the last active admin cannot be deactivated or lose the admin role")]
    LastAdmin,
    #[error("a department cannot be its own ancestor")]
    DepartmentCycle,
    #[error("the caller is not an approver of the current step, nor their delegate")]
    NotYourStep,
    #[error(
        "nobody decides two steps of the same request, in their own name or through a delegate"
    )]
    SeparationOfDuties,
    #[error("the request is not pending")]
    RequestNotPending,
    #[error("only the borrower may do this")]
    NotBorrower,
    #[error("your roles or clearance do not allow this")]
    Forbidden,
    #[error("the borrower's account is disabled")]
    BorrowerDisabled,
    #[error("the borrower is no longer cleared for this archive")]
    BorrowerNotCleared,
    #[error("a {from:?} request cannot {command}")]
    Transition {
        from: crate::request::RequestStatus,
        command: &'static str,
    },
    #[error("a {from:?} loan cannot {command}")]
    LoanTransition {
        from: crate::loan::LoanStatus,
        command: &'static str,
    },
    #[error("the borrower has an overdue loan")]
    BorrowerBlocked,
    #[error("the online loan has ended: its files are no longer readable")]
    LoanEnded,
    #[error("the online loan opens at {opens_at}")]
    LoanNotOpen { opens_at: time::OffsetDateTime },
    #[error("no renewals are left under the policy")]
    RenewalLimitReached,
    #[error("someone is waiting for this archive")]
    ArchiveRequested,
    #[error("days must be between 1 and {max}")]
    DaysOutOfRange { max: i32 },
    #[error("the second sign-off must come from someone other than the inspector")]
    SameInspector,
    #[error("nobody but the borrower could approve the step {0:?}")]
    NoApprover(String),
    #[error("the archive is out on loan or reserved")]
    ArchiveOnLoan,
    #[error("the archive is lost, retired, damaged, out, or reserved for someone else")]
    ArchiveUnavailable,
    #[error("the barcode is not an archive of this request")]
    BarcodeMismatch,
    #[error("the request is not approved")]
    RequestNotApproved,
    #[error("this archive of the request is already checked out")]
    AlreadyCheckedOut,
    /// A provisioning client's request Dangan cannot carry out; `scim_type` is RFC 7644's name
    /// for what is wrong with it (`invalidValue`, `invalidPath`, `invalidFilter`, ...).
    #[error("{detail}")]
    Provisioning {
        scim_type: &'static str,
        detail: String,
    },
    /// A file an online loan cannot mark, where its policy allows no unmarked copies.
    #[error("this kind of file cannot be marked, and the loan's policy allows no unmarked copies: it is lent online only as a marked PDF")]
    UnmarkedCopy,
    /// A provisioning client wrote what Dangan keeps for its admins to decide (403).
    #[error("{0}")]
    ProvisioningRefused(String),
    #[error("an edit cannot move an archive from {from} to {to}")]
    StatusChange {
        from: &'static str,
        to: &'static str,
    },
}

/// One field that broke a rule, with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path, such as `days` or `fields.case_no`.
    pub field: Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field: Cow::Borrowed(field),
            message: message.into(),
        }
    }

    /// An error at a path made at run time, such as a custom form field's key.
    pub fn at(path: String, message: impl Into<String>) -> Self {
        FieldError {
            field: Cow::Owned(path),
            message: message.into(),
        }
    }
}
