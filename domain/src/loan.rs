//! The loan state machine: `checked_out → active → return_pending → returned`, or `lost`;
//! due dates, renewals, overdue arithmetic, the borrower block and the second sign-off on return.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    archive::ArchiveStatus,
    policy::EffectivePolicy,
    request::{Deciders, ItemStatus, RequestStatus},
    Classification, DomainError,
};

named_enum! {
    LoanStatus {
        /// Handed over, receipt not yet signed.
        CheckedOut => "checked_out",
        /// Receipt signed.
        Active => "active",
        /// Inspected on return, awaiting the second sign-off.
        ReturnPending => "return_pending",
        Returned => "returned",
        Lost => "lost",
    }
}

impl LoanStatus {
    /// With the borrower: handed over and not yet inspected back. What is overdue, reminded
    /// and renewed.
    pub const OUT: [LoanStatus; 2] = [LoanStatus::CheckedOut, LoanStatus::Active];
    /// Still holding its archive: out, or inspected back and awaiting the second sign-off. At
    /// most one such loan per archive (the stores' partial unique index says the same).
    pub const HOLDING: [LoanStatus; 3] = [
        LoanStatus::CheckedOut,
        LoanStatus::Active,
        LoanStatus::ReturnPending,
    ];

    pub fn is_out(self) -> bool {
        LoanStatus::OUT.contains(&self)
    }

    pub fn holds_archive(self) -> bool {
        LoanStatus::HOLDING.contains(&self)
    }
}

named_enum! {
    /// How a loan reaches its borrower.
    LoanKind {
        /// The archive itself, handed over at the desk by its barcode.
        Paper => "paper",
        /// The archive's electronic files, read through Dangan while the loan lasts.
        Online => "online",
    }
}

named_enum! {
    /// Why an online loan ended, and with it every read of its files.
    OnlineEnd {
        /// The borrower gave it back before its due date.
        Returned => "returned",
        /// Its due date came.
        Expired => "expired",
        /// An archivist took it back.
        Revoked => "revoked",
        /// The borrower's account was deactivated.
        Deactivated => "deactivated",
        /// The borrower is no longer cleared for the archive.
        ClearanceLowered => "clearance_lowered",
    }
}

named_enum! {
    /// A renewal that waits for approval, and what became of it.
    RenewalStatus {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
    }
}

impl RenewalStatus {
    /// The outcome of a decision on a pending renewal.
    pub fn decided(self, grant: bool) -> Result<RenewalStatus, DomainError> {
        match (self, grant) {
            (RenewalStatus::Pending, true) => Ok(RenewalStatus::Approved),
            (RenewalStatus::Pending, false) => Ok(RenewalStatus::Rejected),
            _ => Err(DomainError::RequestNotPending),
        }
    }
}

named_enum! {
    Condition {
        Intact => "intact",
        Damaged => "damaged",
        Incomplete => "incomplete",
    }
}

impl Condition {
    /// Whether the archive comes back needing attention (it is set `damaged`, an incident opens).
    pub fn opens_incident(self) -> bool {
        self != Condition::Intact
    }
}

/// The parts of the governing policy a loan needs, kept with the request it was approved under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoanRules {
    pub max_days: i32,
    pub max_renewals: i32,
    pub renewal_requires_approval: bool,
    pub dual_signoff_on_return: bool,
    pub pickup_days: i32,
    /// Whether its online loans may hand out files they cannot mark as stored (requests made
    /// before the rule existed: no).
    #[serde(default)]
    pub unmarked_copies: bool,
}

impl LoanRules {
    /// When a pickup window opened at `from` (an approval, a reservation) closes.
    pub fn pickup_ends(&self, from: OffsetDateTime) -> OffsetDateTime {
        from + Duration::days(i64::from(self.pickup_days))
    }
}

impl From<&EffectivePolicy> for LoanRules {
    fn from(p: &EffectivePolicy) -> Self {
        LoanRules {
            max_days: p.max_days,
            max_renewals: p.max_renewals,
            renewal_requires_approval: p.renewal_requires_approval,
            dual_signoff_on_return: p.dual_signoff_on_return,
            pickup_days: p.pickup_days,
            unmarked_copies: p.unmarked_copies,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loan {
    pub kind: LoanKind,
    pub borrower_id: Uuid,
    pub status: LoanStatus,
    pub due_at: OffsetDateTime,
    pub renewals: i32,
    pub signed_at: Option<OffsetDateTime>,
    pub returned_at: Option<OffsetDateTime>,
    pub condition: Option<Condition>,
    pub inspected_by: Option<Uuid>,
}

/// Whole days past due, counting a started day: 1 on the first day overdue.
pub fn days_overdue(due_at: OffsetDateTime, now: OffsetDateTime) -> i64 {
    let late = (now - due_at).whole_seconds();
    if late <= 0 {
        0
    } else {
        (late + Duration::DAY.whole_seconds() - 1) / Duration::DAY.whole_seconds()
    }
}

/// The share of a period's loans that came back late or are out past due, to two decimals;
/// 0 without loans.
pub fn overdue_rate(late: i64, loans: i64) -> f64 {
    if loans == 0 {
        0.0
    } else {
        hundredths(late as f64 / loans as f64)
    }
}

/// Report figures are given to two decimals.
pub fn hundredths(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A borrower with any overdue loan may not request or renew until it is back.
pub fn borrower_blocked(overdue_loans: i64) -> bool {
    overdue_loans > 0
}

/// Whether a scanned archive may be handed over for a request: it must be one of the request's
/// archives (`item` is `None` otherwise), the request approved, the item not handed over yet,
/// and the archive on the shelf — or reserved for this very request.
pub fn check_checkout(
    request: RequestStatus,
    item: Option<ItemStatus>,
    archive: ArchiveStatus,
) -> Result<(), DomainError> {
    let item = item.ok_or(DomainError::BarcodeMismatch)?;
    if item == ItemStatus::CheckedOut {
        return Err(DomainError::AlreadyCheckedOut);
    }
    if request != RequestStatus::Approved || item == ItemStatus::Withdrawn {
        return Err(DomainError::RequestNotApproved);
    }
    match (item, archive) {
        (ItemStatus::Waiting, ArchiveStatus::Available)
        | (ItemStatus::Reserved, ArchiveStatus::Reserved) => Ok(()),
        _ => Err(DomainError::ArchiveUnavailable),
    }
}

/// Where an archive goes once its loan is over: to repair when it came back damaged or
/// incomplete, to the first in line when someone waits, else back on the shelf.
pub fn status_after_return(condition: Condition, someone_waiting: bool) -> ArchiveStatus {
    if condition.opens_incident() {
        ArchiveStatus::Damaged
    } else if someone_waiting {
        ArchiveStatus::Reserved
    } else {
        ArchiveStatus::Available
    }
}

/// Who may decide a renewal that needs approval: whoever may decide the request's last step
/// (`approvers`), or their active delegate, never the borrower; each as they are now (`deciders`),
/// active and cleared for the archive of `classification`. Returns whom a delegate decides for.
pub fn renewal_decided_for(
    actor: Uuid,
    borrower_id: Uuid,
    classification: Classification,
    approvers: &[Uuid],
    deciders: &Deciders,
    now: OffsetDateTime,
) -> Result<Option<Uuid>, DomainError> {
    let eligible = |id: Uuid| {
        deciders
            .people
            .get(&id)
            .is_some_and(|p| p.may_approve(borrower_id, classification, None))
    };
    if !eligible(actor) {
        return Err(DomainError::NotYourStep);
    }
    if approvers.contains(&actor) {
        return Ok(None);
    }
    deciders
        .delegations
        .iter()
        .find(|d| {
            d.delegate_id == actor
                && d.active_at(now)
                && approvers.contains(&d.delegator_id)
                && eligible(d.delegator_id)
        })
        .map(|d| Some(d.delegator_id))
        .ok_or(DomainError::NotYourStep)
}

/// What a renewal asks for, with what the caller found in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    pub actor: Uuid,
    pub days: i32,
    /// Someone's approved request waits for this archive.
    pub archive_requested: bool,
    /// The borrower has an overdue loan.
    pub borrower_blocked: bool,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewalOutcome {
    /// Renewed at once.
    Renewed(Loan),
    /// The policy wants a renewal approved first; nothing changed yet.
    NeedsApproval,
}

impl Loan {
    /// A loan handed over at `now` for `days`.
    pub fn check_out(borrower_id: Uuid, now: OffsetDateTime, days: i32) -> Loan {
        Loan {
            kind: LoanKind::Paper,
            borrower_id,
            status: LoanStatus::CheckedOut,
            due_at: now + Duration::days(i64::from(days)),
            renewals: 0,
            signed_at: None,
            returned_at: None,
            condition: None,
            inspected_by: None,
        }
    }

    /// An online loan, opened by the request's last approval and readable from `opens_at` for
    /// `days`. Active at once: nothing is handed over, so there is no receipt to sign.
    pub fn open_online(borrower_id: Uuid, opens_at: OffsetDateTime, days: i32) -> Loan {
        Loan {
            kind: LoanKind::Online,
            status: LoanStatus::Active,
            ..Loan::check_out(borrower_id, opens_at, days)
        }
    }

    /// Whether its borrower may read its files at `now` (the caller checked it is theirs, that
    /// it is online, and their clearance). Access ends at the due date itself, whether or not
    /// the scheduler has closed the loan yet: an online loan is never overdue and readable.
    pub fn check_reading(
        &self,
        opened_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        if self.status != LoanStatus::Active || now >= self.due_at {
            return Err(DomainError::LoanEnded);
        }
        if now < opened_at {
            return Err(DomainError::LoanNotOpen {
                opens_at: opened_at,
            });
        }
        Ok(())
    }

    /// An online loan past its due date, still to be closed.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.kind == LoanKind::Online && self.status == LoanStatus::Active && now >= self.due_at
    }

    /// Ends an online loan for `reason`: returned as of `now`, or of its due date if that came
    /// first (reading ended then), and never before it opened.
    pub fn end_online(
        &self,
        reason: OnlineEnd,
        opened_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Loan, DomainError> {
        if self.kind != LoanKind::Online || self.status != LoanStatus::Active {
            return Err(self.refuse(match reason {
                OnlineEnd::Revoked => "be revoked",
                _ => "end online",
            }));
        }
        if reason == OnlineEnd::Expired && now < self.due_at {
            return Err(self.refuse("expire before its due date"));
        }
        Ok(Loan {
            status: LoanStatus::Returned,
            returned_at: Some(now.min(self.due_at).max(opened_at)),
            ..self.clone()
        })
    }

    /// Out of the archive room and not yet inspected back.
    pub fn is_open(&self) -> bool {
        self.status.is_out()
    }

    /// Still holding its archive (see `LoanStatus::HOLDING`).
    pub fn holds_archive(&self) -> bool {
        self.status.holds_archive()
    }

    /// Past due and still out. An online loan never is: its reading ends at the due date.
    pub fn overdue(&self, now: OffsetDateTime) -> bool {
        self.kind == LoanKind::Paper && self.is_open() && now > self.due_at
    }

    fn refuse(&self, command: &'static str) -> DomainError {
        DomainError::LoanTransition {
            from: self.status,
            command,
        }
    }

    /// The borrower signs the receipt (their password was checked by the caller).
    pub fn sign(&self, actor: Uuid, now: OffsetDateTime) -> Result<Loan, DomainError> {
        if actor != self.borrower_id {
            return Err(DomainError::NotBorrower);
        }
        if self.status != LoanStatus::CheckedOut {
            return Err(self.refuse("sign"));
        }
        Ok(Loan {
            status: LoanStatus::Active,
            signed_at: Some(now),
            ..self.clone()
        })
    }

    /// Extends the due date by `days` from the current one, within the policy.
    pub fn renew(
        &self,
        renewal: Renewal,
        rules: &LoanRules,
    ) -> Result<RenewalOutcome, DomainError> {
        if renewal.actor != self.borrower_id {
            return Err(DomainError::NotBorrower);
        }
        if !self.is_open() {
            return Err(self.refuse("renew"));
        }
        if self.expired(renewal.now) {
            return Err(DomainError::LoanEnded);
        }
        if renewal.borrower_blocked {
            return Err(DomainError::BorrowerBlocked);
        }
        if self.renewals >= rules.max_renewals {
            return Err(DomainError::RenewalLimitReached);
        }
        // Someone waiting for the paper archive waits for nothing an online loan holds.
        if renewal.archive_requested && self.kind == LoanKind::Paper {
            return Err(DomainError::ArchiveRequested);
        }
        if !(1..=rules.max_days).contains(&renewal.days) {
            return Err(DomainError::DaysOutOfRange {
                max: rules.max_days,
            });
        }
        if rules.renewal_requires_approval {
            return Ok(RenewalOutcome::NeedsApproval);
        }
        Ok(RenewalOutcome::Renewed(self.renewed(renewal.days)))
    }

    /// The loan once a renewal of `days` is granted (at once, or by its approver).
    pub fn renewed(&self, days: i32) -> Loan {
        Loan {
            due_at: self.due_at + Duration::days(i64::from(days)),
            renewals: self.renewals + 1,
            ..self.clone()
        }
    }

    /// An archivist inspects the returned archive; with dual sign-off it waits for a second one.
    pub fn take_back(
        &self,
        inspector: Uuid,
        condition: Condition,
        rules: &LoanRules,
        now: OffsetDateTime,
    ) -> Result<Loan, DomainError> {
        if !self.is_open() {
            return Err(self.refuse("return"));
        }
        let (status, returned_at) = if rules.dual_signoff_on_return {
            (LoanStatus::ReturnPending, None)
        } else {
            (LoanStatus::Returned, Some(now))
        };
        Ok(Loan {
            status,
            returned_at,
            condition: Some(condition),
            inspected_by: Some(inspector),
            ..self.clone()
        })
    }

    /// The second sign-off: the borrower, or another archivist than the inspector.
    pub fn confirm_return(&self, actor: Uuid, now: OffsetDateTime) -> Result<Loan, DomainError> {
        if self.status != LoanStatus::ReturnPending {
            return Err(self.refuse("confirm a return"));
        }
        if self.inspected_by == Some(actor) {
            return Err(DomainError::SameInspector);
        }
        Ok(Loan {
            status: LoanStatus::Returned,
            returned_at: Some(now),
            ..self.clone()
        })
    }

    /// An archive lost while out; an online loan holds no archive to lose.
    pub fn report_lost(&self) -> Result<Loan, DomainError> {
        match self.status {
            _ if self.kind == LoanKind::Online => Err(self.refuse("be reported lost")),
            LoanStatus::Returned | LoanStatus::Lost => Err(self.refuse("be reported lost")),
            _ => Ok(Loan {
                status: LoanStatus::Lost,
                ..self.clone()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_overdue_rate_is_the_late_share_to_two_decimals() {
        assert_eq!(super::overdue_rate(1, 3), 0.33);
        assert_eq!(super::overdue_rate(3, 5), 0.6);
        assert_eq!(super::overdue_rate(0, 0), 0.0);
        assert_eq!(super::hundredths(7.254_9), 7.25);
    }

    use time::macros::datetime;

    use super::*;
    use crate::{access::Principal, request::Delegation};

    const NOW: OffsetDateTime = datetime!(2026-11-24 09:00 UTC);

    #[test]
    fn checkout_needs_an_approved_item_and_a_free_archive() {
        use ArchiveStatus as A;
        use ItemStatus as I;
        use RequestStatus as R;
        let cases = [
            (R::Approved, Some(I::Waiting), A::Available, Ok(())),
            (R::Approved, Some(I::Reserved), A::Reserved, Ok(())),
            (
                R::Approved,
                None,
                A::Available,
                Err(DomainError::BarcodeMismatch),
            ),
            (
                R::Pending,
                Some(I::Waiting),
                A::Available,
                Err(DomainError::RequestNotApproved),
            ),
            (
                R::Rejected,
                Some(I::Waiting),
                A::Available,
                Err(DomainError::RequestNotApproved),
            ),
            (
                R::Fulfilled,
                Some(I::CheckedOut),
                A::OnLoan,
                Err(DomainError::AlreadyCheckedOut),
            ),
            (
                R::Approved,
                Some(I::Waiting),
                A::OnLoan,
                Err(DomainError::ArchiveUnavailable),
            ),
            (
                R::Approved,
                Some(I::Waiting),
                A::Reserved,
                Err(DomainError::ArchiveUnavailable),
            ),
            (
                R::Approved,
                Some(I::Expired),
                A::Reserved,
                Err(DomainError::ArchiveUnavailable),
            ),
            (
                R::Approved,
                Some(I::Waiting),
                A::Damaged,
                Err(DomainError::ArchiveUnavailable),
            ),
        ];
        for (request, item, archive, expected) in cases {
            assert_eq!(
                check_checkout(request, item, archive),
                expected,
                "{request:?} {item:?} {archive:?}"
            );
        }
    }

    #[test]
    fn renewals_are_decided_by_the_last_steps_approvers_or_their_delegates() {
        let approvers = [ARCHIVIST];
        let delegation = Delegation {
            delegator_id: ARCHIVIST,
            delegate_id: SECOND,
            starts_at: NOW,
            ends_at: NOW + Duration::days(1),
        };
        let cleared = |clearance| Deciders {
            delegations: vec![delegation.clone()],
            people: [BORROWER, ARCHIVIST, SECOND]
                .into_iter()
                .map(|id| (id, Principal::cleared(id, &[], clearance)))
                .collect(),
        };
        let top = cleared(Classification::TopSecret);
        let decide = |actor, at| {
            renewal_decided_for(
                actor,
                BORROWER,
                Classification::Secret,
                &approvers,
                &top,
                at,
            )
        };
        assert_eq!(decide(ARCHIVIST, NOW), Ok(None));
        assert_eq!(decide(SECOND, NOW), Ok(Some(ARCHIVIST)));
        assert_eq!(
            decide(SECOND, NOW + Duration::days(2)),
            Err(DomainError::NotYourStep)
        );
        assert_eq!(decide(BORROWER, NOW), Err(DomainError::NotYourStep));
        assert_eq!(
            renewal_decided_for(
                BORROWER,
                BORROWER,
                Classification::Public,
                &[BORROWER],
                &top,
                NOW
            ),
            Err(DomainError::NotYourStep),
            "not even a borrower who approves the step"
        );
        // Cleared only for internal: neither the approver nor the delegate decides a secret one.
        let low = cleared(Classification::Internal);
        for actor in [ARCHIVIST, SECOND] {
            assert_eq!(
                renewal_decided_for(
                    actor,
                    BORROWER,
                    Classification::Secret,
                    &approvers,
                    &low,
                    NOW
                ),
                Err(DomainError::NotYourStep)
            );
        }
        assert_eq!(
            renewal_decided_for(
                ARCHIVIST,
                BORROWER,
                Classification::Internal,
                &approvers,
                &low,
                NOW
            ),
            Ok(None)
        );
    }

    #[test]
    fn a_returned_archive_goes_to_repair_the_line_or_the_shelf() {
        assert_eq!(
            status_after_return(Condition::Damaged, true),
            ArchiveStatus::Damaged
        );
        assert_eq!(
            status_after_return(Condition::Incomplete, false),
            ArchiveStatus::Damaged
        );
        assert_eq!(
            status_after_return(Condition::Intact, true),
            ArchiveStatus::Reserved
        );
        assert_eq!(
            status_after_return(Condition::Intact, false),
            ArchiveStatus::Available
        );
    }
    const BORROWER: Uuid = Uuid::from_u128(1);
    const ARCHIVIST: Uuid = Uuid::from_u128(2);
    const SECOND: Uuid = Uuid::from_u128(3);

    fn rules(max_renewals: i32, approval: bool, dual: bool) -> LoanRules {
        LoanRules {
            max_days: 14,
            max_renewals,
            renewal_requires_approval: approval,
            dual_signoff_on_return: dual,
            pickup_days: 7,
            unmarked_copies: false,
        }
    }

    fn renewal(days: i32) -> Renewal {
        Renewal {
            actor: BORROWER,
            days,
            archive_requested: false,
            borrower_blocked: false,
            now: NOW,
        }
    }

    #[test]
    fn overdue_days_count_started_days() {
        let loan = Loan::check_out(BORROWER, NOW, 7);
        assert_eq!(loan.due_at, NOW + Duration::days(7));
        assert!(!loan.overdue(loan.due_at));
        assert_eq!(days_overdue(loan.due_at, loan.due_at), 0);
        assert!(loan.overdue(loan.due_at + Duration::seconds(1)));
        assert_eq!(
            days_overdue(loan.due_at, loan.due_at + Duration::seconds(1)),
            1
        );
        assert_eq!(
            days_overdue(loan.due_at, loan.due_at + Duration::days(3)),
            3
        );
        assert_eq!(
            days_overdue(loan.due_at, loan.due_at + Duration::hours(73)),
            4
        );
        assert!(borrower_blocked(1) && !borrower_blocked(0));
    }

    #[test]
    fn only_the_borrower_signs_once() {
        let loan = Loan::check_out(BORROWER, NOW, 7);
        assert_eq!(loan.sign(ARCHIVIST, NOW), Err(DomainError::NotBorrower));
        let signed = loan.sign(BORROWER, NOW).unwrap();
        assert_eq!(signed.status, LoanStatus::Active);
        assert!(signed.sign(BORROWER, NOW).is_err());
    }

    #[test]
    fn renewals_follow_the_policy() {
        let loan = Loan::check_out(BORROWER, NOW, 7)
            .sign(BORROWER, NOW)
            .unwrap();
        let RenewalOutcome::Renewed(renewed) =
            loan.renew(renewal(7), &rules(1, false, false)).unwrap()
        else {
            panic!("renewed at once")
        };
        assert_eq!(renewed.due_at, loan.due_at + Duration::days(7));
        assert_eq!(
            renewed.renew(renewal(7), &rules(1, false, false)),
            Err(DomainError::RenewalLimitReached)
        );
        assert_eq!(
            loan.renew(renewal(7), &rules(1, true, false)),
            Ok(RenewalOutcome::NeedsApproval)
        );
        assert_eq!(
            loan.renew(renewal(15), &rules(1, false, false)),
            Err(DomainError::DaysOutOfRange { max: 14 })
        );
        let waiting = Renewal {
            archive_requested: true,
            ..renewal(7)
        };
        assert_eq!(
            loan.renew(waiting, &rules(1, false, false)),
            Err(DomainError::ArchiveRequested)
        );
        let blocked = Renewal {
            borrower_blocked: true,
            ..renewal(7)
        };
        assert_eq!(
            loan.renew(blocked, &rules(1, false, false)),
            Err(DomainError::BorrowerBlocked)
        );
        let other = Renewal {
            actor: ARCHIVIST,
            ..renewal(7)
        };
        assert_eq!(
            loan.renew(other, &rules(1, false, false)),
            Err(DomainError::NotBorrower)
        );
    }

    #[test]
    fn an_online_loan_is_read_from_its_opening_to_its_due_date_and_never_overdue() {
        let opens = NOW + Duration::hours(2);
        let loan = Loan::open_online(BORROWER, opens, 7);
        assert_eq!(
            (loan.kind, loan.status),
            (LoanKind::Online, LoanStatus::Active)
        );
        assert_eq!(loan.due_at, opens + Duration::days(7));
        assert_eq!(
            loan.check_reading(opens, NOW),
            Err(DomainError::LoanNotOpen { opens_at: opens })
        );
        assert_eq!(loan.check_reading(opens, opens), Ok(()));
        let last_second = loan.due_at - Duration::seconds(1);
        assert_eq!(loan.check_reading(opens, last_second), Ok(()));
        assert_eq!(
            loan.check_reading(opens, loan.due_at),
            Err(DomainError::LoanEnded)
        );
        assert!(!loan.overdue(loan.due_at + Duration::days(3)));
        assert!(!loan.expired(last_second) && loan.expired(loan.due_at));
        let late = Renewal {
            now: loan.due_at,
            ..renewal(1)
        };
        assert_eq!(
            loan.renew(late, &rules(1, false, false)),
            Err(DomainError::LoanEnded)
        );
        let waited_for = Renewal {
            archive_requested: true,
            ..renewal(1)
        };
        assert!(loan.renew(waited_for, &rules(1, false, false)).is_ok());
        assert!(loan.report_lost().is_err());
        assert!(loan.sign(BORROWER, NOW).is_err());
    }

    #[test]
    fn an_online_loan_ends_once_and_never_after_its_due_date() {
        let loan = Loan::open_online(BORROWER, NOW, 7);
        let revoked = loan
            .end_online(OnlineEnd::Revoked, NOW, NOW + Duration::days(1))
            .unwrap();
        assert_eq!(revoked.status, LoanStatus::Returned);
        assert_eq!(revoked.returned_at, Some(NOW + Duration::days(1)));
        assert_eq!(
            revoked.check_reading(NOW, NOW + Duration::days(1)),
            Err(DomainError::LoanEnded)
        );
        assert!(revoked
            .end_online(OnlineEnd::Returned, NOW, NOW + Duration::days(2))
            .is_err());
        assert!(loan
            .end_online(OnlineEnd::Expired, NOW, loan.due_at - Duration::seconds(1))
            .is_err());
        let closed_late = loan
            .end_online(OnlineEnd::Expired, NOW, loan.due_at + Duration::hours(5))
            .unwrap();
        assert_eq!(closed_late.returned_at, Some(loan.due_at));
        let later = Loan::open_online(BORROWER, NOW + Duration::days(1), 7);
        let before_opening = later
            .end_online(OnlineEnd::Deactivated, NOW + Duration::days(1), NOW)
            .unwrap();
        assert_eq!(before_opening.returned_at, Some(NOW + Duration::days(1)));
        let paper = Loan::check_out(BORROWER, NOW, 7);
        assert!(paper.end_online(OnlineEnd::Revoked, NOW, NOW).is_err());
        assert!(paper.overdue(paper.due_at + Duration::seconds(1)));
    }

    #[test]
    fn returns_need_a_second_sign_off_when_the_policy_says_so() {
        let loan = Loan::check_out(BORROWER, NOW, 7)
            .sign(BORROWER, NOW)
            .unwrap();
        let simple = loan
            .take_back(ARCHIVIST, Condition::Intact, &rules(0, false, false), NOW)
            .unwrap();
        assert_eq!(simple.status, LoanStatus::Returned);
        assert_eq!(simple.returned_at, Some(NOW));
        let pending = loan
            .take_back(ARCHIVIST, Condition::Damaged, &rules(0, false, true), NOW)
            .unwrap();
        assert_eq!(pending.status, LoanStatus::ReturnPending);
        assert!(pending.condition.is_some_and(Condition::opens_incident));
        assert_eq!(
            pending.confirm_return(ARCHIVIST, NOW),
            Err(DomainError::SameInspector)
        );
        assert_eq!(
            pending.confirm_return(SECOND, NOW).unwrap().status,
            LoanStatus::Returned
        );
        assert_eq!(
            pending.confirm_return(BORROWER, NOW).unwrap().status,
            LoanStatus::Returned
        );
        assert!(simple.confirm_return(SECOND, NOW).is_err());
        assert!(simple
            .take_back(ARCHIVIST, Condition::Intact, &rules(0, false, false), NOW)
            .is_err());
    }

    #[test]
    fn a_loan_can_be_lost_until_it_is_back() {
        let loan = Loan::check_out(BORROWER, NOW, 7);
        let lost = loan.report_lost().unwrap();
        assert_eq!(lost.status, LoanStatus::Lost);
        assert!(lost.report_lost().is_err());
        assert!(
            !lost.overdue(NOW + Duration::days(30)),
            "a lost loan is no longer overdue"
        );
    }
}

#[cfg(test)]
mod circulation_model {
    //! Random scans and returns over a few archives and requests: whatever the order, the rules
    //! never let an archive be on two open loans, and a reserved archive goes only to its request.
    use proptest::prelude::*;

    use super::*;

    const ARCHIVES: usize = 2;
    const REQUESTS: usize = 3;

    #[derive(Debug, Clone)]
    enum Step {
        Scan { request: usize, archive: usize },
        Return { archive: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..REQUESTS, 0..ARCHIVES)
                .prop_map(|(request, archive)| Step::Scan { request, archive }),
            (0..ARCHIVES).prop_map(|archive| Step::Return { archive }),
        ]
    }

    proptest! {
        #[test]
        fn an_archive_is_never_on_two_open_loans(steps in prop::collection::vec(step(), 1..60)) {
            // Every request wants every archive and is approved, oldest first.
            let mut items = [[ItemStatus::Waiting; ARCHIVES]; REQUESTS];
            let mut archives = [ArchiveStatus::Available; ARCHIVES];
            // Which request holds each archive on an open loan.
            let mut open: [Vec<usize>; ARCHIVES] = Default::default();
            for step in steps {
                match step {
                    Step::Scan { request, archive } => {
                        let allowed = check_checkout(RequestStatus::Approved, Some(items[request][archive]), archives[archive]);
                        if allowed.is_ok() {
                            if archives[archive] == ArchiveStatus::Reserved {
                                prop_assert_eq!(items[request][archive], ItemStatus::Reserved);
                            }
                            items[request][archive] = ItemStatus::CheckedOut;
                            archives[archive] = ArchiveStatus::OnLoan;
                            open[archive].push(request);
                        }
                    }
                    Step::Return { archive } => {
                        if open[archive].pop().is_some() {
                            let next = (0..REQUESTS).find(|r| items[*r][archive] == ItemStatus::Waiting);
                            archives[archive] = status_after_return(Condition::Intact, next.is_some());
                            if let Some(next) = next {
                                items[next][archive] = ItemStatus::Reserved;
                            }
                        }
                    }
                }
                for loans in &open {
                    prop_assert!(loans.len() <= 1, "an archive on two open loans: {:?}", open);
                }
            }
        }
    }
}
