//! The live-cluster proof of `--from-cluster` (`kubeseal edit`, `--keep-unchanged`): the values of
//! a SealedSecret file's items, read from the Secret the controller unsealed from the same bytes.
//!
//! Accepted only when the in-cluster SealedSecret of the same namespace and name has exactly the
//! file's `encryptedData` (byte-equal), is `Synced=True` at its current generation, and is the
//! controller owner of the Secret read; items that `spec.template.data` also defines are not
//! proven (the Secret holds the rendered template there). The controller is never asked anything.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::{Method, StatusCode};
use zeroize::Zeroizing;

use crate::cluster::Online;
use crate::config::Config;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The items' values, by name, as the cluster proves them. An error says why there is no proof.
pub fn from_cluster(
    config: &Config,
    namespace: &str,
    name: &str,
    items: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, Zeroizing<Vec<u8>>>> {
    let what = format!("SealedSecret {namespace}/{name}");
    let online = Online::connect(&config.kube)?;
    let get = |path: String| -> anyhow::Result<serde_json::Value> {
        let r = online.send(Method::GET, &path, "application/json", None)?;
        match r.status {
            StatusCode::OK => Ok(serde_json::from_slice(&r.body)?),
            StatusCode::NOT_FOUND => anyhow::bail!("--from-cluster: {path} not found"),
            s => anyhow::bail!("--from-cluster: GET {path}: {s}: {}", r.message()),
        }
    };
    let ss = get(format!(
        "/apis/bitnami.com/v1alpha1/namespaces/{namespace}/sealedsecrets/{name}"
    ))?;
    let str_at =
        |v: &serde_json::Value, p: &str| v.pointer(p).and_then(|x| x.as_str()).map(String::from);
    let in_cluster: BTreeMap<String, String> = ss
        .pointer("/spec/encryptedData")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    if &in_cluster != items {
        anyhow::bail!(
            "--from-cluster: the in-cluster {what} differs from the file (apply the file first, or the file is not what the cluster runs): no proof"
        );
    }
    let generation = ss.pointer("/metadata/generation").and_then(|g| g.as_i64());
    let observed = ss
        .pointer("/status/observedGeneration")
        .and_then(|g| g.as_i64());
    let synced = ss
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("type").and_then(|t| t.as_str()) == Some("Synced")
                    && c.get("status").and_then(|s| s.as_str()) == Some("True")
            })
        });
    if !(synced && generation.is_some() && generation == observed) {
        anyhow::bail!(
            "--from-cluster: the in-cluster {what} is not Synced at its generation: no proof"
        );
    }
    let uid = str_at(&ss, "/metadata/uid").unwrap_or_default();
    let secret = get(format!("/api/v1/namespaces/{namespace}/secrets/{name}"))?;
    let owned = secret
        .pointer("/metadata/ownerReferences")
        .and_then(|o| o.as_array())
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("uid").and_then(|u| u.as_str()) == Some(uid.as_str())
                    && r.get("controller").and_then(|c| c.as_bool()) == Some(true)
            })
        });
    if uid.is_empty() || !owned {
        anyhow::bail!(
            "--from-cluster: Secret {namespace}/{name} is not owned by the in-cluster {what}: no proof"
        );
    }
    let templated: Vec<String> = ss
        .pointer("/spec/template/data")
        .and_then(|d| d.as_object())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for key in items.keys().filter(|k| !templated.contains(k)) {
        if let Some(v) = secret
            .pointer(&format!(
                "/data/{}",
                key.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(|v| v.as_str())
            .and_then(|b| B64.decode(b).ok())
        {
            out.insert(key.clone(), Zeroizing::new(v));
        }
    }
    Ok(out)
}
