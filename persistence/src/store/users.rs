//! Users: their row, reads, an insert and a change checked against its version.

use crate::{
    from_db_time,
    schema::{departments as departments_table, users},
    sql_types::DbId,
    store::{
        departments,
        rollups::{self, Hold, Scope},
    },
    to_db_time, Conflict, Conn, PersistenceError,
};
use dangan_domain::{
    access::Principal,
    user::{Authority, Roles, UserFields},
    Classification, Role, UserStatus,
};
use diesel::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// A user as the rest of the system sees one: never with a password hash.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub department_id: Option<Uuid>,
    pub roles: Roles,
    pub clearance: Classification,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: UserStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl User {
    pub fn authority(&self) -> Authority {
        Authority {
            roles: self.roles.clone(),
            clearance: self.clearance,
            status: self.status,
        }
    }

    /// The user as access rules see them.
    pub fn principal(&self) -> Principal {
        Principal {
            id: self.id,
            roles: self.roles.clone(),
            clearance: self.clearance,
            department_id: self.department_id,
            status: self.status,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub(crate) struct UserRow {
    pub(crate) id: DbId,
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) department_id: Option<DbId>,
    pub(crate) roles: String,
    pub(crate) clearance: String,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) status: String,
    pub(crate) created_at: time::PrimitiveDateTime,
    pub(crate) updated_at: time::PrimitiveDateTime,
    pub(crate) version: i32,
}

/// `",archivist,admin,"`: delimited on both sides so `LIKE '%,admin,%'` finds one role exactly.
pub(crate) fn encode_roles(roles: &Roles) -> String {
    let mut encoded = String::from(",");
    for role in roles {
        encoded.push_str(role.as_str());
        encoded.push(',');
    }
    encoded
}

pub(crate) fn decode_roles(encoded: &str) -> Roles {
    encoded
        .split(',')
        .filter_map(|name| name.parse::<Role>().ok())
        .collect()
}

impl UserRow {
    pub(crate) fn into_user(self) -> User {
        User {
            id: self.id.into(),
            username: self.username,
            display_name: self.display_name,
            department_id: self.department_id.map(Uuid::from),
            roles: decode_roles(&self.roles),
            // Values are written from the enums; an unknown one cannot widen access.
            clearance: self.clearance.parse().unwrap_or(Classification::Public),
            status: self.status.parse().unwrap_or(UserStatus::Disabled),
            email: self.email,
            phone: self.phone,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            version: self.version,
        }
    }

    pub(crate) fn from_user(user: &User) -> UserRow {
        UserRow {
            id: DbId(user.id),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            department_id: user.department_id.map(DbId),
            roles: encode_roles(&user.roles),
            clearance: user.clearance.as_str().to_owned(),
            email: user.email.clone(),
            phone: user.phone.clone(),
            status: user.status.as_str().to_owned(),
            created_at: to_db_time(user.created_at),
            updated_at: to_db_time(user.updated_at),
            version: user.version,
        }
    }
}

/// What it takes to create a user; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub fields: UserFields,
    pub password_hash: String,
}

impl User {
    pub fn fields(&self) -> UserFields {
        UserFields {
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            department_id: self.department_id,
            roles: self.roles.clone(),
            clearance: self.clearance,
            email: self.email.clone(),
            phone: self.phone.clone(),
        }
    }

    /// This user with `fields` written over, one version on.
    pub(crate) fn changed(&self, fields: UserFields, now: OffsetDateTime) -> User {
        User {
            username: fields.username,
            display_name: fields.display_name,
            department_id: fields.department_id,
            roles: fields.roles,
            clearance: fields.clearance,
            email: fields.email,
            phone: fields.phone,
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// The audited summary of a user: everything but contact details and secrets.
pub(crate) fn audit_view(user: &User) -> serde_json::Value {
    json!({
        "username": user.username,
        "display_name": user.display_name,
        "department_id": user.department_id,
        "roles": user.roles,
        "clearance": user.clearance,
        "status": user.status,
    })
}

/// The password hash of a user who has no local password (provisioned by the identity
/// provider): no password matches it.
pub const NO_PASSWORD: &str = "!";

/// Whether a stored password hash is one a password can match (not `NO_PASSWORD`).
pub fn has_password(hash: &str) -> bool {
    hash.starts_with("$argon2")
}

pub(crate) fn insert(
    conn: &mut Conn,
    now: OffsetDateTime,
    new: NewUser,
) -> Result<User, PersistenceError> {
    let errors = new.fields.check();
    if !errors.is_empty() {
        return Err(PersistenceError::Invalid(errors));
    }
    let fields = new.fields;
    if let Some(department_id) = fields.department_id {
        departments::ensure_exists(conn, department_id, "department_id")?;
    }
    let user = User {
        id: Uuid::now_v7(),
        username: fields.username,
        display_name: fields.display_name,
        department_id: fields.department_id,
        roles: fields.roles,
        clearance: fields.clearance,
        email: fields.email,
        phone: fields.phone,
        status: UserStatus::Active,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    diesel::insert_into(users::table)
        .values((
            UserRow::from_user(&user),
            users::password_hash.eq(new.password_hash),
        ))
        .execute(conn)
        .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateUsername))?;
    get(conn, user.id)
}

/// The given users as access rules see them now; unknown ids are left out.
pub fn principals(
    conn: &mut Conn,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, Principal>, PersistenceError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = users::table
        .filter(users::id.eq_any(ids.iter().copied().map(DbId)))
        .select(UserRow::as_select())
        .load::<UserRow>(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let user = row.into_user();
            (user.id, user.principal())
        })
        .collect())
}

/// Active users as access rules see them.
pub fn active_principals(conn: &mut Conn) -> Result<Vec<Principal>, PersistenceError> {
    let rows = users::table
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .select(UserRow::as_select())
        .load::<UserRow>(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| row.into_user().principal())
        .collect())
}

pub fn count(conn: &mut Conn) -> Result<i64, PersistenceError> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn get(conn: &mut Conn, id: Uuid) -> Result<User, PersistenceError> {
    let row = users::table
        .find(DbId(id))
        .select(UserRow::as_select())
        .first::<UserRow>(conn)?;
    Ok(row.into_user())
}

/// The user and password hash for a login name (case-insensitive), if there is one.
pub fn find_credentials(
    conn: &mut Conn,
    username: &str,
) -> Result<Option<(User, String)>, PersistenceError> {
    let found = users::table
        .filter(crate::lower(users::username).eq(username.to_lowercase()))
        .select((UserRow::as_select(), users::password_hash))
        .first::<(UserRow, String)>(conn)
        .optional()?;
    Ok(found.map(|(row, hash)| (row.into_user(), hash)))
}

/// A user's password hash, for re-authentication (signing a receipt, confirming a return).
/// A user's name and password hash, for re-authentication (signing a receipt, confirming a
/// return), whose failures count against the name like a login's.
pub fn credentials_of(conn: &mut Conn, id: Uuid) -> Result<(String, String), PersistenceError> {
    Ok(users::table
        .find(DbId(id))
        .select((users::username, users::password_hash))
        .first(conn)?)
}

pub(crate) fn other_active_admins(conn: &mut Conn, except: Uuid) -> Result<i64, PersistenceError> {
    Ok(users::table
        .filter(users::id.ne(DbId(except)))
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .filter(users::roles.like("%,admin,%"))
        .count()
        .get_result(conn)?)
}

/// Whether the change moves the user's loans to other counters.
pub(crate) fn recounted(before: &User, after: &User) -> bool {
    before.department_id != after.department_id
}

/// Writes `after` over `before` if nobody changed the row in between.
pub(crate) fn store_change(
    conn: &mut Conn,
    before: &User,
    after: &User,
) -> Result<User, PersistenceError> {
    let recounted = recounted(before, after);
    if recounted {
        rollups::hold(conn, Hold::Dimensions)?;
    }
    if recounted {
        rollups::hold(conn, Hold::Borrower(before.id))?;
        rollups::uncount(conn, Scope::Borrower(before.id))?;
    }
    let updated = diesel::update(
        users::table
            .find(DbId(before.id))
            .filter(users::version.eq(before.version)),
    )
    .set(&UserRow::from_user(after))
    .execute(conn)
    .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateUsername))?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    if recounted {
        rollups::count(conn, Scope::Borrower(before.id))?;
    }
    get(conn, after.id)
}

/// Active users holding `role` (escalations go to all of them).
pub fn active_with_role(conn: &mut Conn, role: Role) -> Result<Vec<Uuid>, PersistenceError> {
    Ok(users::table
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .filter(users::roles.like(format!("%,{},%", role.as_str())))
        .select(users::id)
        .load::<DbId>(conn)?
        .into_iter()
        .map(Uuid::from)
        .collect())
}

/// The head of a user's department, when there is one and it is someone else.
pub fn department_head_of(
    conn: &mut Conn,
    user_id: Uuid,
) -> Result<Option<Uuid>, PersistenceError> {
    let head = users::table
        .inner_join(departments_table::table)
        .filter(users::id.eq(DbId(user_id)))
        .select(departments_table::head_user_id)
        .first::<Option<DbId>>(conn)
        .optional()?
        .flatten()
        .map(Uuid::from);
    Ok(head.filter(|h| *h != user_id))
}
