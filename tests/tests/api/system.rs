//! Health, readiness, metrics and the docs page.

use dangan_tests::{both_stores, TestApp};

both_stores! {
    fn health_readiness_metrics_and_docs(store) {
        let app = TestApp::start(store);
        let health = app.client.get("/healthz", None);
        assert_eq!(health.status, 200);
        assert_eq!(health.json()["status"], "ok");
        assert_eq!(app.client.get("/readyz", None).status, 200);

        app.client.get("/api/v1/me", None);
        assert_eq!(
            app.client.get("/metrics", None).status,
            401,
            "loopback is no boundary behind a reverse proxy on the same host"
        );
        let admin = app.admin_token();
        let metrics = app.client.get("/metrics", Some(&admin));
        assert_eq!(metrics.status, 200, "{}", metrics.body);
        assert!(metrics.header("content-type").unwrap().starts_with("text/plain"));
        assert!(metrics.body.contains(r#"dangan_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{}", metrics.body);
        assert!(metrics.body.contains(r#"route="/api/v1/me",status="401""#));
        assert!(metrics.body.contains("dangan_http_request_duration_seconds_bucket"));
        assert!(metrics.body.contains("dangan_db_pool_connections"));

        let docs = app.client.get("/docs", None);
        assert_eq!(docs.status, 308);
        assert_eq!(docs.header("location"), Some("/swagger-ui/"));
        let page = app.client.get("/swagger-ui/", None);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("swagger"), "Swagger UI is served from the binary");
        let spec = app.client.get("/api-docs/openapi.json", None);
        assert_eq!(spec.status, 200);
        assert!(spec.json()["openapi"].as_str().unwrap().starts_with("3.1"));
    }
}

#[test]
fn readiness_fails_when_the_database_is_gone() {
    let Some(store) = dangan_tests::TestStore::postgres() else {
        eprintln!("skipped: DANGAN_TEST_POSTGRES_URL is not set");
        return;
    };
    let app = TestApp::start(store);
    assert_eq!(app.client.get("/readyz", None).status, 200);
    app.store.drop_database();
    let reply = app.client.get("/readyz", None);
    reply.assert_problem(503, "unavailable");
    assert_eq!(
        app.client.get("/healthz", None).status,
        200,
        "the process still runs"
    );
}
