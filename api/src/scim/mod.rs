//! SCIM 2.0 provisioning (RFC 7643/7644) at `/scim/v2`, outside `/api/v1` as identity providers
//! expect: Users, Groups (departments), and the discovery documents that describe them. Its own
//! media type and error format; each client authenticates with a bearer token an admin created,
//! which opens nothing else. The published schemas (`schemas.json`) are the contract here, as the
//! OpenAPI document is for `/api/v1`: User and Group are Dangan's own, the three meta-schemas are
//! RFC 7643 §8.7.2's as scim2-models 0.12 writes them.

use std::{collections::HashMap, future::Future, pin::Pin, sync::OnceLock};

use actix_web::{
    dev::Payload,
    http::{header, StatusCode},
    web, FromRequest, HttpRequest, HttpResponse, ResponseError,
};
use dangan_domain::{
    scim::{
        self as rules, page_window, parse_filter, parse_patch, Filter, PatchOperation,
        ProvisionedGroup, ProvisionedUser, GROUP_SCHEMA, USER_SCHEMA,
    },
    DomainError,
};
use dangan_persistence::{
    cases::provisioning::{self, ScimClient, ScimGroup, ScimUser, Window},
    Conn, PersistenceError,
};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use uuid::Uuid;

use crate::{
    auth,
    error::{ApiError, ErrorCode},
    state::AppState,
};

pub const MEDIA_TYPE: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The most resources one list answer holds; a client pages with `startIndex` beyond it.
const MAX_RESULTS: i64 = 200;

/// An `ApiError` answered in SCIM's error format (RFC 7644 §3.12) instead of problem+json.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ScimFailure(#[from] ApiError);

impl ScimFailure {
    fn of(error: impl Into<ApiError>) -> ScimFailure {
        ScimFailure(error.into())
    }

    /// The status and `scimType` SCIM clients expect for this error.
    fn parts(&self) -> (StatusCode, Option<&'static str>) {
        let error = &self.0;
        let status = error.code.parts().0;
        match error.code {
            _ if error.scim_type.is_some() => (status, error.scim_type),
            ErrorCode::ValidationFailed => (StatusCode::BAD_REQUEST, Some("invalidValue")),
            ErrorCode::DuplicateUsername | ErrorCode::DuplicateCode => (status, Some("uniqueness")),
            ErrorCode::BadRequest => (status, Some("invalidSyntax")),
            _ => (status, None),
        }
    }

    fn detail(&self) -> String {
        match &self.0.errors {
            Some(fields) => fields
                .iter()
                .map(|(field, messages)| format!("{}: {}", scim_name(field), messages.join("; ")))
                .collect::<Vec<_>>()
                .join("; "),
            None => self.0.detail.clone(),
        }
    }
}

/// A Dangan field's name as SCIM calls it, for error messages.
fn scim_name(field: &str) -> &str {
    match field {
        "username" => "userName",
        "display_name" => "displayName",
        "email" => "emails",
        "phone" => "phoneNumbers",
        other => other,
    }
}

impl ResponseError for ScimFailure {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, scim_type) = self.parts();
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": self.detail(),
        });
        if let Some(scim_type) = scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = HttpResponse::build(status);
        response.content_type(MEDIA_TYPE);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"dangan-scim\""));
        }
        if let Some(secs) = self.0.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.body(body.to_string())
    }
}

type Answer = Result<HttpResponse, ScimFailure>;

/// The prefix of a provisioning client's token, so a leaked one is recognisable in logs and scans.
pub const TOKEN_PREFIX: &str = "dsc_";

/// The provisioning client whose bearer token the request carries.
pub struct Provisioner(pub ScimClient);

impl FromRequest for Provisioner {
    type Error = ScimFailure;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ScimFailure>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = auth::bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = presented.map_err(ScimFailure)?;
            let refused = || ApiError::unauthorized("not a valid SCIM client token");
            if !token.starts_with(TOKEN_PREFIX) {
                return Err(ScimFailure(refused()));
            }
            let hash = auth::hash_token(&token);
            let client = state
                .db(move |conn| provisioning::client_by_token(conn, &hash))
                .await?
                .ok_or_else(refused)?;
            Ok(Provisioner(client))
        })
    }
}

/// The address of `/scim/v2` as the client reached it, for each resource's `meta.location`.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/scim/v2", info.scheme(), info.host())
}

fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn user_resource(base: &str, scim: &ScimUser) -> Value {
    let user = &scim.user;
    let mut resource = json!({
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "userName": user.username,
        "displayName": user.display_name,
        "active": user.status == dangan_domain::UserStatus::Active,
        "meta": {
            "resourceType": "User",
            "created": timestamp(user.created_at),
            "lastModified": timestamp(user.updated_at),
            "location": format!("{base}/Users/{}", user.id),
            "version": format!("W/\"{}\"", user.version),
        },
    });
    if let Some(external_id) = &scim.external_id {
        resource["externalId"] = json!(external_id);
    }
    if let Some(email) = &user.email {
        resource["emails"] = json!([{"value": email}]);
    }
    if let Some(phone) = &user.phone {
        resource["phoneNumbers"] = json!([{"value": phone}]);
    }
    if let Some((id, name)) = &scim.group {
        resource["groups"] =
            json!([{"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name}]);
    }
    resource
}

fn group_resource(base: &str, scim: &ScimGroup) -> Value {
    let department = &scim.department;
    let mut resource = json!({
        "schemas": [GROUP_SCHEMA],
        "id": department.id,
        "displayName": department.name,
        "meta": {
            "resourceType": "Group",
            "created": timestamp(department.created_at),
            "lastModified": timestamp(department.updated_at),
            "location": format!("{base}/Groups/{}", department.id),
            "version": format!("W/\"{}\"", department.version),
        },
    });
    if let Some(external_id) = &scim.external_id {
        resource["externalId"] = json!(external_id);
    }
    if !scim.members.is_empty() {
        resource["members"] = scim
            .members
            .iter()
            .map(|(id, _)| json!({"value": id, "$ref": format!("{base}/Users/{id}")}))
            .collect();
    }
    resource
}

/// The `attributes` and `excludedAttributes` of a request (RFC 7644 §3.9), as top-level names.
#[derive(Debug, Default)]
struct Projection {
    attributes: Vec<String>,
    excluded: Vec<String>,
}

impl Projection {
    fn names(text: Option<&String>) -> Vec<String> {
        text.map(|t| {
            t.split(',')
                .filter_map(|name| rules::parse_path(name).ok())
                .map(|path| path.attribute)
                .collect()
        })
        .unwrap_or_default()
    }

    fn from_query(query: &HashMap<String, String>) -> Projection {
        Projection {
            attributes: Projection::names(query.get("attributes")),
            excluded: Projection::names(query.get("excludedAttributes")),
        }
    }

    /// `resource` with only the asked-for attributes; `id` and `schemas` are always returned.
    fn apply(&self, mut resource: Value) -> Value {
        if let Some(object) = resource.as_object_mut() {
            object.retain(|key, _| {
                let name = key.to_ascii_lowercase();
                if name == "id" || name == "schemas" {
                    return true;
                }
                if !self.attributes.is_empty() {
                    return self.attributes.contains(&name);
                }
                !self.excluded.contains(&name)
            });
        }
        resource
    }
}

fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(MEDIA_TYPE)
        .body(body.to_string())
}

fn resource_answer(status: StatusCode, resource: Value, location: bool) -> HttpResponse {
    let mut response = scim_json(status, &resource);
    if location {
        if let Some(Ok(value)) = resource["meta"]["location"]
            .as_str()
            .map(header::HeaderValue::from_str)
        {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    response
}

fn list_answer<T>(
    window: Window<T>,
    start: i64,
    render: impl Fn(&T) -> Value,
    projection: &Projection,
) -> HttpResponse {
    let resources: Vec<Value> = window
        .items
        .iter()
        .map(|item| projection.apply(render(item)))
        .collect();
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": window.total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// A JSON body, whatever the client called its type (`application/scim+json` or `application/json`).
fn body_json(body: &web::Bytes) -> Result<Value, ScimFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ScimFailure(ApiError {
            scim_type: Some("invalidSyntax"),
            ..ApiError::bad_request(format!("the body is not JSON: {e}"))
        })
    })
}

fn resource_id(id: &str) -> Result<Uuid, ScimFailure> {
    // An id that is no UUID names nothing here, as any unknown id does.
    Uuid::try_parse(id).map_err(|_| ScimFailure(ApiError::not_found()))
}

/// The window and filter of a list request.
struct ListQuery {
    filter: Option<rules::Filter>,
    start: i64,
    count: i64,
    projection: Projection,
}

impl ListQuery {
    fn read(query: &HashMap<String, String>) -> Result<ListQuery, ScimFailure> {
        let number = |name: &str| -> Result<Option<i64>, ScimFailure> {
            query
                .get(name)
                .map(|text| {
                    text.trim().parse::<i64>().map_err(|_| {
                        ScimFailure(ApiError {
                            scim_type: Some("invalidValue"),
                            ..ApiError::bad_request(format!("{name} must be an integer"))
                        })
                    })
                })
                .transpose()
        };
        let (start, count) = page_window(number("startIndex")?, number("count")?, MAX_RESULTS);
        Ok(ListQuery {
            filter: query
                .get("filter")
                .map(|f| parse_filter(f))
                .transpose()
                .map_err(ScimFailure::of)?,
            start,
            count,
            projection: Projection::from_query(query),
        })
    }
}

/// A kind of resource provisioning writes — users or departments — and where its rules and
/// storage are: the handlers below serve both.
trait Kind: 'static {
    type Item: Send + 'static;
    type Provisioned: Send + 'static;

    fn render(base: &str, item: &Self::Item) -> Value;
    fn read(body: &Value) -> Result<Self::Provisioned, DomainError>;
    fn find(
        conn: &mut Conn,
        client: &ScimClient,
        filter: Option<&Filter>,
        start: i64,
        count: i64,
    ) -> Stored<Window<Self::Item>>;
    fn get(conn: &mut Conn, client: &ScimClient, id: Uuid) -> Stored<Self::Item>;
    fn create(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        new: Self::Provisioned,
    ) -> Stored<Self::Item>;
    fn replace(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        id: Uuid,
        new: Self::Provisioned,
    ) -> Stored<Self::Item>;
    fn patch(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        id: Uuid,
        operations: &[PatchOperation],
    ) -> Stored<Self::Item>;
    fn delete(conn: &mut Conn, now: OffsetDateTime, client: &ScimClient, id: Uuid) -> Stored<()>;
}

type Stored<T> = Result<T, PersistenceError>;

struct Users;

impl Kind for Users {
    type Item = ScimUser;
    type Provisioned = ProvisionedUser;

    fn render(base: &str, item: &ScimUser) -> Value {
        user_resource(base, item)
    }
    fn read(body: &Value) -> Result<ProvisionedUser, DomainError> {
        ProvisionedUser::from_resource(body)
    }
    fn find(
        conn: &mut Conn,
        client: &ScimClient,
        filter: Option<&Filter>,
        start: i64,
        count: i64,
    ) -> Stored<Window<ScimUser>> {
        provisioning::find_users(conn, client, filter, start, count)
    }
    fn get(conn: &mut Conn, client: &ScimClient, id: Uuid) -> Stored<ScimUser> {
        provisioning::user(conn, client, id)
    }
    fn create(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        new: ProvisionedUser,
    ) -> Stored<ScimUser> {
        provisioning::create_user(conn, now, client, new)
    }
    fn replace(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        id: Uuid,
        new: ProvisionedUser,
    ) -> Stored<ScimUser> {
        provisioning::replace_user(conn, now, client, id, new)
    }
    fn patch(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        id: Uuid,
        operations: &[PatchOperation],
    ) -> Stored<ScimUser> {
        provisioning::patch_user(conn, now, client, id, operations)
    }
    fn delete(conn: &mut Conn, now: OffsetDateTime, client: &ScimClient, id: Uuid) -> Stored<()> {
        provisioning::delete_user(conn, now, client, id)
    }
}

struct Groups;

impl Kind for Groups {
    type Item = ScimGroup;
    type Provisioned = ProvisionedGroup;

    fn render(base: &str, item: &ScimGroup) -> Value {
        group_resource(base, item)
    }
    fn read(body: &Value) -> Result<ProvisionedGroup, DomainError> {
        ProvisionedGroup::from_resource(body)
    }
    fn find(
        conn: &mut Conn,
        client: &ScimClient,
        filter: Option<&Filter>,
        start: i64,
        count: i64,
    ) -> Stored<Window<ScimGroup>> {
        provisioning::find_groups(conn, client, filter, start, count)
    }
    fn get(conn: &mut Conn, client: &ScimClient, id: Uuid) -> Stored<ScimGroup> {
        provisioning::group(conn, client, id)
    }
    fn create(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        new: ProvisionedGroup,
    ) -> Stored<ScimGroup> {
        provisioning::create_group(conn, now, client, new)
    }
    fn replace(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        id: Uuid,
        new: ProvisionedGroup,
    ) -> Stored<ScimGroup> {
        provisioning::replace_group(conn, now, client, id, new)
    }
    fn patch(
        conn: &mut Conn,
        now: OffsetDateTime,
        client: &ScimClient,
        id: Uuid,
        operations: &[PatchOperation],
    ) -> Stored<ScimGroup> {
        provisioning::patch_group(conn, now, client, id, operations)
    }
    fn delete(conn: &mut Conn, now: OffsetDateTime, client: &ScimClient, id: Uuid) -> Stored<()> {
        provisioning::delete_group(conn, now, client, id)
    }
}

async fn list<K: Kind>(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Provisioner,
    query: web::Query<HashMap<String, String>>,
) -> Answer {
    let list = ListQuery::read(&query)?;
    let (filter, start, count) = (list.filter.clone(), list.start, list.count);
    let window = state
        .db(move |conn| K::find(conn, &client.0, filter.as_ref(), start, count))
        .await?;
    let base = base_url(&req);
    Ok(list_answer(
        window,
        start,
        |item| K::render(&base, item),
        &list.projection,
    ))
}

async fn create<K: Kind>(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Provisioner,
    body: web::Bytes,
) -> Answer {
    let new = K::read(&body_json(&body)?).map_err(ScimFailure::of)?;
    let now = state.clock.now();
    let item = state
        .db(move |conn| K::create(conn, now, &client.0, new))
        .await?;
    Ok(resource_answer(
        StatusCode::CREATED,
        K::render(&base_url(&req), &item),
        true,
    ))
}

async fn get<K: Kind>(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Provisioner,
    id: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Answer {
    let id = resource_id(&id)?;
    let item = state.db(move |conn| K::get(conn, &client.0, id)).await?;
    let resource = Projection::from_query(&query).apply(K::render(&base_url(&req), &item));
    Ok(resource_answer(StatusCode::OK, resource, false))
}

async fn replace<K: Kind>(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Provisioner,
    id: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let id = resource_id(&id)?;
    let new = K::read(&body_json(&body)?).map_err(ScimFailure::of)?;
    let now = state.clock.now();
    let item = state
        .db(move |conn| K::replace(conn, now, &client.0, id, new))
        .await?;
    Ok(resource_answer(
        StatusCode::OK,
        K::render(&base_url(&req), &item),
        false,
    ))
}

async fn patch<K: Kind>(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: Provisioner,
    id: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let id = resource_id(&id)?;
    let operations = parse_patch(&body_json(&body)?).map_err(ScimFailure::of)?;
    let now = state.clock.now();
    let item = state
        .db(move |conn| K::patch(conn, now, &client.0, id, &operations))
        .await?;
    Ok(resource_answer(
        StatusCode::OK,
        K::render(&base_url(&req), &item),
        false,
    ))
}

async fn delete<K: Kind>(
    state: web::Data<AppState>,
    client: Provisioner,
    id: web::Path<String>,
) -> Answer {
    let id = resource_id(&id)?;
    let now = state.clock.now();
    state
        .db(move |conn| K::delete(conn, now, &client.0, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `/<collection>` and `/<collection>/{id}` of a kind.
fn collection<K: Kind>(cfg: &mut web::ServiceConfig, path: &str) {
    cfg.service(
        web::resource(path)
            .route(web::get().to(list::<K>))
            .route(web::post().to(create::<K>))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(format!("{path}/{{id}}"))
            .route(web::get().to(get::<K>))
            .route(web::put().to(replace::<K>))
            .route(web::patch().to(patch::<K>))
            .route(web::delete().to(delete::<K>))
            .default_service(web::to(method_not_allowed)),
    );
}

/// The published schemas: User, Group and the three meta-schemas.
fn schemas() -> &'static [Value] {
    static SCHEMAS: OnceLock<Vec<Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        serde_json::from_str(include_str!("schemas.json")).unwrap_or_else(|e| {
            log::error!("the SCIM schemas do not parse: {e}");
            Vec::new()
        })
    })
}

fn with_meta(mut resource: Value, resource_type: &str, location: String) -> Value {
    resource["meta"] = json!({"resourceType": resource_type, "location": location});
    resource
}

fn schema_resources(base: &str) -> Vec<Value> {
    schemas()
        .iter()
        .map(|schema| {
            let id = schema["id"].as_str().unwrap_or_default();
            with_meta(schema.clone(), "Schema", format!("{base}/Schemas/{id}"))
        })
        .collect()
}

fn resource_types(base: &str) -> Vec<Value> {
    [
        (
            "User",
            "/Users",
            USER_SCHEMA,
            "Users: people who borrow archives",
        ),
        ("Group", "/Groups", GROUP_SCHEMA, "Groups: departments"),
    ]
    .into_iter()
    .map(|(id, endpoint, schema, description)| {
        with_meta(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": id,
                "name": id,
                "endpoint": endpoint,
                "description": description,
                "schema": schema,
            }),
            "ResourceType",
            format!("{base}/ResourceTypes/{id}"),
        )
    })
    .collect()
}

fn every(resources: Vec<Value>) -> HttpResponse {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": resources.len(),
            "startIndex": 1,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

fn one_of(resources: Vec<Value>, id: &str) -> Answer {
    resources
        .into_iter()
        .find(|r| r["id"] == id)
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| ScimFailure(ApiError::not_found()))
}

async fn list_schemas(req: HttpRequest) -> HttpResponse {
    every(schema_resources(&base_url(&req)))
}

async fn get_schema(req: HttpRequest, id: web::Path<String>) -> Answer {
    one_of(schema_resources(&base_url(&req)), &id)
}

async fn list_resource_types(req: HttpRequest) -> HttpResponse {
    every(resource_types(&base_url(&req)))
}

async fn get_resource_type(req: HttpRequest, id: web::Path<String>) -> Answer {
    one_of(resource_types(&base_url(&req)), &id)
}

async fn service_provider_config(req: HttpRequest) -> HttpResponse {
    let base = base_url(&req);
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://example.invalid/dangan#provisioning-with-scim",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token an admin creates at POST /api/v1/scim-clients; it opens /scim/v2 only.",
                "primary": true,
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
        }),
    )
}

async fn not_found() -> Answer {
    Err(ScimFailure(ApiError::new(
        ErrorCode::NotFound,
        "no such SCIM endpoint or resource",
    )))
}

async fn method_not_allowed() -> Answer {
    Err(ScimFailure(ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not served here",
    )))
}

async fn search_everything() -> Answer {
    Err(ScimFailure(ApiError::new(
        ErrorCode::NotImplemented,
        "searching several resource types at once is not supported; search /Users or /Groups",
    )))
}

/// A read-only discovery endpoint: GET answers, any other method is 405.
fn discovery(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(method_not_allowed))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
            .service(discovery(
                "/ServiceProviderConfig",
                web::get().to(service_provider_config),
            ))
            .service(discovery(
                "/ResourceTypes",
                web::get().to(list_resource_types),
            ))
            .service(discovery(
                "/ResourceTypes/{id}",
                web::get().to(get_resource_type),
            ))
            .service(discovery("/Schemas", web::get().to(list_schemas)))
            .service(discovery("/Schemas/{id}", web::get().to(get_schema)))
            .configure(|cfg| collection::<Users>(cfg, "/Users"))
            .configure(|cfg| collection::<Groups>(cfg, "/Groups"))
            .route("/.search", web::post().to(search_everything))
            .default_service(web::to(not_found)),
    );
}
