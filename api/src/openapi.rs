//! The OpenAPI document, generated from the handlers and types; `dangan openapi` prints it.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::{error::Problem, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dangan (档案) API",
        description = "Archive lending: request → approval → check-out → signed receipt → return → audit. \
            Errors are RFC 9457 problem details with a stable `code`."
    ),
    paths(
        routes::system::healthz,
        routes::system::readyz,
        routes::system::metrics,
        routes::system::docs,
        routes::auth::login,
        routes::auth::refresh,
        routes::auth::logout,
        routes::oidc::login,
        routes::oidc::callback,
        routes::oidc::token,
        routes::me::me,
        routes::scim_clients::create,
        routes::scim_clients::list,
        routes::scim_clients::revoke,
        routes::scim_clients::hand_over,
        routes::webhooks::create,
        routes::webhooks::list,
        routes::webhooks::remove,
        routes::webhooks::deliveries,
        routes::reports::summary,
        routes::reports::loans,
        routes::reports::overdue,
        routes::reports::compliance,
        routes::me::list_notifications,
        routes::me::read_notification,
        routes::me::read_all_notifications,
        routes::archive_room::create_fonds,
        routes::archive_room::list_fonds,
        routes::archive_room::get_fonds,
        routes::archive_room::update_fonds,
        routes::archive_room::create_category,
        routes::archive_room::list_categories,
        routes::archive_room::get_category,
        routes::archive_room::update_category,
        routes::archive_room::retention_due,
        routes::locations::create,
        routes::locations::list,
        routes::locations::by_barcode,
        routes::locations::get,
        routes::locations::update,
        routes::locations::move_archives,
        routes::departments::create,
        routes::departments::list,
        routes::departments::get,
        routes::departments::update,
        routes::imports::import_users,
        routes::users::create,
        routes::users::list,
        routes::users::get,
        routes::users::update,
        routes::users::deactivate,
        routes::users::activate,
        routes::users::remove_password,
        routes::users::sign_in_methods,
        routes::users::issue_sign_in_link,
        routes::users::revoke_sign_in_link,
        routes::users::unlink_identity,
        routes::archives::create,
        routes::archives::list,
        routes::archives::get,
        routes::archives::by_barcode,
        routes::archives::update,
        routes::archives::retire,
        routes::files::upload,
        routes::files::list,
        routes::files::read,
        routes::files::retire,
        routes::loans::archive_history,
        routes::imports::import_archives,
        routes::policies::list,
        routes::policies::resolve,
        routes::policies::get,
        routes::policies::create,
        routes::policies::replace,
        routes::policies::remove,
        routes::requests::create,
        routes::requests::list,
        routes::requests::get,
        routes::requests::withdraw,
        routes::requests::approvals,
        routes::requests::approve,
        routes::requests::reject,
        routes::loans::check_out,
        routes::loans::list,
        routes::loans::list_mine,
        routes::loans::get,
        routes::loans::sign,
        routes::loans::voucher,
        routes::loans::find_voucher,
        routes::loans::renew,
        routes::loans::approve_renewal,
        routes::loans::reject_renewal,
        routes::loans::take_back,
        routes::photos::read,
        routes::loans::confirm_return,
        routes::loans::report_lost,
        routes::online::read,
        routes::online::copies,
        routes::online::trace,
        routes::online::identify,
        routes::online::give_back,
        routes::online::revoke,
        routes::delegations::create,
        routes::delegations::list,
        routes::delegations::remove,
        routes::forms::list,
        routes::forms::create,
        routes::forms::replace,
        routes::forms::remove,
        routes::audit::list,
        routes::audit::verify,
        routes::audit::checkpoint,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &Anonymous, &IdempotencyKey, &Paging, &CommonErrors, &ProblemJson, &CreatedLocation, &Links),
    security(("bearer" = [])),
    tags(
        (name = "system", description = "Health, readiness, metrics, docs"),
        (name = "auth", description = "Login, refresh, logout"),
        (name = "me", description = "The caller and their notifications"),
        (name = "departments", description = "The organisation tree (admin)"),
        (name = "archive-room", description = "Fonds (全宗), categories (门类) with their 档号 rules (DA/T 13-2022), and the shelves"),
        (name = "users", description = "Users, roles and clearance (admin)"),
        (name = "archives", description = "The catalogue: read within clearance, written by archivists"),
        (name = "policies", description = "Loan policies and the approval chains they give"),
        (name = "form-fields", description = "Custom fields of the request form (admin)"),
        (name = "requests", description = "Loan requests: ask, read the approval timeline, withdraw"),
        (name = "approvals", description = "Approval tasks: approve or reject the current step"),
        (name = "delegations", description = "Handing one's approval tasks to a colleague for a time"),
        (name = "circulation", description = "Check-out by barcode, the signed receipt, renewals, returns"),
        (name = "audit", description = "The hash-chained audit trail (auditor, admin)"),
        (name = "webhooks", description = "Signed event deliveries to other systems (admin)"),
        (name = "reports", description = "Figures, loans grouped (JSON or CSV), overdue list, compliance of sensitive loans"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /api/v1/auth/login`, valid 15 minutes. \
                         Handled as RFC8725 (JWT Best Current Practices) advises: the algorithm \
                         is pinned (HS256), never read from the token; `iss`, `aud`, `exp`, \
                         `iat` and `sub` are required and checked; the header's `typ` is \
                         `at+jwt`, so no other kind of token is taken for an access token; a \
                         token dies with its login (logout, refresh reuse, deactivation).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every operation of the document.
fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// Operations anyone may call are written `security(())` in the handlers, which utoipa renders
/// as `[{}]` ("authentication optional"); generated clients then demand a token to log in. No
/// requirement at all is `[]`.
struct Anonymous;

impl Modify for Anonymous {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let optional = serde_json::json!([{}]);
        for operation in operations_mut(openapi) {
            let anyone = operation
                .security
                .as_ref()
                .is_some_and(|s| serde_json::to_value(s).ok().as_ref() == Some(&optional));
            if anyone {
                operation.security = Some(Vec::new());
            }
        }
    }
}

/// Error bodies are written as `body = Problem` in the handlers; what the server sends is
/// `application/problem+json`, so the document says that.
struct ProblemJson;

impl Modify for ProblemJson {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for operation in operations_mut(openapi) {
            for (status, response) in operation.responses.responses.iter_mut() {
                let utoipa::openapi::RefOr::T(response) = response else {
                    continue;
                };
                if status.starts_with(['4', '5']) {
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response
                            .content
                            .insert("application/problem+json".into(), content);
                    }
                }
            }
        }
    }
}

/// The errors the extractors answer for any operation, whatever its handler says: 400 for a
/// malformed query or JSON, 413, 415 and 422 for a body too large, not JSON or not fitting its schema,
/// 422 for a query parameter outside its schema (`crate::shape::check_query`), and what an
/// `Idempotency-Key` can answer (400, 409, 422).
/// Each is added where the handler did not document it already.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{content::Content, response::ResponseBuilder, Ref, RefOr};
        let problem = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("Problem"))),
                    )
                    .build(),
            )
        };
        for operation in operations_mut(openapi) {
            let parameters = operation.parameters.as_deref().unwrap_or_default();
            let has_query = parameters
                .iter()
                .any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query);
            let idempotent = parameters.iter().any(|p| p.name == "Idempotency-Key");
            let json_body = operation
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description));
            };
            if has_query || json_body {
                add("400", "Malformed query or JSON");
            }
            if json_body {
                add("413", "The body is larger than this endpoint accepts");
                add("415", "The body is not application/json");
                add("422", "Fields missing, of the wrong type, or invalid");
            }
            if has_query {
                add(
                    "422",
                    "A query parameter outside its documented bounds, format or values",
                );
            }
            if idempotent {
                add("400", "A malformed `Idempotency-Key`");
                add(
                    "409",
                    "`idempotency_in_progress`: the first request with this key still runs",
                );
                add(
                    "422",
                    "`idempotency_key_reused`: the key came with another request",
                );
            }
        }
    }
}

/// Every 201 carries the `Location` of what it created (`routes::created`).
struct CreatedLocation;

impl Modify for CreatedLocation {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            header::HeaderBuilder,
            schema::{Object, Type},
        };
        for operation in operations_mut(openapi) {
            let Some(utoipa::openapi::RefOr::T(response)) =
                operation.responses.responses.get_mut("201")
            else {
                continue;
            };
            let location = HeaderBuilder::new()
                .schema(Object::with_type(Type::String))
                .description(Some("The path of the created resource"))
                .build();
            response.headers.insert("Location".into(), location);
        }
    }
}

/// Every list's `limit` states its range, the one `crate::shape::check_query` enforces.
struct Paging;

impl Modify for Paging {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type},
            RefOr,
        };
        for operation in operations_mut(openapi) {
            for parameter in operation.parameters.iter_mut().flatten() {
                if parameter.name == "limit" {
                    parameter.schema = Some(RefOr::T(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                            .minimum(Some(1))
                            .maximum(Some(routes::MAX_LIMIT))
                            .into(),
                    ));
                }
            }
        }
    }
}

/// Free text without a bound of its own (a form field's option, a delegation's note).
pub const DEFAULT_MAX_TEXT: u64 = 10_000;
/// Arrays without a bound of their own; lists are paged well below it.
pub const DEFAULT_MAX_ITEMS: u64 = 10_000;
/// Free text of a path or query parameter: a URL stays well within what a server reads.
pub const DEFAULT_MAX_PARAMETER: u64 = 256;

/// Writes bounds into every string, integer and array schema that states none of its own: what
/// the storage and the formats allow. Request bodies and queries are checked against the
/// document (`crate::shape`), so a bound written here is enforced as written, and no response
/// carries a value a request could not have set.
fn bound(value: &mut serde_json::Value, max_text: u64) {
    use serde_json::{json, Value};
    match value {
        Value::Object(schema) => {
            let types: Vec<String> = match schema.get("type") {
                Some(Value::String(t)) => vec![t.clone()],
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            let parameter = schema.contains_key("in");
            let is_schema = !parameter && !schema.contains_key("content");
            let fixed = schema.contains_key("enum") || schema.contains_key("const");
            let unbounded = !schema.contains_key("maxLength");
            if is_schema && types.iter().any(|t| t == "string") && !fixed && unbounded {
                let max = match schema.get("format").and_then(Value::as_str) {
                    Some("uuid") => 36,
                    Some("date") => 10,
                    Some("date-time") => 64,
                    _ => max_text,
                };
                schema.insert("maxLength".into(), json!(max));
            }
            if is_schema && types.iter().any(|t| t == "integer") {
                let format = schema
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or("int64")
                    .to_owned();
                let (min, max) = match format.as_str() {
                    "int32" => (i64::from(i32::MIN), i64::from(i32::MAX)),
                    _ => (i64::MIN, i64::MAX),
                };
                schema.entry("format").or_insert_with(|| json!(format));
                schema.entry("minimum").or_insert_with(|| json!(min));
                schema.entry("maximum").or_insert_with(|| json!(max));
            }
            if is_schema && types.iter().any(|t| t == "array") && !schema.contains_key("maxItems") {
                schema.insert("maxItems".into(), json!(DEFAULT_MAX_ITEMS));
            }
            let inner = if parameter {
                DEFAULT_MAX_PARAMETER
            } else {
                max_text
            };
            for (key, child) in schema.iter_mut() {
                // Examples are data, not schemas.
                if key != "example" && key != "examples" {
                    bound(child, inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| bound(item, max_text)),
        _ => {}
    }
}

/// Each create links to what can be done with what it created: every operation on the path its
/// `Location` names, with `id` taken from the body (OpenAPI links; generated clients and
/// stateful testers follow them).
struct Links;

/// Creates whose resource lives under another collection: a check-out makes a loan.
const CREATED_ELSEWHERE: [(&str, &str); 1] = [("/api/v1/checkouts", "/api/v1/loans")];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{link::LinkBuilder, path::HttpMethod, RefOr};
        // The path parameter that names a resource (`id`, or a category's `code`) and the
        // collection it lives in, for a path of the resource or of an action on it.
        fn named(segment: &str) -> Option<&str> {
            segment.strip_prefix('{')?.strip_suffix('}')
        }
        fn own_resource(path: &str) -> Option<(&str, &str)> {
            let (base, last) = path.rsplit_once('/')?;
            if let Some(parameter) = named(last) {
                return Some((base, parameter));
            }
            let (outer, resource) = base.rsplit_once('/')?;
            Some((outer, named(resource)?))
        }
        let mut targets: Vec<(String, String, String)> = Vec::new();
        for (path, item) in &openapi.paths.paths {
            for (method, operation) in [
                (HttpMethod::Get, &item.get),
                (HttpMethod::Put, &item.put),
                (HttpMethod::Patch, &item.patch),
                (HttpMethod::Delete, &item.delete),
                (HttpMethod::Post, &item.post),
            ] {
                let (Some(operation), Some((rest, parameter))) = (operation, own_resource(path))
                else {
                    continue;
                };
                // Only operations whose one path parameter is the created resource's.
                if path.matches('{').count() != 1
                    || method == HttpMethod::Post && path.ends_with('}')
                {
                    continue;
                }
                if let Some(id) = &operation.operation_id {
                    targets.push((rest.to_owned(), id.clone(), parameter.to_owned()));
                }
            }
        }
        // Creates under another resource (an archive's files): every operation on the created
        // thing's own path, its new parameter taken from the body, the others from the request.
        let mut nested: Vec<(String, String, String)> = Vec::new();
        for (path, item) in &openapi.paths.paths {
            let Some((collection, last)) = path.rsplit_once('/') else {
                continue;
            };
            let Some(parameter) = last.strip_prefix('{').and_then(|l| l.strip_suffix('}')) else {
                continue;
            };
            if !collection.contains('{') {
                continue;
            }
            for operation in [&item.get, &item.put, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                if let Some(id) = &operation.operation_id {
                    nested.push((collection.to_owned(), id.clone(), parameter.to_owned()));
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some(post) = item.post.as_mut() else {
                continue;
            };
            let Some(RefOr::T(created)) = post.responses.responses.get_mut("201") else {
                continue;
            };
            let collection = CREATED_ELSEWHERE
                .iter()
                .find(|(create, _)| create == path)
                .map_or(path.as_str(), |(_, collection)| collection);
            for (_, operation_id, parameter) in
                targets.iter().filter(|(base, ..)| base == collection)
            {
                let link = LinkBuilder::new()
                    .operation_id(operation_id)
                    .parameter(parameter, format!("$response.body#/{parameter}"))
                    .build();
                created.links.insert(operation_id.clone(), RefOr::T(link));
            }
            for (operation_id, parameter) in nested
                .iter()
                .filter(|(p, ..)| p == path)
                .map(|(_, o, n)| (o, n))
            {
                let mut link = LinkBuilder::new()
                    .operation_id(operation_id)
                    .parameter(parameter, "$response.body#/id");
                for outer in path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                {
                    link = link.parameter(outer, format!("$request.path.{outer}"));
                }
                created
                    .links
                    .insert(operation_id.clone(), RefOr::T(link.build()));
            }
        }
    }
}

/// Every authenticated POST takes an `Idempotency-Key` (see `crate::idempotency`).
struct IdempotencyKey;

impl Modify for IdempotencyKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            path::{ParameterBuilder, ParameterIn},
            Required,
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some(post) = item.post.as_mut() else {
                continue;
            };
            if !path.starts_with("/api/v1/") || path.starts_with("/api/v1/auth/") {
                continue;
            }
            let parameter = ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Replays the first response (same status and body) for 24 hours; \
                     another request under the same key gets 422 `idempotency_key_reused`, \
                     a duplicate while the first still runs 409 `idempotency_in_progress`.",
                ))
                .schema(Some(
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String)
                        .min_length(Some(1))
                        .max_length(Some(crate::idempotency::MAX_KEY_LENGTH))
                        .pattern(Some("^[\\x21-\\x7E]+$")),
                ))
                .example(Some(serde_json::json!("3f0c9a52-checkout-0042")))
                .build();
            post.parameters.get_or_insert_with(Vec::new).push(parameter);
        }
    }
}

/// The document as served at `/api-docs/openapi.json` and committed as `openapi.yaml`: utoipa's,
/// with every bound written in (`bound`) and links spelled as OpenAPI spells them.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        bound(&mut document, DEFAULT_MAX_TEXT);
        spell_links(&mut document);
        document
    })
}

/// The document as JSON text, written once and shared by every worker (each worker holding its
/// own copy of the document cost megabytes of memory at idle).
pub fn document_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string(document()).unwrap_or_default())
}

/// utoipa 5.5 writes a link's fields in snake case (`operation_id`); OpenAPI's are camel case.
fn spell_links(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "links" {
                    for link in child
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|l| l.values_mut())
                    {
                        if let Some(fields) = link.as_object_mut() {
                            for (from, to) in [
                                ("operation_id", "operationId"),
                                ("operation_ref", "operationRef"),
                                ("request_body", "requestBody"),
                            ] {
                                if let Some(field) = fields.remove(from) {
                                    fields.insert(to.to_owned(), field);
                                }
                            }
                        }
                    }
                } else {
                    spell_links(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(spell_links),
        _ => {}
    }
}

/// The document as YAML, exactly what `openapi.yaml` holds: its sections in the order of the
/// specification, each sorted by key.
pub fn yaml() -> Result<String, String> {
    let document = document().as_object().cloned().unwrap_or_default();
    let order = [
        "openapi",
        "info",
        "servers",
        "security",
        "tags",
        "paths",
        "components",
    ];
    let mut sections = serde_norway::Mapping::new();
    let ordered = order.iter().filter_map(|key| document.get_key_value(*key));
    let rest = document
        .iter()
        .filter(|(key, _)| !order.contains(&key.as_str()));
    for (key, value) in ordered.chain(rest) {
        let value = serde_norway::to_value(value).map_err(|e| e.to_string())?;
        sections.insert(key.as_str().into(), value);
    }
    serde_norway::to_string(&sections).map_err(|e| e.to_string())
}
