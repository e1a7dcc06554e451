//! The SealedSecret's status: the pure rules (when it proves the Secret in sync, what to write
//! after a reconcile, whether to write at all) and the one status write.

use common::crd::{CONDITION_SYNCED, SealedSecret, SealedSecretCondition, SealedSecretStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::condition_labels;
use crate::context::Context;

/// What a reconcile produced, as far as the status is concerned.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The Secret holds this generation's values.
    Synced {
        /// The Secret's resourceVersion after the write (or the check).
        secret_version: String,
        /// Fingerprints of the keys that opened the values, most used first.
        opened_by: Vec<String>,
    },
    /// The reconcile failed; the message is already bounded and holds no values.
    Failed(String),
}

impl Outcome {
    fn status_value(&self) -> &'static str {
        match self {
            Outcome::Synced { .. } => "True",
            Outcome::Failed(_) => "False",
        }
    }
}

/// The `Synced` condition of a status.
pub fn synced(status: Option<&SealedSecretStatus>) -> Option<&SealedSecretCondition> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_SYNCED))
}

/// The Secret version the status records as applied to the object's current generation, when
/// it says Synced: with that version still on the Secret, the object is in sync.
pub fn synced_version(ss: &SealedSecret) -> Option<&str> {
    ss.status
        .as_ref()
        .filter(|status| {
            status.observed_generation.is_some()
                && status.observed_generation == ss.metadata.generation
                && synced(Some(status)).is_some_and(|c| c.status == "True")
        })
        .and_then(|status| status.secret_resource_version.as_deref())
}

/// The object is in sync when the Secret's `current` version is one that this process wrote for
/// this generation (`written`: the status may not be in the cache yet) or one the status records
/// (`recorded`).
pub fn in_sync(written: Option<&str>, recorded: Option<&str>, current: Option<&str>) -> bool {
    current.is_some_and(|c| written == Some(c) || recorded == Some(c))
}

/// The status after a reconcile of `generation` with `outcome`, or `None` when the current
/// status already says it. Upstream writes only when the status flips or the generation
/// changed; we also write when the message, the Secret's version or the opening keys changed.
/// Other conditions are kept after `Synced`.
pub fn next_status(
    old: Option<&SealedSecretStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    now: &Time,
) -> Option<SealedSecretStatus> {
    let empty = SealedSecretStatus::default();
    let old = old.unwrap_or(&empty);
    let old_cond = synced(Some(old));
    let status_value = outcome.status_value();
    let (message, rv, fps) = match outcome {
        Outcome::Synced {
            secret_version,
            opened_by,
        } => (None, Some(secret_version.clone()), opened_by.clone()),
        Outcome::Failed(msg) => (Some(msg.clone()), None, old.key_fingerprints.clone()),
    };
    let flipped = old_cond.map(|c| c.status.as_str()) != Some(status_value);
    let old_message = old_cond
        .and_then(|c| c.message.clone())
        .filter(|m| !m.is_empty());
    let needs = flipped
        || old.observed_generation != generation
        || old_message != message
        || old.secret_resource_version != rv
        || old.key_fingerprints != fps;
    if !needs {
        return None;
    }
    let transition = if flipped {
        Some(now.clone())
    } else {
        old_cond
            .and_then(|c| c.last_transition_time.clone())
            .or(Some(now.clone()))
    };
    let cond = SealedSecretCondition {
        type_: CONDITION_SYNCED.to_owned(),
        status: status_value.to_owned(),
        last_update_time: Some(now.clone()),
        last_transition_time: transition,
        reason: None,
        message,
    };
    let mut conditions = vec![cond];
    conditions.extend(
        old.conditions
            .iter()
            .filter(|c| c.type_ != CONDITION_SYNCED)
            .cloned(),
    );
    Some(SealedSecretStatus {
        conditions,
        observed_generation: generation,
        secret_resource_version: rv,
        key_fingerprints: fps,
    })
}

/// How status is written: a merge patch (`patch` on `sealedsecrets/status`, our chart's RBAC),
/// or, once that was forbidden, a PUT of the status (`update`, all that upstream's chart and
/// `controller.yaml` grant). The first 403 switches for the rest of the process.
#[derive(Debug, Default)]
pub struct StatusMethod {
    update_only: AtomicBool,
}

/// Write the status for `outcome` when it changed (and `--update-status` is on), and export the
/// condition metric.
pub async fn write(ctx: &Context, ss: &SealedSecret, outcome: &Outcome) -> Result<(), kube::Error> {
    if ctx.config.update_status {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let next = next_status(ss.status.as_ref(), ss.metadata.generation, outcome, &now);
        if let Some(status) = next {
            let api: Api<SealedSecret> =
                Api::namespaced(ctx.client.clone(), &ss.namespace().unwrap_or_default());
            let name = ss.name_any();
            if !ctx.status_method.update_only.load(Ordering::Relaxed) {
                let patch = Patch::Merge(patch_body(&status));
                match api
                    .patch_status(&name, &PatchParams::default(), &patch)
                    .await
                {
                    Err(kube::Error::Api(e)) if e.code == 403 => {
                        tracing::info!(error = %e.message, "status patch forbidden; writing status with update (upstream's RBAC)");
                        ctx.status_method.update_only.store(true, Ordering::Relaxed);
                    }
                    r => {
                        r?;
                    }
                }
            }
            if ctx.status_method.update_only.load(Ordering::Relaxed) {
                put_status(&api, ss, outcome, status, &now).await?;
            }
        }
    }
    ctx.metrics
        .observe_condition(condition_labels(ss), Some(outcome.status_value()));
    Ok(())
}

/// The merge patch for `status`: `null` removes the Secret version of a failed object.
fn patch_body(status: &SealedSecretStatus) -> serde_json::Value {
    json!({
        "status": {
            "conditions": status.conditions,
            "observedGeneration": status.observed_generation,
            "secretResourceVersion": status.secret_resource_version,
            "keyFingerprints": status.key_fingerprints,
        }
    })
}

/// The object to PUT to the status subresource: the apiserver takes only `status` from it, and
/// the resourceVersion makes the write conditional.
fn put_body(ss: &SealedSecret, status: &SealedSecretStatus) -> SealedSecret {
    let mut obj = SealedSecret::new(&ss.name_any(), ss.spec.clone());
    obj.metadata.namespace = ss.namespace();
    obj.metadata.resource_version = ss.metadata.resource_version.clone();
    obj.status = Some(status.clone());
    obj
}

/// PUT the status, conditional on the cached object's version; on a conflict (the cache is
/// behind) read the object once and, if it is still this generation, put the status computed
/// against it.
async fn put_status(
    api: &Api<SealedSecret>,
    ss: &SealedSecret,
    outcome: &Outcome,
    status: SealedSecretStatus,
    now: &Time,
) -> Result<(), kube::Error> {
    let name = ss.name_any();
    let pp = PostParams::default();
    match api.replace_status(&name, &pp, &put_body(ss, &status)).await {
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let fresh = api.get_status(&name).await?;
            if fresh.metadata.generation != ss.metadata.generation {
                // A newer generation is on its way to a reconcile of its own.
                return Ok(());
            }
            match next_status(
                fresh.status.as_ref(),
                fresh.metadata.generation,
                outcome,
                now,
            ) {
                Some(status) => api
                    .replace_status(&name, &pp, &put_body(&fresh, &status))
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        }
        r => r.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn synced_outcome(rv: &str, fps: &[&str]) -> Outcome {
        Outcome::Synced {
            secret_version: rv.into(),
            opened_by: fps.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn object(generation: i64, status: Option<SealedSecretStatus>) -> SealedSecret {
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.generation = Some(generation);
        ss.status = status;
        ss
    }

    #[test]
    fn first_success_writes_everything() {
        let s = next_status(None, Some(1), &synced_outcome("10", &["fp"]), &time(100)).unwrap();
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(s.secret_resource_version.as_deref(), Some("10"));
        assert_eq!(s.key_fingerprints, ["fp"]);
        let c = &s.conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Synced", "True"));
        assert_eq!(c.message, None);
        assert_eq!(c.last_transition_time, Some(time(100)));
    }

    #[test]
    fn same_outcome_again_writes_nothing() {
        let old = next_status(None, Some(1), &synced_outcome("10", &["fp"]), &time(100));
        let again = next_status(
            old.as_ref(),
            Some(1),
            &synced_outcome("10", &["fp"]),
            &time(200),
        );
        assert_eq!(again, None);
        let failed = next_status(None, Some(1), &Outcome::Failed("no key".into()), &time(100));
        let again = next_status(
            failed.as_ref(),
            Some(1),
            &Outcome::Failed("no key".into()),
            &time(200),
        );
        assert_eq!(again, None);
    }

    #[test]
    fn each_changed_field_writes_and_only_a_flip_moves_the_transition_time() {
        let old = next_status(None, Some(1), &synced_outcome("10", &["fp"]), &time(100));
        for (generation, outcome) in [
            (Some(2), synced_outcome("10", &["fp"])),
            (Some(1), synced_outcome("11", &["fp"])),
            (Some(1), synced_outcome("10", &["other"])),
        ] {
            let s = next_status(old.as_ref(), generation, &outcome, &time(200))
                .expect("a changed field is written");
            assert_eq!(s.conditions[0].last_transition_time, Some(time(100)));
            assert_eq!(s.conditions[0].last_update_time, Some(time(200)));
        }
        let flipped = next_status(
            old.as_ref(),
            Some(1),
            &Outcome::Failed("x".into()),
            &time(300),
        )
        .unwrap();
        let c = &flipped.conditions[0];
        assert_eq!(c.status, "False");
        assert_eq!(c.message.as_deref(), Some("x"));
        assert_eq!(c.last_transition_time, Some(time(300)));
        // A failure drops the Secret version and keeps the keys that opened it before.
        assert_eq!(flipped.secret_resource_version, None);
        assert_eq!(flipped.key_fingerprints, ["fp"]);
        let new_message = next_status(
            Some(&flipped),
            Some(1),
            &Outcome::Failed("y".into()),
            &time(400),
        )
        .unwrap();
        assert_eq!(
            new_message.conditions[0].last_transition_time,
            Some(time(300))
        );
    }

    #[test]
    fn other_conditions_are_kept_after_synced() {
        let mut old = next_status(None, Some(1), &synced_outcome("10", &[]), &time(1)).unwrap();
        old.conditions.insert(
            0,
            SealedSecretCondition {
                type_: "Other".into(),
                status: "True".into(),
                ..SealedSecretCondition::default()
            },
        );
        let s = next_status(Some(&old), Some(2), &synced_outcome("10", &[]), &time(2)).unwrap();
        let types: Vec<_> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Synced", "Other"]);
    }

    #[test]
    fn only_a_synced_status_of_this_generation_proves_a_version() {
        let synced_status =
            next_status(None, Some(3), &synced_outcome("10", &["fp"]), &time(1)).unwrap();
        assert_eq!(
            synced_version(&object(3, Some(synced_status.clone()))),
            Some("10")
        );
        assert_eq!(
            synced_version(&object(4, Some(synced_status))),
            None,
            "stale"
        );
        let failed = next_status(None, Some(3), &Outcome::Failed("x".into()), &time(1)).unwrap();
        assert_eq!(synced_version(&object(3, Some(failed))), None);
        assert_eq!(synced_version(&object(3, None)), None);
    }

    #[test]
    fn in_sync_needs_a_proven_version_equal_to_the_current_one() {
        assert!(in_sync(Some("5"), None, Some("5")));
        assert!(in_sync(None, Some("5"), Some("5")));
        assert!(in_sync(Some("4"), Some("5"), Some("5")));
        assert!(!in_sync(Some("4"), Some("4"), Some("5")), "changed since");
        assert!(!in_sync(Some("5"), None, None), "Secret gone");
        assert!(!in_sync(None, None, Some("5")), "nothing proves it");
    }
}
