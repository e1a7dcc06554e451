//! SealedSecret → Secret reconciliation, upstream's rules plus drift repair and no redundant
//! decryption.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::annotations::{MANAGED_ANNOTATION, PATCH_ANNOTATION, annotation_is_true};
use common::crd::{CONDITION_SYNCED, SealedSecret, SealedSecretCondition, SealedSecretStatus};
use common::keys::Fingerprint;
use common::sealing::{UnsealError, UnsealOptions, UnsealStats, unseal};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ObjectMeta, PartialObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::config::Config;
use crate::events::{Recorder, object_ref_of};
use crate::keys::{KeyRing, Registry};
use crate::metrics::{ConditionLabels, Metrics};

/// `(namespace, name)` of a SealedSecret.
pub type ObjectKey = (String, String);

/// State shared by every reconcile.
pub struct Shared {
    pub client: kube::Client,
    pub config: Arc<Config>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Failed attempts per object since its last success.
    pub retries: Mutex<HashMap<(String, String), u32>>,
    /// What this process last wrote per object: (generation, Secret resourceVersion). Our own
    /// Secret write comes back through the Secret watch before the new status reaches the
    /// SealedSecret cache; this memo recognises that echo instead of decrypting again.
    pub applied: Mutex<HashMap<ObjectKey, (Option<i64>, String)>>,
    /// Where and how decryptions run.
    pub unseal_pool: UnsealPool,
}

/// Decryptions run on the blocking pool, at most one per core at a time (more would only add
/// threads, memory and cache misses: they are CPU-bound), and start with the key that opened the
/// most recent object, since objects sealed at the same time share a key.
pub struct UnsealPool {
    permits: tokio::sync::Semaphore,
    last_opener: Mutex<Option<Fingerprint>>,
    /// Objects whose unseal failed: (generation, key set) at the failure.
    failed: Mutex<HashMap<ObjectKey, (Option<i64>, u64)>>,
}

impl Default for UnsealPool {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            permits: tokio::sync::Semaphore::new(cores),
            last_opener: Mutex::new(None),
            failed: Mutex::new(HashMap::new()),
        }
    }
}

impl UnsealPool {
    /// Keys to try first for `ss`: those its status says opened this generation, then the key
    /// that opened the latest object, then those its status names from an older generation.
    fn preferred(&self, ss: &SealedSecret, ring: &KeyRing) -> Vec<Fingerprint> {
        let status = ss.status.as_ref();
        let current = status.is_some_and(|s| s.observed_generation == ss.metadata.generation);
        let from_status = status
            .map(|s| {
                s.key_fingerprints.iter().filter_map(|f| {
                    ring.entries()
                        .iter()
                        .find(|e| e.key.fingerprint().as_str() == f)
                        .map(|e| e.key.fingerprint().clone())
                })
            })
            .into_iter()
            .flatten();
        let recent = self.last_opener.lock().ok().and_then(|f| f.clone());
        let mut out: Vec<Fingerprint> = Vec::new();
        if current {
            out.extend(from_status);
            out.extend(recent);
        } else {
            out.extend(recent);
            out.extend(from_status);
        }
        out
    }

    /// True when this generation already failed to unseal with exactly these keys.
    fn failed_before(&self, ss: &SealedSecret, ring: &KeyRing) -> bool {
        self.failed
            .lock()
            .is_ok_and(|f| f.get(&key_of(ss)) == Some(&(ss.metadata.generation, key_set_id(ring))))
    }

    /// Remember whether this generation failed to unseal with these keys.
    fn record(&self, ss: &SealedSecret, ring: &KeyRing, unseal_failed: bool) {
        if let Ok(mut f) = self.failed.lock() {
            if unseal_failed {
                f.insert(key_of(ss), (ss.metadata.generation, key_set_id(ring)));
            } else {
                f.remove(&key_of(ss));
            }
        }
    }

    /// Forget an object (deleted).
    pub fn forget(&self, key: &ObjectKey) {
        if let Ok(mut f) = self.failed.lock() {
            f.remove(key);
        }
    }

    fn opened(&self, by: Option<&Fingerprint>) {
        if let (Some(f), Ok(mut last)) = (by, self.last_opener.lock())
            && last.as_ref() != Some(f)
        {
            *last = Some(f.clone());
        }
    }
}

/// Per-controller context: the shared state and this controller's Secret metadata cache.
pub struct Ctx {
    pub shared: Arc<Shared>,
    /// Metadata of Secrets in the watched namespaces (None with `--skip-recreate`).
    pub secrets: Option<Store<PartialObjectMeta<Secret>>>,
}

/// Why a reconcile failed; decides the retry policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SealedSecret cannot be unsealed (wrong key or scope, bad base64, template error).
    #[error("{0}")]
    Unseal(#[from] UnsealError),
    /// A Secret of that name exists and is not ours to change.
    #[error("failed update: Resource \"{0}\" already exists and is not managed by SealedSecret")]
    Unmanaged(String),
    /// The existing Secret is immutable.
    #[error("the target Secret is immutable")]
    Immutable,
    /// The API call failed (transient).
    #[error("{}", api_message(.0))]
    Kube(#[from] kube::Error),
    /// No key loaded yet.
    #[error("sealing keys not loaded yet")]
    KeysNotLoaded,
    /// The decryption task did not finish (it panicked or the runtime is shutting down).
    #[error("the unsealing task failed")]
    TaskFailed,
}

const IMMUTABLE_MESSAGE: &str = "the target Secret is immutable. Once a Secret is marked as immutable, it is not possible to revert this change nor to mutate the contents of the data field. You can only delete and recreate the Secret.";

/// Longest `status.conditions[].message` written (as long as an Event's note): an object with
/// thousands of failing items must not write a status of hundreds of kilobytes.
const MAX_STATUS_MESSAGE: usize = 1000;

/// The apiserver's own message for an API error (what upstream puts in status and events), not
/// kube-rs's debug dump of the whole Status object.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("{} {}", status.code, status.reason),
        other => other.to_string(),
    }
}

fn key_of(ss: &SealedSecret) -> (String, String) {
    (ss.namespace().unwrap_or_default(), ss.name_any())
}

fn synced(status: Option<&SealedSecretStatus>) -> Option<&SealedSecretCondition> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_SYNCED))
}

fn condition_labels(ss: &SealedSecret) -> ConditionLabels {
    ConditionLabels {
        namespace: ss.namespace().unwrap_or_default(),
        name: ss.name_any(),
        condition: CONDITION_SYNCED.to_owned(),
        ss_app_kubernetes_io_instance: ss
            .labels()
            .get("app.kubernetes.io/instance")
            .cloned()
            .unwrap_or_default(),
    }
}

/// The Secret metadata cache, once it has synced (never waits for it). Right after a start the
/// SealedSecret cache can be ready before the Secret cache, whose empty answers would then be
/// wrong: callers ask the API instead.
fn synced_secret_cache(ctx: &Ctx) -> Option<&Store<PartialObjectMeta<Secret>>> {
    ctx.secrets.as_ref().filter(|store| {
        futures::FutureExt::now_or_never(store.wait_until_ready()).is_some_and(|r| r.is_ok())
    })
}

/// The Secret's current resourceVersion, from the synced metadata cache or else the API.
async fn current_secret_version(ctx: &Ctx, ss: &SealedSecret) -> Result<Option<String>, Error> {
    let (ns, name) = key_of(ss);
    match synced_secret_cache(ctx) {
        Some(store) => Ok(store
            .get(&ObjectRef::new(&name).within(&ns))
            .and_then(|m| m.metadata.resource_version.clone())),
        None => {
            let meta = Api::<Secret>::namespaced(ctx.shared.client.clone(), &ns)
                .get_metadata_opt(&name)
                .await?;
            Ok(meta.and_then(|m| m.metadata.resource_version))
        }
    }
}

/// True when status proves the Secret is exactly what this generation produces: same
/// generation, Synced, and the Secret unchanged since we wrote or verified it.
async fn in_sync(ctx: &Ctx, ss: &SealedSecret) -> Result<bool, Error> {
    // What this process wrote for this generation (the status may not be in the cache yet)…
    let memo_rv = ctx
        .shared
        .applied
        .lock()
        .ok()
        .and_then(|m| m.get(&key_of(ss)).cloned())
        .filter(|(generation, _)| *generation == ss.metadata.generation)
        .map(|(_, rv)| rv);
    // …or what the status says was applied to this generation.
    let status_rv = ss
        .status
        .as_ref()
        .filter(|status| {
            status.observed_generation.is_some()
                && status.observed_generation == ss.metadata.generation
                && synced(Some(status)).is_some_and(|c| c.status == "True")
        })
        .and_then(|status| status.secret_resource_version.clone());
    if memo_rv.is_none() && status_rv.is_none() {
        return Ok(false);
    }
    let Some(current) = current_secret_version(ctx, ss).await? else {
        return Ok(false);
    };
    Ok(memo_rv.as_ref() == Some(&current) || status_rv.as_ref() == Some(&current))
}

/// Identifies a set of keys (any change of the key Secrets gives a new one).
fn key_set_id(ring: &KeyRing) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for e in ring.entries() {
        e.key.fingerprint().hash(&mut h);
    }
    h.finish()
}

/// Reconcile one SealedSecret.
pub async fn reconcile(ss: Arc<SealedSecret>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let shared = &ctx.shared;
    shared.metrics.unseal_requests.inc();
    if ss.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if !shared.registry.is_loaded() {
        return Err(Error::KeysNotLoaded);
    }
    let (ns, name) = key_of(&ss);
    let synced_already = in_sync(&ctx, &ss).await;
    tracing::debug!(namespace = %ns, name = %name, in_sync = ?synced_already.as_ref().ok(), "in-sync check");
    if synced_already? {
        shared.metrics.skipped_in_sync.inc();
        shared
            .metrics
            .observe_condition(condition_labels(&ss), Some("True"));
        if let Some(f) = ss.status.as_ref().and_then(|s| s.key_fingerprints.first()) {
            shared.metrics.observe_opened(&ns, &name, Some(f));
        }
        return Ok(Action::await_change());
    }
    let ring = shared.registry.snapshot();
    if shared.unseal_pool.failed_before(&ss, &ring) {
        // Unsealing depends only on the spec and the keys: the same answer again.
        return Ok(Action::await_change());
    }
    tracing::info!(namespace = %ns, name = %name, "Updating");

    let result = apply(&ctx, &ss, &ring).await;
    let status_result = match &result {
        Ok((rv, fps)) => Ok((rv.clone(), fps.clone())),
        Err(e) => Err(crate::events::truncate(&e.to_string(), MAX_STATUS_MESSAGE)),
    };
    let status_written = update_status(&ctx, &ss, status_result).await;
    if let Err(e) = &status_written {
        tracing::warn!(namespace = %ns, name = %name, error = %e, "cannot update status");
        shared.metrics.error("status", &ns);
    }
    // Only a result that reached the status counts as done: otherwise the object is retried like
    // any API error (an apiserver outage between the Secret write and the status write used to
    // leave a correct Secret with no status, skipped as in sync until the object changed).
    shared.unseal_pool.record(
        &ss,
        &ring,
        status_written.is_ok() && matches!(result, Err(Error::Unseal(_))),
    );
    if let Ok(mut memo) = shared.applied.lock() {
        match (&result, &status_written) {
            (Ok((rv, _)), Ok(())) => {
                memo.insert(
                    (ns.clone(), name.clone()),
                    (ss.metadata.generation, rv.clone()),
                );
            }
            _ => {
                memo.remove(&(ns.clone(), name.clone()));
            }
        }
    }
    if let Err(e) = status_written {
        return Err(Error::Kube(e));
    }
    match result {
        Ok((_, fps)) => {
            if let Ok(mut r) = shared.retries.lock() {
                r.remove(&(ns.clone(), name.clone()));
            }
            shared
                .metrics
                .observe_opened(&ns, &name, fps.first().map(|f| f.as_str()));
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}

/// Unseal and write the Secret. Returns the Secret's resourceVersion and the opening keys.
async fn apply(
    ctx: &Ctx,
    ss: &Arc<SealedSecret>,
    ring: &Arc<KeyRing>,
) -> Result<(String, Vec<Fingerprint>), Error> {
    let shared = &ctx.shared;
    let (ns, name) = key_of(ss);
    let reference = object_ref_of(ss.as_ref());

    let preferred = shared.unseal_pool.preferred(ss, ring);
    let opts = UnsealOptions {
        accept_deprecated_v1_data: shared.config.accept_deprecated_v1_data,
        ..UnsealOptions::default()
    };
    let job_ss = ss.clone();
    let job_ring = ring.clone();
    let permit = shared
        .unseal_pool
        .permits
        .acquire()
        .await
        .map_err(|_| Error::TaskFailed)?;
    let (unsealed, stats) = tokio::task::spawn_blocking(move || {
        let keys = job_ring.decryption_order(&preferred);
        let mut stats = UnsealStats::default();
        let unsealed = unseal(&job_ss, &keys, &opts, &mut stats);
        (unsealed, stats)
    })
    .await
    .map_err(|_| Error::TaskFailed)?;
    drop(permit);
    shared.metrics.rsa_decryptions.inc_by(stats.rsa_operations);
    let unsealed = match unsealed {
        Ok(u) => u,
        Err(e) => {
            shared.metrics.error("unseal", &ns);
            shared
                .recorder
                .warn(
                    &reference,
                    "ErrUnsealFailed",
                    &format!("Failed to unseal: {e}"),
                )
                .await;
            return Err(Error::Unseal(e));
        }
    };
    shared.unseal_pool.opened(unsealed.opened_by().first());
    let fingerprints = unsealed.opened_by().to_vec();
    let desired = unsealed.secret();
    let api: Api<Secret> = Api::namespaced(shared.client.clone(), &ns);

    // With a synced Secret cache that has no such Secret, create without asking first (a cold
    // start then costs one write instead of a read and a write); a stale cache answers 409 and we
    // fall back to reading it.
    let known_absent = secret_absent_in_cache(ctx, &ns, &name);
    let existing = if known_absent {
        None
    } else {
        match api.get_opt(&name).await {
            Ok(s) => s,
            Err(e) => return Err(update_error(shared, &ns, &reference, e).await),
        }
    };
    let written = match existing {
        Some(existing) => update_existing(ctx, ss, &api, existing, desired).await?,
        None => {
            let fresh = Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.clone()),
                    labels: desired.metadata.labels.clone(),
                    annotations: desired.metadata.annotations.clone(),
                    owner_references: desired.metadata.owner_references.clone(),
                    finalizers: desired.metadata.finalizers.clone(),
                    ..ObjectMeta::default()
                },
                data: desired.data.clone(),
                type_: desired.type_.clone(),
                immutable: desired.immutable,
                ..Secret::default()
            };
            match api.create(&PostParams::default(), &fresh).await {
                Ok(s) => s,
                Err(kube::Error::Api(conflict)) if conflict.code == 409 && known_absent => {
                    match api.get_opt(&name).await {
                        Ok(Some(existing)) => {
                            update_existing(ctx, ss, &api, existing, desired).await?
                        }
                        // Created and deleted again meanwhile: the retry starts over.
                        Ok(None) => {
                            let e = kube::Error::Api(conflict);
                            return Err(update_error(shared, &ns, &reference, e).await);
                        }
                        Err(e) => return Err(update_error(shared, &ns, &reference, e).await),
                    }
                }
                Err(e) => return Err(update_error(shared, &ns, &reference, e).await),
            }
        }
    };
    shared
        .recorder
        .normal(&reference, "Unsealed", "SealedSecret unsealed successfully")
        .await;
    Ok((
        written
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default(),
        fingerprints,
    ))
}

/// Count, report and convert a failed Secret read or write.
async fn update_error(
    shared: &Shared,
    ns: &str,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    e: kube::Error,
) -> Error {
    shared.metrics.error("update", ns);
    shared
        .recorder
        .warn(reference, "ErrUpdateFailed", &api_message(&e))
        .await;
    e.into()
}

/// True when the Secret metadata cache has synced and holds no Secret of that name.
fn secret_absent_in_cache(ctx: &Ctx, ns: &str, name: &str) -> bool {
    synced_secret_cache(ctx)
        .is_some_and(|store| store.get(&ObjectRef::new(name).within(ns)).is_none())
}

/// Bring an existing Secret in line with the desired one, if it is ours to change.
async fn update_existing(
    ctx: &Ctx,
    ss: &SealedSecret,
    api: &Api<Secret>,
    existing: Secret,
    desired: &Secret,
) -> Result<Secret, Error> {
    let shared = &ctx.shared;
    let (ns, name) = key_of(ss);
    let reference = object_ref_of(ss);
    let owned = is_controlled_by(&existing, ss);
    let managed = annotation_is_true(existing.metadata.annotations.as_ref(), MANAGED_ANNOTATION);
    let patch = annotation_is_true(existing.metadata.annotations.as_ref(), PATCH_ANNOTATION);
    if !owned && !managed && !patch {
        shared.metrics.error("unmanaged", &ns);
        shared
            .recorder
            .warn(
                &reference,
                "ErrUpdateFailed",
                &format!("Resource \"{name}\" already exists and is not managed by SealedSecret"),
            )
            .await;
        return Err(Error::Unmanaged(name));
    }
    let mut modified = existing.clone();
    merge_into(&mut modified, desired, patch, managed);
    if modified == existing {
        return Ok(existing);
    }
    match api.replace(&name, &PostParams::default(), &modified).await {
        Ok(s) => Ok(s),
        Err(e) => {
            shared.metrics.error("update", &ns);
            let immutable = existing.immutable == Some(true)
                || e.to_string()
                    .contains("field is immutable when `immutable` is set");
            let message = if immutable {
                format!("Error updating {ns}/{name}: {IMMUTABLE_MESSAGE}")
            } else {
                api_message(&e)
            };
            shared
                .recorder
                .warn(&reference, "ErrUpdateFailed", &message)
                .await;
            Err(if immutable {
                Error::Immutable
            } else {
                e.into()
            })
        }
    }
}

/// Upstream's merge of the desired Secret into an existing one: patch mode merges data, labels
/// and annotations (and takes ownership only if also managed); otherwise they are replaced.
/// `type` always follows the template; `immutable` and finalizers only apply on create.
pub fn merge_into(existing: &mut Secret, desired: &Secret, patch: bool, managed: bool) {
    if patch {
        merge_map(&mut existing.data, desired.data.as_ref());
        merge_map(
            &mut existing.metadata.labels,
            desired.metadata.labels.as_ref(),
        );
        merge_map(
            &mut existing.metadata.annotations,
            desired.metadata.annotations.as_ref(),
        );
        if managed {
            existing.metadata.owner_references = desired.metadata.owner_references.clone();
        }
    } else {
        existing.data = desired.data.clone();
        existing.metadata.annotations = desired.metadata.annotations.clone();
        existing.metadata.labels = desired.metadata.labels.clone();
        existing.metadata.owner_references = desired.metadata.owner_references.clone();
    }
    existing.type_ = desired.type_.clone();
}

fn merge_map<V: Clone>(into: &mut Option<BTreeMap<String, V>>, from: Option<&BTreeMap<String, V>>) {
    if let Some(from) = from {
        let target = into.get_or_insert_with(BTreeMap::new);
        for (k, v) in from {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// Whether `secret` has a controller ownerReference to `ss` (by uid).
pub fn is_controlled_by(secret: &Secret, ss: &SealedSecret) -> bool {
    let uid = ss.meta().uid.as_deref();
    secret.owner_references().iter().any(|o| {
        o.controller == Some(true) && uid.is_some_and(|u| u == o.uid) && o.kind == "SealedSecret"
    })
}

/// Write the Synced condition. Upstream writes only when the status flips or the generation
/// changed; we also write when the message, the Secret's version or the opening keys changed.
async fn update_status(
    ctx: &Ctx,
    ss: &SealedSecret,
    result: Result<(String, Vec<Fingerprint>), String>,
) -> Result<(), kube::Error> {
    let shared = &ctx.shared;
    let (ns, name) = key_of(ss);
    let old = ss.status.clone().unwrap_or_default();
    let old_cond = synced(Some(&old)).cloned();
    let (status_value, message, rv, fps) = match &result {
        Ok((rv, fps)) => (
            "True",
            None,
            Some(rv.clone()),
            fps.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        ),
        Err(msg) => (
            "False",
            Some(msg.clone()),
            None,
            old.key_fingerprints.clone(),
        ),
    };
    if !shared.config.update_status {
        shared
            .metrics
            .observe_condition(condition_labels(ss), Some(status_value));
        return Ok(());
    }
    let flipped = old_cond.as_ref().map(|c| c.status.as_str()) != Some(status_value);
    let needs = flipped
        || old.observed_generation != ss.metadata.generation
        || old_cond
            .as_ref()
            .and_then(|c| c.message.clone())
            .filter(|m| !m.is_empty())
            != message
        || old.secret_resource_version != rv
        || old.key_fingerprints != fps;
    if needs {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let transition = if flipped {
            Some(now.clone())
        } else {
            old_cond
                .as_ref()
                .and_then(|c| c.last_transition_time.clone())
                .or(Some(now.clone()))
        };
        let cond = SealedSecretCondition {
            type_: CONDITION_SYNCED.to_owned(),
            status: status_value.to_owned(),
            last_update_time: Some(now),
            last_transition_time: transition,
            reason: None,
            message,
        };
        let mut conditions: Vec<SealedSecretCondition> = old
            .conditions
            .iter()
            .filter(|c| c.type_ != CONDITION_SYNCED)
            .cloned()
            .collect();
        conditions.insert(0, cond);
        let patch = json!({
            "status": {
                "conditions": conditions,
                "observedGeneration": ss.metadata.generation,
                "secretResourceVersion": rv,
                "keyFingerprints": fps,
            }
        });
        let api: Api<SealedSecret> = Api::namespaced(shared.client.clone(), &ns);
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    shared
        .metrics
        .observe_condition(condition_labels(ss), Some(status_value));
    Ok(())
}

/// Retry policy: transient API errors back off and retry; unseal errors (wrong key or scope, bad
/// base64, template errors) depend only on the spec and the keys, so they wait for a change of
/// either (a key change retries every object; `--max-unseal-retries` is accepted but has nothing
/// left to bound); unmanaged and immutable targets wait for a change.
pub fn error_policy(ss: Arc<SealedSecret>, err: &Error, ctx: Arc<Ctx>) -> Action {
    let key = key_of(&ss);
    let attempts = ctx
        .shared
        .retries
        .lock()
        .map(|mut r| {
            let n = r.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        })
        .unwrap_or(1);
    match err {
        Error::Unmanaged(_) | Error::Immutable => Action::await_change(),
        Error::KeysNotLoaded | Error::TaskFailed => Action::requeue(Duration::from_millis(500)),
        Error::Unseal(_) => {
            tracing::info!(namespace = %key.0, name = %key.1, "cannot unseal; waiting for a change of the SealedSecret or the keys");
            Action::await_change()
        }
        Error::Kube(_) => {
            Action::requeue(backoff(attempts).clamp(Duration::from_millis(200), MAX_API_BACKOFF))
        }
    }
}

/// Longest wait before retrying after an API error: recovery after an outage is bounded by it.
const MAX_API_BACKOFF: Duration = Duration::from_secs(30);

/// 5ms × 2^n, capped at 5 minutes (upstream's per-item limiter caps at 1000 s).
fn backoff(attempts: u32) -> Duration {
    let ms = 5u64.saturating_mul(1u64 << attempts.min(20));
    Duration::from_millis(ms.min(300_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(data: &[(&str, &str)], labels: &[(&str, &str)], ann: &[(&str, &str)]) -> Secret {
        let mut s = Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let m = |p: &[(&str, &str)]| {
            Some(
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        s.metadata.labels = m(labels);
        s.metadata.annotations = m(ann);
        s
    }

    #[test]
    fn overwrite_replaces_everything_but_immutable_and_finalizers() {
        let mut existing = secret(
            &[("foo", "x"), ("foo2", "y")],
            &[("old", "1")],
            &[(MANAGED_ANNOTATION, "true")],
        );
        existing.immutable = Some(false);
        existing.metadata.finalizers = Some(vec!["keep".into()]);
        let desired = secret(&[("foo", "bar")], &[("mylabel", "myvalue")], &[]);
        merge_into(&mut existing, &desired, false, true);
        assert_eq!(existing.data, desired.data);
        assert_eq!(existing.metadata.labels, desired.metadata.labels);
        assert_eq!(existing.metadata.annotations, Some(BTreeMap::new()));
        assert_eq!(existing.metadata.finalizers, Some(vec!["keep".to_string()]));
        assert_eq!(existing.immutable, Some(false));
    }

    #[test]
    fn patch_merges_and_takes_ownership_only_when_managed() {
        let mut desired = secret(&[("foo", "bar")], &[("mylabel", "v")], &[]);
        desired.metadata.owner_references = Some(vec![Default::default()]);
        let mut patched = secret(
            &[("foo2", "bar2")],
            &[("other", "1")],
            &[(PATCH_ANNOTATION, "true")],
        );
        merge_into(&mut patched, &desired, true, false);
        let keys: Vec<_> = patched.data.as_ref().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["foo", "foo2"]);
        assert_eq!(patched.metadata.labels.as_ref().unwrap().len(), 2);
        assert_eq!(patched.metadata.owner_references, None);
        let mut managed = secret(
            &[],
            &[],
            &[(PATCH_ANNOTATION, "true"), (MANAGED_ANNOTATION, "true")],
        );
        managed.data = None;
        managed.metadata.labels = None;
        merge_into(&mut managed, &desired, true, true);
        assert_eq!(managed.metadata.owner_references.as_ref().unwrap().len(), 1);
        assert_eq!(managed.data, desired.data);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(5), Duration::from_millis(160));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }
}
