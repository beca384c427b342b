//! Prometheus metrics: request counts and latency by route and status, pool usage, and fetches
//! from the OpenID providers.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web, Error,
};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::state::AppState;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    provider_fetches: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "dangan_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "dangan_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route", "status"],
        )?;
        let pool_connections =
            IntGauge::new("dangan_db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new(
            "dangan_db_pool_idle_connections",
            "Idle database connections",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        let provider_fetches = IntCounterVec::new(
            Opts::new(
                "dangan_oidc_provider_fetches_total",
                "Fetches of OpenID providers' discovery documents and keys, by outcome",
            ),
            &["provider", "what", "outcome"],
        )?;
        registry.register(Box::new(provider_fetches.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            provider_fetches,
        })
    }

    /// The counter the OpenID providers count their fetches in.
    pub fn provider_fetches(&self) -> IntCounterVec {
        self.provider_fetches.clone()
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition, with the pool gauges read now.
    pub fn render(&self, pool: &dangan_persistence::Pool) -> String {
        let state = pool.state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::error!("metrics encoding failed: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Records each request under its route pattern (never the raw path: ids would explode the labels).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}
