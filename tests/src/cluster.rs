//! The control plane shared by every test in one test binary.
//!
//! * If `SSRS_CLUSTER_DIR` is set (by an outer `eval "$(tests/cluster/cluster.sh up)"`, as
//!   `tests/run.sh` does), that cluster is reused and its lifetime belongs to the outer script.
//! * Otherwise the first call to [`cluster()`] runs `cluster.sh up` with a fresh state directory and
//!   starts a watchdog (`setsid bash -c 'read; cluster.sh down'`) whose stdin is a pipe held by this
//!   process. When the test process ends — normally, by panic, by signal or SIGKILL — the kernel closes
//!   that pipe, the watchdog reads EOF and tears the cluster down. No `Drop` of a static is needed.
//!
//! When no cluster can be had, [`cluster()`] panics: tests that need it fail, they are never skipped.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context as _, Result, bail};

/// Path of `tests/cluster/cluster.sh`.
pub fn cluster_script() -> PathBuf {
    // SSRS_REPO: the checkout to use when this code runs outside `cargo test` (the demo).
    match std::env::var_os("SSRS_REPO") {
        Some(repo) => PathBuf::from(repo).join("tests/cluster/cluster.sh"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/cluster.sh"),
    }
}

/// A running control plane (see `tests/cluster/cluster.sh`).
#[derive(Debug)]
pub struct Cluster {
    /// State directory (`SSRS_CLUSTER_DIR`).
    pub dir: PathBuf,
    /// Admin kubeconfig (token in group `system:masters`).
    pub kubeconfig: PathBuf,
    /// CA bundle that verifies the apiserver's serving certificate.
    pub ca_file: PathBuf,
    /// Name of the network namespace acting as the pod network.
    pub netns: String,
    /// Host side of the veth pair; the apiserver listens here.
    pub host_ip: String,
    /// Address inside the netns; processes started with [`crate::Spawn::in_pod_network`] listen here.
    pub pod_ip: String,
    /// `https://<host_ip>:<port>`.
    pub apiserver: String,
    /// Bearer token of the admin user.
    pub admin_token: String,
    /// Whether this process started the cluster (and its watchdog will stop it).
    pub owned: bool,
    /// The node (kubelet, kube-proxy, containerd), unless the cluster was started with `SSRS_NODE=0`.
    pub node: Option<Node>,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

/// The cluster's node (see docs/testing.md, "The node").
#[derive(Debug, Clone)]
pub struct Node {
    /// The Node object's name (`ssrs-node-<id>`).
    pub name: String,
    /// The node's network namespace (kubelet, kube-proxy, containerd, the Pods' bridge).
    pub netns: String,
    /// The node's InternalIP.
    pub ip: String,
    /// The node's pod CIDR (Pod IPs, reachable from the host).
    pub pod_cidr: String,
    /// containerd's socket (`ctr -a <sock> -n k8s.io ...`).
    pub containerd_sock: PathBuf,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The shared cluster, started on first use. Panics (failing the test) when none can be had.
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(|| acquire().map_err(|e| format!("{e:#}"))) {
        Ok(c) => c,
        Err(e) => panic!("no Kubernetes control plane for the tests: {e}"),
    }
}

fn acquire() -> Result<Cluster> {
    match std::env::var_os("SSRS_CLUSTER_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            Cluster::load(&dir, false).with_context(|| {
                format!(
                    "SSRS_CLUSTER_DIR={} is set but holds no running cluster \
                     (run: eval \"$(tests/cluster/cluster.sh up)\", or unset it)",
                    dir.display()
                )
            })
        }
        _ => start_own(),
    }
}

fn start_own() -> Result<Cluster> {
    let dir = std::env::temp_dir().join(format!(
        "ssrs-cluster.rs-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    let script = cluster_script();
    eprintln!(
        "sealed-secrets-tests: starting a private control plane in {} (cluster.sh up)",
        dir.display()
    );

    // The watchdog first, so the cluster is torn down even if `up` is interrupted half-way.
    let mut child = Command::new("setsid")
        .arg("bash")
        .arg("-c")
        .arg(r#"read -r _ || true; exec bash "$0" down"#)
        .arg(&script)
        .env("SSRS_CLUSTER_DIR", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning the cluster watchdog (setsid bash)")?;
    let stdin = child.stdin.take().context("watchdog has no stdin pipe")?;
    let watchdog = (child, stdin);

    let out = Command::new("bash")
        .arg(&script)
        .arg("up")
        .env("SSRS_CLUSTER_DIR", &dir)
        .stdin(Stdio::null())
        .output()
        .context("running tests/cluster/cluster.sh up")?;
    if !out.status.success() {
        bail!(
            "tests/cluster/cluster.sh up failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cluster = Cluster::load(&dir, true)?;
    *cluster.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(watchdog);
    Ok(cluster)
}

impl Cluster {
    fn load(dir: &Path, owned: bool) -> Result<Cluster> {
        let state_path = dir.join("state");
        let text = std::fs::read_to_string(&state_path)
            .with_context(|| format!("reading {}", state_path.display()))?;
        let state: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| -> Result<String> {
            state
                .get(k)
                .map(|v| v.to_string())
                .with_context(|| format!("{} has no {k}", state_path.display()))
        };
        let kubeconfig = dir.join("admin.kubeconfig");
        if !kubeconfig.is_file() {
            bail!("{} missing (cluster not fully up)", kubeconfig.display());
        }
        let host_ip = get("HOST_IP")?;
        let node = if state.get("NODE").copied() == Some("1") {
            Some(Node {
                name: get("NODE_NAME")?,
                netns: get("NODE_NETNS")?,
                ip: get("NODE_IP")?,
                pod_cidr: get("POD_CIDR")?,
                containerd_sock: dir.join("node/containerd.sock"),
            })
        } else {
            None
        };
        Ok(Cluster {
            dir: dir.to_path_buf(),
            ca_file: dir.join("certs/apiserver.crt"),
            netns: get("NETNS")?,
            apiserver: format!("https://{host_ip}:{}", get("APISERVER_PORT")?),
            host_ip,
            pod_ip: get("POD_IP")?,
            admin_token: get("ADMIN_TOKEN")?,
            kubeconfig,
            owned,
            node,
            watchdog: Mutex::new(None),
        })
    }

    /// Imports image archives (OCI layout or docker-archive tars, e.g. `tests/image/build.sh
    /// images`' `controller.tar`) into the node's containerd, where the kubelet finds them
    /// (`cluster.sh image-import`). Errors if the cluster has no node.
    pub fn import_images(&self, archives: &[&Path]) -> Result<()> {
        if self.node.is_none() {
            bail!(
                "the cluster in {} has no node (SSRS_NODE=0)",
                self.dir.display()
            );
        }
        let out = Command::new("bash")
            .arg(cluster_script())
            .arg("image-import")
            .args(archives)
            .env("SSRS_CLUSTER_DIR", &self.dir)
            .stdin(Stdio::null())
            .output()
            .context("running tests/cluster/cluster.sh image-import")?;
        if !out.status.success() {
            bail!(
                "cluster.sh image-import failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Stops a cluster this process started, now (otherwise that happens when the process exits).
    pub fn shutdown_now(&self) -> Result<()> {
        if let Some((mut child, mut stdin)) = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = stdin.write_all(b"\n");
            drop(stdin);
            child.wait().context("waiting for the cluster watchdog")?;
        }
        Ok(())
    }
}
