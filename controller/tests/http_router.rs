//! The HTTP router, driven with `tower::ServiceExt::oneshot` (no socket), plus one bounded load
//! test against a real listener on 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use common::annotations::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};
use common::crd::SealedSecret;
use common::documents::{Format, parse_sealed_secrets, sealed_secret_to_string};
use common::keys::{
    Certificate, CertificateParams, PrivateKey, PublicKey, self_signed_certificate,
};
use common::scope::SealingScope;
use common::sealing::{UnsealOptions, seal_raw, unseal, verify};
use controller::Readiness;
use controller::http::{AppState, HttpOptions, router};
use controller::keys::{KeyEntry, Registry};
use controller::metrics::Metrics;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tower::ServiceExt;

use fixtures::read as fixture;

/// The interop key, loaded once; it counts as created at t=1000 s.
fn interop_entry() -> Arc<KeyEntry> {
    static E: OnceLock<Arc<KeyEntry>> = OnceLock::new();
    E.get_or_init(|| {
        Arc::new(KeyEntry {
            key: PrivateKey::from_pem(&fixture("key-4096.pem")).unwrap(),
            cert: Certificate::from_pem(&fixture("cert-4096.pem")).unwrap(),
            secret_name: "sealed-secrets-keyinterop".into(),
            ordering_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
            created: None,
        })
    })
    .clone()
}

/// A freshly generated key, newer than the interop one.
fn new_entry() -> Arc<KeyEntry> {
    static E: OnceLock<Arc<KeyEntry>> = OnceLock::new();
    E.get_or_init(|| {
        let mut rng = rand::rng();
        let key = PrivateKey::generate(&mut rng, 2048).unwrap();
        let cert = self_signed_certificate(
            &mut rng,
            &key,
            &CertificateParams {
                common_name: String::new(),
                not_before: SystemTime::now(),
                validity: Duration::from_secs(3600),
            },
        )
        .unwrap();
        Arc::new(KeyEntry {
            key,
            cert,
            secret_name: "sealed-secrets-keynew".into(),
            ordering_time: SystemTime::UNIX_EPOCH + Duration::from_secs(2000),
            created: None,
        })
    })
    .clone()
}

fn unlimited() -> HttpOptions {
    HttpOptions {
        rate_limit: 0,
        ..HttpOptions::default()
    }
}

fn state_with(registry: Registry, options: HttpOptions) -> AppState {
    AppState::new(
        Arc::new(registry),
        Arc::new(Metrics::new("test")),
        Arc::new(Readiness::new(false)),
        options,
    )
}

fn make_app(entries: Vec<Arc<KeyEntry>>, options: HttpOptions) -> (Router, AppState) {
    let s = state_with(Registry::from_entries(entries), options);
    (router(s.clone()), s)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: impl Into<Body>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn post(app: &Router, path: &str, body: impl Into<Body>) -> Reply {
    call(app, "POST", path, body, &[]).await
}

fn strict() -> SealedSecret {
    parse_sealed_secrets(&fixture("sealed-by-kubesealpy-strict.yaml"))
        .unwrap()
        .remove(0)
}

fn json(ss: &SealedSecret) -> String {
    sealed_secret_to_string(ss, Format::Json).unwrap()
}

fn no_render() -> UnsealOptions {
    UnsealOptions {
        render_templates: false,
        ..UnsealOptions::default()
    }
}

/// Templates an attacker would pair with a victim's `encryptedData` to learn about it.
fn attacker_templates() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "probe".into(),
            r#"{{ if eq (index . "password") "x" }}yes{{ else }}{{ fail "no" }}{{ end }}"#.into(),
        ),
        ("boom".into(), r#"{{ fail "always" }}"#.into()),
        (
            "env".into(),
            r#"{{ env "HOME" }}{{ expandenv "$PATH" }}"#.into(),
        ),
        ("broken".into(), "{{ if }".into()),
    ])
}

#[tokio::test]
async fn healthz_is_ok() {
    let (app, _) = make_app(vec![], unlimited());
    let r = call(&app, "GET", "/healthz", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "ok\n");
    let r = call(&app, "GET", "/nope", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readyz_waits_for_keys_and_caches() {
    let s = state_with(Registry::default(), unlimited());
    let r = call(&router(s), "GET", "/readyz", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);

    let (app, s) = make_app(vec![interop_entry()], unlimited());
    let r = call(&app, "GET", "/readyz", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    s.readiness.set_caches_synced();
    let r = call(&app, "GET", "/readyz", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn cert_pem_is_the_newest_certificate_only() {
    let (app, _) = make_app(vec![interop_entry(), new_entry()], unlimited());
    let r = call(&app, "GET", "/v1/cert.pem", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-pem-file");
    assert_eq!(r.text(), new_entry().cert.to_pem());
    assert!(!r.text().contains("PRIVATE KEY"));

    let (empty, _) = make_app(vec![], unlimited());
    let r = call(&empty, "GET", "/v1/cert.pem", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn verify_accepts_a_good_object_in_yaml_and_json() {
    let (app, _) = make_app(vec![interop_entry()], unlimited());
    for name in [
        "sealed-by-kubesealpy-strict.yaml",
        "sealed-by-kubesealpy-namespace-wide.yaml",
        "sealed-by-kubesealpy-cluster-wide.yaml",
    ] {
        let r = post(&app, "/v1/verify", fixture(name)).await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        assert!(r.body.is_empty());
    }
    let r = post(&app, "/v1/verify", json(&strict())).await;
    assert_eq!(r.status, StatusCode::OK);
    // kubeseal POSTs, but any method is served, as upstream.
    let r = call(&app, "PUT", "/v1/verify", json(&strict()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn verify_rejects_a_renamed_strict_object_with_409() {
    let (app, _) = make_app(vec![interop_entry()], unlimited());
    let mut ss = strict();
    ss.metadata.name = Some("renamed".into());
    let r = post(&app, "/v1/verify", json(&ss)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.is_empty());
    // No keys at all: also 409.
    let (none, _) = make_app(vec![], unlimited());
    let r = post(&none, "/v1/verify", json(&strict())).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn verify_and_rotate_reject_bad_input_with_400() {
    let (app, _) = make_app(vec![interop_entry()], unlimited());
    let strict_yaml = String::from_utf8(fixture("sealed-by-kubesealpy-strict.yaml")).unwrap();
    let wrong_kind = strict_yaml.replace("kind: SealedSecret", "kind: Secret");
    let wrong_version = strict_yaml.replace("bitnami.com/v1alpha1", "bitnami.com/v1");
    let no_kind = strict_yaml.replace("kind: SealedSecret\n", "");
    let multi = format!("{strict_yaml}---\n{strict_yaml}");
    let multi_json = format!("{}{}", json(&strict()), json(&strict()));
    for path in ["/v1/verify", "/v1/rotate"] {
        for (body, expect) in [
            ("{ not json".to_owned(), "cannot decode"),
            ("a: [unclosed".to_owned(), "cannot decode"),
            ("- just\n- a list\n".to_owned(), "cannot decode"),
            (String::new(), "empty body"),
            (
                wrong_kind.clone(),
                "not a bitnami.com/v1alpha1 SealedSecret",
            ),
            (
                wrong_version.clone(),
                "not a bitnami.com/v1alpha1 SealedSecret",
            ),
            (no_kind.clone(), "not a bitnami.com/v1alpha1 SealedSecret"),
            (multi.clone(), "multiple documents are not supported"),
            (multi_json.clone(), "multiple documents are not supported"),
        ] {
            let r = post(&app, path, body.clone()).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body:.40}");
            assert!(r.text().contains(expect), "{path}: {}", r.text());
            assert!(!r.text().contains("Ag"), "echoes input: {}", r.text());
        }
    }
}

#[tokio::test]
async fn verify_and_rotate_refuse_bodies_over_one_mib_with_413() {
    let (app, _) = make_app(vec![interop_entry()], unlimited());
    let big = format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n# {}\n",
        "x".repeat(1024 * 1024 + 100 * 1024)
    );
    for path in ["/v1/verify", "/v1/rotate"] {
        let r = post(&app, path, big.clone()).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
}

#[tokio::test]
async fn crafted_templates_do_not_change_the_answer() {
    let (app, _) = make_app(vec![interop_entry()], unlimited());
    let victim = strict();
    let mut attack = victim.clone();
    attack.spec.template.data = Some(attacker_templates());
    let mut renamed = victim.clone();
    renamed.metadata.name = Some("renamed".into());
    let mut renamed_attack = renamed.clone();
    renamed_attack.spec.template.data = Some(attacker_templates());

    for (plain, crafted, expect) in [
        (&victim, &attack, StatusCode::OK),
        (&renamed, &renamed_attack, StatusCode::CONFLICT),
    ] {
        for path in ["/v1/verify", "/v1/rotate"] {
            let a = post(&app, path, json(plain)).await;
            let b = post(&app, path, json(crafted)).await;
            assert_eq!(a.status, expect, "{path}");
            assert_eq!(b.status, expect, "{path} with templates");
            if path == "/v1/verify" || expect != StatusCode::OK {
                assert_eq!(a.body, b.body, "{path}");
            }
        }
    }
    // Each single template on its own gives the same answer too.
    for (k, v) in attacker_templates() {
        let mut one = victim.clone();
        one.spec.template.data = Some(BTreeMap::from([(k.clone(), v)]));
        let r = post(&app, "/v1/verify", json(&one)).await;
        assert_eq!(r.status, StatusCode::OK, "{k}");
        let r = post(&app, "/v1/rotate", json(&one)).await;
        assert_eq!(r.status, StatusCode::OK, "{k}");
    }
}

fn rotated(r: &Reply) -> SealedSecret {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["kind"], "SealedSecret");
    assert_eq!(v["apiVersion"], "bitnami.com/v1alpha1");
    assert!(v.get("status").is_none());
    parse_sealed_secrets(&r.body).unwrap().remove(0)
}

fn plaintexts(ss: &SealedSecret, key: &PrivateKey) -> BTreeMap<String, Vec<u8>> {
    let u = unseal(ss, &[key], &no_render(), &mut Default::default()).unwrap();
    u.secret()
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

#[tokio::test]
async fn rotate_reseals_for_the_newest_key_only() {
    let (app, _) = make_app(vec![interop_entry(), new_entry()], unlimited());
    let mut input = strict();
    input
        .metadata
        .labels
        .get_or_insert_default()
        .insert("team".into(), "db".into());
    input.metadata.uid = Some("1234".into());
    let out = rotated(&post(&app, "/v1/rotate", json(&input)).await);

    assert_eq!(out.metadata.name.as_deref(), Some("db-credentials"));
    assert_eq!(out.metadata.namespace.as_deref(), Some("production"));
    assert_eq!(out.metadata.labels.as_ref().unwrap()["team"], "db");
    assert_eq!(out.metadata.uid, None);
    assert_eq!(
        out.spec.encrypted_data.keys().collect::<Vec<_>>(),
        input.spec.encrypted_data.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        out.spec.template.metadata.labels,
        input.spec.template.metadata.labels
    );
    assert_eq!(out.spec.template.type_.as_deref(), Some("Opaque"));

    verify(&out, &[&new_entry().key], &mut Default::default()).unwrap();
    assert!(verify(&out, &[&interop_entry().key], &mut Default::default()).is_err());
    assert_eq!(
        plaintexts(&out, &new_entry().key),
        plaintexts(&input, &interop_entry().key)
    );

    // The namespace-wide fixture keeps its scope.
    let ns_wide = post(
        &app,
        "/v1/rotate",
        fixture("sealed-by-kubesealpy-namespace-wide.yaml"),
    )
    .await;
    let out = rotated(&ns_wide);
    assert_eq!(
        SealingScope::from_annotations(out.metadata.annotations.as_ref()),
        SealingScope::NamespaceWide
    );
    assert_eq!(
        SealingScope::from_annotations(out.spec.template.metadata.annotations.as_ref()),
        SealingScope::NamespaceWide
    );
    let mut renamed = out.clone();
    renamed.metadata.name = Some("other".into());
    verify(&renamed, &[&new_entry().key], &mut Default::default()).unwrap();
}

/// CVE-2026-22728: a template claiming cluster-wide must not widen the scope of the output.
#[tokio::test]
async fn rotate_takes_the_scope_from_metadata_never_the_template() {
    let (app, _) = make_app(vec![interop_entry(), new_entry()], unlimited());
    let mut attack = strict();
    attack
        .spec
        .template
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
    let out = rotated(&post(&app, "/v1/rotate", json(&attack)).await);
    let outer = out.metadata.annotations.clone().unwrap_or_default();
    let inner = out
        .spec
        .template
        .metadata
        .annotations
        .clone()
        .unwrap_or_default();
    for a in [&outer, &inner] {
        assert!(!a.contains_key(CLUSTER_WIDE_ANNOTATION));
        assert!(!a.contains_key(NAMESPACE_WIDE_ANNOTATION));
    }
    // Still strict: opens under its own name, not under another name or namespace.
    verify(&out, &[&new_entry().key], &mut Default::default()).unwrap();
    let mut moved = out.clone();
    moved.metadata.name = Some("stolen".into());
    assert!(verify(&moved, &[&new_entry().key], &mut Default::default()).is_err());
    let mut moved = out.clone();
    moved.metadata.namespace = Some("attacker".into());
    moved.metadata.annotations = Some(BTreeMap::from([(
        CLUSTER_WIDE_ANNOTATION.into(),
        "true".into(),
    )]));
    assert!(verify(&moved, &[&new_entry().key], &mut Default::default()).is_err());
}

#[tokio::test]
async fn rotate_keeps_templates_as_templates() {
    let (app, _) = make_app(vec![interop_entry(), new_entry()], unlimited());
    let mut input = strict();
    let templates = BTreeMap::from([(
        "dsn".to_owned(),
        "postgres://{{ .username }}:{{ .password }}@db".to_owned(),
    )]);
    input.spec.template.data = Some(templates.clone());
    let out = rotated(&post(&app, "/v1/rotate", json(&input)).await);
    assert_eq!(out.spec.template.data, Some(templates));
    assert!(!out.spec.encrypted_data.contains_key("dsn"));
}

#[tokio::test]
async fn rotate_of_an_undecryptable_object_is_409() {
    let (app, _) = make_app(vec![interop_entry(), new_entry()], unlimited());
    let mut ss = strict();
    ss.metadata.namespace = Some("elsewhere".into());
    let r = post(&app, "/v1/rotate", json(&ss)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.is_empty());
}

/// No oracle: whatever makes an object undecryptable (garbage or truncated items, another key,
/// another name or namespace, a widened scope, a template claiming cluster-wide, a bad v1 blob),
/// verify and rotate give byte-identical answers: 409, the same headers, an empty body.
/// Malformed bodies get one fixed 400 message that never quotes the input.
#[tokio::test]
async fn failures_are_uniform_whatever_failed() {
    const NEEDLE: &str = "MyStr0ngP@ss!";
    let (app, _) = make_app(vec![interop_entry()], unlimited());
    let base = strict();
    let mut variants: Vec<(&str, SealedSecret)> = Vec::new();
    let with_item = |v: &str| {
        let mut ss = base.clone();
        ss.spec.encrypted_data.insert("password".into(), v.into());
        ss
    };
    variants.push(("bad base64", with_item("@@@ not base64 @@@")));
    variants.push(("empty item", with_item("")));
    variants.push(("truncated", with_item("AgA=")));
    let full = base.spec.encrypted_data["password"].clone();
    variants.push(("truncated half", with_item(&full[..full.len() / 2 / 4 * 4])));
    let other = seal_raw(
        &mut rand::rng(),
        new_entry().key.public_key(),
        "production",
        "db-credentials",
        SealingScope::Strict,
        b"x",
    )
    .unwrap();
    variants.push(("another key", with_item(&other)));
    let mut renamed = base.clone();
    renamed.metadata.name = Some("renamed".into());
    variants.push(("renamed", renamed));
    let mut moved = base.clone();
    moved.metadata.namespace = Some("elsewhere".into());
    variants.push(("moved", moved));
    for widen in [CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION] {
        let mut widened = base.clone();
        widened
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(widen.into(), "true".into());
        variants.push(("widened", widened));
    }
    let mut claim = base.clone();
    claim.metadata.namespace = Some("elsewhere".into());
    claim
        .spec
        .template
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
    variants.push(("template claims cluster-wide", claim));
    let mut v1 = base.clone();
    v1.spec.encrypted_data.clear();
    v1.spec.data = Some(k8s_openapi::ByteString(vec![0, 2, 1, 2, 3]));
    variants.push(("garbage v1 blob", v1));

    for path in ["/v1/verify", "/v1/rotate"] {
        let first = post(&app, path, json(&variants[0].1)).await;
        assert_eq!(first.status, StatusCode::CONFLICT, "{path}");
        assert!(first.body.is_empty(), "{path}");
        for (what, ss) in &variants {
            for body in [json(ss), sealed_secret_to_string(ss, Format::Yaml).unwrap()] {
                let r = post(&app, path, body).await;
                assert_eq!(r.status, first.status, "{path} {what}");
                assert_eq!(r.headers, first.headers, "{path} {what}");
                assert_eq!(r.body, first.body, "{path} {what}");
            }
        }
    }

    // Malformed bodies: one fixed message per kind of problem, whatever the body holds.
    let malformed = [
        format!("{{\"apiVersion\": \"bitnami.com/v1alpha1\", \"password\": \"{NEEDLE}\""),
        format!("password: [{NEEDLE}"),
        format!("{{ {NEEDLE}"),
        "\u{0}\u{1}binary".to_owned(),
    ];
    for path in ["/v1/verify", "/v1/rotate"] {
        let answers: Vec<Reply> =
            futures::future::join_all(malformed.iter().map(|b| post(&app, path, b.clone()))).await;
        for (body, r) in malformed.iter().zip(&answers) {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body:.30}");
            assert_eq!(
                r.text(),
                "cannot decode the body as JSON or YAML\n",
                "{path}"
            );
            assert!(!r.text().contains(NEEDLE));
        }
        // A well-formed document that is not a SealedSecret, carrying a plaintext.
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: a}}\nstringData: {{password: {NEEDLE}}}\n"
        );
        let r = post(&app, path, secret).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            r.text(),
            "the body is not a bitnami.com/v1alpha1 SealedSecret\n"
        );
    }

    // The certificate endpoint never serves a private key, whichever keys are loaded.
    for entries in [
        vec![interop_entry()],
        vec![new_entry()],
        vec![interop_entry(), new_entry()],
    ] {
        let (app, _) = make_app(entries, unlimited());
        for method in ["GET", "HEAD", "POST"] {
            let r = call(&app, method, "/v1/cert.pem", Body::empty(), &[]).await;
            assert!(!r.text().contains("PRIVATE KEY"), "{method}");
            let key_pem = String::from_utf8(fixture("key-4096.pem")).unwrap();
            for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!r.text().contains(line), "{method}: private key material");
            }
        }
    }
}

#[tokio::test]
async fn verify_and_rotate_are_rate_limited_with_retry_after() {
    let options = HttpOptions {
        rate_limit: 1,
        rate_limit_burst: 1,
        ..HttpOptions::default()
    };
    let (app, s) = make_app(vec![interop_entry()], options);
    for path in ["/v1/verify", "/v1/rotate"] {
        for i in 0..2 {
            let r = post(&app, path, "garbage").await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {i}");
            assert_eq!(r.headers["x-ratelimit-limit"], "2");
            assert_eq!(
                r.headers["x-ratelimit-remaining"],
                (1 - i).to_string().as_str()
            );
            assert!(r.headers.get("retry-after").is_none());
        }
        let r = post(&app, path, json(&strict())).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert_eq!(r.text(), "limit exceeded\n");
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1);
        assert_eq!(r.headers["x-ratelimit-remaining"], "0");
        assert!(r.headers.contains_key("x-ratelimit-reset"));
    }
    // cert.pem and healthz are not limited.
    for _ in 0..5 {
        let r = call(&app, "GET", "/v1/cert.pem", Body::empty(), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let m = s.metrics.encode();
    assert!(
        m.contains(
            r#"sealed_secrets_controller_http_requests_total{path="/v1/verify",code="429",method="post"} 1"#
        ),
        "{m}"
    );
    assert!(m.contains(
        r#"sealed_secrets_controller_http_requests_total{path="/v1/cert.pem",code="200",method="get"} 5"#
    ));
    assert!(m.contains(r#"sealed_secrets_controller_http_request_duration_seconds_count{path="/v1/rotate",method="post"} 3"#));
}

#[tokio::test]
async fn rate_limit_keys_on_the_last_x_forwarded_for_entry() {
    let options = HttpOptions {
        rate_limit: 1,
        rate_limit_burst: 0,
        ..HttpOptions::default()
    };
    let (app, _) = make_app(vec![interop_entry()], options);
    let xff = |v: &'static str| [("x-forwarded-for", v)];
    let verify = |h: [(&'static str, &'static str); 1]| {
        let app = app.clone();
        async move { call(&app, "POST", "/v1/verify", "x", &h).await.status }
    };
    assert_eq!(verify(xff("2001:DB8::1")).await, StatusCode::BAD_REQUEST);
    // Same client, other case: same key.
    assert_eq!(
        verify(xff("2001:db8::1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A caller-chosen first entry does not give a new key: the proxy's (last) entry counts.
    assert_eq!(
        verify(xff("10.9.9.9, 2001:db8::1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client has its own allowance.
    assert_eq!(verify(xff("192.0.2.7")).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        verify(xff("192.0.2.7")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The path is part of the key.
    let r = call(&app, "POST", "/v1/rotate", "x", &xff("192.0.2.7")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Without the header (and without ConnectInfo) requests share one key.
    let r = call(&app, "POST", "/v1/verify", "x", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(&app, "POST", "/v1/verify", "x", &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn http_metrics_start_at_zero() {
    let (_, s) = make_app(vec![interop_entry()], unlimited());
    let m = s.metrics.encode();
    for path in ["/v1/verify", "/v1/rotate"] {
        let line = format!(
            r#"sealed_secrets_controller_http_requests_total{{path="{path}",code="200",method="post"}} 0"#
        );
        assert!(m.contains(&line), "{m}");
    }
}

/// `/metrics` as promhttp.Handler() answers: text 0.0.4 for every `Accept` (Prometheus' own
/// asks for OpenMetrics first), any method, promhttp's scrape counter, upstream's help texts.
#[tokio::test]
async fn metrics_endpoint_speaks_prometheus_text_like_promhttp() {
    let (_, s) = make_app(vec![interop_entry()], unlimited());
    let app = controller::http::metrics_router(s.clone());
    let prometheus_accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
        application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
        text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let mut bodies = Vec::new();
    for (method, accept) in [
        ("GET", ""),
        ("GET", prometheus_accept),
        ("GET", "application/openmetrics-text"),
        ("POST", "text/plain"),
    ] {
        let headers: Vec<(&str, &str)> = if accept.is_empty() {
            vec![]
        } else {
            vec![("accept", accept)]
        };
        let r = call(&app, method, "/metrics", Body::empty(), &headers).await;
        assert_eq!(r.status, StatusCode::OK, "{method} {accept}");
        assert_eq!(
            r.headers["content-type"],
            "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
        );
        bodies.push(r.text());
    }
    let last = bodies.pop().unwrap();
    assert!(!last.contains("# EOF"), "{last}");
    // Each scrape counts the ones before it, not itself.
    assert!(
        last.contains("promhttp_metric_handler_requests_total{code=\"200\"} 3\n"),
        "{last}"
    );
    assert!(
        last.contains("promhttp_metric_handler_requests_total{code=\"503\"} 0\n"),
        "{last}"
    );
    assert!(
        last.contains("promhttp_metric_handler_requests_in_flight 1\n"),
        "{last}"
    );
    for line in [
        "# HELP sealed_secrets_controller_unseal_requests_total Total number of sealed secret unseal requests\n",
        "# TYPE sealed_secrets_controller_unseal_requests_total counter\n",
        "# HELP sealed_secrets_controller_http_requests_total A counter for requests to the wrapped handler.\n",
        "# HELP sealed_secrets_controller_http_request_duration_seconds A histogram of latencies for requests.\n",
        "# TYPE sealed_secrets_controller_http_request_duration_seconds histogram\n",
        "# HELP sealed_secrets_controller_build_info Build information.\n",
        "# TYPE sealed_secrets_controller_build_info gauge\n",
        "# TYPE process_cpu_seconds_total counter\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_start_time_seconds gauge\n",
        "# TYPE process_open_fds gauge\n",
        "# TYPE process_max_fds gauge\n",
        "# TYPE process_virtual_memory_bytes gauge\n",
        "# TYPE process_virtual_memory_max_bytes gauge\n",
    ] {
        assert!(last.contains(line), "{line:?} missing from\n{last}");
    }
    // No Go runtime metrics: they would describe a runtime we do not have.
    assert!(!last.contains("go_"), "{last}");
}

#[tokio::test]
async fn http_metrics_methods_lower_case_and_default_buckets() {
    let (app, s) = make_app(vec![interop_entry()], unlimited());
    for method in ["GET", "get", "HEAD", "OPTIONS", "Get", "BREW"] {
        let r = call(&app, method, "/v1/cert.pem", Body::empty(), &[]).await;
        assert!(r.status.is_success(), "{method}: {}", r.status);
    }
    let m = s.metrics.encode();
    let count = |method: &str| {
        let prefix = format!(
            r#"sealed_secrets_controller_http_requests_total{{path="/v1/cert.pem",code="200",method="{method}"}} "#
        );
        m.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|v| v.to_owned())
    };
    assert_eq!(count("get").as_deref(), Some("2"), "{m}");
    assert_eq!(count("head").as_deref(), Some("1"), "{m}");
    assert_eq!(count("options").as_deref(), Some("1"), "{m}");
    // Mixed case and made-up methods are one bounded series, as promhttp's sanitizeMethod.
    assert_eq!(count("unknown").as_deref(), Some("2"), "{m}");
    assert!(
        !m.contains("GET") && !m.contains("BREW") && !m.contains("method=\"Get\""),
        "{m}"
    );
    let les: Vec<&str> = m
        .lines()
        .filter(|l| {
            l.starts_with(r#"sealed_secrets_controller_http_request_duration_seconds_bucket{path="/v1/cert.pem",method="get""#)
        })
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        les,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"
        ]
    );
}

#[tokio::test]
async fn a_body_slower_than_the_read_timeout_gets_408() {
    let options = HttpOptions {
        read_timeout: Duration::from_millis(100),
        ..unlimited()
    };
    let (app, _) = make_app(vec![interop_entry()], options);
    let stalled = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        call(&app, "POST", "/v1/verify", stalled, &[]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One request on a kept-alive connection; returns the status code.
async fn roundtrip(
    conn: &mut BufReader<tokio::net::TcpStream>,
    request: &[u8],
) -> std::io::Result<u16> {
    conn.get_mut().write_all(request).await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let code = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).await?;
    Ok(code)
}

/// 2,000 verify requests over 8 connections at 2/s, burst 2: everything past the allowance is
/// 429, nothing hangs, and memory stays flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_verify_is_limited_bounded_and_flat() {
    const CONNECTIONS: usize = 8;
    const PER_CONNECTION: usize = 250;
    let entry = interop_entry();
    let public: &PublicKey = entry.cert.public_key();
    let mut ss = strict();
    ss.metadata.name = Some("load".into());
    ss.metadata.namespace = Some("default".into());
    ss.spec.encrypted_data = BTreeMap::from([(
        "k".to_owned(),
        seal_raw(
            &mut rand::rng(),
            public,
            "default",
            "load",
            SealingScope::Strict,
            b"v",
        )
        .unwrap(),
    )]);
    let body = json(&ss);
    let request = Arc::new(
        format!(
            "POST /v1/verify HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );

    let (app, _) = make_app(vec![entry.clone()], HttpOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        })
        .await
    });

    let rss_before = vm_rss_kib();
    let start = Instant::now();
    let run = async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONNECTIONS {
            let request = request.clone();
            tasks.spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let mut conn = BufReader::new(stream);
                let mut codes = Vec::with_capacity(PER_CONNECTION);
                for _ in 0..PER_CONNECTION {
                    codes.push(roundtrip(&mut conn, &request).await.unwrap());
                }
                codes
            });
        }
        let mut all = Vec::new();
        while let Some(codes) = tasks.join_next().await {
            all.extend(codes.unwrap());
        }
        all
    };
    let codes = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("load test hung");
    let elapsed = start.elapsed();
    let rss_after = vm_rss_kib();
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;

    let ok = codes.iter().filter(|&&c| c == 200).count();
    let limited = codes.iter().filter(|&&c| c == 429).count();
    println!(
        "load: {} requests, {ok} x 200, {limited} x 429 in {:.2?} ({:.0} req/s); VmRSS {} KiB -> {} KiB",
        codes.len(),
        elapsed,
        codes.len() as f64 / elapsed.as_secs_f64(),
        rss_before,
        rss_after
    );
    assert_eq!(codes.len(), CONNECTIONS * PER_CONNECTION);
    assert_eq!(ok + limited, codes.len(), "only 200 and 429 expected");
    // burst + 1 at once, then 2 per second.
    let allowance = 3 + (2.0 * elapsed.as_secs_f64()).ceil() as usize;
    assert!(
        ok >= 3 && ok <= allowance,
        "{ok} allowed, allowance {allowance}"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// The sealing page exists only with `--ui`.
#[tokio::test]
async fn ui_is_off_by_default() {
    let (app, _) = make_app(vec![interop_entry()], unlimited());
    for path in ["/ui", "/ui/", "/ui/seal.js", "/ui/style.css"] {
        let r = call(&app, "GET", path, Body::empty(), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// `--ui`: three embedded files with a strict CSP, nosniff, no referrer, no caching; `/ui`
/// redirects relatively (so it stays under a proxy prefix); nothing else under `/ui/`.
#[tokio::test]
async fn ui_serves_three_files_with_strict_headers() {
    let options = HttpOptions {
        ui: true,
        ..unlimited()
    };
    let (app, _) = make_app(vec![interop_entry()], options);
    let check_headers = |path: &str, r: &Reply| {
        let h = |name: &str| r.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        let csp = h("content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(csp.split("; ").any(|d| d == directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe") && !csp.contains("http"),
            "{path}: {csp}"
        );
        assert_eq!(h("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(h("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(h("cache-control").as_deref(), Some("no-store"));
        assert_eq!(h("x-frame-options").as_deref(), Some("DENY"));
    };
    let files = [
        ("/ui/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/ui/seal.js",
            "text/javascript; charset=utf-8",
            "// The sealing page",
        ),
        ("/ui/style.css", "text/css; charset=utf-8", ":root"),
    ];
    for (path, content_type, start) in files {
        let r = call(&app, "GET", path, Body::empty(), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers[axum::http::header::CONTENT_TYPE], content_type);
        assert!(r.text().starts_with(start), "{path}");
        check_headers(path, &r);
        let head = call(&app, "HEAD", path, Body::empty(), &[]).await;
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());
        let post = call(&app, "POST", path, "x", &[]).await;
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        check_headers(path, &post);
    }
    // The page loads its module and stylesheet relatively, with no inline script.
    let html = call(&app, "GET", "/ui/", Body::empty(), &[]).await.text();
    assert!(html.contains(r#"<script type="module" src="seal.js"></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="style.css">"#));
    assert_eq!(html.matches("<script").count(), 1);
    let js = call(&app, "GET", "/ui/seal.js", Body::empty(), &[])
        .await
        .text();
    assert!(js.contains("fetch('../v1/cert.pem'") && js.contains("fetch('../v1/verify'"));

    let r = call(&app, "GET", "/ui", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers[axum::http::header::LOCATION], "ui/");
    check_headers("/ui", &r);
    for path in ["/ui/index.html", "/ui/../v1/cert.pem", "/ui/x", "/ui//"] {
        let r = call(&app, "GET", path, Body::empty(), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    // The endpoints the page calls are the same as without it.
    let r = call(&app, "GET", "/v1/cert.pem", Body::empty(), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}
