//! Checks a JSON body against the schema the OpenAPI document publishes for it, before serde
//! reads it: every missing required field and every value of the wrong type is reported at once,
//! each under its JSON path, in the document's own terms. serde stops at the first problem and
//! words it for Rust programmers; the document is what clients are built from, so it is also
//! what a body is checked against — one source, no drift.

use std::sync::OnceLock;

use crate::{error::FieldErrors, openapi::document};
use serde_json::{Map, Value};

/// The document's component schemas, as JSON, for resolving `$ref`s: borrowed from the
/// document, which lives as long as the process (a copy cost a megabyte).
fn components() -> &'static Map<String, Value> {
    static NONE: OnceLock<Map<String, Value>> = OnceLock::new();
    document()["components"]["schemas"]
        .as_object()
        .unwrap_or_else(|| NONE.get_or_init(Map::new))
}

/// How a query departs from the document: `malformed` values (not of the parameter's type,
/// enumeration, format or pattern: 400, as the contract has it) and values `outside` its
/// bounds (422).
#[derive(Debug, Default)]
pub struct QueryErrors {
    pub malformed: FieldErrors,
    pub outside: FieldErrors,
}

/// The keywords that bound a value rather than say what it is.
const BOUNDS: [&str; 6] = [
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];

/// Every documented query parameter of `method template` in `query` that breaks its schema. A
/// number that does not parse is left to the handler's extractor, which answers 400 as well.
pub fn query_errors(method: &str, template: &str, query: &str) -> QueryErrors {
    let mut errors = QueryErrors::default();
    let operation = &document()["paths"][template][method.to_ascii_lowercase()];
    let Some(parameters) = operation["parameters"].as_array() else {
        return errors;
    };
    let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(actix_web::web::Query::into_inner)
        .unwrap_or_default();
    for (name, raw) in pairs {
        let Some(schema) = parameters
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == name.as_str())
            .map(|p| &p["schema"])
        else {
            continue;
        };
        let allowed = types(schema).unwrap_or_default();
        let value = if allowed.contains(&"integer") {
            match raw.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => continue,
            }
        } else if allowed.contains(&"number") || allowed.contains(&"boolean") {
            continue;
        } else {
            // A string, or an enumeration (`$ref`, `oneOf` with null) of strings.
            Value::String(raw)
        };
        let mut what = schema.clone();
        if let Some(keywords) = what.as_object_mut() {
            keywords.retain(|key, _| !BOUNDS.contains(&key.as_str()));
        }
        check(&value, &what, &name, &mut errors.malformed, 0);
        if !errors.malformed.contains_key(&name) {
            check(&value, schema, &name, &mut errors.outside, 0);
        }
    }
    errors
}

/// Whether the document lets anyone call `method template` (`security: []`).
fn is_public(method: &str, template: &str) -> bool {
    document()["paths"][template][method.to_ascii_lowercase()]["security"]
        .as_array()
        .is_some_and(Vec::is_empty)
}

/// Answers 422 for a query that breaks what the document states of its parameters, before any
/// handler runs. A caller without a token learns nothing from it: the handler answers 401.
pub async fn check_query(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let template = crate::methods::template(req.method().as_str(), req.path());
    if let (Some(template), false) = (template, req.query_string().is_empty()) {
        let method = if req.method() == actix_web::http::Method::HEAD {
            "GET"
        } else {
            req.method().as_str()
        };
        let errors = query_errors(method, template, req.query_string());
        let refused = !errors.malformed.is_empty() || !errors.outside.is_empty();
        let signed = || crate::auth::AccessToken::signed(req.request()).is_some();
        if refused && (is_public(method, template) || signed()) {
            let error = if errors.malformed.is_empty() {
                crate::error::ApiError::validation(errors.outside)
            } else {
                let named: Vec<String> = errors
                    .malformed
                    .iter()
                    .map(|(name, messages)| format!("{name} {}", messages.join(", ")))
                    .collect();
                crate::error::ApiError::bad_request(format!("invalid query: {}", named.join("; ")))
            };
            return Ok(req.error_response(error).map_into_boxed_body());
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Every way `value` departs from the schema the document publishes for `T`; empty when it fits.
pub fn errors_of<T: utoipa::ToSchema>(value: &Value) -> FieldErrors {
    let own = || serde_json::to_value(T::schema()).unwrap_or_default();
    let schema = components()
        .get(T::name().as_ref())
        .cloned()
        .unwrap_or_else(own);
    let mut errors = FieldErrors::new();
    check(value, &schema, "", &mut errors, 0);
    errors
}

fn resolve(schema: &Value) -> Option<&Value> {
    let reference = schema.get("$ref")?.as_str()?;
    components().get(reference.strip_prefix("#/components/schemas/")?)
}

/// The JSON types a schema admits (`None`: any).
fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(list) => Some(list.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn admits(allowed: &[&str], value: &Value) -> bool {
    let actual = type_of(value);
    allowed.contains(&actual)
        || (actual == "integer" && allowed.contains(&"number"))
        || (actual == "number" && allowed.contains(&"integer") && is_whole(value))
}

/// JSON Schema counts `10.0` as an integer; `crate::extract` hands serde `10`.
fn is_whole(value: &Value) -> bool {
    value
        .as_f64()
        .is_some_and(|n| n.fract() == 0.0 && n.abs() < 9.0e15)
}

fn bound(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

/// The message for `n` outside `min..=max` (either may be absent), from templates for both
/// bounds, the lower only and the upper only; `None` within.
fn out_of_range(n: f64, min: Option<f64>, max: Option<f64>, words: [&str; 3]) -> Option<String> {
    if !(min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m)) {
        return None;
    }
    let template = match (min, max) {
        (Some(_), Some(_)) => words[0],
        (Some(_), None) => words[1],
        _ => words[2],
    };
    let show = |bound: Option<f64>| bound.map(|b| b.to_string()).unwrap_or_default();
    Some(
        template
            .replace("{min}", &show(min))
            .replace("{max}", &show(max)),
    )
}

/// `maxLength`/`minLength` (in characters), `format`, `pattern`, `minimum`/`maximum` and
/// `maxItems`/`minItems`: the limits the document states, enforced as stated.
fn check_bounds(value: &Value, schema: &Value, path: &str, errors: &mut FieldErrors) {
    let range = |n: f64, low: &str, high: &str, words| {
        out_of_range(n, bound(schema, low), bound(schema, high), words)
    };
    let message = match value {
        Value::String(text) => {
            if let Some(format) = schema.get("format").and_then(Value::as_str) {
                if !fits_format(format, text) {
                    let name = if format == "email" {
                        "e-mail address"
                    } else {
                        format
                    };
                    push(errors, path, format!("must be a {name}"));
                }
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                if !pattern_matches(pattern, text) {
                    push(errors, path, pattern_in_words(pattern));
                }
            }
            range(
                text.chars().count() as f64,
                "minLength",
                "maxLength",
                [
                    "must be {min} to {max} characters",
                    "must be at least {min} characters",
                    "must be at most {max} characters",
                ],
            )
        }
        Value::Number(n) => range(
            n.as_f64().unwrap_or_default(),
            "minimum",
            "maximum",
            [
                "must be between {min} and {max}",
                "must be at least {min}",
                "must be at most {max}",
            ],
        ),
        Value::Array(items) => range(
            items.len() as f64,
            "minItems",
            "maxItems",
            [
                "must list {min} to {max} items",
                "must list at least {min} items",
                "must list at most {max} items",
            ],
        ),
        _ => None,
    };
    if let Some(message) = message {
        push(errors, path, message);
    }
}

/// The formats the document uses for strings, in the spelling JSON Schema defines: a UUID
/// with hyphens, an RFC 3339 date-time, a full date.
fn fits_format(format: &str, text: &str) -> bool {
    match format {
        "uuid" => text.len() == 36 && uuid::Uuid::try_parse(text).is_ok(),
        "date-time" => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_ok()
        }
        "date" => time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok(),
        "email" => dangan_domain::user::is_email(text),
        _ => true,
    }
}

/// What a value breaking one of the document's patterns is told, in the words the domain uses
/// for the same rule; a pattern without words is quoted.
fn pattern_in_words(pattern: &str) -> String {
    match pattern {
        r"\S" => "is required".to_owned(),
        r"^[^\s\x00-\x1F\x7F-\x9F]+$" => "must not contain spaces or control characters".to_owned(),
        "^[a-z][a-z0-9_]{0,63}$" => {
            "must be 1 to 64 of a-z, 0-9 and _, starting with a letter".to_owned()
        }
        _ if pattern.starts_with("^[Hh][Tt][Tt][Pp]") => {
            "must be an absolute http or https URL".to_owned()
        }
        _ => format!("must match {pattern}"),
    }
}

/// Patterns come from the document, compiled once each.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    use std::{collections::HashMap, sync::Mutex};
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    compiled
        .entry(pattern.to_owned())
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .as_ref()
        .is_none_or(|re| re.is_match(text))
}

/// Whole numbers written with a fraction (`10.0`) as integers, so serde reads them where an
/// integer is expected, as JSON Schema would.
pub fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) && is_whole(&Value::Number(n.clone())) => {
            if let Some(whole) = n.as_f64() {
                *value = Value::from(whole as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

fn at(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn push(errors: &mut FieldErrors, path: &str, message: String) {
    let key = if path.is_empty() { "body" } else { path };
    errors.entry(key.to_owned()).or_default().push(message);
}

/// Schemas nest a handful of levels; a cycle in them must not recurse for ever.
const MAX_DEPTH: usize = 16;

fn check(value: &Value, schema: &Value, path: &str, errors: &mut FieldErrors, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(target) = resolve(schema) {
        return check(value, target, path, errors, depth + 1);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let is_null = |b: &&Value| b.get("type").and_then(Value::as_str) == Some("null");
            if value.is_null() && branches.iter().any(|b| is_null(&b)) {
                return;
            }
            // `Option<T>` is `oneOf: [null, T]`: check against T itself, for its detailed errors.
            let mut others = branches.iter().filter(|b| !is_null(b));
            if let (Some(only), None) = (others.next(), others.next()) {
                return check(value, only, path, errors, depth + 1);
            }
            let fits = branches.iter().any(|branch| {
                let mut trial = FieldErrors::new();
                check(value, branch, path, &mut trial, depth + 1);
                trial.is_empty()
            });
            if !fits {
                push(
                    errors,
                    path,
                    "does not match any of the allowed forms".to_owned(),
                );
            }
            return;
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(value, part, path, errors, depth + 1);
        }
    }
    if let Some(allowed) = types(schema) {
        if !admits(&allowed, value) {
            let expected: Vec<&str> = allowed.into_iter().filter(|t| *t != "null").collect();
            push(errors, path, format!("must be {}", expected.join(" or ")));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !value.is_null() && !options.contains(value) {
            let names: Vec<String> = options.iter().map(ToString::to_string).collect();
            push(errors, path, format!("must be one of {}", names.join(", ")));
        }
        return;
    }
    check_bounds(value, schema, path, errors);
    match value {
        Value::Object(fields) => {
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !fields.contains_key(required) {
                    push(errors, &at(path, required), "is required".to_owned());
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, field) in fields {
                    if let Some(property) = properties.get(name) {
                        check(field, property, &at(path, name), errors, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
                for (index, element) in items.iter().enumerate() {
                    check(
                        element,
                        item,
                        &format!("{path}[{index}]"),
                        errors,
                        depth + 1,
                    );
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Inner {
        kind: String,
    }

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        days: i32,
        note: Option<String>,
        tags: Vec<String>,
        inner: Option<Inner>,
    }

    #[test]
    fn every_missing_field_is_named_at_once() {
        let errors = errors_of::<Body>(&json!({}));
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["days", "name", "tags"]);
        assert!(errors.values().all(|m| m == &["is required"]));
    }

    #[test]
    fn wrong_types_are_named_by_their_path() {
        let errors = errors_of::<Body>(&json!({
            "name": 7, "days": "x", "note": null, "tags": ["a", 1], "inner": null
        }));
        assert_eq!(errors["name"], ["must be string"]);
        assert_eq!(errors["days"], ["must be integer"]);
        assert_eq!(errors["tags[1]"], ["must be string"]);
        assert!(
            !errors.contains_key("note"),
            "null is allowed for an Option"
        );
    }

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Bounded {
        #[schema(max_length = 3, pattern = "^[a-z档]+$")]
        code: String,
        #[schema(minimum = 1, maximum = 10)]
        days: i32,
        #[schema(min_items = 1, max_items = 2)]
        tags: Vec<String>,
        #[schema(format = Uuid)]
        id: Option<String>,
    }

    #[test]
    fn bounds_are_checked_as_stated() {
        let fits = json!({"code": "档档档", "days": 10.0, "tags": ["a"], "id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20"});
        assert!(
            errors_of::<Bounded>(&fits).is_empty(),
            "characters, not bytes; 10.0 is whole"
        );
        let errors = errors_of::<Bounded>(
            &json!({"code": "abcd", "days": 0, "tags": [], "id": "0193a1c27b7e7c4e9a513f1f0a9d2c20"}),
        );
        assert_eq!(errors["code"], ["must be at most 3 characters"]);
        assert_eq!(errors["days"], ["must be between 1 and 10"]);
        assert_eq!(errors["tags"], ["must list 1 to 2 items"]);
        assert_eq!(errors["id"], ["must be a uuid"], "the hyphenated form only");
        let errors =
            errors_of::<Bounded>(&json!({"code": "A", "days": 2.5, "tags": ["a", "b", "c"]}));
        assert_eq!(errors["code"], ["must match ^[a-z档]+$"]);
        assert_eq!(errors["days"], ["must be integer"]);
        assert_eq!(errors["tags"], ["must list 1 to 2 items"]);
    }

    #[test]
    fn whole_numbers_are_read_as_integers() {
        let mut value = json!({"a": 10.0, "b": [2.0, 2.5], "c": 1e300});
        whole_numbers_as_integers(&mut value);
        assert_eq!(value, json!({"a": 10, "b": [2, 2.5], "c": 1e300}));
    }

    #[test]
    fn a_fitting_body_has_no_errors() {
        let errors = errors_of::<Body>(&json!({"name": "a", "days": 1, "tags": []}));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(errors_of::<Body>(&json!([]))["body"], ["must be object"]);
    }
}
