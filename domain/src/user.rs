//! Users: roles, status, and the rules on changing who may do what.

use std::{collections::BTreeSet, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Classification, DomainError};

/// What a user may do beyond borrowing, which every active user may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Archivist,
    SecurityOfficer,
    Leader,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Archivist,
        Role::SecurityOfficer,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Archivist => "archivist",
            Role::SecurityOfficer => "security_officer",
            Role::Leader => "leader",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| DomainError::UnknownValue(s.to_owned()))
    }
}

pub type Roles = BTreeSet<Role>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            other => Err(DomainError::UnknownValue(other.to_owned())),
        }
    }
}

/// The parts of a user that decide what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub roles: Roles,
    pub clearance: Classification,
    pub status: UserStatus,
}

impl Authority {
    pub fn is_active_admin(&self) -> bool {
        self.status == UserStatus::Active && self.roles.contains(&Role::Admin)
    }
}

/// Checks a change of a user's authority made by `actor_is_target` (themself) or someone else.
/// `other_active_admins` counts active admins other than the target.
pub fn check_authority_change(
    actor_is_target: bool,
    before: &Authority,
    after: &Authority,
    other_active_admins: i64,
) -> Result<(), DomainError> {
    let gains_role = !after.roles.is_subset(&before.roles);
    if actor_is_target && (gains_role || after.clearance > before.clearance) {
        return Err(DomainError::SelfElevation);
    }
    if before.is_active_admin() && !after.is_active_admin() && other_active_admins == 0 {
        return Err(DomainError::LastAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(roles: &[Role], clearance: Classification, status: UserStatus) -> Authority {
        Authority {
            roles: roles.iter().copied().collect(),
            clearance,
            status,
        }
    }

    #[test]
    fn nobody_raises_their_own_roles_or_clearance() {
        let me = authority(&[Role::Admin], Classification::Secret, UserStatus::Active);
        let more_roles = authority(
            &[Role::Admin, Role::Auditor],
            Classification::Secret,
            UserStatus::Active,
        );
        let more_clearance = authority(
            &[Role::Admin],
            Classification::TopSecret,
            UserStatus::Active,
        );
        assert_eq!(
            check_authority_change(true, &me, &more_roles, 1),
            Err(DomainError::SelfElevation)
        );
        assert_eq!(
            check_authority_change(true, &me, &more_clearance, 1),
            Err(DomainError::SelfElevation)
        );
        assert_eq!(check_authority_change(false, &me, &more_roles, 1), Ok(()));
        let less = authority(&[Role::Admin], Classification::Internal, UserStatus::Active);
        assert_eq!(check_authority_change(true, &me, &less, 1), Ok(()));
    }

    #[test]
    fn the_last_active_admin_stays() {
        let admin = authority(
            &[Role::Admin],
            Classification::TopSecret,
            UserStatus::Active,
        );
        let stripped = authority(
            &[Role::Archivist],
            Classification::TopSecret,
            UserStatus::Active,
        );
        let disabled = authority(
            &[Role::Admin],
            Classification::TopSecret,
            UserStatus::Disabled,
        );
        assert_eq!(
            check_authority_change(false, &admin, &stripped, 0),
            Err(DomainError::LastAdmin)
        );
        assert_eq!(
            check_authority_change(false, &admin, &disabled, 0),
            Err(DomainError::LastAdmin)
        );
        assert_eq!(check_authority_change(false, &admin, &disabled, 1), Ok(()));
    }

    #[test]
    fn roles_parse_their_own_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
