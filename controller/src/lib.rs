//! The Sealed Secrets controller: unseals SealedSecrets into Secrets.
//!
//! `main` wires configuration, logging and shutdown; [`run`] starts the key watcher, the HTTP
//! and metrics servers, leader election, key renewal and one kube-runtime controller per
//! watched namespace, all stopped by one shutdown signal.
#![forbid(unsafe_code)]
// No panics on data paths (SealedSecrets, key Secrets and HTTP bodies come from users): tests may
// unwrap. `string_slice` catches `&s[a..b]` on a `str`, which `indexing_slicing` does not.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod config;
pub mod events;
pub mod http;
pub mod keys;
pub mod leader;
pub mod metrics;
pub mod ratelimit;
pub mod reconcile;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use common::crd::SealedSecret;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::config::Config;
use crate::keys::{KeyWatcher, Registry};
use crate::metrics::Metrics;
use crate::reconcile::{Ctx, Shared};

/// The version printed by `--version` and exported as `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The controller's own namespace: `POD_NAMESPACE`, else the service-account namespace file,
/// else `default`.
pub fn my_namespace() -> String {
    if let Ok(ns) = std::env::var("POD_NAMESPACE")
        && !ns.is_empty()
    {
        return ns;
    }
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// A client from `--kubeconfig`, `KUBECONFIG`/`~/.kube/config`, or the in-cluster config.
pub async fn client(config: &Config) -> anyhow::Result<kube::Client> {
    let kc = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig and not in a cluster")?,
    };
    Ok(kube::Client::try_from(kc)?)
}

/// `":8080"` (Go style) → `0.0.0.0:8080`.
pub fn listen_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}

async fn serve(
    name: &'static str,
    addr: String,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(server = name, addr = %bound, "server listening");
    // Connection info lets the rate limiter key direct callers by peer address.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|v| *v).await;
        })
        .await?;
    Ok(())
}

/// Run the controller until `shutdown` turns true.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let client = client(&config).await?;
    let own_ns = my_namespace();
    let registry = Arc::new(Registry::default());
    let metrics = Arc::new(Metrics::new(VERSION));
    let recorder = events::Recorder::new(client.clone());
    let caches_synced = Arc::new(AtomicBool::new(false));
    let follower = Arc::new(AtomicBool::new(config.leader_elect));
    let key_api: Api<Secret> = Api::namespaced(client.clone(), &own_ns);
    tracing::info!(namespace = %own_ns, version = VERSION, "starting sealed-secrets controller");

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(
        KeyWatcher {
            api: key_api.clone(),
            registry: registry.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            recorder: recorder.clone(),
        }
        .run()
        .map(|()| Ok(())),
    );
    let state = http::AppState::new(
        registry.clone(),
        metrics.clone(),
        caches_synced.clone(),
        follower.clone(),
        http::HttpOptions::from_config(&config),
    );
    tasks.spawn(serve(
        "http",
        listen_addr(&config.listen_addr),
        http::router(state.clone()),
        shutdown.clone(),
    ));
    tasks.spawn(serve(
        "metrics",
        listen_addr(&config.listen_metrics_addr),
        http::metrics_router(state),
        shutdown.clone(),
    ));

    let work = leader_then_work(
        client.clone(),
        config.clone(),
        own_ns.clone(),
        registry.clone(),
        metrics.clone(),
        recorder.clone(),
        key_api,
        caches_synced,
        follower,
        shutdown.clone(),
    );
    let mut stop = shutdown.clone();
    tokio::select! {
        r = work => r?,
        _ = stop.wait_for(|v| *v) => {}
        Some(r) = tasks.join_next() => {
            r??;
            if !*shutdown.borrow() {
                anyhow::bail!("a controller task stopped unexpectedly");
            }
        }
    }
    // Let the servers finish in-flight requests.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(r) = tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!(error = %e, "task ended with an error");
            }
        }
    })
    .await;
    tracing::info!("controller stopped");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn leader_then_work(
    client: kube::Client,
    config: Arc<Config>,
    own_ns: String,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    recorder: events::Recorder,
    key_api: Api<Secret>,
    caches_synced: Arc<AtomicBool>,
    follower: Arc<AtomicBool>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let elector = config.leader_elect.then(|| {
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
            format!(
                "{}-{}",
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_else(|_| "controller".into()),
                std::process::id()
            )
        });
        leader::LeaderElector::new(
            client.clone(),
            &own_ns,
            &config.leader_election_name,
            identity,
        )
    });
    // With leader election, losing the lease (another replica took it, or the apiserver was
    // unreachable for longer than the lease) stops reconciling and key renewal, and the replica
    // campaigns again: an apiserver outage does not end the process.
    loop {
        if let Some(e) = &elector {
            tracing::info!(
                identity = e.identity(),
                "leader election: waiting for the lease"
            );
            e.acquire().await;
            follower.store(false, Ordering::Relaxed);
        }
        registry.wait_loaded().await;
        if keys::needs_initial_key(&config, &registry.snapshot()) {
            let name = keys::create_key(&key_api, &config, &registry, &own_ns).await?;
            tracing::info!(secret = %name, "generated the first (or a post-cutoff) sealing key");
        }
        let newest = registry.snapshot().newest().map(|k| k.cert.to_pem());
        if let Some(pem) = newest {
            tracing::info!(certificate = %pem, "active sealing certificate");
        }

        let renewal = renew_keys(
            config.clone(),
            registry.clone(),
            key_api.clone(),
            own_ns.clone(),
        );
        let controllers = run_controllers(
            client.clone(),
            config.clone(),
            own_ns.clone(),
            registry.clone(),
            metrics.clone(),
            recorder.clone(),
            caches_synced.clone(),
            shutdown.clone(),
        );
        match &elector {
            Some(e) => {
                tokio::select! {
                    r = controllers => return r,
                    r = renewal => return r,
                    () = e.hold() => {
                        follower.store(true, Ordering::Relaxed);
                        tracing::warn!("leader election: lost the lease; stopped reconciling until it is ours again");
                    }
                }
            }
            None => {
                return tokio::select! {
                    r = controllers => r,
                    r = renewal => r,
                };
            }
        }
    }
}

/// Generate keys every `--key-renew-period` and on SIGUSR1.
async fn renew_keys(
    config: Arc<Config>,
    registry: Arc<Registry>,
    api: Api<Secret>,
    ns: String,
) -> anyhow::Result<()> {
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    loop {
        let wait = keys::next_renewal(&config, &registry.snapshot(), SystemTime::now());
        let timer = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => futures::future::pending().await,
            }
        };
        tokio::select! {
            () = timer => tracing::info!("key renewal period elapsed"),
            _ = usr1.recv() => tracing::info!("SIGUSR1: generating a new key"),
        }
        if let Err(e) = keys::create_key(&api, &config, &registry, &ns).await {
            tracing::error!(error = %e, "Failed to generate new key");
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_controllers(
    client: kube::Client,
    config: Arc<Config>,
    own_ns: String,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    recorder: events::Recorder,
    caches_synced: Arc<AtomicBool>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        client: client.clone(),
        config: config.clone(),
        registry: registry.clone(),
        metrics,
        recorder,
        retries: Default::default(),
        applied: Default::default(),
        unseal_pool: Default::default(),
    });
    let namespaces: Vec<Option<String>> = match config.watched_namespaces(&own_ns) {
        None => vec![None],
        Some(list) => {
            let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
            let mut out = Vec::new();
            for ns in list {
                match ns_api.get_opt(&ns).await? {
                    Some(_) => out.push(Some(ns)),
                    None => tracing::warn!(namespace = %ns, "namespace not found; not watching it"),
                }
            }
            out
        }
    };
    let mut set = tokio::task::JoinSet::new();
    let pending = Arc::new(std::sync::atomic::AtomicUsize::new(namespaces.len()));
    for ns in namespaces {
        let fut = one_controller(
            client.clone(),
            shared.clone(),
            ns,
            caches_synced.clone(),
            pending.clone(),
            shutdown.clone(),
        );
        set.spawn(fut);
    }
    while let Some(r) = set.join_next().await {
        r?;
    }
    Ok(())
}

async fn one_controller(
    client: kube::Client,
    shared: Arc<Shared>,
    namespace: Option<String>,
    caches_synced: Arc<AtomicBool>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = shared.config.clone();
    let (ss_api, secret_api): (Api<SealedSecret>, Api<kube::api::PartialObjectMeta<Secret>>) =
        match &namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
    let mut wc = watcher::Config::default();
    if let Some(sel) = &config.label_selector {
        wc = wc.labels(sel);
    }

    // SealedSecrets: our own reflector so deletions can clean up metrics (and old GC behaviour).
    let (ss_reader, ss_writer) = reflector::store::<SealedSecret>();
    let cleanup_shared = shared.clone();
    let ss_stream = watcher(ss_api.clone(), wc.clone())
        .backoff(WatchBackoff::default())
        .modify(|ss| {
            // Nothing reads them, and they are most of a cached object: managedFields (a JSON
            // tree per field manager) and kubectl's copy of the whole object.
            ss.metadata.managed_fields = None;
            if let Some(a) = ss.metadata.annotations.as_mut() {
                for k in common::annotations::LAST_APPLIED_ANNOTATIONS {
                    a.remove(k);
                }
            }
        })
        .reflect(ss_writer)
        .inspect(move |ev| {
            if let Ok(watcher::Event::Delete(ss)) = ev {
                on_sealed_secret_deleted(&cleanup_shared, ss);
            }
        })
        .applied_objects();

    let mut controller = Controller::for_stream(ss_stream, ss_reader.clone());
    let secrets_store = if config.skip_recreate {
        None
    } else {
        let (reader, writer) = reflector::store::<kube::api::PartialObjectMeta<Secret>>();
        let stream = watcher(secret_api, wc)
            .backoff(WatchBackoff::default())
            .modify(|m| {
                // Keep only what reconcile reads: name, namespace, version, SealedSecret owners
                // and our annotations. Most Secrets of a cluster are not ours: each entry should
                // cost a few short strings.
                let meta = &mut m.metadata;
                m.types = None;
                meta.managed_fields = None;
                meta.labels = None;
                meta.uid = None;
                meta.creation_timestamp = None;
                meta.generate_name = None;
                meta.finalizers = None;
                meta.self_link = None;
                if let Some(a) = meta.annotations.as_mut() {
                    a.retain(|k, _| k.starts_with(common::annotations::PREFIX));
                }
                if meta.annotations.as_ref().is_some_and(|a| a.is_empty()) {
                    meta.annotations = None;
                }
                if let Some(owners) = meta.owner_references.as_mut() {
                    owners.retain(|o| o.controller == Some(true) && o.kind == "SealedSecret");
                }
                if meta.owner_references.as_ref().is_some_and(|o| o.is_empty()) {
                    meta.owner_references = None;
                }
            })
            .reflect(writer)
            .touched_objects();
        controller = controller.watches_stream(stream, secret_owner);
        Some(reader)
    };

    // Key changes (a restored backup, a new key) retry everything that is not in sync.
    let retry_shared = shared.clone();
    let key_changes =
        futures::stream::unfold(shared.registry.subscribe_changes(), move |mut rx| {
            let s = retry_shared.clone();
            async move {
                rx.changed().await.ok()?;
                if let Ok(mut r) = s.retries.lock() {
                    r.clear();
                }
                Some(((), rx))
            }
        });
    controller = controller.reconcile_all_on(key_changes);

    let ctx = Arc::new(Ctx {
        shared: shared.clone(),
        secrets: secrets_store.clone(),
    });
    let synced_flag = caches_synced.clone();
    let ready_reader = ss_reader.clone();
    tokio::spawn(async move {
        let _ = ready_reader.wait_until_ready().await;
        if let Some(s) = secrets_store {
            let _ = s.wait_until_ready().await;
        }
        if pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            synced_flag.store(true, Ordering::Relaxed);
            tracing::info!("caches synced");
        }
    });
    controller
        .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency))
        // kube's default here (30 s cap) holds back every trigger after one watch error.
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(async move {
            let _ = shutdown.wait_for(|v| *v).await;
        })
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile failed");
            }
        })
        .await;
}

/// Reconnect backoff of the SealedSecret and Secret watches and of the controller's merged
/// trigger stream: 500 ms doubling to 5 s, reset by any event. kube's default climbs to 30 s, a
/// restarted apiserver answers the first re-watch with 410 Expired, and the trigger backoff then
/// stalls every trigger (not just the failed watch): objects created after a 30 s outage waited
/// 20–80 s (tests/tests/faults.rs). This costs one list/watch attempt per 5 s per watch while the
/// apiserver is away.
struct WatchBackoff(Duration);

impl WatchBackoff {
    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self(Self::MIN)
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.0;
        self.0 = (wait * 2).min(Self::MAX);
        Some(wait)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.0 = Self::MIN;
    }
}

/// Map a Secret to the SealedSecret that should reconcile it: its controller owner, or the
/// same-named SealedSecret when the Secret is marked managed.
fn secret_owner(secret: kube::api::PartialObjectMeta<Secret>) -> Option<ObjectRef<SealedSecret>> {
    let ns = secret.metadata.namespace.as_deref()?;
    if let Some(owner) = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "SealedSecret")
    {
        return Some(ObjectRef::new(&owner.name).within(ns));
    }
    if common::annotations::annotation_is_true(
        secret.metadata.annotations.as_ref(),
        common::annotations::MANAGED_ANNOTATION,
    ) {
        return Some(ObjectRef::new(secret.metadata.name.as_deref()?).within(ns));
    }
    None
}

fn on_sealed_secret_deleted(shared: &Arc<Shared>, ss: &SealedSecret) {
    let ns = ss.metadata.namespace.clone().unwrap_or_default();
    let name = ss.metadata.name.clone().unwrap_or_default();
    shared.metrics.unregister_condition(&ns, &name);
    shared.metrics.unseal_requests.inc();
    if let Ok(mut r) = shared.retries.lock() {
        r.remove(&(ns.clone(), name.clone()));
    }
    if let Ok(mut m) = shared.applied.lock() {
        m.remove(&(ns.clone(), name.clone()));
    }
    shared.unseal_pool.forget(&(ns.clone(), name.clone()));
    if shared.config.old_gc_behavior {
        let api: Api<Secret> = Api::namespaced(shared.client.clone(), &ns);
        tokio::spawn(async move {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(namespace = %ns, name = %name, "deleted Secret (old GC behavior)")
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    tracing::warn!(namespace = %ns, name = %name, error = %e, "cannot delete Secret")
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff as _;

    #[test]
    fn watch_backoff_doubles_to_five_seconds_and_resets() {
        let mut b = WatchBackoff::default();
        let waits: Vec<u64> = b.by_ref().take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(500)));
    }
}
