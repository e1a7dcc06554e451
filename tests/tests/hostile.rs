//! Hostile and bad input against the real control plane: each case gets a clear error, costs a
//! bounded amount of work, has no side effect (no Secret created or changed, no key touched) and
//! leaks no plaintext into logs (the controller's lowest level), events, status or metrics.
//!
//! A SealedSecret targeting an existing Secret the controller does not own is covered by
//! `controller.rs` `secret_already_exists_unmanaged_is_refused` and
//! `secret_recreation_not_for_unmanaged_or_patch_only`.
//!
//! Each test runs its own controller scoped to its own namespace, as `controller.rs` does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use common::annotations::{CLUSTER_WIDE_ANNOTATION, SEALED_SECRETS_KEY_LABEL};
use common::crd::SealedSecret;
use common::keys::{CertificateParams, PrivateKey, PublicKey, self_signed_certificate};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams, PostParams};
use sealed_secrets_tests::{
    Spawn, TestNamespace, TestProcess, cluster, ensure_crd, wait_for_value, workspace_bin,
};

const WAIT: Duration = Duration::from_secs(60);
const PLAINTEXT: &str = "Hostile-Cluster-Needle-5be2a";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Env {
    ns: TestNamespace,
    client: kube::Client,
    controller: Option<TestProcess>,
    key: PrivateKey,
}

impl Env {
    async fn start(prefix: &str) -> Result<Self> {
        let ns = TestNamespace::new(prefix).await?;
        let client = ns.client();
        ensure_crd(&client).await?;
        let controller = Spawn::new(workspace_bin("controller"))
            .args([
                "--all-namespaces=false",
                "--key-size=2048",
                "--listen-addr=127.0.0.1:0",
                "--listen-metrics-addr=127.0.0.1:0",
                // slog's levels end at DEBUG (anything lower, e.g. DEBUG-4, is DEBUG): the most
                // verbose the controller can log.
                "--log-level=DEBUG-4",
            ])
            .env("POD_NAMESPACE", ns.name())
            .kubeconfig(&cluster().kubeconfig)
            .start("controller")?;
        let api: Api<Secret> = ns.api();
        let secret = wait_for_value("a sealing key Secret", WAIT, || {
            let api = api.clone();
            async move {
                let list = api
                    .list(
                        &ListParams::default()
                            .labels(&format!("{SEALED_SECRETS_KEY_LABEL}=active")),
                    )
                    .await?;
                Ok(list.items.into_iter().next())
            }
        })
        .await?;
        let key = PrivateKey::from_pem(&secret.data.unwrap_or_default()["tls.key"].0)?;
        Ok(Self {
            ns,
            client,
            controller: Some(controller),
            key,
        })
    }

    fn ns(&self) -> &str {
        self.ns.name()
    }

    fn public(&self) -> &PublicKey {
        self.key.public_key()
    }

    fn logs(&self) -> String {
        self.controller
            .as_ref()
            .map(|p| p.stdout() + &p.stderr())
            .unwrap_or_default()
    }

    fn pid(&self) -> Result<u32> {
        Ok(self.controller.as_ref().context("controller")?.pid())
    }

    fn secrets(&self) -> Api<Secret> {
        self.ns.api()
    }

    fn sealed(&self) -> Api<SealedSecret> {
        self.ns.api()
    }

    async fn create(&self, ss: &SealedSecret) -> Result<SealedSecret> {
        Ok(self.sealed().create(&PostParams::default(), ss).await?)
    }

    /// The Synced condition of generation 1 once the controller wrote it: (status, message).
    async fn synced(&self, name: &str) -> Result<(String, String)> {
        let api = self.sealed();
        let name = name.to_owned();
        wait_for_value(&format!("status of {name}"), WAIT, || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let ss = api.get(&name).await?;
                Ok(ss
                    .status
                    .filter(|s| s.observed_generation == Some(1))
                    .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Synced"))
                    .map(|c| (c.status, c.message.unwrap_or_default())))
            }
        })
        .await
        .with_context(|| format!("controller logs:\n{:.4000}", self.logs()))
    }

    async fn wait_event(&self, name: &str, reason: &str) -> Result<Event> {
        sealed_secrets_tests::wait_event(&self.ns.api(), name, reason, WAIT)
            .await
            .with_context(|| format!("controller logs:\n{:.4000}", self.logs()))
    }

    async fn wait_secret(&self, name: &str) -> Result<Secret> {
        sealed_secrets_tests::wait_secret(&self.secrets(), name, WAIT)
            .await
            .with_context(|| format!("controller logs:\n{:.4000}", self.logs()))
    }

    async fn assert_no_secret(&self, name: &str) -> Result<()> {
        if self.secrets().get_opt(name).await?.is_some() {
            bail!("Secret {name} exists but must not");
        }
        Ok(())
    }

    fn metrics(&self) -> Result<String> {
        sealed_secrets_tests::controller_metrics(&self.logs())
    }

    fn metric(&self, name: &str) -> Result<f64> {
        let text = self.metrics()?;
        Ok(metric_sum(&text, name))
    }

    /// Stop the controller and check that the plaintext (or its base64) appears nowhere: its logs
    /// at the most verbose level, the namespace's events, the SealedSecrets' status, the metrics.
    async fn finish_without_plaintext(mut self) -> Result<()> {
        let metrics = self.metrics()?;
        let events: Api<Event> = self.ns.api();
        let events = serde_json::to_string(&events.list(&ListParams::default()).await?)?;
        let statuses: Vec<_> = self
            .sealed()
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|s| s.status)
            .collect();
        let statuses = serde_json::to_string(&statuses)?;
        let mut p = self.controller.take().context("controller")?;
        p.stop(Duration::from_secs(10))?;
        let logs = p.stdout() + &p.stderr();
        assert!(logs.contains("DEBUG"), "debug logs were captured");
        assert!(!logs.contains("panicked"), "the controller panicked");
        let encoded = B64.encode(PLAINTEXT);
        for (what, text) in [
            ("logs", &logs),
            ("events", &events),
            ("status", &statuses),
            ("metrics", &metrics),
        ] {
            assert!(!text.contains(PLAINTEXT), "plaintext leaked into {what}");
            assert!(
                !text.contains(&encoded),
                "base64 plaintext leaked into {what}"
            );
        }
        Ok(())
    }
}

/// Sum of every series of `name` (with or without labels).
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}

fn metric_with(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}

/// Peak resident set (VmHWM) and CPU seconds (user + system) of a process.
fn usage(pid: u32) -> Result<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which is in parentheses): state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').context("stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok((hwm, ticks / 100.0))
}

fn secret(ns: &str, name: &str, items: &[(&str, &[u8])]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(ns.into());
    s.data = Some(
        items
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
            .collect(),
    );
    s
}

fn seal(key: &PublicKey, ns: &str, name: &str, items: &[(&str, &[u8])]) -> SealedSecret {
    common::sealing::seal_secret(&mut rand::rng(), key, &secret(ns, name, items)).expect("seal")
}

fn api_error(e: &anyhow::Error) -> Option<(u16, String)> {
    e.downcast_ref::<kube::Error>().and_then(|k| match k {
        kube::Error::Api(s) => Some((s.code, s.message.clone())),
        _ => None,
    })
}

/// 10 MiB is refused by the apiserver (nothing stored, nothing created); the largest value a
/// Secret can hold is unsealed in bounded time and memory; a value too large for a Secret gets a
/// clear error naming the limit, and nothing is created.
#[tokio::test]
async fn oversized_sealed_secrets_refused_largest_processed_bounded() -> Result<()> {
    let env = Env::start("hostile-size").await?;
    let ns = env.ns().to_owned();

    // 10 MiB of (well-formed) base64 in one item.
    let mut huge = seal(env.public(), &ns, "huge", &[("a", b"x")]);
    huge.spec
        .encrypted_data
        .insert("a".into(), "A".repeat(10 * 1024 * 1024));
    let err = env.create(&huge).await.expect_err("10 MiB must be refused");
    let (code, message) = api_error(&err).context("an API error")?;
    eprintln!("10 MiB SealedSecret: HTTP {code}: {message:.200}");
    assert!(
        code == 413 || message.contains("too large"),
        "{code} {message}"
    );
    // 2 MiB: under the apiserver's 3 MiB body limit, over its 2 MiB limit for one etcd request.
    huge.spec
        .encrypted_data
        .insert("a".into(), "A".repeat(2 * 1024 * 1024));
    let err = env.create(&huge).await.expect_err("2 MiB must be refused");
    let (code, message) = api_error(&err).context("an API error")?;
    eprintln!("2 MiB SealedSecret: HTTP {code}: {message:.200}");
    assert!(
        message.contains("too large") || message.contains("larger than max"),
        "{code} {message}"
    );
    assert!(env.sealed().get_opt("huge").await?.is_none());
    env.assert_no_secret("huge").await?;

    // The largest value a Secret can hold (1 MiB of data in total): about 1.33 MiB of base64.
    let value: Vec<u8> = PLAINTEXT.bytes().cycle().take(1024 * 1024 - 64).collect();
    let (hwm_before, cpu_before) = usage(env.pid()?)?;
    let started = Instant::now();
    env.create(&seal(env.public(), &ns, "largest", &[("v", &value)]))
        .await?;
    let s = env.wait_secret("largest").await?;
    let took = started.elapsed();
    assert_eq!(s.data.unwrap_or_default()["v"].0, value);
    let (hwm_after, cpu_after) = usage(env.pid()?)?;
    eprintln!(
        "1 MiB value: Secret after {took:?}; controller peak RSS {} -> {} MiB, CPU {:.2} s",
        hwm_before / 1024,
        hwm_after / 1024,
        cpu_after - cpu_before
    );
    assert!(took < WAIT, "{took:?}");
    assert!(
        hwm_after < 512 * 1024,
        "controller peak RSS {} MiB",
        hwm_after / 1024
    );

    // Over a Secret's 1 MiB: the SealedSecret is stored, the Secret is refused by the apiserver;
    // the controller reports the apiserver's reason and creates nothing.
    let too_big: Vec<u8> = PLAINTEXT.bytes().cycle().take(1024 * 1024 + 1024).collect();
    env.create(&seal(env.public(), &ns, "too-big", &[("v", &too_big)]))
        .await?;
    let (status, message) = env.synced("too-big").await?;
    eprintln!("1 MiB + 1 KiB value: Synced={status}: {message:.300}");
    assert_eq!(status, "False");
    assert!(message.contains("Too long"), "{message:.300}");
    let ev = env.wait_event("too-big", "ErrUpdateFailed").await?;
    assert!(ev.message.unwrap_or_default().contains("Too long"));
    env.assert_no_secret("too-big").await?;
    env.finish_without_plaintext().await
}

/// 10,000 items in one object. Cheap garbage costs no RSA work; well-formed ciphertexts that do
/// not open cost one RSA op per key for the first and one for each other item (never items x
/// keys), and a failed unseal is not retried until the object or the keys change (one attempt,
/// its own status write echoing back included).
#[tokio::test]
async fn ten_thousand_items_in_one_object_cost_is_bounded() -> Result<()> {
    let env = Env::start("hostile-items").await?;
    let ns = env.ns().to_owned();

    let mut garbage = seal(env.public(), &ns, "garbage", &[]);
    garbage.spec.encrypted_data = (0..10_000)
        .map(|i| (format!("k{i:05}"), "AAAA".to_owned()))
        .collect();
    let (_, cpu_before) = usage(env.pid()?)?;
    env.create(&garbage).await?;
    let (status, message) = env.synced("garbage").await?;
    assert_eq!(status, "False");
    assert!(
        message.starts_with("no key could decrypt secret (k00000, k00001, "),
        "{message:.200}"
    );
    // The status names the items up to 1000 bytes (like an Event), not 120 KB of names.
    assert!(message.ends_with('…'), "{message:.200}");
    assert!(
        message.len() <= 1000 + '…'.len_utf8(),
        "{} bytes",
        message.len()
    );
    // Wait for the retries to stop: unseal errors stop growing.
    let garbage_attempts = settle(&env, "garbage").await?;
    let attempts = garbage_attempts;
    let (_, cpu_after) = usage(env.pid()?)?;
    let counted = env.metric("sealed_secrets_controller_rsa_decryptions_total")?;
    eprintln!(
        "10,000 garbage items: {attempts} attempts, {:.2} s CPU, rsa_decryptions_total {counted} (no real RSA op: impossible envelopes)",
        cpu_after - cpu_before
    );
    assert_eq!(attempts, 1.0, "one attempt per generation and key set");
    assert_eq!(counted, 0.0, "impossible envelopes cost no RSA operation");
    assert!(
        cpu_after - cpu_before < 30.0,
        "{:.1} s CPU",
        cpu_after - cpu_before
    );
    env.assert_no_secret("garbage").await?;

    // 500 well-formed values sealed for another name (wrong scope): keys + N - 1 RSA operations.
    let other = seal(
        env.public(),
        &ns,
        "another-name",
        &[("a", PLAINTEXT.as_bytes())],
    );
    let ct = other.spec.encrypted_data["a"].clone();
    let mut wrong = seal(env.public(), &ns, "wrong-scope", &[]);
    wrong.spec.encrypted_data = (0..500).map(|i| (format!("k{i:03}"), ct.clone())).collect();
    let before = env.metric("sealed_secrets_controller_rsa_decryptions_total")?;
    let (_, cpu_before) = usage(env.pid()?)?;
    let started = Instant::now();
    env.create(&wrong).await?;
    let (status, _) = env.synced("wrong-scope").await?;
    assert_eq!(status, "False");
    let attempts = settle(&env, "wrong-scope").await? - garbage_attempts;
    let took = started.elapsed();
    let (_, cpu_after) = usage(env.pid()?)?;
    let counted = env.metric("sealed_secrets_controller_rsa_decryptions_total")? - before;
    eprintln!(
        "500 wrong-scope items x 1 key: {attempts} attempts in {took:?}, {:.2} s CPU, rsa_decryptions_total +{counted}",
        cpu_after - cpu_before
    );
    assert_eq!(attempts, 1.0);
    assert_eq!(counted, 500.0, "keys + items - 1 (one key)");
    env.assert_no_secret("wrong-scope").await?;
    env.finish_without_plaintext().await
}

/// Wait until the controller stops retrying `name`; returns the total of unseal failures.
async fn settle(env: &Env, name: &str) -> Result<f64> {
    let mut last = -1.0;
    let mut stable_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let text = env.metrics()?;
        let n = metric_with(
            &text,
            "sealed_secrets_controller_unseal_errors_total",
            "reason=\"unseal\"",
        );
        if n != last {
            last = n;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_secs(8) {
            break;
        }
        if Instant::now() > deadline {
            bail!("{name}: unseal errors still growing after 180 s ({last})");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(last)
}

/// Wrong key, wrong name, widened scope, a template claiming cluster-wide: one generic status
/// message and event, no Secret; a good object next to them still unseals.
#[tokio::test]
async fn wrong_key_and_wrong_scope_get_one_generic_answer() -> Result<()> {
    let env = Env::start("hostile-scope").await?;
    let ns = env.ns().to_owned();
    let item: &[(&str, &[u8])] = &[("foo", PLAINTEXT.as_bytes())];
    let other = PrivateKey::generate(&mut rand::rng(), 2048)?;
    let mut cases = vec![(
        "wrong-key",
        seal(other.public_key(), &ns, "wrong-key", item),
    )];
    let mut renamed = seal(env.public(), &ns, "original", item);
    renamed.metadata.name = Some("renamed".into());
    cases.push(("renamed", renamed));
    let mut widened = seal(env.public(), &ns, "widened", item);
    widened.metadata.annotations = Some(BTreeMap::from([(
        CLUSTER_WIDE_ANNOTATION.into(),
        "true".into(),
    )]));
    cases.push(("widened", widened));
    let mut claim = seal(env.public(), &ns, "strict", item);
    claim.metadata.name = Some("claims-cluster-wide".into());
    claim.spec.template.metadata.annotations = Some(BTreeMap::from([(
        CLUSTER_WIDE_ANNOTATION.into(),
        "true".into(),
    )]));
    cases.push(("claims-cluster-wide", claim));
    for (_, ss) in &cases {
        env.create(ss).await?;
    }
    env.create(&seal(env.public(), &ns, "good", item)).await?;

    for (name, _) in &cases {
        let (status, message) = env.synced(name).await?;
        assert_eq!(
            (status.as_str(), message.as_str()),
            ("False", "no key could decrypt secret (foo)"),
            "{name}"
        );
        let ev = env.wait_event(name, "ErrUnsealFailed").await?;
        assert_eq!(
            ev.message.as_deref(),
            Some("Failed to unseal: no key could decrypt secret (foo)"),
            "{name}"
        );
    }
    let good = env.wait_secret("good").await?;
    assert_eq!(good.data.unwrap_or_default()["foo"].0, PLAINTEXT.as_bytes());
    for (name, _) in &cases {
        env.assert_no_secret(name).await?;
    }
    env.finish_without_plaintext().await
}

const EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIN/la44rRmgqJhSkN/5XPRmP7Xftk5iClUJq9AX52GtfoAoGCCqGSM49
AwEHoUQDQgAEDj9ifiwzFsKZzRACMeVXkovOGiteHInaVosAHAqODAZw6eD2OnZW
bYItViGMB8GkZXz1NE9U4aGgx16ul+47qg==
-----END EC PRIVATE KEY-----
";
const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgK5pygswRN7Km0as4
tDXcZOYxlEYtHr4W/NzCRJz7d6ShRANCAASYopXOq4QgJB3BnSFQMfwLoAjraqsk
eqW1hbC8lGMuUWUn2qiG3NQ5zYnYQUl0VKT2kunHFQntbOSehGriqaRS
-----END PRIVATE KEY-----
";

fn key_secret(name: &str, data: &[(&str, &[u8])]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.labels = Some(BTreeMap::from([(
        SEALED_SECRETS_KEY_LABEL.into(),
        "active".into(),
    )]));
    s.type_ = Some("Opaque".into());
    s.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
            .collect(),
    );
    s
}

/// A key Secret's name, its data, and what the event must say.
type KeyCase<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, &'a str);

/// Bad PEM, a non-RSA key (SEC1 and PKCS#8 EC), a missing tls.crt, a certificate of another
/// key: each is skipped with an event naming the problem, never changed or deleted; the good key
/// keeps working and the skipped RSA key is not half-loaded.
#[tokio::test]
async fn malformed_key_secrets_are_skipped_and_the_good_key_keeps_working() -> Result<()> {
    let env = Env::start("hostile-keys").await?;
    let ns = env.ns().to_owned();
    let good_cert_pem = env
        .secrets()
        .list(&ListParams::default().labels(&format!("{SEALED_SECRETS_KEY_LABEL}=active")))
        .await?
        .items[0]
        .data
        .clone()
        .unwrap_or_default()["tls.crt"]
        .0
        .clone();
    let orphan = PrivateKey::generate(&mut rand::rng(), 2048)?;
    let orphan_pem = orphan.to_pkcs1_pem()?;
    let stranger = PrivateKey::generate(&mut rand::rng(), 2048)?;
    let stranger_cert = self_signed_certificate(
        &mut rand::rng(),
        &stranger,
        &CertificateParams {
            common_name: "stranger".into(),
            not_before: std::time::SystemTime::now(),
            validity: Duration::from_secs(3600),
        },
    )?
    .to_pem();
    let bad_pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        B64.encode(PLAINTEXT)
    );
    let cases: Vec<KeyCase> = vec![
        (
            "bad-pem",
            vec![("tls.key", bad_pem.as_bytes()), ("tls.crt", &good_cert_pem)],
            "cannot parse private key",
        ),
        (
            "ec-sec1",
            vec![("tls.key", EC_SEC1.as_bytes()), ("tls.crt", &good_cert_pem)],
            "not an RSA key",
        ),
        (
            "ec-pkcs8",
            vec![
                ("tls.key", EC_PKCS8.as_bytes()),
                ("tls.crt", &good_cert_pem),
            ],
            "not an RSA key",
        ),
        (
            "no-crt",
            vec![("tls.key", orphan_pem.as_bytes())],
            "no tls.crt",
        ),
        (
            "other-cert",
            vec![
                ("tls.key", orphan_pem.as_bytes()),
                ("tls.crt", stranger_cert.as_bytes()),
            ],
            "does not match",
        ),
        (
            "garbage-crt",
            vec![
                ("tls.key", orphan_pem.as_bytes()),
                (
                    "tls.crt",
                    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                ),
            ],
            "certificate",
        ),
    ];
    let mut versions = BTreeMap::new();
    for (name, data, _) in &cases {
        let s = env
            .secrets()
            .create(&PostParams::default(), &key_secret(name, data))
            .await?;
        versions.insert(name.to_string(), s.metadata.resource_version.clone());
    }
    for (name, _, expect) in &cases {
        let ev = env.wait_event(name, "ErrInvalidKey").await?;
        let message = ev.message.unwrap_or_default();
        assert!(
            message.starts_with("Skipping malformed sealing key: ") && message.contains(expect),
            "{name}: {message}"
        );
        assert!(!message.contains("BEGIN"), "{name} quotes PEM: {message}");
    }
    let metrics = env.metrics()?;
    assert!(
        metric_sum(
            &metrics,
            "sealed_secrets_controller_invalid_key_secrets_total"
        ) >= 6.0
    );
    assert_eq!(metric_sum(&metrics, "sealed_secrets_controller_keys"), 1.0);

    // The good key works; the orphan RSA key (skipped twice) does not open anything.
    let item: &[(&str, &[u8])] = &[("foo", PLAINTEXT.as_bytes())];
    env.create(&seal(env.public(), &ns, "good", item)).await?;
    env.create(&seal(orphan.public_key(), &ns, "orphan", item))
        .await?;
    let good = env.wait_secret("good").await?;
    assert_eq!(good.data.unwrap_or_default()["foo"].0, PLAINTEXT.as_bytes());
    let (status, message) = env.synced("orphan").await?;
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("False", "no key could decrypt secret (foo)")
    );
    env.assert_no_secret("orphan").await?;

    // No key Secret was touched, and no new key was generated because of them.
    for (name, _, _) in &cases {
        let s = env.secrets().get(name).await?;
        assert_eq!(
            s.metadata.resource_version, versions[*name],
            "{name} changed"
        );
    }
    let keys = env
        .secrets()
        .list(&ListParams::default().labels(&format!("{SEALED_SECRETS_KEY_LABEL}=active")))
        .await?
        .items
        .len();
    assert_eq!(keys, 1 + cases.len());
    let still_running = env
        .controller
        .as_ref()
        .map(|p| std::path::Path::new(&format!("/proc/{}", p.pid())).exists())
        .unwrap_or(false);
    assert!(still_running);
    env.finish_without_plaintext().await
}

/// Names: the apiserver validates a SealedSecret's own name (so every SealedSecret name fits a
/// Secret, up to 253 characters); `template.metadata` cannot rename or move the Secret; template
/// labels that do not fit a Secret get a clear error naming the field, and nothing is created.
#[tokio::test]
async fn names_that_do_not_fit_a_secret() -> Result<()> {
    let env = Env::start("hostile-names").await?;
    let ns = env.ns().to_owned();
    let item: &[(&str, &[u8])] = &[("foo", PLAINTEXT.as_bytes())];

    let err = env
        .create(&seal(env.public(), &ns, "Not_A_Secret_Name", item))
        .await
        .expect_err("an invalid name is refused by the apiserver");
    let (code, message) = api_error(&err).context("an API error")?;
    assert_eq!(code, 422, "{message}");
    assert!(message.contains("metadata.name"), "{message}");
    let err = env
        .create(&seal(env.public(), &ns, &"a".repeat(254), item))
        .await
        .expect_err("254 characters are refused by the apiserver");
    assert_eq!(api_error(&err).map(|e| e.0), Some(422));

    // 253 characters fit both.
    let longest = format!("{}.{}", "a".repeat(63), "b".repeat(189));
    assert_eq!(longest.len(), 253);
    env.create(&seal(env.public(), &ns, &longest, item)).await?;
    env.wait_secret(&longest).await?;

    // template.metadata.name/namespace are ignored: the Secret is the SealedSecret's.
    let mut retarget = seal(env.public(), &ns, "retarget", item);
    retarget.spec.template.metadata.name = Some("Invalid_Name!".into());
    retarget.spec.template.metadata.namespace = Some("kube-system".into());
    env.create(&retarget).await?;
    env.wait_secret("retarget").await?;
    let elsewhere: Api<Secret> = Api::namespaced(env.client.clone(), "kube-system");
    assert!(elsewhere.get_opt("retarget").await?.is_none());

    // A label key a Secret cannot carry: the apiserver's reason, naming the field.
    let mut bad_label = seal(env.public(), &ns, "bad-label", item);
    bad_label.spec.template.metadata.labels =
        Some(BTreeMap::from([("not a label!".into(), "v".into())]));
    env.create(&bad_label).await?;
    let (status, message) = env.synced("bad-label").await?;
    assert_eq!(status, "False");
    assert!(message.contains("metadata.labels"), "{message}");
    let ev = env.wait_event("bad-label", "ErrUpdateFailed").await?;
    assert!(
        ev.message.unwrap_or_default().contains("metadata.labels"),
        "the event names the field"
    );
    env.assert_no_secret("bad-label").await?;

    // An invalid Secret type: the same.
    let mut bad_type = seal(env.public(), &ns, "bad-type", item);
    bad_type.spec.template.type_ = Some("kubernetes.io/tls".into());
    env.create(&bad_type).await?;
    let (status, message) = env.synced("bad-type").await?;
    assert_eq!(status, "False");
    assert!(
        message.contains("tls.crt") || message.contains("data["),
        "{message}"
    );
    env.assert_no_secret("bad-type").await?;
    env.finish_without_plaintext().await
}

/// Hostile templates through the controller: forbidden functions, deep nesting, output bombs and
/// a megabyte of template source each fail with a status and an event naming the template key,
/// quickly, without the value; nothing is created; a good object next to them still unseals.
#[tokio::test]
async fn hostile_templates_fail_with_a_status_naming_the_key() -> Result<()> {
    let env = Env::start("hostile-tmpl").await?;
    let ns = env.ns().to_owned();
    let item: &[(&str, &[u8])] = &[("pw", PLAINTEXT.as_bytes())];
    let deep = format!(
        "{}{{{{ .pw }}}}{}",
        "{{ if 1 }}".repeat(5_000),
        "{{ end }}".repeat(5_000)
    );
    let big_source = format!("{}{{{{ .pw }}}}", "x".repeat(1024 * 1024));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "env",
            r#"{{ env "HOME" }}{{ .pw }}"#.into(),
            "function \"env\" not defined (t)",
        ),
        (
            "expandenv",
            r#"{{ expandenv "$HOME" }}"#.into(),
            "function \"expandenv\" not defined (t)",
        ),
        (
            "dns",
            "{{ getHostByName .pw }}".into(),
            "function \"getHostByName\" not defined (t)",
        ),
        ("deep", deep, "nesting exceeds 100 levels"),
        (
            "bomb",
            "{{ repeat 100000000 .pw }}".into(),
            "output exceeds 1048576 bytes",
        ),
        (
            "steps",
            "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}".into(),
            "steps",
        ),
        ("big-source", big_source, "output exceeds 1048576 bytes"),
        (
            "leak-attempt",
            "{{ .pw.field }}{{ index .pw 1000 }}".into(),
            "can't evaluate field field in type string",
        ),
    ];
    let (_, cpu_before) = usage(env.pid()?)?;
    let started = Instant::now();
    for (name, src, _) in &cases {
        let mut ss = seal(env.public(), &ns, name, item);
        ss.spec.template.data = Some(BTreeMap::from([("t".to_owned(), src.clone())]));
        env.create(&ss).await?;
    }
    env.create(&seal(env.public(), &ns, "good", item)).await?;
    for (name, _, expect) in &cases {
        let (status, message) = env.synced(name).await?;
        assert_eq!(status, "False", "{name}");
        assert!(message.contains(expect), "{name}: {message:.300}");
        assert!(message.len() < 2_000, "{name}: {} bytes", message.len());
        let ev = env.wait_event(name, "ErrUnsealFailed").await?;
        assert!(ev.message.unwrap_or_default().contains(expect), "{name}");
        env.assert_no_secret(name).await?;
    }
    let good = env.wait_secret("good").await?;
    assert_eq!(good.data.unwrap_or_default()["pw"].0, PLAINTEXT.as_bytes());
    let took = started.elapsed();
    let (hwm, cpu_after) = usage(env.pid()?)?;
    eprintln!(
        "{} hostile templates: all failed within {took:?}, {:.2} s CPU, peak RSS {} MiB",
        cases.len(),
        cpu_after - cpu_before,
        hwm / 1024
    );
    assert!(hwm < 512 * 1024, "peak RSS {} MiB", hwm / 1024);
    env.finish_without_plaintext().await
}
