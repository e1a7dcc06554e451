//! What every part of the running controller shares, built once in [`crate::run`]: the client,
//! the configuration, the key registry, metrics, the event recorder, readiness, and the
//! per-object memo and unsealer that reconciles use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::config::Config;
use crate::events::Recorder;
use crate::keys::Registry;
use crate::metrics::Metrics;
use crate::reconcile::{ObjectMemo, StatusMethod, Unsealer};

/// The shared state of one controller process.
pub struct Context {
    /// The API client (one connection pool for everything).
    pub client: kube::Client,
    /// Flags and environment, parsed.
    pub config: Arc<Config>,
    /// Where this process runs and who it is.
    pub identity: Identity,
    /// The live sealing keys.
    pub keys: Arc<Registry>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Kubernetes Events.
    pub recorder: Recorder,
    /// What `/readyz` answers.
    pub readiness: Arc<Readiness>,
    /// Per-SealedSecret state kept between reconciles.
    pub memo: ObjectMemo,
    /// Where decryptions run, and which keys to try first.
    pub unsealer: Unsealer,
    /// Merge patch or update for status writes (RBAC decides).
    pub status_method: StatusMethod,
}

impl Context {
    /// Everything a run needs, from a client, the configuration and the process identity.
    pub fn new(client: kube::Client, config: Config, identity: Identity) -> Self {
        let leader_elect = config.leader_elect;
        Self {
            recorder: Recorder::new(client.clone(), identity.pod_name.clone()),
            client,
            config: Arc::new(config),
            identity,
            keys: Arc::new(Registry::default()),
            metrics: Arc::new(Metrics::new(crate::VERSION)),
            readiness: Arc::new(Readiness::new(leader_elect)),
            memo: ObjectMemo::default(),
            unsealer: Unsealer::default(),
            status_method: StatusMethod::default(),
        }
    }

    /// The key Secrets' API: the controller's own namespace.
    pub fn key_api(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.identity.namespace)
    }
}

/// Readiness of this replica: keys loaded (read from the registry) and either the caches synced
/// or the replica a follower, which serves cert, verify and rotate from its keys without
/// reconciling.
#[derive(Debug, Default)]
pub struct Readiness {
    caches_synced: AtomicBool,
    follower: AtomicBool,
}

impl Readiness {
    /// A replica that starts as a follower when it campaigns for a lease.
    pub fn new(follower: bool) -> Self {
        Self {
            caches_synced: AtomicBool::new(false),
            follower: AtomicBool::new(follower),
        }
    }

    /// Every watched namespace's SealedSecret and Secret caches have listed once.
    pub fn set_caches_synced(&self) {
        self.caches_synced.store(true, Ordering::SeqCst);
    }

    /// This replica lost or holds the lease.
    pub fn set_follower(&self, follower: bool) {
        self.follower.store(follower, Ordering::SeqCst);
    }

    /// Ready apart from the keys: synced, or a follower.
    pub fn is_ready(&self) -> bool {
        self.caches_synced.load(Ordering::SeqCst) || self.follower.load(Ordering::SeqCst)
    }
}

/// The environment the controller reads about itself, in one place.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The controller's namespace: `POD_NAMESPACE`, else the service-account namespace file,
    /// else `default`.
    pub namespace: String,
    /// `POD_NAME` (the chart sets it from the downward API): the Event reporter instance.
    pub pod_name: Option<String>,
    /// The leader-election identity: `POD_NAME`, else `<hostname>-<pid>`.
    pub holder: String,
}

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl Identity {
    /// Read from the environment and the filesystem.
    pub fn from_env() -> Self {
        let non_empty = |v: String| {
            let v = v.trim().to_owned();
            (!v.is_empty()).then_some(v)
        };
        let namespace = std::env::var("POD_NAMESPACE")
            .ok()
            .filter(|ns| !ns.is_empty())
            .or_else(|| {
                std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                    .ok()
                    .and_then(non_empty)
            })
            .unwrap_or_else(|| "default".to_owned());
        let pod_name = std::env::var("POD_NAME").ok();
        let holder = pod_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .and_then(non_empty)
                .unwrap_or_else(|| "controller".into());
            format!("{host}-{}", std::process::id())
        });
        Self {
            namespace,
            pod_name,
            holder,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn readiness_is_synced_caches_or_following() {
        let r = Readiness::new(false);
        assert!(!r.is_ready());
        r.set_caches_synced();
        assert!(r.is_ready());
        let f = Readiness::new(true);
        assert!(f.is_ready(), "a follower is ready without caches");
        f.set_follower(false);
        assert!(!f.is_ready(), "a new leader waits for its caches");
    }
}
