//! Checks a JSON body against the schema the OpenAPI document publishes for it, before serde
//! reads it: every missing required field and every value of the wrong type is reported at once,
//! each under its JSON path, in the document's own terms. serde stops at the first problem and
//! words it for Rust programmers; the document is what clients are built from, so it is also
//! what a body is checked against — one source, no drift.

use std::sync::OnceLock;

use serde_json::{Map, Value};
use utoipa::OpenApi;

use crate::{error::FieldErrors, openapi::ApiDoc};

/// The document's component schemas, as JSON, for resolving `$ref`s.
fn components() -> &'static Map<String, Value> {
    static COMPONENTS: OnceLock<Map<String, Value>> = OnceLock::new();
    COMPONENTS.get_or_init(|| {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
        document["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    })
}

/// Every way `value` departs from the schema of `T`; empty when it fits.
pub fn errors_of<T: utoipa::PartialSchema>(value: &Value) -> FieldErrors {
    let schema = serde_json::to_value(T::schema()).unwrap_or(Value::Null);
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
    allowed.contains(&actual) || (actual == "integer" && allowed.contains(&"number"))
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

    #[test]
    fn a_fitting_body_has_no_errors() {
        let errors = errors_of::<Body>(&json!({"name": "a", "days": 1, "tags": []}));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(errors_of::<Body>(&json!([]))["body"], ["must be object"]);
    }
}
