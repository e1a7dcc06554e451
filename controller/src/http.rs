//! The controller's HTTP surface: `/healthz`, `/readyz`, `/v1/cert.pem`, `/v1/verify`,
//! `/v1/rotate` on `--listen-addr`, and `/metrics` on `--listen-metrics-addr`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use crate::keys::Registry;
use crate::metrics::Metrics;

/// What the HTTP handlers need.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// Set once the SealedSecret and Secret caches have synced.
    pub caches_synced: Arc<AtomicBool>,
    /// True while this replica waits for the leader lease: it serves cert, verify and rotate
    /// from its keys and is ready without reconciling.
    pub follower: Arc<AtomicBool>,
}

/// The main router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", any(|| async { "ok\n" }))
        .route("/readyz", any(readyz))
        .route("/v1/cert.pem", any(cert_pem))
        .with_state(state)
}

/// The metrics router.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> Response {
    let ready = s.registry.is_loaded()
        && !s.registry.snapshot().is_empty()
        && (s.caches_synced.load(Ordering::Relaxed) || s.follower.load(Ordering::Relaxed));
    if ready {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn cert_pem(State(s): State<AppState>) -> Response {
    let ring = s.registry.snapshot();
    let response = match ring.newest() {
        Some(k) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            k.cert.to_pem(),
        )
            .into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot get certificate\n",
        )
            .into_response(),
    };
    s.metrics
        .http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            path: "/v1/cert.pem",
            code: response.status().as_u16().to_string(),
            method: "GET".into(),
        })
        .inc();
    response
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}
