//! `GET /ui/` (with `--ui`): a write-only sealing page. One HTML file, one ES module and one
//! stylesheet, embedded in the binary; the browser fetches `v1/cert.pem`, seals with WebCrypto and
//! may POST the sealed object (ciphertext only) to `v1/verify`. Nothing here returns plaintext.
//!
//! Every URL in the files is relative, so the page works at `/ui/`, through `kubectl port-forward`
//! and under the kube-apiserver's service-proxy prefix
//! (`/api/v1/namespaces/<ns>/services/http:<name>:http/proxy/ui/`). The headers forbid everything
//! the page does not need: no inline script, no third-party origin, no framing, no referrer, no
//! caching, and (in browsers that enforce Trusted Types) no HTML sinks at all.

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

/// The page's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// The three embedded files: path under `/ui/`, content type, body.
const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("../ui/index.html"),
    ),
    (
        "seal.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/seal.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/style.css"),
    ),
];

/// The `/ui` routes, merged into the main router when `--ui` is set.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new().route("/ui", any(redirect));
    for (name, content_type, body) in FILES {
        r = r.route(
            &format!("/ui/{name}"),
            any(move |method: Method| async move { file(&method, content_type, body) }),
        );
    }
    r
}

/// `/ui` → `ui/`: relative, so the redirect also stays under a proxy prefix.
async fn redirect() -> Response {
    with_headers((StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "ui/")]).into_response())
}

fn file(method: &Method, content_type: &'static str, body: &'static [u8]) -> Response {
    let response = match *method {
        Method::GET => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Method::HEAD => ([(header::CONTENT_TYPE, content_type)], ()).into_response(),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "method not allowed\n",
        )
            .into_response(),
    };
    with_headers(response)
}

fn with_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}
