//! Sealing scopes and the OAEP label that binds a ciphertext to a name and namespace. The scope
//! annotations themselves are in [`crate::annotations`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::annotations::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};

/// How tightly a ciphertext is bound to where it may be unsealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SealingScope {
    /// Bound to namespace and name (label `"<namespace>/<name>"`).
    #[default]
    Strict,
    /// Bound to the namespace (label `"<namespace>"`): the SealedSecret may be renamed.
    NamespaceWide,
    /// Not bound (empty label): unsealable under any name in any namespace.
    ClusterWide,
}

impl SealingScope {
    /// The flag and annotation spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SealingScope::Strict => "strict",
            SealingScope::NamespaceWide => "namespace-wide",
            SealingScope::ClusterWide => "cluster-wide",
        }
    }

    /// The scope the annotations select: cluster-wide wins over namespace-wide; the value must be
    /// exactly `"true"`.
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Self {
        let is_true = |k: &str| {
            annotations
                .and_then(|a| a.get(k))
                .is_some_and(|v| v == "true")
        };
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            SealingScope::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            SealingScope::NamespaceWide
        } else {
            SealingScope::Strict
        }
    }

    /// Rewrite the scope annotations for this scope: both are removed, then the one for this scope
    /// set (upstream's `UpdateScopeAnnotations`).
    pub fn apply_to(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        match self {
            SealingScope::Strict => {}
            SealingScope::NamespaceWide => {
                annotations.insert(NAMESPACE_WIDE_ANNOTATION.into(), "true".into());
            }
            SealingScope::ClusterWide => {
                annotations.insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
            }
        }
    }
}

impl fmt::Display for SealingScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown scope name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of: strict, namespace-wide, cluster-wide")]
pub struct ScopeParseError;

impl FromStr for SealingScope {
    type Err = ScopeParseError;

    /// `""` is strict, as upstream's `Set("")`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "strict" => Ok(SealingScope::Strict),
            "namespace-wide" => Ok(SealingScope::NamespaceWide),
            "cluster-wide" => Ok(SealingScope::ClusterWide),
            _ => Err(ScopeParseError),
        }
    }
}

/// The OAEP label for a value sealed for `namespace`/`name` in `scope`.
pub fn encryption_label(namespace: &str, name: &str, scope: SealingScope) -> Vec<u8> {
    match scope {
        SealingScope::ClusterWide => Vec::new(),
        SealingScope::NamespaceWide => namespace.as_bytes().to_vec(),
        SealingScope::Strict => format!("{namespace}/{name}").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn test_sealing_scope() {
        for s in ["strict", "namespace-wide", "cluster-wide"] {
            assert_eq!(s.parse::<SealingScope>().unwrap().to_string(), s);
        }
        assert_eq!("".parse::<SealingScope>(), Ok(SealingScope::Strict));
        assert_eq!(
            "global".parse::<SealingScope>().unwrap_err().to_string(),
            "must be one of: strict, namespace-wide, cluster-wide"
        );
    }

    #[test]
    fn test_encryption_label() {
        assert_eq!(
            encryption_label("myns", "myname", SealingScope::Strict),
            b"myns/myname"
        );
        assert_eq!(
            encryption_label("myns", "myname", SealingScope::NamespaceWide),
            b"myns"
        );
        assert_eq!(
            encryption_label("myns", "myname", SealingScope::ClusterWide),
            b""
        );
    }

    #[test]
    fn test_cluster_wide_namespace_wide_and_both() {
        let cw = ann(&[(CLUSTER_WIDE_ANNOTATION, "true")]);
        let nw = ann(&[(NAMESPACE_WIDE_ANNOTATION, "true")]);
        let both = ann(&[
            (CLUSTER_WIDE_ANNOTATION, "true"),
            (NAMESPACE_WIDE_ANNOTATION, "true"),
        ]);
        assert_eq!(
            SealingScope::from_annotations(Some(&cw)),
            SealingScope::ClusterWide
        );
        assert_eq!(
            SealingScope::from_annotations(Some(&nw)),
            SealingScope::NamespaceWide
        );
        assert_eq!(
            SealingScope::from_annotations(Some(&both)),
            SealingScope::ClusterWide
        );
        assert_eq!(SealingScope::from_annotations(None), SealingScope::Strict);
        let upper = ann(&[(CLUSTER_WIDE_ANNOTATION, "TRUE")]);
        assert_eq!(
            SealingScope::from_annotations(Some(&upper)),
            SealingScope::Strict
        );
    }

    #[test]
    fn apply_to_replaces_both_annotations() {
        let mut a = ann(&[(CLUSTER_WIDE_ANNOTATION, "true"), ("other", "x")]);
        SealingScope::NamespaceWide.apply_to(&mut a);
        assert_eq!(
            a,
            ann(&[(NAMESPACE_WIDE_ANNOTATION, "true"), ("other", "x")])
        );
        SealingScope::Strict.apply_to(&mut a);
        assert_eq!(a, ann(&[("other", "x")]));
    }
}
