//! Who may see or act on what: the one place where roles and clearance are compared. The
//! clearance wall holds on every channel: nothing of an archive above a person's clearance
//! reaches that person, whether they read it, decide on it, hand it over, are told about it,
//! count it in a report or find it in the audit listing.

use uuid::Uuid;

use crate::{user::Roles, Classification, DomainError, Role, UserStatus};

/// A person as access rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: Uuid,
    pub roles: Roles,
    pub clearance: Classification,
    pub department_id: Option<Uuid>,
    pub status: UserStatus,
}

/// What a role lets someone do beyond borrowing, which every active user may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Departments, users, policies, form fields, webhooks, metrics.
    Administer,
    /// Create, edit, retire and import archives.
    Catalogue,
    /// Check-outs, returns, losses.
    Circulate,
    /// Every request and loan within clearance, and an archive's loan history.
    ReadAllLending,
    /// Summary, grouped loans and the overdue list.
    ReadReports,
    /// The compliance report of classified loans.
    ReadCompliance,
    /// The audit listing and its verification.
    ReadAudit,
}

impl Capability {
    /// The roles that grant it.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Capability::Administer => &[Role::Admin],
            Capability::Catalogue | Capability::Circulate => &[Role::Archivist, Role::Admin],
            Capability::ReadAllLending | Capability::ReadReports => {
                &[Role::Archivist, Role::Admin, Role::Auditor]
            }
            Capability::ReadCompliance | Capability::ReadAudit => &[Role::Auditor, Role::Admin],
        }
    }
}

/// The highest classification among `classifications` (public for none): what someone must be
/// cleared for to see all of them.
pub fn ceiling(classifications: impl IntoIterator<Item = Classification>) -> Classification {
    classifications
        .into_iter()
        .max()
        .unwrap_or(Classification::Public)
}

impl Principal {
    /// The operator at the command line, who holds the database itself and so sees every
    /// classification: what `dangan rollups verify` reads the reports as.
    pub fn operator() -> Principal {
        Principal {
            id: Uuid::nil(),
            roles: Roles::from([Role::Auditor]),
            clearance: Classification::TopSecret,
            department_id: None,
            status: UserStatus::Active,
        }
    }

    /// An active person outside any department, as tests of the rules build them.
    #[cfg(test)]
    pub(crate) fn cleared(id: Uuid, roles: &[Role], clearance: Classification) -> Principal {
        Principal {
            id,
            roles: roles.iter().copied().collect(),
            clearance,
            department_id: None,
            status: UserStatus::Active,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn can(&self, capability: Capability) -> bool {
        self.is_active() && capability.roles().iter().any(|r| self.has_role(*r))
    }

    /// Staff see every request and loan within their clearance.
    pub fn is_staff(&self) -> bool {
        self.can(Capability::ReadAllLending)
    }

    /// Whether anything of an archive of `classification` may reach this person.
    pub fn may_see(&self, classification: Classification) -> bool {
        self.is_active() && classification.visible_to(self.clearance)
    }

    /// The classifications this person may see, lowest first.
    pub fn visible_classifications(&self) -> Vec<Classification> {
        Classification::ALL
            .into_iter()
            .filter(|c| self.may_see(*c))
            .collect()
    }

    /// Whether no classification is hidden from this person, so queries need no filter.
    pub fn sees_every_classification(&self) -> bool {
        self.may_see(Classification::TopSecret)
    }

    /// A loan: its borrower and staff, within clearance.
    pub fn may_see_loan(&self, borrower_id: Uuid, classification: Classification) -> bool {
        self.may_see(classification) && (self.id == borrower_id || self.is_staff())
    }

    /// A request whose archives reach up to `ceiling`: its borrower, staff, and anyone it asks
    /// (or asked) a decision of (`asks_viewer`), each only when cleared for every archive of it.
    pub fn may_see_request(
        &self,
        borrower_id: Uuid,
        ceiling: Classification,
        asks_viewer: bool,
    ) -> bool {
        self.may_see(ceiling) && (self.id == borrower_id || self.is_staff() || asks_viewer)
    }

    /// Whether this person may decide a step of `borrower_id`'s request reaching up to
    /// `ceiling`, in their own name or as a delegate: active, cleared for every archive of it,
    /// not the borrower, and holding `role` when the step is decided by a role.
    pub fn may_approve(
        &self,
        borrower_id: Uuid,
        ceiling: Classification,
        role: Option<Role>,
    ) -> bool {
        self.id != borrower_id
            && self.may_see(ceiling)
            && role.is_none_or(|role| self.has_role(role))
    }

    /// Whether this person may be told about something reaching up to `classification`
    /// (`None`: nothing classified), in the app, by e-mail, or in a listing's details.
    pub fn may_be_told(&self, classification: Option<Classification>) -> bool {
        classification.is_none_or(|c| self.may_see(c))
    }

    /// Whether the details of an audit event about something reaching up to `classification`
    /// may be shown to this person (the event itself is always listed).
    pub fn may_read_audit_data(&self, classification: Option<Classification>) -> bool {
        self.can(Capability::ReadAudit) && self.may_be_told(classification)
    }
}

/// Whether `archivist` may hand an archive of `classification` over to `borrower` now: the
/// archivist circulates and is cleared for it, the borrower is still active and still cleared.
pub fn check_hand_over(
    archivist: &Principal,
    borrower: &Principal,
    classification: Classification,
) -> Result<(), DomainError> {
    if !archivist.can(Capability::Circulate) || !archivist.may_see(classification) {
        return Err(DomainError::Forbidden);
    }
    check_borrower(borrower, classification)
}

/// Whether `borrower` may still hold an archive of `classification` (check-out, renewal,
/// signing the receipt): active and cleared for it.
pub fn check_borrower(
    borrower: &Principal,
    classification: Classification,
) -> Result<(), DomainError> {
    if !borrower.is_active() {
        return Err(DomainError::BorrowerDisabled);
    }
    if !borrower.may_see(classification) {
        return Err(DomainError::BorrowerNotCleared);
    }
    Ok(())
}

/// Who may give the second sign-off of a return: the borrower or a circulating archivist, either
/// cleared for the archive (that the archivist is not the inspector is the loan's own rule).
pub fn check_confirm_return(
    actor: &Principal,
    borrower_id: Uuid,
    classification: Classification,
) -> Result<(), DomainError> {
    if !actor.may_see(classification) {
        return Err(DomainError::Forbidden);
    }
    if actor.id == borrower_id {
        return Ok(());
    }
    if !actor.can(Capability::Circulate) {
        return Err(DomainError::Forbidden);
    }
    Ok(())
}

/// Whether a webhook subscription cleared up to `max_classification` receives an event about
/// something reaching up to `classification`.
pub fn webhook_receives(
    max_classification: Classification,
    classification: Option<Classification>,
) -> bool {
    classification.is_none_or(|c| c <= max_classification)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_classification() -> impl Strategy<Value = Classification> {
        prop::sample::select(Classification::ALL.to_vec())
    }

    fn any_principal() -> impl Strategy<Value = Principal> {
        (
            0u128..4,
            prop::collection::btree_set(prop::sample::select(Role::ALL.to_vec()), 0..4),
            any_classification(),
            any::<bool>(),
        )
            .prop_map(|(id, roles, clearance, active)| Principal {
                id: Uuid::from_u128(id),
                roles,
                clearance,
                department_id: None,
                status: if active {
                    UserStatus::Active
                } else {
                    UserStatus::Disabled
                },
            })
    }

    fn person(id: u128, roles: &[Role], clearance: Classification) -> Principal {
        Principal::cleared(Uuid::from_u128(id), roles, clearance)
    }

    proptest! {
        /// No rule lets through anyone whose clearance is below the archive's classification,
        /// nor anyone deactivated.
        #[test]
        fn no_rule_passes_the_clearance_wall(
            viewer in any_principal(),
            other in any_principal(),
            classification in any_classification(),
            related in any::<bool>(),
            role in prop::option::of(prop::sample::select(Role::ALL.to_vec())),
        ) {
            let blocked = classification > viewer.clearance || !viewer.is_active();
            let borrower = if related { viewer.id } else { other.id };
            let granted = [
                viewer.may_see(classification),
                viewer.may_see_loan(borrower, classification),
                viewer.may_see_request(borrower, classification, related),
                viewer.may_approve(other.id, classification, role),
                viewer.may_be_told(Some(classification)),
                viewer.may_read_audit_data(Some(classification)),
                viewer.visible_classifications().contains(&classification),
                check_hand_over(&viewer, &other, classification).is_ok(),
                check_hand_over(&other, &viewer, classification).is_ok(),
                check_borrower(&viewer, classification).is_ok(),
                check_confirm_return(&viewer, borrower, classification).is_ok(),
            ];
            if blocked {
                prop_assert!(granted.iter().all(|g| !g), "{viewer:?} {classification:?}: {granted:?}");
            }
        }

        /// Nobody decides their own request, whatever their roles and clearance.
        #[test]
        fn nobody_approves_their_own_request(
            viewer in any_principal(),
            classification in any_classification(),
        ) {
            prop_assert!(!viewer.may_approve(viewer.id, classification, None));
        }

        /// A webhook never receives an event above its own ceiling.
        #[test]
        fn webhooks_stay_below_their_ceiling(
            max in any_classification(),
            classification in any_classification(),
        ) {
            prop_assert_eq!(webhook_receives(max, Some(classification)), classification <= max);
        }
    }

    #[test]
    fn capabilities_follow_the_contract() {
        let auditor = person(1, &[Role::Auditor], Classification::Secret);
        assert!(auditor.is_staff());
        assert!(auditor.can(Capability::ReadAudit));
        assert!(!auditor.can(Capability::Circulate));
        let archivist = person(2, &[Role::Archivist], Classification::Secret);
        assert!(archivist.can(Capability::ReadReports));
        assert!(!archivist.can(Capability::ReadCompliance));
        let borrower = person(3, &[], Classification::TopSecret);
        assert!(!borrower.is_staff());
        assert!(!borrower.can(Capability::Catalogue));
        let mut disabled = person(4, &[Role::Admin], Classification::TopSecret);
        disabled.status = UserStatus::Disabled;
        assert!(!disabled.can(Capability::Administer));
    }

    #[test]
    fn an_approver_needs_the_steps_role_and_clearance() {
        let borrower = Uuid::from_u128(9);
        let officer = person(1, &[Role::SecurityOfficer], Classification::Secret);
        assert!(officer.may_approve(
            borrower,
            Classification::Secret,
            Some(Role::SecurityOfficer)
        ));
        assert!(!officer.may_approve(borrower, Classification::Confidential, None));
        assert!(!officer.may_approve(borrower, Classification::Public, Some(Role::Leader)));
    }

    #[test]
    fn hand_over_names_what_is_wrong_with_the_borrower() {
        let archivist = person(1, &[Role::Archivist], Classification::TopSecret);
        let mut borrower = person(2, &[], Classification::Internal);
        assert_eq!(
            check_hand_over(&archivist, &borrower, Classification::Internal),
            Ok(())
        );
        assert_eq!(
            check_hand_over(&archivist, &borrower, Classification::Secret),
            Err(DomainError::BorrowerNotCleared)
        );
        borrower.status = UserStatus::Disabled;
        assert_eq!(
            check_hand_over(&archivist, &borrower, Classification::Internal),
            Err(DomainError::BorrowerDisabled)
        );
        let reader = person(3, &[Role::Auditor], Classification::TopSecret);
        assert_eq!(
            check_hand_over(&reader, &borrower, Classification::Public),
            Err(DomainError::Forbidden)
        );
    }

    #[test]
    fn the_second_sign_off_is_the_borrowers_or_an_archivists() {
        let archivist = person(1, &[Role::Archivist], Classification::Internal);
        let borrower = person(2, &[], Classification::Secret);
        assert_eq!(
            check_confirm_return(&archivist, borrower.id, Classification::Internal),
            Ok(())
        );
        assert_eq!(
            check_confirm_return(&archivist, borrower.id, Classification::Secret),
            Err(DomainError::Forbidden),
            "not cleared"
        );
        assert_eq!(
            check_confirm_return(&borrower, borrower.id, Classification::Secret),
            Ok(())
        );
        let colleague = person(3, &[], Classification::TopSecret);
        assert_eq!(
            check_confirm_return(&colleague, borrower.id, Classification::Secret),
            Err(DomainError::Forbidden)
        );
    }

    #[test]
    fn ceiling_is_the_highest_classification() {
        assert_eq!(ceiling([]), Classification::Public);
        assert_eq!(
            ceiling([Classification::Secret, Classification::Internal]),
            Classification::Secret
        );
    }
}
