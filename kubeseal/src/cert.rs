//! Where the sealing certificate comes from ([`CertSource`]: a file, a `file://` or `http(s)://`
//! URL, or the controller) and parsing it as upstream's `ParseKey`.
//!
//! `--cert http(s)://…` uses hyper + hyper-rustls (with the platform's native roots), the crates
//! kube's client already uses, so it adds no dependency to the workspace.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use common::keys::Certificate;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;

use crate::cluster::Online;
use crate::config::{CertSource, Config, KubeFlags};
use crate::io::read_file;

/// Largest certificate bundle accepted over HTTP(S).
const MAX_BODY: usize = 1024 * 1024;
/// Overall timeout of an HTTP(S) fetch.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The configured certificate's bytes, as fetched.
pub fn open(config: &Config) -> anyhow::Result<Vec<u8>> {
    open_cert(&config.cert, &config.kube)
}

/// The configured certificate, parsed and checked against the clock.
pub fn load(config: &Config) -> anyhow::Result<Certificate> {
    parse_cert(&open(config)?, SystemTime::now())
}

/// The certificate bytes, as fetched (PEM). `kube` is used only for [`CertSource::Controller`].
fn open_cert(source: &CertSource, kube: &KubeFlags) -> anyhow::Result<Vec<u8>> {
    match source {
        CertSource::Path(p) => read_file(p),
        CertSource::Url(u) => {
            let lower = u.to_ascii_lowercase();
            // `lower` has the same byte length as `u` (ASCII lower-casing), so the split is exact.
            if let Some(rest) = lower
                .strip_prefix("file://")
                .and_then(|_| u.get("file://".len()..))
            {
                // Go's file transport is rooted at "/": file:///abs/path and file://abs/path both
                // name /abs/path.
                let path = if rest.starts_with('/') {
                    PathBuf::from(rest)
                } else {
                    PathBuf::from("/").join(rest)
                };
                read_file(&path)
            } else if lower.starts_with("http://") || lower.starts_with("https://") {
                http_get(u)
            } else {
                let scheme = u.split(':').next().unwrap_or_default();
                anyhow::bail!("cannot fetch {u:?}: unsupported protocol scheme {scheme:?}")
            }
        }
        CertSource::Controller {
            name,
            namespace,
            explicit,
        } => {
            let online = Online::connect(kube)?;
            let ctl = online.controller(namespace, name, !explicit)?;
            online.fetch_cert(&ctl)
        }
    }
}

/// Upstream's `ParseKey`: the first certificate of the bundle, RSA, not expired at `now`.
pub fn parse_cert(pem: &[u8], now: SystemTime) -> anyhow::Result<Certificate> {
    let cert = Certificate::from_pem(pem)?;
    cert.check_not_expired(now)?;
    Ok(cert)
}

/// GET `uri`; non-200 → upstream's `cannot fetch "<uri>": <status>`. The tokio runtime and the
/// TLS configuration are built only here, so the offline path pays for neither.
fn http_get(uri: &str) -> anyhow::Result<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        tokio::time::timeout(TIMEOUT, fetch(uri))
            .await
            .map_err(|_| anyhow::anyhow!("cannot fetch {uri:?}: timed out"))?
    })
}

async fn fetch(uri: &str) -> anyhow::Result<Vec<u8>> {
    let parsed: hyper::Uri = uri
        .parse()
        .map_err(|e| anyhow::anyhow!("cannot fetch {uri:?}: {e}"))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| anyhow::anyhow!("cannot load TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<Bytes>>(https);
    let req = hyper::Request::get(parsed)
        .header("Accept", "application/x-pem-file, */*")
        .header(
            "User-Agent",
            concat!("kubeseal/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| anyhow::anyhow!("cannot fetch {uri:?}: {e}"))?;
    let status = resp.status();
    if status != hyper::StatusCode::OK {
        anyhow::bail!("cannot fetch {uri:?}: {status}");
    }
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot fetch {uri:?}: {e}"))?;
    Ok(body.to_bytes().to_vec())
}
