//! Proves the test harness: a real apiserver, controller-manager (garbage collector), CRDs, the pod
//! network and the apiserver's service proxy, and ServiceAccount kubeconfigs.

use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use sealed_secrets_tests::{
    Spawn, TempDir, TestNamespace, cluster, free_pod_port, get_text, register_pod_service,
    service_account_kubeconfig, unique_suffix, wait_for,
};

const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn apiserver_is_reachable_and_is_1_20() -> Result<()> {
    let ns = TestNamespace::new("version").await?;
    let info = ns.client().apiserver_version().await?;
    assert_eq!(
        (info.major.as_str(), info.minor.as_str()),
        ("1", "20"),
        "{info:?}"
    );
    Ok(())
}

#[tokio::test]
async fn owned_secret_is_garbage_collected() -> Result<()> {
    let ns = TestNamespace::new("gc").await?;
    let cms: Api<ConfigMap> = ns.api();
    let secrets: Api<Secret> = ns.api();

    let owner: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "owner" }, "data": { "k": "v" }
    }))?;
    let owner = cms.create(&PostParams::default(), &owner).await?;
    let uid = owner
        .metadata
        .uid
        .clone()
        .context("created ConfigMap has no uid")?;

    let owned: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "owned",
            "ownerReferences": [{ "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid }]
        },
        "stringData": { "password": "hunter2" }
    }))?;
    secrets.create(&PostParams::default(), &owned).await?;
    assert!(secrets.get_opt("owned").await?.is_some());

    cms.delete("owner", &DeleteParams::default()).await?;
    wait_for("garbage collection of the owned Secret", TIMEOUT, || {
        let secrets = secrets.clone();
        async move { Ok(secrets.get_opt("owned").await?.is_none()) }
    })
    .await
}

#[tokio::test]
async fn custom_resource_definition_and_object() -> Result<()> {
    let ns = TestNamespace::new("crd").await?;
    let client = ns.client();
    // CRDs are cluster-scoped: give each run its own group so runs sharing a cluster do not collide.
    let group = format!("t{}.ssrs-tests.example.com", unique_suffix());
    let crd_name = format!("widgets.{group}");
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "metadata": { "name": crd_name },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": {
                        "type": "object",
                        "properties": { "size": { "type": "integer" }, "colour": { "type": "string" } }
                    }}
                }}
            }]
        }
    }))?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await?;

    let result = async {
        wait_for("CRD to be Established", TIMEOUT, || {
            let crds = crds.clone();
            let crd_name = crd_name.clone();
            async move {
                let crd = crds.get(&crd_name).await?;
                Ok(crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True"))
            }
        })
        .await?;

        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&group, "v1", "Widget"),
            "widgets",
        );
        let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &ar);
        let obj = DynamicObject::new("w1", &ar).data(serde_json::json!({
            "spec": { "size": 3, "colour": "blue" }
        }));
        // The discovery of a fresh CRD can lag a moment behind Established: retry the create.
        wait_for("creating a Widget", TIMEOUT, || {
            let widgets = widgets.clone();
            let obj = obj.clone();
            async move {
                widgets.create(&PostParams::default(), &obj).await?;
                Ok(true)
            }
        })
        .await?;
        let got = widgets.get("w1").await?;
        assert_eq!(got.data["spec"]["size"], 3);
        assert_eq!(got.data["spec"]["colour"], "blue");
        anyhow::Ok(())
    }
    .await;
    crds.delete(&crd_name, &DeleteParams::default()).await?;
    result
}

#[tokio::test]
async fn service_proxy_reaches_a_process_in_the_pod_network() -> Result<()> {
    let ns = TestNamespace::new("proxy").await?;
    let client = ns.client();
    let root = TempDir::new("www");
    let content = format!("hello from the pod network {}\n", unique_suffix());
    std::fs::write(root.path().join("hello.txt"), &content)?;

    let port = free_pod_port()?;
    let server = Spawn::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            &cluster().pod_ip,
            &port.to_string(),
            "--directory",
        ])
        .arg(root.path())
        .in_pod_network()
        .start("http-server")?;

    let base = register_pod_service(&client, ns.name(), "web", port).await?;
    let path = format!("{base}/hello.txt");
    let body =
        sealed_secrets_tests::wait_for_value("the file through the service proxy", TIMEOUT, || {
            let client = client.clone();
            let path = path.clone();
            async move { Ok(Some(get_text(&client, &path).await?)) }
        })
        .await?;
    assert_eq!(body, content);
    // The server really served it (its access log goes to stderr).
    assert!(
        server.stderr().contains("GET /hello.txt"),
        "server log: {}",
        server.stderr()
    );
    Ok(())
}

#[tokio::test]
async fn service_account_kubeconfig_works_from_the_pod_network() -> Result<()> {
    let ns = TestNamespace::new("sa").await?;
    let client = ns.client();
    let dir = TempDir::new("sa");
    let kubeconfig = service_account_kubeconfig(&client, ns.name(), "robot", dir.path()).await?;

    // Authenticated as the service account, but RBAC grants it nothing: 403, not 401.
    let sa_client = sealed_secrets_tests::client_from_kubeconfig(&kubeconfig).await?;
    let err = Api::<Secret>::namespaced(sa_client, ns.name())
        .list(&Default::default())
        .await
        .expect_err("an unprivileged service account must not list secrets");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403, "{s:?}");
            assert!(
                s.message
                    .contains(&format!("system:serviceaccount:{}:robot", ns.name())),
                "{s:?}"
            );
        }
        other => panic!("expected a 403, got {other:?}"),
    }

    // A process inside the pod netns reaches the apiserver (at the host side of the veth).
    let c = cluster();
    let mut curl = Spawn::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&c.ca_file)
        .arg(format!("{}/version", c.apiserver))
        .in_pod_network()
        .start("curl-version")?;
    let status = curl.wait(TIMEOUT).await?;
    assert!(status.success(), "curl failed: {}", curl.stderr());
    assert!(
        curl.stdout().contains("\"gitVersion\""),
        "{}",
        curl.stdout()
    );
    Ok(())
}
