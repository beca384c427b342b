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
    /// Where the provider links by username: a stable claim (`oid`, `sub`, an employee id)
    /// matched exactly against the `externalId` its SCIM client gave the user, instead of the
    /// username.
    pub link_claim: Option<String>,
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
            link_claim: None,
        }
    }
}

/// What the administrator allows a provider's sign-ins to do with someone Dangan does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInRules {
    /// Create a user at the first sign-in of a subject nobody in Dangan is.
    pub create_users: bool,
    /// Take a subject nobody in Dangan is for the provisioned user it names (by the exact
    /// username, or the link claim against the `externalId`), where that user is still only
    /// what provisioning made: see `LinkCandidate::linkable`.
    pub link_by_username: bool,
}

/// How a first sign-in names the local user it may be linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKey {
    /// The `externalId` a SCIM client gave the user, from the link claim.
    ExternalId(String),
    /// The username, exactly (case and all).
    Username(String),
}

/// What the linking rule needs to know of the local user a first sign-in names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCandidate {
    /// A SCIM client provisioned them (or an admin handed them to one).
    pub provisioned: bool,
    pub has_roles: bool,
    pub has_password: bool,
    /// Some provider's identity is linked to them already.
    pub has_identity: bool,
}

impl LinkCandidate {
    /// Whether a sign-in may take this user over by itself: only someone provisioning made and
    /// nobody has added to since — no roles, no Dangan password, no identity. Anyone else holds
    /// what a namesake at the provider must not inherit, and is linked by an admin's link.
    pub fn linkable(self) -> bool {
        self.provisioned && !self.has_roles && !self.has_password && !self.has_identity
    }
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
    /// Refused: a local user has the username, and the sign-in may not take it over.
    UsernameTaken,
}

impl SignInRules {
    /// Whether the provider may bring in anyone Dangan does not know, by creating or linking.
    pub fn admits_newcomers(self) -> bool {
        self.create_users || self.link_by_username
    }

    /// The first sign-in of someone unknown: `candidate` is the user the link key names (looked
    /// up only where the provider links), `namesake` whether a user has their username in any
    /// case.
    pub fn first_sign_in(self, candidate: Option<LinkCandidate>, namesake: bool) -> FirstSignIn {
        match candidate {
            Some(candidate) if self.link_by_username && candidate.linkable() => FirstSignIn::Link,
            _ if namesake => FirstSignIn::UsernameTaken,
            _ if self.create_users => FirstSignIn::Create,
            _ => FirstSignIn::NotProvisioned,
        }
    }

    /// The key naming the user this sign-in may be linked to: the link claim's value where
    /// one is configured, else the username the claims make. `None` where the provider does not
    /// link or the claim is missing.
    pub fn link_key(
        self,
        mapping: &ClaimMapping,
        claims: &Map<String, Value>,
        username: Option<&str>,
    ) -> Option<LinkKey> {
        if !self.link_by_username {
            return None;
        }
        match &mapping.link_claim {
            Some(claim) => text(claims, claim).map(|v| LinkKey::ExternalId(v.to_owned())),
            None => username.map(|u| LinkKey::Username(u.to_owned())),
        }
    }
}

/// How far a provider's clock may be behind Dangan's when it says when someone signed in.
const CLOCK_SKEW: time::Duration = time::Duration::seconds(60);

/// Why a sign-in made to prove again who someone is does not prove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReauthenticated {
    #[error("the provider did not make the person sign in again: its auth_time is before this re-authentication began")]
    Earlier,
    #[error("the provider's ID token says nothing of when the person signed in (auth_time), so it cannot prove a re-authentication")]
    Unknown,
}

/// Whether the provider's `auth_time` (seconds since the epoch) says the person signed in after
/// `begun_at`, as a re-authentication needs: an earlier session at the provider proves nothing
/// now. A minute of clock difference is allowed.
pub fn signed_in_since(
    auth_time: Option<i64>,
    begun_at: time::OffsetDateTime,
) -> Result<(), NotReauthenticated> {
    match auth_time {
        Some(at) if at >= (begun_at - CLOCK_SKEW).unix_timestamp() => Ok(()),
        Some(_) => Err(NotReauthenticated::Earlier),
        None => Err(NotReauthenticated::Unknown),
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
    fn a_sign_in_takes_over_only_a_user_provisioning_made_and_nobody_added_to() {
        let rules = |create_users, link_by_username| SignInRules {
            create_users,
            link_by_username,
        };
        let fresh = LinkCandidate {
            provisioned: true,
            has_roles: false,
            has_password: false,
            has_identity: false,
        };
        assert_eq!(
            rules(true, false).first_sign_in(None, false),
            FirstSignIn::Create
        );
        assert_eq!(
            rules(true, false).first_sign_in(Some(fresh), true),
            FirstSignIn::UsernameTaken,
            "a provider that does not link never takes anyone over"
        );
        assert_eq!(
            rules(true, true).first_sign_in(Some(fresh), true),
            FirstSignIn::Link
        );
        assert_eq!(
            rules(false, true).first_sign_in(Some(fresh), false),
            FirstSignIn::Link
        );
        // The bootstrap admin (a password, roles, made in Dangan), an officer with roles, a
        // user already linked: none is taken over, whatever the provider's rules.
        for held in [
            LinkCandidate {
                provisioned: false,
                has_roles: true,
                has_password: true,
                ..fresh
            },
            LinkCandidate {
                has_roles: true,
                ..fresh
            },
            LinkCandidate {
                has_password: true,
                ..fresh
            },
            LinkCandidate {
                has_identity: true,
                ..fresh
            },
        ] {
            assert!(!held.linkable());
            assert_eq!(
                rules(true, true).first_sign_in(Some(held), true),
                FirstSignIn::UsernameTaken
            );
            assert_eq!(
                rules(false, true).first_sign_in(Some(held), false),
                FirstSignIn::NotProvisioned
            );
        }
        assert_eq!(
            rules(false, true).first_sign_in(None, false),
            FirstSignIn::NotProvisioned
        );
        let mapping = ClaimMapping {
            link_claim: Some("oid".into()),
            ..ClaimMapping::default()
        };
        let said = claims(json!({"oid": "7f3a", "preferred_username": "lisi"}));
        assert_eq!(
            rules(true, true).link_key(&mapping, &said, Some("lisi")),
            Some(LinkKey::ExternalId("7f3a".into()))
        );
        assert_eq!(
            rules(true, true).link_key(&ClaimMapping::default(), &said, Some("lisi")),
            Some(LinkKey::Username("lisi".into()))
        );
        assert_eq!(
            rules(true, false).link_key(&mapping, &said, Some("lisi")),
            None
        );
        assert!(!rules(false, false).admits_newcomers());
        assert!(rules(false, true).admits_newcomers() && rules(true, false).admits_newcomers());
    }

    #[test]
    fn a_reauthentication_is_a_sign_in_after_it_began() {
        let begun = time::macros::datetime!(2026-12-06 10:00 UTC);
        let at = |seconds: i64| Some((begun + time::Duration::seconds(seconds)).unix_timestamp());
        assert_eq!(signed_in_since(at(5), begun), Ok(()));
        assert_eq!(
            signed_in_since(at(-60), begun),
            Ok(()),
            "a minute of clock difference"
        );
        assert_eq!(
            signed_in_since(at(-61), begun),
            Err(NotReauthenticated::Earlier)
        );
        assert_eq!(
            signed_in_since(None, begun),
            Err(NotReauthenticated::Unknown)
        );
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
