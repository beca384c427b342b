//! Users: roles, status, and the rules on changing who may do what.

use std::{collections::BTreeSet, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use uuid::Uuid;
use validator::ValidateEmail;

use crate::{
    archive::{check_identifier, check_text},
    Classification, DomainError, FieldError,
};

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

/// Who a user is and what they may do, as an admin writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    pub username: String,
    pub display_name: String,
    pub department_id: Option<Uuid>,
    pub roles: Roles,
    pub clearance: Classification,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl UserFields {
    /// Every rule the fields break.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_identifier(&mut errors, "username", &self.username);
        if self.username.chars().count() < 2 {
            errors.push(FieldError::new("username", "must be at least 2 characters"));
        }
        check_text(&mut errors, "display_name", &self.display_name, 100);
        if self.email.as_ref().is_some_and(|e| !is_email(e)) {
            errors.push(FieldError::new("email", "must be an e-mail address"));
        }
        if self.phone.as_ref().is_some_and(|p| p.chars().count() > 32) {
            errors.push(FieldError::new("phone", "must be at most 32 characters"));
        }
        errors
    }
}

/// Whether `text` reads as an e-mail address (the HTML5 rule, as the validator crate has it).
pub fn is_email(text: &str) -> bool {
    text.validate_email()
}

/// The one rule on passwords: long enough to resist guessing, short enough to hash.
pub fn check_password(password: &str) -> Option<FieldError> {
    let length = password.chars().count();
    (!(8..=128).contains(&length))
        .then(|| FieldError::new("password", "must be 8 to 128 characters"))
}

/// A department named in an import row: by id, or by the code people know it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepartmentRef {
    Id(Uuid),
    Code(String),
}

/// One row of a user import, before the department is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserImport {
    pub fields: UserFields,
    pub department: Option<DepartmentRef>,
    /// Required for new users; for existing ones it resets the password.
    pub password: Option<String>,
}

/// Columns (CSV) and keys (JSON) of a user import. Roles are separated by `;` (or `|`).
pub const IMPORT_FIELD_NAMES: [&str; 9] = [
    "username",
    "display_name",
    "password",
    "department_id",
    "department_code",
    "roles",
    "clearance",
    "email",
    "phone",
];

impl UserImport {
    /// Builds and checks a row from text; `get` returns a field's text.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<UserImport, Vec<FieldError>> {
        let text = |name: &str| get(name).map(str::trim).filter(|v| !v.is_empty());
        let mut errors = Vec::new();
        let roles: Roles = text("roles")
            .unwrap_or_default()
            .split([';', '|'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .filter_map(|r| match r.parse() {
                Ok(role) => Some(role),
                Err(_) => {
                    errors.push(FieldError::new("roles", format!("{r:?} is not a role")));
                    None
                }
            })
            .collect();
        let clearance = match text("clearance").map(str::parse::<Classification>) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                errors.push(FieldError::new("clearance", format!("{e}")));
                None
            }
            None => {
                errors.push(FieldError::new("clearance", "is required"));
                None
            }
        };
        let department = match (text("department_id"), text("department_code")) {
            (Some(id), _) => match Uuid::try_parse(id) {
                Ok(id) => Some(DepartmentRef::Id(id)),
                Err(_) => {
                    errors.push(FieldError::new(
                        "department_id",
                        "is not a department id (UUID)",
                    ));
                    None
                }
            },
            (None, Some(code)) => Some(DepartmentRef::Code(code.to_owned())),
            (None, None) => None,
        };
        let password = get("password").filter(|p| !p.is_empty()).map(str::to_owned);
        if let Some(error) = password.as_deref().and_then(check_password) {
            errors.push(error);
        }
        let username = text("username").unwrap_or_default().to_owned();
        let fields = UserFields {
            display_name: text("display_name").map_or_else(|| username.clone(), str::to_owned),
            username,
            department_id: None,
            roles,
            clearance: clearance.unwrap_or(Classification::Public),
            email: text("email").map(str::to_owned),
            phone: text("phone").map(str::to_owned),
        };
        errors.extend(fields.check());
        if errors.is_empty() {
            Ok(UserImport {
                fields,
                department,
                password,
            })
        } else {
            Err(errors)
        }
    }
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
    fn user_fields_follow_their_rules() {
        let mut fields = UserFields {
            username: "li si".into(),
            display_name: String::new(),
            department_id: None,
            roles: Roles::new(),
            clearance: Classification::Internal,
            email: Some("not-an-address".into()),
            phone: Some("1".repeat(33)),
        };
        let broken: Vec<String> = fields
            .check()
            .into_iter()
            .map(|e| e.field.to_string())
            .collect();
        assert_eq!(broken, ["username", "display_name", "email", "phone"]);
        fields.username = "lisi".into();
        fields.display_name = "李四".into();
        fields.email = Some("lisi@example.org".into());
        fields.phone = None;
        assert!(fields.check().is_empty());
        assert!(check_password("short").is_some());
        assert!(check_password("long enough").is_none());
    }

    #[test]
    fn import_rows_parse_roles_departments_and_passwords() {
        let row = |pairs: &'static [(&'static str, &'static str)]| {
            UserImport::parse(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v))
        };
        let parsed = row(&[
            ("username", "wangwu"),
            ("roles", "archivist; auditor"),
            ("clearance", "secret"),
            ("department_code", "HR"),
        ])
        .unwrap();
        assert_eq!(
            parsed.fields.roles,
            [Role::Archivist, Role::Auditor].into_iter().collect()
        );
        assert_eq!(parsed.fields.display_name, "wangwu");
        assert_eq!(parsed.department, Some(DepartmentRef::Code("HR".into())));
        assert_eq!(parsed.password, None);
        let errors = row(&[
            ("username", "w"),
            ("roles", "root"),
            ("password", "short"),
            ("department_id", "hr"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(
            fields,
            [
                "roles",
                "clearance",
                "department_id",
                "password",
                "username"
            ]
        );
    }

    #[test]
    fn roles_parse_their_own_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
