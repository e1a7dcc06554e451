//! SealedSecret → Secret reconciliation: upstream's rules, plus drift repair and no redundant
//! decryption. [`reconcile`] reads top to bottom:
//!
//! 1. in sync? — the Secret still has the version this generation produced ([`status::in_sync`])
//! 2. failed before? — this generation already failed with these keys ([`ObjectMemo`])
//! 3. unseal — on the decryption pool ([`Unsealer`]) with `common::sealing`
//! 4. write the Secret ([`secret::write`])
//! 5. write the status ([`status::write`]) and remember the outcome ([`ObjectMemo::record`])
//!
//! [`error_policy`] decides the retry of a failed reconcile.

mod error;
mod memo;
mod secret;
mod status;
mod unseal;

use std::sync::Arc;
use std::time::Duration;

use common::crd::{CONDITION_SYNCED, SealedSecret};
use common::sealing::UnsealOptions;
use kube::ResourceExt;
use kube::runtime::controller::Action;

pub use error::Error;
pub use memo::{ObjectKey, ObjectMemo};
pub use secret::SecretCache;
pub use status::StatusMethod;
pub use unseal::Unsealer;

use crate::context::Context;
use crate::events::object_ref_of;
use crate::metrics::ConditionLabels;
use status::Outcome;

/// Longest `status.conditions[].message` written (as long as an Event's note): an object with
/// thousands of failing items must not write a status of hundreds of kilobytes.
const MAX_STATUS_MESSAGE: usize = 1000;

/// What one reconcile sees: the process's context and its namespace's Secret cache.
pub struct Reconciler {
    /// The shared context.
    pub ctx: Arc<Context>,
    /// The Secret metadata cache of the namespace(s) this controller watches.
    pub secrets: SecretCache,
    /// The keys are loaded (and the first one generated when there was none): set while the
    /// caches list, so reconciles wait for it.
    pub keys_ready: tokio::sync::watch::Receiver<bool>,
}

/// Marks a cached SealedSecret whose spec was dropped (see [`trim_synced_spec`]). Process-local:
/// it is set on the cached copy only and never written to the API.
pub const SPEC_TRIMMED_MARK: &str = "sealed-secrets-rs.dev/cached-without-spec";

/// Drop the spec (the sealed values: most of an object's bytes) from a SealedSecret that arrives
/// in sync (Synced at its generation with a Secret version): the in-sync check reads only
/// metadata and status, and the rare reconcile that must decrypt it again (drift repair) reads
/// the object first. A new generation arrives with its spec, as its status is older.
pub fn trim_synced_spec(ss: &mut SealedSecret) {
    if status::synced_version(ss).is_none() {
        return;
    }
    ss.spec = Default::default();
    ss.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(SPEC_TRIMMED_MARK.to_owned(), String::new());
}

fn spec_trimmed(ss: &SealedSecret) -> bool {
    ss.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(SPEC_TRIMMED_MARK))
}

/// `(namespace, name)` of a SealedSecret.
pub fn key_of(ss: &SealedSecret) -> ObjectKey {
    (ss.namespace().unwrap_or_default(), ss.name_any())
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

/// Reconcile one SealedSecret.
pub async fn reconcile(ss: Arc<SealedSecret>, r: Arc<Reconciler>) -> Result<Action, Error> {
    let ctx = &r.ctx;
    ctx.metrics.unseal_requests.inc();
    if ss.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if r.keys_ready.clone().wait_for(|ready| *ready).await.is_err() {
        return Err(Error::KeysNotLoaded);
    }
    r.secrets.wait_synced().await;
    let key = key_of(&ss);
    let (ns, name) = &key;
    let generation = ss.metadata.generation;

    // 1. In sync: what this process wrote for this generation, or what the status says was
    // applied to it, is still the Secret's version.
    let written = ctx.memo.applied_version(&key, generation);
    let recorded = status::synced_version(&ss);
    let synced_already = if written.is_none() && recorded.is_none() {
        Ok(false)
    } else {
        secret::current_version(ctx, &r.secrets, &ss)
            .await
            .map(|current| status::in_sync(written.as_deref(), recorded, current.as_deref()))
    };
    tracing::debug!(namespace = %ns, name = %name, in_sync = ?synced_already.as_ref().ok(), "in-sync check");
    if synced_already? {
        ctx.metrics.skipped_in_sync.inc();
        ctx.metrics
            .observe_condition(condition_labels(&ss), Some("True"));
        if let Some(f) = ss.status.as_ref().and_then(|s| s.key_fingerprints.first()) {
            ctx.metrics.observe_opened(ns, name, Some(f));
        }
        return Ok(Action::await_change());
    }

    // 2. Unsealing depends only on the spec and the keys: a failure with the same keys again
    // would give the same answer.
    let ring = ctx.keys.snapshot();
    let key_set = unseal::key_set_id(&ring);
    if ctx.memo.failed_before(&key, generation, key_set) {
        return Ok(Action::await_change());
    }
    // The cache keeps no spec of an object that was in sync when it arrived: read it now.
    let ss = if spec_trimmed(&ss) {
        let api: kube::Api<SealedSecret> = kube::Api::namespaced(ctx.client.clone(), ns);
        match api.get_opt(name).await? {
            // A newer generation is on its way through the watch, to a reconcile of its own.
            Some(full) if full.metadata.generation == generation => Arc::new(full),
            _ => return Ok(Action::await_change()),
        }
    } else {
        ss
    };
    tracing::info!(namespace = %ns, name = %name, "Updating");

    // 3 and 4. Unseal and write the Secret.
    let result = unseal_and_write(&r, &ss, &ring).await;
    let outcome = match &result {
        Ok((rv, fps)) => Outcome::Synced {
            secret_version: rv.clone(),
            opened_by: fps.clone(),
        },
        Err(e) => Outcome::Failed(crate::events::truncate(&e.to_string(), MAX_STATUS_MESSAGE)),
    };

    // 5. Status. Only a result that reached the status counts as done: otherwise the object is
    // retried like any API error.
    let status_written = status::write(ctx, &ss, &outcome).await;
    if let Err(e) = &status_written {
        tracing::warn!(namespace = %ns, name = %name, error = %e, "cannot update status");
        ctx.metrics.error("status", ns);
    }
    let written_ok = status_written.is_ok();
    ctx.memo.record(
        &key,
        generation,
        match (&result, written_ok) {
            (Ok((rv, _)), true) => Some(rv.clone()),
            _ => None,
        },
        (written_ok && matches!(result, Err(Error::Unseal(_)))).then_some(key_set),
    );
    status_written?;
    let (_, fps) = result?;
    ctx.memo.succeeded(&key);
    ctx.metrics
        .observe_opened(ns, name, fps.first().map(|f| f.as_str()));
    Ok(Action::await_change())
}

/// Unseal and write the Secret. Returns the Secret's resourceVersion and the opening keys.
async fn unseal_and_write(
    r: &Reconciler,
    ss: &Arc<SealedSecret>,
    ring: &Arc<crate::keys::KeyRing>,
) -> Result<(String, Vec<String>), Error> {
    let ctx = &r.ctx;
    let opts = UnsealOptions {
        accept_deprecated_v1_data: ctx.config.accept_deprecated_v1_data,
        ..UnsealOptions::default()
    };
    let (unsealed, stats) = ctx.unsealer.unseal(ss, ring, opts).await?;
    ctx.metrics.rsa_decryptions.inc_by(stats.rsa_operations);
    let unsealed = match unsealed {
        Ok(u) => u,
        Err(e) => {
            ctx.metrics.error("unseal", &key_of(ss).0);
            ctx.recorder
                .warn(
                    &object_ref_of(ss.as_ref()),
                    "ErrUnsealFailed",
                    &format!("Failed to unseal: {e}"),
                )
                .await;
            return Err(Error::Unseal(e));
        }
    };
    let fingerprints = unsealed.opened_by().iter().map(|f| f.to_string()).collect();
    let written = secret::write(ctx, &r.secrets, ss, unsealed.secret()).await?;
    ctx.recorder
        .normal(
            &object_ref_of(ss.as_ref()),
            "Unsealed",
            "SealedSecret unsealed successfully",
        )
        .await;
    Ok((
        written.metadata.resource_version.unwrap_or_default(),
        fingerprints,
    ))
}

/// Retry policy: transient API errors back off and retry; unseal errors (wrong key or scope, bad
/// base64, template errors) depend only on the spec and the keys, so they wait for a change of
/// either (a key change retries every object; `--max-unseal-retries` is accepted but has nothing
/// left to bound); unmanaged and immutable targets wait for a change.
pub fn error_policy(ss: Arc<SealedSecret>, err: &Error, r: Arc<Reconciler>) -> Action {
    let key = key_of(&ss);
    let attempts = r.ctx.memo.count_attempt(&key);
    match err {
        Error::Unmanaged(_) | Error::Immutable => Action::await_change(),
        Error::KeysNotLoaded | Error::TaskFailed => Action::requeue(Duration::from_millis(500)),
        Error::Unseal(_) => {
            tracing::info!(namespace = %key.0, name = %key.1, "cannot unseal; waiting for a change of the SealedSecret or the keys");
            Action::await_change()
        }
        Error::Kube(_) => Action::requeue(backoff(attempts)),
    }
}

/// Shortest wait before retrying after an API error.
const MIN_API_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait before retrying after an API error: recovery after an outage is bounded by it.
const MAX_API_BACKOFF: Duration = Duration::from_secs(30);

/// 5 ms × 2^attempts, between [`MIN_API_BACKOFF`] and [`MAX_API_BACKOFF`] (upstream's per-item
/// limiter caps at 1000 s).
fn backoff(attempts: u32) -> Duration {
    let ms = 5u64.saturating_mul(1u64 << attempts.min(20));
    Duration::from_millis(ms).clamp(MIN_API_BACKOFF, MAX_API_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced_at(generation: i64, observed: i64) -> SealedSecret {
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.generation = Some(generation);
        ss.spec.encrypted_data.insert("k".into(), "AgB...".into());
        ss.status = Some(common::crd::SealedSecretStatus {
            conditions: vec![common::crd::SealedSecretCondition {
                type_: CONDITION_SYNCED.into(),
                status: "True".into(),
                ..Default::default()
            }],
            observed_generation: Some(observed),
            secret_resource_version: Some("7".into()),
            key_fingerprints: vec![],
        });
        ss
    }

    #[test]
    fn only_an_object_in_sync_at_its_generation_loses_its_spec() {
        let mut ss = synced_at(3, 3);
        trim_synced_spec(&mut ss);
        assert!(ss.spec.encrypted_data.is_empty());
        assert!(spec_trimmed(&ss));
        assert!(SPEC_TRIMMED_MARK.starts_with(common::annotations::EXT_PREFIX));
        // A new generation (status still at the old one) keeps what must be decrypted.
        let mut newer = synced_at(4, 3);
        trim_synced_spec(&mut newer);
        assert_eq!(newer.spec.encrypted_data.len(), 1);
        assert!(!spec_trimmed(&newer));
        let mut failed = synced_at(3, 3);
        if let Some(s) = failed.status.as_mut() {
            s.conditions[0].status = "False".into();
        }
        trim_synced_spec(&mut failed);
        assert_eq!(failed.spec.encrypted_data.len(), 1);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(6), Duration::from_millis(320));
        assert_eq!(backoff(12), Duration::from_millis(20_480));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
