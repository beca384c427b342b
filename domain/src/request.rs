//! The loan-request state machine: `pending → approved | rejected | withdrawn`,
//! `approved → fulfilled | expired | withdrawn`, `fulfilled → closed`, decided step by step.
//! Every transition is `decide(&request, command, deciders, now) -> (request, events)`.

use time::OffsetDateTime;
use uuid::Uuid;

use std::collections::{BTreeMap, HashSet};

use crate::{
    access::Principal,
    policy::{EffectivePolicy, LoanType, ResolvedStep},
    Classification, DomainError, FieldError, Role,
};

named_enum! {
    RequestStatus {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        Withdrawn => "withdrawn",
        Expired => "expired",
        Fulfilled => "fulfilled",
        Closed => "closed",
    }
}

named_enum! {
    StepStatus {
        Waiting => "waiting",
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        Skipped => "skipped",
    }
}

named_enum! {
    /// What became of one archive of a request.
    ItemStatus {
        /// Not handed over yet (the archive may be out: the request waits in line).
        Waiting => "waiting",
        /// Returned and kept for this request until its pickup window ends.
        Reserved => "reserved",
        CheckedOut => "checked_out",
        /// Not picked up in time; the next in line got it.
        Expired => "expired",
        Withdrawn => "withdrawn",
    }
}

impl ItemStatus {
    /// Still to be handed over to this request.
    pub fn is_outstanding(self) -> bool {
        matches!(self, ItemStatus::Waiting | ItemStatus::Reserved)
    }
}

/// What becomes of an approved or fulfilled request as its items are handed over and its loans
/// end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settling {
    /// Something of it is still outstanding, or it is in no state that settles.
    Stays,
    /// Apply this command now.
    Now(Command),
    /// Everything of it went out: close it once none of its loans holds its archive.
    CloseOnceReturned,
}

/// How a request settles once nothing of it is outstanding: fulfilled when something of it went
/// out, expired when nothing did; a fulfilled one closes once everything that went out has ended.
pub fn settling(status: RequestStatus, items: &[ItemStatus]) -> Settling {
    if items.iter().any(|i| i.is_outstanding()) {
        return Settling::Stays;
    }
    let went_out = items.contains(&ItemStatus::CheckedOut);
    match status {
        RequestStatus::Approved if went_out => Settling::Now(Command::Fulfil),
        RequestStatus::Approved => Settling::Now(Command::Expire),
        RequestStatus::Fulfilled => Settling::CloseOnceReturned,
        _ => Settling::Stays,
    }
}

/// The most archives one request may ask for.
pub const MAX_ITEMS: usize = 50;

/// A borrower's request as written, before it is stored.
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    pub archive_ids: &'a [Uuid],
    pub purpose: &'a str,
    pub loan_type: LoanType,
    pub days: i32,
}

impl Draft<'_> {
    /// Every rule the request breaks under the policy its archives combine to.
    pub fn check(&self, policy: &EffectivePolicy) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        if self.archive_ids.is_empty() || self.archive_ids.len() > MAX_ITEMS {
            errors.push(FieldError::new(
                "archive_ids",
                format!("must list 1 to {MAX_ITEMS} archives"),
            ));
        } else if !self.archive_ids.iter().all(|id| seen.insert(id)) {
            errors.push(FieldError::new(
                "archive_ids",
                "must not list an archive twice",
            ));
        }
        let purpose = self.purpose.trim().chars().count();
        if purpose == 0 || purpose > 2000 {
            errors.push(FieldError::new("purpose", "must be 1 to 2000 characters"));
        }
        if !(1..=policy.max_days).contains(&self.days) {
            errors.push(FieldError::new(
                "days",
                format!("must be between 1 and {} under the policy", policy.max_days),
            ));
        }
        if !policy.allowed_loan_types.contains(&self.loan_type) {
            let allowed: Vec<&str> = policy
                .allowed_loan_types
                .iter()
                .map(|t| t.as_str())
                .collect();
            errors.push(FieldError::new(
                "loan_type",
                format!("the policy allows only {}", allowed.join(", ")),
            ));
        }
        errors
    }
}

/// The longest an approver may put off the opening of an online loan.
pub const MAX_OPENING_DELAY_DAYS: i64 = 365;

/// When the loans an approval opens become readable: at once, or at `opens_at` — which only
/// the approval that approves an online request may set, neither past nor more than a year off.
pub fn opening(
    loan_type: LoanType,
    approves: bool,
    opens_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, FieldError> {
    let Some(opens_at) = opens_at else {
        return Ok(now);
    };
    if loan_type != LoanType::Online {
        Err(FieldError::new(
            "opens_at",
            "only online loans open at a time the approver sets",
        ))
    } else if !approves {
        Err(FieldError::new(
            "opens_at",
            "is set by the approval that approves the request (its last step)",
        ))
    } else if opens_at < now {
        Err(FieldError::new("opens_at", "must not be in the past"))
    } else if opens_at > now + time::Duration::days(MAX_OPENING_DELAY_DAYS) {
        Err(FieldError::new(
            "opens_at",
            format!("must be within {MAX_OPENING_DELAY_DAYS} days"),
        ))
    } else {
        Ok(opens_at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub approver_ids: Vec<Uuid>,
    /// The role the approvers decide by, which they must still hold when they decide.
    pub role: Option<Role>,
    pub status: StepStatus,
    pub decided_by: Option<Uuid>,
    /// The approver a delegate decided for.
    pub on_behalf_of: Option<Uuid>,
    pub comment: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
}

/// While active, `delegate` may decide what `delegator` may decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub delegator_id: Uuid,
    pub delegate_id: Uuid,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
}

impl Delegation {
    pub fn active_at(&self, now: OffsetDateTime) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Every rule a new delegation breaks: it hands tasks to someone else, for a window that
    /// ends after it starts and has not ended already.
    pub fn check(&self, now: OffsetDateTime) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.delegate_id == self.delegator_id {
            errors.push(FieldError::new("delegate_id", "must be someone else"));
        }
        if self.ends_at <= self.starts_at {
            errors.push(FieldError::new("ends_at", "must be after starts_at"));
        } else if self.ends_at <= now {
            errors.push(FieldError::new("ends_at", "must be in the future"));
        }
        errors
    }
}

/// Who may decide for whom right now: the caller's active delegations and the people involved
/// (the caller and their delegators) as they are at the time of the decision.
#[derive(Debug, Clone, Default)]
pub struct Deciders {
    pub delegations: Vec<Delegation>,
    pub people: BTreeMap<Uuid, Principal>,
}

impl Deciders {
    /// For commands that are nobody's decision (withdraw, expire, fulfil, close).
    pub fn none() -> Deciders {
        Deciders::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanRequest {
    pub borrower_id: Uuid,
    /// The highest classification among its archives: every decider must be cleared for it.
    pub ceiling: Classification,
    pub status: RequestStatus,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Approve {
        actor: Uuid,
        comment: Option<String>,
    },
    Reject {
        actor: Uuid,
        comment: String,
    },
    /// By the borrower; `items_out` says whether anything of it is checked out.
    Withdraw {
        actor: Uuid,
        items_out: bool,
    },
    /// An approved request nobody picked up in time.
    Expire,
    /// Everything of it checked out.
    Fulfil,
    /// Everything of it returned.
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    StepApproved {
        index: usize,
        by: Uuid,
        on_behalf_of: Option<Uuid>,
    },
    StepRejected {
        index: usize,
        by: Uuid,
        on_behalf_of: Option<Uuid>,
    },
    Approved,
    Rejected,
    Withdrawn,
    Expired,
    Fulfilled,
    Closed,
}

impl LoanRequest {
    /// A new request waiting on its first step; with no step it is approved at once.
    pub fn new(
        borrower_id: Uuid,
        ceiling: Classification,
        chain: Vec<ResolvedStep>,
    ) -> LoanRequest {
        let steps: Vec<Step> = chain
            .into_iter()
            .enumerate()
            .map(|(i, s)| Step {
                name: s.name,
                approver_ids: s.approver_ids,
                role: s.role,
                status: if i == 0 {
                    StepStatus::Pending
                } else {
                    StepStatus::Waiting
                },
                decided_by: None,
                on_behalf_of: None,
                comment: None,
                decided_at: None,
            })
            .collect();
        let status = if steps.is_empty() {
            RequestStatus::Approved
        } else {
            RequestStatus::Pending
        };
        LoanRequest {
            borrower_id,
            ceiling,
            status,
            steps,
        }
    }

    /// The index of the step awaiting a decision.
    pub fn current_step(&self) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.status == StepStatus::Pending)
    }

    /// Whom `actor` decides for on the current step: themself (`None`) or the approver who
    /// delegated to them. Eligibility is checked now, not when the request was made: the decider
    /// (and the delegator they stand in for) must still be active, cleared for every archive of
    /// the request and hold the step's role; a delegate needs no role but the same clearance.
    /// Nobody decides their own request, and nobody decides two steps of one request, in their
    /// own name or through a delegate (separation of duties).
    pub fn deciding_for(
        &self,
        actor: Uuid,
        deciders: &Deciders,
        now: OffsetDateTime,
    ) -> Result<Option<Uuid>, DomainError> {
        if self.status != RequestStatus::Pending {
            return Err(DomainError::RequestNotPending);
        }
        let step = self
            .current_step()
            .map(|i| &self.steps[i])
            .ok_or(DomainError::RequestNotPending)?;
        if actor == self.borrower_id {
            return Err(DomainError::NotYourStep);
        }
        let decided: HashSet<Uuid> = self
            .steps
            .iter()
            .flat_map(|s| [s.decided_by, s.on_behalf_of])
            .flatten()
            .collect();
        let eligible = |id: Uuid, role: Option<Role>| {
            deciders
                .people
                .get(&id)
                .is_some_and(|p| p.may_approve(self.borrower_id, self.ceiling, role))
        };
        let on_behalf_of = if step.approver_ids.contains(&actor) && eligible(actor, step.role) {
            None
        } else if eligible(actor, None) {
            let delegator = deciders
                .delegations
                .iter()
                .filter(|d| d.delegate_id == actor && d.active_at(now))
                .map(|d| d.delegator_id)
                .find(|d| step.approver_ids.contains(d) && eligible(*d, step.role))
                .ok_or(DomainError::NotYourStep)?;
            Some(delegator)
        } else {
            return Err(DomainError::NotYourStep);
        };
        if decided.contains(&actor) || on_behalf_of.is_some_and(|d| decided.contains(&d)) {
            return Err(DomainError::SeparationOfDuties);
        }
        Ok(on_behalf_of)
    }

    fn record(
        &mut self,
        index: usize,
        status: StepStatus,
        actor: Uuid,
        on_behalf_of: Option<Uuid>,
        comment: Option<String>,
        now: OffsetDateTime,
    ) {
        let step = &mut self.steps[index];
        step.status = status;
        step.decided_by = Some(actor);
        step.on_behalf_of = on_behalf_of;
        step.comment = comment;
        step.decided_at = Some(now);
    }

    fn skip_undecided(&mut self) {
        for step in &mut self.steps {
            if matches!(step.status, StepStatus::Pending | StepStatus::Waiting) {
                step.status = StepStatus::Skipped;
            }
        }
    }

    /// Applies one command, or says which rule refuses it.
    pub fn decide(
        &self,
        command: Command,
        deciders: &Deciders,
        now: OffsetDateTime,
    ) -> Result<(LoanRequest, Vec<Event>), DomainError> {
        use RequestStatus::*;
        let mut next = self.clone();
        let events = match (self.status, command) {
            (_, Command::Approve { actor, comment }) => {
                let on_behalf_of = self.deciding_for(actor, deciders, now)?;
                let index = self.current_step().ok_or(DomainError::RequestNotPending)?;
                next.record(
                    index,
                    StepStatus::Approved,
                    actor,
                    on_behalf_of,
                    comment,
                    now,
                );
                let mut events = vec![Event::StepApproved {
                    index,
                    by: actor,
                    on_behalf_of,
                }];
                match next.steps.get_mut(index + 1) {
                    Some(following) => following.status = StepStatus::Pending,
                    None => {
                        next.status = Approved;
                        events.push(Event::Approved);
                    }
                }
                events
            }
            (_, Command::Reject { actor, comment }) => {
                let on_behalf_of = self.deciding_for(actor, deciders, now)?;
                let index = self.current_step().ok_or(DomainError::RequestNotPending)?;
                next.record(
                    index,
                    StepStatus::Rejected,
                    actor,
                    on_behalf_of,
                    Some(comment),
                    now,
                );
                next.skip_undecided();
                next.status = Rejected;
                vec![
                    Event::StepRejected {
                        index,
                        by: actor,
                        on_behalf_of,
                    },
                    Event::Rejected,
                ]
            }
            (Pending | Approved, Command::Withdraw { actor, items_out }) => {
                if actor != self.borrower_id {
                    return Err(DomainError::NotBorrower);
                }
                if items_out {
                    return Err(DomainError::Transition {
                        from: self.status,
                        command: "withdraw",
                    });
                }
                next.skip_undecided();
                next.status = Withdrawn;
                vec![Event::Withdrawn]
            }
            (Approved, Command::Expire) => {
                next.status = Expired;
                vec![Event::Expired]
            }
            (Approved, Command::Fulfil) => {
                next.status = Fulfilled;
                vec![Event::Fulfilled]
            }
            (Fulfilled, Command::Close) => {
                next.status = Closed;
                vec![Event::Closed]
            }
            (from, command) => {
                return Err(DomainError::Transition {
                    from,
                    command: match command {
                        Command::Withdraw { .. } => "withdraw",
                        Command::Expire => "expire",
                        Command::Fulfil => "fulfil",
                        Command::Close => "close",
                        Command::Approve { .. } | Command::Reject { .. } => "decide",
                    },
                })
            }
        };
        Ok((next, events))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::{macros::datetime, Duration};

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-24 09:00 UTC);

    #[test]
    fn only_the_approval_of_an_online_request_sets_when_it_opens() {
        let later = NOW + time::Duration::days(2);
        assert_eq!(opening(LoanType::TakeOut, true, None, NOW), Ok(NOW));
        assert_eq!(opening(LoanType::Online, true, None, NOW), Ok(NOW));
        assert_eq!(opening(LoanType::Online, true, Some(later), NOW), Ok(later));
        let refused = |loan_type, approves, at| {
            opening(loan_type, approves, Some(at), NOW)
                .unwrap_err()
                .message
        };
        assert!(refused(LoanType::OnSite, true, later).contains("only online"));
        assert!(refused(LoanType::Online, false, later).contains("last step"));
        assert!(refused(LoanType::Online, true, NOW - time::Duration::seconds(1)).contains("past"));
        assert!(refused(LoanType::Online, true, NOW + time::Duration::days(366)).contains("365"));
    }
    #[test]
    fn a_draft_must_fit_the_policy() {
        let secret = crate::policy::default_policies()
            .into_iter()
            .find(|p| p.name.starts_with("confidential"))
            .unwrap();
        let policy = crate::policy::combine(&[&secret]).unwrap();
        let ids = [Uuid::from_u128(7)];
        let good = Draft {
            archive_ids: &ids,
            purpose: "审计 / audit",
            loan_type: LoanType::OnSite,
            days: 7,
        };
        assert!(good.check(&policy).is_empty());
        let twice = [Uuid::from_u128(7), Uuid::from_u128(7)];
        let bad = Draft {
            archive_ids: &twice,
            purpose: "  ",
            loan_type: LoanType::TakeOut,
            days: 8,
        };
        let fields: Vec<String> = bad
            .check(&policy)
            .into_iter()
            .map(|e| e.field.to_string())
            .collect();
        assert_eq!(fields, ["archive_ids", "purpose", "days", "loan_type"]);
        let none = Draft {
            archive_ids: &[],
            days: 0,
            ..good
        };
        assert_eq!(none.check(&policy).len(), 2);
    }

    struct People {
        borrower: Uuid,
        head: Uuid,
        officer: Uuid,
        deputy: Uuid,
        stranger: Uuid,
    }

    fn people() -> People {
        People {
            borrower: Uuid::from_u128(1),
            head: Uuid::from_u128(2),
            officer: Uuid::from_u128(3),
            deputy: Uuid::from_u128(4),
            stranger: Uuid::from_u128(5),
        }
    }

    fn request(p: &People) -> LoanRequest {
        LoanRequest::new(
            p.borrower,
            Classification::Secret,
            vec![
                ResolvedStep {
                    name: "department head".into(),
                    approver_ids: vec![p.head],
                    role: None,
                },
                ResolvedStep {
                    name: "security officer".into(),
                    approver_ids: vec![p.officer],
                    role: Some(Role::SecurityOfficer),
                },
            ],
        )
    }

    /// Everyone cleared for top secret, the officer holding the officer's role.
    fn deciders(delegations: &[Delegation]) -> Deciders {
        let p = people();
        let mut people: BTreeMap<Uuid, Principal> = [p.borrower, p.head, p.deputy, p.stranger]
            .into_iter()
            .map(|id| (id, Principal::cleared(id, &[], Classification::TopSecret)))
            .collect();
        people.insert(
            p.officer,
            Principal::cleared(
                p.officer,
                &[Role::SecurityOfficer],
                Classification::TopSecret,
            ),
        );
        Deciders {
            delegations: delegations.to_vec(),
            people,
        }
    }

    fn approve(actor: Uuid) -> Command {
        Command::Approve {
            actor,
            comment: None,
        }
    }

    #[test]
    fn steps_are_decided_in_order_by_their_approvers() {
        let p = people();
        let r = request(&p);
        assert_eq!(r.current_step(), Some(0));
        assert_eq!(
            r.decide(approve(p.officer), &deciders(&[]), NOW),
            Err(DomainError::NotYourStep),
            "not yet the officer's step"
        );
        let (r, events) = r.decide(approve(p.head), &deciders(&[]), NOW).unwrap();
        assert_eq!(
            events,
            [Event::StepApproved {
                index: 0,
                by: p.head,
                on_behalf_of: None
            }]
        );
        assert_eq!(r.current_step(), Some(1));
        assert_eq!(
            r.decide(approve(p.head), &deciders(&[]), NOW),
            Err(DomainError::NotYourStep),
            "approving twice"
        );
        let (r, events) = r.decide(approve(p.officer), &deciders(&[]), NOW).unwrap();
        assert_eq!(r.status, RequestStatus::Approved);
        assert_eq!(events.last(), Some(&Event::Approved));
        assert_eq!(
            r.decide(approve(p.officer), &deciders(&[]), NOW),
            Err(DomainError::RequestNotPending)
        );
    }

    #[test]
    fn deciders_are_checked_when_they_decide() {
        let p = people();
        let r = request(&p);
        let mut now_internal = deciders(&[]);
        now_internal.people.insert(
            p.head,
            Principal::cleared(p.head, &[], Classification::Internal),
        );
        assert_eq!(
            r.decide(approve(p.head), &now_internal, NOW),
            Err(DomainError::NotYourStep),
            "the head's clearance was lowered below the request's"
        );
        let (r, _) = r.decide(approve(p.head), &deciders(&[]), NOW).unwrap();
        let mut role_removed = deciders(&[]);
        role_removed.people.insert(
            p.officer,
            Principal::cleared(p.officer, &[], Classification::TopSecret),
        );
        assert_eq!(
            r.decide(approve(p.officer), &role_removed, NOW),
            Err(DomainError::NotYourStep),
            "the officer no longer holds the step's role"
        );
        let mut disabled = deciders(&[]);
        if let Some(officer) = disabled.people.get_mut(&p.officer) {
            officer.status = crate::UserStatus::Disabled;
        }
        assert_eq!(
            r.decide(approve(p.officer), &disabled, NOW),
            Err(DomainError::NotYourStep)
        );
        assert!(r.decide(approve(p.officer), &deciders(&[]), NOW).is_ok());
    }

    #[test]
    fn nobody_decides_two_steps_of_one_request() {
        let p = people();
        let mut r = request(&p);
        // The head is also the security officer.
        r.steps[1].approver_ids = vec![p.head];
        r.steps[1].role = None;
        let (r, _) = r.decide(approve(p.head), &deciders(&[]), NOW).unwrap();
        assert_eq!(
            r.decide(approve(p.head), &deciders(&[]), NOW),
            Err(DomainError::SeparationOfDuties)
        );
        // Not through a delegate either.
        let window = Delegation {
            delegator_id: p.head,
            delegate_id: p.deputy,
            starts_at: NOW - Duration::hours(1),
            ends_at: NOW + Duration::hours(1),
        };
        assert_eq!(
            r.decide(approve(p.deputy), &deciders(&[window]), NOW),
            Err(DomainError::SeparationOfDuties)
        );
    }

    #[test]
    fn a_delegate_decides_only_what_they_are_cleared_for() {
        let p = people();
        let r = request(&p);
        let window = Delegation {
            delegator_id: p.head,
            delegate_id: p.deputy,
            starts_at: NOW - Duration::hours(1),
            ends_at: NOW + Duration::hours(1),
        };
        let mut public_deputy = deciders(&[window]);
        public_deputy.people.insert(
            p.deputy,
            Principal::cleared(p.deputy, &[], Classification::Public),
        );
        assert_eq!(
            r.decide(approve(p.deputy), &public_deputy, NOW),
            Err(DomainError::NotYourStep)
        );
        // The task stays with the head.
        assert!(r.decide(approve(p.head), &public_deputy, NOW).is_ok());
    }

    #[test]
    fn a_request_settles_once_nothing_is_outstanding() {
        use ItemStatus::*;
        assert_eq!(
            settling(RequestStatus::Approved, &[CheckedOut, Waiting]),
            Settling::Stays
        );
        assert_eq!(
            settling(RequestStatus::Approved, &[CheckedOut, Reserved]),
            Settling::Stays
        );
        assert_eq!(
            settling(RequestStatus::Approved, &[CheckedOut, Expired]),
            Settling::Now(Command::Fulfil)
        );
        assert_eq!(
            settling(RequestStatus::Approved, &[Expired, Withdrawn]),
            Settling::Now(Command::Expire)
        );
        assert_eq!(
            settling(RequestStatus::Fulfilled, &[CheckedOut]),
            Settling::CloseOnceReturned
        );
        assert_eq!(
            settling(RequestStatus::Pending, &[Expired]),
            Settling::Stays
        );
    }

    #[test]
    fn a_rejection_ends_the_request() {
        let p = people();
        let (r, _) = request(&p)
            .decide(
                Command::Reject {
                    actor: p.head,
                    comment: "not needed".into(),
                },
                &deciders(&[]),
                NOW,
            )
            .unwrap();
        assert_eq!(r.status, RequestStatus::Rejected);
        assert_eq!(r.steps[1].status, StepStatus::Skipped);
        assert_eq!(
            r.decide(approve(p.officer), &deciders(&[]), NOW),
            Err(DomainError::RequestNotPending)
        );
    }

    #[test]
    fn delegates_decide_inside_their_window_only_and_never_their_own_request() {
        let p = people();
        let window = Delegation {
            delegator_id: p.head,
            delegate_id: p.deputy,
            starts_at: NOW - Duration::hours(1),
            ends_at: NOW + Duration::hours(1),
        };
        let r = request(&p);
        let (approved, events) = r
            .decide(
                approve(p.deputy),
                &deciders(std::slice::from_ref(&window)),
                NOW,
            )
            .unwrap();
        assert_eq!(
            events[0],
            Event::StepApproved {
                index: 0,
                by: p.deputy,
                on_behalf_of: Some(p.head)
            }
        );
        assert_eq!(approved.steps[0].on_behalf_of, Some(p.head));
        let later = NOW + Duration::hours(2);
        assert_eq!(
            r.decide(
                approve(p.deputy),
                &deciders(std::slice::from_ref(&window)),
                later
            ),
            Err(DomainError::NotYourStep)
        );
        let to_borrower = Delegation {
            delegate_id: p.borrower,
            ..window
        };
        assert_eq!(
            r.decide(approve(p.borrower), &deciders(&[to_borrower]), NOW),
            Err(DomainError::NotYourStep)
        );
    }

    #[test]
    fn a_delegation_goes_to_someone_else_for_a_future_window() {
        let p = people();
        let good = Delegation {
            delegator_id: p.head,
            delegate_id: p.deputy,
            starts_at: NOW,
            ends_at: NOW + Duration::days(7),
        };
        assert!(good.check(NOW).is_empty());
        let to_self = Delegation {
            delegate_id: p.head,
            ..good.clone()
        };
        assert_eq!(to_self.check(NOW)[0].field, "delegate_id");
        let backwards = Delegation {
            ends_at: NOW - Duration::days(1),
            ..good.clone()
        };
        assert_eq!(backwards.check(NOW)[0].message, "must be after starts_at");
        assert_eq!(
            good.check(NOW + Duration::days(8))[0].message,
            "must be in the future"
        );
    }

    #[test]
    fn withdraw_expire_fulfil_close() {
        let p = people();
        let r = request(&p);
        assert_eq!(
            r.decide(
                Command::Withdraw {
                    actor: p.stranger,
                    items_out: false
                },
                &deciders(&[]),
                NOW
            ),
            Err(DomainError::NotBorrower)
        );
        let (withdrawn, _) = r
            .decide(
                Command::Withdraw {
                    actor: p.borrower,
                    items_out: false,
                },
                &deciders(&[]),
                NOW,
            )
            .unwrap();
        assert_eq!(withdrawn.status, RequestStatus::Withdrawn);
        let (r, _) = r.decide(approve(p.head), &deciders(&[]), NOW).unwrap();
        let (r, _) = r.decide(approve(p.officer), &deciders(&[]), NOW).unwrap();
        assert!(r
            .decide(
                Command::Withdraw {
                    actor: p.borrower,
                    items_out: true
                },
                &deciders(&[]),
                NOW
            )
            .is_err());
        let (expired, _) = r.decide(Command::Expire, &deciders(&[]), NOW).unwrap();
        assert_eq!(expired.status, RequestStatus::Expired);
        let (fulfilled, _) = r.decide(Command::Fulfil, &deciders(&[]), NOW).unwrap();
        assert!(fulfilled
            .decide(
                Command::Withdraw {
                    actor: p.borrower,
                    items_out: false
                },
                &deciders(&[]),
                NOW
            )
            .is_err());
        let (closed, _) = fulfilled
            .decide(Command::Close, &deciders(&[]), NOW)
            .unwrap();
        assert_eq!(closed.status, RequestStatus::Closed);
        assert!(closed.decide(Command::Fulfil, &deciders(&[]), NOW).is_err());
    }

    fn command(p: &People) -> impl Strategy<Value = Command> {
        let actors = vec![p.borrower, p.head, p.officer, p.deputy, p.stranger];
        let actor = proptest::sample::select(actors);
        prop_oneof![
            actor.clone().prop_map(|a| Command::Approve {
                actor: a,
                comment: None
            }),
            actor.clone().prop_map(|a| Command::Reject {
                actor: a,
                comment: "no".into()
            }),
            (actor, any::<bool>()).prop_map(|(a, items_out)| Command::Withdraw {
                actor: a,
                items_out
            }),
            Just(Command::Expire),
            Just(Command::Fulfil),
            Just(Command::Close),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_breaks_the_invariants(commands in proptest::collection::vec(command(&people()), 0..24)) {
            let p = people();
            // The borrower is also named as an approver and delegate: the rules must still hold.
            let mut r = request(&p);
            r.steps[0].approver_ids.push(p.borrower);
            let delegations = [Delegation {
                delegator_id: p.officer,
                delegate_id: p.borrower,
                starts_at: NOW - Duration::hours(1),
                ends_at: NOW + Duration::hours(1),
            }];
            for command in commands {
                let before = r.status;
                if let Ok((next, _)) = r.decide(command, &deciders(&delegations), NOW) {
                    r = next;
                }
                let terminal = matches!(before, RequestStatus::Rejected | RequestStatus::Withdrawn | RequestStatus::Expired | RequestStatus::Closed);
                prop_assert!(!terminal || r.status == before, "left a terminal state");
                prop_assert!(r.steps.iter().all(|s| s.decided_by != Some(p.borrower)), "the borrower decided");
                let decided: Vec<Uuid> = r.steps.iter().flat_map(|s| [s.decided_by, s.on_behalf_of]).flatten().collect();
                let distinct: HashSet<&Uuid> = decided.iter().collect();
                prop_assert_eq!(distinct.len(), decided.len(), "someone decided two steps");
                let rejected = r.steps.iter().any(|s| s.status == StepStatus::Rejected);
                prop_assert!(!(rejected && matches!(r.status, RequestStatus::Approved | RequestStatus::Fulfilled | RequestStatus::Closed)), "approved past a rejection");
                prop_assert!(r.steps.iter().filter(|s| s.status == StepStatus::Pending).count() <= 1);
                if let Some(current) = r.current_step() {
                    prop_assert!(r.steps[..current].iter().all(|s| s.status == StepStatus::Approved), "a step decided out of order");
                }
            }
        }
    }
}
