//! The namespace kubectl would use, read from the kubeconfig without contacting the cluster:
//! `-n`, else the current (or `--context`) context's namespace, else `default`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::KubeFlags;

#[derive(Deserialize, Default)]
struct Kubeconfig {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    #[serde(default)]
    context: Option<Context>,
}

#[derive(Deserialize, Default)]
struct Context {
    #[serde(default)]
    namespace: Option<String>,
}

/// The kubeconfig files client-go would load: `--kubeconfig`, else `$KUBECONFIG` (a path list),
/// else `~/.kube/config`.
fn kubeconfig_paths(flags: &KubeFlags) -> Vec<PathBuf> {
    if let Some(p) = &flags.kubeconfig {
        return vec![p.clone()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    std::env::var_os("HOME")
        .map(|h| vec![PathBuf::from(h).join(".kube").join("config")])
        .unwrap_or_default()
}

/// The namespace and whether it was explicit (`-n`), as client-go's `ClientConfig.Namespace()`.
pub fn namespace(flags: &KubeFlags) -> anyhow::Result<(String, bool)> {
    if let Some(ns) = &flags.namespace {
        return Ok((ns.clone(), true));
    }
    let mut current: Option<String> = flags.context.clone();
    let mut contexts: Vec<NamedContext> = Vec::new();
    for path in kubeconfig_paths(flags) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // A missing file is skipped, as client-go does (an explicit --kubeconfig that does not
            // exist only matters once the cluster is contacted).
            Err(_) => continue,
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut opts = serde_saphyr::Options::default();
        opts.with_snippet = false;
        let kc: Kubeconfig = if text.trim().is_empty() {
            Kubeconfig::default()
        } else {
            serde_saphyr::from_str_with_options(&text, opts).map_err(|e| {
                anyhow::anyhow!(
                    "cannot parse kubeconfig {}: {}",
                    path.display(),
                    common::documents::redact_message(&e.to_string())
                )
            })?
        };
        // First file to set a value wins, as client-go's merge.
        if current.is_none() {
            current = kc.current_context.filter(|c| !c.is_empty());
        }
        contexts.extend(kc.contexts.unwrap_or_default());
    }
    let ns = current
        .and_then(|c| contexts.into_iter().find(|nc| nc.name == c))
        .and_then(|nc| nc.context)
        .and_then(|c| c.namespace)
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_string());
    Ok((ns, false))
}
