//! Sign-in with the organisation's OpenID providers: the logins waiting for a provider's answer,
//! who each (issuer, subject) is in Dangan, and the one-time codes a front end trades for tokens.
//! Each use case is one transaction with its audit event, which names the provider and subject.

use dangan_domain::{
    audit::NewAuditEvent,
    sso::{FirstSignIn, LinkCandidate, LinkKey, Newcomer, SignInRules},
    FieldError, UserStatus,
};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::write_transaction,
    events, from_db_time,
    schema::{
        departments, oidc_codes, oidc_logins, sign_in_links, spent_id_tokens, user_identities,
        users as users_table,
    },
    sql_types::DbId,
    store::{
        sessions::{self, NewRefreshToken},
        users::{self, User, UserRow},
    },
    to_db_time, Conflict, Conn, PersistenceError,
};

/// A login sent to a provider, kept until its answer comes back to the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Dangan's own callback the provider was told to answer at: the code exchange names it again.
    pub callback_url: String,
    /// The front end's page (from the allow-list) the login ends at.
    pub redirect_uri: String,
    /// The front end's own `state`, handed back to it untouched.
    pub client_state: Option<String>,
    /// The admin-issued link this sign-in completes.
    pub link_id: Option<Uuid>,
    /// Made to prove again who someone is (`prompt=login`, `max_age=0`): its code signs a
    /// receipt only if the provider says the person signed in after `begun_at`.
    pub reauthentication: bool,
    pub begun_at: OffsetDateTime,
    /// Who asked for it, for the cap on logins waiting per address.
    pub address: String,
}

/// How many unauthenticated logins may wait for their provider's answer: each keeps a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    pub per_address: i64,
    pub total: i64,
}

impl Default for PendingLimits {
    /// A person has a few tabs; a campus behind one address some hundreds of people signing in
    /// within ten minutes. The total keeps a flood from many addresses to a bounded table.
    fn default() -> Self {
        PendingLimits {
            per_address: 50,
            total: 20_000,
        }
    }
}

/// Whether a login was kept to wait for its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    Kept,
    /// This address has `per_address` logins waiting already.
    TooManyFromAddress,
    /// `total` logins are waiting already.
    TooMany,
}

/// Keeps `login` under the hash of its `state` until `expires_at`, within `limits`; forgets
/// logins nobody finished.
pub fn begin_login(
    conn: &mut Conn,
    now: OffsetDateTime,
    state_hash: &str,
    login: &PendingLogin,
    expires_at: OffsetDateTime,
    limits: PendingLimits,
) -> Result<Waiting, PersistenceError> {
    write_transaction(conn, |conn| {
        diesel::delete(oidc_logins::table.filter(oidc_logins::expires_at.le(to_db_time(now))))
            .execute(conn)?;
        let from_address: i64 = oidc_logins::table
            .filter(oidc_logins::address.eq(&login.address))
            .count()
            .get_result(conn)?;
        if from_address >= limits.per_address {
            return Ok(Waiting::TooManyFromAddress);
        }
        let total: i64 = oidc_logins::table.count().get_result(conn)?;
        if total >= limits.total {
            return Ok(Waiting::TooMany);
        }
        diesel::insert_into(oidc_logins::table)
            .values((
                oidc_logins::state_hash.eq(state_hash),
                oidc_logins::provider.eq(&login.provider),
                oidc_logins::nonce.eq(&login.nonce),
                oidc_logins::pkce_verifier.eq(&login.pkce_verifier),
                oidc_logins::callback_url.eq(&login.callback_url),
                oidc_logins::redirect_uri.eq(&login.redirect_uri),
                oidc_logins::client_state.eq(&login.client_state),
                oidc_logins::expires_at.eq(to_db_time(expires_at)),
                oidc_logins::link_id.eq(login.link_id.map(DbId)),
                oidc_logins::reauthentication.eq(login.reauthentication),
                oidc_logins::begun_at.eq(Some(to_db_time(login.begun_at))),
                oidc_logins::address.eq(&login.address),
            ))
            .execute(conn)?;
        Ok(Waiting::Kept)
    })
}

/// A waiting login as its row holds it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = oidc_logins)]
struct PendingLoginRow {
    provider: String,
    nonce: String,
    pkce_verifier: String,
    callback_url: String,
    redirect_uri: String,
    client_state: Option<String>,
    link_id: Option<DbId>,
    reauthentication: bool,
    begun_at: Option<time::PrimitiveDateTime>,
    address: String,
}

impl PendingLoginRow {
    fn into_login(self, now: OffsetDateTime) -> PendingLogin {
        PendingLogin {
            provider: self.provider,
            nonce: self.nonce,
            pkce_verifier: self.pkce_verifier,
            callback_url: self.callback_url,
            redirect_uri: self.redirect_uri,
            client_state: self.client_state,
            link_id: self.link_id.map(Uuid::from),
            reauthentication: self.reauthentication,
            // Logins begun before the column existed began at most minutes ago; none of them
            // re-authenticates, so the value only has to be some time.
            begun_at: self.begun_at.map_or(now, from_db_time),
            address: self.address,
        }
    }
}

/// The login whose `state` hashes to `state_hash`, spent: a second answer with the same state
/// finds nothing, as does one after the login expired.
pub fn take_login(
    conn: &mut Conn,
    now: OffsetDateTime,
    state_hash: &str,
) -> Result<Option<PendingLogin>, PersistenceError> {
    write_transaction(conn, |conn| {
        let found = oidc_logins::table
            .find(state_hash)
            .filter(oidc_logins::expires_at.gt(to_db_time(now)))
            .select(PendingLoginRow::as_select())
            .first::<PendingLoginRow>(conn)
            .optional()?;
        diesel::delete(oidc_logins::table.find(state_hash)).execute(conn)?;
        Ok(found.map(|row| row.into_login(now)))
    })
}

/// A person as a provider knows them: `issuer` and `subject` together never change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's name in Dangan's configuration.
    pub provider: String,
    pub issuer: String,
    pub subject: String,
}

impl From<(String, String, String)> for Identity {
    /// An identity from its provider, issuer and subject, as rows hold them.
    fn from((provider, issuer, subject): (String, String, String)) -> Self {
        Identity {
            provider,
            issuer,
            subject,
        }
    }
}

impl Identity {
    fn audit_view(&self) -> serde_json::Value {
        json!({"provider": self.provider, "issuer": self.issuer, "subject": self.subject})
    }

    /// An event on `user_id` that names this identity as how it came about.
    fn event(&self, action: &'static str, user_id: Uuid) -> NewAuditEvent {
        NewAuditEvent::new(action, "user")
            .on(user_id)
            .with(json!({"via": {"oidc": self.audit_view()}}))
    }
}

/// How a sign-in ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SignIn {
    /// Signed in; with the login opened for `Then::Session`.
    Granted {
        user: User,
        session_id: Option<Uuid>,
    },
    /// Nobody in Dangan is this subject and the provider may not create users.
    NotProvisioned,
    /// The user exists but is disabled (or deprovisioned).
    Disabled,
    /// A new user would take a username a local user has, and the provider may not link it.
    UsernameTaken,
    /// The claims do not make a user (no username, or one that breaks the rules).
    Unusable(Vec<FieldError>),
    /// The admin's link was spent, revoked or expired meanwhile, or the identity is someone
    /// else's already, or the user has one from this issuer.
    LinkUnusable,
}

/// What a sign-in leads to.
#[derive(Debug, Clone)]
pub enum Then {
    /// A one-time code for the front end (the browser flow); `reauthentication` where the
    /// provider made the person sign in again for it (only such a code signs a receipt).
    Code {
        code_hash: String,
        expires_at: OffsetDateTime,
        reauthentication: bool,
    },
    /// A login with its first refresh token (an ID token exchanged by an app).
    Session {
        address: String,
        refresh: NewRefreshToken,
    },
}

/// A sign-in to carry out: who the provider says signed in, the user their claims would make,
/// the provider's rules, and what the sign-in leads to.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub identity: Identity,
    pub newcomer: Result<Newcomer, Vec<FieldError>>,
    pub rules: SignInRules,
    /// What names the local user this sign-in may be linked to, where the provider links.
    pub link_key: Option<LinkKey>,
    /// The admin-issued link the sign-in completes.
    pub link_id: Option<Uuid>,
    pub then: Then,
}

/// Signs the attempt's identity in: finds their user, or creates or links one under its rules
/// (from the newcomer its claims make); then issues what it leads to. Returns the session id
/// for `Then::Session`.
pub fn sign_in(
    conn: &mut Conn,
    now: OffsetDateTime,
    attempt: Attempt,
) -> Result<SignIn, PersistenceError> {
    match sign_in_once(conn, now, attempt.clone()) {
        // Two first sign-ins of one person at once (a double click, two tabs) both found no
        // user and both created one; the second lost at the unique index. Now it finds the
        // first one's.
        Err(PersistenceError::Conflict(
            Conflict::DuplicateUsername | Conflict::DuplicateIdentity,
        )) => sign_in_once(conn, now, attempt),
        other => other,
    }
}

fn sign_in_once(
    conn: &mut Conn,
    now: OffsetDateTime,
    Attempt {
        identity,
        newcomer,
        rules,
        link_key,
        link_id,
        then,
    }: Attempt,
) -> Result<SignIn, PersistenceError> {
    let identity = &identity;
    write_transaction(conn, |conn| {
        let found = match link_id {
            Some(link_id) => linked_by_admin(conn, now, identity, link_id)?,
            None => user_of(conn, now, identity, newcomer, rules, link_key.as_ref())?,
        };
        let (identity_id, user) = match found {
            Ok(found) => found,
            Err(refused) => {
                events::record(
                    conn,
                    now,
                    NewAuditEvent::new("auth.sso_refused", "user").with(json!({
                        "reason": refused.reason(),
                        "via": {"oidc": identity.audit_view()},
                    })),
                )?;
                return Ok(refused);
            }
        };
        if user.status != UserStatus::Active {
            events::record(
                conn,
                now,
                NewAuditEvent::new("auth.sso_refused", "user")
                    .on(user.id)
                    .with(json!({"reason": "disabled", "via": {"oidc": identity.audit_view()}})),
            )?;
            return Ok(SignIn::Disabled);
        }
        let session_id = match then {
            Then::Code {
                code_hash,
                expires_at,
                reauthentication,
            } => {
                diesel::delete(
                    oidc_codes::table.filter(oidc_codes::expires_at.le(to_db_time(now))),
                )
                .execute(conn)?;
                diesel::insert_into(oidc_codes::table)
                    .values((
                        oidc_codes::code_hash.eq(code_hash),
                        oidc_codes::identity_id.eq(DbId(identity_id)),
                        oidc_codes::expires_at.eq(to_db_time(expires_at)),
                        oidc_codes::reauthentication.eq(reauthentication),
                    ))
                    .execute(conn)?;
                None
            }
            Then::Session { address, refresh } => Some(open_session(
                conn, now, &user, identity, &address, &refresh,
            )?),
        };
        Ok(SignIn::Granted { user, session_id })
    })
}

impl SignIn {
    fn reason(&self) -> &'static str {
        match self {
            SignIn::Granted { .. } => "granted",
            SignIn::NotProvisioned => "not_provisioned",
            SignIn::Disabled => "disabled",
            SignIn::UsernameTaken => "username_taken",
            SignIn::Unusable(_) => "unusable_claims",
            SignIn::LinkUnusable => "link_unusable",
        }
    }
}

/// A login opened from a provider's sign-in, audited with the provider and subject.
fn open_session(
    conn: &mut Conn,
    now: OffsetDateTime,
    user: &User,
    identity: &Identity,
    address: &str,
    refresh: &NewRefreshToken,
) -> Result<Uuid, PersistenceError> {
    let session_id = sessions::open_session(conn, now, user.id, refresh)?;
    events::record(
        conn,
        now,
        NewAuditEvent::new("auth.login", "user")
            .by(Some(user.id))
            .on(user.id)
            .with(json!({
                "session_id": session_id,
                "address": address,
                "via": {"oidc": identity.audit_view()},
            })),
    )?;
    Ok(session_id)
}

type Found = Result<(Uuid, User), SignIn>;

/// The user an admin's link makes of the identity completing it: the link is spent, and the
/// identity linked to its user unless it is theirs already. Refused where the link is no longer
/// waiting, the identity is someone else's, or the user has another identity from this issuer.
fn linked_by_admin(
    conn: &mut Conn,
    now: OffsetDateTime,
    identity: &Identity,
    link_id: Uuid,
) -> Result<Found, PersistenceError> {
    let spent = diesel::update(
        sign_in_links::table
            .find(DbId(link_id))
            .filter(sign_in_links::used_at.is_null())
            .filter(sign_in_links::revoked_at.is_null())
            .filter(sign_in_links::expires_at.gt(to_db_time(now))),
    )
    .set(sign_in_links::used_at.eq(to_db_time(now)))
    .execute(conn)?;
    if spent == 0 {
        return Ok(Err(SignIn::LinkUnusable));
    }
    let user_id: DbId = sign_in_links::table
        .find(DbId(link_id))
        .select(sign_in_links::user_id)
        .first(conn)?;
    let known = user_identities::table
        .filter(user_identities::issuer.eq(&identity.issuer))
        .filter(user_identities::subject.eq(&identity.subject))
        .select((user_identities::id, user_identities::user_id))
        .first::<(DbId, DbId)>(conn)
        .optional()?;
    let identity_id = match known {
        Some((identity_id, owner)) if owner == user_id => identity_id.into(),
        Some(_) => return Ok(Err(SignIn::LinkUnusable)),
        None => {
            let from_issuer: i64 = user_identities::table
                .filter(user_identities::user_id.eq(user_id))
                .filter(user_identities::issuer.eq(&identity.issuer))
                .count()
                .get_result(conn)?;
            if from_issuer > 0 {
                return Ok(Err(SignIn::LinkUnusable));
            }
            let identity_id = insert_identity(conn, now, user_id.into(), identity)?;
            events::record(
                conn,
                now,
                NewAuditEvent::new("user.identity_linked", "user")
                    .on(Uuid::from(user_id))
                    .with(json!({"via": {"oidc": identity.audit_view(), "link_id": link_id}})),
            )?;
            identity_id
        }
    };
    diesel::update(user_identities::table.find(DbId(identity_id)))
        .set(user_identities::last_sign_in_at.eq(to_db_time(now)))
        .execute(conn)?;
    Ok(Ok((identity_id, users::get(conn, user_id.into())?)))
}

fn insert_identity(
    conn: &mut Conn,
    now: OffsetDateTime,
    user_id: Uuid,
    identity: &Identity,
) -> Result<Uuid, PersistenceError> {
    let identity_id = Uuid::now_v7();
    diesel::insert_into(user_identities::table)
        .values((
            user_identities::id.eq(DbId(identity_id)),
            user_identities::user_id.eq(DbId(user_id)),
            user_identities::provider.eq(&identity.provider),
            user_identities::issuer.eq(&identity.issuer),
            user_identities::subject.eq(&identity.subject),
            user_identities::created_at.eq(to_db_time(now)),
            user_identities::last_sign_in_at.eq(to_db_time(now)),
        ))
        .execute(conn)
        .map_err(|e| PersistenceError::on_unique(e, Conflict::DuplicateIdentity))?;
    Ok(identity_id)
}

/// The one user `key` names, present, and what the linking rule needs to know of them.
fn link_candidate(
    conn: &mut Conn,
    key: &LinkKey,
) -> Result<Option<(User, LinkCandidate)>, PersistenceError> {
    let present = users_table::table
        .filter(users_table::deprovisioned_at.is_null())
        .into_boxed();
    let named = match key {
        LinkKey::ExternalId(value) => present.filter(users_table::external_id.eq(value.clone())),
        LinkKey::Username(value) => present.filter(users_table::username.eq(value.clone())),
    };
    let mut rows = named
        .select((
            UserRow::as_select(),
            users_table::password_hash,
            users_table::scim_client_id.is_not_null(),
        ))
        .limit(2)
        .load::<(UserRow, String, bool)>(conn)?;
    // Two users with one external id (from two provisioning clients): neither is named.
    if rows.len() != 1 {
        return Ok(None);
    }
    let Some((row, password_hash, provisioned)) = rows.pop() else {
        return Ok(None);
    };
    let user = row.into_user();
    let identities: i64 = user_identities::table
        .filter(user_identities::user_id.eq(DbId(user.id)))
        .count()
        .get_result(conn)?;
    let candidate = LinkCandidate {
        provisioned,
        has_roles: !user.roles.is_empty(),
        has_password: users::has_password(&password_hash),
        has_identity: identities > 0,
    };
    Ok(Some((user, candidate)))
}

fn user_of(
    conn: &mut Conn,
    now: OffsetDateTime,
    identity: &Identity,
    newcomer: Result<Newcomer, Vec<FieldError>>,
    rules: SignInRules,
    link_key: Option<&LinkKey>,
) -> Result<Found, PersistenceError> {
    // The namesake is read before the identity: a first sign-in of the same person committing
    // meanwhile (PostgreSQL reads each statement at its own snapshot) then shows its identity
    // to the second read whenever it showed its user to the first.
    let namesake = match &newcomer {
        Ok(newcomer) => users::find_credentials(conn, &newcomer.fields.username)?.is_some(),
        Err(_) => false,
    };
    let candidate = match link_key {
        Some(key) => link_candidate(conn, key)?,
        None => None,
    };
    let known = user_identities::table
        .inner_join(users_table::table)
        .filter(user_identities::issuer.eq(&identity.issuer))
        .filter(user_identities::subject.eq(&identity.subject))
        .select((user_identities::id, UserRow::as_select()))
        .first::<(DbId, UserRow)>(conn)
        .optional()?;
    if let Some((identity_id, row)) = known {
        diesel::update(user_identities::table.find(identity_id))
            .set(user_identities::last_sign_in_at.eq(to_db_time(now)))
            .execute(conn)?;
        return Ok(Ok((identity_id.into(), row.into_user())));
    }
    if !rules.admits_newcomers() {
        return Ok(Err(SignIn::NotProvisioned));
    }
    let decided = rules.first_sign_in(candidate.as_ref().map(|(_, c)| *c), namesake);
    let (user, newcomer) = match (decided, candidate, newcomer) {
        (FirstSignIn::Link, Some((user, _)), newcomer) => (user, newcomer.ok()),
        (FirstSignIn::Create, _, Ok(newcomer)) => {
            (create(conn, now, newcomer.clone())?, Some(newcomer))
        }
        (FirstSignIn::Create, _, Err(errors)) => return Ok(Err(SignIn::Unusable(errors))),
        (FirstSignIn::UsernameTaken, _, _) => return Ok(Err(SignIn::UsernameTaken)),
        _ => return Ok(Err(SignIn::NotProvisioned)),
    };
    let linked = decided == FirstSignIn::Link;
    let identity_id = insert_identity(conn, now, user.id, identity)?;
    let event = match newcomer {
        Some(newcomer) if !linked => NewAuditEvent::new("user.provisioned", "user")
            .on(user.id)
            .with(json!({
                "user": users::audit_view(&user),
                "department_code": newcomer.department_code,
                "roles_refused": newcomer.roles_refused,
                "via": {"oidc": identity.audit_view()},
            })),
        _ => identity.event("user.identity_linked", user.id),
    };
    events::record(conn, now, event)?;
    Ok(Ok((identity_id, user)))
}

/// A user made from `newcomer`, in the department whose code the claims named if there is one.
fn create(
    conn: &mut Conn,
    now: OffsetDateTime,
    newcomer: Newcomer,
) -> Result<User, PersistenceError> {
    let mut fields = newcomer.fields;
    if let Some(code) = &newcomer.department_code {
        fields.department_id = departments::table
            .filter(departments::code.eq(code))
            .filter(departments::deprovisioned_at.is_null())
            .select(departments::id)
            .first::<DbId>(conn)
            .optional()?
            .map(Uuid::from);
    }
    users::insert(
        conn,
        now,
        users::NewUser {
            fields,
            password_hash: users::NO_PASSWORD.to_owned(),
        },
    )
}

/// How redeeming a one-time code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    Session {
        user_id: Uuid,
        session_id: Uuid,
    },
    /// Unknown, spent or expired, or its user was disabled meanwhile.
    Refused,
}

/// Spends the one-time code hashing to `code_hash` and opens its user's login.
pub fn redeem_code(
    conn: &mut Conn,
    now: OffsetDateTime,
    code_hash: &str,
    address: &str,
    refresh: NewRefreshToken,
) -> Result<Redeemed, PersistenceError> {
    write_transaction(conn, |conn| {
        let found = oidc_codes::table
            .find(code_hash)
            .filter(oidc_codes::expires_at.gt(to_db_time(now)))
            .inner_join(user_identities::table.inner_join(users_table::table))
            .select((
                user_identities::provider,
                user_identities::issuer,
                user_identities::subject,
                UserRow::as_select(),
            ))
            .first::<(String, String, String, UserRow)>(conn)
            .optional()?;
        diesel::delete(oidc_codes::table.find(code_hash)).execute(conn)?;
        let Some((provider, issuer, subject, row)) = found else {
            return Ok(Redeemed::Refused);
        };
        let user = row.into_user();
        if user.status != UserStatus::Active {
            return Ok(Redeemed::Refused);
        }
        let identity = Identity::from((provider, issuer, subject));
        let session_id = open_session(conn, now, &user, &identity, address, &refresh)?;
        Ok(Redeemed::Session {
            user_id: user.id,
            session_id,
        })
    })
}

/// Turns off `id`'s Dangan password: from now on they sign in only with a provider, and the
/// logins they have end (as at any change of password). Refused (`no_other_sign_in`) for a
/// user no provider has signed in yet, who would be left with no way in. Returns how many
/// logins ended.
pub fn remove_password(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    id: Uuid,
) -> Result<usize, PersistenceError> {
    write_transaction(conn, |conn| {
        let user = users::get(conn, id)?;
        let providers: Vec<String> = user_identities::table
            .filter(user_identities::user_id.eq(DbId(id)))
            .select(user_identities::provider)
            .load(conn)?;
        if providers.is_empty() {
            return Err(PersistenceError::Conflict(Conflict::NoOtherSignIn));
        }
        diesel::update(users_table::table.find(DbId(user.id)))
            .set(users_table::password_hash.eq(users::NO_PASSWORD))
            .execute(conn)?;
        let ended = sessions::revoke_sessions_of(conn, now, id, "password_removed")?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.password_removed", "user")
                .by(Some(actor_id))
                .on(id)
                .with(json!({"sessions_ended": ended, "providers": providers})),
        )?;
        Ok(ended)
    })
}

/// Spends the one-time code hashing to `code_hash` as proof that `user_id` has just signed in
/// again at their provider (to sign a receipt, to confirm a return), and audits it. False for a
/// code that is unknown, spent, expired or someone else's; it is spent all the same.
pub fn reauthenticate(
    conn: &mut Conn,
    now: OffsetDateTime,
    code_hash: &str,
    user_id: Uuid,
) -> Result<bool, PersistenceError> {
    write_transaction(conn, |conn| {
        let found = oidc_codes::table
            .find(code_hash)
            .filter(oidc_codes::expires_at.gt(to_db_time(now)))
            .filter(oidc_codes::reauthentication.eq(true))
            .inner_join(user_identities::table)
            .select((
                user_identities::user_id,
                user_identities::provider,
                user_identities::issuer,
                user_identities::subject,
            ))
            .first::<(DbId, String, String, String)>(conn)
            .optional()?;
        diesel::delete(oidc_codes::table.find(code_hash)).execute(conn)?;
        let Some((owner, provider, issuer, subject)) = found else {
            return Ok(false);
        };
        if Uuid::from(owner) != user_id {
            return Ok(false);
        }
        let identity = Identity::from((provider, issuer, subject));
        events::record(
            conn,
            now,
            identity
                .event("auth.reauthenticated", user_id)
                .by(Some(user_id)),
        )?;
        Ok(true)
    })
}

/// Spends an app's ID token (by `token_hash`, of its `jti` or of the whole token) for a token
/// exchange: false if it was spent already. Kept until `expires_at`, when the provider's own
/// expiry refuses it anyway. Two spending it at once: one of them meets the unique key
/// (`Conflict(Conflict::IdTokenSpent)`).
pub fn spend_id_token(
    conn: &mut Conn,
    now: OffsetDateTime,
    token_hash: &str,
    expires_at: OffsetDateTime,
) -> Result<bool, PersistenceError> {
    write_transaction(conn, |conn| {
        diesel::delete(
            spent_id_tokens::table.filter(spent_id_tokens::expires_at.le(to_db_time(now))),
        )
        .execute(conn)?;
        let spent: i64 = spent_id_tokens::table
            .find(token_hash)
            .count()
            .get_result(conn)?;
        if spent > 0 {
            return Ok(false);
        }
        diesel::insert_into(spent_id_tokens::table)
            .values((
                spent_id_tokens::token_hash.eq(token_hash),
                spent_id_tokens::expires_at.eq(to_db_time(expires_at)),
            ))
            .execute(conn)
            .map_err(|e| PersistenceError::on_unique(e, Conflict::IdTokenSpent))?;
        Ok(true)
    })
}

/// A provider's identity linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub id: Uuid,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub created_at: OffsetDateTime,
    pub last_sign_in_at: OffsetDateTime,
}

/// A link an admin issued for a user to complete by signing in at a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLink {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub created_by: Uuid,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

type LinkRow = (
    DbId,
    DbId,
    String,
    DbId,
    time::PrimitiveDateTime,
    time::PrimitiveDateTime,
);

fn link_of((id, user_id, provider, created_by, created_at, expires_at): LinkRow) -> SignInLink {
    SignInLink {
        id: id.into(),
        user_id: user_id.into(),
        provider,
        created_by: created_by.into(),
        created_at: from_db_time(created_at),
        expires_at: from_db_time(expires_at),
    }
}

/// Links still waiting to be completed: not spent, revoked or expired.
fn waiting_links(
    now: OffsetDateTime,
) -> sign_in_links::BoxedQuery<'static, crate::db::MultiBackend> {
    sign_in_links::table
        .filter(sign_in_links::used_at.is_null())
        .filter(sign_in_links::revoked_at.is_null())
        .filter(sign_in_links::expires_at.gt(to_db_time(now)))
        .into_boxed()
}

const LINK_COLUMNS: (
    sign_in_links::id,
    sign_in_links::user_id,
    sign_in_links::provider,
    sign_in_links::created_by,
    sign_in_links::created_at,
    sign_in_links::expires_at,
) = (
    sign_in_links::id,
    sign_in_links::user_id,
    sign_in_links::provider,
    sign_in_links::created_by,
    sign_in_links::created_at,
    sign_in_links::expires_at,
);

/// Issues a one-time link for user `user_id` to complete by signing in at `provider` (whose
/// issuer is `issuer`): whoever completes it becomes that user there, whatever the user holds,
/// so only an admin issues it. Refused (`identity_exists`) where the user already has an
/// identity from that issuer.
#[allow(clippy::too_many_arguments)]
pub fn issue_link(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    user_id: Uuid,
    provider: &str,
    issuer: &str,
    code_hash: &str,
    expires_at: OffsetDateTime,
) -> Result<SignInLink, PersistenceError> {
    write_transaction(conn, |conn| {
        users::get(conn, user_id)?;
        let linked: i64 = user_identities::table
            .filter(user_identities::user_id.eq(DbId(user_id)))
            .filter(user_identities::issuer.eq(issuer))
            .count()
            .get_result(conn)?;
        if linked > 0 {
            return Err(PersistenceError::Conflict(Conflict::IdentityExists));
        }
        let id = Uuid::now_v7();
        diesel::insert_into(sign_in_links::table)
            .values((
                sign_in_links::id.eq(DbId(id)),
                sign_in_links::user_id.eq(DbId(user_id)),
                sign_in_links::provider.eq(provider),
                sign_in_links::code_hash.eq(code_hash),
                sign_in_links::created_by.eq(DbId(actor_id)),
                sign_in_links::created_at.eq(to_db_time(now)),
                sign_in_links::expires_at.eq(to_db_time(expires_at)),
            ))
            .execute(conn)?;
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.sign_in_link_issued", "user")
                .by(Some(actor_id))
                .on(user_id)
                .with(json!({"link_id": id, "provider": provider, "expires_at": expires_at.unix_timestamp()})),
        )?;
        Ok(SignInLink {
            id,
            user_id,
            provider: provider.to_owned(),
            created_by: actor_id,
            created_at: now,
            expires_at,
        })
    })
}

/// Revokes a link of `user_id` not yet completed; revoking it again changes nothing.
pub fn revoke_link(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    user_id: Uuid,
    link_id: Uuid,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let revoked = diesel::update(
            sign_in_links::table
                .find(DbId(link_id))
                .filter(sign_in_links::user_id.eq(DbId(user_id)))
                .filter(sign_in_links::used_at.is_null())
                .filter(sign_in_links::revoked_at.is_null()),
        )
        .set(sign_in_links::revoked_at.eq(to_db_time(now)))
        .execute(conn)?;
        if revoked == 0 {
            let exists: i64 = sign_in_links::table
                .find(DbId(link_id))
                .filter(sign_in_links::user_id.eq(DbId(user_id)))
                .count()
                .get_result(conn)?;
            return if exists == 0 {
                Err(PersistenceError::NotFound)
            } else {
                Ok(())
            };
        }
        events::record(
            conn,
            now,
            NewAuditEvent::new("user.sign_in_link_revoked", "user")
                .by(Some(actor_id))
                .on(user_id)
                .with(json!({"link_id": link_id})),
        )
    })
}

/// The waiting link of `provider` whose code hashes to `code_hash`, for a login to carry.
pub fn waiting_link(
    conn: &mut Conn,
    now: OffsetDateTime,
    code_hash: &str,
    provider: &str,
) -> Result<Option<Uuid>, PersistenceError> {
    Ok(waiting_links(now)
        .filter(sign_in_links::code_hash.eq(code_hash.to_owned()))
        .filter(sign_in_links::provider.eq(provider.to_owned()))
        .select(sign_in_links::id)
        .first::<DbId>(conn)
        .optional()?
        .map(Uuid::from))
}

/// Unlinks a provider's identity from `user_id`: it signs nobody in until it is linked again.
/// Its unspent one-time codes go with it.
pub fn unlink_identity(
    conn: &mut Conn,
    now: OffsetDateTime,
    actor_id: Uuid,
    user_id: Uuid,
    identity_id: Uuid,
) -> Result<(), PersistenceError> {
    write_transaction(conn, |conn| {
        let (provider, issuer, subject) = user_identities::table
            .find(DbId(identity_id))
            .filter(user_identities::user_id.eq(DbId(user_id)))
            .select((
                user_identities::provider,
                user_identities::issuer,
                user_identities::subject,
            ))
            .first::<(String, String, String)>(conn)?;
        diesel::delete(oidc_codes::table.filter(oidc_codes::identity_id.eq(DbId(identity_id))))
            .execute(conn)?;
        diesel::delete(user_identities::table.find(DbId(identity_id))).execute(conn)?;
        let identity = Identity::from((provider, issuer, subject));
        events::record(
            conn,
            now,
            identity
                .event("user.identity_unlinked", user_id)
                .by(Some(actor_id)),
        )
    })
}

/// How user `id` can sign in: whether they have a Dangan password, the providers' identities
/// linked to them, oldest first, and the links an admin issued that wait to be completed.
pub fn sign_in_methods(
    conn: &mut Conn,
    now: OffsetDateTime,
    id: Uuid,
) -> Result<(bool, Vec<LinkedIdentity>, Vec<SignInLink>), PersistenceError> {
    crate::db::read_transaction(conn, |conn| {
        let (_, hash) = users::credentials_of(conn, id)?;
        let linked = user_identities::table
            .filter(user_identities::user_id.eq(DbId(id)))
            .order(user_identities::created_at)
            .select((
                user_identities::id,
                user_identities::provider,
                user_identities::issuer,
                user_identities::subject,
                user_identities::created_at,
                user_identities::last_sign_in_at,
            ))
            .load::<(
                DbId,
                String,
                String,
                String,
                time::PrimitiveDateTime,
                time::PrimitiveDateTime,
            )>(conn)?
            .into_iter()
            .map(
                |(identity_id, provider, issuer, subject, created_at, last_sign_in_at)| {
                    LinkedIdentity {
                        id: identity_id.into(),
                        provider,
                        issuer,
                        subject,
                        created_at: from_db_time(created_at),
                        last_sign_in_at: from_db_time(last_sign_in_at),
                    }
                },
            )
            .collect();
        let links = waiting_links(now)
            .filter(sign_in_links::user_id.eq(DbId(id)))
            .order(sign_in_links::id.asc())
            .select(LINK_COLUMNS)
            .load::<LinkRow>(conn)?
            .into_iter()
            .map(link_of)
            .collect();
        Ok((users::has_password(&hash), linked, links))
    })
}
