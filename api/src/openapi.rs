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
        routes::me::me,
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
        routes::archives::create,
        routes::archives::list,
        routes::archives::get,
        routes::archives::by_barcode,
        routes::archives::update,
        routes::archives::retire,
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
        routes::loans::renew,
        routes::loans::approve_renewal,
        routes::loans::reject_renewal,
        routes::loans::take_back,
        routes::loans::confirm_return,
        routes::loans::report_lost,
        routes::delegations::create,
        routes::delegations::list,
        routes::delegations::remove,
        routes::forms::list,
        routes::forms::create,
        routes::forms::replace,
        routes::forms::remove,
        routes::audit::list,
        routes::audit::verify,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &Anonymous, &IdempotencyKey, &CommonErrors, &ProblemJson, &CreatedLocation),
    security(("bearer" = [])),
    tags(
        (name = "system", description = "Health, readiness, metrics, docs"),
        (name = "auth", description = "Login, refresh, logout"),
        (name = "me", description = "The caller and their notifications"),
        (name = "departments", description = "The organisation tree (admin)"),
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
/// malformed query or JSON, 415 and 422 for a body that is not JSON or does not fit its schema,
/// 422 for a `limit` out of range, and what an `Idempotency-Key` can answer (400, 409, 422).
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
            let pages = parameters.iter().any(|p| p.name == "limit");
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
                add("415", "The body is not application/json");
                add("422", "Fields missing, of the wrong type, or invalid");
            }
            if pages {
                add(
                    "422",
                    "`limit` outside 1..=500 or another invalid parameter",
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
                .schema(Some(utoipa::openapi::schema::Object::with_type(
                    utoipa::openapi::schema::Type::String,
                )))
                .example(Some(serde_json::json!("3f0c9a52-checkout-0042")))
                .build();
            post.parameters.get_or_insert_with(Vec::new).push(parameter);
        }
    }
}

/// The document as YAML, exactly what `openapi.yaml` holds.
pub fn yaml() -> Result<String, String> {
    ApiDoc::openapi().to_yaml().map_err(|e| e.to_string())
}
