//! Cluster access (kubectl-like) and the controller's HTTP API through the API server's service
//! proxy. Nothing here runs on the offline path but the namespace lookup of [`kubeconfig`]: the
//! tokio runtime, the TLS configuration and the client happen only in [`Online::connect`].

use std::time::Duration;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use kube::config::Kubeconfig;

use crate::config::KubeFlags;

pub mod kubeconfig;
pub mod proxy;

/// Timeout of every request when `--request-timeout` is `0` (upstream: no timeout; we never hang).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body accepted from the API server.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Upstream's hint when the controller Service cannot be read.
pub const SERVICE_HINT: &str = "Please, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller";

/// Parse `--request-timeout` as client-go does: a bare integer is seconds, else a Go duration
/// ([`common::go::parse_duration`]: `1m30s`, `500ms`, `2µs`, …). Zero → `None`.
pub fn parse_timeout(s: &str) -> anyhow::Result<Option<Duration>> {
    let s = s.trim();
    let bad = || {
        anyhow::anyhow!(
            "invalid timeout value {s:?}. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)"
        )
    };
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok((n > 0).then(|| Duration::from_secs(n)));
    }
    let d = common::go::parse_duration(s).map_err(|_| bad())?;
    Ok((!d.is_zero()).then_some(d))
}

/// `/api/v1/namespaces/{ns}/services/http:{name}:{port}/proxy` (an empty port name is allowed:
/// `http:{name}:`, as upstream for the jsonnet Service whose port has no name).
pub fn proxy_base(namespace: &str, name: &str, port_name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/services/http:{name}:{port_name}/proxy")
}

/// `/api/v1/namespaces/{ns}/services/{name}`.
pub fn service_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/services/{name}")
}

/// `spec.ports[0].name` of a Service (JSON), empty when unnamed.
pub fn first_port_name(service_json: &[u8]) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_slice(service_json)
        .map_err(|e| anyhow::anyhow!("cannot decode the Service: {e}"))?;
    let first = v
        .pointer("/spec/ports")
        .and_then(|p| p.as_array())
        .and_then(|p| p.first())
        .ok_or_else(|| anyhow::anyhow!("the Service has no ports"))?;
    Ok(first
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_string())
}

/// kube's configuration error, with a hint when its (stricter than Go's) proxy parsing refused
/// the environment: it reads HTTPS_PROXY and NO_PROXY itself whenever a proxy is configured, and
/// refuses a NO_PROXY with an empty entry (`a,,b`, a trailing comma) or an entry that is not a
/// host, IP address or CIDR, where kubectl ignores the entry.
fn kubeconfig_error(what: &str, e: &kube::config::KubeconfigError) -> anyhow::Error {
    use kube::config::KubeconfigError as K;
    match e {
        K::ParseNoProxy(inner) => anyhow::anyhow!(
            "cannot use NO_PROXY/no_proxy ({inner}): with a proxy for the API server, every comma-separated entry must be a host name, an IP address or a CIDR (remove empty entries such as a trailing comma)"
        ),
        K::ParseProxyUrl(_) => anyhow::anyhow!(
            "cannot use the proxy for the API server: the kubeconfig's proxy-url or HTTPS_PROXY/https_proxy is not a valid URL"
        ),
        other => anyhow::anyhow!("{what}: {other}"),
    }
}

/// `err` and its sources, `: `-separated, each once (hyper's and kube's top-level errors alone say
/// only "client error (Connect)").
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut src = err.source();
    while let Some(e) = src {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        src = e.source();
    }
    out
}

/// A connection to the API server.
pub struct Online {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    server: String,
    timeout: Duration,
}

/// The controller, as reached through the service proxy.
#[derive(Debug, Clone)]
pub struct Controller {
    /// Namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// The proxy path prefix ([`proxy_base`]).
    pub base: String,
}

/// A response: status and body.
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The `message` of a Kubernetes `Status` body, else the trimmed body text.
    pub fn message(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| text.trim().to_string())
    }
}

impl Online {
    /// Load the configuration (flags, kubeconfig, in-cluster) and build a client.
    pub fn connect(flags: &KubeFlags) -> anyhow::Result<Self> {
        let timeout = parse_timeout(&flags.request_timeout)?.unwrap_or(DEFAULT_TIMEOUT);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let kc = kubeconfig::load(flags)?;
        let (mut config, explicit_proxy) = rt.block_on(async {
            let overrides = flags.server.is_some() || flags.cluster.is_some();
            match kc {
                Some(mut kc) => {
                    let opts = kubeconfig::apply_overrides(&mut kc, flags);
                    let proxy = kubeconfig::cluster_proxy_url(&kc, &opts);
                    kube::Config::from_custom_kubeconfig(kc, &opts)
                        .await
                        .map(|c| (c, proxy))
                        .map_err(|e| kubeconfig_error("invalid kubeconfig", &e))
                }
                None if overrides => {
                    let mut kc = Kubeconfig::default();
                    let opts = kubeconfig::apply_overrides(&mut kc, flags);
                    let proxy = kubeconfig::cluster_proxy_url(&kc, &opts);
                    kube::Config::from_custom_kubeconfig(kc, &opts)
                        .await
                        .map(|c| (c, proxy))
                        .map_err(|e| kubeconfig_error("invalid configuration", &e))
                }
                None => {
                    let mut c = kube::Config::incluster().map_err(|e| {
                        anyhow::anyhow!(
                            "no kubeconfig found (--kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a cluster: {e}"
                        )
                    })?;
                    if let Some(a) = &flags.as_user {
                        c.auth_info.impersonate = Some(a.clone());
                    }
                    if let Some(uid) = &flags.as_uid {
                        c.auth_info.impersonate_uid = Some(uid.clone());
                    }
                    if !flags.as_group.is_empty() {
                        c.auth_info.impersonate_groups = Some(flags.as_group.clone());
                    }
                    if let Some(t) = &flags.token {
                        c.auth_info.token = Some(t.clone().into());
                        c.auth_info.token_file = None;
                    }
                    if flags.insecure_skip_tls_verify {
                        c.accept_invalid_certs = true;
                    }
                    if let Some(n) = &flags.tls_server_name {
                        c.tls_server_name = Some(n.clone());
                    }
                    if flags.disable_compression {
                        c.disable_compression = true;
                    }
                    Ok((c, flags.proxy_url.clone()))
                }
            }
        })?;
        // The proxy as client-go picks it: `--proxy-url` or the cluster's `proxy-url`, else Go's
        // `ProxyFromEnvironment` for the server's URL (kube's own reading of the environment uses
        // HTTPS_PROXY for http:// servers too and matches NO_PROXY against the proxy's address).
        config.proxy_url = match explicit_proxy {
            Some(p) => Some(
                proxy::parse_proxy(&p, "--proxy-url (or the kubeconfig's proxy-url)")?
                    .uri_with_credentials()?,
            ),
            None => proxy::ProxyEnv::from_env()
                .proxy_for(&config.cluster_url)?
                .map(|p| p.uri_with_credentials())
                .transpose()?,
        };
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        config.reset_reader_on_write = true;
        // A 503 from the proxy (no endpoints) is reported, not retried for minutes.
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let server = server.trim_end_matches('/').to_string();
        let client = {
            let _guard = rt.enter();
            kube::Client::try_from(config)
                .map_err(|e| anyhow::anyhow!("cannot create a client for {server}: {e}"))?
        };
        Ok(Self {
            rt,
            client,
            server,
            timeout,
        })
    }

    /// The client and a runtime to use it on (for `kube::Api` calls).
    pub fn block_on<T>(
        &self,
        fut: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let server = self.server.clone();
        let t = self.timeout;
        self.rt.block_on(async move {
            tokio::time::timeout(t, fut).await.map_err(|_| {
                anyhow::anyhow!(
                    "timed out after {t:?} waiting for the Kubernetes API server at {server} (use --request-timeout to change)"
                )
            })?
        })
    }

    /// The client.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Send a request; any HTTP status is returned, transport errors name the server.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Response> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::ACCEPT, accept);
        if body.is_some() {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = b.body(kube::client::Body::from(body.unwrap_or_default()))?;
        let client = self.client.clone();
        let server = self.server.clone();
        self.block_on(async move {
            let res = client.send(req).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach the Kubernetes API server at {server}: {}",
                    error_chain(&e)
                )
            })?;
            let status = res.status();
            let body = http_body_util::Limited::new(res.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the response from {server}: {e}"))?
                .to_bytes()
                .to_vec();
            Ok(Response { status, body })
        })
    }

    /// Look the controller Service up (for its first port's name). Errors carry upstream's hint.
    ///
    /// With `discover` (the name is kubeseal's default, not a flag) and no Service of that name,
    /// the one Service of a sealed-secrets controller in `namespace` is used instead (either
    /// chart's labels; never another namespace, where someone else could offer a key they hold),
    /// and stderr says which; several are an error that lists them.
    pub fn controller(
        &self,
        namespace: &str,
        name: &str,
        discover: bool,
    ) -> anyhow::Result<Controller> {
        let r = self
            .send(
                Method::GET,
                &service_path(namespace, name),
                "application/json",
                None,
            )
            .map_err(|e| {
                anyhow::anyhow!("cannot get sealed secret service: {e}.\n{SERVICE_HINT}")
            })?;
        if r.status == StatusCode::NOT_FOUND
            && discover
            && let Some((found, body)) = self.discover(namespace, name)?
        {
            eprintln!(
                "kubeseal: service \"{name}\" not found in namespace \"{namespace}\"; using the sealed-secrets controller service \"{found}\""
            );
            let port = first_port_name(&body).map_err(|e| {
                anyhow::anyhow!("cannot get sealed secret service: {e}.\n{SERVICE_HINT}")
            })?;
            return Ok(Controller {
                namespace: namespace.into(),
                base: proxy_base(namespace, &found, &port),
                name: found,
            });
        }
        if !r.status.is_success() {
            let msg = r.message();
            let msg = if msg.is_empty() {
                r.status.to_string()
            } else {
                msg
            };
            anyhow::bail!("cannot get sealed secret service: {msg}.\n{SERVICE_HINT}");
        }
        let port = first_port_name(&r.body).map_err(|e| {
            anyhow::anyhow!("cannot get sealed secret service: {e}.\n{SERVICE_HINT}")
        })?;
        Ok(Controller {
            namespace: namespace.into(),
            name: name.into(),
            base: proxy_base(namespace, name, &port),
        })
    }

    /// The one sealed-secrets controller Service of `namespace` (name and JSON), `None` when there
    /// is none or the Services cannot be listed; several are an error naming them.
    fn discover(
        &self,
        namespace: &str,
        missing: &str,
    ) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        let Ok(r) = self.send(
            Method::GET,
            &format!("/api/v1/namespaces/{namespace}/services"),
            "application/json",
            None,
        ) else {
            return Ok(None);
        };
        if !r.status.is_success() {
            return Ok(None);
        }
        let found = controller_services(&r.body);
        match found.as_slice() {
            [] => Ok(None),
            [(name, body)] => Ok(Some((name.clone(), body.clone()))),
            several => {
                let names: Vec<&str> = several.iter().map(|(n, _)| n.as_str()).collect();
                anyhow::bail!(
                    "cannot get sealed secret service: service \"{missing}\" not found, and namespace \"{namespace}\" has {} sealed-secrets controller services: {}; choose one with --controller-name.\n{SERVICE_HINT}",
                    names.len(),
                    names.join(", ")
                )
            }
        }
    }

    /// `GET …/proxy/v1/cert.pem`: the PEM bytes as fetched.
    pub fn fetch_cert(&self, c: &Controller) -> anyhow::Result<Vec<u8>> {
        let r = self
            .send(
                Method::GET,
                &format!("{}/v1/cert.pem", c.base),
                "application/x-pem-file, */*",
                None,
            )
            .map_err(|e| anyhow::anyhow!("cannot fetch certificate: {e}"))?;
        if !r.status.is_success() {
            return Err(anyhow::anyhow!(
                "cannot fetch certificate: {}",
                proxy_error(&r, "get", c)
            ));
        }
        Ok(r.body)
    }

    /// `POST …/proxy/v1/{endpoint}` with a JSON body.
    pub fn post(&self, c: &Controller, endpoint: &str, body: Vec<u8>) -> anyhow::Result<Response> {
        self.send(
            Method::POST,
            &format!("{}/v1/{endpoint}", c.base),
            "application/json, */*",
            Some(body),
        )
    }
}

/// The Services of a `ServiceList` (JSON) that front a sealed-secrets controller: labelled by
/// either chart (`app.kubernetes.io/part-of` or `app.kubernetes.io/name` `sealed-secrets`) or named
/// as upstream's `controller.yaml` names it, less the metrics Services (a name ending in
/// `-metrics`, or every port named `*metrics`). Sorted by name; each with its own JSON.
pub fn controller_services(list_json: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(list) = serde_json::from_slice::<serde_json::Value>(list_json) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = list
        .get("items")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
        .filter_map(|svc| {
            let name = svc.pointer("/metadata/name")?.as_str()?.to_owned();
            let label = |k: &str| {
                svc.pointer("/metadata/labels")
                    .and_then(|l| l.get(k))
                    .and_then(|v| v.as_str())
            };
            let ours = label("app.kubernetes.io/part-of") == Some("sealed-secrets")
                || label("app.kubernetes.io/name") == Some("sealed-secrets")
                || name == "sealed-secrets-controller";
            let ports: Vec<&str> = svc
                .pointer("/spec/ports")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
                .map(|p| p.get("name").and_then(|n| n.as_str()).unwrap_or_default())
                .collect();
            let metrics = name.ends_with("-metrics")
                || (!ports.is_empty() && ports.iter().all(|p| p.ends_with("metrics")));
            (ours && !metrics).then(|| (name, serde_json::to_vec(svc).unwrap_or_default()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A specific message for a failed proxied request (`verb` is the RBAC verb of the request on
/// `services/proxy`: `get` for GET, `create` for POST).
pub fn proxy_error(r: &Response, verb: &str, c: &Controller) -> String {
    let msg = r.message();
    let detail = if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    };
    match r.status.as_u16() {
        403 => format!(
            "{} (forbidden: permission \"{verb}\" on \"services/proxy\" for service \"{}\" in namespace \"{}\" is needed){detail}",
            r.status, c.name, c.namespace
        ),
        404 => format!(
            "{} (the service proxy or the controller found no such path; is service \"{}\" in namespace \"{}\" a sealed-secrets controller of a version that serves this endpoint?){detail}",
            r.status, c.name, c.namespace
        ),
        503 => format!(
            "{} (the controller is not ready: service \"{}\" in namespace \"{}\" has no ready endpoints or the controller is not listening){detail}",
            r.status, c.name, c.namespace
        ),
        429 => format!(
            "{} (rate limited by the controller; retry later){detail}",
            r.status
        ),
        _ => format!("{}{detail}", r.status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths() {
        assert_eq!(
            proxy_base("kube-system", "sealed-secrets-controller", "http"),
            "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy"
        );
        assert_eq!(
            proxy_base("ns", "ctl", ""),
            "/api/v1/namespaces/ns/services/http:ctl:/proxy"
        );
        assert_eq!(
            service_path("ns", "ctl"),
            "/api/v1/namespaces/ns/services/ctl"
        );
    }

    #[test]
    fn controller_services_are_either_charts_less_metrics() {
        let list = serde_json::json!({ "items": [
            { "metadata": { "name": "sealed-secrets", "labels": { "app.kubernetes.io/name": "sealed-secrets" } },
              "spec": { "ports": [{ "name": "http", "port": 8080 }] } },
            { "metadata": { "name": "sealed-secrets-metrics", "labels": { "app.kubernetes.io/name": "sealed-secrets" } },
              "spec": { "ports": [{ "name": "http-metrics", "port": 8081 }] } },
            { "metadata": { "name": "renamed", "labels": { "app.kubernetes.io/part-of": "sealed-secrets" } },
              "spec": { "ports": [{ "name": "metrics", "port": 8081 }] } },
            { "metadata": { "name": "web", "labels": { "app.kubernetes.io/name": "web" } },
              "spec": { "ports": [{ "name": "http", "port": 80 }] } },
            { "metadata": { "name": "sealed-secrets-controller" }, "spec": { "ports": [{ "port": 8080 }] } },
        ]});
        let found = controller_services(&serde_json::to_vec(&list).unwrap());
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["sealed-secrets", "sealed-secrets-controller"]);
        assert!(controller_services(b"not json").is_empty());
    }

    #[test]
    fn port_names() {
        let named = br#"{"spec":{"ports":[{"name":"http","port":8080},{"name":"x","port":1}]}}"#;
        assert_eq!(first_port_name(named).unwrap(), "http");
        let unnamed = br#"{"spec":{"ports":[{"port":8080}]}}"#;
        assert_eq!(first_port_name(unnamed).unwrap(), "");
        assert!(first_port_name(br#"{"spec":{"ports":[]}}"#).is_err());
        assert!(first_port_name(b"not json").is_err());
    }

    #[test]
    fn proxy_errors_are_specific() {
        let c = Controller {
            namespace: "ns".into(),
            name: "ctl".into(),
            base: proxy_base("ns", "ctl", "http"),
        };
        let r = |code: u16, body: &str| Response {
            status: StatusCode::from_u16(code).unwrap(),
            body: body.as_bytes().to_vec(),
        };
        let m = proxy_error(
            &r(
                403,
                r#"{"kind":"Status","message":"services \"ctl\" is forbidden"}"#,
            ),
            "get",
            &c,
        );
        assert!(
            m.contains("permission \"get\" on \"services/proxy\""),
            "{m}"
        );
        assert!(
            m.contains("namespace \"ns\"") && m.ends_with("services \"ctl\" is forbidden"),
            "{m}"
        );
        assert!(proxy_error(&r(404, ""), "get", &c).starts_with("404 Not Found ("));
        let m = proxy_error(
            &r(503, "no endpoints available for service \"ctl\""),
            "create",
            &c,
        );
        assert!(
            m.contains("the controller is not ready") && m.contains("no endpoints available"),
            "{m}"
        );
        assert!(proxy_error(&r(429, "limit exceeded\n"), "create", &c).contains("rate limited"));
        assert_eq!(
            proxy_error(&r(500, ""), "get", &c),
            "500 Internal Server Error"
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert_eq!(parse_timeout("").unwrap(), None);
        assert_eq!(parse_timeout("5").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("2m").unwrap(), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_timeout("1m30s").unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_timeout("500ms").unwrap(),
            Some(Duration::from_millis(500))
        );
        assert!(parse_timeout("abc").is_err());
        assert!(parse_timeout("5x").is_err());
        // Multi-byte units and garbage split on character boundaries, never panic.
        assert_eq!(
            parse_timeout("2µs").unwrap(),
            Some(Duration::from_nanos(2000))
        );
        assert!(parse_timeout("5é").is_err());
        assert!(parse_timeout("µ5s").is_err());
        assert!(parse_timeout("5s€").is_err());
        // Regression: a value too large for a Duration panicked in Duration::from_secs_f64.
        assert!(parse_timeout("99999999999999999999999h").is_err());
        assert!(parse_timeout(&format!("{}s", "9".repeat(400))).is_err());
    }
}
