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
    register_pod_service, wait_for, wait_for_value, workspace_bin,
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
