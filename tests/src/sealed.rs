//! Helpers shared by the tests that run this project's binaries against the control plane.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

use crate::wait_for;

/// A binary of this workspace in the debug target dir (`controller`, `kubeseal`). `tests/run.sh`
/// builds them (`cargo build --workspace --bins`) before `cargo test`.
pub fn workspace_bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug").join(name);
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace --bins` first (tests/run.sh does)",
        bin.display()
    );
    // Absolute and without `..` (the default is `<tests>/../target`): it also goes into Pod
    // hostPath volumes, which the apiserver refuses with `..` in them.
    std::fs::canonicalize(&bin).unwrap_or(bin)
}

/// Install the SealedSecret CRD generated from the Rust types (idempotent) and wait until the
/// apiserver serves it.
pub async fn ensure_crd(client: &kube::Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = common::crd::crd();
    api.patch(
        "sealedsecrets.bitnami.com",
        &PatchParams::apply("sealed-secrets-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .context("applying the SealedSecret CRD")?;
    wait_for("CRD established", Duration::from_secs(30), || {
        let api = api.clone();
        async move {
            let c = api.get("sealedsecrets.bitnami.com").await?;
            Ok(c.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        }
    })
    .await
}

/// The address a controller bound for `server` (`"http"` or `"metrics"`), read from its (text
/// format) log line `… msg="server listening" server=metrics addr=127.0.0.1:NNNN`.
pub fn controller_addr(logs: &str, server: &str) -> Option<String> {
    logs.lines()
        .filter(|l| l.contains("server listening") && l.contains(&format!(" server={server} ")))
        .filter_map(|l| l.split("addr=").nth(1))
        .map(|a| a.split_whitespace().next().unwrap_or_default().to_owned())
        .next()
}

/// `GET /metrics` of the controller whose logs are `logs` (its metrics address from
/// [`controller_addr`]).
pub fn controller_metrics(logs: &str) -> Result<String> {
    let addr = controller_addr(logs, "metrics").context("metrics address not in logs")?;
    let out = std::process::Command::new("curl")
        .args(["-sf", &format!("http://{addr}/metrics")])
        .output()
        .context("running curl")?;
    Ok(String::from_utf8(out.stdout)?)
}
