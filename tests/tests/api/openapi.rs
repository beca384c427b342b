//! The committed `openapi.yaml` is what the code generates, and the document is complete.

use dangan_api::openapi::{yaml, ApiDoc};
use utoipa::OpenApi;

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
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
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
    assert_eq!(served, serde_json::to_value(ApiDoc::openapi()).unwrap());
}
