//! One kube-runtime `Controller` per watched namespace (or one for all): the SealedSecret watch,
//! a trimmed Secret-metadata watch that maps a Secret back to its SealedSecret (and caches only
//! Secrets that may be ours), a retry of every object when the keys change, and the cleanup when
//! a SealedSecret is deleted. Both watches are [`list_watch`] streams: lists from the watch cache,
//! parsed and trimmed one item at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::crd::SealedSecret;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::context::Context;
use crate::list_watch;
use crate::reconcile::{self, Reconciler, SecretCache};

/// Run the controllers of every watched namespace until shutdown.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: watch::Receiver<bool>,
    keys_ready: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let namespaces: Vec<Option<String>> =
        match ctx.config.watched_namespaces(&ctx.identity.namespace) {
            None => vec![None],
            Some(list) => {
                let ns_api: Api<Namespace> = Api::all(ctx.client.clone());
                let mut out = Vec::new();
                for ns in list {
                    // The controller's own namespace exists (it runs there): no `namespaces get`
                    // for it, which upstream's RBAC grants only with additional namespaces.
                    if ns == ctx.identity.namespace {
                        out.push(Some(ns));
                        continue;
                    }
                    match ns_api.get_opt(&ns).await? {
                        Some(_) => out.push(Some(ns)),
                        None => {
                            tracing::warn!(namespace = %ns, "namespace not found; not watching it")
                        }
                    }
                }
                out
            }
        };
    if namespaces.is_empty() {
        ctx.readiness.set_caches_synced();
    }
    let pending = Arc::new(AtomicUsize::new(namespaces.len()));
    let mut set = tokio::task::JoinSet::new();
    for ns in namespaces {
        set.spawn(one_controller(
            ctx.clone(),
            ns,
            pending.clone(),
            shutdown.clone(),
            keys_ready.clone(),
        ));
    }
    while let Some(r) = set.join_next().await {
        r?;
    }
    Ok(())
}

async fn one_controller(
    ctx: Arc<Context>,
    namespace: Option<String>,
    pending: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
    keys_ready: watch::Receiver<bool>,
) {
    let config = ctx.config.clone();
    let client = ctx.client.clone();
    let (ss_api, secret_api): (Api<SealedSecret>, Api<PartialObjectMeta<Secret>>) = match &namespace
    {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    // Lists come from the apiserver's watch cache, parsed one item at a time (`list_watch`).
    let labels = config.label_selector.clone();

    // Readiness comes from the watch streams' own `InitDone` (after `reflect` has applied it, so
    // the store is ready), never from a second `Store::wait_until_ready` waiter: kube-runtime's
    // `DelayedInit` keeps one waker, the Controller's applier takes it, and a second waiter is
    // never woken.
    let secrets_synced = Arc::new(watch::Sender::new(config.skip_recreate));
    let sync = Arc::new(NamespaceSync {
        sealed_secrets: AtomicBool::new(false),
        secrets: secrets_synced.clone(),
        counted: AtomicBool::new(false),
        pending,
        ctx: ctx.clone(),
    });

    // SealedSecrets: our own reflector so deletions can clean up (metrics, memo, old GC).
    let (ss_reader, ss_writer) = reflector::store::<SealedSecret>();
    let ss_sync = sync.clone();
    let cleanup = ctx.clone();
    let ss_stream = list_watch::watch(
        ss_api,
        labels.clone(),
        list_watch::Shape {
            trim: trim_sealed_secret,
            keep: |_| true,
        },
    )
    .backoff(WatchBackoff::default())
    .reflect(ss_writer)
    .inspect(move |ev| match ev {
        Ok(watcher::Event::Delete(ss)) => on_sealed_secret_deleted(&cleanup, ss),
        Ok(watcher::Event::InitDone) => ss_sync.mark_sealed_secrets(),
        _ => {}
    })
    .applied_objects();

    let mut controller = Controller::for_stream(ss_stream, ss_reader);
    let secrets_store = if config.skip_recreate {
        None
    } else {
        let (reader, writer) = reflector::store::<PartialObjectMeta<Secret>>();
        let secret_sync = sync.clone();
        let stream = list_watch::watch(
            secret_api,
            labels,
            list_watch::Shape {
                trim: trim_secret_metadata,
                keep: may_be_ours,
            },
        )
        .backoff(WatchBackoff::default())
        .reflect(writer)
        .inspect(move |ev| {
            if let Ok(watcher::Event::InitDone) = ev {
                secret_sync.mark_secrets();
            }
        })
        .touched_objects();
        controller = controller.watches_stream(stream, secret_owner);
        Some(reader)
    };

    // Key changes (a restored backup, a new key) retry everything that is not in sync: the
    // changes after the keys are ready (the initial load is no change to retry for, and every
    // reconcile waits for it anyway).
    let retry_ctx = ctx.clone();
    let key_changes = ctx
        .keys
        .changes_after(keys_ready.clone())
        .inspect(move |()| retry_ctx.memo.keys_changed());
    controller = controller.reconcile_all_on(key_changes);

    let reconciler = Arc::new(Reconciler {
        ctx: ctx.clone(),
        secrets: SecretCache::new(secrets_store, secrets_synced),
        keys_ready,
    });
    controller
        .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency))
        // kube's default here (30 s cap) holds back every trigger after one watch error.
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(async move {
            let _ = shutdown.wait_for(|v| *v).await;
        })
        .run(reconcile::reconcile, reconcile::error_policy, reconciler)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile failed");
            }
        })
        .await;
}

/// Drop what nothing reads of a cached SealedSecret: managedFields (a JSON tree per field
/// manager), kubectl's copy of the whole object, and the spec of one in sync
/// ([`reconcile::trim_synced_spec`]).
fn trim_sealed_secret(ss: &mut SealedSecret) {
    ss.metadata.managed_fields = None;
    if let Some(a) = ss.metadata.annotations.as_mut() {
        for k in common::annotations::LAST_APPLIED_ANNOTATIONS {
            a.remove(k);
        }
        // Only this process sets it, on its cached copy.
        a.remove(reconcile::SPEC_TRIMMED_MARK);
    }
    reconcile::trim_synced_spec(ss);
}

/// A (trimmed) Secret that a SealedSecret may own: one with a SealedSecret controller owner or
/// one of our annotations. The cache holds nothing else: most Secrets of a cluster are not ours
/// (at 10,000 SealedSecrets next to 20,000 other Secrets, caching those cost ≈ 14 MB), and a
/// SealedSecret whose Secret name is taken by one of them finds it out on its write (create →
/// 409 → read → not managed), as before.
fn may_be_ours(m: &PartialObjectMeta<Secret>) -> bool {
    m.metadata.owner_references.is_some() || m.metadata.annotations.is_some()
}

/// Keep only what reconcile reads of a Secret: name, namespace, version, SealedSecret owners and
/// our annotations. Most Secrets of a cluster are not ours: each entry should cost a few short
/// strings.
fn trim_secret_metadata(m: &mut PartialObjectMeta<Secret>) {
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
}

/// Which of one namespace's caches have synced; the last namespace to sync both marks the
/// process ready.
struct NamespaceSync {
    sealed_secrets: AtomicBool,
    /// Shared with the reconciler's Secret cache (true from the start with `--skip-recreate`).
    secrets: Arc<watch::Sender<bool>>,
    /// This namespace has been counted off `pending` (a re-list sends `InitDone` again).
    counted: AtomicBool,
    pending: Arc<AtomicUsize>,
    ctx: Arc<Context>,
}

impl NamespaceSync {
    fn mark_sealed_secrets(&self) {
        self.sealed_secrets.store(true, Ordering::SeqCst);
        self.count_off();
    }

    fn mark_secrets(&self) {
        self.secrets.send_replace(true);
        self.count_off();
    }

    fn count_off(&self) {
        let both = self.sealed_secrets.load(Ordering::SeqCst) && *self.secrets.borrow();
        if both
            && !self.counted.swap(true, Ordering::SeqCst)
            && self.pending.fetch_sub(1, Ordering::SeqCst) == 1
        {
            self.ctx.readiness.set_caches_synced();
            tracing::info!("caches synced");
        }
    }
}

/// Reconnect backoff of the SealedSecret and Secret watches and of the controller's merged
/// trigger stream: 500 ms doubling to 5 s, reset by any event. kube's default climbs to 30 s, a
/// restarted apiserver answers the first re-watch with 410 Expired, and the trigger backoff then
/// stalls every trigger (not just the failed watch). This costs one list/watch attempt per 5 s per
/// watch while the apiserver is away.
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
fn secret_owner(secret: PartialObjectMeta<Secret>) -> Option<ObjectRef<SealedSecret>> {
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

/// A SealedSecret was deleted: drop what this process kept about it, and with
/// `--old-gc-behavior` delete its Secret (the garbage collector does it otherwise).
fn on_sealed_secret_deleted(ctx: &Arc<Context>, ss: &SealedSecret) {
    let (ns, name) = reconcile::key_of(ss);
    ctx.metrics.unregister_condition(&ns, &name);
    ctx.metrics.unseal_requests.inc();
    ctx.memo.forget(&(ns.clone(), name.clone()));
    if ctx.config.old_gc_behavior {
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
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

    fn secret_meta(v: serde_json::Value) -> PartialObjectMeta<Secret> {
        let mut m: PartialObjectMeta<Secret> = serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": v
        }))
        .unwrap();
        trim_secret_metadata(&mut m);
        m
    }

    #[test]
    fn only_secrets_that_may_be_ours_are_cached() {
        let unrelated = secret_meta(serde_json::json!({
            "name": "db", "namespace": "n", "resourceVersion": "5",
            "labels": { "app": "db" },
            "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment", "name": "d",
                                  "uid": "u1", "controller": true }],
        }));
        assert!(!may_be_ours(&unrelated));
        let owned = secret_meta(serde_json::json!({
            "name": "s", "namespace": "n", "resourceVersion": "6",
            "ownerReferences": [{ "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                                  "name": "s", "uid": "u2", "controller": true }],
        }));
        assert!(may_be_ours(&owned));
        let managed = secret_meta(serde_json::json!({
            "name": "m", "namespace": "n", "resourceVersion": "7",
            "annotations": { "sealedsecrets.bitnami.com/managed": "true" },
        }));
        assert!(may_be_ours(&managed));
        let patch_only = secret_meta(serde_json::json!({
            "name": "p", "namespace": "n", "resourceVersion": "8",
            "annotations": { "sealedsecrets.bitnami.com/patch": "true" },
        }));
        assert!(may_be_ours(&patch_only));
    }
}
