//! CLI tests against the real binary, mirroring upstream's kubeseal tests that need no cluster.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

mod support;

use base64::Engine as _;
use common::annotations::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};
use common::crd::SealedSecret;
use common::documents::{parse_sealed_secrets, parse_secrets};
use common::scope::{SealingScope, encryption_label};
use common::sealing::{UnsealOptions, unseal};
use support::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn unseal_data(ss: &SealedSecret, field: &str) -> Vec<u8> {
    let k = key();
    let s = unseal(
        ss,
        &[&k],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    s.secret().data.as_ref().unwrap()[field].0.clone()
}

fn seal(dir: &TempDir, args: &[&str], input: &str) -> Vec<SealedSecret> {
    let cert = cert_arg();
    let mut a = vec!["--cert", &cert];
    a.extend_from_slice(args);
    let out = run(dir.path(), &a, input.as_bytes());
    out.ok();
    parse_sealed_secrets(&out.stdout).unwrap()
}

#[test]
fn test_version() {
    let d = TempDir::new("version");
    let out = run(d.path(), &["--version"], b"");
    out.ok();
    let s = out.stdout_str();
    assert!(s.starts_with("kubeseal version: "), "{s}");
    assert!(s.ends_with('\n'));
    // Upstream's format, as the controller's: `kubeseal version: v0.36.6`.
    let v = s.trim_end().strip_prefix("kubeseal version: v").unwrap();
    assert!(
        v.split('.').count() == 3 && v.split('.').all(|n| n.parse::<u32>().is_ok()),
        "{s}"
    );
}

/// pflag semantics: every bool takes `--flag=<Go bool>`, `SEALED_SECRETS_*` booleans use Go's
/// `ParseBool` spellings, and a repeated flag is not an error: the last one wins.
#[test]
fn flags_parse_like_pflag() {
    let d = TempDir::new("pflag");
    let empty = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n  namespace: ns\n";
    // --allow-empty-data=false keeps refusing an empty Secret; =true and =T accept it.
    let refused = run(
        d.path(),
        &["--cert", &cert_arg(), "--allow-empty-data=false"],
        empty.as_bytes(),
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    for v in [
        "--allow-empty-data=true",
        "--allow-empty-data=T",
        "--allow-empty-data",
    ] {
        run(d.path(), &["--cert", &cert_arg(), v], empty.as_bytes()).ok();
    }
    let env = run_env(
        d.path(),
        &["--cert", &cert_arg()],
        empty.as_bytes(),
        &[("SEALED_SECRETS_ALLOW_EMPTY_DATA", "TRUE")],
    );
    env.ok();
    let bad = run_env(
        d.path(),
        &["--cert", &cert_arg()],
        empty.as_bytes(),
        &[("SEALED_SECRETS_ALLOW_EMPTY_DATA", "yes")],
    );
    assert_eq!(bad.code, 2, "`yes` is not a Go bool: {}", bad.stderr);
    // A repeated flag: the last one wins.
    let secret = secret_yaml("s", Some("ns"), "");
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert_arg(),
            "--scope",
            "strict",
            "--scope",
            "cluster-wide",
            "-o",
            "yaml",
        ],
        secret.as_bytes(),
    );
    out.ok();
    assert!(
        out.stdout_str()
            .contains("sealedsecrets.bitnami.com/cluster-wide: \"true\""),
        "{}",
        out.stdout_str()
    );
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert_arg(),
            "--raw=false",
            "--raw=true",
            "--name",
            "s",
            "--namespace",
            "ns",
        ],
        b"v",
    );
    out.ok();
    assert!(!out.stdout.is_empty());
}

#[test]
fn help_goes_to_stdout_exit_0() {
    let d = TempDir::new("help");
    let out = run(d.path(), &["--help"], b"");
    out.ok();
    assert!(out.stdout_str().contains("--recovery-private-key"));
    let bad = run(d.path(), &["--no-such-flag"], b"");
    assert_eq!(bad.code, 2);
}

#[test]
fn test_main_error() {
    // Empty stdin: no secrets.
    let d = TempDir::new("mainerr");
    let out = run(d.path(), &["--cert", &cert_arg()], b"");
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: no secrets found. Ensure the input is valid and UTF-8 encoded\n"
    );
}

/// Not a PEM certificate (an HTML page, a key): client-go's text, as upstream.
#[test]
fn cert_that_is_not_pem_gives_upstreams_message() {
    let d = TempDir::new("notpem");
    let page = d.write("page.html", "<html>login</html>");
    let out = run(
        d.path(),
        &["--cert", &page.display().to_string()],
        secret_yaml("s", Some("n"), "").as_bytes(),
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: data does not contain any valid RSA or ECDSA certificates\n"
    );
}

#[test]
fn cert_nonexistent_file() {
    let d = TempDir::new("nocert");
    let out = run(
        d.path(),
        &["--cert", "/does/not/exist.pem"],
        secret_yaml("a", None, "").as_bytes(),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error:") && out.stderr.contains("no such file or directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_cert_no_cluster_is_a_clear_error() {
    let d = TempDir::new("nocluster");
    let out = run(d.path(), &[], secret_yaml("a", None, "").as_bytes());
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no kubeconfig found")
            && out.stderr.contains("not running in a cluster"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_seal_namespace_defaulting_and_scopes() {
    let d = TempDir::new("seal");
    // No namespace, no kubeconfig → default.
    let ss = seal(&d, &[], &secret_yaml("mysecret", None, ""));
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("default"));
    assert_eq!(unseal_data(&ss[0], "foo"), b"bar");
    // Input namespace kept.
    let ss = seal(&d, &[], &secret_yaml("mysecret", Some("testns"), ""));
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("testns"));
    // -n fills it.
    let ss = seal(&d, &["-n", "argns"], &secret_yaml("mysecret", None, ""));
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("argns"));
    // Cluster-wide keeps an empty namespace.
    let ss = seal(
        &d,
        &["--scope", "cluster-wide"],
        &secret_yaml("mysecret", None, ""),
    );
    assert_eq!(ss[0].metadata.namespace, None);
    assert_eq!(
        ss[0].metadata.annotations.as_ref().unwrap()[CLUSTER_WIDE_ANNOTATION],
        "true"
    );
    assert_eq!(
        ss[0].spec.template.metadata.annotations.as_ref().unwrap()[CLUSTER_WIDE_ANNOTATION],
        "true"
    );
    // Namespace-wide via flag.
    let ss = seal(
        &d,
        &["--scope", "namespace-wide"],
        &secret_yaml("mysecret", Some("n"), ""),
    );
    assert_eq!(
        ss[0].metadata.annotations.as_ref().unwrap()[NAMESPACE_WIDE_ANNOTATION],
        "true"
    );
    // Via annotation on the input.
    let ss = seal(
        &d,
        &[],
        &secret_yaml(
            "mysecret",
            Some("n"),
            "  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n",
        ),
    );
    assert_eq!(
        ss[0].metadata.annotations.as_ref().unwrap()[NAMESPACE_WIDE_ANNOTATION],
        "true"
    );
    // Env var sets the scope; an explicit flag wins.
    let out = run_env(
        d.path(),
        &["--cert", &cert_arg()],
        secret_yaml("s", Some("n"), "").as_bytes(),
        &[("SEALED_SECRETS_SCOPE", "cluster-wide")],
    );
    let ss = parse_sealed_secrets(&out.ok().stdout).unwrap();
    assert_eq!(
        SealingScope::from_annotations(ss[0].metadata.annotations.as_ref()),
        SealingScope::ClusterWide
    );
    let out = run_env(
        d.path(),
        &["--cert", &cert_arg(), "--scope", "strict"],
        secret_yaml("s", Some("n"), "").as_bytes(),
        &[("SEALED_SECRETS_SCOPE", "cluster-wide")],
    );
    let ss = parse_sealed_secrets(&out.ok().stdout).unwrap();
    assert_eq!(
        SealingScope::from_annotations(ss[0].metadata.annotations.as_ref()),
        SealingScope::Strict
    );
}

#[test]
fn namespace_from_kubeconfig_without_cluster() {
    let d = TempDir::new("kubeconfig");
    let kc = d.write(
        "kc.yaml",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://0.0.0.0:1'}\ncontexts:\n- name: ctx\n  context: {cluster: c, namespace: nons}\n- name: other\n  context: {cluster: c, namespace: otherns}\ncurrent-context: ctx\n",
    );
    let kc = kc.display().to_string();
    let ss = seal(&d, &["--kubeconfig", &kc], &secret_yaml("s", None, ""));
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("nons"));
    let ss = seal(
        &d,
        &["--kubeconfig", &kc, "--context", "other"],
        &secret_yaml("s", None, ""),
    );
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("otherns"));
    let out = run_env(
        d.path(),
        &["--cert", &cert_arg()],
        secret_yaml("s", None, "").as_bytes(),
        &[("KUBECONFIG", &kc)],
    );
    let ss = parse_sealed_secrets(&out.ok().stdout).unwrap();
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("nons"));
}

/// A `--kubeconfig` that does not exist is client-go's loading error, but only when the namespace
/// is needed: a Secret with its namespace, or `-n`, seals as upstream does; a missing file of
/// `$KUBECONFIG` is skipped.
#[test]
fn missing_explicit_kubeconfig_fails_only_when_the_namespace_is_needed() {
    let d = TempDir::new("kubeconfig-missing");
    let missing = d.path().join("nope.yaml").display().to_string();
    let out = run(
        d.path(),
        &["--cert", &cert_arg(), "--kubeconfig", &missing],
        secret_yaml("s", None, "").as_bytes(),
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!("error: stat {missing}: no such file or directory\n")
    );
    let ss = seal(
        &d,
        &["--kubeconfig", &missing],
        &secret_yaml("s", Some("has-ns"), ""),
    );
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("has-ns"));
    let ss = seal(
        &d,
        &["--kubeconfig", &missing, "-n", "given"],
        &secret_yaml("s", None, ""),
    );
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("given"));
    let out = run_env(
        d.path(),
        &["--cert", &cert_arg()],
        secret_yaml("s", None, "").as_bytes(),
        &[("KUBECONFIG", &missing)],
    );
    let ss = parse_sealed_secrets(&out.ok().stdout).unwrap();
    assert_eq!(ss[0].metadata.namespace.as_deref(), Some("default"));
}

#[test]
fn test_namespace_mismatch_validation() {
    let d = TempDir::new("mismatch");
    let out = run(
        d.path(),
        &["--cert", &cert_arg(), "-n", "b"],
        secret_yaml("s", Some("a"), "").as_bytes(),
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: namespace mismatch: input secret is in namespace \"a\" but \"b\" was specified\n"
    );
    // Same namespace is fine.
    seal(&d, &["-n", "a"], &secret_yaml("s", Some("a"), ""));
}

#[test]
fn test_seal_with_multi_doc_secrets() {
    let d = TempDir::new("multidoc");
    let json = "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"data\":{\"foo\":\"YmFy\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"},\"stringData\":{\"foo\":\"bar\"}}";
    let ss = seal(&d, &[], json);
    assert_eq!(ss.len(), 2);
    assert_eq!(unseal_data(&ss[1], "foo"), b"bar");
    let yaml = format!(
        "{}---\n{}",
        secret_yaml("a", Some("n"), ""),
        secret_yaml("b", Some("n"), "")
    );
    let out = run(
        d.path(),
        &["--cert", &cert_arg(), "-o", "yaml"],
        yaml.as_bytes(),
    );
    let s = out.ok().stdout_str();
    assert!(s.starts_with("---\n"), "{s}");
    assert!(!s.ends_with("---\n"));
    assert_eq!(s.matches("---\n").count(), 2);
    let ss = parse_sealed_secrets(s.as_bytes()).unwrap();
    assert_eq!(ss[1].metadata.name.as_deref(), Some("b"));
    // JSON output is one pretty document per secret, each ending with a newline.
    let out = run(d.path(), &["--cert", &cert_arg()], yaml.as_bytes());
    let s = out.ok().stdout_str();
    assert!(s.starts_with(
        "{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\": \"bitnami.com/v1alpha1\",\n"
    ));
    assert!(s.contains("}\n{\n"));
}

#[test]
fn seal_errors_and_server_fields() {
    let d = TempDir::new("sealerr");
    let c = cert_arg();
    let out = run(
        d.path(),
        &["--cert", &c],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n",
    );
    assert_eq!(
        out.stderr,
        "error: secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used\n"
    );
    let ok = run(
        d.path(),
        &["--cert", &c, "--allow-empty-data"],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n",
    );
    assert!(
        parse_sealed_secrets(&ok.ok().stdout).unwrap()[0]
            .spec
            .encrypted_data
            .is_empty()
    );
    let out = run(
        d.path(),
        &["--cert", &c],
        b"apiVersion: v1\nkind: Secret\ndata: {foo: YmFy}\n",
    );
    assert_eq!(out.stderr, "error: missing metadata.name in input Secret\n");
    let ss = seal(
        &d,
        &[],
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: n\n  uid: u\n  resourceVersion: '5'\n  generation: 2\n  creationTimestamp: '2024-01-01T00:00:00Z'\n  selfLink: /x\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"foo\":\"YmFy\"}}'\n    keep: me\n  ownerReferences:\n  - {apiVersion: v1, kind: X, name: o, uid: u}\ndata: {foo: YmFy}\n",
    );
    let t = &ss[0].spec.template.metadata;
    assert!(t.uid.is_none() && t.resource_version.is_none() && t.generation.is_none());
    assert!(
        t.creation_timestamp.is_none() && t.self_link.is_none() && t.owner_references.is_none()
    );
    let ann = t.annotations.as_ref().unwrap();
    assert_eq!(ann.len(), 1);
    assert_eq!(ann["keep"], "me");
}

#[test]
fn parse_errors_never_echo_plaintext() {
    let d = TempDir::new("redact");
    for input in [
        "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData:\n  password: TopSecretValue42\n bad: [\n",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata:\n  password: 'TopSecretValue42!!'\n",
        "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\"},\"stringData\":{\"password\":[\"TopSecretValue42\"]}}",
    ] {
        let out = run(d.path(), &["--cert", &cert_arg()], input.as_bytes());
        assert_eq!(out.code, 1);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
        assert!(!out.stderr.contains("TopSecretValue42"), "{}", out.stderr);
    }
}

#[test]
fn test_write_to_file() {
    let d = TempDir::new("write");
    let c = cert_arg();
    let input = secret_yaml("s", Some("n"), "");
    run(
        d.path(),
        &["--cert", &c, "-w", "out.json"],
        input.as_bytes(),
    )
    .ok();
    let json = std::fs::read(d.path().join("out.json")).unwrap();
    assert!(json.starts_with(b"{"));
    run(
        d.path(),
        &["--cert", &c, "-w", "out.yaml"],
        input.as_bytes(),
    )
    .ok();
    let yaml = std::fs::read(d.path().join("out.yaml")).unwrap();
    assert!(yaml.starts_with(b"---\napiVersion"));
    assert_eq!(
        unseal_data(&parse_sealed_secrets(&yaml).unwrap()[0], "foo"),
        b"bar"
    );
    // No temp files left behind.
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
}

#[test]
fn test_fail_to_write_to_file() {
    let d = TempDir::new("failwrite");
    let out = run(
        d.path(),
        &["--cert", &cert_arg(), "-w", "/no/such/dir/out.json"],
        secret_yaml("s", Some("n"), "").as_bytes(),
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    // A failed seal leaves an existing output file alone.
    let existing = d.write("keep.json", "old");
    let out = run(d.path(), &["--cert", &cert_arg(), "-w", "keep.json"], b"");
    assert_eq!(out.code, 1);
    assert_eq!(std::fs::read_to_string(existing).unwrap(), "old");
}

#[test]
fn test_open_cert_file_path_file_url_and_http() {
    let d = TempDir::new("opencert");
    let pem = std::fs::read(fixture("cert-4096.pem")).unwrap();
    let input = secret_yaml("s", Some("n"), "");
    // file:// URL.
    let url = format!(
        "file://{}",
        fixture("cert-4096.pem").canonicalize().unwrap().display()
    );
    let out = run(d.path(), &["--cert", &url], input.as_bytes());
    assert_eq!(
        unseal_data(&parse_sealed_secrets(&out.ok().stdout).unwrap()[0], "foo"),
        b"bar"
    );
    // SEALED_SECRETS_CERT.
    let out = run_env(
        d.path(),
        &[],
        input.as_bytes(),
        &[("SEALED_SECRETS_CERT", &cert_arg())],
    );
    out.ok();
    // http:// from a loopback server thread.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for (i, stream) in listener.incoming().take(2).enumerate() {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            if i == 0 {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    pem.len()
                );
                s.write_all(head.as_bytes()).unwrap();
                s.write_all(&pem).unwrap();
            } else {
                s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
            }
        }
    });
    let url = format!("http://{addr}/v1/cert.pem");
    let out = run(d.path(), &["--cert", &url], input.as_bytes());
    assert_eq!(
        unseal_data(&parse_sealed_secrets(&out.ok().stdout).unwrap()[0], "foo"),
        b"bar"
    );
    let out = run(d.path(), &["--cert", &url], input.as_bytes());
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!("error: cannot fetch \"{url}\": 404 Not Found\n")
    );
    server.join().unwrap();
}

#[test]
fn fetch_cert_with_cert_prints_bytes() {
    let d = TempDir::new("fetchcert");
    let out = run(d.path(), &["--fetch-cert", "--cert", &cert_arg()], b"");
    assert_eq!(
        out.ok().stdout,
        std::fs::read(fixture("cert-4096.pem")).unwrap()
    );
    let out = run(d.path(), &["--fetch-cert"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no kubeconfig found"), "{}", out.stderr);
}

#[test]
fn expired_cert_is_refused() {
    // Only checkable with a cert that is expired; the fixture is valid for 10 years, so check the
    // message through the library.
    let cert = cert();
    let far = cert.not_after() + std::time::Duration::from_secs(1);
    let err =
        kubeseal::parse_cert(&std::fs::read(fixture("cert-4096.pem")).unwrap(), far).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to encrypt using an expired certificate on "),
        "{err}"
    );
}

/// Upstream's TestRaw matrix: scope × namespace × name.
#[test]
fn test_raw() {
    let d = TempDir::new("raw");
    let c = cert_arg();
    let k = key();
    struct Case {
        scope: &'static str,
        ns: Option<&'static str>,
        name: Option<&'static str>,
        err: Option<&'static str>,
        label_ns: &'static str,
    }
    let cases = [
        Case {
            scope: "strict",
            ns: Some("n"),
            name: Some("s"),
            err: None,
            label_ns: "n",
        },
        Case {
            scope: "strict",
            ns: None,
            name: Some("s"),
            err: None,
            label_ns: "default",
        },
        Case {
            scope: "strict",
            ns: Some("n"),
            name: None,
            err: Some("error: must provide the --name flag with --raw and --scope strict\n"),
            label_ns: "",
        },
        Case {
            scope: "strict",
            ns: None,
            name: None,
            err: Some("error: must provide the --name flag with --raw and --scope strict\n"),
            label_ns: "",
        },
        Case {
            scope: "",
            ns: Some("n"),
            name: Some("s"),
            err: None,
            label_ns: "n",
        },
        Case {
            scope: "",
            ns: Some("n"),
            name: None,
            err: Some("error: must provide the --name flag with --raw and --scope strict\n"),
            label_ns: "",
        },
        Case {
            scope: "namespace-wide",
            ns: Some("n"),
            name: Some("s"),
            err: None,
            label_ns: "n",
        },
        Case {
            scope: "namespace-wide",
            ns: Some("n"),
            name: None,
            err: None,
            label_ns: "n",
        },
        Case {
            scope: "namespace-wide",
            ns: None,
            name: None,
            err: None,
            label_ns: "default",
        },
        Case {
            scope: "namespace-wide",
            ns: None,
            name: Some("s"),
            err: None,
            label_ns: "default",
        },
        Case {
            scope: "cluster-wide",
            ns: Some("n"),
            name: Some("s"),
            err: None,
            label_ns: "",
        },
        Case {
            scope: "cluster-wide",
            ns: None,
            name: Some("s"),
            err: None,
            label_ns: "",
        },
        Case {
            scope: "cluster-wide",
            ns: Some("n"),
            name: None,
            err: None,
            label_ns: "",
        },
        Case {
            scope: "cluster-wide",
            ns: None,
            name: None,
            err: None,
            label_ns: "",
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut args = vec!["--cert", &c, "--raw"];
        if !case.scope.is_empty() {
            args.extend(["--scope", case.scope]);
        }
        if let Some(ns) = case.ns {
            args.extend(["-n", ns]);
        }
        if let Some(name) = case.name {
            args.extend(["--name", name]);
        }
        let out = run(d.path(), &args, b"secret value");
        if let Some(err) = case.err {
            assert_eq!(out.code, 1, "case {i}");
            assert_eq!(out.stderr, err, "case {i}");
            continue;
        }
        out.ok();
        let text = out.stdout_str();
        assert!(!text.ends_with('\n'), "case {i}");
        let scope: SealingScope = case.scope.parse().unwrap();
        let label = encryption_label(case.label_ns, case.name.unwrap_or_default(), scope);
        let ct = B64.decode(text).unwrap();
        let pt = common::crypto::single_decrypt(&k, &ct, &label).unwrap();
        assert_eq!(&pt[..], b"secret value", "case {i}");
    }
}

#[test]
fn test_raw_seal_errors() {
    let d = TempDir::new("rawerr");
    let c = cert_arg();
    let f1 = d.write("a.txt", "x");
    let f2 = d.write("b.txt", "y");
    let out = run(
        d.path(),
        &["--cert", &c, "--from-file", &f1.display().to_string()],
        b"",
    );
    assert_eq!(out.stderr, "error: --from-file requires --raw\n");
    let both = format!("{},{}", f1.display(), f2.display());
    let out = run(
        d.path(),
        &["--cert", &c, "--raw", "--name", "s", "--from-file", &both],
        b"",
    );
    assert_eq!(
        out.stderr,
        "error: must provide only one --from-file when encrypting a single item with --raw\n"
    );
    // key=path form, value from the file.
    let spec = format!("k={}", f1.display());
    let out = run(
        d.path(),
        &[
            "--cert",
            &c,
            "--raw",
            "--name",
            "s",
            "-n",
            "n",
            "--from-file",
            &spec,
        ],
        b"ignored",
    );
    let ct = B64.decode(out.ok().stdout_str()).unwrap();
    assert_eq!(
        &common::crypto::single_decrypt(&key(), &ct, b"n/s").unwrap()[..],
        b"x"
    );
}

/// `--raw` output is byte-exact with the vectors when the random stream is pinned (debug builds).
#[test]
fn raw_matches_byte_exact_vectors() {
    if !cfg!(debug_assertions) {
        return;
    }
    let d = TempDir::new("vectors");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("vectors-4096.json")).unwrap()).unwrap();
    let c = cert_arg();
    let mut checked = 0;
    for vec in v["vectors"].as_array().unwrap() {
        let plaintext = B64.decode(vec["plaintext_b64"].as_str().unwrap()).unwrap();
        let p = d.write("pt.bin", &plaintext);
        let scope = vec["scope"].as_str().unwrap();
        let ns = vec["namespace"].as_str().unwrap();
        let name = vec["name"].as_str().unwrap();
        let ps = p.display().to_string();
        let mut args = vec!["--cert", &c, "--raw", "--scope", scope, "--from-file", &ps];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        if !name.is_empty() {
            args.extend(["--name", name]);
        }
        let out = run_env(
            d.path(),
            &args,
            b"",
            &[("SSRS_TEST_RNG_HEX", vec["rng_stream_hex"].as_str().unwrap())],
        );
        // A namespaced vector with an empty namespace cannot be expressed with --raw (it defaults).
        if scope != "cluster-wide" && ns.is_empty() {
            continue;
        }
        assert_eq!(
            out.ok().stdout_str(),
            vec["ciphertext_b64"].as_str().unwrap(),
            "{}",
            vec["id"]
        );
        checked += 1;
    }
    assert!(checked >= 3, "checked {checked}");
}

#[test]
fn test_merge_into_added_updated_and_bad_name() {
    let d = TempDir::new("merge");
    let c = cert_arg();
    // Existing file: YAML, namespace-wide scope, nil template maps.
    let out = run(
        d.path(),
        &["--cert", &c, "-o", "yaml", "--scope", "namespace-wide"],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: target, namespace: ns}\nstringData: {foo: old, keep: k}\n",
    );
    let file = d.write("ss.yaml", out.ok().stdout.clone());
    // Added + updated, input secret with a different (bad) name and no namespace.
    let out = run(
        d.path(),
        &["--cert", &c, "--merge-into", "ss.yaml"],
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: badname\n  labels: {l: v}\nstringData: {foo: new, added: a}\n",
    );
    out.ok();
    assert!(out.stdout.is_empty());
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"---\napiVersion"), "stays YAML");
    let ss = &parse_sealed_secrets(&bytes).unwrap()[0];
    assert_eq!(ss.metadata.name.as_deref(), Some("target"));
    assert_eq!(
        SealingScope::from_annotations(ss.metadata.annotations.as_ref()),
        SealingScope::NamespaceWide
    );
    assert_eq!(unseal_data(ss, "foo"), b"new");
    assert_eq!(unseal_data(ss, "added"), b"a");
    assert_eq!(unseal_data(ss, "keep"), b"k");
    assert_eq!(ss.spec.template.metadata.labels.as_ref().unwrap()["l"], "v");
    // -o json converts explicitly.
    run(
        d.path(),
        &["--cert", &c, "--merge-into", "ss.yaml", "-o", "json"],
        b"kind: Secret\nmetadata: {name: x}\nstringData: {z: z}\n",
    )
    .ok();
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"{"));
    assert_eq!(
        unseal_data(&parse_sealed_secrets(&bytes).unwrap()[0], "z"),
        b"z"
    );
    // A bad target file is an error and is left alone.
    let bad = d.write("bad.yaml", "not: [valid");
    let out = run(
        d.path(),
        &["--cert", &c, "--merge-into", "bad.yaml"],
        secret_yaml("a", None, "").as_bytes(),
    );
    assert_eq!(out.code, 1);
    assert_eq!(std::fs::read_to_string(bad).unwrap(), "not: [valid");
}

fn secret_fixture_data() -> std::collections::BTreeMap<String, Vec<u8>> {
    let s = &parse_secrets(&std::fs::read(fixture("secret.yaml")).unwrap()).unwrap()[0];
    let mut m: std::collections::BTreeMap<String, Vec<u8>> = s
        .data
        .clone()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in s.string_data.clone().unwrap() {
        m.insert(k, v.into_bytes());
    }
    m
}

#[test]
fn test_unseal_kubesealpy_fixtures_with_pem_and_key_secret() {
    let d = TempDir::new("unseal");
    let want = secret_fixture_data();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let f = fixture(&format!("sealed-by-kubesealpy-{scope}.yaml"))
            .display()
            .to_string();
        for keyfile in ["key-4096.pem", "key-secret.yaml"] {
            let k = fixture(keyfile).display().to_string();
            let out = run(
                d.path(),
                &["--recovery-unseal", "--recovery-private-key", &k, "-f", &f],
                b"",
            );
            let s = &parse_secrets(&out.ok().stdout).unwrap()[0];
            let got: std::collections::BTreeMap<String, Vec<u8>> = s
                .data
                .clone()
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            assert_eq!(got, want, "{scope} {keyfile}");
            assert_eq!(
                s.metadata.owner_references.as_ref().unwrap()[0].kind,
                "SealedSecret"
            );
        }
    }
}

#[test]
fn test_unseal_list_and_multi_doc_and_pkcs8() {
    let d = TempDir::new("unseallist");
    let key_secret = std::fs::read_to_string(fixture("key-secret.yaml")).unwrap();
    let ks = &common::documents::parse_documents(key_secret.as_bytes()).unwrap()[0];
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [ks]});
    d.write("list.json", serde_json::to_vec(&list).unwrap());
    let slist = serde_json::json!({"apiVersion": "v1", "kind": "SecretList", "items": [ks]});
    d.write("slist.yaml", serde_json::to_vec(&slist).unwrap());
    // Multi-doc: an unrelated key first, then the right one.
    let other = common::keys::PrivateKey::generate(&mut rand::rng(), 1024).unwrap();
    let other_pem = other.to_pkcs1_pem().unwrap();
    let other_secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: k1}}\ndata:\n  tls.key: {}\n",
        B64.encode(other_pem.as_bytes())
    );
    d.write("multi.yaml", format!("{other_secret}---\n{key_secret}"));
    d.write("pkcs8.pem", key().to_pkcs8_pem().unwrap().as_bytes());
    d.write("other.pem", other_pem.as_bytes());
    let f = fixture("sealed-by-kubesealpy-strict.yaml")
        .display()
        .to_string();
    for keys in [
        vec!["list.json"],
        vec!["slist.yaml"],
        vec!["multi.yaml"],
        vec!["pkcs8.pem"],
        vec!["other.pem,pkcs8.pem"],
        vec!["other.pem", "key-4096"],
    ] {
        let mut args = vec![
            "--recovery-unseal".to_string(),
            "-f".into(),
            f.clone(),
            "-o".into(),
            "yaml".into(),
        ];
        for k in &keys {
            let p = if *k == "key-4096" {
                key_arg()
            } else {
                k.to_string()
            };
            args.extend(["--recovery-private-key".to_string(), p]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(d.path(), &a, b"");
        let s = &parse_secrets(&out.ok().stdout).unwrap()[0];
        assert_eq!(s.data.as_ref().unwrap()["username"].0, b"admin", "{keys:?}");
    }
    // Without keys: upstream's message.
    let out = run(d.path(), &["--recovery-unseal", "-f", &f], b"");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.contains("key could decrypt secret ("),
        "{}",
        out.stderr
    );
    // Wrong key only.
    let out = run(
        d.path(),
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            "other.pem",
            "-f",
            &f,
        ],
        b"",
    );
    assert_eq!(
        out.stderr,
        "error: no key could decrypt secret (binary, password, username)\n"
    );
    // A Secret without tls.key.
    d.write(
        "nokey.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {a: YQ==}\n",
    );
    let out = run(
        d.path(),
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            "nokey.yaml",
            "-f",
            &f,
        ],
        b"",
    );
    assert!(
        out.stderr.contains("secret must contain a 'tls.key' key"),
        "{}",
        out.stderr
    );
}

#[test]
fn our_output_unseals_with_the_fixture_key() {
    let d = TempDir::new("interop");
    let want = secret_fixture_data();
    let f = fixture("secret.yaml").display().to_string();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let ss = seal(&d, &["-f", &f, "--scope", scope], "");
        let k = key();
        let s = unseal(
            &ss[0],
            &[&k],
            &UnsealOptions::default(),
            &mut Default::default(),
        )
        .unwrap();
        let got: std::collections::BTreeMap<String, Vec<u8>> = s
            .secret()
            .data
            .clone()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        assert_eq!(got, want, "{scope}");
    }
}

#[test]
fn recovery_private_key_without_unseal_is_silent_when_not_a_tty() {
    let d = TempDir::new("warn");
    let out = run(
        d.path(),
        &["--cert", &cert_arg(), "--recovery-private-key", &key_arg()],
        secret_yaml("s", Some("n"), "").as_bytes(),
    );
    out.ok();
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn online_modes_fail_clearly() {
    let d = TempDir::new("online");
    let ss = br#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{"name":"s","namespace":"n"},"spec":{"encryptedData":{"a":"AAAA"}}}"#;
    let out = run(d.path(), &["--validate"], ss);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no kubeconfig found"), "{}", out.stderr);
    let out = run(d.path(), &["--re-encrypt"], ss);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no kubeconfig found"), "{}", out.stderr);
    // An unreachable server is reported with its URL, after the timeout.
    let out = run(
        d.path(),
        &[
            "--validate",
            "--server",
            "https://127.0.0.1:1",
            "--request-timeout",
            "2s",
        ],
        ss,
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("https://127.0.0.1:1"), "{}", out.stderr);
    // keys: a leading positional word selects the key commands.
    let out = run(d.path(), &["keys", "list"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no kubeconfig found"), "{}", out.stderr);
    let out = run(d.path(), &["keys", "backup"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("needs -o FILE"), "{}", out.stderr);
}

#[test]
fn broken_pipe_is_success() {
    use std::process::{Command, Stdio};
    let d = TempDir::new("pipe");
    let mut docs = String::new();
    for i in 0..40 {
        docs.push_str(&format!(
            "---\n{}",
            secret_yaml(&format!("s{i}"), Some("n"), "")
        ));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubeseal"))
        .args(["--cert", &cert_arg()])
        .current_dir(d.path())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut sin = child.stdin.take().unwrap();
        sin.write_all(docs.as_bytes()).unwrap();
    }
    drop(child.stdout.take()); // close the read end
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--name` in seal mode is upstream's `overrideName`: it renames every Secret (the label of the
/// values is the new name's) and names one that has none; `--merge-into` keeps the file's name.
#[test]
fn name_renames_or_supplies_the_name_in_seal_mode() {
    let d = TempDir::new("name-override");
    let ss = seal(
        &d,
        &["--name", "renamed"],
        &secret_yaml("original", Some("ns"), ""),
    );
    assert_eq!(ss[0].metadata.name.as_deref(), Some("renamed"));
    assert_eq!(
        ss[0].spec.template.metadata.name.as_deref(),
        Some("renamed")
    );
    // Strict scope: it unseals only as `renamed`, so the values were sealed for that name.
    assert_eq!(unseal_data(&ss[0], "foo"), b"bar");
    // A Secret without a name gets one (instead of `missing metadata.name`), from the env too.
    let nameless = "apiVersion: v1\nkind: Secret\nmetadata:\n  namespace: ns\ndata:\n  foo: YmFy\n";
    let refused = run(d.path(), &["--cert", &cert_arg()], nameless.as_bytes());
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        "error: missing metadata.name in input Secret\n"
    );
    let out = run_env(
        d.path(),
        &["--cert", &cert_arg()],
        nameless.as_bytes(),
        &[("SEALED_SECRETS_NAME", "given")],
    );
    let ss = parse_sealed_secrets(&out.ok().stdout).unwrap();
    assert_eq!(ss[0].metadata.name.as_deref(), Some("given"));
    assert_eq!(unseal_data(&ss[0], "foo"), b"bar");
    // Every document of a multi-document input, as upstream's loop does.
    let two = format!(
        "{}---\n{}",
        secret_yaml("a", Some("ns"), ""),
        secret_yaml("b", Some("ns"), "")
    );
    let ss = seal(&d, &["--name", "same"], &two);
    assert_eq!(ss.len(), 2);
    assert!(
        ss.iter()
            .all(|s| s.metadata.name.as_deref() == Some("same"))
    );
    // An empty --name changes nothing.
    let ss = seal(&d, &["--name="], &secret_yaml("kept", Some("ns"), ""));
    assert_eq!(ss[0].metadata.name.as_deref(), Some("kept"));
    // --merge-into seals with the file's name whatever --name says (upstream passes orig.Name).
    let file = d.write(
        "target.json",
        run(
            d.path(),
            &["--cert", &cert_arg()],
            secret_yaml("target", Some("ns"), "").as_bytes(),
        )
        .ok()
        .stdout
        .clone(),
    );
    run(
        d.path(),
        &[
            "--cert",
            &cert_arg(),
            "--merge-into",
            "target.json",
            "--name",
            "other",
        ],
        b"kind: Secret\nmetadata: {name: x}\nstringData: {added: a}\n",
    )
    .ok();
    let merged = &parse_sealed_secrets(&std::fs::read(file).unwrap()).unwrap()[0];
    assert_eq!(merged.metadata.name.as_deref(), Some("target"));
    assert_eq!(unseal_data(merged, "added"), b"a");
}

/// A loopback HTTP server on its own thread: each connection's request head (request line and
/// headers, lower-cased header names kept as sent) is recorded and answered by `answer`, then the
/// connection is closed.
struct HttpServer {
    addr: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpServer {
    fn start(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let reply = answer(&head);
                seen.lock().unwrap().push(head);
                let _ = s.write_all(&reply);
            }
        });
        Self { addr, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn http_reply(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The path of a request head's request line.
fn request_target(head: &str) -> String {
    head.split(' ').nth(1).unwrap_or_default().to_string()
}

/// `--cert http://…` follows redirects as Go's `http.Client`: 301/302/303/307/308, relative and
/// absolute `Location`s, at most 10 requests (`stopped after 10 redirects`), never to `file://`.
#[test]
fn cert_url_follows_redirects_as_go() {
    let d = TempDir::new("cert-redirects");
    let pem = std::fs::read(fixture("cert-4096.pem")).unwrap();
    let input = secret_yaml("s", Some("n"), "");
    // /hop/<n>/<code> redirects to /hop/<n-1>/<code> (relative, absolute path or absolute URL in
    // turn); /hop/0/... serves the certificate.
    let server = HttpServer::start(move |head| {
        let target = request_target(head);
        let parts: Vec<&str> = target.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["hop", "0", _] => http_reply("200 OK", "", &pem),
            ["hop", n, code] => {
                let n: u32 = n.parse().unwrap();
                let host = head
                    .lines()
                    .find_map(|l| l.strip_prefix("host: ").or(l.strip_prefix("Host: ")))
                    .unwrap_or_default()
                    .to_string();
                let location = match n % 3 {
                    0 => format!("../{}/{code}", n - 1),
                    1 => format!("/hop/{}/{code}", n - 1),
                    _ => format!("http://{host}/hop/{}/{code}#frag", n - 1),
                };
                http_reply(
                    &format!("{code} Redirect"),
                    &format!("Location: {location}\r\n"),
                    b"",
                )
            }
            ["nolocation"] => http_reply("302 Found", "", b""),
            ["tofile"] => http_reply("302 Found", "Location: file:///etc/hostname\r\n", b""),
            ["tomissing"] => http_reply("302 Found", "Location: missing\r\n", b""),
            _ => http_reply("404 Not Found", "", b""),
        }
    });
    let base = format!("http://{}", server.addr);
    for code in ["301", "302", "303", "307", "308"] {
        let url = format!("{base}/hop/3/{code}");
        let out = run(d.path(), &["--cert", &url], input.as_bytes());
        assert_eq!(
            unseal_data(&parse_sealed_secrets(&out.ok().stdout).unwrap()[0], "foo"),
            b"bar",
            "{code}"
        );
    }
    // 9 redirects = 10 requests: fine. 10 redirects: Go's limit.
    let before = server.requests().len();
    run(
        d.path(),
        &["--cert", &format!("{base}/hop/9/302")],
        input.as_bytes(),
    )
    .ok();
    assert_eq!(server.requests().len() - before, 10);
    let url = format!("{base}/hop/10/302");
    let before = server.requests().len();
    let out = run(d.path(), &["--cert", &url], input.as_bytes());
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!("error: cannot fetch \"{url}\": stopped after 10 redirects\n")
    );
    assert_eq!(server.requests().len() - before, 10);
    // Every hop asked for a PEM file, as the first request does.
    assert!(
        server
            .requests()
            .iter()
            .all(|h| h.contains("accept: application/x-pem-file, */*")),
        "{:?}",
        server.requests()
    );
    // `user:password@` is sent as basic auth (never in the request line), and redacted in
    // messages as Go's URL.Redacted.
    let authed = base.replace("http://", "http://me:pw@");
    run(
        d.path(),
        &["--cert", &format!("{authed}/hop/0/302")],
        input.as_bytes(),
    )
    .ok();
    let last = server.requests().pop().unwrap();
    assert!(last.starts_with("GET /hop/0/302 HTTP/1.1\r\n"), "{last}");
    assert!(last.contains("authorization: Basic bWU6cHc="), "{last}");
    let out = run(
        d.path(),
        &["--cert", &format!("{authed}/missing")],
        input.as_bytes(),
    );
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot fetch \"{}/missing\": 404 Not Found\n",
            base.replace("http://", "http://me:xxxxx@")
        )
    );
    // A redirect without a Location is the response itself (Go returns it).
    let url = format!("{base}/nolocation");
    let out = run(d.path(), &["--cert", &url], input.as_bytes());
    assert_eq!(
        out.stderr,
        format!("error: cannot fetch \"{url}\": 302 Found\n")
    );
    // The status after redirects names the URL that gave it.
    let url = format!("{base}/tomissing");
    let out = run(d.path(), &["--cert", &url], input.as_bytes());
    assert_eq!(
        out.stderr,
        format!("error: cannot fetch \"{url}\": 404 Not Found (from {base}/missing)\n")
    );
    // Never to the local disk.
    let url = format!("{base}/tofile");
    let out = run(d.path(), &["--cert", &url], input.as_bytes());
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot fetch \"{url}\": 302 Found: redirected to unsupported protocol scheme \"file\"\n"
        )
    );
}

/// `--cert` URLs honour HTTP_PROXY/HTTPS_PROXY/NO_PROXY as Go's `ProxyFromEnvironment`: plain
/// http in absolute form to the proxy, https through CONNECT, both with the proxy's credentials;
/// NO_PROXY and loopback targets go direct. The targets are `.invalid` names: nothing resolves
/// them but the proxy.
#[test]
fn cert_url_uses_the_proxy_from_the_environment() {
    let d = TempDir::new("cert-proxy");
    let pem = std::fs::read(fixture("cert-4096.pem")).unwrap();
    let input = secret_yaml("s", Some("n"), "");
    let proxy = HttpServer::start(move |head| {
        if head.starts_with("GET http://certs.example.invalid/cert.pem HTTP/1.1\r\n") {
            http_reply("200 OK", "", &pem)
        } else {
            // CONNECT (or anything else): refused, so kubeseal reports the tunnel's failure.
            http_reply("403 Forbidden", "", b"")
        }
    });
    let proxy_url = format!("http://user:p%40ss@{}", proxy.addr);
    let env = |extra: &[(&'static str, String)]| {
        let mut v: Vec<(&str, String)> = vec![
            ("HTTP_PROXY", proxy_url.clone()),
            ("HTTPS_PROXY", proxy_url.clone()),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    let run_with = |args: &[&str], vars: &[(&str, String)]| {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_env(d.path(), args, input.as_bytes(), &vars)
    };
    // http: the request goes to the proxy, in absolute form, with Proxy-Authorization.
    let out = run_with(
        &["--cert", "http://certs.example.invalid/cert.pem"],
        &env(&[]),
    );
    assert_eq!(
        unseal_data(&parse_sealed_secrets(&out.ok().stdout).unwrap()[0], "foo"),
        b"bar"
    );
    let seen = proxy.requests();
    let basic = format!("proxy-authorization: Basic {}", B64.encode("user:p@ss"));
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains(&basic.to_ascii_lowercase()),
        "{seen:?}"
    );
    // https: a CONNECT to the target's host and port, with the credentials; the proxy's refusal
    // is the error, and the password is in no message.
    let out = run_with(
        &["--cert", "https://certs.example.invalid:8443/cert.pem"],
        &env(&[]),
    );
    assert_eq!(out.code, 1);
    let seen = proxy.requests();
    let connect = seen.last().unwrap();
    assert!(
        connect.starts_with("CONNECT certs.example.invalid:8443 HTTP/1.1\r\n"),
        "{connect}"
    );
    assert!(
        connect
            .to_ascii_lowercase()
            .contains(&basic.to_ascii_lowercase()),
        "{connect}"
    );
    assert!(
        out.stderr
            .starts_with("error: cannot fetch \"https://certs.example.invalid:8443/cert.pem\": "),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("p@ss") && !out.stderr.contains("p%40ss"),
        "{}",
        out.stderr
    );
    // NO_PROXY: direct, so the name does not resolve; the proxy sees nothing.
    let before = proxy.requests().len();
    let out = run_with(
        &["--cert", "http://certs.example.invalid/cert.pem"],
        &env(&[("NO_PROXY", "localhost,.example.invalid".into())]),
    );
    assert_eq!(out.code, 1);
    assert_eq!(proxy.requests().len(), before);
    // Lower-case variables work too; a loopback target is never proxied.
    let direct = HttpServer::start(|_| http_reply("404 Not Found", "", b""));
    let url = format!("http://{}/cert.pem", direct.addr);
    let out = run_with(&["--cert", &url], &[("http_proxy", proxy_url.clone())]);
    assert_eq!(
        out.stderr,
        format!("error: cannot fetch \"{url}\": 404 Not Found\n")
    );
    assert_eq!(proxy.requests().len(), before);
    assert_eq!(direct.requests().len(), 1);
    // A proxy variable that cannot be parsed is named, never quoted.
    let out = run_with(
        &["--cert", "http://certs.example.invalid/cert.pem"],
        &[("HTTP_PROXY", "http://user:secret@".into())],
    );
    assert_eq!(
        out.stderr,
        "error: cannot fetch \"http://certs.example.invalid/cert.pem\": invalid proxy address in HTTP_PROXY\n"
    );
}

/// Upstream ignores positional arguments (pflag collects them, kubeseal never reads them):
/// `kubeseal --cert c.pem secret.yaml < secret.yaml` works, with a warning that does not echo them.
/// `--rotate` prints pflag's deprecation notice.
#[test]
fn positional_arguments_are_ignored_and_rotate_is_deprecated() {
    let d = TempDir::new("positional");
    let input = secret_yaml("s", Some("n"), "");
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert_arg(),
            "mysecret.yaml",
            "-o",
            "yaml",
            "other",
        ],
        input.as_bytes(),
    );
    out.ok();
    assert_eq!(
        out.stderr,
        "kubeseal: warning: ignoring 2 positional arguments: kubeseal reads the input from stdin or -f/--secret-file\n"
    );
    assert_eq!(
        unseal_data(&parse_sealed_secrets(&out.stdout).unwrap()[0], "foo"),
        b"bar"
    );
    let out = run(
        d.path(),
        &[
            "--rotate",
            "--recovery-private-key",
            &key_arg(),
            "--cert",
            &cert_arg(),
        ],
        &out.stdout,
    );
    out.ok();
    assert!(
        out.stderr
            .starts_with("Flag --rotate has been deprecated, please use --re-encrypt instead\n"),
        "{}",
        out.stderr
    );
}

/// `HTTPS_PROXY=socks5://user:pass@…` (and `socks5h`): the target's host name goes to the proxy
/// (nothing resolves `.invalid` locally), with the credentials. The test's SOCKS5 server checks the
/// handshake, then answers the HTTP request itself with the certificate.
#[test]
fn cert_url_through_a_socks5_proxy() {
    use std::io::{Read, Write};
    let d = TempDir::new("cert-socks");
    let pem = std::fs::read(fixture("cert-4096.pem")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut read = |n: usize| {
                let mut b = vec![0u8; n];
                s.read_exact(&mut b).map(|_| b)
            };
            // Greeting: VER NMETHODS METHODS…; choose username/password (2).
            let Ok(head) = read(2) else { continue };
            let Ok(methods) = read(usize::from(head[1])) else {
                continue;
            };
            let offered_auth = methods.contains(&2);
            let mut s2 = s.try_clone().unwrap();
            s2.write_all(&[5, if offered_auth { 2 } else { 0 }])
                .unwrap();
            let mut creds = String::new();
            if offered_auth {
                let mut r = |n: usize| {
                    let mut b = vec![0u8; n];
                    s2.read_exact(&mut b).unwrap();
                    b
                };
                let ulen = r(2)[1];
                let user = String::from_utf8(r(usize::from(ulen))).unwrap();
                let plen = r(1)[0];
                let pass = String::from_utf8(r(usize::from(plen))).unwrap();
                creds = format!("{user}:{pass}");
                s2.write_all(&[1, 0]).unwrap();
            }
            // CONNECT: VER CMD RSV ATYP=3 LEN NAME PORT.
            let mut r = |n: usize| {
                let mut b = vec![0u8; n];
                s2.read_exact(&mut b).unwrap();
                b
            };
            let req = r(4);
            let target = if req[3] == 3 {
                let len = r(1)[0];
                let name = String::from_utf8(r(usize::from(len))).unwrap();
                let port = r(2);
                format!("{name}:{}", u16::from_be_bytes([port[0], port[1]]))
            } else {
                "not a domain".to_string()
            };
            log.lock().unwrap().push(format!("{target} {creds}"));
            s2.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
            // The HTTP request, answered here.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s2.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            s2.write_all(&http_reply("200 OK", "", &pem)).unwrap();
        }
    });
    let input = secret_yaml("s", Some("n"), "");
    for scheme in ["socks5", "socks5h"] {
        let out = run_env(
            d.path(),
            &["--cert", "http://certs.example.invalid:8080/cert.pem"],
            input.as_bytes(),
            &[("HTTP_PROXY", &format!("{scheme}://u:s3cret@{addr}"))],
        );
        assert_eq!(
            unseal_data(&parse_sealed_secrets(&out.ok().stdout).unwrap()[0], "foo"),
            b"bar"
        );
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "certs.example.invalid:8080 u:s3cret",
            "certs.example.invalid:8080 u:s3cret"
        ]
    );
}
