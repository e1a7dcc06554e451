//! The README's demo: a real control plane and node, the chart installed with default values (the
//! controller a real Pod from an image built without a registry, Ready through its own probe),
//! kubeseal sealing through the chart's Service and the apiserver's service proxy, and the Secret
//! the controller unseals. Run it with `bash tests/demo.sh`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use sealed_secrets_tests::{TempDir, admin_client, cluster, wait_for_value};

const NS: &str = "kube-system";
/// The chart's object names for release `sealed-secrets` (upstream's naming).
const NAME: &str = "sealed-secrets";
const WAIT: Duration = Duration::from_secs(60);

fn step(msg: &str) {
    eprintln!("\n==> {msg}");
}

fn repo() -> PathBuf {
    std::env::var_os("SSRS_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// A binary built next to this one (`target/debug/<name>`).
fn bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the demo binary")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: run `cargo build --workspace --bins` first",
            path.display()
        );
    }
    Ok(path)
}

/// Install the chart with `tests/chart/node.py` (Helm's engine, Helm's install order) and wait
/// until the Deployment's Pods are Ready; returns the Pods (JSON).
fn install_chart() -> Result<serde_json::Value> {
    let venv = std::process::Command::new("bash")
        .arg(repo().join("tests/chart/venv.sh"))
        .output()
        .context("running tests/chart/venv.sh")?;
    if !venv.status.success() {
        bail!(
            "tests/chart/venv.sh failed: {}",
            String::from_utf8_lossy(&venv.stderr)
        );
    }
    let python = PathBuf::from(String::from_utf8(venv.stdout)?.trim()).join("bin/python");
    let out = std::process::Command::new(python)
        .arg(repo().join("tests/chart/node.py"))
        .args(["install", NS, "--name", NAME])
        .env("KUBECONFIG", &cluster().kubeconfig)
        .output()
        .context("installing the chart")?;
    if !out.status.success() {
        bail!(
            "tests/chart/node.py install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let kubeseal = bin("kubeseal")?;
    step("control plane (kube-apiserver + etcd + kube-controller-manager 1.20) and a kubelet node");
    let c = cluster();
    eprintln!(
        "    apiserver {}  (admin kubeconfig {})",
        c.apiserver,
        c.kubeconfig.display()
    );
    let client = admin_client().await?;

    step(
        "the controller image (built from the release binaries, no registry) into the node's containerd",
    );
    let archives = std::env::var("SSRS_DEMO_IMAGES")
        .context("SSRS_DEMO_IMAGES (the image archives) is not set: run bash tests/demo.sh")?;
    let archives: Vec<PathBuf> = archives.split_whitespace().map(PathBuf::from).collect();
    let refs: Vec<&Path> = archives.iter().map(PathBuf::as_path).collect();
    c.import_images(&refs)?;
    for a in &archives {
        eprintln!("    imported {}", a.display());
    }

    step(
        "install the chart: release sealed-secrets in kube-system, default values (Helm's engine, Helm's install order)",
    );
    let pods = install_chart()?;
    for p in pods.as_array().into_iter().flatten() {
        eprintln!(
            "    Pod {}/{} on {}: {}, Ready through its /readyz probe",
            p["metadata"]["namespace"].as_str().unwrap_or_default(),
            p["metadata"]["name"].as_str().unwrap_or_default(),
            p["spec"]["nodeName"].as_str().unwrap_or_default(),
            p["status"]["phase"].as_str().unwrap_or_default(),
        );
    }

    step("kubeseal --fetch-cert (no flags: it finds the chart's Service in kube-system)");
    let dir = TempDir::new("ssrs-demo");
    let out = std::process::Command::new(&kubeseal)
        .arg("--fetch-cert")
        .env("KUBECONFIG", &c.kubeconfig)
        .output()?;
    if !out.status.success() {
        bail!(
            "kubeseal --fetch-cert failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprint!("    {}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{}", indent(&String::from_utf8_lossy(&out.stdout)));

    step("seal a Secret with kubeseal (certificate fetched through the apiserver's service proxy)");
    let app_ns = "demo";
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    if namespaces.get_opt(app_ns).await?.is_none() {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(serde_json::json!({"metadata": {"name": app_ns}}))?,
            )
            .await?;
    }
    let secret_yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-credentials\n  namespace: {app_ns}\ntype: Opaque\nstringData:\n  username: admin\n  password: correct-horse-battery-staple\n"
    );
    eprintln!("    input Secret:\n{}", indent(&secret_yaml));
    let input = dir.path().join("secret.yaml");
    std::fs::write(&input, &secret_yaml)?;
    let out = std::process::Command::new(&kubeseal)
        .args(["-o", "yaml", "-f"])
        .arg(&input)
        .env("KUBECONFIG", &c.kubeconfig)
        .output()?;
    if !out.status.success() {
        bail!("kubeseal failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let sealed = String::from_utf8(out.stdout)?;
    eprintln!("    kubeseal -o yaml < secret.yaml →\n{}", indent(&sealed));

    step("apply the SealedSecret; the controller unseals it");
    let ss: common::crd::SealedSecret = common::documents::parse_sealed_secrets(sealed.as_bytes())?
        .into_iter()
        .next()
        .context("kubeseal printed no SealedSecret")?;
    Api::<common::crd::SealedSecret>::namespaced(client.clone(), app_ns)
        .create(&PostParams::default(), &ss)
        .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), app_ns);
    let secret = wait_for_value("the unsealed Secret", WAIT, || {
        let secrets = secrets.clone();
        async move { Ok(secrets.get_opt("db-credentials").await?) }
    })
    .await?;
    eprintln!(
        "    Secret {app_ns}/db-credentials (owner: {:?}):",
        secret
            .metadata
            .owner_references
            .unwrap_or_default()
            .iter()
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect::<Vec<_>>()
    );
    for (k, v) in secret.data.unwrap_or_default() {
        eprintln!("      {k}: {}", String::from_utf8_lossy(&v.0));
    }
    let ss_api = Api::<common::crd::SealedSecret>::namespaced(client.clone(), app_ns);
    let status = wait_for_value("status Synced", WAIT, || {
        let ss_api = ss_api.clone();
        async move {
            Ok(ss_api.get("db-credentials").await?.status.filter(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Synced" && c.status == "True")
            }))
        }
    })
    .await?;
    eprintln!(
        "    SealedSecret status: {}",
        serde_json::to_string(&status)?
    );
    step("done: the control plane is stopped when this program exits");
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}
