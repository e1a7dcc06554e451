//! Fault injection on a running control plane: stop, SIGKILL and start again one component
//! (`tests/cluster/cluster.sh stop|kill|start`), with the same ports, data and certificates, so
//! clients reconnect to the same cluster.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use sealed_secrets_tests::cluster;
//! use sealed_secrets_tests::faults::{Component, FaultGuard};
//! let guard = FaultGuard::acquire().await;          // one fault at a time; heals the cluster on drop
//! cluster().stop_component(Component::Apiserver).await?;
//! // … the controller sees connection refused …
//! cluster().start_component(Component::Apiserver).await?; // waits until /readyz is ok
//! drop(guard);
//! # Ok(()) }
//! ```
//!
//! A stopped apiserver or etcd breaks every other user of the cluster: tests that inject faults
//! must hold a [`FaultGuard`] (it serialises them within the test process) and must not share the
//! cluster with other test processes while they run (see `tests/tests/faults.rs`).

use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use tokio::sync::{Mutex, MutexGuard};

use crate::{Cluster, cluster, cluster_script};

/// A control-plane component that can be stopped and started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// etcd (the apiserver keeps running and answers with errors or not at all).
    Etcd,
    /// kube-apiserver (clients get "connection refused").
    Apiserver,
    /// kube-controller-manager (garbage collector, namespace deletion, service accounts).
    ControllerManager,
}

impl Component {
    /// The name `cluster.sh` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::Apiserver => "apiserver",
            Component::ControllerManager => "kcm",
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

async fn cluster_sh(c: &Cluster, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new("bash")
        .arg(cluster_script())
        .args(args)
        .env("SSRS_CLUSTER_DIR", &c.dir)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running cluster.sh {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "cluster.sh {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Cluster {
    /// Stops `component` (SIGTERM, SIGKILL after 5 s) and returns once it has exited.
    pub async fn stop_component(&self, component: Component) -> Result<()> {
        cluster_sh(self, &["stop", component.as_str()]).await
    }

    /// SIGKILLs `component` (a crash: no graceful shutdown) and returns once it has exited.
    pub async fn kill_component(&self, component: Component) -> Result<()> {
        cluster_sh(self, &["kill", component.as_str()]).await
    }

    /// Starts a stopped `component` again (same flags, ports and data) and waits until the
    /// cluster is ready for clients (etcd health, apiserver `/readyz`, controller-manager
    /// `/healthz`). A no-op for a running component.
    pub async fn start_component(&self, component: Component) -> Result<()> {
        cluster_sh(self, &["start", component.as_str()]).await
    }

    /// Starts whatever is stopped and waits until everything is ready.
    pub async fn start_all(&self) -> Result<()> {
        cluster_sh(self, &["start", "all"]).await
    }
}

impl Cluster {
    /// Cuts the pod network off the apiserver: a `blackhole` route to the host address inside the
    /// pod netns. Packets from processes started with [`crate::Spawn::in_pod_network`] to the
    /// apiserver are dropped; established connections get no reset and hang (TCP retransmits), new
    /// connections fail. The host side (other clients, the apiserver itself) is unaffected.
    pub async fn cut_pod_network(&self) -> Result<()> {
        ip_route(self, "add").await
    }

    /// Removes the route [`Self::cut_pod_network`] added (no error if there is none).
    pub async fn restore_pod_network(&self) -> Result<()> {
        match ip_route(self, "del").await {
            Err(e) if format!("{e:#}").contains("No such process") => Ok(()),
            r => r,
        }
    }
}

async fn ip_route(c: &Cluster, op: &str) -> Result<()> {
    let dst = format!("{}/32", c.host_ip);
    let out = tokio::process::Command::new("ip")
        .args(["-n", &c.netns, "route", op, "blackhole", &dst])
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("ip -n {} route {op} blackhole {dst}", c.netns))?;
    if !out.status.success() {
        bail!(
            "ip -n {} route {op} blackhole {dst} failed: {}",
            c.netns,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

static FAULTS: Mutex<()> = Mutex::const_new(());

/// Held by a test while it injects faults: at most one such test runs at a time in this process,
/// and when it ends — passing, failing or panicking — the pod network is restored, every stopped
/// component is started again and the cluster is ready before the next test gets the guard.
pub struct FaultGuard {
    _lock: MutexGuard<'static, ()>,
    since: std::time::Instant,
}

impl FaultGuard {
    /// Waits for the other fault tests of this process to finish, then checks the cluster is
    /// whole (a previous run may have been killed half-way).
    pub async fn acquire() -> FaultGuard {
        let lock = FAULTS.lock().await;
        if let Err(e) = cluster().start_all().await {
            panic!("the control plane is not healthy before a fault test: {e:#}");
        }
        FaultGuard {
            _lock: lock,
            since: std::time::Instant::now(),
        }
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        // Drop cannot await (and the test's runtime may be going away): plain blocking calls,
        // before the lock is released to the next test.
        let c = cluster();
        let _ = std::process::Command::new("ip")
            .args(["-n", &c.netns, "route", "del", "blackhole"])
            .arg(format!("{}/32", c.host_ip))
            .stderr(Stdio::null())
            .status();
        let out = std::process::Command::new("bash")
            .arg(cluster_script())
            .args(["start", "all"])
            .env("SSRS_CLUSTER_DIR", &cluster().dir)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "warning: restoring the control plane after a fault test failed ({}):\n{}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("warning: restoring the control plane: {e}"),
        }
        // libtest names the thread after the test: one timing line per fault test.
        eprintln!(
            "  {}: {:.1?} holding the fault lock",
            std::thread::current().name().unwrap_or("fault test"),
            self.since.elapsed()
        );
    }
}
