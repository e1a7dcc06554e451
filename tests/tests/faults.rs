//! Fault tests against the real control plane (the "reliability and security" issue): the
//! apiserver restarted mid-batch, etcd restarted, the apiserver gone for 30 s, the controller
//! SIGKILLed during key generation and during a batch of 500 unseals, a key Secret deleted by
//! mistake and restored from a `kubeseal keys backup`. After recovery every SealedSecret is
//! Synced and no key is lost, duplicated or half-written.
//!
//! Two replicas started together and the leader killed are covered by
//! `controller.rs::leader_election_two_replicas_one_key_and_failover`.
//!
//! **Which cluster.** These tests stop the apiserver and etcd of the cluster [`cluster()`] gives:
//! the shared one of `tests/run.sh` (`SSRS_CLUSTER_DIR`), or a private one this binary starts when
//! that is unset. Sharing is safe because cargo runs test binaries one after another, so no other
//! test binary talks to the cluster while this one runs; within this binary each test holds a
//! [`FaultGuard`] (a static mutex), so the tests run one at a time, and the guard starts whatever
//! is stopped again (waiting for `/readyz`) when a test ends, even by a panic. A private cluster
//! per binary would cost another ~15–20 s of start-up on a loaded machine for no extra isolation.
//! Do not run this binary concurrently with others against one cluster (e.g. nextest's parallel
//! binaries): point it at its own `SSRS_CLUSTER_DIR` then.
//!
//! Each controller is scoped to its test's namespace (`--all-namespaces=false`, keys there too).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use common::annotations::SEALED_SECRETS_KEY_LABEL;
use common::crd::{CONDITION_SYNCED, SealedSecret};
use common::keys::{Certificate, PrivateKey, PublicKey};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use sealed_secrets_tests::faults::{Component, FaultGuard};
use sealed_secrets_tests::{
    Spawn, TempDir, TestNamespace, TestProcess, cluster, ensure_crd, wait_for, wait_for_value,
    workspace_bin,
};

const WAIT: Duration = Duration::from_secs(60);

/// One test's namespace and the controller process scoped to it.
struct Fx {
    ns: TestNamespace,
    controller: Option<TestProcess>,
    started: Instant,
}

impl Fx {
    async fn new(prefix: &str) -> Result<Self> {
        let ns = TestNamespace::new(prefix).await?;
        ensure_crd(&ns.client()).await?;
        Ok(Self {
            ns,
            controller: None,
            started: Instant::now(),
        })
    }

    fn ns(&self) -> &str {
        self.ns.name()
    }

    /// Starts a controller on the host (replacing none: the previous one must be gone).
    fn spawn(&mut self, extra: &[&str]) -> Result<()> {
        self.spawn_where(extra, false)
    }

    /// Starts a controller, inside the pod network if `pod_network`.
    fn spawn_where(&mut self, extra: &[&str], pod_network: bool) -> Result<()> {
        assert!(self.controller.is_none(), "a controller is still running");
        let mut args: Vec<String> = vec![
            "--all-namespaces=false".into(),
            "--key-size=2048".into(),
            "--listen-addr=127.0.0.1:0".into(),
            "--listen-metrics-addr=127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut spawn = Spawn::new(workspace_bin("controller"))
            .args(args)
            .env("POD_NAMESPACE", self.ns())
            .kubeconfig(&cluster().kubeconfig);
        if pod_network {
            spawn = spawn.in_pod_network();
        }
        self.controller = Some(spawn.start("controller")?);
        Ok(())
    }

    fn controller(&mut self) -> Result<&mut TestProcess> {
        self.controller.as_mut().context("no controller running")
    }

    fn logs(&self) -> String {
        self.controller
            .as_ref()
            .map(|p| format!("controller logs:\n{}{}", p.stdout(), p.stderr()))
            .unwrap_or_default()
    }

    /// Fails (with the logs) if the controller has exited.
    fn assert_alive(&mut self, when: &str) -> Result<()> {
        if let Some(status) = self.controller()?.try_exit()? {
            bail!("the controller exited ({status}) {when}\n{}", self.logs());
        }
        Ok(())
    }

    /// SIGKILLs the controller and waits for it to be gone.
    async fn sigkill(&mut self) -> Result<()> {
        let mut p = self.controller.take().context("no controller running")?;
        let pid = p.pid().to_string();
        let status = tokio::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .await?;
        ensure!(status.success(), "kill -KILL {pid} failed");
        p.wait(Duration::from_secs(10)).await?;
        Ok(())
    }

    /// Every key Secret of the namespace (labelled with any value, as `kubeseal keys backup`
    /// sees them), name → fingerprint. Fails if any does not hold a key and matching
    /// certificate: a half-written key Secret is an error.
    async fn keys(&self) -> Result<BTreeMap<String, String>> {
        let api: Api<Secret> = self.ns.api();
        let list = api
            .list(&ListParams::default().labels(SEALED_SECRETS_KEY_LABEL))
            .await?;
        let mut out = BTreeMap::new();
        for s in list.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            let (key, _) = parse_key_secret(&s).with_context(|| format!("key Secret {name}"))?;
            out.insert(name, key.fingerprint().to_string());
        }
        Ok(out)
    }

    /// Waits for the first key and returns its public half.
    async fn wait_one_key(&self) -> Result<PublicKey> {
        let api: Api<Secret> = self.ns.api();
        let secret = wait_for_value("the first sealing key", WAIT, || {
            let api = api.clone();
            async move {
                let list = api
                    .list(&ListParams::default().labels(SEALED_SECRETS_KEY_LABEL))
                    .await?;
                Ok(list.items.into_iter().next())
            }
        })
        .await
        .with_context(|| self.logs())?;
        Ok(parse_key_secret(&secret)?.0.public_key().clone())
    }

    fn ss_api(&self) -> Api<SealedSecret> {
        self.ns.api()
    }

    /// Creates `n` SealedSecrets `<prefix>-<i>` with one item `v` = `value-<i>`, 16 at a time.
    async fn create_batch(&self, key: &PublicKey, prefix: &str, n: usize) -> Result<()> {
        let t = Instant::now();
        let api = self.ss_api();
        let ns = self.ns().to_owned();
        futures::stream::iter(0..n)
            .map(|i| {
                let ss = seal(key, &ns, &format!("{prefix}-{i}"), &format!("value-{i}"));
                let api = api.clone();
                async move {
                    api.create(&PostParams::default(), &ss?)
                        .await
                        .with_context(|| format!("creating SealedSecret {prefix}-{i}"))
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        eprintln!("  created {n} SealedSecrets in {:.1?}", t.elapsed());
        Ok(())
    }

    /// Names of the SealedSecrets whose Synced condition is True for their current generation.
    async fn synced(&self) -> Result<Vec<String>> {
        let list = self.ss_api().list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter(is_synced)
            .filter_map(|ss| ss.metadata.name)
            .collect())
    }

    /// Waits until `n` SealedSecrets are Synced and each Secret holds `value-<i>`.
    async fn wait_all_synced(&self, n: usize, timeout: Duration) -> Result<()> {
        let t = Instant::now();
        let last = std::sync::atomic::AtomicUsize::new(0);
        let waited = wait_for(&format!("{n} SealedSecrets Synced"), timeout, || {
            let fut = self.synced();
            let last = &last;
            async move {
                let synced = fut.await?.len();
                last.store(synced, std::sync::atomic::Ordering::Relaxed);
                Ok(synced >= n)
            }
        })
        .await
        .with_context(|| {
            format!(
                "{}/{n} Synced; {}",
                last.load(std::sync::atomic::Ordering::Relaxed),
                self.logs()
            )
        });
        if let Err(e) = waited {
            return Err(e.context(self.describe_unsynced().await));
        }
        let secrets: Api<Secret> = self.ns.api();
        let mut with_value = 0;
        for s in secrets.list(&ListParams::default()).await?.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            let Some((_, i)) = name.rsplit_once('-') else {
                continue;
            };
            if let Some(v) = s.data.as_ref().and_then(|d| d.get("v")) {
                ensure!(
                    v.0 == format!("value-{i}").as_bytes(),
                    "Secret {name} holds the wrong value"
                );
                with_value += 1;
            }
        }
        ensure!(
            with_value >= n,
            "only {with_value} of {n} Secrets were written"
        );
        eprintln!(
            "  {n} SealedSecrets Synced {:.1?} after the wait began ({:.1?} into the test)",
            t.elapsed(),
            self.started.elapsed()
        );
        Ok(())
    }

    /// The SealedSecrets not Synced, with their status and whether their Secret exists.
    async fn describe_unsynced(&self) -> String {
        let secrets: Api<Secret> = self.ns.api();
        let Ok(list) = self.ss_api().list(&ListParams::default()).await else {
            return "cannot list SealedSecrets".into();
        };
        let mut out = String::from("not Synced:");
        for ss in list.items.iter().filter(|ss| !is_synced(ss)) {
            let name = ss.metadata.name.clone().unwrap_or_default();
            let secret = secrets.get_opt(&name).await.ok().flatten().is_some();
            out.push_str(&format!(
                "\n  {name}: generation {:?}, Secret exists: {secret}, status: {}",
                ss.metadata.generation,
                serde_json::to_string(&ss.status).unwrap_or_default()
            ));
        }
        out
    }

    /// Waits until at least `n` objects are Synced; returns how many were.
    async fn wait_some_synced(&self, n: usize) -> Result<usize> {
        wait_for_value(&format!("{n} SealedSecrets Synced"), WAIT, || {
            let fut = self.synced();
            async move { Ok(Some(fut.await?.len()).filter(|&s| s >= n)) }
        })
        .await
        .with_context(|| self.logs())
    }
}

fn parse_key_secret(s: &Secret) -> Result<(PrivateKey, Certificate)> {
    let data = s.data.as_ref().context("no data")?;
    let key = PrivateKey::from_pem(&data.get("tls.key").context("no tls.key")?.0)?;
    let cert = Certificate::from_pem(&data.get("tls.crt").context("no tls.crt")?.0)?;
    cert.check_matches(&key)?;
    Ok((key, cert))
}

fn seal(key: &PublicKey, ns: &str, name: &str, value: &str) -> Result<SealedSecret> {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(ns.into());
    s.data = Some(BTreeMap::from([(
        "v".to_string(),
        ByteString(value.as_bytes().to_vec()),
    )]));
    Ok(common::sealing::seal_secret(&mut rand::rng(), key, &s)?)
}

fn is_synced(ss: &SealedSecret) -> bool {
    ss.status.as_ref().is_some_and(|st| {
        st.observed_generation.is_some()
            && st.observed_generation == ss.metadata.generation
            && st
                .conditions
                .iter()
                .any(|c| c.type_ == CONDITION_SYNCED && c.status == "True")
    })
}

/// The apiserver SIGKILLed while the controller works through a batch, back after a few
/// seconds: every object ends Synced, the controller never exits, the keys are the same.
#[tokio::test]
async fn apiserver_killed_mid_batch_every_object_synced_same_keys() -> Result<()> {
    restart_mid_batch(Component::Apiserver, "f-apiserver").await
}

/// etcd stopped under a running apiserver while the controller works through a batch, back
/// after a few seconds: same outcome.
#[tokio::test]
async fn etcd_restarted_mid_batch_every_object_synced_same_keys() -> Result<()> {
    restart_mid_batch(Component::Etcd, "f-etcd").await
}

async fn restart_mid_batch(component: Component, prefix: &str) -> Result<()> {
    const N: usize = 80;
    let _guard = FaultGuard::acquire().await;
    let mut fx = Fx::new(prefix).await?;
    fx.spawn(&[])?;
    let key = fx.wait_one_key().await?;
    let keys_before = fx.keys().await?;
    fx.create_batch(&key, "s", N).await?;
    let at_fault = fx.wait_some_synced(1).await?;
    let t = Instant::now();
    match component {
        // A crash: the controller's connections are reset at once, mid-request.
        Component::Apiserver => cluster().kill_component(component).await?,
        _ => cluster().stop_component(component).await?,
    }
    eprintln!(
        "  {component} down with {at_fault}/{N} Synced (stopping took {:.1?})",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    fx.assert_alive(&format!("while {component} was down"))?;
    let t = Instant::now();
    cluster().start_component(component).await?;
    eprintln!("  {component} back and ready in {:.1?}", t.elapsed());
    fx.wait_all_synced(N, Duration::from_secs(180)).await?;
    fx.assert_alive(&format!("after {component} came back"))?;
    assert_eq!(
        fx.keys().await?,
        keys_before,
        "the key set changed across the restart"
    );
    Ok(())
}

/// How the apiserver is made unreachable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The apiserver stopped: connections refused.
    Stopped,
    /// The controller runs in the pod network, which gets a blackhole route to the apiserver:
    /// packets dropped silently, established connections hang.
    Blackhole,
}

/// The apiserver unreachable for 30 s (stopped): the controller keeps running, and once the
/// apiserver is back it unseals SealedSecrets created afterwards.
#[tokio::test]
async fn apiserver_gone_30s_controller_survives_and_recovers() -> Result<()> {
    network_cut(&[], "f-cut", Cut::Stopped).await
}

/// The same with leader election on (the chart's default): losing the lease while the
/// apiserver is gone must not end the process; it campaigns again and resumes.
#[tokio::test]
async fn apiserver_gone_30s_leader_elected_controller_survives_and_recovers() -> Result<()> {
    network_cut(&["--leader-elect"], "f-cut-le", Cut::Stopped).await
}

/// A silent network cut for 30 s (packets dropped, no resets: the controller's open watch
/// connections just go quiet): the controller keeps running and recovers once the network is
/// back.
#[tokio::test]
async fn pod_network_blackholed_30s_controller_survives_and_recovers() -> Result<()> {
    network_cut(&[], "f-blackhole", Cut::Blackhole).await
}

async fn network_cut(args: &[&str], prefix: &str, cut: Cut) -> Result<()> {
    let _guard = FaultGuard::acquire().await;
    let mut fx = Fx::new(prefix).await?;
    fx.spawn_where(args, cut == Cut::Blackhole)?;
    let key = fx.wait_one_key().await?;
    let keys_before = fx.keys().await?;
    fx.create_batch(&key, "before", 3).await?;
    fx.wait_all_synced(3, WAIT).await?;

    match cut {
        Cut::Stopped => cluster().stop_component(Component::Apiserver).await?,
        Cut::Blackhole => cluster().cut_pod_network().await?,
    }
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(30) {
        fx.assert_alive(&format!(
            "{:.0?} after the apiserver went away",
            down.elapsed()
        ))?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    match cut {
        Cut::Stopped => cluster().start_component(Component::Apiserver).await?,
        Cut::Blackhole => cluster().restore_pod_network().await?,
    }
    eprintln!("  apiserver reachable again after {:.1?}", down.elapsed());
    fx.assert_alive("after the apiserver came back")?;

    fx.create_batch(&key, "after", 3).await?;
    fx.wait_all_synced(6, Duration::from_secs(90)).await?;
    fx.assert_alive("after recovering")?;
    if args.contains(&"--leader-elect") {
        // The outage outlasted the 15 s lease: the path under test was taken.
        ensure!(
            fx.logs().contains("lost the lease"),
            "the leader never noticed the outage; {}",
            fx.logs()
        );
    }
    assert_eq!(fx.keys().await?, keys_before, "the key set changed");
    Ok(())
}

/// The controller SIGKILLed at various points of its start on an empty key namespace (before,
/// during and after generating its first key), then restarted: there is exactly one key, never
/// two (a key written just before the kill is kept, not duplicated) and never zero, and every
/// key Secret parses (none half-written).
#[tokio::test]
async fn sigkill_during_key_generation_leaves_exactly_one_whole_key() -> Result<()> {
    let _guard = FaultGuard::acquire().await;
    let mut outcomes = Vec::new();
    for delay_ms in [0u64, 100, 250, 400, 600, 900, 1300, 2000] {
        let mut fx = Fx::new("f-keygen").await?;
        fx.spawn(&[])?;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        fx.sigkill().await?;
        let after_kill = fx.keys().await.context("key Secrets after the SIGKILL")?;
        ensure!(
            after_kill.len() <= 1,
            "{} keys after a SIGKILL {delay_ms} ms into the start: {after_kill:?}",
            after_kill.len()
        );
        fx.spawn(&[])?;
        fx.wait_one_key().await?;
        // Let the restarted controller settle: it must not add a second key.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let settled = fx.keys().await?;
        ensure!(
            settled.len() == 1,
            "{} keys after the restart (SIGKILL at {delay_ms} ms): {settled:?}\n{}",
            settled.len(),
            fx.logs()
        );
        if !after_kill.is_empty() {
            assert_eq!(
                settled, after_kill,
                "the key written before the SIGKILL was replaced"
            );
        }
        fx.assert_alive("after settling")?;
        outcomes.push((delay_ms, after_kill.len()));
    }
    eprintln!("  SIGKILL delay (ms) → keys present at the kill: {outcomes:?}");
    Ok(())
}

/// The controller SIGKILLed while unsealing a batch of 500 SealedSecrets, then restarted: all
/// 500 end Synced with the right values, and the keys are unchanged.
#[tokio::test]
async fn sigkill_during_500_unseals_all_synced_after_restart() -> Result<()> {
    const N: usize = 500;
    let _guard = FaultGuard::acquire().await;
    let mut fx = Fx::new("f-batch").await?;
    fx.spawn(&[])?;
    let key = fx.wait_one_key().await?;
    let keys_before = fx.keys().await?;
    // Stop the controller, queue the whole batch, start it again: it begins on 500 at once.
    fx.controller()?.stop(Duration::from_secs(10))?;
    fx.controller = None;
    fx.create_batch(&key, "s", N).await?;
    fx.spawn(&[])?;
    let at_kill = fx.wait_some_synced(50).await?;
    fx.sigkill().await?;
    let t = Instant::now();
    eprintln!("  SIGKILLed with {at_kill}/{N} Synced");
    fx.spawn(&[])?;
    fx.wait_all_synced(N, Duration::from_secs(240)).await?;
    eprintln!("  restart to all Synced: {:.1?}", t.elapsed());
    fx.assert_alive("after the batch")?;
    assert_eq!(fx.keys().await?, keys_before, "the key set changed");
    Ok(())
}

/// A key Secret deleted by mistake while the controller runs: objects that must be unsealed
/// with it report the failure (Synced=False, an ErrUnsealFailed event, no secret in the
/// message); restoring the key with `kubeseal keys restore` from a `kubeseal keys backup` heals
/// them, with the same controller process.
#[tokio::test]
async fn deleted_key_reports_errors_and_restored_backup_heals_without_restart() -> Result<()> {
    const VALUE: &str = "value-0";
    let _guard = FaultGuard::acquire().await;
    let mut fx = Fx::new("f-restore").await?;
    fx.spawn(&[])?;
    let key = fx.wait_one_key().await?;
    let keys_before = fx.keys().await?;
    let pid = fx.controller()?.pid();
    let dir = TempDir::new("faults-backup");
    let backup = dir.path().join("keys.yaml");
    kubeseal(
        fx.ns(),
        dir.path(),
        &["keys", "backup", "-o", &backup.display().to_string()],
    )?;

    // "old-0" is unsealed while the key exists.
    fx.create_batch(&key, "old", 1).await?;
    fx.wait_all_synced(1, WAIT).await?;

    // The key Secret is deleted by mistake; the controller drops the key.
    let secrets: Api<Secret> = fx.ns.api();
    for name in keys_before.keys() {
        secrets.delete(name, &DeleteParams::default()).await?;
    }
    wait_for("the controller noticed the deleted key", WAIT, || {
        let logs = fx.logs();
        async move { Ok(logs.contains("sealing key Secret deleted")) }
    })
    .await
    .with_context(|| fx.logs())?;

    // A new object sealed with that key, and the old object's Secret deleted (it must be
    // unsealed again): both report the failure.
    fx.create_batch(&key, "new", 1).await?;
    secrets.delete("old-0", &DeleteParams::default()).await?;
    for name in ["new-0", "old-0"] {
        let api = fx.ss_api();
        let message = wait_for_value(&format!("{name} Synced=False"), WAIT, || {
            let api = api.clone();
            async move {
                let ss = api.get(name).await?;
                Ok(ss.status.as_ref().and_then(|st| {
                    st.conditions
                        .iter()
                        .find(|c| {
                            c.type_ == CONDITION_SYNCED
                                && c.status == "False"
                                && st.observed_generation == ss.metadata.generation
                        })
                        .map(|c| c.message.clone().unwrap_or_default())
                }))
            }
        })
        .await
        .with_context(|| fx.logs())?;
        ensure!(
            message.contains("no key could decrypt secret"),
            "unexpected message on {name}: {message:?}"
        );
        ensure!(
            !message.contains("value-") && !message.contains("dmFsdWUt"),
            "the message leaks the value: {message:?}"
        );
        ensure!(
            secrets.get_opt(name).await?.is_none(),
            "Secret {name} exists without a key"
        );
    }
    let events: Api<Event> = fx.ns.api();
    let failed = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("ErrUnsealFailed"))
        .collect::<Vec<_>>();
    for name in ["new-0", "old-0"] {
        ensure!(
            failed
                .iter()
                .any(|e| e.involved_object.name.as_deref() == Some(name)),
            "no ErrUnsealFailed event for {name}"
        );
    }
    ensure!(
        failed
            .iter()
            .all(|e| !e.message.as_deref().unwrap_or_default().contains("value-")),
        "an event leaks a value"
    );

    // The documented procedure: kubeseal keys restore <backup>. Both heal, same process.
    let t = Instant::now();
    kubeseal(
        fx.ns(),
        dir.path(),
        &["keys", "restore", &backup.display().to_string()],
    )?;
    fx.wait_all_synced(2, WAIT).await?;
    eprintln!("  restore to both Synced: {:.1?}", t.elapsed());
    fx.assert_alive("after the restore")?;
    assert_eq!(fx.controller()?.pid(), pid);
    assert_eq!(
        fx.keys().await?,
        keys_before,
        "the restored key differs from the deleted one"
    );
    let s = secrets.get("old-0").await?;
    assert_eq!(s.data.unwrap_or_default()["v"].0, VALUE.as_bytes());
    Ok(())
}

/// Runs `kubeseal <args> --kubeconfig <admin> --controller-namespace <ns>`; fails on a non-zero
/// exit with its stderr.
fn kubeseal(ns: &str, home: &std::path::Path, args: &[&str]) -> Result<()> {
    let kubeconfig = cluster().kubeconfig.display().to_string();
    let out = std::process::Command::new(workspace_bin("kubeseal"))
        .args(args)
        .args([
            "--kubeconfig",
            &kubeconfig,
            "--controller-namespace",
            ns,
            "--request-timeout",
            "20s",
        ])
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running kubeseal")?;
    ensure!(
        out.status.success(),
        "kubeseal {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
