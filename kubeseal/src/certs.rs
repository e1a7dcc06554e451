//! Where the sealing certificate comes from (`--cert` / `SEALED_SECRETS_CERT`, or the controller)
//! and parsing it as upstream's `ParseKey`.

use std::path::PathBuf;
use std::time::SystemTime;

use common::keys::Certificate;

use crate::config::{Config, KubeFlags};

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// A local file.
    Path(PathBuf),
    /// `http://`, `https://` or `file://` URL.
    Url(String),
    /// The controller, through the API server's service proxy.
    Controller {
        /// Service name.
        name: String,
        /// Namespace.
        namespace: String,
    },
}

impl CertSource {
    /// From the configuration: `--cert` wins over `--controller-*`.
    pub fn from_config(config: &Config) -> Self {
        match &config.cert {
            Some(c) => classify(c),
            None => CertSource::Controller {
                name: config.controller_name.clone(),
                namespace: config.controller_namespace.clone(),
            },
        }
    }
}

/// Upstream treats `--cert` as a filename when `url.Parse` finds no scheme or a one-letter scheme
/// (a Windows drive); otherwise as a URL.
pub fn classify(cert: &str) -> CertSource {
    let scheme = cert.split_once(':').map(|(s, _)| s).filter(|s| {
        let mut c = s.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic())
            && c.all(|ch| ch.is_ascii_alphanumeric() || "+-.".contains(ch))
    });
    match scheme {
        Some(s) if s.len() > 1 => CertSource::Url(cert.to_string()),
        _ => CertSource::Path(PathBuf::from(cert)),
    }
}

/// The certificate bytes, as fetched (PEM). `kube` is used only for [`CertSource::Controller`].
pub fn open_cert(source: &CertSource, kube: &KubeFlags) -> anyhow::Result<Vec<u8>> {
    match source {
        CertSource::Path(p) => crate::read_file(p),
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
                crate::read_file(&path)
            } else if lower.starts_with("http://") || lower.starts_with("https://") {
                crate::http::get(u)
            } else {
                let scheme = u.split(':').next().unwrap_or_default();
                anyhow::bail!("cannot fetch {u:?}: unsupported protocol scheme {scheme:?}")
            }
        }
        CertSource::Controller { name, namespace } => {
            let online = crate::online::Online::connect(kube)?;
            let ctl = online.controller(namespace, name)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_like_url_parse() {
        assert_eq!(
            classify("/tmp/c.pem"),
            CertSource::Path("/tmp/c.pem".into())
        );
        assert_eq!(classify("c.pem"), CertSource::Path("c.pem".into()));
        assert_eq!(
            classify("C:\\x\\c.pem"),
            CertSource::Path("C:\\x\\c.pem".into())
        );
        assert_eq!(classify("http://h/c"), CertSource::Url("http://h/c".into()));
        assert_eq!(classify("file:///c"), CertSource::Url("file:///c".into()));
    }
}
