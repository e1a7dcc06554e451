//! A minimal blocking HTTP(S) GET for `--cert http(s)://…`. The tokio runtime and the TLS
//! configuration are built only here, so the offline path pays for neither.
//!
//! hyper + hyper-rustls (with the platform's native roots) are the crates kube's client already
//! uses, so this adds no new dependency to the workspace.

use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;

/// Largest certificate bundle accepted.
const MAX_BODY: usize = 1024 * 1024;
/// Overall timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// GET `uri`; non-200 → upstream's `cannot fetch "<uri>": <status>`.
pub fn get(uri: &str) -> anyhow::Result<Vec<u8>> {
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
