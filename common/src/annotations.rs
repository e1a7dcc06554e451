//! Every `sealedsecrets.bitnami.com/*` annotation and label, the last-applied annotations that must
//! never be copied into a SealedSecret, and upstream's rule for a boolean annotation.

use std::collections::BTreeMap;

/// Upstream's annotation and label prefix. Never used for anything upstream does not define: it may
/// claim a name later with another meaning.
pub const PREFIX: &str = "sealedsecrets.bitnami.com/";
/// The prefix of every annotation and label this project adds beyond upstream (docs/compatibility.md).
/// Upstream's controller ignores what it does not know, so objects carrying them still work there.
pub const EXT_PREFIX: &str = "sealed-secrets-rs.dev/";
/// `"true"` makes a SealedSecret cluster-wide (label `""`).
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// `"true"` makes a SealedSecret namespace-wide (label `"<namespace>"`).
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// `"true"` on an existing Secret lets the controller take it over.
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";
/// `"true"` on an existing Secret makes the controller merge into it.
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";
/// `"true"` in the template stops the controller from setting an ownerReference.
pub const SKIP_SET_OWNER_REFERENCES_ANNOTATION: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";
/// Label on key Secrets; `active` keys are loaded.
pub const SEALED_SECRETS_KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Keeps a key Secret's original `creationTimestamp` in a `kubeseal keys backup` file (ours).
pub const BACKUP_CREATED_ANNOTATION: &str = "sealed-secrets-rs.dev/backup-creation-timestamp";

/// kubectl's copy of the last applied object.
pub const KUBECTL_LAST_APPLIED_ANNOTATION: &str =
    "kubectl.kubernetes.io/last-applied-configuration";
/// kubecfg's copy of the last applied object.
pub const KUBECFG_LAST_APPLIED_ANNOTATION: &str = "kubecfg.ksonnet.io/last-applied-configuration";
/// Annotations that would leak the plaintext Secret into the SealedSecret (upstream v0.8.3).
pub const LAST_APPLIED_ANNOTATIONS: [&str; 2] = [
    KUBECTL_LAST_APPLIED_ANNOTATION,
    KUBECFG_LAST_APPLIED_ANNOTATION,
];

/// `true` only for the exact string `"true"` (upstream: `"TRUE"` is false).
pub fn annotation_is_true(annotations: Option<&BTreeMap<String, String>>, key: &str) -> bool {
    annotations
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_is_annotated_exactly_true() {
        let a: BTreeMap<String, String> =
            [(MANAGED_ANNOTATION, "true"), (PATCH_ANNOTATION, "TRUE")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert!(annotation_is_true(Some(&a), MANAGED_ANNOTATION));
        assert!(!annotation_is_true(Some(&a), PATCH_ANNOTATION));
        assert!(!annotation_is_true(None, MANAGED_ANNOTATION));
    }
}
