//! Support for tests against a real control plane (see tests/cluster/cluster.sh and docs/testing.md).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use sealed_secrets_tests::*;
//! let ns = TestNamespace::new("demo").await?;       // fresh namespace, deleted on drop
//! let client = ns.client();                          // admin kube::Client
//! wait_for("something", std::time::Duration::from_secs(10), || async { Ok(true) }).await?;
//! # Ok(()) }
//! ```

mod cluster;
pub mod faults;
mod process;
mod sealed;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Event, Namespace, ObjectReference,
    Pod, Secret, ServiceAccount,
};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

pub use cluster::{Cluster, Node, cluster, cluster_script};
pub use fixtures::TempDir;
pub use process::{Spawn, TestProcess};
pub use sealed::{controller_addr, controller_metrics, ensure_crd, workspace_bin};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique, DNS-label-safe suffix (`<pid-hex><counter><nanos>`), e.g. for object names.
pub fn unique_suffix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{n}{:05x}", std::process::id(), nanos & 0xfffff)
}

/// A `kube::Client` authenticated by the kubeconfig at `path`.
pub async fn client_from_kubeconfig(path: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))?;
    Client::try_from(config).context("building kube::Client")
}

/// An admin (`system:masters`) client for the shared cluster. Create one per test: a client is bound
/// to the tokio runtime it was first used on.
pub async fn admin_client() -> Result<Client> {
    client_from_kubeconfig(&cluster().kubeconfig).await
}

/// Polls `condition` every 200 ms until it returns `Ok(true)`; errors count as "not yet". Fails after
/// `timeout`, naming `what` and the last error.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut condition: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    wait_for_value(what, timeout, || {
        let fut = condition();
        async move { Ok(fut.await?.then_some(())) }
    })
    .await
}

/// Reads the object `name`, lets `change` edit it and replaces it; when someone else (the controller
/// writing its status, say) updated the object in between and the apiserver answers 409 Conflict,
/// reads it again and repeats the change, up to ten times. Returns the replaced object.
pub async fn replace_with<K, F>(api: &Api<K>, name: &str, mut change: F) -> Result<K>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    F: FnMut(&mut K),
{
    let mut attempts = 0;
    loop {
        let mut obj = api
            .get(name)
            .await
            .with_context(|| format!("reading {name} to replace it"))?;
        change(&mut obj);
        match api.replace(name, &PostParams::default(), &obj).await {
            Ok(replaced) => return Ok(replaced),
            Err(kube::Error::Api(e)) if e.code == 409 && attempts < 10 => attempts += 1,
            Err(e) => return Err(e).with_context(|| format!("replacing {name}")),
        }
    }
}

/// Like [`replace_with`], replacing the object with `new` (its resourceVersion taken from the object
/// read).
pub async fn replace_whole<K>(api: &Api<K>, name: &str, new: &K) -> Result<K>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    replace_with(api, name, |obj| {
        let rv = obj.meta().resource_version.clone();
        *obj = new.clone();
        obj.meta_mut().resource_version = rv;
    })
    .await
}

/// Waits until the Secret `name` exists (in `api`'s namespace) and returns it.
pub async fn wait_secret(api: &Api<Secret>, name: &str, timeout: Duration) -> Result<Secret> {
    wait_for_value(&format!("Secret {name}"), timeout, || async move {
        Ok(api.get_opt(name).await?)
    })
    .await
}

/// Waits until an Event with `reason` about the object `name` exists (in `api`'s namespace).
pub async fn wait_event(
    api: &Api<Event>,
    name: &str,
    reason: &str,
    timeout: Duration,
) -> Result<Event> {
    wait_for_value(
        &format!("event {reason} on {name}"),
        timeout,
        || async move {
            let list = api.list(&Default::default()).await?;
            Ok(list.items.into_iter().find(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
            }))
        },
    )
    .await
}

/// Like [`wait_for`], for conditions that produce a value: polls until `Ok(Some(v))`, returns `v`.
pub async fn wait_for_value<T, F, Fut>(what: &str, timeout: Duration, mut condition: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match condition().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() >= deadline {
            match last_err {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fresh namespace (`<prefix>-<unique>`) for one test, deleted when dropped (or by [`Self::delete`]).
pub struct TestNamespace {
    name: String,
    client: Client,
    deleted: bool,
}

impl TestNamespace {
    /// Creates the namespace with an admin client. `prefix` should be a short DNS label.
    pub async fn new(prefix: &str) -> Result<Self> {
        let client = admin_client().await?;
        let prefix: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let name = format!("{}-{}", prefix.trim_matches('-'), unique_suffix());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { "sealed-secrets-tests": "true" } }
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        // The ServiceAccount admission plugin is on (the node runs real Pods): a Pod is refused
        // until the serviceaccount controller has made the namespace's `default` ServiceAccount.
        // A controller-manager still recovering from a fault test's apiserver restart can take
        // longer than that (seen: > 30 s): after 10 s the test makes it, as the controller would.
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
        let made = wait_for(
            &format!("ServiceAccount {name}/default"),
            Duration::from_secs(10),
            || {
                let sas = sas.clone();
                async move { Ok(sas.get_opt("default").await?.is_some()) }
            },
        )
        .await;
        if made.is_err() {
            let sa: ServiceAccount =
                serde_json::from_value(serde_json::json!({ "metadata": { "name": "default" } }))?;
            match sas.create(&PostParams::default(), &sa).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating ServiceAccount {name}/default"));
                }
            }
        }
        Ok(Self {
            name,
            client,
            deleted: false,
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An admin client (clone of the one that created the namespace).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// `Api<K>` for this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace now (the namespace controller empties it in the background).
    pub async fn delete(mut self) -> Result<()> {
        self.deleted = true;
        delete_namespace(&self.client, &self.name).await
    }
}

async fn delete_namespace(client: &Client, name: &str) -> Result<()> {
    match Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting namespace {name}")),
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down: delete from a helper thread
        // with its own runtime and client.
        let name = self.name.clone();
        let result = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let client = admin_client().await?;
                delete_namespace(&client, &name).await
            })
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: cleaning up test namespace {}: {e:#}", self.name),
            Err(_) => eprintln!("warning: cleaning up test namespace {} panicked", self.name),
        }
    }
}

/// Path of the apiserver's service proxy for a service registered by [`register_pod_service`]:
/// `/api/v1/namespaces/<ns>/services/http:<name>:http/proxy` (append `/<path>`).
pub fn service_proxy_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/services/http:{name}:http/proxy")
}

/// Makes a process listening on `cluster().pod_ip:port` inside the pod netns reachable through the
/// apiserver's service proxy (what `tests/cluster/register-pod.sh` does): a Pod `<name>-pod` whose
/// `status.podIP(s)` is the netns address, a selector-less Service `<name>` with port `http`, and
/// Endpoints pointing at the Pod. Returns [`service_proxy_path`].
pub async fn register_pod_service(
    client: &Client,
    namespace: &str,
    name: &str,
    port: u16,
) -> Result<String> {
    let pod_ip = &cluster().pod_ip;
    let pod_name = format!("{name}-pod");
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": { "name": pod_name, "labels": { "app": name } },
        // Never scheduled (no scheduler has this name), so the node's kubelet never runs it; no
        // ServiceAccount token, so admission does not wait for the token Secret.
        "spec": {
            "schedulerName": "ssrs-never-scheduled",
            "automountServiceAccountToken": false,
            "containers": [{ "name": "main", "image": "ssrs.invalid/placeholder:never-pulled" }]
        }
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .with_context(|| format!("creating pod {namespace}/{pod_name}"))?;
    pods.patch_status(
        &pod_name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({
            "status": { "podIP": pod_ip, "podIPs": [{ "ip": pod_ip }] }
        })),
    )
    .await
    .with_context(|| format!("patching status.podIP of pod {namespace}/{pod_name}"))?;

    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "spec": { "ports": [{ "name": "http", "port": port, "targetPort": port, "protocol": "TCP" }] }
    }))?;
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &svc)
        .await
        .with_context(|| format!("creating service {namespace}/{name}"))?;

    let endpoints = Endpoints {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        subsets: Some(vec![EndpointSubset {
            addresses: Some(vec![EndpointAddress {
                ip: pod_ip.clone(),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    name: Some(pod_name.clone()),
                    namespace: Some(namespace.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ports: Some(vec![EndpointPort {
                name: Some("http".into()),
                port: i32::from(port),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
    };
    Api::<Endpoints>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &endpoints)
        .await
        .with_context(|| format!("creating endpoints {namespace}/{name}"))?;
    Ok(service_proxy_path(namespace, name))
}

/// GETs `path` (e.g. from [`service_proxy_path`]) on the apiserver and returns the body as text.
pub async fn get_text(client: &Client, path: &str) -> Result<String> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .with_context(|| format!("building GET {path}"))?;
    client
        .request_text(req)
        .await
        .with_context(|| format!("GET {path}"))
}

/// Creates ServiceAccount `namespace/name` (if missing), requests a token for it (TokenRequest API,
/// 1 h) and writes a kubeconfig using it to `dir/<name>.kubeconfig`. Returns that path. The account
/// has no permissions until the test grants some (RBAC).
pub async fn service_account_kubeconfig(
    client: &Client,
    namespace: &str,
    name: &str,
    dir: &Path,
) -> Result<PathBuf> {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    if sas.get_opt(name).await?.is_none() {
        let sa: ServiceAccount =
            serde_json::from_value(serde_json::json!({ "metadata": { "name": name } }))?;
        sas.create(&PostParams::default(), &sa)
            .await
            .with_context(|| format!("creating service account {namespace}/{name}"))?;
    }
    // Untyped JSON: the TokenRequest types differ between k8s-openapi's API versions.
    let request = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": { "audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600 }
    });
    let issued: serde_json::Value = sas
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .with_context(|| format!("TokenRequest for service account {namespace}/{name}"))?;
    let token = issued["status"]["token"]
        .as_str()
        .context("TokenRequest returned no status.token")?
        .to_string();
    let c = cluster();
    let ca =
        std::fs::read(&c.ca_file).with_context(|| format!("reading {}", c.ca_file.display()))?;
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(&ca);
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ssrs\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca_b64}\nusers:\n- name: {name}\n  user:\n    token: {token}\n\
         contexts:\n- name: ssrs\n  context:\n    cluster: ssrs\n    user: {name}\n    namespace: {namespace}\n\
         current-context: ssrs\n",
        server = c.apiserver
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A free TCP port on the pod-network address (probed inside the netns; another process could still
/// take it before it is used).
pub fn free_pod_port() -> Result<u16> {
    let c = cluster();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &c.netns, "python3", "-c"])
        .arg(format!(
            "import socket; s=socket.socket(); s.bind(('{}', 0)); print(s.getsockname()[1])",
            c.pod_ip
        ))
        .output()
        .context("probing a free port in the pod netns (ip netns exec … python3)")?;
    if !out.status.success() {
        bail!(
            "probing a free port in the pod netns failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("parsing the probed port")
}
