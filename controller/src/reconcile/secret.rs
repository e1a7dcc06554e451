//! Writing the Secret: create it, or bring an existing one in line when it is ours to change
//! (owned, or annotated managed/patch), with upstream's merge rules.

use std::collections::BTreeMap;

use common::annotations::{MANAGED_ANNOTATION, PATCH_ANNOTATION, annotation_is_true};
use common::crd::SealedSecret;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::api::{Api, ObjectMeta, PartialObjectMeta, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use super::error::{Error, IMMUTABLE_MESSAGE, api_message};
use super::key_of;
use crate::context::Context;
use crate::events::object_ref_of;

/// One namespace's Secret metadata cache (none with `--skip-recreate`), usable once the Secret
/// watch has listed everything.
pub struct SecretCache {
    store: Option<Store<PartialObjectMeta<Secret>>>,
    synced: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SecretCache {
    /// A cache over `store`, trusted once `synced` is set.
    pub fn new(
        store: Option<Store<PartialObjectMeta<Secret>>>,
        synced: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        Self { store, synced }
    }

    /// The synced store; `None` right after a start, when its empty answers would be wrong.
    fn synced(&self) -> Option<&Store<PartialObjectMeta<Secret>>> {
        self.store
            .as_ref()
            .filter(|_| self.synced.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The cached metadata of Secret `ns/name`: `None` when the cache cannot tell, `Some(None)`
    /// when it has no such Secret.
    fn lookup(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<Option<std::sync::Arc<PartialObjectMeta<Secret>>>> {
        self.synced()
            .map(|store| store.get(&ObjectRef::new(name).within(ns)))
    }
}

/// The Secret's current resourceVersion, from the synced metadata cache or else the API.
pub async fn current_version(
    ctx: &Context,
    cache: &SecretCache,
    ss: &SealedSecret,
) -> Result<Option<String>, Error> {
    let (ns, name) = key_of(ss);
    match cache.lookup(&ns, &name) {
        Some(meta) => Ok(meta.and_then(|m| m.metadata.resource_version.clone())),
        None => {
            let meta = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
                .get_metadata_opt(&name)
                .await?;
            Ok(meta.and_then(|m| m.metadata.resource_version))
        }
    }
}

/// Write `desired` for `ss`; returns the written (or unchanged) Secret.
pub async fn write(
    ctx: &Context,
    cache: &SecretCache,
    ss: &SealedSecret,
    desired: &Secret,
) -> Result<Secret, Error> {
    let (ns, name) = key_of(ss);
    let reference = object_ref_of(ss);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);

    // With a synced Secret cache that has no such Secret, create without asking first (a cold
    // start then costs one write instead of a read and a write); a stale cache answers 409 and we
    // fall back to reading it.
    let known_absent = matches!(cache.lookup(&ns, &name), Some(None));
    let existing = if known_absent {
        None
    } else {
        match api.get_opt(&name).await {
            Ok(s) => s,
            Err(e) => return Err(update_error(ctx, &ns, &reference, e).await),
        }
    };
    let Some(existing) = existing else {
        return match api
            .create(&PostParams::default(), &fresh(&ns, &name, desired))
            .await
        {
            Ok(s) => Ok(s),
            Err(kube::Error::Api(conflict)) if conflict.code == 409 && known_absent => {
                match api.get_opt(&name).await {
                    Ok(Some(existing)) => update_existing(ctx, ss, &api, existing, desired).await,
                    // Created and deleted again meanwhile: the retry starts over.
                    Ok(None) => {
                        let e = kube::Error::Api(conflict);
                        Err(update_error(ctx, &ns, &reference, e).await)
                    }
                    Err(e) => Err(update_error(ctx, &ns, &reference, e).await),
                }
            }
            Err(e) => Err(update_error(ctx, &ns, &reference, e).await),
        };
    };
    update_existing(ctx, ss, &api, existing, desired).await
}

/// A new Secret `ns/name` as `desired` describes it.
fn fresh(ns: &str, name: &str, desired: &Secret) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
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
    }
}

/// Count, report and convert a failed Secret read or write.
async fn update_error(
    ctx: &Context,
    ns: &str,
    reference: &ObjectReference,
    e: kube::Error,
) -> Error {
    ctx.metrics.error("update", ns);
    ctx.recorder
        .warn(reference, "ErrUpdateFailed", &api_message(&e))
        .await;
    e.into()
}

/// Bring an existing Secret in line with the desired one, if it is ours to change.
async fn update_existing(
    ctx: &Context,
    ss: &SealedSecret,
    api: &Api<Secret>,
    existing: Secret,
    desired: &Secret,
) -> Result<Secret, Error> {
    let (ns, name) = key_of(ss);
    let reference = object_ref_of(ss);
    let owned = is_controlled_by(&existing, ss);
    let managed = annotation_is_true(existing.metadata.annotations.as_ref(), MANAGED_ANNOTATION);
    let patch = annotation_is_true(existing.metadata.annotations.as_ref(), PATCH_ANNOTATION);
    if !owned && !managed && !patch {
        ctx.metrics.error("unmanaged", &ns);
        ctx.recorder
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
            ctx.metrics.error("update", &ns);
            let immutable = existing.immutable == Some(true)
                || e.to_string()
                    .contains("field is immutable when `immutable` is set");
            let message = if immutable {
                format!("Error updating {ns}/{name}: {IMMUTABLE_MESSAGE}")
            } else {
                api_message(&e)
            };
            ctx.recorder
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
}
