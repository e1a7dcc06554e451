//! kubeseal's online modes against the real control plane, with the controller running inside the
//! pod network and reached through the API server's service proxy: sealing without `--cert`,
//! `--fetch-cert`, `--validate`, `--re-encrypt`, the service-missing hint, and the key commands
//! (`kubeseal keys backup|restore|list`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use common::annotations::SEALED_SECRETS_KEY_LABEL;
use common::crd::SealedSecret;
use common::documents::parse_sealed_secrets;
use common::keys::PrivateKey;
use common::sealing::{UnsealOptions, unseal};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use sealed_secrets_tests::{
    Spawn, TempDir, TestNamespace, TestProcess, cluster, ensure_crd, free_pod_port,
    register_pod_service, replace_whole, wait_for, wait_for_value, workspace_bin,
};

const WAIT: Duration = Duration::from_secs(40);
const SERVICE: &str = "sealed-secrets-controller";

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "kubeseal failed: {}", self.stderr);
        self
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A controller in the pod network, registered as service `sealed-secrets-controller` in its
/// own namespace.
struct Env {
    ns: TestNamespace,
    client: kube::Client,
    controller: TestProcess,
    dir: TempDir,
}

impl Env {
    async fn start(prefix: &str) -> Result<Self> {
        let ns = TestNamespace::new(prefix).await?;
        let client = ns.client();
        ensure_crd(&client).await?;
        let port = free_pod_port()?;
        let controller = Spawn::new(workspace_bin("controller"))
            .args([
                "--all-namespaces=false".to_string(),
                "--key-size=2048".into(),
                format!("--listen-addr={}:{port}", cluster().pod_ip),
                "--listen-metrics-addr=127.0.0.1:0".into(),
                "--rate-limit=0".into(),
            ])
            .env("POD_NAMESPACE", ns.name())
            .kubeconfig(&cluster().kubeconfig)
            .in_pod_network()
            .start("controller")?;
        register_pod_service(&client, ns.name(), SERVICE, port).await?;
        let env = Self {
            ns,
            client,
            controller,
            dir: TempDir::new("kubeseal-online"),
        };
        env.wait_keys(1).await?;
        // The proxy answers once the controller listens.
        let e = &env;
        wait_for(
            "the controller's cert through the proxy",
            WAIT,
            || async move { Ok(e.kubeseal(&["--fetch-cert"], b"").code == 0) },
        )
        .await
        .with_context(|| e.logs())?;
        Ok(env)
    }

    fn logs(&self) -> String {
        format!(
            "controller logs:\n{}{}",
            self.controller.stdout(),
            self.controller.stderr()
        )
    }

    fn ns(&self) -> &str {
        self.ns.name()
    }

    /// Run kubeseal with the admin kubeconfig and `--controller-namespace <ns>`.
    fn kubeseal(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut full: Vec<String> = Vec::new();
        let keys_mode = args.first() == Some(&"keys");
        if keys_mode {
            full.push("keys".into());
        }
        full.extend(
            args.iter()
                .skip(usize::from(keys_mode))
                .map(|s| s.to_string()),
        );
        full.push("--kubeconfig".into());
        full.push(cluster().kubeconfig.display().to_string());
        full.push("--controller-namespace".into());
        full.push(self.ns().into());
        full.push("--request-timeout".into());
        full.push("20s".into());
        run_kubeseal(&full, stdin, self.dir.path())
    }

    async fn key_secrets(&self) -> Result<Vec<Secret>> {
        let api: Api<Secret> = self.ns.api();
        let mut items = api
            .list(&ListParams::default().labels(SEALED_SECRETS_KEY_LABEL))
            .await?
            .items;
        items.sort_by_key(newest_order);
        Ok(items)
    }

    async fn wait_keys(&self, n: usize) -> Result<Vec<Secret>> {
        let e = self;
        wait_for_value(&format!("{n} key Secret(s)"), WAIT, || async move {
            let k = e.key_secrets().await?;
            Ok((k.len() >= n).then_some(k))
        })
        .await
        .with_context(|| self.logs())
    }

    async fn wait_secret(&self, name: &str) -> Result<Secret> {
        sealed_secrets_tests::wait_secret(&self.ns.api(), name, WAIT)
            .await
            .with_context(|| self.logs())
    }

    /// Seal `name` with `data` online, returning the YAML.
    fn seal(&self, name: &str, value: &str) -> Vec<u8> {
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {}\nstringData:\n  foo: {value}\n",
            self.ns()
        );
        self.kubeseal(&["-o", "yaml"], secret.as_bytes())
            .ok()
            .stdout
    }

    async fn create(&self, yaml: &[u8]) -> Result<SealedSecret> {
        let ss = parse_sealed_secrets(yaml)?.remove(0);
        let api: Api<SealedSecret> = Api::namespaced(self.client.clone(), self.ns());
        Ok(api.create(&PostParams::default(), &ss).await?)
    }
}

fn newest_order(s: &Secret) -> std::time::SystemTime {
    s.data
        .as_ref()
        .and_then(|d| d.get("tls.crt"))
        .and_then(|c| common::keys::Certificate::from_pem(&c.0).ok())
        .map(|c| c.not_before())
        .unwrap_or(std::time::UNIX_EPOCH)
}

fn private_key(s: &Secret) -> PrivateKey {
    PrivateKey::from_pem(&s.data.as_ref().unwrap()["tls.key"].0).unwrap()
}

fn run_kubeseal(args: &[String], stdin: &[u8], home: &Path) -> Out {
    use std::io::Write as _;
    let mut child = std::process::Command::new(workspace_bin("kubeseal"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning kubeseal");
    let mut i = child.stdin.take().unwrap();
    i.write_all(stdin).unwrap();
    drop(i);
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seal_fetch_cert_validate_reencrypt_through_the_proxy() -> Result<()> {
    let env = Env::start("ks-online").await?;

    // Sealing without --cert goes through the proxy; the controller unseals the result.
    let sealed = env.seal("s1", "bar");
    env.create(&sealed).await?;
    let s = env.wait_secret("s1").await?;
    assert_eq!(s.data.unwrap()["foo"].0, b"bar");

    // --fetch-cert prints the newest key's tls.crt as fetched.
    let keys = env.key_secrets().await?;
    let out = env.kubeseal(&["--fetch-cert"], b"").ok();
    assert_eq!(
        out.stdout,
        keys.last().unwrap().data.as_ref().unwrap()["tls.crt"].0
    );

    // --validate: good → exit 0, nothing printed; renamed → upstream's message.
    let out = env.kubeseal(&["--validate"], &sealed).ok();
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        out.stderr
    );
    let renamed = String::from_utf8(sealed.clone())?.replace("name: s1", "name: other");
    let out = env.kubeseal(&["--validate"], renamed.as_bytes());
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: unable to decrypt sealed secret: other\n"
    );

    // A second key (SIGUSR1), then --re-encrypt: the output opens only with the newest key.
    let status = std::process::Command::new("kill")
        .args(["-USR1", &env.controller.pid().to_string()])
        .status()?;
    assert!(status.success());
    let keys = env.wait_keys(2).await?;
    let (old, new) = (private_key(&keys[0]), private_key(&keys[1]));
    let e = &env;
    let (newr, sealedr) = (&new, &sealed);
    let re = wait_for_value("re-encrypt with the new key", WAIT, || {
        let (new, sealed) = (newr, sealedr);
        async move {
            let out = e.kubeseal(&["--re-encrypt", "-o", "yaml"], sealed).ok();
            let ss = parse_sealed_secrets(&out.stdout)?.remove(0);
            Ok(unseal(
                &ss,
                &[new],
                &UnsealOptions::default(),
                &mut Default::default(),
            )
            .is_ok()
            .then_some(ss))
        }
    })
    .await?;
    assert!(
        unseal(
            &re,
            &[&old],
            &UnsealOptions::default(),
            &mut Default::default()
        )
        .is_err()
    );
    assert_eq!(re.metadata.name.as_deref(), Some("s1"));
    assert!(re.metadata.creation_timestamp.is_none());

    // In place with -f and no -w (keeps YAML).
    let file = env.dir.path().join("s1.yaml");
    std::fs::write(&file, &sealed)?;
    env.kubeseal(&["--re-encrypt", "-f", file.to_str().unwrap()], b"")
        .ok();
    let rewritten = std::fs::read(&file)?;
    assert_ne!(rewritten, sealed);
    assert!(
        rewritten.starts_with(b"---"),
        "{}",
        String::from_utf8_lossy(&rewritten)
    );
    let ss = parse_sealed_secrets(&rewritten)?.remove(0);
    unseal(
        &ss,
        &[&new],
        &UnsealOptions::default(),
        &mut Default::default(),
    )?;

    // Service missing → upstream's hint.
    let out = env.kubeseal(&["--fetch-cert", "--controller-name", "nope"], b"");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error: cannot get sealed secret service: ")
            && out.stderr.contains("\"nope\" not found")
            && out.stderr.ends_with("Please, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller\n"),
        "{}",
        out.stderr
    );
    env.ns.delete().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_backup_restore_list() -> Result<()> {
    let env = Env::start("ks-keys").await?;
    let sealed = env.seal("s2", "baz");

    // Backup: mode 0600, a warning, usable offline.
    let backup = env.dir.path().join("keys.yaml");
    let out = env
        .kubeseal(&["keys", "backup", "-o", backup.to_str().unwrap()], b"")
        .ok();
    assert!(out.stderr.contains("PRIVATE"), "{}", out.stderr);
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&backup)?.permissions().mode() & 0o777,
            0o600
        );
    }
    let sealed_file = env.dir.path().join("s2.yaml");
    std::fs::write(&sealed_file, &sealed)?;
    let out = run_kubeseal(
        &[
            "--recovery-unseal".into(),
            "--recovery-private-key".into(),
            backup.display().to_string(),
            "-f".into(),
            sealed_file.display().to_string(),
            "-o".into(),
            "yaml".into(),
        ],
        b"",
        env.dir.path(),
    )
    .ok();
    assert!(out.text().contains("foo: YmF6"), "{}", out.text());

    // list: the key, with the ACTIVE marker.
    let keys = env.key_secrets().await?;
    let key_name = keys[0].metadata.name.clone().unwrap();
    let out = env.kubeseal(&["keys", "list"], b"").ok();
    let text = out.text();
    assert!(text.starts_with("NAME"), "{text}");
    let row = text.lines().find(|l| l.starts_with(&key_name)).unwrap();
    assert!(row.ends_with("ACTIVE"), "{text}");

    // Delete the key: a SealedSecret sealed with it no longer validates (the controller has a
    // new key by then or none; either way it cannot decrypt).
    let api: Api<Secret> = env.ns.api();
    api.delete(&key_name, &DeleteParams::default()).await?;
    let e = &env;
    let s = &sealed;
    wait_for("validation fails without the key", WAIT, || async move {
        let out = e.kubeseal(&["--validate"], s);
        Ok(out.code == 1 && out.stderr.contains("unable to decrypt sealed secret: s2"))
    })
    .await?;
    env.create(&sealed).await?;

    // Restore: the key comes back under its name; the controller heals without a restart.
    let out = env
        .kubeseal(&["keys", "restore", backup.to_str().unwrap()], b"")
        .ok();
    assert!(
        out.text().contains(&format!("created {key_name}")),
        "{}",
        out.text()
    );
    let got = env.wait_secret("s2").await?;
    assert_eq!(got.data.unwrap()["foo"].0, b"baz");
    env.kubeseal(&["--validate"], &sealed).ok();

    // Twice: nothing duplicated.
    let before = env.key_secrets().await?.len();
    let out = env
        .kubeseal(&["keys", "restore", backup.to_str().unwrap()], b"")
        .ok();
    assert!(out.text().contains("skipped"), "{}", out.text());
    assert!(out.text().contains("restored 0 key(s)"), "{}", out.text());
    assert_eq!(env.key_secrets().await?.len(), before);
    let fps: Vec<String> = env
        .key_secrets()
        .await?
        .iter()
        .map(|s| private_key(s).fingerprint().to_string())
        .collect();
    let mut dedup = fps.clone();
    dedup.sort();
    dedup.dedup();
    if dedup.len() != fps.len() {
        bail!("duplicate keys after restore: {fps:?}");
    }
    env.ns.delete().await?;
    Ok(())
}

/// A selector-less Service `name` with `labels` in `ns` whose Endpoints are those of Service
/// `like` (the controller registered by [`Env::start`]); `port_name` names its one port.
async fn service_like(
    client: &kube::Client,
    ns: &str,
    like: &str,
    name: &str,
    port_name: &str,
    labels: serde_json::Value,
) -> Result<()> {
    use k8s_openapi::api::core::v1::{Endpoints, Service};
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), ns);
    let port = services
        .get(like)
        .await?
        .spec
        .and_then(|s| s.ports)
        .and_then(|p| p.into_iter().next())
        .map(|p| p.port)
        .context("the controller Service has no port")?;
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name, "labels": labels },
        "spec": { "ports": [{ "name": port_name, "port": port, "targetPort": port, "protocol": "TCP" }] }
    }))?;
    services.create(&PostParams::default(), &svc).await?;
    let mut eps = endpoints.get(like).await?;
    eps.metadata = kube::api::ObjectMeta {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    for subset in eps.subsets.iter_mut().flatten() {
        for p in subset.ports.iter_mut().flatten() {
            p.name = Some(port_name.to_owned());
        }
    }
    endpoints.create(&PostParams::default(), &eps).await?;
    Ok(())
}

/// `helm install sealed-secrets …` names the Service `sealed-secrets`, and kubeseal's default
/// `--controller-name` is `sealed-secrets-controller`: kubeseal then uses the one controller
/// Service of `--controller-namespace` (either chart's labels; metrics Services are not
/// candidates), says so on stderr, fails listing them when there are several, never looks in
/// another namespace, and never overrides an explicit `--controller-name`.
#[tokio::test(flavor = "multi_thread")]
async fn finds_the_chart_named_controller_service_in_its_namespace_only() -> Result<()> {
    let env = Env::start("ks-discover").await?;
    let labels = serde_json::json!({
        "app.kubernetes.io/name": "sealed-secrets",
        "app.kubernetes.io/instance": "sealed-secrets",
        "app.kubernetes.io/part-of": "sealed-secrets",
    });
    service_like(
        &env.client,
        env.ns(),
        SERVICE,
        "sealed-secrets",
        "http",
        labels.clone(),
    )
    .await?;
    service_like(
        &env.client,
        env.ns(),
        SERVICE,
        "sealed-secrets-metrics",
        "http-metrics",
        labels.clone(),
    )
    .await?;
    let services: Api<k8s_openapi::api::core::v1::Service> = env.ns.api();
    services.delete(SERVICE, &DeleteParams::default()).await?;

    let expected_cert = {
        let key = env.wait_keys(1).await?;
        String::from_utf8(key[0].data.clone().unwrap_or_default()["tls.crt"].0.clone())?
    };
    let e = &env;
    let fetched = wait_for_value(
        "the cert through the discovered Service",
        WAIT,
        || async move {
            let out = e.kubeseal(&["--fetch-cert"], b"");
            Ok((out.code == 0).then_some(out))
        },
    )
    .await?;
    assert_eq!(fetched.text(), expected_cert);
    assert!(
        fetched
            .stderr
            .contains("service \"sealed-secrets-controller\" not found")
            && fetched.stderr.contains("\"sealed-secrets\""),
        "stderr says which Service was used: {}",
        fetched.stderr
    );
    // Seal without --cert and validate through the discovered Service.
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: found\n  namespace: {}\ndata:\n  foo: YmFy\n",
        env.ns()
    );
    let sealed = env.kubeseal(&[], secret.as_bytes()).ok();
    env.kubeseal(&["--validate"], &sealed.stdout).ok();

    // An explicit name always wins: no discovery.
    let explicit = env.kubeseal(&["--fetch-cert", "--controller-name", SERVICE], b"");
    assert_ne!(explicit.code, 0);
    assert!(
        explicit.stderr.contains("not found") && !explicit.stderr.contains("using the"),
        "{}",
        explicit.stderr
    );

    // Another namespace's controller is never used.
    let other = TestNamespace::new("ks-discover-empty").await?;
    let out = run_kubeseal(
        &[
            "--fetch-cert".into(),
            "--kubeconfig".into(),
            cluster().kubeconfig.display().to_string(),
            "--controller-namespace".into(),
            other.name().into(),
        ],
        b"",
        env.dir.path(),
    );
    assert_ne!(
        out.code,
        0,
        "must not use the controller of namespace {}",
        env.ns()
    );
    assert!(
        out.stderr.contains("cannot get sealed secret service"),
        "{}",
        out.stderr
    );

    // Two controller Services: an error that names both.
    service_like(
        &env.client,
        env.ns(),
        "sealed-secrets",
        "second-sealed-secrets",
        "http",
        labels,
    )
    .await?;
    let two = env.kubeseal(&["--fetch-cert"], b"");
    assert_ne!(two.code, 0);
    assert!(
        two.stderr.contains("sealed-secrets, second-sealed-secrets")
            && two.stderr.contains("--controller-name"),
        "{}",
        two.stderr
    );
    Ok(())
}

/// The proxy variables kubeseal must not inherit from the machine in the proxy tests.
const PROXY_VARS: [&str; 7] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// kubeseal with the admin kubeconfig, `--controller-namespace`, no inherited proxy variables and
/// `env` set, off the async runtime (the test's CONNECT proxy runs on it).
async fn kubeseal_with_env(env: &Env, args: &[&str], vars: &[(&str, String)]) -> Out {
    let mut cmd = std::process::Command::new(workspace_bin("kubeseal"));
    cmd.args(args)
        .args(["--kubeconfig", &cluster().kubeconfig.display().to_string()])
        .args([
            "--controller-namespace",
            env.ns(),
            "--request-timeout",
            "20s",
        ])
        .env_remove("KUBECONFIG")
        .env("HOME", env.dir.path())
        .stdin(std::process::Stdio::null());
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("kubeseal thread")
        .expect("spawning kubeseal");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A CONNECT proxy on 127.0.0.1 that records each CONNECT line (and whether it carried
/// `Proxy-Authorization`) and splices the connection to the target.
struct ConnectProxy {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectProxy {
    async fn start() -> Result<Self> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
                        if client.read_exact(&mut b).await.is_err() {
                            return;
                        }
                        head.push(b[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let line = head.lines().next().unwrap_or_default().to_string();
                    let auth = head
                        .to_ascii_lowercase()
                        .contains("proxy-authorization: basic ");
                    log.lock().unwrap().push(format!("{line} auth={auth}"));
                    let Some(target) = line
                        .strip_prefix("CONNECT ")
                        .and_then(|r| r.split(' ').next())
                    else {
                        let _ = client
                            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                            .await;
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    if client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await
                        .is_ok()
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Ok(Self { addr, seen, task })
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The client flags kubeseal takes from kubectl reach the real API server: `--proxy-url` and
/// HTTPS_PROXY tunnel through a CONNECT proxy (NO_PROXY with the server's address goes direct),
/// `--tls-server-name` is what the server's certificate is checked against, and
/// `--disable-compression` / `--as-uid` are accepted by a working request.
#[tokio::test(flavor = "multi_thread")]
async fn client_flags_proxy_and_tls_server_name_against_the_api_server() -> Result<()> {
    let env = Env::start("ks-kflags").await?;
    let proxy = ConnectProxy::start().await?;
    let server = cluster()
        .apiserver
        .trim_start_matches("https://")
        .to_string();
    let connect = |auth: bool| format!("CONNECT {server} HTTP/1.1 auth={auth}");
    let expected = env.kubeseal(&["--fetch-cert"], b"").ok().stdout;

    // --proxy-url, with credentials: one tunnel to the API server, and the same certificate.
    let url = format!("http://user:pw@{}", proxy.addr);
    let out = kubeseal_with_env(&env, &["--fetch-cert", "--proxy-url", &url], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected);
    assert!(proxy.seen().contains(&connect(true)), "{:?}", proxy.seen());

    // HTTPS_PROXY (no flag): the same, as Go's ProxyFromEnvironment for an https server.
    let before = proxy.seen().len();
    let out = kubeseal_with_env(
        &env,
        &["--fetch-cert"],
        &[("HTTPS_PROXY", format!("{}", proxy.addr))],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected);
    assert!(
        proxy.seen()[before..].contains(&connect(false)),
        "{:?}",
        proxy.seen()
    );
    // NO_PROXY naming the server's address: direct, the proxy sees nothing more.
    let before = proxy.seen().len();
    let out = kubeseal_with_env(
        &env,
        &["--fetch-cert"],
        &[
            ("HTTPS_PROXY", format!("http://{}", proxy.addr)),
            (
                "NO_PROXY",
                format!("example.invalid, {}", cluster().host_ip),
            ),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(proxy.seen().len(), before);
    // kube's client reads NO_PROXY too, more strictly than Go: an empty entry is a clear error.
    let out = kubeseal_with_env(
        &env,
        &["--fetch-cert"],
        &[
            ("HTTPS_PROXY", format!("http://{}", proxy.addr)),
            ("NO_PROXY", format!("{},", cluster().host_ip)),
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("error: cannot use NO_PROXY/no_proxy (")
            && out.stderr.contains("trailing comma"),
        "{}",
        out.stderr
    );
    assert_eq!(proxy.seen().len(), before);
    // An explicit --proxy-url wins over NO_PROXY, as client-go.
    let out = kubeseal_with_env(
        &env,
        &[
            "--fetch-cert",
            &format!("--proxy-url=http://{}", proxy.addr),
        ],
        &[("NO_PROXY", cluster().host_ip.clone())],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(proxy.seen().len(), before + 1);

    // --tls-server-name: a name in the server's certificate works with the server given by IP;
    // another name fails the TLS check.
    let out = kubeseal_with_env(
        &env,
        &[
            "--fetch-cert",
            "--tls-server-name",
            "kubernetes.default",
            "--disable-compression",
            "--as-uid=",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected);
    let out = kubeseal_with_env(
        &env,
        &[
            "--fetch-cert",
            "--tls-server-name=not-the-apiserver.example",
        ],
        &[],
    )
    .await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("cannot reach the Kubernetes API server")
            || out.stderr.contains("cannot get sealed secret service"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.to_ascii_lowercase().contains("certificate"),
        "a TLS name error: {}",
        out.stderr
    );
    Ok(())
}

/// client-go's in-cluster namespace: kubeseal running in a real Pod on the harness's node seals a
/// Secret without a namespace for the Pod's namespace (the service-account `namespace` file the
/// kubelet mounts), or for `POD_NAMESPACE` when set — never `default`. The Pod runs the debug
/// binary from a hostPath (the node sees the host's files), the certificate and the input come
/// from a ConfigMap, and the SealedSecret is read from the Pod's log.
#[tokio::test(flavor = "multi_thread")]
async fn namespace_less_secret_sealed_in_a_pod_gets_the_pods_namespace() -> Result<()> {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
    if cluster().node.is_none() {
        bail!("this test runs a real Pod: the cluster has no node (SSRS_NODE=0)");
    }
    let ns = TestNamespace::new("ks-inpod").await?;
    // The ServiceAccount admission plugin mounts the token Secret: wait until it exists.
    let sas: Api<ServiceAccount> = ns.api();
    wait_for("the default ServiceAccount's token Secret", WAIT, || {
        let sas = sas.clone();
        async move {
            Ok(sas
                .get_opt("default")
                .await?
                .is_some_and(|sa| sa.secrets.is_some_and(|s| !s.is_empty())))
        }
    })
    .await?;
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "input" },
        "data": {
            "cert.pem": String::from_utf8(fixtures::cert_pem())?,
            "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: in-pod\nstringData:\n  foo: bar\n",
        }
    }))?;
    ns.api::<ConfigMap>()
        .create(&PostParams::default(), &cm)
        .await?;
    let bin = workspace_bin("kubeseal");
    let bin_dir = bin.parent().unwrap().display().to_string();
    let pods: Api<Pod> = ns.api();
    for (name, pod_ns) in [
        ("seal-sa-file", None),
        ("seal-pod-namespace", Some("from-env")),
    ] {
        let env: Vec<serde_json::Value> = pod_ns
            .map(|v| serde_json::json!({ "name": "POD_NAMESPACE", "value": v }))
            .into_iter()
            .collect();
        let host = |n: &str, path: &str, mount: &str| {
            (
                serde_json::json!({ "name": n, "hostPath": { "path": path } }),
                serde_json::json!({ "name": n, "mountPath": mount, "readOnly": true }),
            )
        };
        let vols = [
            host("bin", &bin_dir, "/kubeseal"),
            host("lib", "/lib", "/lib"),
            host("lib64", "/lib64", "/lib64"),
        ];
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name },
            "spec": {
                "restartPolicy": "Never",
                // A development machine shared by several builds can be short of disk: the
                // kubelet then taints the node (disk-pressure) and admits only critical Pods. This
                // one runs for a second and writes nothing.
                "priorityClassName": "system-node-critical",
                "tolerations": [{ "key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule" }],
                "containers": [{
                    "name": "kubeseal",
                    "image": "localhost/ssrs-pause:1",
                    "imagePullPolicy": "Never",
                    "command": ["/kubeseal/kubeseal", "--cert", "/input/cert.pem",
                                "-f", "/input/secret.yaml", "-o", "yaml"],
                    "env": env,
                    "volumeMounts": vols.iter().map(|(_, m)| m.clone())
                        .chain([serde_json::json!({ "name": "input", "mountPath": "/input" })])
                        .collect::<Vec<_>>(),
                }],
                "volumes": vols.iter().map(|(v, _)| v.clone())
                    .chain([serde_json::json!({ "name": "input", "configMap": { "name": "input" } })])
                    .collect::<Vec<_>>(),
            }
        }))?;
        pods.create(&PostParams::default(), &pod).await?;
    }
    let key = PrivateKey::from_pem(&fixtures::key_pem())?;
    for (name, want) in [
        ("seal-sa-file", ns.name().to_string()),
        ("seal-pod-namespace", "from-env".to_string()),
    ] {
        let p = &pods;
        let phase = wait_for_value(
            &format!("Pod {name} finished"),
            Duration::from_secs(90),
            || async move {
                let phase = p
                    .get(name)
                    .await?
                    .status
                    .and_then(|s| s.phase)
                    .unwrap_or_default();
                Ok(matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase))
            },
        )
        .await?;
        let log = pods.logs(name, &Default::default()).await?;
        assert_eq!(phase, "Succeeded", "Pod {name}: {log}");
        let ss = parse_sealed_secrets(log.as_bytes())
            .with_context(|| format!("Pod {name} printed no SealedSecret: {log}"))?
            .remove(0);
        assert_eq!(
            ss.metadata.namespace.as_deref(),
            Some(want.as_str()),
            "{name}"
        );
        // Sealed (strict scope) for that namespace: it opens as `<want>/in-pod` only.
        let secret = unseal(
            &ss,
            &[&key],
            &UnsealOptions::default(),
            &mut Default::default(),
        )
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        assert_eq!(secret.secret().data.as_ref().unwrap()["foo"].0, b"bar");
    }
    Ok(())
}

/// Wait until the in-cluster SealedSecret `name` is Synced at its generation.
async fn wait_synced(env: &Env, name: &str) -> Result<()> {
    let api: Api<SealedSecret> = Api::namespaced(env.client.clone(), env.ns());
    wait_for(
        &format!("{name}: Synced=True at its generation"),
        WAIT,
        || {
            let api = api.clone();
            async move {
                let ss = api.get(name).await?;
                Ok(ss.status.as_ref().is_some_and(|st| {
                    st.observed_generation == ss.metadata.generation
                        && st
                            .conditions
                            .iter()
                            .any(|c| c.type_ == "Synced" && c.status == "True")
                }))
            }
        },
    )
    .await
    .with_context(|| env.logs())
}

/// `kubeseal edit --from-cluster` and `--keep-unchanged --from-cluster`: values proven by the Secret
/// the controller unsealed from the file's exact bytes; refused when the in-cluster object is
/// missing or differs from the file.
#[tokio::test(flavor = "multi_thread")]
async fn edit_and_keep_unchanged_with_the_cluster_as_proof() -> Result<()> {
    let env = Env::start("ks-proof").await?;
    let secret = |foo: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: {}\nstringData:\n  bar: kept-value\n  foo: {foo}\n",
            env.ns()
        )
    };
    let sealed = env
        .kubeseal(&["-o", "yaml"], secret("v1").as_bytes())
        .ok()
        .stdout;
    let file = env.dir.path().join("app.yaml");
    std::fs::write(&file, &sealed)?;
    let f = file.display().to_string();
    let seen = env.dir.path().join("seen.yaml");
    let editor = format!(
        "sh -c 'cp \"$0\" {} && sed -i \"s/foo: v1/foo: v2/\" \"$0\"'",
        seen.display()
    );
    let vars = [
        ("EDITOR", editor.clone()),
        ("XDG_RUNTIME_DIR", env.dir.path().display().to_string()),
    ];

    // Not in the cluster yet: no proof, nothing written.
    let out = kubeseal_with_env(&env, &["edit", &f, "--from-cluster"], &vars).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
    assert_eq!(std::fs::read(&file)?, sealed);

    let created = env.create(&sealed).await?;
    env.wait_secret("app").await?;
    wait_synced(&env, "app").await?;
    let out = kubeseal_with_env(&env, &["edit", &f, "--from-cluster"], &vars).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let view = std::fs::read_to_string(&seen)?;
    assert!(
        view.contains("foo: v1") && view.contains("bar: kept-value"),
        "{view}"
    );
    let edited = std::fs::read_to_string(&file)?;
    let before = String::from_utf8(sealed.clone())?;
    let changed: Vec<&str> = edited
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].trim_start().starts_with("foo: "));

    // The file now differs from the cluster: refused.
    let out = kubeseal_with_env(&env, &["edit", &f, "--from-cluster"], &vars).await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("differs from the file"),
        "{}",
        out.stderr
    );

    // Re-applied: the controller updates the Secret.
    let api: Api<SealedSecret> = Api::namespaced(env.client.clone(), env.ns());
    let mut next = parse_sealed_secrets(edited.as_bytes())?.remove(0);
    next.metadata.uid = created.metadata.uid.clone();
    replace_whole(&api, "app", &next).await?;
    let secrets: Api<Secret> = env.ns.api();
    wait_for("Secret app updated to foo=v2", WAIT, || {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get("app").await?;
            Ok(s.data
                .and_then(|d| d.get("foo").map(|v| v.0 == b"v2"))
                .unwrap_or(false))
        }
    })
    .await
    .with_context(|| env.logs())?;
    wait_synced(&env, "app").await?;

    // An in-cluster object the controller cannot open is not Synced: refused.
    let broken = String::from_utf8(sealed.clone())?
        .replace("name: app", "name: broken")
        .replace(
            &format!(
                "foo: {}",
                parse_sealed_secrets(&sealed)?[0].spec.encrypted_data["foo"]
            ),
            "foo: AgBvbm90LWEtY2lwaGVydGV4dA==",
        );
    let broken_file = env.dir.path().join("broken.yaml");
    std::fs::write(&broken_file, &broken)?;
    env.create(broken.as_bytes()).await?;
    let bapi: Api<SealedSecret> = Api::namespaced(env.client.clone(), env.ns());
    wait_for("broken: Synced=False", WAIT, || {
        let bapi = bapi.clone();
        async move {
            let ss = bapi.get("broken").await?;
            Ok(ss.status.is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "Synced" && c.status == "False")
            }))
        }
    })
    .await
    .with_context(|| env.logs())?;
    let out = kubeseal_with_env(
        &env,
        &["edit", &broken_file.display().to_string(), "--from-cluster"],
        &vars,
    )
    .await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("not Synced at its generation"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&broken_file)?, broken);

    // The whole Secret sealed again from a pipeline: both items proven by the cluster, kept.
    let cert = env.dir.path().join("cert.pem");
    std::fs::write(&cert, env.kubeseal(&["--fetch-cert"], b"").ok().stdout)?;
    let out = env.kubeseal(
        &[
            "--cert",
            &cert.display().to_string(),
            "--keep-unchanged",
            &f,
            "--from-cluster",
            "-w",
            &f,
        ],
        secret("v2").as_bytes(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("2 item(s) kept"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&file)?, edited);
    Ok(())
}

/// A controller process for the drill: `POD_NAMESPACE` `ns`, listening on `port` in the pod network
/// (the port the Service registered for it points at).
fn drill_controller(ns: &str, port: u16, name: &str) -> Result<TestProcess> {
    Spawn::new(workspace_bin("controller"))
        .args([
            "--all-namespaces=false".to_string(),
            "--key-size=2048".into(),
            format!("--listen-addr={}:{port}", cluster().pod_ip),
            "--listen-metrics-addr=127.0.0.1:0".into(),
            "--rate-limit=0".into(),
        ])
        .env("POD_NAMESPACE", ns)
        .kubeconfig(&cluster().kubeconfig)
        .in_pod_network()
        .start(name)
}

/// The lost-cluster drill (issue 19, docs/operations.md): seal with cluster key A plus the
/// recovery certificate; delete every key Secret of A and start a controller with a fresh key;
/// restore the recovery key; `kubeseal recover --promote`; the Secrets appear; re-encrypt to the
/// new key through the controller; remove the recovery key; the Secrets stay in sync.
#[tokio::test(flavor = "multi_thread")]
async fn lost_cluster_drill_with_the_recovery_key() -> Result<()> {
    use base64::Engine as _;
    let ns = TestNamespace::new("ks-drill").await?;
    let client = ns.client();
    ensure_crd(&client).await?;
    let port = free_pod_port()?;
    let controller = drill_controller(ns.name(), port, "controller-a")?;
    register_pod_service(&client, ns.name(), SERVICE, port).await?;
    let mut env = Env {
        ns,
        client,
        controller,
        dir: TempDir::new("kubeseal-drill"),
    };
    let keys_a = env.wait_keys(1).await?;
    let key_a = private_key(&keys_a[0]);
    let e = &env;
    wait_for("cluster A's cert", WAIT, || async move {
        Ok(e.kubeseal(&["--fetch-cert"], b"").code == 0)
    })
    .await
    .with_context(|| e.logs())?;

    // The recovery key, made offline.
    let dir = env.dir.path().to_path_buf();
    let (r_key, r_cert) = (dir.join("recovery.key"), dir.join("recovery.pem"));
    let (rk, rc) = (r_key.display().to_string(), r_cert.display().to_string());
    run_kubeseal(
        &[
            "recovery-key".into(),
            "new".into(),
            "--key-out".into(),
            rk.clone(),
            "--cert-out".into(),
            rc.clone(),
        ],
        b"",
        &dir,
    )
    .ok();
    let recovery = PrivateKey::from_pem(&std::fs::read(&r_key)?)?;

    // 1. Seal for cluster A (its cert fetched through the controller) + the recovery cert.
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo)?;
    let secret = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {}\nstringData:\n  password: {value}\n  user: admin\n",
            env.ns()
        )
    };
    let files = [
        ("db", "strict", "s3cr3t-db"),
        ("api", "namespace-wide", "s3cr3t-api"),
    ];
    for (name, scope, value) in files {
        let f = repo.join(format!("{name}.yaml")).display().to_string();
        env.kubeseal(
            &[
                "--recovery-cert",
                &rc,
                "--scope",
                scope,
                "-o",
                "yaml",
                "-w",
                &f,
            ],
            secret(name, value).as_bytes(),
        )
        .ok();
        env.create(&std::fs::read(&f)?).await?;
        let s = env.wait_secret(name).await?;
        assert_eq!(s.data.unwrap()["password"].0, value.as_bytes());
    }

    // 2. Cluster A is gone: its controller, every key Secret and every object.
    env.controller.stop(Duration::from_secs(10))?;
    let secrets: Api<Secret> = env.ns.api();
    for k in env.key_secrets().await? {
        secrets
            .delete(
                k.metadata.name.as_deref().unwrap(),
                &DeleteParams::default(),
            )
            .await?;
    }
    let ss_api: Api<SealedSecret> = Api::namespaced(env.client.clone(), env.ns());
    for (name, ..) in files {
        ss_api.delete(name, &DeleteParams::default()).await?;
    }
    for (name, ..) in files {
        let secrets = secrets.clone();
        wait_for(&format!("Secret {name} garbage-collected"), WAIT, || {
            let secrets = secrets.clone();
            async move { Ok(secrets.get_opt(name).await?.is_none()) }
        })
        .await?;
    }
    assert!(env.key_secrets().await?.is_empty());

    // A new controller with a fresh key C.
    env.controller = drill_controller(env.ns(), port, "controller-c")?;
    let keys_c = env.wait_keys(1).await?;
    let key_c = private_key(&keys_c[0]);
    assert_ne!(key_c.fingerprint(), key_a.fingerprint());
    let e = &env;
    let cert_c = wait_for_value("cluster C's cert", WAIT, || async move {
        let out = e.kubeseal(&["--fetch-cert"], b"");
        Ok((out.code == 0).then_some(out.stdout))
    })
    .await
    .with_context(|| e.logs())?;
    assert_eq!(cert_c, keys_c[0].data.as_ref().unwrap()["tls.crt"].0);

    // 3. Restore the recovery key (as a key Secret, with `kubeseal keys restore`).
    let b64 =
        |p: &Path| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    let backup = dir.join("recovery-secret.yaml");
    std::fs::write(
        &backup,
        format!(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: sealed-secrets-recovery\n  type: kubernetes.io/tls\n  data:\n    tls.crt: {}\n    tls.key: {}\n",
            b64(&r_cert),
            b64(&r_key)
        ),
    )?;
    env.kubeseal(&["keys", "restore", &backup.display().to_string()], b"")
        .ok();
    env.wait_keys(2).await?;
    // The recovery key (older certificate) does not become the sealing key.
    let e = &env;
    let fetched = e.kubeseal(&["--fetch-cert"], b"").ok().stdout;
    assert_eq!(fetched, cert_c);

    // 4. Promote (no key given: nothing is decrypted) and apply: the Secrets appear.
    let out = run_kubeseal(
        &[
            "recover".into(),
            "--promote".into(),
            repo.display().to_string(),
        ],
        b"",
        &dir,
    )
    .ok();
    assert!(
        out.stderr.contains("2 SealedSecret(s) in 2 file(s)"),
        "{}",
        out.stderr
    );
    for (name, _, value) in files {
        let f = repo.join(format!("{name}.yaml"));
        let ss = parse_sealed_secrets(&std::fs::read(&f)?)?.remove(0);
        assert!(
            unseal(
                &ss,
                &[&recovery],
                &UnsealOptions::default(),
                &mut Default::default()
            )
            .is_ok()
        );
        env.create(&std::fs::read(&f)?).await?;
        let s = env.wait_secret(name).await?;
        assert_eq!(s.data.unwrap()["password"].0, value.as_bytes());
    }

    // 5. Re-encrypt to the new key through the controller (/v1/rotate), in place, and apply.
    for (name, ..) in files {
        let f = repo.join(format!("{name}.yaml"));
        env.kubeseal(&["--re-encrypt", "-f", &f.display().to_string()], b"")
            .ok();
        let ss = parse_sealed_secrets(&std::fs::read(&f)?)?.remove(0);
        let opts = UnsealOptions::default();
        assert!(
            unseal(&ss, &[&key_c], &opts, &mut Default::default()).is_ok(),
            "{name}"
        );
        assert!(unseal(&ss, &[&recovery], &opts, &mut Default::default()).is_err());
        // The envelope is still there, and still complete.
        assert!(matches!(
            common::recovery::coverage(&ss)?,
            common::recovery::Coverage::Complete { .. }
        ));
        replace_whole(&ss_api, name, &ss).await?;
        wait_synced(&env, name).await?;
    }

    // 6. Remove the recovery key from the cluster; a change still syncs.
    secrets
        .delete("sealed-secrets-recovery", &DeleteParams::default())
        .await?;
    let e = &env;
    wait_for("the recovery key Secret gone", WAIT, || async move {
        Ok(e.key_secrets().await?.len() == 1)
    })
    .await?;
    let cert_file = dir.join("cluster-c.pem");
    std::fs::write(&cert_file, &cert_c)?;
    let db = repo.join("db.yaml");
    run_kubeseal(
        &[
            "set".into(),
            db.display().to_string(),
            "--from-literal".into(),
            "token=after-recovery".into(),
            "--cert".into(),
            cert_file.display().to_string(),
            "--recovery-cert".into(),
            rc.clone(),
        ],
        b"",
        &dir,
    )
    .ok();
    let ss = parse_sealed_secrets(&std::fs::read(&db)?)?.remove(0);
    replace_whole(&ss_api, "db", &ss).await?;
    wait_for("Secret db with the new item", WAIT, || {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get("db").await?;
            let d = s.data.unwrap_or_default();
            Ok(d.get("token").is_some_and(|v| v.0 == b"after-recovery")
                && d.get("password").is_some_and(|v| v.0 == b"s3cr3t-db"))
        }
    })
    .await
    .with_context(|| env.logs())?;
    wait_synced(&env, "db").await?;
    wait_synced(&env, "api").await?;
    env.ns.delete().await?;
    Ok(())
}
