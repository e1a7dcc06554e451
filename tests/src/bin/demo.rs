//! The README's demo: a real control plane, the chart's CRD and RBAC, the controller running as
//! the chart's ServiceAccount inside the pod network, kubeseal sealing through the apiserver's
//! service proxy, and the Secret the controller unseals. Run it with `bash tests/demo.sh`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery;
use sealed_secrets_tests::{
    Spawn, TempDir, admin_client, cluster, ensure_crd, get_text, register_pod_service,
    service_account_kubeconfig, wait_for_value,
};

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

/// Render the chart (release `sealed-secrets` in `kube-system`) with Helm's engine.
fn render_chart() -> Result<Vec<serde_json::Value>> {
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
        .arg(repo().join("tests/chart/render.py"))
        .output()
        .context("rendering the chart")?;
    if !out.status.success() {
        bail!("render.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

async fn apply(client: &kube::Client, doc: &serde_json::Value) -> Result<String> {
    let obj: DynamicObject = serde_json::from_value(doc.clone())?;
    let types = obj
        .types
        .clone()
        .context("manifest without apiVersion/kind")?;
    let gvk = GroupVersionKind::try_from(&types)?;
    let (resource, caps) = discovery::pinned_kind(client, &gvk).await?;
    let name = obj.metadata.name.clone().context("manifest without name")?;
    let api: Api<DynamicObject> = if caps.scope == discovery::Scope::Namespaced {
        Api::namespaced_with(
            client.clone(),
            obj.metadata.namespace.as_deref().unwrap_or(NS),
            &resource,
        )
    } else {
        Api::all_with(client.clone(), &resource)
    };
    api.patch(
        &name,
        &PatchParams::apply("sealed-secrets-demo").force(),
        &Patch::Apply(&obj),
    )
    .await
    .with_context(|| format!("applying {} {name}", gvk.kind))?;
    Ok(format!("{}/{name}", gvk.kind))
}

#[tokio::main]
async fn main() -> Result<()> {
    let kubeseal = bin("kubeseal")?;
    let controller_bin = bin("controller")?;
    step("control plane (kube-apiserver + etcd + kube-controller-manager 1.20)");
    let c = cluster();
    eprintln!(
        "    apiserver {}  (admin kubeconfig {})",
        c.apiserver,
        c.kubeconfig.display()
    );
    let client = admin_client().await?;

    step("install the CRD and the chart's RBAC (rendered by Helm's engine)");
    ensure_crd(&client).await?;
    eprintln!("    CustomResourceDefinition/sealedsecrets.bitnami.com");
    for doc in render_chart()? {
        let kind = doc["kind"].as_str().unwrap_or_default();
        // No kubelet here: the controller runs as a local process instead of the Deployment,
        // registered behind a Service of the same name by `register_pod_service`.
        if kind == "Deployment" || kind == "Service" {
            continue;
        }
        eprintln!("    {}", apply(&client, &doc).await?);
    }
    step(
        "start the controller as ServiceAccount kube-system/sealed-secrets, inside the pod network",
    );
    let dir = TempDir::new("ssrs-demo");
    let sa_kubeconfig = service_account_kubeconfig(&client, NS, NAME, dir.path()).await?;
    let port = 8080;
    let mut controller = Spawn::new(controller_bin)
        .args([
            format!("--listen-addr={}:{port}", c.pod_ip),
            "--listen-metrics-addr=127.0.0.1:0".into(),
            "--leader-elect".into(),
            format!("--leader-election-name={NAME}"),
        ])
        .env("POD_NAMESPACE", NS)
        .kubeconfig(&sa_kubeconfig)
        .in_pod_network()
        .start("controller")?;
    let proxy = register_pod_service(&client, NS, NAME, port).await?;
    // The chart's Service carries these labels; kubeseal finds the controller by them (its default
    // --controller-name is upstream's sealed-secrets-controller).
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), NS)
        .patch(
            NAME,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({ "metadata": { "labels": {
                "app.kubernetes.io/name": "sealed-secrets",
                "app.kubernetes.io/instance": "sealed-secrets",
                "app.kubernetes.io/part-of": "sealed-secrets",
            } } })),
        )
        .await?;
    let cert = wait_for_value(
        "the controller's certificate through the service proxy",
        WAIT,
        || {
            let client = client.clone();
            let path = format!("{proxy}/v1/cert.pem");
            async move {
                Ok(get_text(&client, &path)
                    .await
                    .ok()
                    .filter(|t| t.contains("BEGIN CERTIFICATE")))
            }
        },
    )
    .await
    .with_context(|| {
        format!(
            "controller logs:\n{}{}",
            controller.stdout(),
            controller.stderr()
        )
    })?;
    eprintln!("    GET {proxy}/v1/cert.pem →\n{}", indent(&cert));

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
    .await
    .with_context(|| {
        format!(
            "controller logs:\n{}{}",
            controller.stdout(),
            controller.stderr()
        )
    })?;
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
    controller.stop(Duration::from_secs(10))?;
    step("done: the control plane is stopped when this program exits");
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}
