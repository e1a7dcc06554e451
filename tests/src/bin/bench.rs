//! Control-plane benchmarks P1, P2, P3, P6 of issue 8 (see docs/benchmarks.md). Run through
//! `tests/bench.sh`, which builds the release controller and the control plane first.
//!
//! ```text
//! bench [--objects 1000] [--sizes 100,1000,5000] [--items 3] [--key-bits 4096]
//!       [--unrelated max(10000, 2 × largest N)] [--write-probe 1000] [--timeout 600]
//!       [--no-pin] [--reencrypt-files 1000] [--skip-p6] [--skip-replay]
//! ```
//!
//! Every figure is reported next to a limit measured in the same run: one RSA private operation
//! (timed in-process through `common`, aws-lc-rs backend, same key size) and the apiserver's write
//! rates (Secret creates, SealedSecret status patches and Event creates, 8 concurrent requests). With two or more cores (unless `--no-pin`) the
//! control plane (etcd, kube-apiserver, kube-controller-manager) and this driver run on core 0 and
//! the controller on core 1 (`taskset`), so the limit's two halves are measured on what each side
//! really gets: the RSA op on core 1, the write rate against the pinned apiserver.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use common::annotations::SEALED_SECRETS_KEY_LABEL;
use common::crd::SealedSecret;
use common::keys::{CertificateParams, PrivateKey, self_signed_certificate};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use sealed_secrets_tests::{Spawn, TestNamespace, TestProcess, cluster, get_text};

const CREATORS: usize = 8;
/// How often P2 and P3 read the controller's /metrics to see whether every object was checked.
const METRICS_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
struct Opts {
    sizes: Vec<usize>,
    items: usize,
    key_bits: usize,
    unrelated: usize,
    write_probe: usize,
    timeout: Duration,
    /// Control plane on core 0, controller on core 1.
    pin: bool,
    /// K: files for `kubeseal --re-encrypt-dir` (0: skip).
    reencrypt_files: usize,
    /// Skip P6 (profiling runs that want P3 sooner).
    skip_p6: bool,
    /// Skip the replay of the controller's writes (the measured control-plane limit).
    skip_replay: bool,
}

fn parse_opts() -> Result<Opts> {
    let mut o = Opts {
        sizes: vec![1000],
        items: 3,
        key_bits: 4096,
        unrelated: 0,
        write_probe: 1000,
        timeout: Duration::from_secs(600),
        pin: cores() >= 2,
        reencrypt_files: 1000,
        skip_p6: false,
        skip_replay: false,
    };
    let mut unrelated = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || -> Result<String> {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--objects" => o.sizes = vec![value()?.parse()?],
            "--sizes" => {
                o.sizes = value()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--items" => o.items = value()?.parse()?,
            "--key-bits" => o.key_bits = value()?.parse()?,
            "--unrelated" => unrelated = Some(value()?.parse()?),
            "--no-pin" => o.pin = false,
            "--skip-p6" => o.skip_p6 = true,
            "--skip-replay" => o.skip_replay = true,
            "--reencrypt-files" => o.reencrypt_files = value()?.parse()?,
            "--write-probe" => o.write_probe = value()?.parse()?,
            "--timeout" => o.timeout = Duration::from_secs(value()?.parse()?),
            "-h" | "--help" => {
                println!(
                    "bench [--objects N | --sizes A,B,C] [--items 3] [--key-bits 4096] \
                     [--unrelated COUNT] [--write-probe 1000] [--timeout SECS] [--no-pin] \
                     [--reencrypt-files 1000] [--skip-p6] [--skip-replay]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    // As the issue's targets: 10,000 next to N = 1000, 20,000 next to N = 10,000.
    let largest = o.sizes.iter().copied().max().unwrap_or(0);
    o.unrelated = unrelated.unwrap_or(10_000usize.max(2 * largest));
    Ok(o)
}

fn controller_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SSRS_CONTROLLER_BIN") {
        return p.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release/controller")
}

fn kubeseal_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SSRS_KUBESEAL_BIN") {
        return p.into();
    }
    controller_bin().with_file_name("kubeseal")
}

/// `taskset -a -p -c CPUS PID` (every thread of the process) or, with `thread`, that thread only.
fn pin(pid: u32, cpus: &str, all_threads: bool) -> Result<()> {
    let mut cmd = std::process::Command::new("taskset");
    if all_threads {
        cmd.arg("-a");
    }
    let out = cmd
        .args(["-p", "-c", cpus, &pid.to_string()])
        .output()
        .context("running taskset (util-linux)")?;
    if !out.status.success() {
        bail!(
            "taskset -p -c {cpus} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The id of the calling thread (`/proc/thread-self` is `PID/task/TID`).
fn thread_id() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

/// (name, pid) of every process of the driver's cluster: the pid files of its state directory.
fn cluster_pids() -> Vec<(String, u32)> {
    let Ok(entries) = std::fs::read_dir(&cluster().dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, u32)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|path| path.extension().and_then(|x| x.to_str()) == Some("pid"))
        .filter_map(|path| {
            let pid = std::fs::read_to_string(&path).ok()?.trim().parse().ok()?;
            let name = path.file_stem()?.to_string_lossy().into_owned();
            Some((name, pid))
        })
        .collect();
    out.sort();
    out
}

/// Pins every process of the bench's cluster and this driver to core 0.
fn pin_control_plane() -> Result<Vec<String>> {
    let mut pinned = Vec::new();
    for (name, pid) in cluster_pids() {
        pin(pid, "0", true)?;
        pinned.push(name);
    }
    pin(std::process::id(), "0", true)?;
    Ok(pinned)
}

/// CPU seconds used so far by every process of the driver's cluster and by the driver itself:
/// where the control plane's core goes during a phase.
fn cluster_cpu() -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = cluster_pids()
        .into_iter()
        .map(|(name, pid)| (name, cpu_seconds(pid)))
        .collect();
    out.insert("bench driver".into(), cpu_seconds(std::process::id()));
    out
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

// ---------------------------------------------------------------- measured limits

/// CPU seconds (user + system) the calling thread has used (100 Hz ticks).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// Median wall time of one RSA private operation (one item unseal through `common`, aws-lc-rs),
/// and the mean CPU time per operation over the same runs (robust to other load on the machine).
fn rsa_op_cost(key: &PrivateKey, on_core: Option<&str>) -> Result<(Duration, f64)> {
    const RUNS: usize = 100;
    let tid = thread_id().context("no thread id")?;
    if let Some(core) = on_core {
        pin(tid, core, false)?;
    }
    let label = b"bench/probe";
    let ct = common::crypto::hybrid_encrypt(&mut rand::rng(), key.public_key(), &[1; 64], label)?;
    let cpu0 = thread_cpu_seconds();
    let mut t: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let s = Instant::now();
            let _ = common::crypto::single_decrypt(key, &ct, label);
            s.elapsed()
        })
        .collect();
    let cpu = (thread_cpu_seconds() - cpu0) / RUNS as f64;
    if on_core.is_some() {
        pin(tid, "0", false)?; // back with the rest of the driver
    }
    t.sort();
    Ok((t[t.len() / 2], cpu))
}

/// Median wall time of sealing one item (`common::crypto::hybrid_encrypt`: the RSA public op
/// and AES-GCM), the encryption half of K.
fn rsa_encrypt_cost(key: &PrivateKey) -> Result<Duration> {
    const RUNS: usize = 100;
    let mut t: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let s = Instant::now();
            let _ = common::crypto::hybrid_encrypt(
                &mut rand::rng(),
                key.public_key(),
                &[1; 64],
                b"bench/probe",
            );
            s.elapsed()
        })
        .collect();
    t.sort();
    Ok(t[t.len() / 2])
}

/// K: `kubeseal --re-encrypt-dir` offline over `files` SealedSecrets of `items` items, sealed
/// with `from`, re-sealed for `to`'s certificate. Returns (seconds, decrypt op, encrypt op, limit).
fn reencrypt_dir_bench(
    files: usize,
    items: usize,
    from: &PrivateKey,
    to: &PrivateKey,
) -> Result<(f64, Duration, Duration, f64)> {
    let bin = kubeseal_bin();
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release -p kubeseal",
            bin.display()
        );
    }
    let (dec, _) = rsa_op_cost(from, None)?;
    let enc = rsa_encrypt_cost(to)?;
    let dir = std::env::temp_dir().join(format!("ssrs-bench-k-{}", std::process::id()));
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    let result = (|| -> Result<f64> {
        for i in 0..files {
            let ss = sealed(from, "bench-k", &name_of(i), items, 0)?;
            let yaml =
                common::documents::sealed_secret_to_string(&ss, common::documents::Format::Yaml)?;
            std::fs::write(tree.join(format!("{}.yaml", name_of(i))), yaml)?;
        }
        let key = dir.join("old.key");
        std::fs::write(&key, from.to_pkcs1_pem()?.as_bytes())?;
        let cert = dir.join("new.crt");
        let c = self_signed_certificate(
            &mut rand::rng(),
            to,
            &CertificateParams {
                common_name: "bench-k".into(),
                not_before: SystemTime::now(),
                validity: Duration::from_secs(3600),
            },
        )?;
        std::fs::write(&cert, c.to_pem())?;
        let start = Instant::now();
        // Every core, whatever this driver is pinned to.
        let out = std::process::Command::new("taskset")
            .args(["-c", &format!("0-{}", cores() - 1)])
            .arg(&bin)
            .arg("--re-encrypt-dir")
            .arg(&tree)
            .arg("--recovery-private-key")
            .arg(&key)
            .arg("--cert")
            .arg(&cert)
            .output()?;
        let secs = start.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want =
            format!("re-encrypted {files} file(s), 0 already up to date, 0 skipped, 0 failed");
        if !out.status.success() || !stderr.contains(&want) {
            bail!("kubeseal --re-encrypt-dir: {}", stderr.trim());
        }
        Ok(secs)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let secs = result?;
    let ops = (files * items) as f64;
    let limit = ops * (dec.as_secs_f64() + enc.as_secs_f64()) / cores() as f64;
    Ok((secs, dec, enc, limit))
}

fn plain_secret(name: &str, items: usize, bytes: usize) -> Secret {
    let data = (0..items)
        .map(|i| (format!("key{i}"), ByteString(vec![b'x'; bytes])))
        .collect();
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// Creates `count` Secrets with 8 concurrent requests; returns creates per second.
/// The pinned apiserver's rate (per second, 8 concurrent requests) for each kind of write the
/// controller makes per object: a Secret create (`secret`), a merge patch of a SealedSecret's
/// status (`status`: a custom resource, so schema pruning and managedFields on every write) and
/// an Event create (`event`). Measured on `count` objects of a probe namespace; the SealedSecrets
/// to patch are created first, untimed.
#[derive(Debug, Default, Clone, Copy)]
struct WriteRates {
    secret: f64,
    status: f64,
    event: f64,
}

async fn write_rates(
    probe: &TestNamespace,
    key: &PrivateKey,
    count: usize,
    items: usize,
) -> Result<WriteRates> {
    let secret = create_secrets(&probe.api(), "w", count, items, 64).await?;
    let ss_api: Api<SealedSecret> = probe.api();
    let objs: Vec<SealedSecret> = (0..count)
        .map(|i| sealed(key, probe.name(), &format!("p{i}"), items, 0))
        .collect::<Result<_>>()?;
    create_all(&ss_api, objs)
        .await
        .context("creating the probe's SealedSecrets")?;
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // What the controller's status write sends (reconcile/status.rs `patch_body`).
    let status_patch = serde_json::json!({ "status": {
        "conditions": [{ "type": "Synced", "status": "True",
                         "lastUpdateTime": now, "lastTransitionTime": now }],
        "observedGeneration": 1,
        "secretResourceVersion": "123456",
        "keyFingerprints": ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],
    }});
    let start = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let (api, p) = (ss_api.clone(), status_patch.clone());
            async move {
                api.patch_status(&format!("p{i}"), &PatchParams::default(), &Patch::Merge(&p))
                    .await
            }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await
        .context("patching the probe's status")?;
    let status = count as f64 / start.elapsed().as_secs_f64();
    // What the controller's Event looks like (events.rs).
    let ev_api: Api<k8s_openapi::api::core::v1::Event> = probe.api();
    let start = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let api = ev_api.clone();
            let ev = serde_json::from_value(serde_json::json!({
                "metadata": { "name": format!("p{i}.bench") },
                "involvedObject": { "kind": "SealedSecret", "apiVersion": "bitnami.com/v1alpha1",
                                    "name": format!("p{i}"), "namespace": probe.name() },
                "reason": "Unsealed", "message": "SealedSecret unsealed successfully",
                "type": "Normal", "source": { "component": "sealed-secrets" },
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "reportingComponent": "sealed-secrets", "reportingInstance": "bench",
            }));
            async move {
                api.create(&PostParams::default(), &ev?)
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await
        .context("creating the probe's Events")?;
    let event = count as f64 / start.elapsed().as_secs_f64();
    Ok(WriteRates {
        secret,
        status,
        event,
    })
}

/// The control plane's half of the limit, measured: the controller's own writes for every object
/// (Secret create, status merge patch, Event create in P1; the JSON patch of the Secret instead of
/// the create in P6), made by a stand-in that decrypts nothing, from where the controller runs
/// (one thread on core 1), with the controller's two watches open and its 16 reconciles in
/// flight, timed by the same watch as P1 and P6. An isolated write probe misses what these writes
/// cost together: the watch fan-out of every write (to the stand-in's two watches, the driver's,
/// kube-controller-manager's garbage collector) and their contention in etcd.
#[derive(Debug, Default, Clone)]
struct Replay {
    p1_s: f64,
    p6_s: f64,
    p1_busy: String,
    p6_busy: String,
    /// CPU seconds by process during each replayed phase (the stand-in is the driver's thread).
    cpu: Vec<(String, BTreeMap<String, f64>)>,
    /// API requests by verb and resource during each replayed phase.
    requests: Vec<(String, BTreeMap<String, f64>)>,
}

/// Reconciles the controller runs at once (its `--concurrency` default).
const CONTROLLER_CONCURRENCY: usize = 16;

async fn replay(
    o: &Opts,
    n: usize,
    keys: &[PrivateKey; 4],
    client: &kube::Client,
) -> Result<Replay> {
    let probe = TestNamespace::new("benchnull").await?;
    let api: Api<SealedSecret> = probe.api();
    let objs: Vec<SealedSecret> = (0..n)
        .map(|i| sealed(&keys[0], probe.name(), &name_of(i), o.items, 0))
        .collect::<Result<_>>()?;
    create_all(&api, objs)
        .await
        .context("creating the replay's SealedSecrets")?;
    let watch = Watch::start(api.clone()).await?;
    let mut out = Replay::default();
    settle().await;

    let probe_p1 = PhaseProbe::start(client).await?;
    let mut stand_in = NullController::start(probe.name(), o.items, o.pin);
    let finished = || watch.synced() >= n || stand_in.is_finished();
    wait_until("replay of P1", o.timeout, finished).await?;
    (out.p1_s, out.p1_busy) = probe_p1.finish(client, "replay of P1", &mut out).await?;
    stand_in.fail_if_stopped()?;

    if !o.skip_p6 {
        let patches = reseal_patches(&keys[3], probe.name(), n, o.items)?;
        settle().await;
        watch.count_newer_generations();
        let probe_p6 = PhaseProbe::start(client).await?;
        patch_all(&api, patches)
            .await
            .context("re-sealing (replay)")?;
        let finished = || watch.synced() >= n || stand_in.is_finished();
        wait_until("replay of P6", o.timeout, finished).await?;
        (out.p6_s, out.p6_busy) = probe_p6.finish(client, "replay of P6", &mut out).await?;
        stand_in.fail_if_stopped()?;
    }
    stand_in.stop()?;
    drop(watch);
    delete_and_wait(probe, client).await?;
    Ok(out)
}

/// What one replayed phase is measured by: its timer, each core's busy share, the CPU of every
/// process of the cluster and the apiserver's requests, from `start` to `finish`.
struct PhaseProbe {
    start: Instant,
    jiffies: Vec<(u64, u64)>,
    cpu: BTreeMap<String, f64>,
    requests: BTreeMap<String, f64>,
}

impl PhaseProbe {
    async fn start(client: &kube::Client) -> Result<Self> {
        let (jiffies, cpu) = (core_jiffies(), cluster_cpu());
        let requests = apiserver_requests(client).await?;
        Ok(Self {
            start: Instant::now(),
            jiffies,
            cpu,
            requests,
        })
    }

    /// (seconds, core shares) of the phase; its CPU and requests go into `out` under `phase`.
    async fn finish(
        self,
        client: &kube::Client,
        phase: &str,
        out: &mut Replay,
    ) -> Result<(f64, String)> {
        let secs = self.start.elapsed().as_secs_f64();
        let busy = busy_share(&self.jiffies, &core_jiffies());
        out.cpu
            .push((phase.into(), delta(&cluster_cpu(), &self.cpu)));
        let requests = delta(&apiserver_requests(client).await?, &self.requests);
        out.requests.push((phase.into(), requests));
        Ok((secs, busy))
    }
}

/// The controller's writes without its decryption, on a thread of its own (pinned to core 1
/// with `pinned`) with its own runtime and client, until stopped.
struct NullController {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Run `task` on a thread of its own (on the controller's core 1 with `pinned`, else on every
/// core) with its own runtime: work that stands in for the controller, away from the driver's
/// pinned runtime.
fn spawn_on_controller_core<T, F>(
    pinned: bool,
    task: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<Result<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>>,
{
    std::thread::spawn(move || -> Result<T> {
        let tid = thread_id().context("no thread id")?;
        let cpus = if pinned {
            "1".to_string()
        } else {
            format!("0-{}", cores() - 1)
        };
        pin(tid, &cpus, false)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(task())
    })
}

impl NullController {
    fn start(ns: &str, items: usize, pinned: bool) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let ns = ns.to_owned();
        let thread = spawn_on_controller_core(pinned, move || async move {
            tokio::select! {
                r = null_controller(&ns, items) => r,
                _ = stopped => Ok(()),
            }
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// It ended on its own: a write failed (`stop` says which).
    fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// An error (its own, from `stop`) when it ended before being stopped: the phase it was
    /// timed for did not finish.
    fn fail_if_stopped(&mut self) -> Result<()> {
        if self.is_finished() {
            self.stop()?;
            bail!("the replay's stand-in stopped before every object was synced");
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        drop(self.stop.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r.context("the replay's stand-in controller"),
            Some(Err(_)) => bail!("the replay's stand-in controller panicked"),
            None => Ok(()),
        }
    }
}

/// What P2's two lists alone cost: the SealedSecret list and the Secret metadata list of `ns`
/// from the watch cache (`resourceVersion=0`, as the controller lists), one after the other and
/// then both at once, from a thread of their own (on core 1 with `pinned`, where the controller
/// runs). Returns seconds `(sealed secrets, secret metadata, both)` and the SealedSecret list's
/// bytes: the part of P2 no controller can avoid while it lists whole objects.
fn list_floor(ns: &str, pinned: bool) -> Result<(f64, f64, f64, usize)> {
    let ns = ns.to_owned();
    spawn_on_controller_core(pinned, move || async move {
        let client = sealed_secrets_tests::admin_client().await?;
        let ss_path =
            format!("/apis/bitnami.com/v1alpha1/namespaces/{ns}/sealedsecrets?resourceVersion=0");
        let secrets_path = format!("/api/v1/namespaces/{ns}/secrets?resourceVersion=0");
        let get = |path: String, metadata: bool| {
            let client = client.clone();
            async move {
                let mut req = http::Request::get(&path);
                if metadata {
                    req = req.header(
                        http::header::ACCEPT,
                        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                    );
                }
                let t = Instant::now();
                let body = client
                    .request_text(req.body(Vec::new())?)
                    .await
                    .with_context(|| format!("GET {path}"))?;
                anyhow::Ok((t.elapsed().as_secs_f64(), body.len()))
            }
        };
        let (ss_s, bytes) = get(ss_path.clone(), false).await?;
        let (secrets_s, _) = get(secrets_path.clone(), true).await?;
        let t = Instant::now();
        futures::try_join!(get(ss_path, false), get(secrets_path, true))?;
        Ok((ss_s, secrets_s, t.elapsed().as_secs_f64(), bytes))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the list measurement panicked"))?
}

async fn null_controller(ns: &str, items: usize) -> Result<()> {
    use k8s_openapi::api::core::v1::Event;
    let client = sealed_secrets_tests::admin_client().await?;
    let ss_api: Api<SealedSecret> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    // The controller's second watch (Secret metadata): only its cost matters here.
    tokio::spawn(
        watcher(
            Api::<kube::api::PartialObjectMeta<Secret>>::namespaced(client.clone(), ns),
            watcher::Config::default().any_semantic(),
        )
        .for_each(|_| async {}),
    );
    // Per object: the generation handled last and the Secret's version after our write.
    let handled: std::sync::Arc<std::sync::Mutex<HashMap<String, (i64, String)>>> =
        Default::default();
    let fingerprint = "0123456789abcdef".repeat(4);
    // Both lists from the watch cache, as the controller's.
    watcher(ss_api.clone(), watcher::Config::default().any_semantic())
        .applied_objects()
        .map_err(anyhow::Error::from)
        .try_filter_map(|ss| {
            let g = ss.metadata.generation.unwrap_or(0);
            let done = ss.status.as_ref().and_then(|s| s.observed_generation) == Some(g);
            let mut h = handled.lock().unwrap_or_else(|e| e.into_inner());
            let entry = h.entry(ss.metadata.name.clone().unwrap_or_default()).or_default();
            let todo = !done && entry.0 < g;
            if todo {
                entry.0 = g;
            }
            std::future::ready(Ok(todo.then(|| (ss, entry.1.clone()))))
        })
        .map_ok(|(ss, secret_version)| {
            let (secrets, ss_api, events) = (secrets.clone(), ss_api.clone(), events.clone());
            let (handled, fingerprint) = (handled.clone(), fingerprint.clone());
            async move {
                let name = ss.metadata.name.clone().unwrap_or_default();
                let g = ss.metadata.generation.unwrap_or(0);
                let data: BTreeMap<String, ByteString> = (0..items)
                    .map(|i| {
                        let v = format!("{:02}-{i}-{}", g - 1, "v".repeat(58));
                        (format!("key{i}"), ByteString(v.into_bytes()))
                    })
                    .collect();
                let owner = common::sealing::owner_reference(&ss);
                let written = if secret_version.is_empty() {
                    let mut s = plain_secret(&name, 0, 0);
                    s.metadata.owner_references = Some(vec![owner]);
                    s.data = Some(data);
                    s.type_ = Some("Opaque".into());
                    secrets.create(&PostParams::default(), &s).await?
                } else {
                    // What the controller sends for a Secret its cache knows (secret.rs).
                    let ops = serde_json::json!([
                        { "op": "replace", "path": "/metadata/resourceVersion", "value": secret_version },
                        { "op": "add", "path": "/metadata/labels", "value": {} },
                        { "op": "add", "path": "/metadata/annotations", "value": {} },
                        { "op": "add", "path": "/metadata/ownerReferences", "value": [owner] },
                        { "op": "add", "path": "/data", "value": data },
                        { "op": "add", "path": "/type", "value": "Opaque" },
                    ]);
                    let patch: Patch<()> = Patch::Json(serde_json::from_value(ops)?);
                    secrets.patch(&name, &PatchParams::default(), &patch).await?
                };
                let rv = written.metadata.resource_version.unwrap_or_default();
                let now = k8s_openapi::jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string();
                let status = serde_json::json!({ "status": {
                    "conditions": [{ "type": "Synced", "status": "True",
                                     "lastUpdateTime": now, "lastTransitionTime": now }],
                    "observedGeneration": g,
                    "secretResourceVersion": rv,
                    "keyFingerprints": [fingerprint],
                }});
                ss_api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
                let nanos = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let ev: Event = serde_json::from_value(serde_json::json!({
                    "metadata": { "name": format!("{name}.{nanos:x}") },
                    "involvedObject": { "kind": "SealedSecret", "apiVersion": "bitnami.com/v1alpha1",
                                        "name": name, "namespace": ns_of(&ss), "uid": ss.metadata.uid },
                    "reason": "Unsealed", "message": "SealedSecret unsealed successfully",
                    "type": "Normal", "source": { "component": "sealed-secrets" },
                    "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                    "reportingComponent": "sealed-secrets",
                }))?;
                events.create(&PostParams::default(), &ev).await?;
                if let Some(e) = handled.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&name) {
                    e.1 = rv;
                }
                anyhow::Ok(())
            }
        })
        .try_buffer_unordered(CONTROLLER_CONCURRENCY)
        .try_for_each(|()| async { Ok(()) })
        .await
}

fn ns_of(ss: &SealedSecret) -> String {
    ss.metadata.namespace.clone().unwrap_or_default()
}

/// P6's workload: for each of the `n` objects, a merge patch of its `encryptedData`, sealed anew
/// with `key` (made before any timer starts).
fn reseal_patches(
    key: &PrivateKey,
    ns: &str,
    n: usize,
    items: usize,
) -> Result<Vec<(String, serde_json::Value)>> {
    (0..n)
        .map(|i| {
            let ss = sealed(key, ns, &name_of(i), items, 1)?;
            Ok((
                name_of(i),
                serde_json::json!({ "spec": { "encryptedData": ss.spec.encrypted_data } }),
            ))
        })
        .collect()
}

/// Apply every patch, `CREATORS` at a time.
async fn patch_all(
    api: &Api<SealedSecret>,
    patches: Vec<(String, serde_json::Value)>,
) -> Result<()> {
    stream::iter(patches)
        .map(|(name, p)| {
            let api = api.clone();
            async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&p))
                    .await
            }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
}

/// Create every object of `objs` through `api`, `CREATORS` at a time.
async fn create_all(api: &Api<SealedSecret>, objs: Vec<SealedSecret>) -> kube::Result<()> {
    stream::iter(objs)
        .map(|ss| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &ss).await }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await
}

async fn create_secrets(
    api: &Api<Secret>,
    prefix: &str,
    count: usize,
    items: usize,
    bytes: usize,
) -> Result<f64> {
    let start = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let s = plain_secret(&format!("{prefix}{i}"), items, bytes);
            async move { api.create(&PostParams::default(), &s).await }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await
        .context("creating Secrets")?;
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------- cluster helpers

async fn ensure_crd(client: &kube::Client) -> Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        "sealedsecrets.bitnami.com",
        &PatchParams::apply("sealed-secrets-bench").force(),
        &Patch::Apply(&common::crd::crd()),
    )
    .await?;
    sealed_secrets_tests::wait_for("CRD established", Duration::from_secs(30), || {
        let api = api.clone();
        async move {
            Ok(api
                .get("sealedsecrets.bitnami.com")
                .await?
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        }
    })
    .await
}

fn key_secret(name: &str, key: &PrivateKey, age: Duration) -> Result<Secret> {
    let cert = self_signed_certificate(
        &mut rand::rng(),
        key,
        &CertificateParams {
            common_name: name.into(),
            not_before: SystemTime::now() - age,
            validity: Duration::from_secs(10 * 365 * 24 * 3600),
        },
    )?;
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.labels = Some(BTreeMap::from([(
        SEALED_SECRETS_KEY_LABEL.to_string(),
        "active".to_string(),
    )]));
    s.type_ = Some("kubernetes.io/tls".into());
    s.data = Some(BTreeMap::from([
        (
            "tls.key".into(),
            ByteString(key.to_pkcs1_pem()?.as_bytes().to_vec()),
        ),
        ("tls.crt".into(), ByteString(cert.to_pem().into_bytes())),
    ]));
    Ok(s)
}

fn sealed(
    key: &PrivateKey,
    ns: &str,
    name: &str,
    items: usize,
    round: u32,
) -> Result<SealedSecret> {
    let mut s = plain_secret(name, 0, 0);
    s.metadata.namespace = Some(ns.into());
    s.data = Some(
        (0..items)
            .map(|i| {
                (
                    format!("key{i}"),
                    ByteString(format!("{round:02}-{i}-{}", "v".repeat(58)).into_bytes()),
                )
            })
            .collect(),
    );
    Ok(common::sealing::seal_secret(
        &mut rand::rng(),
        key.public_key(),
        &s,
    )?)
}

fn name_of(i: usize) -> String {
    format!("ss{i:05}")
}

/// A controller process and the address of its metrics endpoint.
struct Controller {
    proc: TestProcess,
    metrics: Option<String>,
}

impl Controller {
    fn start(ns: &str, all_namespaces: bool, pinned: bool) -> Result<Self> {
        Self::start_with(ns, all_namespaces, pinned, &[])
    }

    fn start_with(
        ns: &str,
        all_namespaces: bool,
        pinned: bool,
        env: &[(String, String)],
    ) -> Result<Self> {
        let bin = controller_bin();
        if !bin.exists() {
            bail!(
                "{} not found: cargo build --release -p sealed-secrets-controller",
                bin.display()
            );
        }
        // taskset execs the controller: the pid stays the controller's. Unpinned, it still
        // needs every core back from this driver's own pinning (inherited).
        let cpus = if pinned {
            "1".to_string()
        } else {
            format!("0-{}", cores() - 1)
        };
        let mut spawn = Spawn::new("taskset");
        for (k, v) in env {
            spawn = spawn.env(k, v);
        }
        let proc = spawn
            .args([std::ffi::OsString::from("-c"), cpus.into(), bin.into()])
            .args([
                format!("--all-namespaces={all_namespaces}"),
                "--listen-addr=127.0.0.1:0".into(),
                "--listen-metrics-addr=127.0.0.1:0".into(),
            ])
            .env("POD_NAMESPACE", ns)
            .kubeconfig(&cluster().kubeconfig)
            .start("controller")?;
        Ok(Self {
            proc,
            metrics: None,
        })
    }

    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Seconds from `start` to the first log line of each of `steps` (text format's `time=`), for
    /// the phases that wait on the controller's own start: "-" when not logged.
    fn timeline(&self, start: k8s_openapi::jiff::Timestamp, steps: &[&str]) -> String {
        let logs = self.proc.stdout() + &self.proc.stderr();
        steps
            .iter()
            .map(|step| {
                let at = logs
                    .lines()
                    .filter(|l| l.contains(step))
                    .find_map(|l| {
                        let t = l.strip_prefix("time=")?.split(' ').next()?;
                        t.parse::<k8s_openapi::jiff::Timestamp>().ok()
                    })
                    .map(|t| format!("{:.2} s", t.duration_since(start).as_secs_f64()))
                    .unwrap_or_else(|| "-".into());
                format!("{step}: {at}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn metrics(&mut self) -> Result<HashMap<String, f64>> {
        if self.metrics.is_none() {
            let logs = self.proc.stdout() + &self.proc.stderr();
            self.metrics = logs
                .lines()
                .filter(|l| l.contains("server listening") && l.contains("metrics"))
                .filter_map(|l| l.split("addr=").nth(1))
                .map(|a| {
                    a.split(|c: char| c.is_whitespace() || c == '"' || c == ',')
                        .find(|s| !s.is_empty())
                        .unwrap_or_default()
                        .to_owned()
                })
                .next();
        }
        let Some(addr) = &self.metrics else {
            if let Some(st) = self.proc.try_exit()? {
                bail!("controller exited ({st}): {}", self.proc.stderr());
            }
            bail!("metrics address not logged yet");
        };
        let out = tokio::process::Command::new("curl")
            .args(["-sf", &format!("http://{addr}/metrics")])
            .output()
            .await?;
        Ok(sum_metrics(&String::from_utf8_lossy(&out.stdout), |_| true))
    }

    /// Stop it; with `SSRS_BENCH_LOGS=DIR`, keep its logs there (`controller-PID.stdout` and
    /// `.stderr`) for a look after the run, e.g. with `--log-level=DEBUG` set through
    /// `SEALED_SECRETS_LOG_LEVEL`.
    fn stop(mut self) -> Result<()> {
        self.proc.stop(Duration::from_secs(10))?;
        if let Some(dir) = std::env::var_os("SSRS_BENCH_LOGS") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir)?;
            let (out, err) = self.proc.log_paths();
            let pid = self.proc.pid();
            std::fs::copy(out, dir.join(format!("controller-{pid}.stdout")))?;
            std::fs::copy(err, dir.join(format!("controller-{pid}.stderr")))?;
        }
        Ok(())
    }
}

/// P3's start: a cluster-wide controller (with `env` added) until every object is checked or
/// unsealed, then its RSS and peak RSS 3 s later (MiB). Returns (seconds to sync, RSS, peak).
async fn p3(
    ns: &str,
    pinned: bool,
    n: usize,
    o: &Opts,
    env: &[(String, String)],
) -> Result<(f64, f64, f64)> {
    let start = Instant::now();
    let mut ctl = Controller::start_with(ns, true, pinned, env)?;
    let deadline = Instant::now() + o.timeout;
    loop {
        if let Ok(m) = ctl.metrics().await
            && metric(&m, "reconciles_in_sync") + metric(&m, "rsa_decryptions") / o.items as f64
                >= n as f64
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("P3 timed out");
        }
        tokio::time::sleep(METRICS_POLL).await;
    }
    let synced = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = proc_status_kib(ctl.pid(), "VmRSS:") as f64 / 1024.0;
    let hwm = proc_status_kib(ctl.pid(), "VmHWM:") as f64 / 1024.0;
    ctl.stop()?;
    Ok((synced, rss, hwm))
}

/// Sums samples by metric name (labels dropped), keeping only lines `keep` accepts.
fn sum_metrics(text: &str, keep: impl Fn(&str) -> bool) -> HashMap<String, f64> {
    let mut m = HashMap::new();
    for l in text.lines().filter(|l| !l.starts_with('#') && keep(l)) {
        let name = l.split(['{', ' ']).next().unwrap_or_default();
        if let Some(v) = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *m.entry(name.to_string()).or_default() += v;
        }
    }
    m
}

fn metric(m: &HashMap<String, f64>, name: &str) -> f64 {
    m.get(&format!("sealed_secrets_controller_{name}_total"))
        .or_else(|| m.get(&format!("sealed_secrets_controller_{name}")))
        .copied()
        .unwrap_or(0.0)
}

/// `apiserver_request_total` by "VERB resource[/subresource]".
async fn apiserver_requests(client: &kube::Client) -> Result<BTreeMap<String, f64>> {
    let text = get_text(client, "/metrics").await?;
    let mut out = BTreeMap::new();
    for l in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |k: &str| {
            l.split(&format!("{k}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let sub = label("subresource");
        // Failed requests by their code (a 409 or 404 is a stale cache's fallback).
        let code = label("code");
        let key = format!(
            "{} {}{}{}",
            label("verb"),
            label("resource"),
            if sub.is_empty() {
                String::new()
            } else {
                format!("/{sub}")
            },
            if code.starts_with('2') || code.is_empty() {
                String::new()
            } else {
                format!(" {code}")
            }
        );
        if let Some(v) = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *out.entry(key).or_default() += v;
        }
    }
    Ok(out)
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// CPU seconds (user + system) the process has used, from `/proc/<pid>/stat` (100 Hz ticks).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // After the comm field: state is index 0, utime index 11, stime index 12.
    (tick(11) + tick(12)) / 100.0
}

/// Busy and total jiffies of every core (`/proc/stat`'s `cpuN` lines), to show which core a phase
/// waited on.
fn core_jiffies() -> Vec<(u64, u64)> {
    std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            let at = |i: usize| f.get(i).copied().unwrap_or(0);
            // user nice system idle iowait irq softirq steal
            let idle = at(3) + at(4);
            let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
            (busy, busy + idle)
        })
        .collect()
}

/// Per-core busy share (%) between two `core_jiffies` readings, e.g. "97/71".
fn busy_share(before: &[(u64, u64)], after: &[(u64, u64)]) -> String {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| {
            let total = a.1.saturating_sub(b.1).max(1);
            format!(
                "{:.0}",
                a.0.saturating_sub(b.0) as f64 * 100.0 / total as f64
            )
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A watch of the namespace's SealedSecrets (one LIST + one WATCH, no polling) that counts, as
/// each event arrives, the objects Synced=True at their current generation above a baseline. The
/// phases poll that count every 20 ms: counting by walking every object at each poll (as a
/// reflector store's `state()` would) cost this driver ≈ 4 s of CPU in P1 at 10,000 objects, on
/// the control plane's core, the one P1 waits on.
struct Watch {
    state: std::sync::Arc<std::sync::Mutex<SyncCount>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Each object's generation and whether its status is Synced=True at it; `count` is how many have
/// a generation above `base` (missing: 0) and are synced.
#[derive(Default)]
struct SyncCount {
    objects: HashMap<String, (i64, bool)>,
    base: HashMap<String, i64>,
    count: usize,
}

impl SyncCount {
    fn counts(&self, name: &str, (generation, synced): (i64, bool)) -> bool {
        synced && generation > self.base.get(name).copied().unwrap_or(0)
    }

    fn apply(&mut self, ss: &SealedSecret, deleted: bool) {
        let name = ss.metadata.name.clone().unwrap_or_default();
        let g = ss.metadata.generation.unwrap_or(0);
        let synced = ss.status.as_ref().is_some_and(|s| {
            s.observed_generation == Some(g)
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Synced" && c.status == "True")
        });
        let old = if deleted {
            self.objects.remove(&name)
        } else {
            self.objects.insert(name.clone(), (g, synced))
        };
        if old.is_some_and(|o| self.counts(&name, o)) {
            self.count -= 1;
        }
        if !deleted && self.counts(&name, (g, synced)) {
            self.count += 1;
        }
    }

    /// Count from now on only generations above `base` (recounted once).
    fn rebase(&mut self, base: HashMap<String, i64>) {
        self.base = base;
        self.count = self
            .objects
            .iter()
            .filter(|(name, o)| self.counts(name, **o))
            .count();
    }
}

impl Watch {
    async fn start(api: Api<SealedSecret>) -> Result<Self> {
        let state = std::sync::Arc::new(std::sync::Mutex::new(SyncCount::default()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let mut relist: Option<SyncCount> = None;
        let st = state.clone();
        let s = watcher(api, watcher::Config::default())
            .default_backoff()
            .for_each(move |ev| {
                let mut guard = st.lock().unwrap_or_else(|e| e.into_inner());
                match ev {
                    Ok(watcher::Event::Apply(ss)) => guard.apply(&ss, false),
                    Ok(watcher::Event::Delete(ss)) => guard.apply(&ss, true),
                    // A (re)list replaces every object at its end, as a reflector does.
                    Ok(watcher::Event::Init) => relist = Some(SyncCount::default()),
                    Ok(watcher::Event::InitApply(ss)) => {
                        if let Some(r) = relist.as_mut() {
                            r.apply(&ss, false)
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(mut r) = relist.take() {
                            let base = std::mem::take(&mut guard.base);
                            r.rebase(base);
                            *guard = r;
                        }
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Err(_) => {}
                }
                async {}
            });
        let task = tokio::spawn(s);
        ready_rx.await.context("the SealedSecret watch ended")?;
        Ok(Self { state, task })
    }

    /// Objects Synced=True at their current generation, whose generation is above the baseline.
    fn synced(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).count
    }

    /// From now on count only objects whose generation is above their current one.
    fn count_newer_generations(&self) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let base = guard
            .objects
            .iter()
            .map(|(name, (g, _))| (name.clone(), *g))
            .collect();
        guard.rebase(base);
    }
}

/// Core 0's busy share (%) at which the control plane counts as settled.
const SETTLED_BUSY: f64 = 30.0;

/// Wait (up to 2 minutes) until the control plane's core has been less than `SETTLED_BUSY` %
/// busy for one second: the work a phase leaves behind (the garbage collector's graph of 10,000
/// new owner references, the watch cache's catching up, etcd's compaction) must not be timed as
/// the next phase's. Returns (seconds waited, core 0's busy % in the last second).
async fn settle() -> (f64, f64) {
    let start = Instant::now();
    loop {
        let before = core_jiffies();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = core_jiffies();
        let busy = match (before.first(), after.first()) {
            (Some(b), Some(a)) => {
                a.0.saturating_sub(b.0) as f64 * 100.0 / a.1.saturating_sub(b.1).max(1) as f64
            }
            _ => 0.0,
        };
        if busy < SETTLED_BUSY || start.elapsed() > Duration::from_secs(120) {
            return (start.elapsed().as_secs_f64(), busy);
        }
    }
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

// ---------------------------------------------------------------- one size

#[derive(Debug, Default, Clone)]
struct Row {
    n: usize,
    op_ms: f64,
    op_cpu_ms: f64,
    /// The RSA half of every limit: N × items ops ÷ the controller's cores × one op.
    cpu_limit_s: f64,
    limit_s: f64,
    p1_s: f64,
    p1_metric_ops: f64,
    /// P2's two lists alone, seconds: SealedSecrets, Secret metadata, both at once.
    p2_lists: (f64, f64, f64),
    p1_cpu_s: f64,
    p1_requests: f64,
    p2_s: f64,
    p2_ops: f64,
    p2_cpu_s: f64,
    /// `VmHWM` of the warm-restart process once everything is checked: the initial list's peak.
    p2_hwm_mib: f64,
    p2_requests: f64,
    p6_limit_s: f64,
    p6_s: f64,
    p6_metric_ops: f64,
    p6_cpu_s: f64,
    p6_requests: f64,
    p3_rss_mib: f64,
    p3_hwm_mib: f64,
    p3_s: f64,
    p1_hwm_mib: f64,
    /// Busy % of each core during P1 and P6 ("core0/core1").
    p1_busy: String,
    p6_busy: String,
    rates: WriteRates,
    /// The controller's writes replayed without decryption (zero with `--skip-replay`).
    replay: Replay,
    /// The limit with every write of P1 (P6) at its own measured rate.
    all_writes_limit_s: f64,
    p6_all_writes_limit_s: f64,
    ctl_cores: usize,
    /// 1-minute load average when P1 started and when P6 ended (the machine is shared or not).
    load: (f64, f64),
    breakdown: Vec<(String, BTreeMap<String, f64>)>,
    /// CPU seconds by process of the cluster (and the driver) during P1 and P6.
    cpu_breakdown: Vec<(String, BTreeMap<String, f64>)>,
}

fn fmt_breakdown(d: &BTreeMap<String, f64>) -> String {
    let mut v: Vec<_> = d.iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(a.1));
    v.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn run_size(o: &Opts, n: usize, keys: &[PrivateKey; 4], unrelated_ns: &str) -> Result<Row> {
    let mut row = Row {
        n,
        ..Default::default()
    };
    let ns = TestNamespace::new(&format!("bench{n}")).await?;
    let client = ns.client();
    let ss_api: Api<SealedSecret> = ns.api();

    // Limits, measured now.
    let pinned = o.pin;
    let ctl_cores = if pinned { 1 } else { cores() };
    row.ctl_cores = ctl_cores;
    let (op, op_cpu) = tokio::task::spawn_blocking({
        let k = PrivateKey::from_pem(keys[0].to_pkcs1_pem()?.as_bytes())?;
        move || rsa_op_cost(&k, pinned.then_some("1"))
    })
    .await??;
    row.op_ms = op.as_secs_f64() * 1e3;
    row.op_cpu_ms = op_cpu * 1e3;
    let probe = TestNamespace::new("benchwrite").await?;
    let rates = write_rates(&probe, &keys[0], o.write_probe, o.items).await?;
    // The namespace controller's cleanup of the probe (3 × its objects) would otherwise run
    // on the control plane's core during P1.
    delete_and_wait(probe, &client).await?;
    row.rates = rates;
    let needed_ops = (n * o.items) as f64;
    let cpu_limit = needed_ops / ctl_cores as f64 * op.as_secs_f64();
    let write_limit = (2 * n) as f64 / rates.secret;
    row.limit_s = cpu_limit.max(write_limit);
    row.cpu_limit_s = cpu_limit;
    // Every write of the phase at the measured rate of its kind: P1's Secret create, status
    // patch and Event per object; P6 adds the workload's own re-seal patch (counted at the
    // status-patch rate: both are merge patches of the same objects).
    let n_f = n as f64;
    let p1_writes = n_f / rates.secret + n_f / rates.status + n_f / rates.event;
    row.all_writes_limit_s = cpu_limit.max(p1_writes);
    row.p6_all_writes_limit_s = cpu_limit.max(p1_writes + n_f / rates.status);
    if !o.skip_replay {
        row.replay = replay(o, n, keys, &client).await?;
        eprintln!(
            "[N={n}] replay of the controller's writes without decryption: P1 {:.2} s (cores busy {} %), P6 {:.2} s ({} %)",
            row.replay.p1_s, row.replay.p1_busy, row.replay.p6_s, row.replay.p6_busy
        );
    }
    eprintln!(
        "[N={n}] op {:.2} ms (CPU {:.2} ms), write rate {:.0}/s → limit {:.2} s (cpu {cpu_limit:.2}, writes {write_limit:.2}); status patches {:.0}/s, events {:.0}/s → with every write {:.2} s (P6 {:.2} s)",
        row.op_ms,
        row.op_cpu_ms,
        rates.secret,
        row.limit_s,
        rates.status,
        rates.event,
        row.all_writes_limit_s,
        row.p6_all_writes_limit_s
    );

    // Three keys (oldest first), everything sealed with the oldest.
    let secrets: Api<Secret> = ns.api();
    for (i, age_h) in [(0usize, 3u64), (1, 2), (2, 1)] {
        secrets
            .create(
                &PostParams::default(),
                &key_secret(
                    &format!("bench-key-{i}"),
                    &keys[i],
                    Duration::from_secs(age_h * 3600),
                )?,
            )
            .await?;
    }
    let objs: Vec<SealedSecret> = (0..n)
        .map(|i| sealed(&keys[0], ns.name(), &name_of(i), o.items, 0))
        .collect::<Result<_>>()?;
    create_all(&ss_api, objs)
        .await
        .context("creating SealedSecrets")?;
    let watch = Watch::start(ss_api.clone()).await?;
    let (waited, busy) = settle().await;
    eprintln!(
        "[N={n}] control plane settled before P1 after {waited:.0} s (core 0 {busy:.0} % busy)"
    );

    // P1: cold start.
    row.load.0 = load_average();
    let before = apiserver_requests(&client).await?;
    let jiffies = core_jiffies();
    let cpu0 = cluster_cpu();
    let start = Instant::now();
    let mut ctl = Controller::start(ns.name(), false, pinned)?;
    wait_until("P1: all Synced", o.timeout, || watch.synced() >= n).await?;
    row.p1_s = start.elapsed().as_secs_f64();
    row.p1_busy = busy_share(&jiffies, &core_jiffies());
    let mut cpu = delta(&cluster_cpu(), &cpu0);
    cpu.insert("controller".into(), cpu_seconds(ctl.pid()));
    row.cpu_breakdown.push(("P1".into(), cpu));
    row.p1_cpu_s = cpu_seconds(ctl.pid());
    row.p1_hwm_mib = proc_status_kib(ctl.pid(), "VmHWM:") as f64 / 1024.0;
    let m = ctl.metrics().await?;
    row.p1_metric_ops = metric(&m, "rsa_decryptions");
    let d = delta(&apiserver_requests(&client).await?, &before);
    row.p1_requests = d.values().sum::<f64>() - 1.0; // minus our own /metrics GET
    row.breakdown.push(("P1 cold start".into(), d));
    eprintln!(
        "[N={n}] P1 {:.2} s ({:.2}× limit), metric ops {}, controller CPU {:.2} s, cores busy {} %",
        row.p1_s,
        row.p1_s / row.limit_s,
        row.p1_metric_ops,
        row.p1_cpu_s,
        row.p1_busy
    );

    // P2: warm restart.
    ctl.stop()?;
    settle().await;
    let (ss_s, secrets_s, both_s, bytes) = tokio::task::spawn_blocking({
        let ns = ns.name().to_owned();
        move || list_floor(&ns, pinned)
    })
    .await??;
    row.p2_lists = (ss_s, secrets_s, both_s);
    eprintln!(
        "[N={n}] P2's lists alone: SealedSecrets {ss_s:.2} s ({:.1} MB), Secret metadata {secrets_s:.2} s, both at once {both_s:.2} s",
        bytes as f64 / 1e6
    );
    let (waited, busy) = settle().await;
    eprintln!(
        "[N={n}] control plane settled before P2 after {waited:.0} s (core 0 {busy:.0} % busy)"
    );
    let before = apiserver_requests(&client).await?;
    let start = Instant::now();
    let started_at = k8s_openapi::jiff::Timestamp::now();
    let mut ctl = Controller::start(ns.name(), false, pinned)?;
    let deadline = Instant::now() + o.timeout;
    loop {
        if let Ok(m) = ctl.metrics().await
            && metric(&m, "reconciles_in_sync") >= n as f64
        {
            row.p2_s = start.elapsed().as_secs_f64();
            row.p2_cpu_s = cpu_seconds(ctl.pid());
            row.p2_hwm_mib = proc_status_kib(ctl.pid(), "VmHWM:") as f64 / 1024.0;
            row.p2_ops = metric(&m, "rsa_decryptions");
            break;
        }
        if Instant::now() > deadline {
            bail!("P2 timed out");
        }
        // Each /metrics answer costs the controller about 0.8 µs per SealedSecret (one
        // condition series each: 8 ms at 10,000); polled every 20 ms it took a third of the
        // pinned controller's core. Every 100 ms: ≤ 8 %, and P2 is late by up to 0.1 s.
        tokio::time::sleep(METRICS_POLL).await;
    }
    let d = delta(&apiserver_requests(&client).await?, &before);
    row.p2_requests = d.values().sum::<f64>() - 1.0;
    row.breakdown.push(("P2 warm restart".into(), d));
    eprintln!(
        "[N={n}] P2 {:.2} s, RSA ops {}, controller CPU {:.2} s, peak RSS {:.1} MiB; from the start: {}",
        row.p2_s,
        row.p2_ops,
        row.p2_cpu_s,
        row.p2_hwm_mib,
        ctl.timeline(
            started_at,
            &[
                "Starting sealed-secrets controller",
                "sealing key loaded",
                "caches synced"
            ]
        )
    );

    // `--skip-p6` (profiling runs that want P3 sooner) leaves P6's figures at zero.
    if !o.skip_p6 {
        // P6: a fourth (newest) key appears; every object is re-sealed with it at once.
        secrets
            .create(
                &PostParams::default(),
                &key_secret("bench-key-3", &keys[3], Duration::from_secs(60))?,
            )
            .await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(m) = ctl.metrics().await
                && metric(&m, "keys") >= 4.0
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("the controller did not load the fourth key");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await; // let the key-change resync settle
        watch.count_newer_generations();
        let patches = reseal_patches(&keys[3], ns.name(), n, o.items)?;
        settle().await;
        let ops_before = metric(&ctl.metrics().await?, "rsa_decryptions");
        let cpu_before = cpu_seconds(ctl.pid());
        let before = apiserver_requests(&client).await?;
        let jiffies = core_jiffies();
        let cpu0 = cluster_cpu();
        let start = Instant::now();
        patch_all(&ss_api, patches).await.context("re-sealing")?;
        let writes_done = start.elapsed().as_secs_f64();
        wait_until("P6: all Synced at the new generation", o.timeout, || {
            watch.synced() >= n
        })
        .await?;
        row.p6_s = start.elapsed().as_secs_f64();
        row.p6_busy = busy_share(&jiffies, &core_jiffies());
        let mut cpu = delta(&cluster_cpu(), &cpu0);
        cpu.insert("controller".into(), cpu_seconds(ctl.pid()) - cpu_before);
        row.cpu_breakdown.push(("P6".into(), cpu));
        row.p6_cpu_s = cpu_seconds(ctl.pid()) - cpu_before;
        row.load.1 = load_average();
        row.p6_metric_ops = metric(&ctl.metrics().await?, "rsa_decryptions") - ops_before;
        let d = delta(&apiserver_requests(&client).await?, &before);
        row.p6_requests = d.values().sum::<f64>() - 1.0 - n as f64; // minus our PATCHes and GET
        row.breakdown
            .push(("P6 re-seal (incl. the bench's N PATCHes)".into(), d));
        // Same formula as P1: N×items ops; N Secret updates + N status writes (the re-seal PATCHes
        // themselves are the workload's, not the controller's).
        row.p6_limit_s = cpu_limit.max(write_limit);
        eprintln!(
            "[N={n}] P6 {:.2} s (writes issued in {writes_done:.2} s), metric ops {}, CPU {:.2} s, cores busy {} %",
            row.p6_s, row.p6_metric_ops, row.p6_cpu_s, row.p6_busy
        );
    }
    ctl.stop()?;

    // P3: the same objects plus the unrelated Secrets; the controller watches cluster-wide.
    settle().await;
    let (p3_s, rss, hwm) = p3(ns.name(), pinned, n, o, &[]).await?;
    (row.p3_s, row.p3_rss_mib, row.p3_hwm_mib) = (p3_s, rss, hwm);
    eprintln!(
        "[N={n}] P3 synced in {:.2} s, RSS {:.1} MiB (peak {:.1}) with {} unrelated Secrets in {unrelated_ns}",
        row.p3_s, row.p3_rss_mib, row.p3_hwm_mib, o.unrelated
    );
    // The same start again with other environments (`SSRS_BENCH_P3_ENV`: `;`-separated, each
    // space-separated `K=V`), e.g. another malloc through LD_PRELOAD or glibc tunables: an
    // allocator comparison on the same objects, without a rebuild.
    for variant in std::env::var("SSRS_BENCH_P3_ENV")
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        let env: Vec<(String, String)> = variant
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let (p3_s, rss, hwm) = p3(ns.name(), pinned, n, o, &env).await?;
        eprintln!(
            "[N={n}] P3 with {variant}: synced in {p3_s:.2} s, RSS {rss:.1} MiB (peak {hwm:.1})"
        );
        println!(
            "P3 variant | N={n} | {variant} | RSS {rss:.1} MiB | peak {hwm:.1} MiB | synced in {p3_s:.2} s"
        );
    }

    // Clean up before the next size (a cluster-wide controller would see these objects).
    delete_and_wait(ns, &client).await?;
    Ok(row)
}

/// Delete `ns` and wait (up to 5 minutes) until the namespace controller has removed it and its
/// objects: that work runs on the control plane's core and must not overlap a timed phase.
async fn delete_and_wait(ns: TestNamespace, client: &kube::Client) -> Result<()> {
    let name = ns.name().to_string();
    // The Secrets first, and only then their owners: the garbage collector chases every owned
    // Secret of a deleted SealedSecret it still has in its graph (one GET each, about 20/s on
    // the pinned core: 10,000 of them outlast any wait), and has none left to chase once their
    // deletions reached it.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &name);
    secrets
        .delete_collection(&Default::default(), &Default::default())
        .await
        .with_context(|| format!("deleting the Secrets of {name}"))?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    ns.delete().await?;
    let nsapi: Api<Namespace> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(300);
    let t = Instant::now();
    while nsapi.get_opt(&name).await?.is_some() {
        if Instant::now() > deadline {
            eprintln!(
                "warning: namespace {name} still there after 5 minutes: its cleanup overlaps what follows"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "namespace {name} removed in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    // The garbage collector can still be working through the namespace's owned objects (a GET
    // each, 404 once the namespace controller got there first) long after the namespace is
    // gone: at 5,000 objects that trickle reached the next size's P1 and P6 and counted as the
    // controller's requests there (R 3.15–3.25). Wait until the API is quiet for them.
    let t = Instant::now();
    let mut before = gc_requests(client).await?;
    let mut trickled = 0.0;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = gc_requests(client).await?;
        let delta = now - before;
        trickled += delta;
        before = now;
        if delta < 5.0 || t.elapsed() > Duration::from_secs(300) {
            break;
        }
    }
    eprintln!(
        "garbage collection of {name} quiet after {:.0} s ({trickled:.0} more requests)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Requests that a namespace's cleanup makes on the kinds P1 and P6 count: reads and deletes of
/// Secrets, SealedSecrets and Events.
async fn gc_requests(client: &kube::Client) -> Result<f64> {
    Ok(apiserver_requests(client)
        .await?
        .iter()
        .filter(|(k, _)| {
            let mut words = k.split(' ');
            matches!(words.next(), Some("GET" | "DELETE"))
                && matches!(words.next(), Some("secrets" | "sealedsecrets" | "events"))
        })
        .map(|(_, v)| v)
        .sum())
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

/// P1 and P6 ratio target (issue 20: with the control plane and the controller on cores of
/// their own).
const RATIO_TARGET: f64 = 1.3;
/// API requests per object, P1 and P6.
const REQUESTS_TARGET: f64 = 3.05;

/// P3's RSS target: 40 MiB up to N = 1000 (next to 10,000 unrelated Secrets), 64 MiB above (the
/// issue states it at N = 10,000 next to 20,000).
fn p3_target(n: usize) -> f64 {
    if n <= 1000 { 40.0 } else { 64.0 }
}

/// K: `kubeseal --re-encrypt-dir` figures.
#[derive(Debug, Clone, Copy)]
struct KRow {
    files: usize,
    secs: f64,
    dec_ms: f64,
    enc_ms: f64,
    limit_s: f64,
    /// Cores K ran on (before the driver pinned itself to core 0).
    cores: usize,
}

fn print_tables(o: &Opts, rows: &[Row], k: Option<KRow>) {
    println!(
        "\n## Control-plane benchmarks ({} items per object, RSA-{}, {} cores, {} concurrent creators, {})\n",
        o.items,
        o.key_bits,
        cores(),
        CREATORS,
        if o.pin {
            "control plane + driver pinned to core 0, controller to core 1"
        } else {
            "not pinned"
        }
    );
    println!(
        "Limit = max(N×items RSA ops ÷ the controller's cores × one op, (N Secret writes + N status writes) ÷ measured write rate)\n"
    );
    println!(
        "| N | ctl cores | one RSA op ms (wall) | op CPU ms | write rate /s | limit s | P1 cold s | P1 ratio (≤{RATIO_TARGET}) | P1 ops (metric) | P1 ctl CPU s | P1 ctl CPU ÷ op CPU | P1 ctl CPU ms/object outside RSA | P1 cores busy % (0/1) | P1 peak RSS MiB | P2 warm s (≤3) | P2 RSA ops (=0) | P2 ctl CPU s | P2 peak RSS MiB | P6 s | P6 ratio (≤{RATIO_TARGET}) | P6 ops (metric) | P6 ctl CPU ÷ op CPU | P6 cores busy % (0/1) | P3 unrelated | P3 RSS MiB | P3 peak MiB | load avg P1 start / P6 end |"
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in rows {
        let p1 = r.p1_s / r.limit_s;
        let p6 = r.p6_s / r.p6_limit_s;
        let outside = (r.p1_cpu_s - r.p1_metric_ops * r.op_cpu_ms / 1e3) / r.n as f64 * 1e3;
        let p3t = p3_target(r.n);
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} {} | {:.0} | {:.2} | {:.0} | {:.2} | {} | {:.1} | {:.2} {} | {:.0} {} | {:.2} | {:.1} | {:.2} | {:.2} {} | {:.0} | {:.0} | {} | {} | {:.1} {} (≤{p3t}) | {:.1} | {:.1} / {:.1} |",
            r.n,
            r.ctl_cores,
            r.op_ms,
            r.op_cpu_ms,
            r.rates.secret,
            r.limit_s,
            r.p1_s,
            p1,
            pass(p1 <= RATIO_TARGET),
            r.p1_metric_ops,
            r.p1_cpu_s,
            r.p1_cpu_s / (r.op_cpu_ms / 1e3),
            outside,
            r.p1_busy,
            r.p1_hwm_mib,
            r.p2_s,
            pass(r.p2_s <= 3.0),
            r.p2_ops,
            pass(r.p2_ops == 0.0),
            r.p2_cpu_s,
            r.p2_hwm_mib,
            r.p6_s,
            p6,
            pass(p6 <= RATIO_TARGET),
            r.p6_metric_ops,
            r.p6_cpu_s / (r.op_cpu_ms / 1e3),
            r.p6_busy,
            o.unrelated,
            r.p3_rss_mib,
            pass(r.p3_rss_mib <= p3t),
            r.p3_hwm_mib,
            r.load.0,
            r.load.1,
        );
    }
    println!(
        "\n### P2 against its two lists alone (from the watch cache, on the controller's core)\n"
    );
    println!(
        "| N | SealedSecret list s | Secret metadata list s | both at once s | P2 s | P2 − both at once s |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let (ss, secrets, both) = r.p2_lists;
        println!(
            "| {} | {ss:.2} | {secrets:.2} | {both:.2} | {:.2} | {:.2} |",
            r.n,
            r.p2_s,
            r.p2_s - both
        );
    }
    println!(
        "\n### The write half measured per kind: every write of the phase at its own rate on the pinned apiserver\n"
    );
    println!(
        "P1 writes = N Secret creates + N status patches + N Events; P6 adds the workload's N re-seal patches (at the status-patch rate). Limit = max(RSA half, that sum).\n"
    );
    println!(
        "| N | Secret creates /s | status patches /s | Events /s | limit s (issue's formula) | limit s (every write) | P1 s | P1 ratio (every write, ≤{RATIO_TARGET}) | P6 limit s (every write) | P6 s | P6 ratio (every write, ≤{RATIO_TARGET}) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let p1 = r.p1_s / r.all_writes_limit_s;
        let p6 = r.p6_s / r.p6_all_writes_limit_s;
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} {} | {:.2} | {:.2} | {:.2} {} |",
            r.n,
            r.rates.secret,
            r.rates.status,
            r.rates.event,
            r.limit_s,
            r.all_writes_limit_s,
            r.p1_s,
            p1,
            pass(p1 <= RATIO_TARGET),
            r.p6_all_writes_limit_s,
            r.p6_s,
            p6,
            pass(p6 <= RATIO_TARGET),
        );
    }
    if rows.iter().any(|r| r.replay.p1_s > 0.0) {
        println!(
            "\n### The write half measured whole: the controller's writes replayed without decryption\n"
        );
        println!(
            "A stand-in on the controller's core makes the controller's writes for every object (P1: Secret create, status patch, Event; P6: the Secret's JSON patch instead of the create, after the workload's re-seal patches) with its two watches open and {CONTROLLER_CONCURRENCY} in flight, timed by the same watch. Limit = max(RSA half, that time).\n"
        );
        println!(
            "| N | RSA half s | replay P1 s | replay P1 cores busy % | limit s | P1 s | P1 ratio (≤{RATIO_TARGET}) | replay P6 s | replay P6 cores busy % | P6 limit s | P6 s | P6 ratio (≤{RATIO_TARGET}) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in rows.iter().filter(|r| r.replay.p1_s > 0.0) {
            let (l1, l6) = (
                r.cpu_limit_s.max(r.replay.p1_s),
                r.cpu_limit_s.max(r.replay.p6_s),
            );
            let (p1, p6) = (r.p1_s / l1, r.p6_s / l6);
            println!(
                "| {} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.2} {} | {:.2} | {} | {:.2} | {:.2} | {:.2} {} |",
                r.n,
                r.cpu_limit_s,
                r.replay.p1_s,
                r.replay.p1_busy,
                l1,
                r.p1_s,
                p1,
                pass(p1 <= RATIO_TARGET),
                r.replay.p6_s,
                r.replay.p6_busy,
                l6,
                r.p6_s,
                p6,
                pass(p6 <= RATIO_TARGET),
            );
        }
    }
    println!(
        "\n### R: API requests per object (apiserver_request_total delta ÷ N; bench's own requests excluded)\n"
    );
    println!("| N | P1 cold (≤{REQUESTS_TARGET}) | P2 warm | P6 re-seal (≤{REQUESTS_TARGET}) |");
    println!("|---|---|---|---|");
    for r in rows {
        let n = r.n as f64;
        println!(
            "| {} | {:.2} {} | {:.3} | {:.2} {} |",
            r.n,
            r.p1_requests / n,
            pass(r.p1_requests / n <= REQUESTS_TARGET),
            r.p2_requests / n,
            r.p6_requests / n,
            pass(r.p6_requests / n <= REQUESTS_TARGET),
        );
    }
    if let Some(k) = k {
        println!(
            "\n### K: `kubeseal --re-encrypt-dir` offline, {} files × {} items, all {} cores\n",
            k.files, o.items, k.cores
        );
        println!("Limit = files × items × (one RSA private op + one item seal) ÷ cores\n");
        println!(
            "| files | decrypt op ms | seal op ms | limit s | K s | ratio (≤{RATIO_TARGET}) |"
        );
        println!("|---|---|---|---|---|---|");
        let ratio = k.secs / k.limit_s;
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} {} |",
            k.files,
            k.dec_ms,
            k.enc_ms,
            k.limit_s,
            k.secs,
            ratio,
            pass(ratio <= RATIO_TARGET)
        );
    }
    for r in rows {
        println!("\n#### N = {}: requests by verb and resource\n", r.n);
        for (phase, d) in r.breakdown.iter().chain(&r.replay.requests) {
            println!("- {phase}: {}", fmt_breakdown(d));
        }
        println!(
            "\n#### N = {}: CPU seconds by process (cluster on core 0, controller on core 1)\n",
            r.n
        );
        for (phase, d) in r.cpu_breakdown.iter().chain(&r.replay.cpu) {
            let rounded: BTreeMap<String, f64> = d
                .iter()
                .map(|(k, v)| (k.clone(), (v * 100.0).round() / 100.0))
                .collect();
            println!("- {phase}: {}", fmt_breakdown(&rounded));
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let o = parse_opts()?;
    let t = Instant::now();
    let keys: Vec<PrivateKey> = tokio::task::spawn_blocking({
        let bits = o.key_bits;
        move || {
            (0..4)
                .map(|_| PrivateKey::generate(&mut rand::rng(), bits))
                .collect::<Result<Vec<_>, _>>()
        }
    })
    .await??;
    let keys: [PrivateKey; 4] = keys.try_into().map_err(|_| anyhow::anyhow!("4 keys"))?;
    eprintln!("generated 4 RSA-{} keys in {:?}", o.key_bits, t.elapsed());

    // K first, before the control plane exists (offline, every core).
    let k = if o.reencrypt_files > 0 {
        let (files, items) = (o.reencrypt_files, o.items);
        let (from, to) = (
            PrivateKey::from_pem(keys[0].to_pkcs1_pem()?.as_bytes())?,
            PrivateKey::from_pem(keys[1].to_pkcs1_pem()?.as_bytes())?,
        );
        let (secs, dec, enc, limit_s) =
            tokio::task::spawn_blocking(move || reencrypt_dir_bench(files, items, &from, &to))
                .await??;
        eprintln!(
            "K: re-encrypt-dir {files} files in {secs:.2} s (limit {limit_s:.2} s: decrypt {:.2} ms, seal {:.2} ms)",
            dec.as_secs_f64() * 1e3,
            enc.as_secs_f64() * 1e3
        );
        Some(KRow {
            files,
            secs,
            dec_ms: dec.as_secs_f64() * 1e3,
            enc_ms: enc.as_secs_f64() * 1e3,
            limit_s,
            cores: cores(),
        })
    } else {
        None
    };

    let c = cluster();
    eprintln!("cluster {} (owned: {})", c.apiserver, c.owned);
    if o.pin {
        let pinned = pin_control_plane()?;
        eprintln!(
            "pinned to core 0: {} and this driver; the controller runs on core 1",
            pinned.join(", ")
        );
    }
    let client = sealed_secrets_tests::admin_client().await?;
    ensure_crd(&client).await?;

    let unrelated = TestNamespace::new("unrelated").await?;
    let t = Instant::now();
    let rate = create_secrets(&unrelated.api(), "u", o.unrelated, 1, 8192).await?;
    eprintln!(
        "created {} unrelated 8 KiB Secrets in {:?} ({rate:.0}/s)",
        o.unrelated,
        t.elapsed()
    );

    let mut rows = Vec::new();
    for &n in &o.sizes {
        match run_size(&o, n, &keys, unrelated.name()).await {
            Ok(r) => rows.push(r),
            Err(e) => {
                eprintln!("N={n} failed: {e:#}");
                print_tables(&o, &rows, k);
                return Err(e);
            }
        }
        print_tables(&o, &rows, k);
    }
    Ok(())
}
