//! Users, for admins: create, list, read, change, deactivate.

use actix_web::{delete, get, http::header, patch, post, web, HttpResponse};
use dangan_domain::{
    access::Capability,
    user::{check_password, UserFields},
    Classification, Role, UserStatus,
};
use dangan_persistence::{
    cases::{
        identities,
        users::{self, UserFilter, UserPatch},
    },
    store::{
        self, loans,
        users::{NewUser, User},
    },
    Conflict, PersistenceError,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::{self, CurrentUser},
    dto::{loans::LoanDto, users::UserDto},
    error::{ApiError, ErrorCode, Problem},
    extract::{etag, IfMatch, ValidJson},
    routes::{created, uuid_cursor, Paging},
    serde_util::double_option,
    state::{blocking, AppState},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserDto>,
    pub next_cursor: Option<String>,
}

/// A deactivated user and the loans they still have to hand back.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeactivatedUser {
    #[serde(flatten)]
    pub user: UserDto,
    /// The loans they still have out, within your clearance.
    pub open_loans: Vec<LoanDto>,
    /// How many more loans they have out of archives above your clearance: someone cleared
    /// must take those back.
    pub withheld_open_loans: usize,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "username": "zhangsan", "display_name": "张三", "password": "correct horse battery",
    "department_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b00", "roles": ["archivist"], "clearance": "secret",
    "email": "zhangsan@example.org"
}))]
/// A new user. Usernames are 2 to 64 characters without spaces, unique in any case; passwords
/// 8 to 128 characters.
pub struct CreateUserRequest {
    #[schema(
        min_length = 2,
        max_length = 64,
        pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]+$"
    )]
    pub username: String,
    #[schema(max_length = 100, pattern = "\\S")]
    pub display_name: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    pub department_id: Uuid,
    #[serde(default)]
    #[schema(max_items = 5)]
    pub roles: Vec<Role>,
    pub clearance: Classification,
    #[schema(max_length = 254, format = Email)]
    pub email: Option<String>,
    #[schema(max_length = 32)]
    pub phone: Option<String>,
}

/// Fields to change; absent fields stay, `null` clears `department_id`, `email` or `phone`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"roles": ["archivist", "auditor"], "clearance": "confidential"}))]
pub struct UpdateUserRequest {
    #[schema(max_length = 100, pattern = "\\S")]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub department_id: Option<Option<Uuid>>,
    #[schema(max_items = 5)]
    pub roles: Option<Vec<Role>>,
    pub clearance: Option<Classification>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 254, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 32)]
    pub phone: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserQuery {
    /// Part of the username or display name, any case.
    pub q: Option<String>,
    pub department_id: Option<Uuid>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

fn user_response(status: actix_web::http::StatusCode, user: User) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(user.version)))
        .json(UserDto::from(user))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", operation_id = "createUser", tag = "users", request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 409, description = "`duplicate_username`", body = Problem),
        (status = 415, description = "Not JSON", body = Problem),
        (status = 422, description = "Invalid fields, or the department does not exist", body = Problem),
    ))]
#[post("/users")]
pub async fn create(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ValidJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let request = body.accept()?;
    let fields = UserFields {
        username: request.username.trim().to_owned(),
        display_name: request.display_name.trim().to_owned(),
        department_id: Some(request.department_id),
        roles: request.roles.into_iter().collect(),
        clearance: request.clearance,
        email: request.email,
        phone: request.phone,
    };
    let mut errors = fields.check();
    errors.extend(check_password(&request.password));
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let password = request.password;
    let password_hash = blocking(move || auth::hash_password(&password)).await?;
    let new = NewUser {
        fields,
        password_hash,
    };
    let now = state.clock.now();
    let actor = caller.id();
    let user = state
        .db(move |conn| users::create(conn, now, Some(actor), new))
        .await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok(created(
        user_response(actix_web::http::StatusCode::CREATED, user),
        location,
    ))
}

/// List users, newest first.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "listUsers", tag = "users", params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad query", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
#[get("/users")]
pub async fn list(
    state: web::Data<AppState>,
    caller: CurrentUser,
    query: web::Query<UserQuery>,
) -> Result<web::Json<UserList>, ApiError> {
    caller.require(Capability::Administer)?;
    let query = query.into_inner();
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request(uuid_cursor)?;
    let filter = UserFilter {
        q: query.q,
        department_id: query.department_id,
        role: query.role,
        status: query.status,
    };
    let page = state
        .db(move |conn| users::list(conn, &filter, &page))
        .await?;
    Ok(web::Json(UserList {
        items: page.items.into_iter().map(UserDto::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// Read a user.
#[utoipa::path(get, path = "/api/v1/users/{id}", operation_id = "getUser", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user, with its ETag", body = UserDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
    ))]
#[get("/users/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let id = id.into_inner();
    let user = state.db(move |conn| store::users::get(conn, id)).await?;
    Ok(user_response(actix_web::http::StatusCode::OK, user))
}

/// Change a user's roles, clearance, department, contact details or display name.
/// Nobody may raise their own roles or clearance; the last active admin keeps `admin`.
#[utoipa::path(patch, path = "/api/v1/users/{id}", operation_id = "updateUser", tag = "users", request_body = UpdateUserRequest,
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the user changed since"),
    ),
    responses(
        (status = 401, description = "No valid token", body = Problem),
        (status = 200, description = "The changed user", body = UserDto),
        (status = 403, description = "Not an admin, or `self_elevation`", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "`last_admin`", body = Problem),
        (status = 412, description = "`precondition_failed`: changed since read", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[patch("/users/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let request = body.accept()?;
    let patch = UserPatch {
        display_name: request.display_name,
        department_id: request.department_id,
        roles: request.roles.map(|roles| roles.into_iter().collect()),
        clearance: request.clearance,
        email: request.email,
        phone: request.phone,
    };
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let user = state
        .db(move |conn| users::update(conn, now, actor, id, patch, if_match.0))
        .await?;
    Ok(user_response(actix_web::http::StatusCode::OK, user))
}

/// Disable a user: every token of theirs stops working at once.
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", operation_id = "deactivateUser", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 401, description = "No valid token", body = Problem),
        (status = 200, description = "The disabled user and the loans still to be handed back", body = DeactivatedUser),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "`last_admin`", body = Problem),
    ))]
#[post("/users/{id}/deactivate")]
pub async fn deactivate(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<DeactivatedUser>, ApiError> {
    caller.require(Capability::Administer)?;
    let (now, actor, id) = (state.clock.now(), caller.principal(), id.into_inner());
    let (user, (open_loans, withheld)) = state
        .db(move |conn| {
            let user = users::deactivate(conn, now, actor.id, id)?;
            Ok((user, loans::open_of(conn, &actor, id)?))
        })
        .await?;
    Ok(web::Json(DeactivatedUser {
        user: user.into(),
        open_loans: open_loans
            .into_iter()
            .map(|l| LoanDto::new(l, now))
            .collect(),
        withheld_open_loans: withheld,
    }))
}

/// Enable a disabled user again.
///
/// The only way back for a user an admin disabled: no identity provider's provisioning enables
/// them. Enabling an active user changes nothing.
#[utoipa::path(post, path = "/api/v1/users/{id}/activate", operation_id = "activateUser", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user, active", body = UserDto),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
    ))]
#[post("/users/{id}/activate")]
pub async fn activate(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let user = state
        .db(move |conn| users::activate(conn, now, actor, id))
        .await?;
    Ok(user_response(actix_web::http::StatusCode::OK, user))
}

/// Turn off a user's Dangan password: they sign in with the organisation's provider only.
///
/// Their open logins end, as at any change of password. Refused for a user no provider has
/// signed in yet (`no_other_sign_in`): they would have no way in. To turn passwords off for
/// everyone, set `DANGAN_PASSWORD_LOGIN=false`.
#[utoipa::path(delete, path = "/api/v1/users/{id}/password", operation_id = "removeUserPassword", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "The password is gone"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "`no_other_sign_in`: no provider has signed this user in", body = Problem,
            example = json!({"type": "urn:dangan:problem:no_other_sign_in", "title": "The user has no other way to sign in", "status": 409, "detail": "no provider has signed this user in yet: without a password they would have no way in", "code": "no_other_sign_in"})),
    ))]
#[delete("/users/{id}/password")]
pub async fn remove_password(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (now, actor_id, id) = (state.clock.now(), caller.id(), id.into_inner());
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        identities::remove_password(&mut conn, now, actor_id, id)
    })
    .await?
    .map_err(|e| match e {
        PersistenceError::Conflict(Conflict::NoOtherSignIn) => ApiError::new(
            ErrorCode::NoOtherSignIn,
            "no provider has signed this user in yet: without a password they would have no way in",
        ),
        other => other.into(),
    })?;
    Ok(HttpResponse::NoContent().finish())
}

/// A provider's identity linked to a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedIdentityDto {
    /// What `DELETE /users/{id}/sign-in/identities/{identity_id}` names.
    pub id: Uuid,
    /// The provider's name in Dangan's configuration.
    pub provider: String,
    pub issuer: String,
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_sign_in_at: OffsetDateTime,
}

/// How a user can sign in.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "password": false,
    "identities": [{"provider": "staff", "issuer": "https://sso.example.cn/realms/staff",
        "subject": "f3c1…", "created_at": "2026-12-01T08:00:00Z", "last_sign_in_at": "2026-12-01T09:30:00Z",
        "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c11"}],
    "links": []
}))]
pub struct SignInMethods {
    /// Whether the user has a Dangan password (`DELETE /users/{id}/password` removes it).
    pub password: bool,
    /// The organisation's providers that have signed them in, oldest first.
    #[schema(max_items = 100)]
    pub identities: Vec<LinkedIdentityDto>,
    /// Sign-in links an admin issued that wait to be completed.
    #[schema(max_items = 100)]
    pub links: Vec<SignInLinkDto>,
}

/// A sign-in link waiting to be completed (its code is shown once, when it is issued).
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInLinkDto {
    pub id: Uuid,
    /// The provider it is completed at.
    pub provider: String,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<identities::SignInLink> for SignInLinkDto {
    fn from(l: identities::SignInLink) -> Self {
        SignInLinkDto {
            id: l.id,
            provider: l.provider,
            created_by: l.created_by,
            created_at: l.created_at,
            expires_at: l.expires_at,
        }
    }
}

/// Which provider a sign-in link is for.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"provider": "staff"}))]
pub struct IssueLinkRequest {
    /// The configured provider's name; default the first.
    #[schema(max_length = 64)]
    pub provider: Option<String>,
}

/// A sign-in link, issued: the only time its code is shown.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2f01", "provider": "staff",
    "created_by": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2b01", "created_at": "2026-12-06T08:00:00Z",
    "expires_at": "2026-12-09T08:00:00Z", "code": "dsl_7c1e…",
    "login_path": "/api/v1/auth/oidc/login?provider=staff&link=dsl_7c1e…"
}))]
pub struct IssuedSignInLink {
    #[serde(flatten)]
    pub link: SignInLinkDto,
    /// One-time: whoever signs in at the provider with it becomes this user there.
    pub code: String,
    /// Where the person starts (add the front end's `redirect_uri`).
    pub login_path: String,
}

/// How long an admin's sign-in link waits to be completed.
const LINK_TTL: time::Duration = time::Duration::days(3);

/// Issue a one-time sign-in link for a user.
///
/// A first sign-in takes over a local user by itself only where provisioning made them and
/// nobody added to them since (no roles, no Dangan password, no linked identity). Everyone else
/// is linked this way: the admin hands the person the link; whoever completes it by signing in
/// at the provider becomes this user there. Valid three days, once; audited; revocable.
#[utoipa::path(post, path = "/api/v1/users/{id}/sign-in/link", operation_id = "issueSignInLink", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = IssueLinkRequest,
    responses(
        (status = 201, description = "Issued; the code is in this answer only", body = IssuedSignInLink),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user, or no such provider", body = Problem),
        (status = 409, description = "`identity_exists`: the user has an identity from this provider", body = Problem),
    ))]
#[post("/users/{id}/sign-in/link")]
pub async fn issue_sign_in_link(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
    body: ValidJson<IssueLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let asked = body.accept()?.provider;
    let provider = state.oidc.find(asked.as_deref())?;
    let (name, issuer) = (provider.config.name.clone(), provider.config.issuer.clone());
    let code = format!("dsl_{}", auth::random_secret());
    let code_hash = auth::hash_token(&code);
    let (now, actor, id) = (state.clock.now(), caller.id(), id.into_inner());
    let link = state
        .db(move |conn| {
            identities::issue_link(
                conn,
                now,
                actor,
                id,
                &name,
                &issuer,
                &code_hash,
                now + LINK_TTL,
            )
        })
        .await?;
    let login_path = format!(
        "/api/v1/auth/oidc/login?provider={}&link={code}",
        link.provider
    );
    Ok(HttpResponse::Created().json(IssuedSignInLink {
        link: link.into(),
        code,
        login_path,
    }))
}

/// Revoke a sign-in link not yet completed.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sign-in/link/{link_id}", operation_id = "revokeSignInLink", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), ("link_id" = Uuid, Path, description = "Link id")),
    responses(
        (status = 204, description = "Revoked (or already spent or revoked)"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such link of this user", body = Problem),
    ))]
#[delete("/users/{id}/sign-in/link/{link_id}")]
pub async fn revoke_sign_in_link(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (id, link_id) = path.into_inner();
    let (now, actor) = (state.clock.now(), caller.id());
    state
        .db(move |conn| identities::revoke_link(conn, now, actor, id, link_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unlink a provider's identity from a user: it signs nobody in until linked again.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sign-in/identities/{identity_id}", operation_id = "unlinkIdentity", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), ("identity_id" = Uuid, Path, description = "Identity id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such identity of this user", body = Problem),
    ))]
#[delete("/users/{id}/sign-in/identities/{identity_id}")]
pub async fn unlink_identity(
    state: web::Data<AppState>,
    caller: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Capability::Administer)?;
    let (id, identity_id) = path.into_inner();
    let (now, actor) = (state.clock.now(), caller.id());
    state
        .db(move |conn| identities::unlink_identity(conn, now, actor, id, identity_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How a user can sign in: a Dangan password, and which providers' identities (admin).
#[utoipa::path(get, path = "/api/v1/users/{id}/sign-in", operation_id = "getUserSignIn", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Their password and linked identities", body = SignInMethods),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
    ))]
#[get("/users/{id}/sign-in")]
pub async fn sign_in_methods(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<SignInMethods>, ApiError> {
    caller.require(Capability::Administer)?;
    let id = id.into_inner();
    let now = state.clock.now();
    let (password, linked, links) = state
        .db(move |conn| identities::sign_in_methods(conn, now, id))
        .await?;
    Ok(web::Json(SignInMethods {
        password,
        identities: linked
            .into_iter()
            .map(|l| LinkedIdentityDto {
                id: l.id,
                provider: l.provider,
                issuer: l.issuer,
                subject: l.subject,
                created_at: l.created_at,
                last_sign_in_at: l.last_sign_in_at,
            })
            .collect(),
        links: links.into_iter().map(SignInLinkDto::from).collect(),
    }))
}
