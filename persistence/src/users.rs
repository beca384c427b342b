//! Users: create, read, list, change authority, deactivate — each one transaction with its audit event.

use dangan_domain::{
    audit::NewAuditEvent,
    user::{check_authority_change, Authority, Roles},
    Classification, Role, UserStatus,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit,
    db::write_transaction,
    departments, from_db_time,
    schema::{sessions, users},
    sql_types::DbId,
    to_db_time, Conn, Page, PageRequest, PersistenceError,
};

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

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub(crate) struct UserRow {
    id: DbId,
    username: String,
    display_name: String,
    department_id: Option<DbId>,
    roles: String,
    clearance: String,
    email: Option<String>,
    phone: Option<String>,
    status: String,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    version: i32,
}

/// `",archivist,admin,"`: delimited on both sides so `LIKE '%,admin,%'` finds one role exactly.
fn encode_roles(roles: &Roles) -> String {
    let mut encoded = String::from(",");
    for role in roles {
        encoded.push_str(role.as_str());
        encoded.push(',');
    }
    encoded
}

fn decode_roles(encoded: &str) -> Roles {
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

    fn from_user(user: &User) -> UserRow {
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
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub department_id: Option<Uuid>,
    pub roles: Roles,
    pub clearance: Classification,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The audited summary of a user: everything but contact details and secrets.
fn audit_view(user: &User) -> serde_json::Value {
    json!({
        "username": user.username,
        "display_name": user.display_name,
        "department_id": user.department_id,
        "roles": user.roles,
        "clearance": user.clearance,
        "status": user.status,
    })
}

fn insert(conn: &mut Conn, now: OffsetDateTime, new: NewUser) -> Result<User, PersistenceError> {
    if let Some(department_id) = new.department_id {
        departments::ensure_exists(conn, department_id, "department_id")?;
    }
    let user = User {
        id: Uuid::now_v7(),
        username: new.username,
        display_name: new.display_name,
        department_id: new.department_id,
        roles: new.roles,
        clearance: new.clearance,
        email: new.email,
        phone: new.phone,
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
        .map_err(|e| PersistenceError::on_unique(e, "duplicate_username"))?;
    get(conn, user.id)
}

/// Creates a user on behalf of `actor_id` (none for the command line).
pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Option<Uuid>,
    new: NewUser,
) -> Result<User, PersistenceError> {
    write_transaction(conn, |conn| {
        let user = insert(conn, now, new)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("user.created", "user")
                .by(actor_id)
                .on(user.id)
                .with(audit_view(&user)),
        )?;
        Ok(user)
    })
}

/// Creates the `admin` user when the store has no user at all; returns whether it did.
pub fn bootstrap_admin(
    conn: &mut Conn,
    now: OffsetDateTime,
    password_hash: String,
) -> Result<bool, PersistenceError> {
    write_transaction(conn, |conn| {
        let count: i64 = users::table.count().get_result(conn)?;
        if count > 0 {
            return Ok(false);
        }
        let admin = insert(
            conn,
            now,
            NewUser {
                username: "admin".into(),
                display_name: "Administrator".into(),
                password_hash,
                department_id: None,
                roles: [Role::Admin].into_iter().collect(),
                clearance: Classification::TopSecret,
                email: None,
                phone: None,
            },
        )?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("user.bootstrapped", "user")
                .on(admin.id)
                .with(audit_view(&admin)),
        )?;
        Ok(true)
    })
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

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub q: Option<String>,
    pub department_id: Option<Uuid>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// Users, newest first (ids are UUIDv7, so id order is creation order).
pub fn list(
    conn: &mut Conn,
    filter: &UserFilter,
    page: &PageRequest<Uuid>,
) -> Result<Page<User, Uuid>, PersistenceError> {
    let mut query = users::table
        .select(UserRow::as_select())
        .order(users::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = crate::like_pattern(q);
        query = query.filter(
            crate::lower(users::username)
                .like(pattern.clone())
                .escape('\\')
                .or(crate::lower(users::display_name).like(pattern).escape('\\')),
        );
    }
    if let Some(department_id) = filter.department_id {
        query = query.filter(users::department_id.eq(DbId(department_id)));
    }
    if let Some(role) = filter.role {
        query = query.filter(users::roles.like(format!("%,{},%", role.as_str())));
    }
    if let Some(status) = filter.status {
        query = query.filter(users::status.eq(status.as_str()));
    }
    if let Some(after) = page.after {
        query = query.filter(users::id.lt(DbId(after)));
    }
    let rows = query.load::<UserRow>(conn)?;
    let items = rows.into_iter().map(UserRow::into_user).collect();
    Ok(Page::from_rows(items, page.limit, |u: &User| u.id))
}

/// A partial change; `None` leaves a field as it is, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub department_id: Option<Option<Uuid>>,
    pub roles: Option<Roles>,
    pub clearance: Option<Classification>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
}

fn other_active_admins(conn: &mut Conn, except: Uuid) -> Result<i64, PersistenceError> {
    Ok(users::table
        .filter(users::id.ne(DbId(except)))
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .filter(users::roles.like("%,admin,%"))
        .count()
        .get_result(conn)?)
}

/// Writes `after` over `before` if nobody changed the row in between.
fn store_change(conn: &mut Conn, before: &User, after: &User) -> Result<User, PersistenceError> {
    let updated = diesel::update(
        users::table
            .find(DbId(before.id))
            .filter(users::version.eq(before.version)),
    )
    .set(&UserRow::from_user(after))
    .execute(conn)?;
    if updated == 0 {
        return Err(PersistenceError::VersionMismatch);
    }
    get(conn, after.id)
}

/// Applies a patch by `actor_id`; `expected_version` comes from `If-Match`.
pub fn update(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
    patch: UserPatch,
    expected_version: Option<i32>,
) -> Result<User, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(PersistenceError::VersionMismatch);
        }
        if let Some(Some(department_id)) = patch.department_id {
            departments::ensure_exists(conn, department_id, "department_id")?;
        }
        let after = User {
            display_name: patch
                .display_name
                .unwrap_or_else(|| before.display_name.clone()),
            department_id: patch.department_id.unwrap_or(before.department_id),
            roles: patch.roles.unwrap_or_else(|| before.roles.clone()),
            clearance: patch.clearance.unwrap_or(before.clearance),
            email: patch.email.unwrap_or_else(|| before.email.clone()),
            phone: patch.phone.unwrap_or_else(|| before.phone.clone()),
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        let others = other_active_admins(conn, id)?;
        check_authority_change(
            actor_id == id,
            &before.authority(),
            &after.authority(),
            others,
        )?;
        let user = store_change(conn, &before, &after)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("user.updated", "user")
                .by(Some(actor_id))
                .on(id)
                .with(json!({"before": audit_view(&before), "after": audit_view(&user)})),
        )?;
        Ok(user)
    })
}

/// Disables a user and revokes every login of theirs at once.
pub fn deactivate(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
) -> Result<User, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        let after = User {
            status: UserStatus::Disabled,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        let others = other_active_admins(conn, id)?;
        check_authority_change(
            actor_id == id,
            &before.authority(),
            &after.authority(),
            others,
        )?;
        let user = store_change(conn, &before, &after)?;
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(DbId(id)))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::revoked_at.eq(to_db_time(now)),
            sessions::revoked_reason.eq("user_deactivated"),
        ))
        .execute(conn)?;
        audit::append(
            conn,
            now,
            NewAuditEvent::new("user.deactivated", "user")
                .by(Some(actor_id))
                .on(id),
        )?;
        Ok(user)
    })
}
