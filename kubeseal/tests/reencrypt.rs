//! Offline re-encryption (`--re-encrypt --recovery-private-key … --cert …`, `--re-encrypt-dir`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

mod support;

use common::documents::parse_sealed_secrets;
use common::keys::{CertificateParams, PrivateKey, self_signed_certificate};
use common::scope::SealingScope;
use common::sealing::{UnsealOptions, unseal};
use support::*;

/// A fresh 2048-bit key and its cert, written into `dir`.
fn new_key(dir: &TempDir) -> (PrivateKey, String, String) {
    let k = PrivateKey::generate(&mut rand::rng(), 2048).unwrap();
    let params = CertificateParams {
        common_name: String::new(),
        not_before: std::time::SystemTime::now(),
        validity: std::time::Duration::from_secs(3600),
    };
    let cert = self_signed_certificate(&mut rand::rng(), &k, &params).unwrap();
    let kp = dir.write("new-key.pem", k.to_pkcs1_pem().unwrap().as_bytes());
    let cp = dir.write("new-cert.pem", cert.to_pem());
    (k, kp.display().to_string(), cp.display().to_string())
}

#[test]
fn single_file_in_place_keeps_scope_metadata_and_templates() {
    let d = TempDir::new("re1");
    let (newk, newkp, newcp) = new_key(&d);
    // Start from the kubesealpy namespace-wide fixture, add a template (must stay a template).
    let mut ss = parse_sealed_secrets(
        &std::fs::read(fixture("sealed-by-kubesealpy-namespace-wide.yaml")).unwrap(),
    )
    .unwrap()
    .remove(0);
    ss.spec.template.data = Some([("dsn".to_string(), "user={{ .username }}".to_string())].into());
    let text =
        common::documents::sealed_secret_to_string(&ss, common::documents::Format::Yaml).unwrap();
    let f = d.write("ss.yaml", &text);
    let before = ss.spec.encrypted_data.clone();
    let out = run(
        d.path(),
        &[
            "--re-encrypt",
            "--recovery-private-key",
            &key_arg(),
            "--cert",
            &newcp,
            "-f",
            "ss.yaml",
        ],
        b"",
    );
    out.ok();
    assert!(out.stdout.is_empty(), "in place");
    let bytes = std::fs::read(&f).unwrap();
    assert!(bytes.starts_with(b"---\napiVersion"), "stays YAML");
    let re = parse_sealed_secrets(&bytes).unwrap().remove(0);
    assert_eq!(re.metadata.name, ss.metadata.name);
    assert_eq!(re.metadata.namespace, ss.metadata.namespace);
    assert_eq!(
        SealingScope::from_annotations(re.metadata.annotations.as_ref()),
        SealingScope::NamespaceWide
    );
    assert_eq!(
        re.spec.template.data, ss.spec.template.data,
        "template kept, not rendered"
    );
    assert_eq!(re.spec.template.metadata, ss.spec.template.metadata);
    for k in before.keys() {
        assert_ne!(before[k], re.spec.encrypted_data[k]);
    }
    // Opens with the new key only.
    let s = unseal(
        &re,
        &[&newk],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    assert_eq!(s.secret().data.as_ref().unwrap()["dsn"].0, b"user=admin");
    assert!(
        unseal(
            &re,
            &[&key()],
            &UnsealOptions::default(),
            &mut Default::default()
        )
        .is_err()
    );

    // Running again with the new key among the recovery keys leaves the file untouched.
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let keys = format!("{},{}", key_arg(), newkp);
    run(
        d.path(),
        &[
            "--re-encrypt",
            "--recovery-private-key",
            &keys,
            "--cert",
            &newcp,
            "-f",
            "ss.yaml",
        ],
        b"",
    )
    .ok();
    assert_eq!(std::fs::read(&f).unwrap(), bytes);
    assert_eq!(std::fs::metadata(&f).unwrap().modified().unwrap(), mtime);
}

#[test]
fn stdin_to_stdout_and_wrong_key() {
    let d = TempDir::new("re2");
    let (newk, _, newcp) = new_key(&d);
    let input = std::fs::read(fixture("sealed-by-kubesealpy-strict.yaml")).unwrap();
    let out = run(
        d.path(),
        &[
            "--re-encrypt",
            "--recovery-private-key",
            &key_arg(),
            "--cert",
            &newcp,
        ],
        &input,
    );
    let re = parse_sealed_secrets(&out.ok().stdout).unwrap().remove(0);
    assert!(out.stdout.starts_with(b"{"), "-o default json on stdout");
    let s = unseal(
        &re,
        &[&newk],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    assert_eq!(
        s.secret().data.as_ref().unwrap()["password"].0,
        b"MyStr0ngP@ss!"
    );
    // Keys that cannot open it.
    let out = run(
        d.path(),
        &[
            "--re-encrypt",
            "--recovery-private-key",
            "new-key.pem",
            "--cert",
            &newcp,
        ],
        &input,
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("no key could decrypt secret (binary, password, username)"),
        "{}",
        out.stderr
    );
}

#[test]
fn directory_recursive_only_changed_files_rewritten() {
    let d = TempDir::new("re3");
    let (newk, newkp, newcp) = new_key(&d);
    let tree = TempDir::new("re3tree");
    let strict = std::fs::read(fixture("sealed-by-kubesealpy-strict.yaml")).unwrap();
    let cw = std::fs::read(fixture("sealed-by-kubesealpy-cluster-wide.yaml")).unwrap();
    let a = tree.write("a.yaml", &strict);
    let b = tree.write("sub/deeper/b.yml", &cw);
    // JSON file.
    let ss = parse_sealed_secrets(&strict).unwrap().remove(0);
    let json =
        common::documents::sealed_secret_to_string(&ss, common::documents::Format::Json).unwrap();
    let c = tree.write("sub/c.json", &json);
    let other = tree.write("kustomization.yaml", "resources:\n- a.yaml\n");
    let notes = tree.write("notes.txt", "hello");
    // Already sealed for the new cert: seal with it.
    let fresh = run(
        d.path(),
        &["--cert", &newcp, "-o", "yaml"],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: y}\nstringData: {k: v}\n",
    );
    let up = tree.write("up-to-date.yaml", &fresh.ok().stdout);
    let up_bytes = std::fs::read(&up).unwrap();
    let up_mtime = std::fs::metadata(&up).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));

    let keys = format!("{},{}", key_arg(), newkp);
    let dir = tree.path().display().to_string();
    let out = run(
        d.path(),
        &[
            "--re-encrypt-dir",
            &dir,
            "--recovery-private-key",
            &keys,
            "--cert",
            &newcp,
        ],
        b"",
    );
    out.ok();
    assert!(
        out.stderr
            .contains("re-encrypted 3 file(s), 1 already up to date, 1 skipped, 0 failed"),
        "{}",
        out.stderr
    );
    for f in [&a, &b, &c] {
        let bytes = std::fs::read(f).unwrap();
        let re = parse_sealed_secrets(&bytes).unwrap().remove(0);
        let s = unseal(
            &re,
            &[&newk],
            &UnsealOptions::default(),
            &mut Default::default(),
        )
        .unwrap();
        assert_eq!(
            s.secret().data.as_ref().unwrap()["username"].0,
            b"admin",
            "{}",
            f.display()
        );
    }
    assert!(
        std::fs::read(&c).unwrap().starts_with(b"{"),
        "JSON stays JSON"
    );
    assert!(
        !std::fs::read(&a).unwrap().starts_with(b"---"),
        "a file without --- stays without"
    );
    assert_eq!(std::fs::read(&up).unwrap(), up_bytes);
    assert_eq!(
        std::fs::metadata(&up).unwrap().modified().unwrap(),
        up_mtime
    );
    assert_eq!(
        std::fs::read_to_string(other).unwrap(),
        "resources:\n- a.yaml\n"
    );
    assert_eq!(std::fs::read_to_string(notes).unwrap(), "hello");
}
