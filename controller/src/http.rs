//! The controller's HTTP surface: `/healthz`, `/readyz`, `/v1/cert.pem`, `/v1/verify`,
//! `/v1/rotate` (and `/ui/` with `--ui`, [`crate::ui`]) on `--listen-addr`, and `/metrics` on
//! `--listen-metrics-addr`.
//!
//! `/v1/verify` and `/v1/rotate` never render `spec.template.data`: the templates are not bound
//! by the OAEP label, so rendering them would let a caller pair a victim's `encryptedData` with
//! a crafted template and learn about the plaintext from the answer (upstream PRs #2019, #2049).
//! Both endpoints are rate-limited (upstream PR #1971), take at most 1 MiB of body, and do their
//! RSA work on the blocking pool. `/v1/rotate` seals for the scope in the object's own metadata,
//! never the template's (CVE-2026-22728).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use common::crd::{API_VERSION, KIND, SealedSecret};
use common::documents::{
    Format, parse_documents, sealed_secret_from_value, sealed_secret_to_string,
};
use common::sealing::{ResealError, ResealOptions, UnsealOptions, UnsealStats, reseal, unseal};

use crate::config::Config;
use crate::context::Readiness;
use crate::keys::{KeyRing, Registry};
use crate::metrics::{HttpDurationLabels, HttpLabels, Metrics, ScrapeLabels, method_label};
use crate::ratelimit::{DEFAULT_CAPACITY, Decision, RateLimiter};

/// Largest request body `/v1/verify` and `/v1/rotate` read; more gives 413.
pub const BODY_LIMIT: usize = 1 << 20;
/// Longest client address kept in a rate-limit key.
const MAX_CLIENT_KEY: usize = 64;

const VERIFY: &str = "/v1/verify";
const ROTATE: &str = "/v1/rotate";
const CERT: &str = "/v1/cert.pem";

/// The settings of the HTTP server taken from the command line.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// `--rate-limit`: sustained requests per second per client on verify and rotate (0: off).
    pub rate_limit: u32,
    /// `--rate-limit-burst`: requests allowed on top of the rate at once.
    pub rate_limit_burst: u32,
    /// `--read-timeout`: reading a request body longer than this gives 408 (0: no limit).
    pub read_timeout: Duration,
    /// `--write-timeout`: handling a request longer than this gives 503 (0: no limit).
    pub write_timeout: Duration,
    /// `--accept-deprecated-v1-data`.
    pub accept_deprecated_v1_data: bool,
    /// `--ui`: serve the write-only sealing page at `/ui/` ([`crate::ui`]).
    pub ui: bool,
}

impl Default for HttpOptions {
    /// Upstream's defaults.
    fn default() -> Self {
        Self {
            rate_limit: 2,
            rate_limit_burst: 2,
            read_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(120),
            accept_deprecated_v1_data: true,
            ui: false,
        }
    }
}

impl HttpOptions {
    /// The HTTP settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            rate_limit: config.rate_limit,
            rate_limit_burst: config.rate_limit_burst,
            read_timeout: config.read_timeout,
            write_timeout: config.write_timeout,
            accept_deprecated_v1_data: config.accept_deprecated_v1_data,
            ui: config.ui,
        }
    }
}

/// What the HTTP handlers need.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// Caches synced, or a follower (which serves cert, verify and rotate from its keys and is
    /// ready without reconciling).
    pub readiness: Arc<Readiness>,
    /// Timeouts, rate and v1-data handling.
    pub options: HttpOptions,
    /// The limiter shared by verify and rotate (keyed by client and path).
    pub limiter: Arc<RateLimiter>,
}

impl AppState {
    /// State with a fresh rate limiter for `options`; the HTTP metrics series of the
    /// instrumented paths are created at zero.
    pub fn new(
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        readiness: Arc<Readiness>,
        options: HttpOptions,
    ) -> Self {
        for (path, method) in [(VERIFY, "post"), (ROTATE, "post"), (CERT, "get")] {
            let _ = metrics.http_requests.get_or_create(&HttpLabels {
                path,
                code: "200".into(),
                method,
            });
            let _ = metrics
                .http_duration
                .get_or_create(&HttpDurationLabels { path, method });
        }
        let limiter = Arc::new(RateLimiter::new(
            options.rate_limit,
            options.rate_limit_burst,
            DEFAULT_CAPACITY,
        ));
        Self {
            registry,
            metrics,
            readiness,
            options,
            limiter,
        }
    }
}

/// The main router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so
/// requests without `X-Forwarded-For` are rate-limited per peer address; without it they share
/// one key.
pub fn router(state: AppState) -> Router {
    let ui = if state.options.ui {
        crate::ui::routes()
    } else {
        Router::new()
    };
    Router::new()
        .merge(ui)
        .route("/healthz", any(|| async { "ok\n" }))
        .route("/readyz", any(readyz))
        .route(CERT, any(cert_pem))
        .route(VERIFY, any(verify))
        .route(ROTATE, any(rotate))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The metrics router: `/metrics` for any method, as upstream's `ServeMux`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", any(metrics))
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> Response {
    let ready =
        s.registry.is_loaded() && !s.registry.snapshot().is_empty() && s.readiness.is_ready();
    if ready {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn cert_pem(State(s): State<AppState>, method: Method) -> Response {
    let start = Instant::now();
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
    record(&s, CERT, &method, start, &response);
    response
}

/// promhttp's `InstrumentMetricHandler` around the exposition: in flight while encoding, counted
/// by code once answered (a scrape does not count itself).
async fn metrics(State(s): State<AppState>) -> Response {
    s.metrics.scrapes_in_flight.inc();
    let body = s.metrics.encode();
    s.metrics.scrapes_in_flight.dec();
    let response = ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response();
    s.metrics
        .scrapes
        .get_or_create(&ScrapeLabels { code: "200" })
        .inc();
    response
}

/// The two endpoints that take a SealedSecret body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/verify`.
    Verify,
    /// `/v1/rotate`.
    Rotate,
}

async fn verify(State(s): State<AppState>, req: Request) -> Response {
    instrumented(s, VERIFY, Endpoint::Verify, req).await
}

async fn rotate(State(s): State<AppState>, req: Request) -> Response {
    instrumented(s, ROTATE, Endpoint::Rotate, req).await
}

/// Count and time the request, rate-limit it, then handle it within `--write-timeout`.
async fn instrumented(s: AppState, path: &'static str, ep: Endpoint, req: Request) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let decision = s.limiter.check(&limit_key(&req, path));
    let mut response = if decision.allowed {
        match within(s.options.write_timeout, handle(&s, ep, req)).await {
            Some(r) => r,
            None => (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response(),
        }
    } else {
        (StatusCode::TOO_MANY_REQUESTS, "limit exceeded\n").into_response()
    };
    if s.limiter.enabled() {
        set_rate_limit_headers(&mut response, &decision);
    }
    record(&s, path, &method, start, &response);
    response
}

/// `fut` bounded by `limit` (zero: unbounded, as Go's servers treat a zero timeout).
async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    if limit.is_zero() {
        Some(fut.await)
    } else {
        tokio::time::timeout(limit, fut).await.ok()
    }
}

async fn handle(s: &AppState, ep: Endpoint, req: Request) -> Response {
    let body = match within(s.options.read_timeout, Bytes::from_request(req, &())).await {
        None => {
            return (StatusCode::REQUEST_TIMEOUT, "timed out reading the body\n").into_response();
        }
        Some(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        }
        Some(Err(_)) => {
            return (StatusCode::BAD_REQUEST, "cannot read the request body\n").into_response();
        }
        Some(Ok(b)) => b,
    };
    let ring = s.registry.snapshot();
    let accept_v1 = s.options.accept_deprecated_v1_data;
    // Parsing up to 1 MiB of YAML and the RSA work both stay off the async workers.
    let work = tokio::task::spawn_blocking(move || answer(ep, &body, &ring, accept_v1));
    match work.await {
        Ok(r) => r,
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

/// The answer of `ep` to a request `body` with the keys of `ring`: the synchronous part of the
/// verify and rotate handlers (decode the body, then the RSA work), after the rate limit and the
/// body limit. Public so the fuzz target (`tests/fuzz`) drives exactly what the handlers run.
pub fn answer(ep: Endpoint, body: &[u8], ring: &KeyRing, accept_v1: bool) -> Response {
    let ss = match decode(body) {
        Ok(ss) => ss,
        Err(msg) => return (StatusCode::BAD_REQUEST, msg).into_response(),
    };
    match ep {
        Endpoint::Verify => verify_object(&ss, ring, accept_v1),
        Endpoint::Rotate => rotate_object(&ss, ring, accept_v1),
    }
}

/// One SealedSecret from a JSON or YAML body. The messages name the problem, never the input.
fn decode(body: &[u8]) -> Result<SealedSecret, &'static str> {
    let mut docs = parse_documents(body)
        .map_err(|_| "cannot decode the body as JSON or YAML\n")?
        .into_iter();
    let doc = match (docs.next(), docs.next()) {
        (None, _) => return Err("empty body: expected one SealedSecret\n"),
        (Some(_), Some(_)) => return Err("multiple documents are not supported\n"),
        (Some(d), None) => d,
    };
    let field = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    if field("apiVersion").as_deref() != Some(API_VERSION) || field("kind").as_deref() != Some(KIND)
    {
        return Err("the body is not a bitnami.com/v1alpha1 SealedSecret\n");
    }
    sealed_secret_from_value(doc).map_err(|_| "cannot decode the SealedSecret\n")
}

fn no_render(accept_v1: bool) -> UnsealOptions {
    UnsealOptions {
        accept_deprecated_v1_data: accept_v1,
        render_templates: false,
        ..UnsealOptions::default()
    }
}

/// 200 when every value opens with some key, else 409; both empty, whatever failed.
fn verify_object(ss: &SealedSecret, ring: &KeyRing, accept_v1: bool) -> Response {
    let keys = ring.decryption_order(&[]);
    let ok = if ss.spec.data.is_some() {
        unseal(
            ss,
            &keys,
            &no_render(accept_v1),
            &mut UnsealStats::default(),
        )
        .is_ok()
    } else {
        common::sealing::verify(ss, &keys, &mut UnsealStats::default()).is_ok()
    };
    if ok {
        StatusCode::OK.into_response()
    } else {
        StatusCode::CONFLICT.into_response()
    }
}

/// Re-seal every value for the newest key, for the scope of the object's own metadata, with the
/// scope annotations normalised ([`common::sealing::reseal`]).
fn rotate_object(ss: &SealedSecret, ring: &KeyRing, accept_v1: bool) -> Response {
    let keys = ring.decryption_order(&[]);
    let Some(newest) = ring.newest() else {
        // No key at all: only an object with nothing to open gets as far as the certificate.
        return match unseal(
            ss,
            &keys,
            &no_render(accept_v1),
            &mut UnsealStats::default(),
        ) {
            Ok(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot get certificate\n",
            )
                .into_response(),
            Err(_) => StatusCode::CONFLICT.into_response(),
        };
    };
    let opts = ResealOptions {
        accept_deprecated_v1_data: accept_v1,
        normalise: true,
        keep_current: false,
        exhaustive: false,
    };
    let out = match reseal(&mut rand::rng(), ss, &keys, newest.cert.public_key(), &opts) {
        Ok(r) => r.sealed,
        Err(ResealError::Encrypt(_)) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot seal the values\n",
            )
                .into_response();
        }
        Err(_) => return StatusCode::CONFLICT.into_response(),
    };
    match sealed_secret_to_string(&out, Format::Json) {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the SealedSecret\n",
        )
            .into_response(),
    }
}

/// The rate-limit key: the client address and the path. The address is the last
/// `X-Forwarded-For` entry, which the kube-apiserver's service proxy appends itself (entries
/// before it are the caller's to choose), else the TCP peer's IP.
fn limit_key(req: &Request, path: &str) -> String {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty());
    let mut client = forwarded
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        })
        .unwrap_or_default();
    // `to_str` succeeded, so this is ASCII and any byte index is a char boundary.
    client.truncate(MAX_CLIENT_KEY);
    format!("{client}\n{path}\n")
}

fn set_rate_limit_headers(response: &mut Response, d: &Decision) {
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    h.insert(
        "x-ratelimit-reset",
        HeaderValue::from(Decision::ceil_secs(d.reset_after)),
    );
    if let Some(retry) = d.retry_after {
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(Decision::ceil_secs(retry).max(1)),
        );
    }
}

fn record(s: &AppState, path: &'static str, method: &Method, start: Instant, r: &Response) {
    let method = method_label(method.as_str());
    s.metrics
        .http_requests
        .get_or_create(&HttpLabels {
            path,
            code: r.status().as_u16().to_string(),
            method,
        })
        .inc();
    s.metrics
        .http_duration
        .get_or_create(&HttpDurationLabels { path, method })
        .observe(start.elapsed().as_secs_f64());
}
