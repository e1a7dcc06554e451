//! Writing the Secret: create it, or bring an existing one in line when it is ours to change
//! (owned, or annotated managed/patch), with upstream's merge rules.

use std::collections::BTreeMap;

use common::annotations::{MANAGED_ANNOTATION, PATCH_ANNOTATION, annotation_is_true};
use common::crd::SealedSecret;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::api::{Api, ObjectMeta, PartialObjectMeta, Patch, PatchParams, PostParams};
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
    synced: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// `patch` on Secrets was refused here (upstream's RBAC grants `get` and `update` only):
    /// updates read and PUT from then on.
    patch_forbidden: std::sync::atomic::AtomicBool,
}

impl SecretCache {
    /// A cache over `store`, trusted once `synced` is set.
    pub fn new(
        store: Option<Store<PartialObjectMeta<Secret>>>,
        synced: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    ) -> Self {
        Self {
            store,
            synced,
            patch_forbidden: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The synced store; `None` right after a start, when its empty answers would be wrong.
    fn synced(&self) -> Option<&Store<PartialObjectMeta<Secret>>> {
        self.store.as_ref().filter(|_| *self.synced.borrow())
    }

    /// Wait until the Secret watch has listed everything (at once with `--skip-recreate`), as
    /// upstream waits for its informers before any work: a reconcile that started earlier would
    /// read its Secret from the API instead (the initial SealedSecret list is yielded as it is
    /// parsed, so reconciles start while the Secret list is still arriving).
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        // The sender lives as long as this cache: `wait_for` cannot fail here.
        let _ = rx.wait_for(|synced| *synced).await;
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
            tracing::debug!(namespace = %ns, name = %name, "Secret cache not synced; reading the Secret's version");
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
    // start then costs one write instead of a read and a write); a stale cache, or a Secret of
    // that name that is not ours (the cache holds only Secrets that may be), answers 409 and we
    // fall back to reading it.
    let cached = cache.lookup(&ns, &name);
    let known_absent = matches!(cached, Some(None));
    // With the Secret in the cache as one we replace wholesale (owned or managed, not patch
    // mode), update it without reading it first: a JSON patch conditional on the cached
    // resourceVersion. A stale cache answers 409 (or 404) and we fall back to reading it.
    if let Some(Some(meta)) = &cached
        && !cache
            .patch_forbidden
            .load(std::sync::atomic::Ordering::Relaxed)
        && let Some(patch) = replace_patch(meta, ss, desired)
    {
        match api.patch(&name, &PatchParams::default(), &patch).await {
            Ok(s) => return Ok(s),
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {
                tracing::debug!(namespace = %ns, name = %name, code = e.code, "Secret cache behind; reading the Secret");
            }
            Err(kube::Error::Api(e)) if e.code == 403 => {
                tracing::info!(namespace = %ns, error = %e.message, "Secret patch forbidden; updating Secrets with get and update (upstream's RBAC)");
                cache
                    .patch_forbidden
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => return Err(replace_error(ctx, ss, &reference, false, e).await),
        }
    }
    let existing = if known_absent {
        None
    } else {
        tracing::debug!(namespace = %ns, name = %name, cached = cached.is_some(), "reading the Secret before its update");
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
                tracing::debug!(namespace = %ns, name = %name, "Secret cache behind (create conflicts); reading the Secret");
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
            Err(replace_error(ctx, ss, &reference, existing.immutable == Some(true), e).await)
        }
    }
}

/// Count, report and convert a failed update of an existing Secret (immutable ones by name).
async fn replace_error(
    ctx: &Context,
    ss: &SealedSecret,
    reference: &ObjectReference,
    known_immutable: bool,
    e: kube::Error,
) -> Error {
    let (ns, name) = key_of(ss);
    ctx.metrics.error("update", &ns);
    let immutable = known_immutable
        || e.to_string()
            .contains("field is immutable when `immutable` is set");
    let message = if immutable {
        format!("Error updating {ns}/{name}: {IMMUTABLE_MESSAGE}")
    } else {
        api_message(&e)
    };
    ctx.recorder
        .warn(reference, "ErrUpdateFailed", &message)
        .await;
    if immutable {
        Error::Immutable
    } else {
        e.into()
    }
}

/// The JSON patch that does what [`merge_into`] (not in patch mode) and a PUT do to the Secret
/// the cache describes as `meta`, conditional on its cached resourceVersion; `None` when the
/// cache cannot tell that the Secret is ours to replace (not owned and not managed, or in patch
/// mode, whose merge needs the current values).
fn replace_patch(
    meta: &PartialObjectMeta<Secret>,
    ss: &SealedSecret,
    desired: &Secret,
) -> Option<Patch<()>> {
    let annotations = meta.metadata.annotations.as_ref();
    let uid = ss.meta().uid.as_deref()?;
    let owned = meta
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid && o.kind == "SealedSecret");
    let managed = annotation_is_true(annotations, MANAGED_ANNOTATION);
    if annotation_is_true(annotations, PATCH_ANNOTATION) || !(owned || managed) {
        return None;
    }
    let rv = meta.metadata.resource_version.as_deref()?;
    let d = &desired.metadata;
    // `add` sets a member whether or not it exists; absent and empty are the same to the API.
    let ops = serde_json::json!([
        { "op": "replace", "path": "/metadata/resourceVersion", "value": rv },
        { "op": "add", "path": "/metadata/labels", "value": d.labels.clone().unwrap_or_default() },
        { "op": "add", "path": "/metadata/annotations", "value": d.annotations.clone().unwrap_or_default() },
        { "op": "add", "path": "/metadata/ownerReferences", "value": d.owner_references.clone().unwrap_or_default() },
        { "op": "add", "path": "/data", "value": desired.data.clone().unwrap_or_default() },
        // A PUT without `type` is defaulted to Opaque.
        { "op": "add", "path": "/type", "value": desired.type_.as_deref().unwrap_or("Opaque") },
    ]);
    serde_json::from_value(ops).ok().map(Patch::Json)
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

    fn cached(owner_uid: Option<&str>, ann: &[(&str, &str)]) -> PartialObjectMeta<Secret> {
        use kube::core::PartialObjectMetaExt as _;
        ObjectMeta {
            name: Some("s".into()),
            namespace: Some("ns".into()),
            resource_version: Some("42".into()),
            owner_references: owner_uid.map(|uid| {
                vec![
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        api_version: "bitnami.com/v1alpha1".into(),
                        kind: "SealedSecret".into(),
                        name: "s".into(),
                        uid: uid.into(),
                        controller: Some(true),
                        ..Default::default()
                    },
                ]
            }),
            annotations: Some(
                ann.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
        .into_request_partial::<Secret>()
    }

    fn sealed_secret(uid: &str) -> SealedSecret {
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.namespace = Some("ns".into());
        ss.metadata.uid = Some(uid.into());
        ss
    }

    #[test]
    fn replace_patch_only_for_secrets_the_cache_shows_are_ours_to_replace() {
        let ss = sealed_secret("u1");
        let desired = secret(&[("foo", "bar")], &[("l", "v")], &[]);
        let ops = |p: Option<Patch<()>>| match p {
            Some(Patch::Json(p)) => serde_json::to_value(p).unwrap(),
            other => panic!("expected a JSON patch, got {other:?}"),
        };
        let owned = ops(replace_patch(&cached(Some("u1"), &[]), &ss, &desired));
        assert_eq!(
            owned[0],
            serde_json::json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "42"}),
            "conditional on the cached version"
        );
        let by_path = |path: &str| {
            owned
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["path"] == path)
                .map(|o| o["value"].clone())
                .unwrap()
        };
        assert_eq!(by_path("/data"), serde_json::json!({"foo": "YmFy"}));
        assert_eq!(by_path("/metadata/labels"), serde_json::json!({"l": "v"}));
        assert_eq!(by_path("/metadata/annotations"), serde_json::json!({}));
        assert_eq!(by_path("/type"), serde_json::json!("Opaque"));
        let managed = cached(None, &[(MANAGED_ANNOTATION, "true")]);
        assert!(replace_patch(&managed, &ss, &desired).is_some());
        // Someone else's Secret, another SealedSecret's, or patch mode (a merge with the current
        // values): read it first.
        assert!(replace_patch(&cached(None, &[]), &ss, &desired).is_none());
        assert!(replace_patch(&cached(Some("other"), &[]), &ss, &desired).is_none());
        let patch_mode = cached(Some("u1"), &[(PATCH_ANNOTATION, "true")]);
        assert!(replace_patch(&patch_mode, &ss, &desired).is_none());
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
