//! The controller against a real kube-apiserver + etcd + kube-controller-manager: upstream's
//! integration scenarios (`integration/controller_test.go`), by name, and what we do better.
//!
//! Each test runs its own controller process scoped to its own namespace(s)
//! (`--all-namespaces=false`, keys in the test namespace), so tests run in parallel safely.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use common::annotations::{
    CLUSTER_WIDE_ANNOTATION, MANAGED_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, PATCH_ANNOTATION,
    SEALED_SECRETS_KEY_LABEL,
};
use common::crd::SealedSecret;
use common::keys::{PrivateKey, PublicKey};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use sealed_secrets_tests::{
    Spawn, TestNamespace, TestProcess, cluster, ensure_crd, replace_whole, replace_with, wait_for,
    wait_for_value, workspace_bin,
};

const WAIT: Duration = Duration::from_secs(30);

/// A controller scoped to `ns` (+ `extra` namespaces), its key, and clients.
struct Env {
    ns: TestNamespace,
    client: kube::Client,
    controller: Option<TestProcess>,
    public: PublicKey,
}

impl Env {
    async fn start(prefix: &str, extra_ns: &[&str], args: &[&str]) -> Result<Self> {
        let ns = TestNamespace::new(prefix).await?;
        let client = ns.client();
        ensure_crd(&client).await?;
        let mut env = Self {
            ns,
            client,
            controller: None,
            public: placeholder_key(),
        };
        env.spawn_controller(extra_ns, args)?;
        env.public = env.active_key().await?.public_key().clone();
        Ok(env)
    }

    fn spawn_controller(&mut self, extra_ns: &[&str], args: &[&str]) -> Result<()> {
        let mut all: Vec<String> = vec![
            "--all-namespaces=false".into(),
            "--key-size=2048".into(),
            "--listen-addr=127.0.0.1:0".into(),
            "--listen-metrics-addr=127.0.0.1:0".into(),
            "--log-level=DEBUG".into(),
        ];
        if !extra_ns.is_empty() {
            all.push(format!("--additional-namespaces={}", extra_ns.join(",")));
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let p = Spawn::new(workspace_bin("controller"))
            .args(all)
            .env("POD_NAMESPACE", self.ns.name())
            .kubeconfig(&cluster().kubeconfig)
            .start("controller")?;
        self.controller = Some(p);
        Ok(())
    }

    fn stop_controller(&mut self) -> Result<String> {
        let mut logs = String::new();
        if let Some(mut p) = self.controller.take() {
            p.stop(Duration::from_secs(10))?;
            logs = p.stdout() + &p.stderr();
        }
        Ok(logs)
    }

    fn logs(&self) -> String {
        self.controller
            .as_ref()
            .map(|p| p.stdout() + &p.stderr())
            .unwrap_or_default()
    }

    fn ns(&self) -> &str {
        self.ns.name()
    }

    async fn active_key(&self) -> Result<PrivateKey> {
        newest_active_key(&self.ns.api()).await
    }

    fn ss_api(&self, ns: &str) -> Api<SealedSecret> {
        Api::namespaced(self.client.clone(), ns)
    }

    fn secret_api(&self, ns: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn wait_secret(&self, ns: &str, name: &str) -> Result<Secret> {
        sealed_secrets_tests::wait_secret(&self.secret_api(ns), name, WAIT)
            .await
            .with_context(|| format!("controller logs:\n{}", self.logs()))
    }

    async fn wait_event(&self, ns: &str, name: &str, reason: &str) -> Result<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        sealed_secrets_tests::wait_event(&api, name, reason, WAIT)
            .await
            .with_context(|| format!("controller logs:\n{}", self.logs()))
    }

    async fn create(&self, ss: &SealedSecret) -> Result<SealedSecret> {
        let ns = ss.metadata.namespace.clone().unwrap_or_default();
        Ok(self.ss_api(&ns).create(&PostParams::default(), ss).await?)
    }
}

/// The newest key Secret labelled `active` in `api`'s namespace, waiting for one.
async fn newest_active_key(api: &Api<Secret>) -> Result<PrivateKey> {
    let secret = wait_for_value("a sealing key Secret", WAIT, || {
        let api = api.clone();
        async move {
            let list = api
                .list(&ListParams::default().labels(&format!("{SEALED_SECRETS_KEY_LABEL}=active")))
                .await?;
            Ok(list
                .items
                .into_iter()
                .max_by_key(|s| s.metadata.creation_timestamp.clone()))
        }
    })
    .await?;
    let pem = &secret.data.unwrap_or_default()["tls.key"].0;
    Ok(PrivateKey::from_pem(pem)?)
}

fn placeholder_key() -> PublicKey {
    // Replaced as soon as the controller's key exists; never used to seal.
    static KEY: std::sync::OnceLock<PrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate(&mut rand::rng(), 1024).expect("generate"))
        .public_key()
        .clone()
}

fn test_secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(ns.into());
    s.metadata.labels = Some(BTreeMap::from([("mylabel".into(), "myvalue".into())]));
    s.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    s
}

fn seal(key: &PublicKey, secret: &Secret) -> SealedSecret {
    common::sealing::seal_secret(&mut rand::rng(), key, secret).expect("seal")
}

fn data(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn wait_data(
    env: &Env,
    ns: &str,
    name: &str,
    want: BTreeMap<String, String>,
) -> Result<Secret> {
    let api = env.secret_api(ns);
    let name = name.to_owned();
    wait_for_value(&format!("Secret {ns}/{name} data"), WAIT, || {
        let api = api.clone();
        let name = name.clone();
        let want = want.clone();
        async move { Ok(api.get_opt(&name).await?.filter(|s| data(s) == want)) }
    })
    .await
    .with_context(|| format!("controller logs:\n{}", env.logs()))
}

async fn ss_status(env: &Env, ns: &str, name: &str, generation: i64) -> Result<SealedSecret> {
    let api = env.ss_api(ns);
    let name = name.to_owned();
    wait_for_value("status observedGeneration", WAIT, || {
        let api = api.clone();
        let name = name.clone();
        async move {
            let ss = api.get(&name).await?;
            Ok(ss
                .status
                .as_ref()
                .filter(|s| s.observed_generation == Some(generation))
                .map(|_| ss.clone()))
        }
    })
    .await
}

async fn assert_absent_for(env: &Env, ns: &str, name: &str, d: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < deadline {
        if env.secret_api(ns).get_opt(name).await?.is_some() {
            bail!("Secret {ns}/{name} exists but must not");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

// ---- Simple change ----------------------------------------------------------------------------

#[tokio::test]
async fn simple_change_create_update_rename_append() -> Result<()> {
    let env = Env::start("create", &[], &[]).await?;
    let ns = env.ns().to_owned();
    let ss = seal(
        &env.public,
        &test_secret(&ns, "testsecret", &[("foo", "bar")]),
    );
    env.create(&ss).await?;

    // 1. With no existing object (create).
    let s = wait_data(&env, &ns, "testsecret", map(&[("foo", "bar")])).await?;
    assert_eq!(s.metadata.labels, Some(map(&[("mylabel", "myvalue")])));
    let got = ss_status(&env, &ns, "testsecret", 1).await?;
    let cond = &got.status.as_ref().unwrap().conditions[0];
    assert_eq!(cond.status, "True");
    assert_eq!(cond.last_transition_time, cond.last_update_time);
    env.wait_event(&ns, "testsecret", "Unsealed").await?;

    // 2. With existing object (update). Condition times have one-second resolution: let a
    // second pass so an update is distinguishable from the transition.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let updated = seal(
        &env.public,
        &test_secret(&ns, "testsecret", &[("foo", "baz")]),
    );
    replace_whole(&env.ss_api(&ns), "testsecret", &updated).await?;
    wait_data(&env, &ns, "testsecret", map(&[("foo", "baz")])).await?;
    let got = ss_status(&env, &ns, "testsecret", 2).await?;
    let cond = &got.status.as_ref().unwrap().conditions[0];
    assert_ne!(cond.last_transition_time, cond.last_update_time);

    // 3. With renamed encrypted keys.
    replace_with(&env.ss_api(&ns), "testsecret", |renamed| {
        let v = renamed.spec.encrypted_data.remove("foo").unwrap();
        renamed.spec.encrypted_data.insert("xyzzy".into(), v);
    })
    .await?;
    wait_data(&env, &ns, "testsecret", map(&[("xyzzy", "baz")])).await?;

    // 4. With appended encrypted keys.
    let label = format!("{ns}/testsecret");
    let ct =
        common::crypto::hybrid_encrypt(&mut rand::rng(), &env.public, b"bar2", label.as_bytes())?;
    use base64::Engine as _;
    let ct = base64::engine::general_purpose::STANDARD.encode(ct);
    replace_with(&env.ss_api(&ns), "testsecret", |appended| {
        appended
            .spec
            .encrypted_data
            .insert("foo2".into(), ct.clone());
    })
    .await?;
    wait_data(
        &env,
        &ns,
        "testsecret",
        map(&[("xyzzy", "baz"), ("foo2", "bar2")]),
    )
    .await?;
    Ok(())
}

// ---- Secret already exists --------------------------------------------------------------------

async fn preexisting(env: &Env, annotations: &[(&str, &str)], with_data: bool) -> Result<()> {
    let mut s = Secret::default();
    s.metadata.name = Some("testsecret".into());
    s.metadata.annotations = Some(map(annotations));
    if with_data {
        s.metadata.labels = Some(map(&[("otherlabel", "othervalue")]));
        s.data = Some(BTreeMap::from([
            ("foo".into(), ByteString(b"foo".to_vec())),
            ("foo2".into(), ByteString(b"bar2".to_vec())),
        ]));
    }
    env.secret_api(env.ns())
        .create(&PostParams::default(), &s)
        .await?;
    Ok(())
}

#[tokio::test]
async fn secret_already_exists_with_managed_annotation() -> Result<()> {
    let env = Env::start("managed", &[], &[]).await?;
    let ns = env.ns().to_owned();
    preexisting(&env, &[(MANAGED_ANNOTATION, "true")], true).await?;
    let ss = env
        .create(&seal(
            &env.public,
            &test_secret(&ns, "testsecret", &[("foo", "bar")]),
        ))
        .await?;
    let s = wait_data(&env, &ns, "testsecret", map(&[("foo", "bar")])).await?;
    assert!(s.metadata.annotations.unwrap_or_default().is_empty());
    assert_eq!(s.metadata.labels, Some(map(&[("mylabel", "myvalue")])));
    assert_eq!(
        s.metadata.owner_references.unwrap()[0].uid,
        ss.metadata.uid.unwrap()
    );
    env.wait_event(&ns, "testsecret", "Unsealed").await?;
    Ok(())
}

#[tokio::test]
async fn secret_already_exists_with_managed_and_patch_annotation() -> Result<()> {
    let env = Env::start("mpatch", &[], &[]).await?;
    let ns = env.ns().to_owned();
    preexisting(
        &env,
        &[(MANAGED_ANNOTATION, "true"), (PATCH_ANNOTATION, "true")],
        true,
    )
    .await?;
    let ss = env
        .create(&seal(
            &env.public,
            &test_secret(&ns, "testsecret", &[("foo", "bar")]),
        ))
        .await?;
    let s = wait_data(
        &env,
        &ns,
        "testsecret",
        map(&[("foo", "bar"), ("foo2", "bar2")]),
    )
    .await?;
    assert_eq!(
        s.metadata.annotations,
        Some(map(&[
            (MANAGED_ANNOTATION, "true"),
            (PATCH_ANNOTATION, "true")
        ]))
    );
    assert_eq!(
        s.metadata.labels,
        Some(map(&[("mylabel", "myvalue"), ("otherlabel", "othervalue")]))
    );
    assert_eq!(
        s.metadata.owner_references.unwrap()[0].uid,
        ss.metadata.uid.unwrap()
    );
    Ok(())
}

#[tokio::test]
async fn secret_already_exists_with_patch_annotation() -> Result<()> {
    let env = Env::start("patch", &[], &[]).await?;
    let ns = env.ns().to_owned();
    preexisting(&env, &[(PATCH_ANNOTATION, "true")], true).await?;
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "testsecret", &[("foo", "bar")]),
    ))
    .await?;
    let s = wait_data(
        &env,
        &ns,
        "testsecret",
        map(&[("foo", "bar"), ("foo2", "bar2")]),
    )
    .await?;
    assert_eq!(s.metadata.owner_references.unwrap_or_default().len(), 0);
    assert_eq!(
        s.metadata.annotations,
        Some(map(&[(PATCH_ANNOTATION, "true")]))
    );
    Ok(())
}

#[tokio::test]
async fn secret_already_exists_with_patch_annotation_and_empty_secret() -> Result<()> {
    let env = Env::start("patchempty", &[], &[]).await?;
    let ns = env.ns().to_owned();
    preexisting(&env, &[(PATCH_ANNOTATION, "true")], false).await?;
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "testsecret", &[("foo", "bar")]),
    ))
    .await?;
    let s = wait_data(&env, &ns, "testsecret", map(&[("foo", "bar")])).await?;
    assert_eq!(s.metadata.owner_references.unwrap_or_default().len(), 0);
    assert_eq!(s.metadata.labels, Some(map(&[("mylabel", "myvalue")])));
    Ok(())
}

#[tokio::test]
async fn secret_already_exists_unmanaged_is_refused() -> Result<()> {
    let env = Env::start("unmanaged", &[], &[]).await?;
    let ns = env.ns().to_owned();
    preexisting(&env, &[], true).await?;
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "testsecret", &[("foo", "bar")]),
    ))
    .await?;
    let ev = env.wait_event(&ns, "testsecret", "ErrUpdateFailed").await?;
    assert!(
        ev.message
            .unwrap_or_default()
            .contains("already exists and is not managed by SealedSecret")
    );
    let s = env.secret_api(&ns).get("testsecret").await?;
    assert_eq!(data(&s)["foo"], "foo");
    Ok(())
}

// ---- Secret recreation ------------------------------------------------------------------------

#[tokio::test]
async fn secret_recreation_owned_and_managed() -> Result<()> {
    let env = Env::start("recreate", &[], &[]).await?;
    let ns = env.ns().to_owned();
    // 9. With owned secret.
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "testsecret", &[("foo", "bar")]),
    ))
    .await?;
    let first = env.wait_secret(&ns, "testsecret").await?;
    env.secret_api(&ns)
        .delete("testsecret", &DeleteParams::default())
        .await?;
    let api = env.secret_api(&ns);
    let uid = first.metadata.uid.clone();
    wait_for_value("recreated Secret", WAIT, || {
        let api = api.clone();
        let uid = uid.clone();
        async move {
            Ok(api
                .get_opt("testsecret")
                .await?
                .filter(|s| s.metadata.uid != uid))
        }
    })
    .await
    .with_context(|| env.logs())?;

    // 10. With unowned secret with managed annotation.
    preexisting_named(&env, "managed2", &[(MANAGED_ANNOTATION, "true")]).await?;
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "managed2", &[("foo", "bar")]),
    ))
    .await?;
    let s = wait_data(&env, &ns, "managed2", map(&[("foo", "bar")])).await?;
    env.secret_api(&ns)
        .delete("managed2", &DeleteParams::default())
        .await?;
    let uid = s.metadata.uid.clone();
    let s = wait_for_value("recreated managed Secret", WAIT, || {
        let api = api.clone();
        let uid = uid.clone();
        async move {
            Ok(api
                .get_opt("managed2")
                .await?
                .filter(|s| s.metadata.uid != uid))
        }
    })
    .await?;
    assert_eq!(s.metadata.owner_references.unwrap_or_default().len(), 1);
    Ok(())
}

async fn preexisting_named(env: &Env, name: &str, annotations: &[(&str, &str)]) -> Result<()> {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.annotations = Some(map(annotations));
    env.secret_api(env.ns())
        .create(&PostParams::default(), &s)
        .await?;
    Ok(())
}

#[tokio::test]
async fn secret_recreation_not_for_unmanaged_or_patch_only() -> Result<()> {
    let env = Env::start("norecreate", &[], &[]).await?;
    let ns = env.ns().to_owned();
    // 11. Unowned without managed annotation: refused, and once deleted stays deleted.
    preexisting_named(&env, "plain", &[]).await?;
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "plain", &[("foo", "bar")]),
    ))
    .await?;
    env.wait_event(&ns, "plain", "ErrUpdateFailed").await?;
    env.secret_api(&ns)
        .delete("plain", &DeleteParams::default())
        .await?;
    // 12. Unowned with patch annotation: patched, then deleted → not recreated.
    preexisting_named(&env, "patched", &[(PATCH_ANNOTATION, "true")]).await?;
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "patched", &[("foo", "bar")]),
    ))
    .await?;
    wait_data(&env, &ns, "patched", map(&[("foo", "bar")])).await?;
    env.secret_api(&ns)
        .delete("patched", &DeleteParams::default())
        .await?;
    assert_absent_for(&env, &ns, "plain", Duration::from_secs(4)).await?;
    assert_absent_for(&env, &ns, "patched", Duration::from_secs(1)).await?;
    Ok(())
}

// ---- Same name, wrong key ---------------------------------------------------------------------

#[tokio::test]
async fn same_name_wrong_key() -> Result<()> {
    let env = Env::start("wrongkey", &[], &[]).await?;
    let ns = env.ns().to_owned();
    let other = PrivateKey::generate(&mut rand::rng(), 1024)?;
    env.create(&seal(
        other.public_key(),
        &test_secret(&ns, "testsecret", &[("foo", "bar")]),
    ))
    .await?;
    // 14. an ErrUnsealFailed event; 13. no Secret.
    let ev = env.wait_event(&ns, "testsecret", "ErrUnsealFailed").await?;
    assert_eq!(
        ev.message.as_deref(),
        Some("Failed to unseal: no key could decrypt secret (foo)")
    );
    assert_absent_for(&env, &ns, "testsecret", Duration::from_secs(2)).await?;
    let got = ss_status(&env, &ns, "testsecret", 1).await?;
    assert_eq!(got.status.unwrap().conditions[0].status, "False");
    Ok(())
}

// ---- Custom type, immutable ------------------------------------------------------------------

#[tokio::test]
async fn custom_secret_type_and_immutable() -> Result<()> {
    let env = Env::start("types", &[], &[]).await?;
    let ns = env.ns().to_owned();
    // 15. Custom Secret Type.
    let mut docker = test_secret(&ns, "docker", &[(".dockerconfigjson", "{\"auths\":{}}")]);
    docker.type_ = Some("kubernetes.io/dockerconfigjson".into());
    env.create(&seal(&env.public, &docker)).await?;
    let s = wait_data(
        &env,
        &ns,
        "docker",
        map(&[(".dockerconfigjson", "{\"auths\":{}}")]),
    )
    .await?;
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));

    // 16. Immutable Secret.
    let mut imm = test_secret(&ns, "immutable", &[("foo", "bar")]);
    imm.immutable = Some(true);
    env.create(&seal(&env.public, &imm)).await?;
    let s = wait_data(&env, &ns, "immutable", map(&[("foo", "bar")])).await?;
    assert_eq!(s.immutable, Some(true));
    env.wait_event(&ns, "immutable", "Unsealed").await?;

    // 17. Immutable Secret Error: updating the data is refused with an explanation.
    let changed = seal(&env.public, &{
        let mut s = test_secret(&ns, "immutable", &[("foo", "baz")]);
        s.immutable = Some(true);
        s
    });
    replace_whole(&env.ss_api(&ns), "immutable", &changed).await?;
    ss_status(&env, &ns, "immutable", 2).await?;
    let api: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    wait_for("ErrUpdateFailed explaining immutability", WAIT, || {
        let api = api.clone();
        async move {
            Ok(api
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .any(|e| {
                    e.reason.as_deref() == Some("ErrUpdateFailed")
                        && e.message
                            .as_deref()
                            .unwrap_or_default()
                            .contains("the target Secret is immutable")
                }))
        }
    })
    .await
    .with_context(|| env.logs())?;
    Ok(())
}

// ---- Different name / namespace ---------------------------------------------------------------

#[tokio::test]
async fn different_name_and_namespace_follow_scope_rules() -> Result<()> {
    let other = TestNamespace::new("other").await?;
    let other_ns = other.name().to_owned();
    let env = Env::start("scopes", &[&other_ns], &[]).await?;
    let ns = env.ns().to_owned();
    let scoped = |name: &str, ann: Option<&str>| {
        let mut s = test_secret(&ns, name, &[("foo", "bar")]);
        if let Some(a) = ann {
            s.metadata.annotations = Some(map(&[(a, "true")]));
        }
        seal(&env.public, &s)
    };
    let renamed = |mut ss: SealedSecret, name: &str| {
        ss.metadata.name = Some(name.into());
        ss
    };
    let moved = |mut ss: SealedSecret, to: &str| {
        ss.metadata.namespace = Some(to.into());
        ss
    };
    // 18. wrong name; 19. wrong namespace.
    env.create(&renamed(scoped("s18", None), "s18-renamed"))
        .await?;
    env.create(&moved(scoped("s19", None), &other_ns)).await?;
    // 20/21. cluster-wide under a new name / in another namespace.
    env.create(&renamed(
        scoped("s20", Some(CLUSTER_WIDE_ANNOTATION)),
        "s20-renamed",
    ))
    .await?;
    env.create(&moved(
        scoped("s21", Some(CLUSTER_WIDE_ANNOTATION)),
        &other_ns,
    ))
    .await?;
    // 22/23. namespace-wide under a new name (ok) / in another namespace (refused).
    env.create(&renamed(
        scoped("s22", Some(NAMESPACE_WIDE_ANNOTATION)),
        "s22-renamed",
    ))
    .await?;
    env.create(&moved(
        scoped("s23", Some(NAMESPACE_WIDE_ANNOTATION)),
        &other_ns,
    ))
    .await?;

    wait_data(&env, &ns, "s20-renamed", map(&[("foo", "bar")])).await?;
    wait_data(&env, &other_ns, "s21", map(&[("foo", "bar")])).await?;
    wait_data(&env, &ns, "s22-renamed", map(&[("foo", "bar")])).await?;
    env.wait_event(&ns, "s18-renamed", "ErrUnsealFailed")
        .await?;
    env.wait_event(&other_ns, "s19", "ErrUnsealFailed").await?;
    env.wait_event(&other_ns, "s23", "ErrUnsealFailed").await?;
    assert_absent_for(&env, &ns, "s18-renamed", Duration::from_secs(1)).await?;
    assert_absent_for(&env, &other_ns, "s19", Duration::from_secs(1)).await?;
    assert_absent_for(&env, &other_ns, "s23", Duration::from_secs(1)).await?;
    Ok(())
}

#[tokio::test]
async fn controller_version_matches_upstream_format() -> Result<()> {
    let out = std::process::Command::new(workspace_bin("controller"))
        .arg("--version")
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    assert!(out.status.success());
    assert!(text.starts_with("controller version: v"), "{text}");
    let v = text.trim().trim_start_matches("controller version: v");
    assert_eq!(v.split('.').count(), 3, "{text}");
    Ok(())
}

// ---- Better than upstream ---------------------------------------------------------------------

#[tokio::test]
async fn drift_repair_reverts_manual_edits() -> Result<()> {
    let env = Env::start("drift", &[], &[]).await?;
    let ns = env.ns().to_owned();
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "testsecret", &[("foo", "bar")]),
    ))
    .await?;
    wait_data(&env, &ns, "testsecret", map(&[("foo", "bar")])).await?;
    replace_with(&env.secret_api(&ns), "testsecret", |s| {
        s.data = Some(BTreeMap::from([(
            "foo".into(),
            ByteString(b"tampered".to_vec()),
        )]));
    })
    .await?;
    wait_data(&env, &ns, "testsecret", map(&[("foo", "bar")])).await?;
    Ok(())
}

fn metrics_text(env: &Env) -> Result<String> {
    sealed_secrets_tests::controller_metrics(&env.logs())
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn restart_in_sync_performs_no_decryption() -> Result<()> {
    let mut env = Env::start("restart", &[], &[]).await?;
    let ns = env.ns().to_owned();
    for i in 0..5 {
        let name = format!("s{i}");
        env.create(&seal(
            &env.public,
            &test_secret(&ns, &name, &[("foo", "bar"), ("k", "v")]),
        ))
        .await?;
    }
    for i in 0..5 {
        let name = format!("s{i}");
        wait_data(&env, &ns, &name, map(&[("foo", "bar"), ("k", "v")])).await?;
        let api = env.ss_api(&ns);
        wait_for("status records the Secret version", WAIT, || {
            let api = api.clone();
            let name = name.clone();
            async move {
                Ok(api.get(&name).await?.status.is_some_and(|s| {
                    s.secret_resource_version.is_some() && !s.key_fingerprints.is_empty()
                }))
            }
        })
        .await?;
    }
    env.stop_controller()?;
    env.spawn_controller(&[], &[])?;
    // All five are checked and found in sync, with zero RSA operations.
    let mut last = String::new();
    wait_for("restarted controller skipped all five", WAIT, || {
        let text = metrics_text(&env).unwrap_or_default();
        last = text.clone();
        async move {
            Ok(
                metric(&text, "sealed_secrets_controller_reconciles_in_sync_total").unwrap_or(0.0)
                    >= 5.0,
            )
        }
    })
    .await
    .with_context(|| format!("metrics:\n{last}\nlogs:\n{}", env.logs()))?;
    let text = metrics_text(&env)?;
    assert_eq!(
        metric(&text, "sealed_secrets_controller_rsa_decryptions_total"),
        Some(0.0),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn live_keys_added_and_deleted_without_restart() -> Result<()> {
    let mut env = Env::start("livekeys", &[], &[]).await?;
    let ns = env.ns().to_owned();
    // A SealedSecret sealed with a key the controller does not have yet fails...
    let byok = PrivateKey::generate(&mut rand::rng(), 2048)?;
    env.create(&seal(
        byok.public_key(),
        &test_secret(&ns, "byok", &[("foo", "bar")]),
    ))
    .await?;
    env.wait_event(&ns, "byok", "ErrUnsealFailed").await?;
    // ...and heals as soon as that key is added (bring your own key), without a restart.
    let cert = common::keys::self_signed_certificate(
        &mut rand::rng(),
        &byok,
        &common::keys::CertificateParams {
            common_name: "byok".into(),
            not_before: std::time::SystemTime::now(),
            validity: Duration::from_secs(3600),
        },
    )?;
    let mut key_secret = Secret::default();
    key_secret.metadata.name = Some("my-own-key".into());
    key_secret.metadata.labels = Some(map(&[(SEALED_SECRETS_KEY_LABEL, "active")]));
    key_secret.type_ = Some("kubernetes.io/tls".into());
    key_secret.data = Some(BTreeMap::from([
        (
            "tls.key".into(),
            ByteString(byok.to_pkcs1_pem()?.as_bytes().to_vec()),
        ),
        ("tls.crt".into(), ByteString(cert.to_pem().into_bytes())),
    ]));
    env.secret_api(&ns)
        .create(&PostParams::default(), &key_secret)
        .await?;
    wait_data(&env, &ns, "byok", map(&[("foo", "bar")])).await?;

    // A malformed key Secret is skipped with a warning event, and the controller keeps running.
    let mut bad = Secret::default();
    bad.metadata.name = Some("broken-key".into());
    bad.metadata.labels = Some(map(&[(SEALED_SECRETS_KEY_LABEL, "active")]));
    bad.data = Some(BTreeMap::from([(
        "tls.key".into(),
        ByteString(b"not a key".to_vec()),
    )]));
    env.secret_api(&ns)
        .create(&PostParams::default(), &bad)
        .await?;
    env.wait_event(&ns, "broken-key", "ErrInvalidKey").await?;

    // Relabelling the key to anything but active removes it live: new objects sealed with it fail.
    let patch =
        serde_json::json!({"metadata": {"labels": {SEALED_SECRETS_KEY_LABEL: "compromised"}}});
    env.secret_api(&ns)
        .patch("my-own-key", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    wait_for("the relabelled key dropped from the registry", WAIT, || {
        let keys = metrics_text(&env)
            .ok()
            .and_then(|t| metric(&t, "sealed_secrets_controller_keys"));
        async move { Ok(keys == Some(1.0)) }
    })
    .await?;
    env.create(&seal(
        byok.public_key(),
        &test_secret(&ns, "after", &[("foo", "bar")]),
    ))
    .await?;
    env.wait_event(&ns, "after", "ErrUnsealFailed").await?;
    let still_running = env
        .controller
        .as_mut()
        .context("controller")?
        .try_exit()?
        .is_none();
    assert!(
        still_running,
        "the controller must survive a malformed key Secret"
    );
    Ok(())
}

#[tokio::test]
async fn plaintext_never_reaches_logs_events_status_or_metrics() -> Result<()> {
    const PLAINTEXT: &str = "Pl41ntext-Needle-7f3a9c";
    let mut env = Env::start("noleak", &[], &[]).await?;
    let ns = env.ns().to_owned();
    env.create(&seal(
        &env.public,
        &test_secret(&ns, "ok", &[("pw", PLAINTEXT)]),
    ))
    .await?;
    wait_data(&env, &ns, "ok", map(&[("pw", PLAINTEXT)])).await?;
    // A failing template over the plaintext, and an undecryptable sibling.
    let mut ss = seal(&env.public, &test_secret(&ns, "tmpl", &[("pw", PLAINTEXT)]));
    ss.spec.template.data = Some(map(&[("t", "{{ .pw }}{{ index .pw 100 }}")]));
    env.create(&ss).await?;
    env.wait_event(&ns, "tmpl", "ErrUnsealFailed").await?;
    let metrics = metrics_text(&env)?;
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let events = serde_json::to_string(&events.list(&ListParams::default()).await?)?;
    let statuses = serde_json::to_string(&env.ss_api(&ns).list(&ListParams::default()).await?)?;
    let logs = env.stop_controller()?;
    assert!(logs.contains("Updating"), "debug logs were captured");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(PLAINTEXT);
    for (what, text) in [
        ("logs", &logs),
        ("events", &events),
        ("status", &statuses),
        ("metrics", &metrics),
    ] {
        assert!(!text.contains(PLAINTEXT), "plaintext leaked into {what}");
        assert!(
            !text.contains(&encoded),
            "base64 plaintext leaked into {what}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn leader_election_two_replicas_one_key_and_failover() -> Result<()> {
    let ns = TestNamespace::new("ha").await?;
    let client = ns.client();
    ensure_crd(&client).await?;
    let start = || {
        Spawn::new(workspace_bin("controller"))
            .args([
                "--all-namespaces=false",
                "--key-size=2048",
                "--listen-addr=127.0.0.1:0",
                "--listen-metrics-addr=127.0.0.1:0",
                "--leader-elect",
            ])
            .env("POD_NAMESPACE", ns.name())
            .kubeconfig(&cluster().kubeconfig)
            .start("controller")
    };
    let mut a = start()?;
    let mut b = start()?;
    let secrets: Api<Secret> = ns.api();
    let keys = wait_for_value("a key", WAIT, || {
        let secrets = secrets.clone();
        async move {
            let l = secrets
                .list(&ListParams::default().labels(&format!("{SEALED_SECRETS_KEY_LABEL}=active")))
                .await?;
            Ok((!l.items.is_empty()).then_some(l.items))
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let count = secrets
        .list(&ListParams::default().labels(&format!("{SEALED_SECRETS_KEY_LABEL}=active")))
        .await?
        .items
        .len();
    assert_eq!(
        count, 1,
        "two replicas on an empty namespace must create exactly one key"
    );
    let key = PrivateKey::from_pem(&keys[0].data.clone().unwrap_or_default()["tls.key"].0)?;

    // Kill the leader; the other replica takes over and reconciles a new SealedSecret.
    let lease: Api<k8s_openapi::api::coordination::v1::Lease> = ns.api();
    let holder = lease
        .get("sealed-secrets-controller")
        .await?
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    let (leader, follower) = if holder.ends_with(&format!("-{}", a.pid())) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &leader.pid().to_string()])
        .status();
    let ss = seal(
        key.public_key(),
        &test_secret(ns.name(), "after-failover", &[("foo", "bar")]),
    );
    Api::<SealedSecret>::namespaced(client.clone(), ns.name())
        .create(&PostParams::default(), &ss)
        .await?;
    let got = wait_for_value("failover reconcile", Duration::from_secs(45), || {
        let secrets = secrets.clone();
        async move { Ok(secrets.get_opt("after-failover").await?) }
    })
    .await
    .with_context(|| format!("follower logs:\n{}{}", follower.stdout(), follower.stderr()))?;
    assert_eq!(data(&got)["foo"], "bar");
    Ok(())
}

/// The chart's readinessProbe (`charts/sealed-secrets/values.yaml`): `GET /readyz` every
/// `periodSeconds` with a `timeoutSeconds` limit; ready within `failureThreshold` probes.
const PROBE_PERIOD: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT_SECS: &str = "1";
const PROBE_FAILURE_THRESHOLD: u32 = 3;

/// Probe `/readyz` as the kubelet would with the chart's settings until it answers 200.
async fn probe_until_ready(controller: &TestProcess) -> Result<()> {
    let mut answers = Vec::new();
    for probe in 0..PROBE_FAILURE_THRESHOLD {
        if probe > 0 {
            tokio::time::sleep(PROBE_PERIOD).await;
        }
        let logs = controller.stdout() + &controller.stderr();
        let Some(addr) = sealed_secrets_tests::controller_addr(&logs, "http") else {
            answers.push("no HTTP address yet".to_owned());
            continue;
        };
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time"])
            .arg(PROBE_TIMEOUT_SECS)
            .arg(format!("http://{addr}/readyz"))
            .output()?;
        let code = String::from_utf8_lossy(&out.stdout).into_owned();
        if code == "200" {
            return Ok(());
        }
        answers.push(code);
    }
    bail!(
        "/readyz never answered 200 in {PROBE_FAILURE_THRESHOLD} probes ({answers:?}); logs:\n{}{}",
        controller.stdout(),
        controller.stderr()
    )
}

/// Regression: `/readyz` stayed 503 forever in every real run (a second waiter on the reflector
/// store's readiness was never woken), so the chart's Pod was never Ready. With and without
/// leader election, with and without SealedSecrets already in the namespace, and with
/// `--skip-recreate` (no Secret cache).
#[tokio::test]
async fn readyz_answers_200_under_the_charts_probe() -> Result<()> {
    let ns = TestNamespace::new("readyz").await?;
    let client = ns.client();
    ensure_crd(&client).await?;
    // An object present before any controller starts (sealed to a key nobody holds).
    Api::<SealedSecret>::namespaced(client.clone(), ns.name())
        .create(
            &PostParams::default(),
            &seal(
                &placeholder_key(),
                &test_secret(ns.name(), "before", &[("foo", "bar")]),
            ),
        )
        .await?;
    let start = |extra: &[&str]| {
        Spawn::new(workspace_bin("controller"))
            .args([
                "--all-namespaces=false",
                "--key-size=2048",
                "--listen-addr=127.0.0.1:0",
                "--listen-metrics-addr=127.0.0.1:0",
            ])
            .args(extra.iter().copied())
            .env("POD_NAMESPACE", ns.name())
            .kubeconfig(&cluster().kubeconfig)
            .start("controller")
    };
    let plain = start(&[])?;
    let elected = start(&["--leader-elect"])?;
    let no_secret_cache = start(&["--skip-recreate"])?;
    let (a, b, c) = tokio::join!(
        probe_until_ready(&plain),
        probe_until_ready(&elected),
        probe_until_ready(&no_secret_cache),
    );
    a.context("controller without leader election")?;
    b.context("controller with --leader-elect")?;
    c.context("controller with --skip-recreate")?;
    Ok(())
}

/// Upstream's RBAC for the controller, verbatim in its rules (chart 2.18.5 `cluster-role.yaml` and
/// `role.yaml`, `controller.jsonnet`): `update` (not `patch`) on `sealedsecrets/status`, core
/// `events` create and patch, and the key-admin Role.
fn upstream_rbac(ns: &str, suffix: &str) -> Vec<serde_json::Value> {
    let cluster_role = format!("secrets-unsealer-{suffix}");
    vec![
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": { "name": cluster_role },
            "rules": [
                { "apiGroups": ["bitnami.com"], "resources": ["sealedsecrets"], "verbs": ["get", "list", "watch"] },
                { "apiGroups": ["bitnami.com"], "resources": ["sealedsecrets/status"], "verbs": ["update"] },
                { "apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update", "delete", "watch"] },
                { "apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"] },
            ],
        }),
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": cluster_role },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role },
            "subjects": [{ "kind": "ServiceAccount", "name": "sealed-secrets-controller", "namespace": ns }],
        }),
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": { "name": "sealed-secrets-key-admin", "namespace": ns },
            "rules": [
                { "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["sealed-secrets-key"], "verbs": ["get"] },
                { "apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "list"] },
            ],
        }),
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": { "name": "sealed-secrets-controller", "namespace": ns },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sealed-secrets-key-admin" },
            "subjects": [{ "kind": "ServiceAccount", "name": "sealed-secrets-controller", "namespace": ns }],
        }),
    ]
}

/// A binary swap under upstream's RBAC: the status is written (with `update`, after the merge
/// patch is refused once), `Unsealed` Events are recorded as core/v1 Events from
/// `source.component: sealed-secrets`, and nothing is decrypted twice (a refused status write
/// used to requeue and re-decrypt every object forever).
#[tokio::test]
async fn works_under_upstreams_exact_rbac() -> Result<()> {
    use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
    let ns = TestNamespace::new("upstream-rbac").await?;
    let client = ns.client();
    ensure_crd(&client).await?;
    let suffix = sealed_secrets_tests::unique_suffix();
    let objects = upstream_rbac(ns.name(), &suffix);
    let mut cluster_scoped = Vec::new();
    for obj in &objects {
        let obj: DynamicObject = serde_json::from_value(obj.clone())?;
        let kind = obj
            .types
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default();
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "rbac.authorization.k8s.io",
            "v1",
            &kind,
        ));
        let api: Api<DynamicObject> = match obj.metadata.namespace.as_deref() {
            Some(n) => Api::namespaced_with(client.clone(), n, &ar),
            None => {
                cluster_scoped.push((
                    Api::<DynamicObject>::all_with(client.clone(), &ar),
                    obj.metadata.name.clone().unwrap_or_default(),
                ));
                Api::all_with(client.clone(), &ar)
            }
        };
        api.create(&PostParams::default(), &obj).await?;
    }
    let dir = sealed_secrets_tests::TempDir::new("upstream-rbac");
    let kubeconfig = sealed_secrets_tests::service_account_kubeconfig(
        &client,
        ns.name(),
        "sealed-secrets-controller",
        dir.path(),
    )
    .await?;
    let mut controller = Spawn::new(workspace_bin("controller"))
        .args([
            "--all-namespaces=false",
            "--key-size=2048",
            "--listen-addr=127.0.0.1:0",
            "--listen-metrics-addr=127.0.0.1:0",
        ])
        .env("POD_NAMESPACE", ns.name())
        .kubeconfig(&kubeconfig)
        .start("controller")?;
    let result = async {
        let secrets: Api<Secret> = ns.api();
        let key = newest_active_key(&secrets).await?;
        let ss_api: Api<SealedSecret> = ns.api();
        for name in ["one", "two"] {
            ss_api
                .create(
                    &PostParams::default(),
                    &seal(
                        key.public_key(),
                        &test_secret(ns.name(), name, &[("foo", "bar")]),
                    ),
                )
                .await?;
        }
        for name in ["one", "two"] {
            let s = sealed_secrets_tests::wait_secret(&secrets, name, WAIT).await?;
            assert_eq!(data(&s)["foo"], "bar");
            wait_for(&format!("{name}: status Synced=True"), WAIT, || {
                let ss_api = ss_api.clone();
                async move {
                    let ss = ss_api.get(name).await?;
                    Ok(ss.status.is_some_and(|st| {
                        st.observed_generation == ss.metadata.generation
                            && st
                                .conditions
                                .iter()
                                .any(|c| c.type_ == "Synced" && c.status == "True")
                    }))
                }
            })
            .await?;
            let events: Api<Event> = ns.api();
            let ev = sealed_secrets_tests::wait_event(&events, name, "Unsealed", WAIT).await?;
            assert_eq!(
                ev.source.and_then(|s| s.component).as_deref(),
                Some("sealed-secrets"),
                "core/v1 Event from upstream's component"
            );
        }
        // Settled: the two objects cost one decryption each, and stay at that.
        let logs = || controller.stdout() + &controller.stderr();
        let rsa = |text: &str| metric(text, "sealed_secrets_controller_rsa_decryptions_total");
        let metrics = || sealed_secrets_tests::controller_metrics(&logs());
        let before = rsa(&metrics()?);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let text = metrics()?;
        assert_eq!(rsa(&text), before, "decrypted again while settled:\n{text}");
        assert_eq!(
            before,
            Some(2.0),
            "one decryption per object:\n{text}\nlogs:\n{}",
            logs()
        );
        anyhow::Ok(())
    }
    .await;
    let logs = controller.stdout() + &controller.stderr();
    controller.stop(Duration::from_secs(10))?;
    for (api, name) in cluster_scoped {
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    result.with_context(|| format!("controller logs:\n{logs}"))
}
