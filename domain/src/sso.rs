//! Signing in with the organisation's identity provider (OpenID Connect): who a verified ID
//! token's claims make of a newcomer, under the administrator's rules for that provider.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    classification::Classification,
    error::FieldError,
    user::{Role, Roles, UserFields},
};

/// Which claims of a provider's ID tokens say what, and how far Dangan believes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimMapping {
    /// The claim that becomes the username of a user created at first sign-in.
    pub username_claim: String,
    pub display_name_claim: String,
    pub email_claim: String,
    /// A claim holding a department's code; unset, newcomers have no department.
    pub department_claim: Option<String>,
    /// A claim holding role names (a list, or one name); unset, newcomers have no roles.
    pub roles_claim: Option<String>,
    /// A claim holding a clearance. Unset (the default), every newcomer is `public` and an
    /// admin raises it: a claim raises clearance only where the administrator says so.
    pub clearance_claim: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            username_claim: "preferred_username".into(),
            display_name_claim: "name".into(),
            email_claim: "email".into(),
            department_claim: None,
            roles_claim: None,
            clearance_claim: None,
        }
    }
}

/// What the administrator allows a provider's sign-ins to do with someone Dangan does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInRules {
    /// Create a user at the first sign-in of a subject nobody in Dangan is.
    pub create_users: bool,
    /// Take a subject nobody in Dangan is for the user of the same username (only for a
    /// provider whose usernames are the organisation's own).
    pub link_by_username: bool,
}

/// What the first sign-in of a subject nobody in Dangan is becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSignIn {
    /// A new user, from the claims.
    Create,
    /// The local user of the same username.
    Link,
    /// Refused: the provider may not add anyone, or may not create and nobody has the name.
    NotProvisioned,
    /// Refused: a local user has the username, and the provider may not take it over.
    UsernameTaken,
}

impl SignInRules {
    /// Whether the provider may bring in anyone Dangan does not know, by creating or linking.
    pub fn admits_newcomers(self) -> bool {
        self.create_users || self.link_by_username
    }

    /// The first sign-in of someone unknown, when a user with their username exists
    /// (`namesake`) or not.
    pub fn first_sign_in(self, namesake: bool) -> FirstSignIn {
        match (namesake, self.link_by_username, self.create_users) {
            (true, true, _) => FirstSignIn::Link,
            (true, false, _) => FirstSignIn::UsernameTaken,
            (false, _, true) => FirstSignIn::Create,
            (false, _, false) => FirstSignIn::NotProvisioned,
        }
    }
}

/// A user about to be created at their first sign-in, before their department's code is looked
/// up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newcomer {
    pub fields: UserFields,
    pub department_code: Option<String>,
    /// Role names the claim carried that Dangan does not grant from a claim (`admin`, or no
    /// role at all), for the audit event.
    pub roles_refused: Vec<String>,
}

fn text<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl ClaimMapping {
    /// The user a first sign-in with `claims` creates, or what stops it.
    pub fn newcomer(&self, claims: &Map<String, Value>) -> Result<Newcomer, Vec<FieldError>> {
        let Some(username) = text(claims, &self.username_claim) else {
            return Err(vec![FieldError::at(
                self.username_claim.clone(),
                "the provider sent no such claim, and a new user needs a username",
            )]);
        };
        let mut roles = Roles::new();
        let mut roles_refused = Vec::new();
        if let Some(claim) = &self.roles_claim {
            let names: Vec<&str> = match claims.get(claim) {
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                Some(Value::String(one)) => one.split([',', ' ']).collect(),
                _ => Vec::new(),
            };
            for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
                // Administration stays a grant made inside Dangan, by an admin.
                match name.parse::<Role>() {
                    Ok(role) if role != Role::Admin => {
                        roles.insert(role);
                    }
                    _ => roles_refused.push(name.to_owned()),
                }
            }
        }
        let clearance = self
            .clearance_claim
            .as_deref()
            .and_then(|claim| text(claims, claim))
            .and_then(|value| value.parse::<Classification>().ok())
            .unwrap_or(Classification::Public);
        let fields = UserFields {
            username: username.to_owned(),
            display_name: text(claims, &self.display_name_claim)
                .unwrap_or(username)
                .to_owned(),
            department_id: None,
            roles,
            clearance,
            email: text(claims, &self.email_claim)
                .filter(|e| crate::user::is_email(e))
                .map(str::to_owned),
            phone: None,
        };
        let errors = fields.check();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Newcomer {
            fields,
            department_code: self
                .department_claim
                .as_deref()
                .and_then(|claim| text(claims, claim))
                .map(str::to_owned),
            roles_refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_newcomer_is_public_without_roles_whatever_the_claims_say() {
        let mapping = ClaimMapping::default();
        let newcomer = mapping
            .newcomer(&claims(json!({
                "preferred_username": "lisi", "name": "李四", "email": "lisi@example.cn",
                "roles": ["archivist"], "clearance": "top_secret", "department": "HR"
            })))
            .unwrap();
        assert_eq!(newcomer.fields.username, "lisi");
        assert_eq!(newcomer.fields.display_name, "李四");
        assert_eq!(newcomer.fields.email.as_deref(), Some("lisi@example.cn"));
        assert_eq!(newcomer.fields.clearance, Classification::Public);
        assert!(newcomer.fields.roles.is_empty());
        assert_eq!(newcomer.department_code, None);
    }

    #[test]
    fn configured_claims_map_roles_department_and_clearance_but_never_admin() {
        let mapping = ClaimMapping {
            department_claim: Some("department".into()),
            roles_claim: Some("roles".into()),
            clearance_claim: Some("clearance".into()),
            ..ClaimMapping::default()
        };
        let newcomer = mapping
            .newcomer(&claims(json!({
                "preferred_username": "lisi",
                "roles": ["archivist", "admin", "janitor"], "clearance": "secret", "department": "HR"
            })))
            .unwrap();
        assert_eq!(newcomer.fields.roles, Roles::from([Role::Archivist]));
        assert_eq!(newcomer.roles_refused, vec!["admin", "janitor"]);
        assert_eq!(newcomer.fields.clearance, Classification::Secret);
        assert_eq!(newcomer.department_code.as_deref(), Some("HR"));
        assert_eq!(newcomer.fields.display_name, "lisi");

        let one_string = mapping
            .newcomer(&claims(
                json!({"preferred_username": "wangwu", "roles": "leader auditor", "clearance": "cosmic"}),
            ))
            .unwrap();
        assert_eq!(
            one_string.fields.roles,
            Roles::from([Role::Leader, Role::Auditor])
        );
        assert_eq!(one_string.fields.clearance, Classification::Public);
    }

    #[test]
    fn a_namesake_is_taken_over_only_where_the_provider_links_by_username() {
        let rules = |create_users, link_by_username| SignInRules {
            create_users,
            link_by_username,
        };
        assert_eq!(rules(true, false).first_sign_in(false), FirstSignIn::Create);
        assert_eq!(
            rules(true, false).first_sign_in(true),
            FirstSignIn::UsernameTaken
        );
        assert_eq!(rules(true, true).first_sign_in(true), FirstSignIn::Link);
        assert_eq!(rules(false, true).first_sign_in(true), FirstSignIn::Link);
        assert_eq!(
            rules(false, true).first_sign_in(false),
            FirstSignIn::NotProvisioned
        );
        assert!(!rules(false, false).admits_newcomers());
        assert!(rules(false, true).admits_newcomers() && rules(true, false).admits_newcomers());
    }

    #[test]
    fn no_username_or_an_unusable_one_stops_the_newcomer() {
        let mapping = ClaimMapping::default();
        let missing = mapping
            .newcomer(&claims(json!({"email": "a@b.cn"})))
            .unwrap_err();
        assert_eq!(missing[0].field, "preferred_username");
        let spaced = mapping
            .newcomer(&claims(json!({"preferred_username": "li si"})))
            .unwrap_err();
        assert_eq!(spaced[0].field, "username");
    }
}
