//! The committed `openapi.yaml` is what the code generates, and the document is complete.

use dangan_api::openapi::{document, yaml};
use serde_json::Value;

#[test]
fn committed_openapi_yaml_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = yaml().unwrap();
    assert!(
        committed == generated,
        "openapi.yaml is stale: run `cargo run -p dangan-api -- openapi > openapi.yaml` and commit it"
    );
}

#[test]
fn every_operation_is_documented_with_errors_and_examples() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let mut operations = 0;
    let mut operation_ids = std::collections::BTreeSet::new();
    let tags: Vec<&serde_json::Value> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let name = format!("{method} {path}");
            // Generated clients name their functions after these: unique, one style.
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{name}: operationId {id:?} in lowerCamelCase"
            );
            assert!(
                id.starts_with(|c: char| c.is_ascii_lowercase()),
                "{name}: {id}"
            );
            assert!(operation_ids.insert(id.to_owned()), "{name}: {id} twice");
            assert!(
                op["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().all(|t| tags.contains(&t))),
                "{name}: a declared tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: summary"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name}: tag"
            );
            let responses = op["responses"].as_object().unwrap();
            let public = [
                "/healthz",
                "/readyz",
                "/docs",
                "/api/v1/auth/login",
                "/api/v1/auth/refresh",
                "/api/v1/auth/oidc/login",
                "/api/v1/auth/oidc/callback",
                "/api/v1/auth/oidc/token",
            ]
            .contains(&path.as_str());
            if public {
                // No requirement at all (`[{}]` would mean "a token is optional", and generated
                // clients then demand one to log in).
                assert_eq!(
                    op["security"],
                    serde_json::json!([]),
                    "{name}: marked public"
                );
            } else {
                assert!(responses.contains_key("401"), "{name}: documents 401");
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().unwrap();
                    let types: Vec<&String> = content.keys().collect();
                    assert_eq!(types, ["application/problem+json"], "{name} {status}");
                    let schema = content["application/problem+json"]["schema"]["$ref"]
                        .as_str()
                        .unwrap();
                    assert!(
                        [
                            "#/components/schemas/Problem",
                            "#/components/schemas/ImportRefusal"
                        ]
                        .contains(&schema),
                        "{name} {status}: {schema}"
                    );
                }
            }
            if let Some(body) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            {
                let schema = body.trim_start_matches("#/components/schemas/");
                assert!(
                    schemas[schema]["example"].is_object(),
                    "{name}: request example for {schema}"
                );
            }
        }
    }
    assert!(operations >= 19, "{operations} operations");
    assert!(schemas["Problem"]["example"].is_object());
}

#[test]
fn served_document_is_the_generated_one() {
    let app = dangan_tests::TestApp::start(dangan_tests::TestStore::sqlite());
    let served = app.client.get("/api-docs/openapi.json", None).json();
    assert_eq!(&served, document());
}

/// Every schema in `value` (components, parameters, bodies, responses), with its JSON path.
fn schemas_in<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(object) => {
            if object.contains_key("type") && !object.contains_key("in") {
                out.push((path.clone(), value));
            }
            for (key, child) in object {
                if key != "example" && key != "examples" {
                    schemas_in(child, format!("{path}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                schemas_in(item, format!("{path}/{index}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_string_integer_and_array_states_its_bounds() {
    let mut schemas = Vec::new();
    schemas_in(document(), String::new(), &mut schemas);
    let has_type = |schema: &Value, name: &str| match &schema["type"] {
        Value::String(t) => t == name,
        Value::Array(list) => list.iter().any(|t| t == name),
        _ => false,
    };
    let mut checked = 0;
    for (path, schema) in schemas {
        if has_type(schema, "string") && schema.get("enum").is_none() {
            assert!(schema["maxLength"].is_u64(), "{path}: maxLength");
            checked += 1;
        }
        if has_type(schema, "integer") {
            for key in ["format", "minimum", "maximum"] {
                assert!(schema.get(key).is_some(), "{path}: {key}");
            }
            checked += 1;
        }
        if has_type(schema, "array") {
            assert!(schema["maxItems"].is_u64(), "{path}: maxItems");
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} schemas checked");
}

/// Whether a link takes `parameter` from the created resource: its `id`, or the field the
/// parameter is named after (a category's `code`).
fn from_new_body(parameter: &str, source: &serde_json::Value) -> bool {
    source == "$response.body#/id"
        || source.as_str() == Some(&format!("$response.body#/{parameter}"))
}

#[test]
fn every_create_links_to_what_can_be_done_with_what_it_created() {
    let doc = document();
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let mut creates = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(created) = item["post"]["responses"].get("201") else {
            continue;
        };
        creates += 1;
        let links = created["links"]
            .as_object()
            .unwrap_or_else(|| panic!("POST {path}: 201 without links"));
        assert!(!links.is_empty(), "POST {path}: no links");
        for (name, link) in links {
            let target = link["operationId"].as_str().unwrap();
            assert!(
                ids.contains(&target),
                "POST {path}: link {name} to {target}"
            );
            let from_body: Vec<&String> = link["parameters"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| from_new_body(k, v))
                .map(|(k, _)| k)
                .collect();
            assert_eq!(
                from_body.len(),
                1,
                "POST {path}: link {name} takes the new id"
            );
            for (parameter, source) in link["parameters"].as_object().unwrap() {
                assert!(
                    from_new_body(parameter, source)
                        || source.as_str() == Some(&format!("$request.path.{parameter}")),
                    "POST {path}: link {name}: {parameter} from {source}"
                );
            }
        }
    }
    assert_eq!(creates, 15, "every create answers 201");
}

/// The handlers `routes::configure` serves and the handlers the document lists are one set: an
/// endpoint cannot be served undocumented nor documented unserved.
#[test]
fn served_routes_are_the_documented_ones() {
    let source = |file: &str| {
        std::fs::read_to_string(format!("{}/../api/src/{file}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    };
    let served: std::collections::BTreeSet<String> = source("routes/mod.rs")
        .split(".service(")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|handler| handler.contains("::") && !handler.contains('('))
        .map(str::to_owned)
        .collect();
    let openapi = source("openapi.rs");
    let paths = openapi
        .split("paths(")
        .nth(1)
        .unwrap()
        .split("),")
        .next()
        .unwrap();
    let documented: std::collections::BTreeSet<String> = paths
        .split(',')
        .map(|h| h.trim().trim_start_matches("routes::").to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    assert!(served.len() > 60, "{served:?}");
    assert_eq!(served, documented);
}
