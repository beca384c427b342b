//! Provisioning by the organisation's identity provider (SCIM 2.0, RFC 7643/7644): what a
//! provisioning client may write about a user or a department, the filters clients find them
//! with, and PATCH applied to them. Roles and clearance are never among it: an admin grants those.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    archive::check_text,
    user::{Roles, UserFields},
    Classification, DomainError, FieldError, UserStatus,
};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The enterprise extension Microsoft Entra ID and Okta write `department` and
/// `employeeNumber` in.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A request a SCIM client cannot have meant, with the `scimType` RFC 7644 §3.12 names for it.
fn refused(scim_type: &'static str, detail: impl Into<String>) -> DomainError {
    DomainError::Provisioning {
        scim_type,
        detail: detail.into(),
    }
}

/// A filter on an attribute lists cannot be searched by.
pub fn unfilterable(attribute: &str) -> DomainError {
    refused(
        "invalidFilter",
        format!("lists cannot be filtered by {attribute}"),
    )
}

/// A member that names no user provisioning can see.
pub fn unknown_member(id: Uuid) -> DomainError {
    refused("invalidValue", format!("no user {id} to be a member"))
}

/// A user as the identity provider describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedUser {
    pub user_name: String,
    pub display_name: String,
    /// `None` where the request leaves `active` out: the user's status stays as it is.
    pub active: Option<bool>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    /// The enterprise extension's `department` (a department's code or name), where sent.
    pub department: Option<String>,
}

/// What Dangan holds of a user that no provider may undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldInDangan {
    /// Roles an admin granted.
    pub has_roles: bool,
    /// A Dangan password to log in with.
    pub has_password: bool,
    /// An admin disabled them: only an admin enables them again.
    pub disabled_by_admin: bool,
}

impl HeldInDangan {
    /// Someone who is more in Dangan than the provider made them: renaming them, or letting
    /// them in again, is an admin's decision.
    fn granted(self) -> bool {
        self.has_roles || self.has_password
    }
}

/// A department as the identity provider describes it: a Group whose members are its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedGroup {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<Uuid>,
}

/// What a PATCH operation does (RFC 7644 §3.5.2); clients write it in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// Where an operation applies: `attribute`, `attribute.sub` or `attribute[filter].sub`, names
/// lower-cased (SCIM names are case-insensitive), the schema prefix taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributePath {
    pub attribute: String,
    pub filter: Option<Filter>,
    pub sub_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: Op,
    pub path: Option<AttributePath>,
    pub value: Option<Value>,
}

/// `attribute eq "value"`: the one filter provisioning clients send to find a user or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub attribute: String,
    pub value: String,
}

/// Reads a filter of the form `attribute eq "value"` (or `eq true`/`false`).
pub fn parse_filter(text: &str) -> Result<Filter, DomainError> {
    let unsupported = || {
        refused(
            "invalidFilter",
            format!("{text:?}: only `attribute eq \"value\"` filters are supported"),
        )
    };
    let mut text = text.trim();
    // `(userName eq "x")`: one balanced pair around the whole filter is no filter of its own.
    while let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        text = inner.trim();
    }
    if text.contains(['(', ')']) {
        return Err(unsupported());
    }
    let (attribute, rest) = text
        .split_once(char::is_whitespace)
        .ok_or_else(unsupported)?;
    let (operator, literal) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(unsupported)?;
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let value = match serde_json::from_str::<Value>(literal.trim()).map_err(|_| unsupported())? {
        Value::String(s) => s,
        Value::Bool(b) => b.to_string(),
        _ => return Err(unsupported()),
    };
    Ok(Filter {
        attribute: attribute_name(attribute).map_err(|_| unsupported())?,
        value,
    })
}

/// An attribute's name, lower-cased, without its schema's URN prefix.
fn attribute_name(text: &str) -> Result<String, DomainError> {
    let lower = text.trim().to_ascii_lowercase();
    let bare = [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA]
        .iter()
        .find_map(|schema| lower.strip_prefix(&format!("{}:", schema.to_ascii_lowercase())))
        .unwrap_or(&lower);
    if bare.is_empty()
        || !bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '$' || c == '_' || c == '-')
    {
        return Err(refused(
            "invalidPath",
            format!("{text:?} is not an attribute path"),
        ));
    }
    Ok(bare.to_owned())
}

/// Reads `attribute`, `attribute.sub`, or `attribute[filter]` optionally followed by `.sub`.
pub fn parse_path(text: &str) -> Result<AttributePath, DomainError> {
    let invalid = || refused("invalidPath", format!("{text:?} is not an attribute path"));
    let text = text.trim();
    // The URN prefix holds dots ("2.0"), so the sub-attribute is what follows its last colon.
    let (prefix, local) = match text.rfind(':') {
        Some(at) => text.split_at(at + 1),
        None => ("", text),
    };
    if let Some(open) = local.find('[') {
        let close = local.rfind(']').filter(|c| *c > open).ok_or_else(invalid)?;
        let sub_attribute = match &local[close + 1..] {
            "" => None,
            rest => Some(
                attribute_name(rest.strip_prefix('.').ok_or_else(invalid)?)
                    .map_err(|_| invalid())?,
            ),
        };
        return Ok(AttributePath {
            attribute: attribute_name(&format!("{prefix}{}", &local[..open]))?,
            filter: Some(parse_filter(&local[open + 1..close])?),
            sub_attribute,
        });
    }
    let (attribute, sub_attribute) = match local.split_once('.') {
        Some((attribute, sub)) => (attribute, Some(attribute_name(sub)?)),
        None => (local, None),
    };
    Ok(AttributePath {
        attribute: attribute_name(&format!("{prefix}{attribute}"))?,
        filter: None,
        sub_attribute,
    })
}

/// Reads a PatchOp message: its `Operations`, each with `op`, an optional `path` and a `value`.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOperation>, DomainError> {
    let schemas_ok = body["schemas"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s == PATCH_SCHEMA));
    if !schemas_ok {
        return Err(refused(
            "invalidSyntax",
            format!("a PATCH body names the schema {PATCH_SCHEMA}"),
        ));
    }
    let operations = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| refused("invalidSyntax", "a PATCH body has a list of Operations"))?;
    operations
        .iter()
        .map(|operation| {
            let op = match operation["op"]
                .as_str()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Op::Add,
                Some("replace") => Op::Replace,
                Some("remove") => Op::Remove,
                _ => {
                    return Err(refused(
                        "invalidSyntax",
                        "each operation's op is add, replace or remove",
                    ))
                }
            };
            let path = operation["path"].as_str().map(parse_path).transpose()?;
            let value = operation.get("value").cloned();
            match (op, &path, &value) {
                (Op::Remove, None, _) => Err(refused("noTarget", "a remove names its path")),
                (Op::Add | Op::Replace, _, None) => {
                    Err(refused("invalidValue", "an add or replace carries a value"))
                }
                _ => Ok(PatchOperation { op, path, value }),
            }
        })
        .collect()
}

/// The text of a string attribute, or why it is not one.
fn text_of(name: &str, value: &Value) -> Result<String, DomainError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| refused("invalidValue", format!("{name} must be a string")))
}

/// `true`/`false`, also as the strings some providers send ("False").
fn flag_of(name: &str, value: &Value) -> Result<bool, DomainError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(refused("invalidValue", format!("{name} must be a boolean"))),
    }
}

/// The one value of a multi-valued attribute Dangan keeps one of (an e-mail address, a phone
/// number): the primary one, else the only one. `None` for an empty list.
fn single_value(name: &str, value: &Value) -> Result<Option<String>, DomainError> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        Value::Null => Vec::new(),
        _ => {
            return Err(refused(
                "invalidValue",
                format!("{name} must be a list of objects with a value"),
            ))
        }
    };
    let chosen = match items.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        many => {
            let primary: Vec<&&Value> = many.iter().filter(|v| v["primary"] == true).collect();
            match primary.as_slice() {
                [one] => **one,
                _ => {
                    return Err(refused(
                        "invalidValue",
                        format!("Dangan keeps one of {name}: mark one primary"),
                    ))
                }
            }
        }
    };
    text_of(&format!("{name}.value"), &chosen["value"]).map(Some)
}

/// The keys of a resource a client may send but nobody writes.
fn is_server_kept(key: &str) -> bool {
    matches!(key, "schemas" | "id" | "meta")
}

/// The attributes of a POST or PUT body (or a PATCH value), names lower-cased.
fn attributes_of(resource: &Value) -> Result<Map<String, Value>, DomainError> {
    let object = resource
        .as_object()
        .ok_or_else(|| refused("invalidSyntax", "the body must be a JSON object"))?;
    // The enterprise extension's attributes are read as the User's own (Dangan keeps only its
    // `department`); keys that are no attribute name of ours (another extension's URN) are
    // ignored like any attribute Dangan does not keep.
    let extension = object
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA))
        .filter_map(|(_, value)| value.as_object())
        .flatten();
    Ok(object
        .iter()
        .chain(extension)
        .filter_map(|(key, value)| Some((attribute_name(key).ok()?, value.clone())))
        .filter(|(name, _)| !is_server_kept(name))
        .collect())
}

impl ProvisionedUser {
    /// A user new to Dangan as the provider describes them: no role, `public` clearance, no
    /// department. Authority is granted in Dangan, never by provisioning; someone the provider
    /// deleted and creates again is such a newcomer too, since whoever comes back is granted anew.
    pub fn newcomer(&self) -> UserFields {
        UserFields {
            username: self.user_name.clone(),
            display_name: self.display_name.clone(),
            department_id: None,
            roles: Roles::new(),
            clearance: Classification::Public,
            email: self.email.clone(),
            phone: self.phone.clone(),
        }
    }

    /// What the provider writes over a user's `current` fields: their names and contacts; the
    /// department (a Group's business), roles and clearance stay.
    pub fn written_over(&self, current: &UserFields) -> UserFields {
        UserFields {
            username: self.user_name.clone(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            ..current.clone()
        }
    }

    /// The status of a user this description creates: active unless it says otherwise.
    pub fn status(&self) -> UserStatus {
        if self.active.unwrap_or(true) {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        }
    }

    /// The status this description leaves a user in who is `current` and named `current_name`
    /// now, or why the provider may not write it. Deactivation always goes through (it only
    /// takes access away); a rename, or letting someone in again, is refused for a user with
    /// roles or a Dangan password, and a user an admin disabled stays disabled.
    pub fn status_over(
        &self,
        current: UserStatus,
        current_name: &str,
        held: HeldInDangan,
    ) -> Result<UserStatus, DomainError> {
        if self.user_name != current_name && held.granted() {
            return Err(DomainError::ProvisioningRefused(format!(
                "userName: {current_name} holds roles or a Dangan password; only an admin \
                 renames them, in Dangan"
            )));
        }
        match (self.active, current) {
            (None, current) => Ok(current),
            (Some(false), _) => Ok(UserStatus::Disabled),
            (Some(true), UserStatus::Active) => Ok(UserStatus::Active),
            (Some(true), _) if held.disabled_by_admin => Ok(current),
            (Some(true), _) if held.granted() => Err(DomainError::ProvisioningRefused(format!(
                "active: {current_name} holds roles or a Dangan password; only an admin \
                 enables them again, in Dangan"
            ))),
            (Some(true), _) => Ok(UserStatus::Active),
        }
    }

    /// Reads a User resource of a POST or PUT. Attributes Dangan does not keep are ignored, as
    /// providers send many (name, title, addresses), and so are the read-only `groups` (RFC 7644
    /// §3.3: Okta sends `"groups": []`); `displayName` defaults to `userName`; `active` left out
    /// changes nothing (a new user is active).
    pub fn from_resource(resource: &Value) -> Result<ProvisionedUser, DomainError> {
        let attributes = attributes_of(resource)?;
        let user_name = attributes
            .get("username")
            .map(|v| text_of("userName", v))
            .transpose()?
            .ok_or_else(|| refused("invalidValue", "userName is required"))?;
        let mut user = ProvisionedUser {
            display_name: user_name.clone(),
            user_name,
            active: None,
            email: None,
            phone: None,
            external_id: None,
            department: None,
        };
        for (name, value) in &attributes {
            if !value.is_null() && name != "groups" {
                user.set(name, None, value)?;
            }
        }
        Ok(user)
    }

    fn set(
        &mut self,
        attribute: &str,
        sub_attribute: Option<&str>,
        value: &Value,
    ) -> Result<(), DomainError> {
        let one = |name: &str| match sub_attribute {
            None => single_value(name, value),
            Some("value") => text_of(&format!("{name}.value"), value).map(Some),
            Some(other) => Err(refused(
                "invalidPath",
                format!("{name}.{other} is not kept by Dangan"),
            )),
        };
        match attribute {
            "username" => self.user_name = text_of("userName", value)?,
            "displayname" => self.display_name = text_of("displayName", value)?,
            "active" => self.active = Some(flag_of("active", value)?),
            "department" => self.department = Some(text_of("department", value)?),
            "externalid" => self.external_id = Some(text_of("externalId", value)?),
            "emails" => self.email = one("emails")?,
            "phonenumbers" => self.phone = one("phoneNumbers")?,
            "groups" => {
                return Err(refused(
                    "mutability",
                    "a user's groups change through the Group's members",
                ))
            }
            _ => {}
        }
        Ok(())
    }

    fn remove(&mut self, attribute: &str) -> Result<(), DomainError> {
        match attribute {
            "username" | "displayname" | "active" => Err(refused(
                "invalidValue",
                format!("{attribute} is required and cannot be removed"),
            )),
            "groups" => Err(refused(
                "mutability",
                "a user's groups change through the Group's members",
            )),
            "externalid" => {
                self.external_id = None;
                Ok(())
            }
            "emails" => {
                self.email = None;
                Ok(())
            }
            "phonenumbers" => {
                self.phone = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// This user after the operations, applied in order (RFC 7644 §3.5.2).
    pub fn patched(mut self, operations: &[PatchOperation]) -> Result<Self, DomainError> {
        for operation in operations {
            match (&operation.path, operation.op, &operation.value) {
                (Some(path), Op::Remove, _) => self.remove(&path.attribute)?,
                (Some(path), _, Some(value)) => {
                    self.set(&path.attribute, path.sub_attribute.as_deref(), value)?
                }
                (None, _, Some(value)) => {
                    for (name, value) in attributes_of(value)? {
                        self.set(&name, None, &value)?;
                    }
                }
                // `parse_patch` refuses an add or replace without a value.
                (_, _, None) => {}
            }
        }
        Ok(self)
    }
}

/// The user ids of a `members` value: a list of `{"value": id}`.
fn member_ids(value: &Value) -> Result<Vec<Uuid>, DomainError> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => {
            return Err(refused(
                "invalidValue",
                "members must be a list of objects with a value",
            ))
        }
    };
    items
        .iter()
        .map(|item| {
            item["value"]
                .as_str()
                .and_then(|id| Uuid::try_parse(id).ok())
                .ok_or_else(|| refused("invalidValue", "each member's value is a User id"))
        })
        .collect()
}

impl ProvisionedGroup {
    /// Every rule the department's name breaks.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_text(&mut errors, "displayName", &self.display_name, 100);
        errors
    }

    /// Reads a Group resource of a POST or PUT.
    pub fn from_resource(resource: &Value) -> Result<ProvisionedGroup, DomainError> {
        let attributes = attributes_of(resource)?;
        let display_name = attributes
            .get("displayname")
            .map(|v| text_of("displayName", v))
            .transpose()?
            .ok_or_else(|| refused("invalidValue", "displayName is required"))?;
        let mut group = ProvisionedGroup {
            display_name,
            external_id: None,
            members: Vec::new(),
        };
        for (name, value) in &attributes {
            if !value.is_null() {
                group.set(Op::Replace, name, value)?;
            }
        }
        Ok(group)
    }

    fn set(&mut self, op: Op, attribute: &str, value: &Value) -> Result<(), DomainError> {
        match attribute {
            "displayname" => self.display_name = text_of("displayName", value)?,
            "externalid" => self.external_id = Some(text_of("externalId", value)?),
            "members" => {
                let ids = member_ids(value)?;
                if op == Op::Replace {
                    self.members.clear();
                }
                for id in ids {
                    if !self.members.contains(&id) {
                        self.members.push(id);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn remove(&mut self, path: &AttributePath, value: Option<&Value>) -> Result<(), DomainError> {
        match path.attribute.as_str() {
            "displayname" => {
                return Err(refused(
                    "invalidValue",
                    "displayName is required and cannot be removed",
                ))
            }
            "externalid" => self.external_id = None,
            "members" => match (&path.filter, value) {
                (Some(filter), _) if filter.attribute == "value" => {
                    self.members.retain(|m| m.to_string() != filter.value)
                }
                (Some(filter), _) => {
                    return Err(refused(
                        "invalidFilter",
                        format!("members are chosen by value, not {}", filter.attribute),
                    ))
                }
                // Some providers name the members to remove in the value instead of a filter.
                (None, Some(value)) => {
                    let gone = member_ids(value)?;
                    self.members.retain(|m| !gone.contains(m));
                }
                (None, None) => self.members.clear(),
            },
            _ => {}
        }
        Ok(())
    }

    /// This group after the operations, applied in order.
    pub fn patched(mut self, operations: &[PatchOperation]) -> Result<Self, DomainError> {
        for operation in operations {
            match (&operation.path, operation.op, &operation.value) {
                (Some(path), Op::Remove, value) => self.remove(path, value.as_ref())?,
                (Some(path), op, Some(value)) => self.set(op, &path.attribute, value)?,
                (None, op, Some(value)) => {
                    for (name, value) in attributes_of(value)? {
                        self.set(op, &name, &value)?;
                    }
                }
                // `parse_patch` refuses an add or replace without a value.
                (_, _, None) => {}
            }
        }
        Ok(self)
    }
}

/// Where a SCIM list starts and how many it holds (RFC 7644 §3.4.2.4): `startIndex` counts from
/// 1, values below are taken as 1; `count` is capped at `max`, negative taken as 0.
pub fn page_window(start_index: Option<i64>, count: Option<i64>, max: i64) -> (i64, i64) {
    (
        start_index.unwrap_or(1).max(1),
        count.unwrap_or(max).clamp(0, max),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scim_type(error: DomainError) -> &'static str {
        match error {
            DomainError::Provisioning { scim_type, .. } => scim_type,
            other => panic!("not a provisioning error: {other:?}"),
        }
    }

    #[test]
    fn filters_are_attribute_eq_value() {
        assert_eq!(
            parse_filter(r#"userName eq "zhang.san""#).unwrap(),
            Filter {
                attribute: "username".into(),
                value: "zhang.san".into()
            }
        );
        assert_eq!(
            parse_filter(r#"urn:ietf:params:scim:schemas:core:2.0:User:externalId EQ "a \"b\"""#)
                .unwrap()
                .value,
            "a \"b\""
        );
        for unsupported in [
            r#"userName co "zh""#,
            "userName eq zh",
            r#"userName eq "a" and active eq true"#,
            "",
        ] {
            assert_eq!(
                scim_type(parse_filter(unsupported).unwrap_err()),
                "invalidFilter"
            );
        }
    }

    #[test]
    fn paths_name_an_attribute_its_filter_and_sub_attribute() {
        let path = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(path.attribute, "emails");
        assert_eq!(path.filter.unwrap().value, "work");
        assert_eq!(path.sub_attribute.as_deref(), Some("value"));
        let path = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:displayName").unwrap();
        assert_eq!(
            (path.attribute.as_str(), path.sub_attribute),
            ("displayname", None)
        );
        assert_eq!(parse_path("emails.value").unwrap().attribute, "emails");
        assert_eq!(scim_type(parse_path("emails[").unwrap_err()), "invalidPath");
        assert_eq!(scim_type(parse_path("a b").unwrap_err()), "invalidPath");
    }

    #[test]
    fn a_user_resource_keeps_what_dangan_keeps_and_defaults_the_rest() {
        let user = ProvisionedUser::from_resource(&json!({
            "schemas": [USER_SCHEMA], "id": "ignored", "userName": "lisi",
            "name": {"givenName": "四"}, "emails": [{"value": "li@example.org", "primary": true}],
        }))
        .unwrap();
        assert_eq!(user.display_name, "lisi");
        assert_eq!(user.active, None, "left out, it changes nothing");
        assert_eq!(user.status(), UserStatus::Active, "a newcomer is active");
        assert_eq!(user.email.as_deref(), Some("li@example.org"));
        assert_eq!(
            scim_type(ProvisionedUser::from_resource(&json!({"displayName": "x"})).unwrap_err()),
            "invalidValue"
        );
        let two =
            json!({"userName": "lisi", "emails": [{"value": "a@x.org"}, {"value": "b@x.org"}]});
        assert_eq!(
            scim_type(ProvisionedUser::from_resource(&two).unwrap_err()),
            "invalidValue"
        );
    }

    #[test]
    fn the_provider_writes_names_and_contacts_never_authority() {
        let user = ProvisionedUser::from_resource(&json!({
            "userName": "lisi", "displayName": "李四", "active": false,
            "phoneNumbers": [{"value": "010-1"}]
        }))
        .unwrap();
        let newcomer = user.newcomer();
        assert_eq!(
            (
                newcomer.roles.len(),
                newcomer.clearance,
                newcomer.department_id
            ),
            (0, Classification::Public, None)
        );
        assert_eq!(
            (newcomer.username.as_str(), newcomer.phone.as_deref()),
            ("lisi", Some("010-1"))
        );
        assert_eq!(user.status(), UserStatus::Disabled);
        let department = Uuid::now_v7();
        let current = UserFields {
            username: "old".into(),
            display_name: "旧".into(),
            department_id: Some(department),
            roles: [crate::Role::Archivist].into_iter().collect(),
            clearance: Classification::Secret,
            email: Some("old@example.org".into()),
            phone: None,
        };
        let written = user.written_over(&current);
        assert_eq!(
            (written.roles, written.clearance, written.department_id),
            (
                current.roles.clone(),
                Classification::Secret,
                Some(department)
            )
        );
        assert_eq!(
            (written.display_name.as_str(), written.email),
            ("李四", None)
        );
    }

    #[test]
    fn patches_apply_in_order_as_providers_write_them() {
        let user = ProvisionedUser::from_resource(&json!({"userName": "lisi"})).unwrap();
        let operations = parse_patch(&json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [
                {"op": "Replace", "value": {"active": "False", "displayName": "李四"}},
                {"op": "add", "path": "emails[type eq \"work\"].value", "value": "li@example.org"},
                {"op": "add", "path": "externalId", "value": "E-1"},
                {"op": "remove", "path": "externalId"},
            ]
        }))
        .unwrap();
        let patched = user.clone().patched(&operations).unwrap();
        assert_eq!(patched.active, Some(false));
        assert_eq!(patched.display_name, "李四");
        assert_eq!(patched.email.as_deref(), Some("li@example.org"));
        assert_eq!(patched.external_id, None);
        let remove_name = parse_patch(&json!({
            "schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove", "path": "userName"}]
        }))
        .unwrap();
        assert_eq!(
            scim_type(user.clone().patched(&remove_name).unwrap_err()),
            "invalidValue"
        );
        assert_eq!(
            scim_type(parse_patch(&json!({"Operations": []})).unwrap_err()),
            "invalidSyntax"
        );
    }

    #[test]
    fn group_members_are_added_replaced_and_removed() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let group = ProvisionedGroup::from_resource(&json!({
            "displayName": "人事处", "members": [{"value": a.to_string()}]
        }))
        .unwrap();
        let patch = |operations: Value| {
            parse_patch(&json!({"schemas": [PATCH_SCHEMA], "Operations": operations})).unwrap()
        };
        let added = group
            .clone()
            .patched(&patch(json!([{"op": "add", "path": "members",
                "value": [{"value": b.to_string()}, {"value": a.to_string()}]}])))
            .unwrap();
        assert_eq!(added.members, [a, b]);
        let removed = added
            .clone()
            .patched(&patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
            ))
            .unwrap();
        assert_eq!(removed.members, [b]);
        let replaced = removed
            .patched(&patch(json!([{"op": "replace", "path": "members",
                "value": [{"value": c.to_string()}]}])))
            .unwrap();
        assert_eq!(replaced.members, [c]);
        let cleared = added
            .patched(&patch(json!([{"op": "remove", "path": "members"}])))
            .unwrap();
        assert!(cleared.members.is_empty());
    }

    #[test]
    fn what_dangan_holds_no_provider_undoes() {
        let described = |user_name: &str, active: Option<bool>| ProvisionedUser {
            user_name: user_name.into(),
            display_name: user_name.into(),
            active,
            email: None,
            phone: None,
            external_id: None,
            department: None,
        };
        let held = |has_roles, has_password, disabled_by_admin| HeldInDangan {
            has_roles,
            has_password,
            disabled_by_admin,
        };
        let plain = held(false, false, false);
        let (active, disabled) = (UserStatus::Active, UserStatus::Disabled);
        // A user the provider made, and nothing more: the provider's word goes.
        let status = |d: ProvisionedUser, current, h| d.status_over(current, "lisi", h);
        assert_eq!(
            status(described("li.si", Some(true)), disabled, plain).unwrap(),
            active
        );
        assert_eq!(
            status(described("lisi", None), disabled, plain).unwrap(),
            disabled
        );
        assert_eq!(
            status(described("lisi", None), active, plain).unwrap(),
            active
        );
        // Roles or a password: no rename, no letting in again; leaving always goes through.
        for granted in [held(true, false, false), held(false, true, false)] {
            for (current, active_flag) in [(active, None), (active, Some(true))] {
                assert!(matches!(
                    status(described("intern.li", active_flag), current, granted),
                    Err(DomainError::ProvisioningRefused(detail)) if detail.starts_with("userName:")
                ));
            }
            assert!(matches!(
                status(described("lisi", Some(true)), disabled, granted),
                Err(DomainError::ProvisioningRefused(detail)) if detail.starts_with("active:")
            ));
            assert_eq!(
                status(described("lisi", Some(false)), active, granted).unwrap(),
                disabled
            );
            assert_eq!(
                status(described("lisi", Some(true)), active, granted).unwrap(),
                active
            );
        }
        // Disabled by an admin: whatever the provider sends, they stay disabled.
        for h in [held(false, false, true), held(true, true, true)] {
            assert_eq!(
                status(described("lisi", Some(true)), disabled, h).unwrap(),
                disabled
            );
        }
    }

    #[test]
    fn providers_requests_as_they_send_them() {
        // Okta's create body carries the read-only `groups` (RFC 7644 §3.3: ignored).
        let okta = ProvisionedUser::from_resource(&json!({
            "schemas": [USER_SCHEMA], "userName": "isaac.brock@example.com",
            "name": {"givenName": "Isaac", "familyName": "Brock"},
            "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
            "displayName": "Isaac Brock", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "password": "1mz050nq", "active": true
        }))
        .unwrap();
        assert_eq!(okta.external_id.as_deref(), Some("00ujl29u0le5T6Aj10h7"));
        // Entra ID's enterprise extension, in a body and as PATCH paths.
        let entra = ProvisionedUser::from_resource(&json!({
            "userName": "lisi", ENTERPRISE_SCHEMA: {"department": "HR", "employeeNumber": "42"}
        }))
        .unwrap();
        assert_eq!(entra.department.as_deref(), Some("HR"));
        let operations = parse_patch(&json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Add", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "财务处"},
            {"op": "Add", "path": format!("{ENTERPRISE_SCHEMA}:employeeNumber"), "value": "42"},
        ]}))
        .unwrap();
        let patched = entra.patched(&operations).unwrap();
        assert_eq!(patched.department.as_deref(), Some("财务处"));
        // An unbalanced parenthesis is a filter's error, not a path's; a balanced pair is read.
        assert_eq!(
            scim_type(parse_filter(r#"(userName eq "x""#).unwrap_err()),
            "invalidFilter"
        );
        assert_eq!(parse_filter(r#"(userName eq "x")"#).unwrap().value, "x");
    }

    #[test]
    fn list_windows_start_at_one_and_are_bounded() {
        assert_eq!(page_window(None, None, 200), (1, 200));
        assert_eq!(page_window(Some(0), Some(1000), 200), (1, 200));
        assert_eq!(page_window(Some(5), Some(-1), 200), (5, 0));
    }
}
