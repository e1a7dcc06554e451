//! Proxies from the environment, as Go's `http.ProxyFromEnvironment` (golang.org/x/net
//! `httpproxy`) reads them, for `--cert http(s)://…` and for the API server when neither
//! `--proxy-url` nor the kubeconfig's `proxy-url` names one:
//!
//! - `HTTPS_PROXY`/`https_proxy` for `https://` targets, `HTTP_PROXY`/`http_proxy` for `http://`
//!   ones (the upper-case name wins; `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set, as in a
//!   CGI process). `ALL_PROXY` is not read (Go does not either).
//! - A value without a known scheme (`http`, `https`, `socks5`, `socks5h`) is taken as
//!   `http://<value>`, so `proxy:3128` works.
//! - `localhost` and loopback addresses are never proxied.
//! - `NO_PROXY`/`no_proxy`: comma-separated; `*` matches everything; an IP address (optionally
//!   with `:port`), a CIDR, or a domain: `example.com` matches it and its subdomains,
//!   `.example.com` and `*.example.com` only the subdomains; `:port` restricts an entry to a port.
//!
//! Pure: [`ProxyEnv::from_lookup`] takes the variables from a function, so the rules are tested
//! without touching the process environment.

use std::net::IpAddr;

use base64::Engine as _;
use http::Uri;
use http::header::HeaderValue;

/// The proxy-related variables, read once.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    http: Option<(String, &'static str)>,
    https: Option<(String, &'static str)>,
    no_proxy: NoProxy,
}

/// How to reach a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyScheme {
    /// `http://`: CONNECT for https targets, absolute-form requests for http ones.
    Http,
    /// `https://`: TLS to the proxy first.
    Https,
    /// `socks5://` or `socks5h://`: names are resolved by the proxy (Go's SOCKS5 dialer sends the
    /// host name for both).
    Socks5,
}

/// A proxy to use for one target.
#[derive(Clone)]
pub struct Proxy {
    /// The proxy's address, `scheme://host:port`, without credentials.
    pub uri: Uri,
    /// Its scheme.
    pub scheme: ProxyScheme,
    /// `user:password` from the URL, percent-decoded.
    pub credentials: Option<(String, String)>,
    /// The variable it came from (for error messages; the value itself may hold a password and is
    /// never printed).
    pub source: &'static str,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("uri", &self.uri)
            .field("scheme", &self.scheme)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("source", &self.source)
            .finish()
    }
}

impl Proxy {
    /// `Proxy-Authorization: Basic …` for the credentials, if any.
    pub fn basic_auth(&self) -> Option<HeaderValue> {
        let (user, pass) = self.credentials.as_ref()?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let mut v = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// The URL with its credentials, as kube's client takes a proxy (it sends the userinfo as
    /// basic auth itself).
    pub fn uri_with_credentials(&self) -> anyhow::Result<Uri> {
        let Some((user, pass)) = &self.credentials else {
            return Ok(self.uri.clone());
        };
        let enc = |s: &str| percent_encode_userinfo(s);
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let scheme = self.uri.scheme_str().unwrap_or("http");
        format!("{scheme}://{}:{}@{authority}", enc(user), enc(pass))
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid proxy address in {}", self.source))
    }
}

impl ProxyEnv {
    /// Read the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read the variables through `get` (first non-empty of the upper- and lower-case names).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let any = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|n| get(n).filter(|v| !v.is_empty()).map(|v| (v, n)))
        };
        let cgi = get("REQUEST_METHOD").is_some_and(|v| !v.is_empty());
        Self {
            http: if cgi {
                None
            } else {
                any(["HTTP_PROXY", "http_proxy"])
            },
            https: any(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: NoProxy::parse(
                &any(["NO_PROXY", "no_proxy"])
                    .map(|(v, _)| v)
                    .unwrap_or_default(),
            ),
        }
    }

    /// The proxy for `target`, `None` for a direct connection. An unparsable proxy variable is an
    /// error naming the variable (not its value).
    pub fn proxy_for(&self, target: &Uri) -> anyhow::Result<Option<Proxy>> {
        let (value, source) = match target.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => match &self.https {
                Some(v) => v,
                None => return Ok(None),
            },
            Some(s) if s.eq_ignore_ascii_case("http") => match &self.http {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let Some(host) = target.host() else {
            return Ok(None);
        };
        let port = target.port_u16().unwrap_or(
            if target
                .scheme_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("https"))
            {
                443
            } else {
                80
            },
        );
        if !self.no_proxy.use_proxy(host, port) {
            return Ok(None);
        }
        parse_proxy(value, source).map(Some)
    }
}

/// `--proxy-url` / a kubeconfig `proxy-url` / a proxy variable → [`Proxy`]. `source` names where
/// the value came from; the value is never quoted (it may hold a password).
pub fn parse_proxy(value: &str, source: &'static str) -> anyhow::Result<Proxy> {
    let bad = || anyhow::anyhow!("invalid proxy address in {source}");
    let value = value.trim();
    let known = ["http://", "https://", "socks5://", "socks5h://"];
    let lower = value.to_ascii_lowercase();
    let full = if known.iter().any(|k| lower.starts_with(k)) {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let (scheme_str, rest) = full.split_once("://").ok_or_else(bad)?;
    let scheme_str = scheme_str.to_ascii_lowercase();
    let (scheme, default_port) = match scheme_str.as_str() {
        "http" => (ProxyScheme::Http, 80),
        "https" => (ProxyScheme::Https, 443),
        "socks5" | "socks5h" => (ProxyScheme::Socks5, 1080),
        _ => return Err(bad()),
    };
    // The authority ends at the first '/', '?' or '#'; a path on a proxy URL is ignored, as Go.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if hostport.is_empty() {
        return Err(bad());
    }
    let credentials = userinfo.map(|u| {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        (percent_decode(user), percent_decode(pass))
    });
    let parsed: http::uri::Authority = hostport.parse().map_err(|_| bad())?;
    let port = parsed.port_u16().unwrap_or(default_port);
    // One spelling for SOCKS (kube's client knows only `socks5`).
    let scheme_str = if scheme == ProxyScheme::Socks5 {
        "socks5".to_string()
    } else {
        scheme_str
    };
    let uri: Uri = format!("{scheme_str}://{}:{port}", parsed.host())
        .parse()
        .map_err(|_| bad())?;
    Ok(Proxy {
        uri,
        scheme,
        credentials,
        source,
    })
}

/// `%XX` escapes decoded (invalid ones kept as they are), as userinfo is percent-encoded.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| {
            bytes
                .get(j)
                .and_then(|c| char::from(*c).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `NO_PROXY`, parsed as Go's `httpproxy.config.init`.
#[derive(Debug, Clone, Default)]
struct NoProxy {
    all: bool,
    ips: Vec<IpRule>,
    domains: Vec<DomainRule>,
}

#[derive(Debug, Clone)]
enum IpRule {
    /// An address, with an optional port.
    Addr(IpAddr, Option<u16>),
    /// A CIDR: network address and prefix length.
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone)]
struct DomainRule {
    /// With a leading '.'.
    suffix: String,
    /// The entry had no leading '.': the domain itself matches too.
    match_host: bool,
    port: Option<u16>,
}

impl NoProxy {
    fn parse(s: &str) -> Self {
        let mut np = NoProxy::default();
        for p in s.split(',') {
            let p = p.trim().to_ascii_lowercase();
            if p.is_empty() {
                continue;
            }
            if p == "*" {
                return NoProxy {
                    all: true,
                    ..NoProxy::default()
                };
            }
            if let Some(cidr) = parse_cidr(&p) {
                np.ips.push(cidr);
                continue;
            }
            let (host, port) = split_host_port(&p);
            let port = match port {
                Some(pt) => match pt.parse::<u16>() {
                    Ok(n) => Some(n),
                    // Go keeps the text and compares it: a port that is not a number never
                    // matches; dropping the entry is the same.
                    Err(_) => continue,
                },
                None => None,
            };
            if host.is_empty() {
                continue;
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                np.ips.push(IpRule::Addr(ip, port));
                continue;
            }
            let host = host
                .strip_prefix('*')
                .filter(|h| h.starts_with('.'))
                .unwrap_or(host);
            let (suffix, match_host) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            np.domains.push(DomainRule {
                suffix,
                match_host,
                port,
            });
        }
        np
    }

    /// Go's `useProxy`: false for localhost, loopback addresses and `NO_PROXY` matches.
    fn use_proxy(&self, host: &str, port: u16) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_ascii_lowercase();
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return false;
        }
        if self.all {
            return false;
        }
        if let Some(ip) = ip {
            let hit = self.ips.iter().any(|r| match r {
                IpRule::Addr(a, p) => *a == ip && p.is_none_or(|p| p == port),
                IpRule::Cidr(net, len) => cidr_contains(*net, *len, ip),
            });
            if hit {
                return false;
            }
        }
        !self.domains.iter().any(|d| {
            (host.ends_with(&d.suffix) || (d.match_host && d.suffix.get(1..) == Some(&host)))
                && d.port.is_none_or(|p| p == port)
        })
    }
}

/// `host:port`, `[v6]:port`, or a bare host (a bare IPv6 address has no port).
fn split_host_port(p: &str) -> (&str, Option<&str>) {
    if let Some(rest) = p.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (p, None),
        };
    }
    match p.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') => (h, Some(port)),
        _ => (p, None),
    }
}

fn parse_cidr(p: &str) -> Option<IpRule> {
    let (addr, len) = p.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some(IpRule::Cidr(ip, len))
}

fn cidr_contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    let bits = |a: IpAddr| -> (u128, u32) {
        match a {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    };
    let ((n, width), (i, iwidth)) = (bits(net), bits(ip));
    if width != iwidth {
        return false;
    }
    let len = u32::from(len);
    if len == 0 {
        return true;
    }
    let shift = width - len;
    n.checked_shr(shift) == i.checked_shr(shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyEnv::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn proxy(e: &ProxyEnv, target: &str) -> Option<String> {
        e.proxy_for(&target.parse().unwrap())
            .unwrap()
            .map(|p| p.uri.to_string())
    }

    #[test]
    fn scheme_selects_the_variable_and_upper_case_wins() {
        let e = env(&[
            ("HTTP_PROXY", "http://hp:1"),
            ("http_proxy", "http://lower:1"),
            ("https_proxy", "sp:2"),
        ]);
        assert_eq!(
            proxy(&e, "http://example.com/c").as_deref(),
            Some("http://hp:1/")
        );
        assert_eq!(
            proxy(&e, "https://example.com/c").as_deref(),
            Some("http://sp:2/")
        );
        let e = env(&[("HTTPS_PROXY", "http://p")]);
        assert_eq!(proxy(&e, "http://example.com/c"), None);
        assert_eq!(
            proxy(&e, "https://example.com/c").as_deref(),
            Some("http://p:80/")
        );
        // ALL_PROXY is curl's, not Go's.
        assert_eq!(proxy(&env(&[("ALL_PROXY", "http://p")]), "http://x/"), None);
    }

    #[test]
    fn cgi_ignores_http_proxy() {
        let e = env(&[("HTTP_PROXY", "http://p"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(proxy(&e, "http://example.com/"), None);
    }

    #[test]
    fn localhost_and_loopback_are_never_proxied() {
        let e = env(&[("HTTP_PROXY", "http://p"), ("HTTPS_PROXY", "http://p")]);
        for t in [
            "http://localhost:8080/c",
            "https://LOCALHOST/c",
            "http://127.0.0.1/c",
            "http://127.5.6.7:9/c",
            "http://[::1]:8080/c",
        ] {
            assert_eq!(proxy(&e, t), None, "{t}");
        }
        assert!(proxy(&e, "http://10.0.0.1/c").is_some());
    }

    #[test]
    fn no_proxy_rules_as_go() {
        let e = env(&[
            ("HTTPS_PROXY", "http://p:3128"),
            (
                "NO_PROXY",
                " Example.com, .sub.org,*.star.net, 10.1.0.0/16, 192.168.1.1, 172.16.0.1:8443, ports.io:444, [fd00::1]:443, ,bad:port",
            ),
        ]);
        let direct = |t: &str| proxy(&e, t).is_none();
        assert!(direct("https://example.com/"));
        assert!(direct("https://a.b.example.com/"));
        assert!(!direct("https://notexample.com/"));
        assert!(!direct("https://sub.org/"), ".sub.org: subdomains only");
        assert!(direct("https://x.sub.org/"));
        assert!(!direct("https://star.net/"), "*.star.net: subdomains only");
        assert!(direct("https://a.star.net/"));
        assert!(direct("https://10.1.200.3/"));
        assert!(!direct("https://10.2.0.1/"));
        assert!(direct("https://192.168.1.1:9999/"));
        assert!(direct("https://172.16.0.1:8443/"));
        assert!(!direct("https://172.16.0.1/"), "port 443 is not 8443");
        assert!(direct("https://ports.io:444/"));
        assert!(!direct("https://ports.io/"));
        assert!(direct("https://[fd00::1]/"));
        assert!(!direct("https://[fd00::2]/"));
        let all = env(&[("HTTPS_PROXY", "http://p"), ("no_proxy", "*")]);
        assert_eq!(proxy(&all, "https://anything.example/"), None);
    }

    #[test]
    fn cidr_edges() {
        let e = env(&[
            ("HTTPS_PROXY", "http://p"),
            ("NO_PROXY", "0.0.0.0/0,fd00::/8"),
        ]);
        assert_eq!(proxy(&e, "https://8.8.8.8/"), None);
        assert_eq!(proxy(&e, "https://[fdff::9]/"), None);
        assert!(proxy(&e, "https://[2001:db8::1]/").is_some());
        assert!(proxy(&e, "https://host.example/").is_some());
    }

    #[test]
    fn proxy_values_parse_as_go_and_errors_hide_the_value() {
        let p = parse_proxy("user:p%40ss@proxy.corp:8080", "HTTPS_PROXY").unwrap();
        assert_eq!(p.uri.to_string(), "http://proxy.corp:8080/");
        assert_eq!(p.scheme, ProxyScheme::Http);
        assert_eq!(
            p.credentials,
            Some(("user".to_string(), "p@ss".to_string()))
        );
        assert_eq!(
            p.basic_auth().unwrap().to_str().unwrap(),
            "Basic dXNlcjpwQHNz"
        );
        assert_eq!(
            p.uri_with_credentials().unwrap().to_string(),
            "http://user:p%40ss@proxy.corp:8080/"
        );
        assert!(!format!("{p:?}").contains("p@ss"));
        let s = parse_proxy("socks5h://[::1]", "--proxy-url").unwrap();
        assert_eq!(s.scheme, ProxyScheme::Socks5);
        assert_eq!(s.uri.to_string(), "socks5://[::1]:1080/");
        assert_eq!(
            parse_proxy("HTTPS://p/path", "x").unwrap().uri.to_string(),
            "https://p:443/"
        );
        let err = parse_proxy("http://user:secret@", "HTTPS_PROXY").unwrap_err();
        assert_eq!(err.to_string(), "invalid proxy address in HTTPS_PROXY");
        let err = parse_proxy("http://us er:secret@ho st", "HTTPS_PROXY").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        // A bad value is only an error when it would be used.
        let e = env(&[
            ("HTTPS_PROXY", "http://:secret@"),
            ("NO_PROXY", "ok.example"),
        ]);
        assert!(
            e.proxy_for(&"https://ok.example/".parse().unwrap())
                .unwrap()
                .is_none()
        );
        let err = e
            .proxy_for(&"https://other.example/".parse().unwrap())
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid proxy address in HTTPS_PROXY");
    }
}
