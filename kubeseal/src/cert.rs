//! Where the sealing certificate comes from ([`CertSource`]: a file, a `file://` or `http(s)://`
//! URL, or the controller) and parsing it as upstream's `ParseKey`.
//!
//! `--cert http(s)://…` uses hyper + hyper-rustls (with the platform's native roots), the crates
//! kube's client already uses, and behaves as Go's `http.Client.Get` upstream calls: redirects
//! followed (at most 10 requests), `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` honoured
//! (`cluster/proxy.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::keys::Certificate;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;

use crate::cluster::proxy::{ProxyEnv, ProxyScheme};
use crate::cluster::{Online, error_chain};
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

/// The certificate of `source` (one of several `--cert`, or a `--targets` target), parsed and
/// checked against the clock.
pub fn load_source(source: &CertSource, kube: &KubeFlags) -> anyhow::Result<Certificate> {
    parse_cert(&open_cert(source, kube)?, SystemTime::now())
}

/// `--recovery-cert`, parsed and checked against the clock (`None` when not given).
pub fn load_recovery(config: &Config) -> anyhow::Result<Option<Certificate>> {
    config
        .recovery_cert
        .as_deref()
        .map(load_recovery_file)
        .transpose()
}

/// A recovery certificate file, parsed and checked against the clock.
pub fn load_recovery_file(path: &std::path::Path) -> anyhow::Result<Certificate> {
    parse_cert(&read_file(path)?, SystemTime::now())
        .map_err(|e| e.context(format!("--recovery-cert {}", path.display())))
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
                anyhow::bail!(
                    "cannot fetch {:?}: unsupported protocol scheme {scheme:?}",
                    redacted(u)
                )
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
    let cert = Certificate::from_pem(pem).map_err(|e| match e {
        // client-go's `cert.ParseCertsPEM`, upstream's text (e.g. for an HTML page).
        common::keys::KeyError::NoPem("certificate") => {
            anyhow::anyhow!("data does not contain any valid RSA or ECDSA certificates")
        }
        e => e.into(),
    })?;
    cert.check_not_expired(now)?;
    Ok(cert)
}

/// GET `uri`; non-200 → upstream's `cannot fetch "<uri>": <status>`. The tokio runtime and the
/// TLS configuration are built only here, so the offline path pays for neither.
fn http_get(uri: &str) -> anyhow::Result<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let env = ProxyEnv::from_env();
    rt.block_on(async {
        tokio::time::timeout(TIMEOUT, fetch(uri, env))
            .await
            .map_err(|_| anyhow::anyhow!("cannot fetch {:?}: timed out", redacted(uri)))?
    })
}

/// Go's `http.Client`: at most [`MAX_REQUESTS`] requests, so the tenth redirect is refused
/// (`stopped after 10 redirects`).
const MAX_REQUESTS: usize = 10;

/// GET `uri` as Go's `http.Client.Get` does: redirects (301, 302, 303, 307, 308 with a
/// `Location`) followed, relative locations resolved against the current URL, the proxy of
/// [`ProxyEnv`] for each hop. A redirect to anything but http(s) is refused (upstream's transport
/// would open a `file://` location on the local disk).
async fn fetch(uri: &str, env: ProxyEnv) -> anyhow::Result<Vec<u8>> {
    let shown = redacted(uri);
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot fetch {shown:?}: {e}");
    let mut current: hyper::Uri = uri.parse().map_err(|e| fail(&e))?;
    let env = Arc::new(env);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| anyhow::anyhow!("cannot load TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(Dial { env: env.clone() });
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<Bytes>>(https);
    let mut requests = 0;
    loop {
        requests += 1;
        // Go sends a URL's `user:password@` as basic auth, and never in the request line.
        let (target, auth) = split_userinfo(&current).map_err(|e| fail(&e))?;
        let mut req = hyper::Request::get(target)
            .header("Accept", "application/x-pem-file, */*")
            .header(
                "User-Agent",
                concat!("kubeseal/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())?;
        if let Some(auth) = auth {
            req.headers_mut().insert(hyper::header::AUTHORIZATION, auth);
        }
        // Plain http through an http proxy: the request itself goes to the proxy, so it carries
        // the proxy's credentials (a CONNECT tunnel sends them on the CONNECT instead).
        if current.scheme() == Some(&hyper::http::uri::Scheme::HTTP)
            && let Some(p) = env.proxy_for(&current).map_err(|e| fail(&e))?
            && p.scheme == ProxyScheme::Http
            && let Some(auth) = p.basic_auth()
        {
            req.headers_mut()
                .insert(hyper::header::PROXY_AUTHORIZATION, auth);
        }
        let resp = client
            .request(req)
            .await
            .map_err(|e| fail(&error_chain(&e)))?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(hyper::header::LOCATION)
            .map(|l| l.as_bytes().to_vec());
        if let (true, Some(location)) = (is_redirect(status), location) {
            if requests >= MAX_REQUESTS {
                return Err(fail(&"stopped after 10 redirects"));
            }
            let location = String::from_utf8(location)
                .map_err(|_| fail(&format!("{status} with a Location that is not text")))?;
            let next = resolve_location(&current, &location)
                .map_err(|e| fail(&format!("{status}: {e}")))?;
            if current.scheme_str() == Some("https") && next.scheme_str() == Some("http") {
                eprintln!(
                    "kubeseal: warning: --cert {shown:?} redirected from https to plain http ({})",
                    redacted(&next.to_string())
                );
            }
            current = next;
            continue;
        }
        if status != hyper::StatusCode::OK {
            if requests == 1 {
                return Err(fail(&status));
            }
            return Err(fail(&format!(
                "{status} (from {})",
                redacted(&current.to_string())
            )));
        }
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| fail(&e))?;
        return Ok(body.to_bytes().to_vec());
    }
}

/// `uri` with its password replaced by `xxxxx`, as Go's `URL.Redacted` (for messages).
fn redacted(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:xxxxx@{host}{tail}"),
            None => uri.to_string(),
        },
        None => uri.to_string(),
    }
}

/// The request URI without `user:password@`, and the `Authorization: Basic` header it makes.
fn split_userinfo(
    uri: &hyper::Uri,
) -> Result<(hyper::Uri, Option<hyper::header::HeaderValue>), &'static str> {
    let Some(authority) = uri.authority().map(|a| a.as_str()) else {
        return Ok((uri.clone(), None));
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return Ok((uri.clone(), None));
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let token = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!(
            "{}:{}",
            crate::cluster::proxy::percent_decode(user),
            crate::cluster::proxy::percent_decode(pass)
        ),
    );
    let mut auth = hyper::header::HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|_| "invalid credentials in the URL")?;
    auth.set_sensitive(true);
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(host.parse().map_err(|_| "invalid host in the URL")?);
    let stripped = hyper::Uri::from_parts(parts).map_err(|_| "invalid URL")?;
    Ok((stripped, Some(auth)))
}

/// The statuses Go's client follows when a `Location` is given.
fn is_redirect(s: hyper::StatusCode) -> bool {
    matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// RFC 3986 reference resolution of a `Location` against the URL it answered (Go's
/// `URL.ResolveReference`); the fragment is dropped. Only http(s) results are accepted.
fn resolve_location(base: &hyper::Uri, location: &str) -> Result<hyper::Uri, String> {
    let invalid = || "redirected to an invalid Location".to_string();
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    let scheme = base.scheme_str().ok_or_else(invalid)?;
    let authority = base.authority().ok_or_else(invalid)?.as_str();
    let ref_scheme = location.split_once(':').map(|(s, _)| s).filter(|s| {
        let mut c = s.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic())
            && c.all(|ch| ch.is_ascii_alphanumeric() || "+-.".contains(ch))
    });
    if let Some(s) = ref_scheme
        && !s.eq_ignore_ascii_case("http")
        && !s.eq_ignore_ascii_case("https")
    {
        return Err(format!(
            "redirected to unsupported protocol scheme {:?}",
            s.to_ascii_lowercase()
        ));
    }
    let has_scheme = ref_scheme.is_some();
    let joined = if has_scheme {
        match location.split_once("://") {
            Some((s, rest)) => {
                let (auth, path) = split_authority(rest);
                format!("{s}://{auth}{}", remove_dot_segments_with_query(path))
            }
            None => location.to_string(),
        }
    } else if let Some(rest) = location.strip_prefix("//") {
        let (auth, path) = split_authority(rest);
        format!("{scheme}://{auth}{}", remove_dot_segments_with_query(path))
    } else if location.starts_with('/') {
        format!(
            "{scheme}://{authority}{}",
            remove_dot_segments_with_query(location)
        )
    } else if location.is_empty() {
        base.to_string()
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let dir = base.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!(
            "{scheme}://{authority}{}",
            remove_dot_segments_with_query(&format!("{dir}/{location}"))
        )
    };
    joined.parse().map_err(|_| invalid())
}

/// `authority` and the rest (`/path?query`) of what follows `scheme://`.
fn split_authority(rest: &str) -> (&str, &str) {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    rest.split_at(end)
}

fn remove_dot_segments_with_query(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut p = out.join("/");
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    match query {
        Some(q) => format!("{p}?{q}"),
        None => p,
    }
}

/// The connector under TLS: direct, through an HTTP proxy (CONNECT for https targets, the proxy
/// itself for http ones) or through SOCKS5, as [`ProxyEnv`] decides for each target.
#[derive(Clone)]
struct Dial {
    env: Arc<ProxyEnv>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<hyper::Uri> for Dial {
    type Response = Dialed;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Dialed, BoxError>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: hyper::Uri) -> Self::Future {
        let env = self.env.clone();
        Box::pin(async move {
            use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
            let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
            tcp.enforce_http(false);
            let proxy = env.proxy_for(&dst).map_err(BoxError::from)?;
            let https = dst.scheme_str() == Some("https");
            let (io, proxied) = match proxy {
                None => (tcp.call(dst).await?, false),
                Some(p) => match p.scheme {
                    ProxyScheme::Http if https => {
                        let mut t = Tunnel::new(p.uri.clone(), tcp);
                        if let Some(auth) = p.basic_auth() {
                            t = t.with_auth(auth);
                        }
                        (t.call(dst).await?, false)
                    }
                    ProxyScheme::Http => (tcp.call(p.uri.clone()).await?, true),
                    ProxyScheme::Socks5 => {
                        let mut s = SocksV5::new(p.uri.clone(), tcp);
                        if let Some((user, pass)) = p.credentials.clone() {
                            s = s.with_auth(user, pass);
                        }
                        (s.call(dst).await?, false)
                    }
                    ProxyScheme::Https => {
                        return Err(format!(
                            "{} names an https:// proxy, which kubeseal supports only for the API server; use an http:// or socks5:// proxy for --cert URLs",
                            p.source
                        )
                        .into());
                    }
                },
            };
            Ok(Dialed { io, proxied })
        })
    }
}

/// A connection made by [`Dial`]; `proxied` makes the client send absolute-form requests.
struct Dialed {
    io: hyper_util::rt::TokioIo<tokio::net::TcpStream>,
    proxied: bool,
}

impl hyper_util::client::legacy::connect::Connection for Dialed {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl hyper::rt::Read for Dialed {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Dialed {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_basic_auth_and_redacted() {
        assert_eq!(
            redacted("https://me:s3cret@h.example/c.pem?x=1"),
            "https://me:xxxxx@h.example/c.pem?x=1"
        );
        assert_eq!(redacted("https://me@h.example/c"), "https://me@h.example/c");
        assert_eq!(redacted("https://h.example/a@b"), "https://h.example/a@b");
        let (u, auth) =
            split_userinfo(&"https://me:p%40ss@h.example:8443/c.pem".parse().unwrap()).unwrap();
        assert_eq!(u.to_string(), "https://h.example:8443/c.pem");
        assert_eq!(auth.unwrap().to_str().unwrap(), "Basic bWU6cEBzcw==");
        let (u, auth) = split_userinfo(&"http://h.example/c".parse().unwrap()).unwrap();
        assert_eq!(u.to_string(), "http://h.example/c");
        assert!(auth.is_none());
    }

    #[test]
    fn locations_resolve_as_go() {
        let base: hyper::Uri = "https://h.example:8443/a/b/c.pem?x=1".parse().unwrap();
        let r = |l: &str| resolve_location(&base, l).ok().map(|u| u.to_string());
        assert_eq!(
            r("https://o.example/c.pem").as_deref(),
            Some("https://o.example/c.pem")
        );
        assert_eq!(r("http://o.example").as_deref(), Some("http://o.example/"));
        assert_eq!(r("//o.example/x").as_deref(), Some("https://o.example/x"));
        assert_eq!(
            r("/x/./y/../z.pem").as_deref(),
            Some("https://h.example:8443/x/z.pem")
        );
        assert_eq!(
            r("d.pem").as_deref(),
            Some("https://h.example:8443/a/b/d.pem")
        );
        assert_eq!(
            r("../d.pem#frag").as_deref(),
            Some("https://h.example:8443/a/d.pem")
        );
        assert_eq!(
            r("../../../../d").as_deref(),
            Some("https://h.example:8443/d")
        );
        assert_eq!(
            r("?y=2").as_deref(),
            Some("https://h.example:8443/a/b/c.pem?y=2")
        );
        assert_eq!(r("/p?q=1").as_deref(), Some("https://h.example:8443/p?q=1"));
        assert_eq!(
            r("HTTP://o.example/a").as_deref(),
            Some("http://o.example/a")
        );
        assert_eq!(
            resolve_location(&base, "file:///etc/passwd").unwrap_err(),
            "redirected to unsupported protocol scheme \"file\""
        );
        assert_eq!(
            resolve_location(&base, "http://bad host/").unwrap_err(),
            "redirected to an invalid Location"
        );
    }
}
