//! Provisioning by the organisation's identity provider (SCIM 2.0): the clients allowed to do it,
//! and users and departments as they write them. Each client sees and writes only the users and
//! departments it provisioned or an admin handed it; what Dangan holds of a user (roles, a local
//! password, an admin's disabling) the domain's rule keeps from it. Each change is one
//! transaction with its audit event, which names the client; roles and clearance are never
//! touched here.

use dangan_domain::{
    audit::NewAuditEvent,
    scim::{self, Filter, HeldInDangan, PatchOperation, ProvisionedGroup, ProvisionedUser},
    user::check_authority_change,
    UserStatus,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::{read_transaction, write_transaction},
    events, from_db_time,
    schema::{departments as departments_table, scim_clients, users as users_table},
    sql_types::DbId,
    store::{
        departments::{self, Department},
        users::{self, User, UserRow},
    },
    to_db_time, Conflict, Conn, PersistenceError,
};

/// A system allowed to provision users: its token is kept only as a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimClient {
    pub id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scim_clients)]
struct ScimClientRow {
    id: DbId,
    name: String,
    created_by: DbId,
    created_at: time::PrimitiveDateTime,
    revoked_at: Option<time::PrimitiveDateTime>,
}

impl ScimClientRow {
    fn into_client(self) -> ScimClient {
        ScimClient {
            id: self.id.into(),
            name: self.name,
            created_by: self.created_by.into(),
            created_at: from_db_time(self.created_at),
            revoked_at: self.revoked_at.map(from_db_time),
        }
    }
}

impl ScimClient {
    /// What the audit trail says about a change this client made.
    fn via(&self) -> serde_json::Value {
        json!({"scim_client": {"id": self.id, "name": self.name}})
    }
}

/// Hands users to a provisioning client (an admin's decision): from now on it sees and writes
/// them, within what the domain's rule lets a provider do. Unknown ids refuse the whole hand-over.
pub fn hand_over(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    client_id: Uuid,
    user_ids: &[Uuid],
) -> Result<ScimClient, PersistenceError> {
    write_transaction(conn, |conn| {
        let client = client(conn, client_id)?;
        if client.revoked_at.is_some() {
            return Err(PersistenceError::Conflict(Conflict::ScimClientRevoked));
        }
        for id in user_ids {
            users::get(conn, *id).map_err(|error| match error {
                PersistenceError::NotFound => {
                    PersistenceError::Invalid(vec![dangan_domain::FieldError::at(
                        "user_ids".to_owned(),
                        format!("no user {id}"),
                    )])
                }
                other => other,
            })?;
        }
        diesel::update(
            users_table::table.filter(users_table::id.eq_any(user_ids.iter().map(|id| DbId(*id)))),
        )
        .set(users_table::scim_client_id.eq(Some(DbId(client_id))))
        .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("scim_client.handed_over", "scim_client")
                .by(Some(actor_id))
                .on(client_id)
                .with(json!({"name": client.name, "user_ids": user_ids})),
        )?;
        Ok(client)
    })
}

fn audit_client(client: &ScimClient) -> serde_json::Value {
    json!({"name": client.name})
}

/// Registers a provisioning client whose token hashes to `token_hash`.
pub fn create_client(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    name: String,
    token_hash: String,
) -> Result<ScimClient, PersistenceError> {
    write_transaction(conn, |conn| {
        let id = Uuid::now_v7();
        diesel::insert_into(scim_clients::table)
            .values((
                scim_clients::id.eq(DbId(id)),
                scim_clients::name.eq(&name),
                scim_clients::token_hash.eq(token_hash),
                scim_clients::created_by.eq(DbId(actor_id)),
                scim_clients::created_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
        let client = client(conn, id)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("scim_client.created", "scim_client")
                .by(Some(actor_id))
                .on(id)
                .with(audit_client(&client)),
        )?;
        Ok(client)
    })
}

fn client(conn: &mut Conn, id: Uuid) -> Result<ScimClient, PersistenceError> {
    Ok(scim_clients::table
        .find(DbId(id))
        .select(ScimClientRow::as_select())
        .first::<ScimClientRow>(conn)?
        .into_client())
}

/// Every client, newest first, revoked ones too.
pub fn clients(conn: &mut Conn) -> Result<Vec<ScimClient>, PersistenceError> {
    Ok(scim_clients::table
        .select(ScimClientRow::as_select())
        .order(scim_clients::id.desc())
        .load::<ScimClientRow>(conn)?
        .into_iter()
        .map(ScimClientRow::into_client)
        .collect())
}

/// Ends a client's access at once; revoking it again changes nothing.
pub fn revoke_client(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
) -> Result<ScimClient, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = client(conn, id)?;
        if before.revoked_at.is_some() {
            return Ok(before);
        }
        diesel::update(scim_clients::table.find(DbId(id)))
            .set(scim_clients::revoked_at.eq(to_db_time(now)))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("scim_client.revoked", "scim_client")
                .by(Some(actor_id))
                .on(id)
                .with(audit_client(&before)),
        )?;
        client(conn, id)
    })
}

/// The unrevoked client whose token hashes to `token_hash`.
pub fn client_by_token(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<ScimClient>, PersistenceError> {
    Ok(scim_clients::table
        .filter(scim_clients::token_hash.eq(token_hash))
        .filter(scim_clients::revoked_at.is_null())
        .select(ScimClientRow::as_select())
        .first::<ScimClientRow>(conn)
        .optional()?
        .map(ScimClientRow::into_client))
}

/// A user as provisioning sees them: the user and the provider's own id for them.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub user: User,
    pub external_id: Option<String>,
    /// The department the user belongs to, as a Group.
    pub group: Option<(Uuid, String)>,
}

/// A department as provisioning sees it, with its members' ids and names.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroup {
    pub department: Department,
    pub external_id: Option<String>,
    pub members: Vec<(Uuid, String)>,
}

/// One window of a list and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Window<T> {
    pub items: Vec<T>,
    pub total: i64,
}

fn scim_user(conn: &mut Conn, user: User) -> Result<ScimUser, PersistenceError> {
    let external_id: Option<String> = users_table::table
        .find(DbId(user.id))
        .select(users_table::external_id)
        .first(conn)?;
    let group = match user.department_id {
        Some(id) => departments_table::table
            .find(DbId(id))
            .filter(departments_table::deprovisioned_at.is_null())
            .select(departments_table::name)
            .first::<String>(conn)
            .optional()?
            .map(|name| (id, name)),
        None => None,
    };
    Ok(ScimUser {
        user,
        external_id,
        group,
    })
}

/// A user `client` sees (its own, not deleted through SCIM).
pub fn user(conn: &mut Conn, client: &ScimClient, id: Uuid) -> Result<ScimUser, PersistenceError> {
    read_transaction(conn, |conn| {
        let user = provisioned_user(conn, client, id)?;
        scim_user(conn, user)
    })
}

/// Users matching `filter`, in creation order, from `start` (counting from 1).
pub fn find_users(
    conn: &mut Conn,
    client: &ScimClient,
    filter: Option<&Filter>,
    start: i64,
    count: i64,
) -> Result<Window<ScimUser>, PersistenceError> {
    read_transaction(conn, |conn| {
        let matching = || -> Result<_, PersistenceError> {
            let mut query = users_table::table
                .filter(users_table::deprovisioned_at.is_null())
                .filter(users_table::scim_client_id.eq(DbId(client.id)))
                .into_boxed();
            if let Some(filter) = filter {
                let value = filter.value.clone();
                query = match filter.attribute.as_str() {
                    "username" => {
                        query.filter(crate::lower(users_table::username).eq(value.to_lowercase()))
                    }
                    "externalid" => query.filter(users_table::external_id.eq(value)),
                    "displayname" => query.filter(users_table::display_name.eq(value)),
                    "id" => match Uuid::try_parse(&value) {
                        Ok(id) => query.filter(users_table::id.eq(DbId(id))),
                        Err(_) => query.filter(users_table::id.ne(users_table::id)),
                    },
                    other => return Err(scim::unfilterable(other).into()),
                };
            }
            Ok(query)
        };
        let total: i64 = matching()?.count().get_result(conn)?;
        let rows = matching()?
            .select(UserRow::as_select())
            .order(users_table::id.asc())
            .offset(start - 1)
            .limit(count)
            .load::<UserRow>(conn)?;
        let items = rows
            .into_iter()
            .map(|row| scim_user(conn, row.into_user()))
            .collect::<Result<_, _>>()?;
        Ok(Window { items, total })
    })
}

/// Creates a user as the provider describes them (`ProvisionedUser::newcomer`), with no local
/// password, as `client`'s. A user it deleted earlier under the same name comes back as the same
/// person (their loans and history stay theirs), a newcomer again.
pub fn create_user(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    provisioned: ProvisionedUser,
) -> Result<ScimUser, PersistenceError> {
    write_transaction(conn, |conn| {
        let deleted = users_table::table
            .filter(crate::lower(users_table::username).eq(provisioned.user_name.to_lowercase()))
            .filter(users_table::deprovisioned_at.is_not_null())
            .filter(users_table::scim_client_id.eq(DbId(client.id)))
            .select(UserRow::as_select())
            .first::<UserRow>(conn)
            .optional()?;
        let (user, revived) = match deleted {
            Some(row) => {
                let before = row.into_user();
                let fields = provisioned.newcomer();
                let errors = fields.check();
                if !errors.is_empty() {
                    return Err(PersistenceError::Invalid(errors));
                }
                let mut after = before.changed(fields, now);
                after.status = provisioned.status();
                let user = events::account_changed(conn, now, &before, &after)?;
                diesel::update(users_table::table.find(DbId(user.id)))
                    .set(users_table::deprovisioned_at.eq(None::<time::PrimitiveDateTime>))
                    .execute(conn)?;
                (user, true)
            }
            None => {
                let mut user = users::insert(
                    conn,
                    now,
                    users::NewUser {
                        fields: provisioned.newcomer(),
                        password_hash: users::NO_PASSWORD.to_owned(),
                    },
                )?;
                diesel::update(users_table::table.find(DbId(user.id)))
                    .set(users_table::scim_client_id.eq(Some(DbId(client.id))))
                    .execute(conn)?;
                if provisioned.status() != UserStatus::Active {
                    let active = user.clone();
                    user.status = UserStatus::Disabled;
                    user.version += 1;
                    user = events::account_changed(conn, now, &active, &user)?;
                }
                (user, false)
            }
        };
        set_external_id(conn, user.id, provisioned.external_id.as_deref())?;
        let user = match named_department(conn, client, &provisioned)? {
            Some(department_id) if user.department_id != Some(department_id) => {
                let after = User {
                    department_id: Some(department_id),
                    version: user.version + 1,
                    ..user.clone()
                };
                events::account_changed(conn, now, &user, &after)?
            }
            _ => user,
        };
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.provisioned", "user")
                .on(user.id)
                .with(json!({
                    "user": users::audit_view(&user),
                    "revived": revived,
                    "via": client.via(),
                })),
        )?;
        scim_user(conn, user)
    })
}

fn set_external_id(
    conn: &mut Conn,
    id: Uuid,
    external_id: Option<&str>,
) -> Result<(), PersistenceError> {
    diesel::update(users_table::table.find(DbId(id)))
        .set(users_table::external_id.eq(external_id))
        .execute(conn)?;
    Ok(())
}

/// A user `client` may change: its own, present and not deleted through SCIM.
fn provisioned_user(
    conn: &mut Conn,
    client: &ScimClient,
    id: Uuid,
) -> Result<User, PersistenceError> {
    Ok(users_table::table
        .find(DbId(id))
        .filter(users_table::deprovisioned_at.is_null())
        .filter(users_table::scim_client_id.eq(DbId(client.id)))
        .select(UserRow::as_select())
        .first::<UserRow>(conn)?
        .into_user())
}

/// What Dangan holds of a user that the provider may not undo.
fn held_in_dangan(conn: &mut Conn, user: &User) -> Result<HeldInDangan, PersistenceError> {
    let (password_hash, disabled_by_admin): (String, bool) = users_table::table
        .find(DbId(user.id))
        .select((users_table::password_hash, users_table::disabled_by_admin))
        .first(conn)?;
    Ok(HeldInDangan {
        has_roles: !user.roles.is_empty(),
        has_password: users::has_password(&password_hash),
        disabled_by_admin,
    })
}

/// The department the enterprise extension's `department` names (by code, else by name), for a
/// client that provisions no Groups of its own: where it does, membership is the Groups'.
fn named_department(
    conn: &mut Conn,
    client: &ScimClient,
    provisioned: &ProvisionedUser,
) -> Result<Option<Uuid>, PersistenceError> {
    let Some(named) = provisioned.department.as_deref() else {
        return Ok(None);
    };
    let groups: i64 = departments_table::table
        .filter(departments_table::scim_client_id.eq(DbId(client.id)))
        .count()
        .get_result(conn)?;
    if groups > 0 {
        return Ok(None);
    }
    let present = || {
        departments_table::table
            .filter(departments_table::deprovisioned_at.is_null())
            .select(departments_table::id)
    };
    let by_code = present()
        .filter(departments_table::code.eq(named))
        .first::<DbId>(conn)
        .optional()?;
    let found = match by_code {
        Some(id) => Some(id),
        None => present()
            .filter(departments_table::name.eq(named))
            .order(departments_table::id.asc())
            .first::<DbId>(conn)
            .optional()?,
    };
    Ok(found.map(Uuid::from))
}

/// Writes what the provider says of a user over them; `active: false` deactivates them there
/// and then (every login ends), `true` lets them in again where the domain's rule allows.
fn store_user(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    before: User,
    provisioned: &ProvisionedUser,
) -> Result<ScimUser, PersistenceError> {
    let held = held_in_dangan(conn, &before)?;
    let status = provisioned.status_over(before.status, &before.username, held)?;
    let mut fields = provisioned.written_over(&before.fields());
    if let Some(department_id) = named_department(conn, client, provisioned)? {
        fields.department_id = Some(department_id);
    }
    let errors = fields.check();
    if !errors.is_empty() {
        return Err(PersistenceError::Invalid(errors));
    }
    let mut after = before.changed(fields, now);
    after.status = status;
    let others = users::other_active_admins(conn, before.id)?;
    check_authority_change(false, &before.authority(), &after.authority(), others)?;
    let user = events::account_changed(conn, now, &before, &after)?;
    set_external_id(conn, user.id, provisioned.external_id.as_deref())?;
    events::record(
        conn,
        now,
        NewAuditEvent::new("user.updated", "user")
            .on(user.id)
            .with(json!({
                "before": users::audit_view(&before),
                "after": users::audit_view(&user),
                "via": client.via(),
            })),
    )?;
    if before.status == UserStatus::Active && user.status != UserStatus::Active {
        left(conn, now, client, user.id, "user.deactivated")?;
    }
    scim_user(conn, user)
}

/// Replaces what provisioning keeps of a user (PUT).
pub fn replace_user(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    id: Uuid,
    provisioned: ProvisionedUser,
) -> Result<ScimUser, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = provisioned_user(conn, client, id)?;
        store_user(conn, now, client, before, &provisioned)
    })
}

/// What provisioning keeps of a user, as the provider would describe it.
fn as_provisioned(user: &ScimUser) -> ProvisionedUser {
    ProvisionedUser {
        user_name: user.user.username.clone(),
        display_name: user.user.display_name.clone(),
        active: Some(user.user.status == UserStatus::Active),
        email: user.user.email.clone(),
        phone: user.user.phone.clone(),
        external_id: user.external_id.clone(),
        department: None,
    }
}

/// Applies PATCH operations to a user (read, patched and written in one transaction).
pub fn patch_user(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    id: Uuid,
    operations: &[PatchOperation],
) -> Result<ScimUser, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = provisioned_user(conn, client, id)?;
        let current = scim_user(conn, before.clone())?;
        let provisioned = as_provisioned(&current).patched(operations)?;
        store_user(conn, now, client, before, &provisioned)
    })
}

/// Deletes a user as provisioning sees them: they are deactivated (every login ends) and
/// disappear from SCIM; their loans and history stay, as the archive's record needs them.
pub fn delete_user(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    id: Uuid,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let before = provisioned_user(conn, client, id)?;
        let after = User {
            status: UserStatus::Disabled,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        let others = users::other_active_admins(conn, id)?;
        check_authority_change(false, &before.authority(), &after.authority(), others)?;
        events::account_changed(conn, now, &before, &after)?;
        diesel::update(users_table::table.find(DbId(id)))
            .set(users_table::deprovisioned_at.eq(to_db_time(now)))
            .execute(conn)?;
        left(conn, now, client, id, "user.deprovisioned")
    })
}

/// Audits that the provider deactivated or deleted a user (their logins ended with their account,
/// `events::account_changed`). The loans they
/// still have out are not named in the event: auditors of any clearance read it, and a loan's id
/// tells of an archive above theirs; `GET /loans?borrower_id=` lists them within clearance.
fn left(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    id: Uuid,
    action: &'static str,
) -> Result<(), PersistenceError> {
    events::record(
        conn,
        now,
        NewAuditEvent::new(action, "user")
            .on(id)
            .with(json!({"via": client.via()})),
    )
}

fn scim_group(
    conn: &mut Conn,
    client: &ScimClient,
    department: Department,
) -> Result<ScimGroup, PersistenceError> {
    let external_id: Option<String> = departments_table::table
        .find(DbId(department.id))
        .select(departments_table::external_id)
        .first(conn)?;
    let members = users_table::table
        .filter(users_table::department_id.eq(DbId(department.id)))
        .filter(users_table::deprovisioned_at.is_null())
        .filter(users_table::scim_client_id.eq(DbId(client.id)))
        .order(users_table::id.asc())
        .select((users_table::id, users_table::username))
        .load::<(DbId, String)>(conn)?
        .into_iter()
        .map(|(id, name)| (id.into(), name))
        .collect();
    Ok(ScimGroup {
        department,
        external_id,
        members,
    })
}

/// A department `client` may see or change: one it made, present and not deleted through SCIM.
/// Departments an admin made are not any provider's.
fn provisioned_department(
    conn: &mut Conn,
    client: &ScimClient,
    id: Uuid,
) -> Result<Department, PersistenceError> {
    let present: i64 = departments_table::table
        .find(DbId(id))
        .filter(departments_table::deprovisioned_at.is_null())
        .filter(departments_table::scim_client_id.eq(DbId(client.id)))
        .count()
        .get_result(conn)?;
    if present == 0 {
        return Err(PersistenceError::NotFound);
    }
    departments::get(conn, id)
}

pub fn group(
    conn: &mut Conn,
    client: &ScimClient,
    id: Uuid,
) -> Result<ScimGroup, PersistenceError> {
    read_transaction(conn, |conn| {
        let department = provisioned_department(conn, client, id)?;
        scim_group(conn, client, department)
    })
}

/// Departments matching `filter`, in creation order, from `start` (counting from 1).
pub fn find_groups(
    conn: &mut Conn,
    client: &ScimClient,
    filter: Option<&Filter>,
    start: i64,
    count: i64,
) -> Result<Window<ScimGroup>, PersistenceError> {
    read_transaction(conn, |conn| {
        let matching = || -> Result<_, PersistenceError> {
            let mut query = departments_table::table
                .filter(departments_table::deprovisioned_at.is_null())
                .filter(departments_table::scim_client_id.eq(DbId(client.id)))
                .into_boxed();
            if let Some(filter) = filter {
                let value = filter.value.clone();
                query = match filter.attribute.as_str() {
                    "displayname" => query.filter(departments_table::name.eq(value)),
                    "externalid" => query.filter(departments_table::external_id.eq(value)),
                    "id" => match Uuid::try_parse(&value) {
                        Ok(id) => query.filter(departments_table::id.eq(DbId(id))),
                        Err(_) => query.filter(departments_table::id.ne(departments_table::id)),
                    },
                    other => return Err(scim::unfilterable(other).into()),
                };
            }
            Ok(query)
        };
        let total: i64 = matching()?.count().get_result(conn)?;
        let ids: Vec<DbId> = matching()?
            .select(departments_table::id)
            .order(departments_table::id.asc())
            .offset(start - 1)
            .limit(count)
            .load(conn)?;
        let items = ids
            .into_iter()
            .map(|id| {
                let department = departments::get(conn, id.into())?;
                scim_group(conn, client, department)
            })
            .collect::<Result<_, _>>()?;
        Ok(Window { items, total })
    })
}

/// Moves `client`'s users into or out of `department_id` until its members are `members`: a user
/// belongs to one department, so joining this one leaves any other. Members who are not the
/// client's stay where they are. Each move is audited.
fn set_members(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    department_id: Uuid,
    members: &[Uuid],
) -> Result<(), PersistenceError> {
    let current: Vec<Uuid> = users_table::table
        .filter(users_table::department_id.eq(DbId(department_id)))
        .filter(users_table::deprovisioned_at.is_null())
        .filter(users_table::scim_client_id.eq(DbId(client.id)))
        .select(users_table::id)
        .load::<DbId>(conn)?
        .into_iter()
        .map(Uuid::from)
        .collect();
    let leaving = current.iter().filter(|id| !members.contains(id));
    let joining = members.iter().filter(|id| !current.contains(id));
    let moves: Vec<(Uuid, Option<Uuid>)> = leaving
        .map(|id| (*id, None))
        .chain(joining.map(|id| (*id, Some(department_id))))
        .collect();
    for (id, department) in moves {
        let before = provisioned_user(conn, client, id).map_err(|error| match error {
            PersistenceError::NotFound => scim::unknown_member(id).into(),
            other => other,
        })?;
        let after = User {
            department_id: department,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        let user = events::account_changed(conn, now, &before, &after)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.updated", "user")
                .on(id)
                .with(json!({
                    "before": users::audit_view(&before),
                    "after": users::audit_view(&user),
                    "via": client.via(),
                })),
        )?;
    }
    Ok(())
}

fn set_group_external_id(
    conn: &mut Conn,
    id: Uuid,
    external_id: Option<&str>,
) -> Result<(), PersistenceError> {
    diesel::update(departments_table::table.find(DbId(id)))
        .set(departments_table::external_id.eq(external_id))
        .execute(conn)?;
    Ok(())
}

/// Creates a department as the provider describes it. Its code, which people may change in
/// Dangan afterwards, is made from its id.
pub fn create_group(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    provisioned: ProvisionedGroup,
) -> Result<ScimGroup, PersistenceError> {
    write_transaction(conn, |conn| {
        check_group(&provisioned)?;
        let id = Uuid::now_v7();
        let department = departments::insert(
            conn,
            Department {
                id,
                code: format!("scim-{}", id.simple()),
                name: provisioned.display_name.clone(),
                parent_id: None,
                head_user_id: None,
                created_at: now,
                updated_at: now,
                version: 1,
            },
        )?;
        set_group_external_id(conn, id, provisioned.external_id.as_deref())?;
        diesel::update(departments_table::table.find(DbId(id)))
            .set(departments_table::scim_client_id.eq(Some(DbId(client.id))))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("department.created", "department")
                .on(id)
                .with(json!({
                    "department": departments::audit_view(&department),
                    "via": client.via(),
                })),
        )?;
        set_members(conn, now, client, id, &provisioned.members)?;
        scim_group(conn, client, department)
    })
}

fn check_group(group: &ProvisionedGroup) -> Result<(), PersistenceError> {
    let errors = group.check();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(PersistenceError::Invalid(errors))
    }
}

fn store_group(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    before: Department,
    provisioned: &ProvisionedGroup,
) -> Result<ScimGroup, PersistenceError> {
    check_group(provisioned)?;
    let after = Department {
        name: provisioned.display_name.clone(),
        updated_at: now,
        version: before.version + 1,
        ..before.clone()
    };
    let department = departments::store_change(conn, &before, &after)?;
    set_group_external_id(conn, department.id, provisioned.external_id.as_deref())?;
    events::record(
        conn,
        now,
        NewAuditEvent::new("department.updated", "department")
            .on(department.id)
            .with(json!({
                "before": departments::audit_view(&before),
                "after": departments::audit_view(&department),
                "via": client.via(),
            })),
    )?;
    set_members(conn, now, client, department.id, &provisioned.members)?;
    scim_group(conn, client, department)
}

/// Replaces a department's name, external id and members (PUT).
pub fn replace_group(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    id: Uuid,
    provisioned: ProvisionedGroup,
) -> Result<ScimGroup, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = provisioned_department(conn, client, id)?;
        store_group(conn, now, client, before, &provisioned)
    })
}

/// Applies PATCH operations to a department and its members.
pub fn patch_group(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    id: Uuid,
    operations: &[PatchOperation],
) -> Result<ScimGroup, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = provisioned_department(conn, client, id)?;
        let current = scim_group(conn, client, before.clone())?;
        let provisioned = ProvisionedGroup {
            display_name: current.department.name.clone(),
            external_id: current.external_id.clone(),
            members: current.members.iter().map(|(id, _)| *id).collect(),
        }
        .patched(operations)?;
        store_group(conn, now, client, before, &provisioned)
    })
}

/// Deletes a department as provisioning sees it: its members leave it and it disappears from
/// SCIM; the department stays in Dangan for the archives, policies and history naming it.
pub fn delete_group(
    conn: &mut Conn,
    now: OffsetDateTime,
    client: &ScimClient,
    id: Uuid,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        provisioned_department(conn, client, id)?;
        set_members(conn, now, client, id, &[])?;
        diesel::update(departments_table::table.find(DbId(id)))
            .set(departments_table::deprovisioned_at.eq(to_db_time(now)))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("department.deprovisioned", "department")
                .on(id)
                .with(client.via()),
        )?;
        Ok(())
    })
}
