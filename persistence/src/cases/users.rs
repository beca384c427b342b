//! Users: create, list, change authority, deactivate, import — each one transaction with its
//! audit event; what an account change causes is `events::account_changed`'s.

use dangan_domain::{
    audit::NewAuditEvent,
    user::{check_authority_change, DepartmentRef, Roles, UserFields, UserImport},
    Classification, Role, UserStatus,
};
use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::users::{
    audit_view, get, insert, other_active_admins, recounted, NewUser, User, UserRow,
};
use crate::{
    db::write_transaction,
    events,
    import::{ImportCounts, ImportMode, ImportOutcome, ImportRequest, ImportRow, RowError, CHUNK},
    schema::{departments as departments_table, users},
    sql_types::DbId,
    store::{
        departments,
        rollups::{self, Hold},
    },
    Conn, Page, PageRequest, PersistenceError,
};

/// Creates a user on behalf of `actor_id` (none for the command line).
pub fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Option<Uuid>,
    new: NewUser,
) -> Result<User, PersistenceError> {
    write_transaction(conn, |conn| {
        let user = insert(conn, now, new)?;
        events::record(
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
                fields: UserFields {
                    username: "admin".into(),
                    display_name: "Administrator".into(),
                    department_id: None,
                    roles: [Role::Admin].into_iter().collect(),
                    clearance: Classification::TopSecret,
                    email: None,
                    phone: None,
                },
                password_hash,
            },
        )?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.bootstrapped", "user")
                .on(admin.id)
                .with(audit_view(&admin)),
        )?;
        Ok(true)
    })
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
        let current = before.fields();
        let fields = UserFields {
            display_name: patch.display_name.unwrap_or(current.display_name),
            department_id: patch.department_id.unwrap_or(current.department_id),
            roles: patch.roles.unwrap_or(current.roles),
            clearance: patch.clearance.unwrap_or(current.clearance),
            email: patch.email.unwrap_or(current.email),
            phone: patch.phone.unwrap_or(current.phone),
            username: current.username,
        };
        let errors = fields.check();
        if !errors.is_empty() {
            return Err(PersistenceError::Invalid(errors));
        }
        if let Some(department_id) = fields
            .department_id
            .filter(|d| Some(*d) != before.department_id)
        {
            departments::ensure_exists(conn, department_id, "department_id")?;
        }
        let after = before.changed(fields, now);
        let others = other_active_admins(conn, id)?;
        check_authority_change(
            actor_id == id,
            &before.authority(),
            &after.authority(),
            others,
        )?;
        let user = events::account_changed(conn, now, &before, &after)?;
        events::record(
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
        let user = events::account_changed(conn, now, &before, &after)?;
        // Disabled by an admin: no provider's provisioning lets them in again.
        diesel::update(users::table.find(DbId(id)))
            .set(users::disabled_by_admin.eq(true))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.deactivated", "user")
                .by(Some(actor_id))
                .on(id),
        )?;
        Ok(user)
    })
}

/// Enables a disabled user again (an admin's decision, which provisioning cannot make for a
/// user an admin disabled). Enabling an active user changes nothing.
pub fn activate(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
) -> Result<User, PersistenceError> {
    write_transaction(conn, |conn| {
        let before = get(conn, id)?;
        diesel::update(users::table.find(DbId(id)))
            .set(users::disabled_by_admin.eq(false))
            .execute(conn)?;
        if before.status == UserStatus::Active {
            return Ok(before);
        }
        let after = User {
            status: UserStatus::Active,
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        let user = events::account_changed(conn, now, &before, &after)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.activated", "user")
                .by(Some(actor_id))
                .on(id),
        )?;
        Ok(user)
    })
}

/// A row of a user import, its password already hashed where it had one.
#[derive(Debug, Clone)]
pub struct UserImportRow {
    pub import: UserImport,
    pub password_hash: Option<String>,
}

fn departments_by_code(
    conn: &mut Conn,
    codes: &[String],
) -> Result<HashMap<String, Uuid>, PersistenceError> {
    let mut found = HashMap::new();
    for chunk in codes.chunks(CHUNK) {
        let rows = departments_table::table
            .filter(departments_table::code.eq_any(chunk))
            .select((departments_table::code, departments_table::id))
            .load::<(String, DbId)>(conn)?;
        found.extend(rows.into_iter().map(|(code, id)| (code, id.0)));
    }
    Ok(found)
}

fn users_by_username(
    conn: &mut Conn,
    keys: &[String],
) -> Result<HashMap<String, User>, PersistenceError> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let rows = users::table
            .filter(crate::lower(users::username).eq_any(chunk))
            .select(UserRow::as_select())
            .load::<UserRow>(conn)?;
        found.extend(rows.into_iter().map(|row| {
            let user = row.into_user();
            (user.username.to_lowercase(), user)
        }));
    }
    Ok(found)
}

/// What one checked row of a user import will do.
enum Planned {
    Create(NewUser),
    Update {
        before: Box<User>,
        after: Box<User>,
        password_hash: Option<String>,
    },
    Unchanged,
}

/// Creates and updates users (keyed by username, any case) all-or-nothing, under the same rules
/// as one by one: valid fields, existing departments, a password for every new user, nobody
/// raising their own authority, and an active admin left at the end.
pub fn import(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    rows: Vec<ImportRow<UserImportRow>>,
    request: &ImportRequest,
) -> Result<ImportOutcome, PersistenceError> {
    write_transaction(conn, |conn| {
        let mut errors = Vec::new();
        let mut first: HashMap<String, i64> = HashMap::new();
        for r in &rows {
            let key = r.fields.import.fields.username.to_lowercase();
            if let Some(row) = first.get(&key) {
                errors.push(RowError::new(
                    r.row,
                    "username",
                    format!("repeats row {row}"),
                ));
            } else {
                first.insert(key, r.row);
            }
        }
        let keys: Vec<String> = first.keys().cloned().collect();
        let existing = users_by_username(conn, &keys)?;
        let mut codes: Vec<String> = rows
            .iter()
            .filter_map(|r| match &r.fields.import.department {
                Some(DepartmentRef::Code(code)) => Some(code.clone()),
                _ => None,
            })
            .collect();
        codes.sort();
        codes.dedup();
        let by_code = departments_by_code(conn, &codes)?;
        let mut ids: Vec<Uuid> = rows
            .iter()
            .filter_map(|r| match &r.fields.import.department {
                Some(DepartmentRef::Id(id)) => Some(*id),
                _ => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        let mut known_ids = HashSet::new();
        for id in ids {
            if departments::ensure_exists(conn, id, "department_id").is_ok() {
                known_ids.insert(id);
            }
        }

        let mut plans = Vec::new();
        for r in rows {
            let UserImportRow {
                import,
                password_hash,
            } = r.fields;
            let mut fields = import.fields;
            fields.department_id = match import.department {
                None => None,
                Some(DepartmentRef::Id(id)) if known_ids.contains(&id) => Some(id),
                Some(DepartmentRef::Code(code)) if by_code.contains_key(&code) => {
                    by_code.get(&code).copied()
                }
                Some(DepartmentRef::Id(_)) => {
                    errors.push(RowError::new(r.row, "department_id", "does not exist"));
                    None
                }
                Some(DepartmentRef::Code(code)) => {
                    errors.push(RowError::new(
                        r.row,
                        "department_code",
                        format!("no department has code {code:?}"),
                    ));
                    None
                }
            };
            let plan = match existing.get(&fields.username.to_lowercase()) {
                None => match password_hash {
                    Some(password_hash) => Planned::Create(NewUser {
                        fields,
                        password_hash,
                    }),
                    None => {
                        errors.push(RowError::new(
                            r.row,
                            "password",
                            "is required for a new user",
                        ));
                        continue;
                    }
                },
                Some(_) if request.mode == ImportMode::Insert => {
                    errors.push(RowError::new(
                        r.row,
                        "username",
                        "already exists (mode=insert)",
                    ));
                    continue;
                }
                Some(before) => {
                    // The stored spelling of a username stays; the key matched regardless of case.
                    fields.username = before.username.clone();
                    if before.fields() == fields && password_hash.is_none() {
                        Planned::Unchanged
                    } else {
                        Planned::Update {
                            before: Box::new(before.clone()),
                            after: Box::new(before.changed(fields, now)),
                            password_hash,
                        }
                    }
                }
            };
            plans.push((r.row, plan));
        }

        // The active admins once the whole import is applied, to judge each demotion against.
        let mut admins: HashSet<Uuid> = users::table
            .filter(users::status.eq(UserStatus::Active.as_str()))
            .filter(users::roles.like("%,admin,%"))
            .select(users::id)
            .load::<DbId>(conn)?
            .into_iter()
            .map(Uuid::from)
            .collect();
        for (_, plan) in &plans {
            if let Planned::Update { after, .. } = plan {
                if after.authority().is_active_admin() {
                    admins.insert(after.id);
                } else {
                    admins.remove(&after.id);
                }
            }
        }
        let new_admins = plans
            .iter()
            .filter(
                |(_, p)| matches!(p, Planned::Create(n) if n.fields.roles.contains(&Role::Admin)),
            )
            .count();
        for (row, plan) in &plans {
            if let Planned::Update { before, after, .. } = plan {
                let others = admins.iter().filter(|id| **id != before.id).count() + new_admins;
                let others = i64::try_from(others).unwrap_or(i64::MAX);
                if let Err(e) = check_authority_change(
                    actor_id == before.id,
                    &before.authority(),
                    &after.authority(),
                    others,
                ) {
                    errors.push(RowError::new(*row, "roles", e.to_string()));
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| a.row.cmp(&b.row).then_with(|| a.field.cmp(&b.field)));
            return Ok(ImportOutcome::Refused(errors));
        }
        let mut counts = ImportCounts::default();
        for (_, plan) in &plans {
            match plan {
                Planned::Create(_) => counts.created += 1,
                Planned::Update { .. } => counts.updated += 1,
                Planned::Unchanged => counts.unchanged += 1,
            }
        }
        if request.dry_run {
            return Ok(ImportOutcome::Done(counts));
        }
        let moves = plans.iter().any(|(_, plan)| {
            matches!(plan, Planned::Update { before, after, .. } if recounted(before, after))
        });
        if moves {
            rollups::hold(conn, Hold::Dimensions)?;
        }
        for (_, plan) in plans {
            match plan {
                Planned::Create(new) => {
                    insert(conn, now, new)?;
                }
                Planned::Update {
                    before,
                    after,
                    password_hash,
                } => {
                    events::account_changed(conn, now, &before, &after)?;
                    if let Some(hash) = password_hash {
                        diesel::update(users::table.find(DbId(after.id)))
                            .set(users::password_hash.eq(hash))
                            .execute(conn)?;
                        crate::store::sessions::revoke_sessions_of(
                            conn,
                            now,
                            after.id,
                            "password_changed",
                        )?;
                    }
                }
                Planned::Unchanged => {}
            }
        }
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.imported", "user")
                .by(Some(actor_id))
                .with(json!({
                    "created": counts.created,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                    "format": request.format,
                    "sha256": request.payload_sha256,
                })),
        )?;
        Ok(ImportOutcome::Done(counts))
    })
}
