//! Loan policies: which policy governs an archive and loan type, how the policies of a request's
//! several archives combine into the strictest, and who concretely approves each step.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    access::Principal, archival::Opening, archive::ArchiveFields, Classification, DomainError,
    FieldError, Role,
};

named_enum! {
    /// How an archive leaves the archivist's hands.
    LoanType {
        /// Read in the reading room.
        OnSite => "on_site",
        /// Leaves the archive room.
        TakeOut => "take_out",
        /// Copies or excerpts.
        Copy => "copy",
        /// The archive's electronic files, read through Dangan until the loan ends.
        Online => "online",
    }
}

/// Who approves a step, as a policy states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Approver {
    /// The head of the borrower's department.
    DepartmentHead,
    /// Anyone holding the role.
    Role { role: Role },
    /// One named user.
    User { user_id: Uuid },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepSpec {
    pub name: String,
    pub approver: Approver,
}

/// Which requests a policy covers; an empty list means any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyMatch {
    #[serde(default)]
    pub classifications: Vec<Classification>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub loan_types: Vec<LoanType>,
    /// 开放状态: a site may let open archives be read in the reading room without a head's
    /// approval (a policy matching `open` and `on_site` with no approval steps).
    #[serde(default)]
    pub openings: Vec<Opening>,
}

/// What a policy's match looks at in an archive.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub classification: Classification,
    /// The category's label, and its code where a category stands behind it: a policy's
    /// `categories` names either.
    pub category: &'a str,
    pub category_code: Option<&'a str>,
    pub opening: Opening,
}

impl<'a> From<&'a ArchiveFields> for Subject<'a> {
    fn from(f: &'a ArchiveFields) -> Self {
        Subject {
            classification: f.classification,
            category: &f.category,
            category_code: f.filing.category_code.as_deref(),
            opening: f.filing.opening,
        }
    }
}

impl PolicyMatch {
    pub fn fits(&self, archive: Subject, loan_type: LoanType) -> bool {
        let category =
            |c: &String| c == archive.category || Some(c.as_str()) == archive.category_code;
        (self.classifications.is_empty() || self.classifications.contains(&archive.classification))
            && (self.categories.is_empty() || self.categories.iter().any(category))
            && (self.loan_types.is_empty() || self.loan_types.contains(&loan_type))
            && (self.openings.is_empty() || self.openings.contains(&archive.opening))
    }
}

/// The rules of lending, as an admin writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanPolicy {
    pub name: String,
    pub priority: i32,
    pub matches: PolicyMatch,
    pub approval_steps: Vec<StepSpec>,
    pub max_days: i32,
    pub max_renewals: i32,
    pub renewal_requires_approval: bool,
    pub allowed_loan_types: Vec<LoanType>,
    pub dual_signoff_on_return: bool,
    pub pickup_days: i32,
    /// Whether an online loan may hand out files it cannot mark (images, office documents) as
    /// stored; PDFs are always marked.
    pub unmarked_copies: bool,
}

impl LoanPolicy {
    /// Every rule the policy itself breaks.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let name = self.name.trim().chars().count();
        if name == 0 || name > 100 {
            errors.push(FieldError::new("name", "must be 1 to 100 characters"));
        }
        if !(1..=3650).contains(&self.max_days) {
            errors.push(FieldError::new("max_days", "must be between 1 and 3650"));
        }
        if !(0..=100).contains(&self.max_renewals) {
            errors.push(FieldError::new("max_renewals", "must be between 0 and 100"));
        }
        if !(1..=365).contains(&self.pickup_days) {
            errors.push(FieldError::new("pickup_days", "must be between 1 and 365"));
        }
        if self.allowed_loan_types.is_empty() {
            errors.push(FieldError::new(
                "allowed_loan_types",
                "must allow at least one loan type",
            ));
        }
        if self.approval_steps.iter().any(|s| s.name.trim().is_empty()) {
            errors.push(FieldError::new("approval_steps", "every step needs a name"));
        }
        errors
    }

    pub fn allows(&self, loan_type: LoanType) -> bool {
        self.allowed_loan_types.contains(&loan_type)
    }

    /// The users a policy names as approvers, which must exist.
    pub fn named_approvers(&self) -> Vec<Uuid> {
        self.approval_steps
            .iter()
            .filter_map(|s| match s.approver {
                Approver::User { user_id } => Some(user_id),
                _ => None,
            })
            .collect()
    }
}

/// The policy with the highest priority whose match fits (the first listed among equals).
pub fn applicable<'a>(
    policies: &'a [LoanPolicy],
    archive: Subject,
    loan_type: LoanType,
) -> Option<&'a LoanPolicy> {
    policies
        .iter()
        .filter(|p| p.matches.fits(archive, loan_type))
        .fold(None, |best: Option<&LoanPolicy>, p| match best {
            Some(b) if b.priority >= p.priority => Some(b),
            _ => Some(p),
        })
}

/// The strictest combination of the policies of a request's archives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePolicy {
    /// The longest chain among them (the first listed among equals).
    pub approval_steps: Vec<StepSpec>,
    pub max_days: i32,
    pub max_renewals: i32,
    pub renewal_requires_approval: bool,
    /// Only the loan types every policy allows.
    pub allowed_loan_types: BTreeSet<LoanType>,
    pub dual_signoff_on_return: bool,
    pub pickup_days: i32,
    /// Only where every policy allows unmarked copies.
    pub unmarked_copies: bool,
}

/// Combines policies into the strictest; `None` for none.
pub fn combine(policies: &[&LoanPolicy]) -> Option<EffectivePolicy> {
    let (first, rest) = policies.split_first()?;
    let mut effective = EffectivePolicy {
        approval_steps: first.approval_steps.clone(),
        max_days: first.max_days,
        max_renewals: first.max_renewals,
        renewal_requires_approval: first.renewal_requires_approval,
        allowed_loan_types: first.allowed_loan_types.iter().copied().collect(),
        dual_signoff_on_return: first.dual_signoff_on_return,
        pickup_days: first.pickup_days,
        unmarked_copies: first.unmarked_copies,
    };
    for p in rest {
        if p.approval_steps.len() > effective.approval_steps.len() {
            effective.approval_steps = p.approval_steps.clone();
        }
        effective.max_days = effective.max_days.min(p.max_days);
        effective.max_renewals = effective.max_renewals.min(p.max_renewals);
        effective.renewal_requires_approval |= p.renewal_requires_approval;
        let allowed: BTreeSet<LoanType> = p.allowed_loan_types.iter().copied().collect();
        effective.allowed_loan_types = effective
            .allowed_loan_types
            .intersection(&allowed)
            .copied()
            .collect();
        effective.dual_signoff_on_return |= p.dual_signoff_on_return;
        effective.pickup_days = effective.pickup_days.min(p.pickup_days);
        effective.unmarked_copies &= p.unmarked_copies;
    }
    Some(effective)
}

/// The policies seeded on an empty database (DESIGN.md, "Default policies").
pub fn default_policies() -> Vec<LoanPolicy> {
    let head = || StepSpec {
        name: "department head".into(),
        approver: Approver::DepartmentHead,
    };
    let role = |name: &str, role: Role| StepSpec {
        name: name.into(),
        approver: Approver::Role { role },
    };
    let policy = |classification: Classification,
                  steps: Vec<StepSpec>,
                  max_days: i32,
                  max_renewals: i32,
                  renewal_requires_approval: bool,
                  allowed_loan_types: &[LoanType],
                  dual_signoff_on_return: bool| LoanPolicy {
        name: format!("{classification} default"),
        priority: 0,
        matches: PolicyMatch {
            classifications: vec![classification],
            ..PolicyMatch::default()
        },
        approval_steps: steps,
        max_days,
        max_renewals,
        renewal_requires_approval,
        allowed_loan_types: allowed_loan_types.to_vec(),
        dual_signoff_on_return,
        pickup_days: 7,
        // What is public may go out as stored; anything else is lent online marked only.
        unmarked_copies: classification == Classification::Public,
    };
    use Classification::*;
    use LoanType::*;
    vec![
        policy(
            Public,
            vec![role("archivist", Role::Archivist)],
            30,
            2,
            false,
            &[OnSite, TakeOut, Copy, Online],
            false,
        ),
        policy(
            Internal,
            vec![head(), role("archivist", Role::Archivist)],
            30,
            1,
            false,
            &[OnSite, TakeOut, Copy, Online],
            false,
        ),
        policy(
            Secret,
            vec![head(), role("security officer", Role::SecurityOfficer)],
            14,
            1,
            true,
            &[OnSite, TakeOut, Copy, Online],
            true,
        ),
        policy(
            Confidential,
            vec![
                head(),
                role("security officer", Role::SecurityOfficer),
                role("leader", Role::Leader),
            ],
            7,
            0,
            false,
            &[OnSite, Copy],
            true,
        ),
        policy(
            TopSecret,
            vec![
                head(),
                role("security officer", Role::SecurityOfficer),
                role("leader", Role::Leader),
            ],
            1,
            0,
            false,
            &[OnSite],
            true,
        ),
    ]
}

/// What chain resolution needs to know about the organisation, loaded by the caller.
#[derive(Debug, Clone, Default)]
pub struct Organisation {
    /// The heads of the borrower's department and then of each ancestor, nearest first
    /// (`None` where a department has no head).
    pub heads_upward: Vec<Option<Uuid>>,
    /// Active users as access rules see them: role holders, heads and named approvers.
    pub people: BTreeMap<Uuid, Principal>,
}

impl Organisation {
    fn holders(&self, role: Role) -> Vec<Uuid> {
        self.people
            .values()
            .filter(|p| p.is_active() && p.has_role(role))
            .map(|p| p.id)
            .collect()
    }
}

/// A step with the people who may decide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedStep {
    pub name: String,
    pub approver_ids: Vec<Uuid>,
    /// The role its approvers decide by (a role step, or the admins as the last fallback).
    pub role: Option<Role>,
}

/// Turns a policy's steps into the concrete people who may decide each, for `borrower` asking
/// for archives that reach up to `ceiling`. An approver must be eligible (`Principal::may_approve`:
/// active, cleared for every archive, not the borrower) and must not already be the only approver
/// of an earlier step (nobody decides two steps of one request). Where nobody named is eligible
/// the step goes to the nearest eligible head of a department further up, then to the eligible
/// admins; a step nobody can decide refuses the request.
pub fn resolve_chain(
    steps: &[StepSpec],
    borrower: Uuid,
    ceiling: Classification,
    org: &Organisation,
) -> Result<Vec<ResolvedStep>, DomainError> {
    let mut sole_deciders: BTreeSet<Uuid> = BTreeSet::new();
    let mut chain = Vec::with_capacity(steps.len());
    for step in steps {
        let eligible = |id: &Uuid, role: Option<Role>| {
            !sole_deciders.contains(id)
                && org
                    .people
                    .get(id)
                    .is_some_and(|p| p.may_approve(borrower, ceiling, role))
        };
        let (named, role) = match &step.approver {
            Approver::DepartmentHead => (
                org.heads_upward
                    .first()
                    .copied()
                    .flatten()
                    .into_iter()
                    .collect(),
                None,
            ),
            Approver::Role { role } => (org.holders(*role), Some(*role)),
            Approver::User { user_id } => (vec![*user_id], None),
        };
        let mut approvers: Vec<Uuid> = named.into_iter().filter(|id| eligible(id, role)).collect();
        let mut role = role;
        if approvers.is_empty() {
            role = None;
            approvers = org
                .heads_upward
                .iter()
                .skip(1)
                .flatten()
                .copied()
                .find(|id| eligible(id, None))
                .into_iter()
                .collect();
        }
        if approvers.is_empty() {
            role = Some(Role::Admin);
            approvers = org
                .holders(Role::Admin)
                .into_iter()
                .filter(|id| eligible(id, role))
                .collect();
        }
        if approvers.is_empty() {
            return Err(DomainError::NoApprover(step.name.clone()));
        }
        approvers.sort();
        approvers.dedup();
        if let [only] = approvers[..] {
            sole_deciders.insert(only);
        }
        chain.push(ResolvedStep {
            name: step.name.clone(),
            approver_ids: approvers,
            role,
        });
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(classification: Classification, category: &str, opening: Opening) -> Subject<'_> {
        Subject {
            classification,
            category,
            category_code: None,
            opening,
        }
    }

    #[test]
    fn a_policy_may_match_the_opening_and_the_category_by_code_or_label() {
        let mut reading_room = default_policies()[0].clone();
        reading_room.name = "开放档案阅览".into();
        reading_room.priority = 1000;
        reading_room.approval_steps = Vec::new();
        reading_room.matches = PolicyMatch {
            categories: vec!["WS".into()],
            loan_types: vec![LoanType::OnSite],
            openings: vec![Opening::Open],
            ..PolicyMatch::default()
        };
        let mut policies = default_policies();
        policies.push(reading_room);
        let filed = |opening| Subject {
            category_code: Some("WS"),
            ..subject(Classification::Public, "文书档案", opening)
        };
        let pick = |archive, t| applicable(&policies, archive, t).map(|p| p.name.clone());
        assert_eq!(
            pick(filed(Opening::Open), LoanType::OnSite).as_deref(),
            Some("开放档案阅览")
        );
        assert_ne!(
            pick(filed(Opening::Controlled), LoanType::OnSite).as_deref(),
            Some("开放档案阅览")
        );
        assert_ne!(
            pick(filed(Opening::Open), LoanType::TakeOut).as_deref(),
            Some("开放档案阅览")
        );
        let unfiled = subject(Classification::Public, "文书档案", Opening::Open);
        assert_ne!(
            pick(unfiled, LoanType::OnSite).as_deref(),
            Some("开放档案阅览"),
            "WS names the code, not this label"
        );
    }

    fn policy_for(c: Classification) -> LoanPolicy {
        let defaults = default_policies();
        applicable(
            &defaults,
            subject(c, "文书", Opening::Controlled),
            LoanType::OnSite,
        )
        .cloned()
        .unwrap()
    }

    #[test]
    fn defaults_follow_the_design_table() {
        let rows: Vec<(usize, i32, i32, bool, usize, bool)> = Classification::ALL
            .into_iter()
            .map(|c| {
                let p = policy_for(c);
                (
                    p.approval_steps.len(),
                    p.max_days,
                    p.max_renewals,
                    p.renewal_requires_approval,
                    p.allowed_loan_types.len(),
                    p.dual_signoff_on_return,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (1, 30, 2, false, 4, false),
                (2, 30, 1, false, 4, false),
                (2, 14, 1, true, 4, true),
                (3, 7, 0, false, 2, true),
                (3, 1, 0, false, 1, true),
            ]
        );
        assert!(default_policies().iter().all(|p| p.pickup_days == 7));
    }

    #[test]
    fn a_policy_must_make_sense() {
        assert!(default_policies().iter().all(|p| p.check().is_empty()));
        let mut bad = policy_for(Classification::Public);
        bad.name = " ".into();
        bad.max_days = 0;
        bad.allowed_loan_types.clear();
        bad.pickup_days = 0;
        let fields: Vec<String> = bad
            .check()
            .into_iter()
            .map(|e| e.field.to_string())
            .collect();
        assert_eq!(
            fields,
            ["name", "max_days", "pickup_days", "allowed_loan_types"]
        );
    }

    #[test]
    fn the_highest_priority_fitting_policy_applies() {
        let mut policies = default_policies();
        let mut special = policy_for(Classification::Internal);
        special.name = "人事 take-outs".into();
        special.priority = 10;
        special.matches = PolicyMatch {
            categories: vec!["人事".into()],
            loan_types: vec![LoanType::TakeOut],
            ..PolicyMatch::default()
        };
        special.max_days = 3;
        policies.push(special);
        let pick = |c, cat: &str, t| {
            applicable(&policies, subject(c, cat, Opening::Controlled), t).map(|p| p.name.clone())
        };
        assert_eq!(
            pick(Classification::Internal, "人事", LoanType::TakeOut).as_deref(),
            Some("人事 take-outs")
        );
        assert_eq!(
            pick(Classification::Public, "人事", LoanType::TakeOut).as_deref(),
            Some("人事 take-outs")
        );
        assert_eq!(
            pick(Classification::Internal, "人事", LoanType::OnSite).as_deref(),
            Some("internal default")
        );
        assert_eq!(
            pick(Classification::Internal, "文书", LoanType::TakeOut).as_deref(),
            Some("internal default")
        );
        assert_eq!(
            applicable(
                &[],
                subject(Classification::Public, "x", Opening::Open),
                LoanType::Copy
            ),
            None
        );
    }

    #[test]
    fn several_archives_take_the_strictest_of_each_rule() {
        let public = policy_for(Classification::Public);
        let secret = policy_for(Classification::Secret);
        let confidential = policy_for(Classification::Confidential);
        let effective = combine(&[&public, &secret, &confidential]).unwrap();
        assert_eq!(effective.approval_steps, confidential.approval_steps);
        assert_eq!(effective.max_days, 7);
        assert_eq!(effective.max_renewals, 0);
        assert!(effective.renewal_requires_approval);
        assert_eq!(
            effective.allowed_loan_types,
            [LoanType::OnSite, LoanType::Copy].into_iter().collect()
        );
        assert!(effective.dual_signoff_on_return);
        assert_eq!(combine(&[]), None);
        assert_eq!(combine(&[&public]).unwrap().max_days, 30);
    }

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::new_v4()).collect()
    }

    fn person(id: Uuid, roles: &[Role], clearance: Classification) -> (Uuid, Principal) {
        (id, Principal::cleared(id, roles, clearance))
    }

    #[test]
    fn steps_resolve_to_people_and_never_to_the_borrower() {
        let [borrower, head, parent_head, archivist, admin] = ids(5)[..] else {
            unreachable!()
        };
        let top = Classification::TopSecret;
        let org = Organisation {
            heads_upward: vec![Some(head), None, Some(parent_head)],
            people: BTreeMap::from([
                person(borrower, &[Role::Archivist], top),
                person(head, &[], top),
                person(parent_head, &[], top),
                person(archivist, &[Role::Archivist], top),
                person(admin, &[Role::Admin], top),
            ]),
        };
        let internal = Classification::Internal;
        let steps = policy_for(internal).approval_steps;
        let chain = resolve_chain(&steps, borrower, internal, &org).unwrap();
        assert_eq!(chain[0].approver_ids, [head]);
        assert_eq!(
            chain[1].approver_ids,
            [archivist],
            "the borrower is an archivist, but not for this"
        );
        assert_eq!(chain[1].role, Some(Role::Archivist));

        // The borrower heads their own department: the step goes up to the next head.
        let own = Organisation {
            heads_upward: vec![Some(borrower), None, Some(parent_head)],
            ..org.clone()
        };
        assert_eq!(
            resolve_chain(&steps, borrower, internal, &own).unwrap()[0].approver_ids,
            [parent_head]
        );
        // No other head anywhere: the admins.
        let alone = Organisation {
            heads_upward: vec![Some(borrower)],
            ..org.clone()
        };
        let chain = resolve_chain(&steps, borrower, internal, &alone).unwrap();
        assert_eq!(chain[0].approver_ids, [admin]);
        assert_eq!(chain[0].role, Some(Role::Admin));
        // A named approver who is the borrower falls back too; a missing role holder as well.
        let named = [StepSpec {
            name: "named".into(),
            approver: Approver::User { user_id: borrower },
        }];
        assert_eq!(
            resolve_chain(&named, borrower, internal, &org).unwrap()[0].approver_ids,
            [parent_head]
        );
        let leader = [StepSpec {
            name: "leader".into(),
            approver: Approver::Role { role: Role::Leader },
        }];
        assert_eq!(
            resolve_chain(&leader, borrower, internal, &org).unwrap()[0].approver_ids,
            [parent_head]
        );
        // The only admin borrowing with nobody above: nobody may decide.
        let nobody = Organisation {
            heads_upward: vec![],
            people: BTreeMap::from([person(borrower, &[Role::Admin], top)]),
        };
        assert_eq!(
            resolve_chain(&leader, borrower, internal, &nobody),
            Err(DomainError::NoApprover("leader".into()))
        );
    }

    #[test]
    fn steps_go_past_approvers_not_cleared_for_the_request() {
        let [borrower, head, parent_head, officer, admin] = ids(5)[..] else {
            unreachable!()
        };
        let org = Organisation {
            heads_upward: vec![Some(head), Some(parent_head)],
            people: BTreeMap::from([
                person(borrower, &[], Classification::Secret),
                person(head, &[], Classification::Internal),
                person(parent_head, &[], Classification::Secret),
                person(officer, &[Role::SecurityOfficer], Classification::TopSecret),
                person(admin, &[Role::Admin], Classification::TopSecret),
            ]),
        };
        let steps = policy_for(Classification::Secret).approval_steps;
        let chain = resolve_chain(&steps, borrower, Classification::Secret, &org).unwrap();
        assert_eq!(
            chain[0].approver_ids,
            [parent_head],
            "the internal head is passed over"
        );
        assert_eq!(chain[1].approver_ids, [officer]);
        // Cleared for internal archives, the head decides those.
        let chain = resolve_chain(&steps, borrower, Classification::Internal, &org).unwrap();
        assert_eq!(chain[0].approver_ids, [head]);
        // Nobody above is cleared: the admins, when they are.
        let low = Organisation {
            heads_upward: vec![Some(head)],
            ..org.clone()
        };
        let chain = resolve_chain(&steps, borrower, Classification::Secret, &low).unwrap();
        assert_eq!(chain[0].approver_ids, [admin]);
    }

    #[test]
    fn a_head_who_is_also_the_officer_does_not_pass_a_request_alone() {
        let [borrower, head, parent_head] = ids(3)[..] else {
            unreachable!()
        };
        let top = Classification::TopSecret;
        let org = Organisation {
            heads_upward: vec![Some(head), Some(parent_head)],
            people: BTreeMap::from([
                person(borrower, &[], top),
                person(head, &[Role::SecurityOfficer], top),
                person(parent_head, &[], top),
            ]),
        };
        let steps = policy_for(Classification::Secret).approval_steps;
        let chain = resolve_chain(&steps, borrower, Classification::Secret, &org).unwrap();
        assert_eq!(chain[0].approver_ids, [head]);
        assert_eq!(chain[1].approver_ids, [parent_head]);
    }
}
