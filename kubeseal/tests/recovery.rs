//! The break-glass recovery recipient and fleet sealing (issue 19), on the real binary: two
//! cluster keys and a recovery key, all three scopes; each output opens only with its key; the
//! envelope opens with the recovery key; every path that writes items keeps it in step; promote,
//! offline re-encryption and the targets file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

mod support;

use common::crd::SealedSecret;
use common::documents::{parse_documents, parse_sealed_secrets, sealed_secret_from_value};
use common::keys::{CertificateParams, PrivateKey, self_signed_certificate};
use common::recovery::{Coverage, RECOVERY_ANNOTATION, coverage, envelope, promote};
use common::sealing::{UnsealOptions, UnsealStats, unseal};
use support::*;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  password: hunter2\n  user: admin\n";

/// A fresh 2048-bit key and its cert in `dir` (a second cluster).
fn cluster_b(dir: &TempDir) -> (PrivateKey, String, String) {
    let k = PrivateKey::generate(&mut rand::rng(), 2048).unwrap();
    let params = CertificateParams {
        common_name: "cluster-b".into(),
        not_before: std::time::SystemTime::now(),
        validity: std::time::Duration::from_secs(3600),
    };
    let cert = self_signed_certificate(&mut rand::rng(), &k, &params).unwrap();
    let kp = dir.write("b.key", k.to_pkcs1_pem().unwrap().as_bytes());
    let cp = dir.write("b.pem", cert.to_pem());
    (k, kp.display().to_string(), cp.display().to_string())
}

/// A 2048-bit recovery key pair written as `recovery-key new` writes one (PKCS#8), for the tests
/// that are not about generating it (RSA-4096 generation costs seconds).
fn recovery_key(dir: &TempDir) -> (PrivateKey, String, String) {
    let k = PrivateKey::generate(&mut rand::rng(), 2048).unwrap();
    let params = CertificateParams {
        common_name: "recovery".into(),
        not_before: std::time::SystemTime::now(),
        validity: std::time::Duration::from_secs(3600),
    };
    let cert = self_signed_certificate(&mut rand::rng(), &k, &params).unwrap();
    let kp = dir.write("r.key", k.to_pkcs8_pem().unwrap().as_bytes());
    let cp = dir.write("r.pem", cert.to_pem());
    (k, kp.display().to_string(), cp.display().to_string())
}

/// `kubeseal recovery-key new` in `dir`: the key (read back) and the two paths.
fn recovery_key_cli(dir: &TempDir) -> (PrivateKey, String, String) {
    let out = run(
        dir.path(),
        &[
            "recovery-key",
            "new",
            "--key-out",
            "r.key",
            "--cert-out",
            "r.pem",
        ],
        b"",
    );
    out.ok();
    let kp = dir.path().join("r.key");
    let key = PrivateKey::from_pem(&std::fs::read(&kp).unwrap()).unwrap();
    (
        key,
        kp.display().to_string(),
        dir.path().join("r.pem").display().to_string(),
    )
}

fn opens(ss: &SealedSecret, key: &PrivateKey) -> Option<Vec<(String, Vec<u8>)>> {
    let u = unseal(
        ss,
        &[key],
        &UnsealOptions::default(),
        &mut UnsealStats::default(),
    )
    .ok()?;
    Some(
        u.secret()
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
    )
}

fn want() -> Option<Vec<(String, Vec<u8>)>> {
    Some(vec![
        ("password".into(), b"hunter2".to_vec()),
        ("user".into(), b"admin".to_vec()),
    ])
}

fn sealed_in(path: &std::path::Path) -> Vec<SealedSecret> {
    parse_sealed_secrets(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn recovery_key_new_is_rsa_4096_mode_0600_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = TempDir::new("rk");
    let (key, kp, cp) = recovery_key_cli(&d);
    assert_eq!(key.public_key().size_bytes(), 512);
    let cert = common::keys::Certificate::from_pem(&std::fs::read(&cp).unwrap()).unwrap();
    cert.check_matches(&key).unwrap();
    let ten_years = std::time::Duration::from_secs(9 * 365 * 24 * 3600);
    assert!(cert.not_after() > std::time::SystemTime::now() + ten_years);
    let mode = std::fs::metadata(&kp).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&kp).unwrap();
    let again = run(
        d.path(),
        &[
            "recovery-key",
            "new",
            "--key-out",
            "r.key",
            "--cert-out",
            "other.pem",
        ],
        b"",
    );
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("r.key already exists"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read(&kp).unwrap(), before);
    assert!(!d.path().join("other.pem").exists());
    // The key file is never printed.
    assert!(!again.stderr.contains("PRIVATE KEY"));
}

#[test]
fn two_clusters_and_a_recovery_key_in_every_scope_each_output_opens_only_with_its_key() {
    let d = TempDir::new("fleet");
    let a = key();
    let (b, _, b_cert) = cluster_b(&d);
    let (r, r_key, r_cert) = recovery_key_cli(&d);
    let a_cert = cert_arg();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let out = run(
            d.path(),
            &[
                "--cert",
                &a_cert,
                "--cert",
                &b_cert,
                "--recovery-cert",
                &r_cert,
                "--scope",
                scope,
            ],
            SECRET.as_bytes(),
        );
        out.ok();
        let list = parse_documents(&out.stdout).unwrap();
        // JSON: one v1 List holding one SealedSecret per certificate, in order.
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["kind"], "List", "{scope}");
        let items: Vec<SealedSecret> = list[0]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| sealed_secret_from_value(v.clone()).unwrap())
            .collect();
        assert_eq!(items.len(), 2);
        let (for_a, for_b) = (&items[0], &items[1]);
        assert_eq!(opens(for_a, &a), want(), "{scope}");
        assert_eq!(opens(for_a, &b), None);
        assert_eq!(opens(for_a, &r), None);
        assert_eq!(opens(for_b, &b), want());
        assert_eq!(opens(for_b, &a), None);
        assert_eq!(opens(for_b, &r), None);
        for ss in &items {
            assert!(
                matches!(coverage(ss).unwrap(), Coverage::Complete { recipient } if recipient == r.fingerprint().as_str())
            );
            let promoted = promote(ss).unwrap().unwrap();
            assert_eq!(opens(&promoted, &r), want(), "{scope}");
            assert_eq!(opens(&promoted, &a), None);
            assert_eq!(opens(&promoted, &b), None);
            // The annotation is on the object, never in the template (so never in the Secret).
            assert!(
                ss.spec
                    .template
                    .metadata
                    .annotations
                    .iter()
                    .flatten()
                    .all(|(k, _)| k != RECOVERY_ANNOTATION)
            );
        }
        // --recovery-unseal with only the recovery key opens the envelopes.
        let stdin = out.stdout.clone();
        let opened = run(
            d.path(),
            &[
                "--recovery-unseal",
                "--recovery-private-key",
                &r_key,
                "-o",
                "yaml",
            ],
            &stdin,
        );
        opened.ok();
        let text = opened.stdout_str();
        assert_eq!(text.matches("kind: Secret").count(), 2, "{text}");
        assert_eq!(text.matches("password: aHVudGVyMg==").count(), 2, "{text}");
    }
    // YAML: one document per certificate.
    let out = run(
        d.path(),
        &["--cert", &a_cert, "--cert", &b_cert, "-o", "yaml"],
        SECRET.as_bytes(),
    );
    out.ok();
    assert_eq!(out.stdout_str().matches("kind: SealedSecret").count(), 2);
    // Several --cert only where one SealedSecret per certificate makes sense.
    let merge = run(
        d.path(),
        &[
            "--cert",
            &a_cert,
            "--cert",
            &b_cert,
            "--merge-into",
            "x.yaml",
        ],
        SECRET.as_bytes(),
    );
    assert_eq!(merge.code, 1);
    assert!(merge.stderr.contains("several --cert"), "{}", merge.stderr);
}

#[test]
fn interop_fixture_gets_an_envelope_without_touching_its_items() {
    // Objects sealed by an independent implementation (kubesealpy) for the fixture key: offline
    // re-encryption for the same certificate with --recovery-cert adds only the envelope.
    let d = TempDir::new("interop");
    let (r, _, r_cert) = recovery_key(&d);
    let k = key();
    for f in [
        "sealed-by-kubesealpy-strict.yaml",
        "sealed-by-kubesealpy-namespace-wide.yaml",
        "sealed-by-kubesealpy-cluster-wide.yaml",
    ] {
        let path = d.write(f, std::fs::read(fixture(f)).unwrap());
        let before = sealed_in(&path).remove(0);
        let out = run(
            d.path(),
            &[
                "--re-encrypt",
                "-f",
                f,
                "--recovery-private-key",
                &key_arg(),
                "--cert",
                &cert_arg(),
                "--recovery-cert",
                &r_cert,
            ],
            b"",
        );
        out.ok();
        let after = sealed_in(&path).remove(0);
        assert_eq!(after.spec.encrypted_data, before.spec.encrypted_data, "{f}");
        assert!(envelope(&before).unwrap().is_none());
        let env = envelope(&after).unwrap().unwrap();
        assert_eq!(
            env.items.keys().collect::<Vec<_>>(),
            before.spec.encrypted_data.keys().collect::<Vec<_>>()
        );
        let promoted = promote(&after).unwrap().unwrap();
        assert_eq!(opens(&promoted, &r), opens(&before, &k), "{f}");
        assert!(opens(&promoted, &k).is_none());
    }
}

#[test]
fn set_edit_merge_into_and_raw_keep_the_envelope_in_step() {
    let d = TempDir::new("step");
    let (r, r_key, r_cert) = recovery_key(&d);
    let a_cert = cert_arg();
    let out = run(
        d.path(),
        &[
            "--cert",
            &a_cert,
            "--recovery-cert",
            &r_cert,
            "-o",
            "yaml",
            "-w",
            "db.yaml",
        ],
        SECRET.as_bytes(),
    );
    out.ok();
    let file = d.path().join("db.yaml");
    // set without --recovery-cert on an object with an envelope: refused, file untouched.
    let before = std::fs::read(&file).unwrap();
    let refused = run(
        d.path(),
        &[
            "set",
            "db.yaml",
            "--from-literal",
            "token=t0k3n",
            "--cert",
            &a_cert,
        ],
        b"",
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("--recovery-cert"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // With it (here from the environment): the new item is in both, and only two lines change.
    let set = run_env(
        d.path(),
        &[
            "set",
            "db.yaml",
            "--from-literal",
            "token=t0k3n",
            "--cert",
            &a_cert,
        ],
        b"",
        &[("SEALED_SECRETS_RECOVERY_CERT", &r_cert)],
    );
    set.ok();
    assert!(!set.stderr.contains("rewritten"), "{}", set.stderr);
    let after = String::from_utf8(std::fs::read(&file).unwrap()).unwrap();
    let changed = after
        .lines()
        .filter(|l| !String::from_utf8_lossy(&before).lines().any(|b| b == *l))
        .count();
    assert_eq!(changed, 2, "{after}");
    let ss = sealed_in(&file).remove(0);
    assert!(matches!(coverage(&ss).unwrap(), Coverage::Complete { .. }));
    let promoted = promote(&ss).unwrap().unwrap();
    let opened = opens(&promoted, &r).unwrap();
    assert!(opened.contains(&("token".into(), b"t0k3n".to_vec())));
    // Deleting needs no certificate and removes the envelope's item too.
    run(d.path(), &["set", "db.yaml", "--delete", "user"], b"").ok();
    let ss = sealed_in(&file).remove(0);
    assert!(matches!(coverage(&ss).unwrap(), Coverage::Complete { .. }));
    assert!(!envelope(&ss).unwrap().unwrap().items.contains_key("user"));
    // A recovery certificate other than the envelope's: refused (rotation is re-encryption).
    let (_, _, other_cert) = cluster_b(&d);
    let other = run(
        d.path(),
        &[
            "set",
            "db.yaml",
            "--from-literal",
            "x=y",
            "--cert",
            &a_cert,
            "--recovery-cert",
            &other_cert,
        ],
        b"",
    );
    assert_eq!(other.code, 1);
    assert!(
        other.stderr.contains("--re-encrypt-dir"),
        "{}",
        other.stderr
    );
    // --merge-into with the recovery cert: merged items join the envelope.
    let extra =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: whatever\nstringData:\n  api: k3y\n";
    run(
        d.path(),
        &[
            "--cert",
            &a_cert,
            "--recovery-cert",
            &r_cert,
            "--merge-into",
            "db.yaml",
        ],
        extra.as_bytes(),
    )
    .ok();
    let ss = sealed_in(&file).remove(0);
    assert!(matches!(coverage(&ss).unwrap(), Coverage::Complete { .. }));
    let opened = opens(&promote(&ss).unwrap().unwrap(), &r).unwrap();
    assert!(opened.contains(&("api".into(), b"k3y".to_vec())));
    // An envelope made stale by a tool that does not know it is reported (item names only).
    let mut stale = ss.clone();
    stale.spec.encrypted_data.insert(
        "added-by-hand".into(),
        stale.spec.encrypted_data["api"].clone(),
    );
    let stale_path = d.write(
        "stale.yaml",
        common::documents::sealed_secret_to_string(&stale, common::Format::Yaml).unwrap(),
    );
    let rep = run_env(
        d.path(),
        &[
            "set",
            "stale.yaml",
            "--from-literal",
            "z=1",
            "--cert",
            &a_cert,
        ],
        b"",
        &[("SEALED_SECRETS_RECOVERY_CERT", &r_cert)],
    );
    rep.ok();
    assert!(
        rep.stderr.contains("stale") && rep.stderr.contains("not covered: added-by-hand"),
        "{}",
        rep.stderr
    );
    assert!(!rep.stderr.contains("k3y"));
    assert!(matches!(
        coverage(&sealed_in(&stale_path)[0]).unwrap(),
        Coverage::Stale { .. }
    ));
    // --recovery-unseal of the whole file with only the recovery key.
    let unsealed = run(
        d.path(),
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &r_key,
            "-f",
            "db.yaml",
        ],
        b"",
    );
    unsealed.ok();
    // --raw has no object to carry an envelope: refused, and says what to use.
    let raw = run(
        d.path(),
        &[
            "--raw",
            "--cert",
            &a_cert,
            "--recovery-cert",
            &r_cert,
            "--name",
            "db",
            "-n",
            "apps",
        ],
        b"v",
    );
    assert_eq!(raw.code, 1);
    assert!(raw.stderr.contains("kubeseal set"), "{}", raw.stderr);
}

#[test]
fn lost_cluster_offline_promote_and_re_encrypt_to_a_new_cluster() {
    let d = TempDir::new("lost");
    let a = key();
    let (b, _, b_cert) = cluster_b(&d);
    let (r, r_key, r_cert) = recovery_key(&d);
    std::fs::create_dir_all(d.path().join("repo/apps")).unwrap();
    for (scope, f) in [
        ("strict", "repo/apps/strict.yaml"),
        ("namespace-wide", "repo/ns.json"),
        ("cluster-wide", "repo/apps/cw.yml"),
    ] {
        run(
            d.path(),
            &[
                "--cert",
                &cert_arg(),
                "--recovery-cert",
                &r_cert,
                "--scope",
                scope,
                "-w",
                f,
            ],
            SECRET.as_bytes(),
        )
        .ok();
    }
    // A file without an envelope is named, not changed.
    run(
        d.path(),
        &["--cert", &cert_arg(), "-w", "repo/plain.yaml"],
        SECRET.as_bytes(),
    )
    .ok();
    let copy = d.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["apps/strict.yaml", "ns.json", "apps/cw.yml"] {
        let to = copy.join(f.replace('/', "_"));
        std::fs::copy(d.path().join("repo").join(f), to).unwrap();
    }
    // Cluster A is gone: promote (nothing decrypted: no key is given).
    let p = run(d.path(), &["recover", "--promote", "repo"], b"");
    p.ok();
    assert!(
        p.stderr.contains("3 SealedSecret(s) in 3 file(s)"),
        "{}",
        p.stderr
    );
    assert!(
        p.stderr.contains("apps/db has no recovery envelope"),
        "{}",
        p.stderr
    );
    for f in ["apps/strict.yaml", "ns.json", "apps/cw.yml"] {
        let ss = sealed_in(&d.path().join("repo").join(f)).remove(0);
        assert_eq!(opens(&ss, &r), want(), "{f}");
        assert_eq!(opens(&ss, &a), None);
        assert_eq!(
            ss.spec.encrypted_data,
            envelope(&ss).unwrap().unwrap().items,
            "{f}"
        );
    }
    // Promoting twice changes nothing.
    let again = run(d.path(), &["recover", "--promote", "repo"], b"");
    again.ok();
    assert!(
        again.stderr.contains("0 SealedSecret(s)"),
        "{}",
        again.stderr
    );
    // Offline alternative on the untouched copies: re-seal from the envelopes to cluster B, and
    // the envelope stays valid.
    let re = run(
        d.path(),
        &[
            "--re-encrypt-dir",
            "copy",
            "--recovery-private-key",
            &r_key,
            "--cert",
            &b_cert,
        ],
        b"",
    );
    re.ok();
    assert!(
        re.stderr.contains("re-encrypted 3 file(s)"),
        "{}",
        re.stderr
    );
    for f in ["apps_strict.yaml", "ns.json", "apps_cw.yml"] {
        let ss = sealed_in(&copy.join(f)).remove(0);
        assert_eq!(opens(&ss, &b), want(), "{f}");
        assert_eq!(opens(&ss, &a), None);
        assert_eq!(opens(&promote(&ss).unwrap().unwrap(), &r), want());
    }
    // Rotating the recovery key: re-seal the envelopes to a new one.
    let d2 = TempDir::new("lost-r2");
    let (r2, _, r2_cert) = recovery_key(&d2);
    run(
        d.path(),
        &[
            "--re-encrypt-dir",
            "copy",
            "--recovery-private-key",
            &r_key,
            "--cert",
            &b_cert,
            "--recovery-cert",
            &r2_cert,
        ],
        b"",
    )
    .ok();
    for f in ["apps_strict.yaml", "ns.json", "apps_cw.yml"] {
        let ss = sealed_in(&copy.join(f)).remove(0);
        let promoted = promote(&ss).unwrap().unwrap();
        assert_eq!(opens(&promoted, &r2), want(), "{f}");
        assert_eq!(opens(&promoted, &r), None);
        assert_eq!(opens(&ss, &b), want());
    }
}

#[test]
fn targets_file_writes_every_target_and_keeps_unchanged_items() {
    let d = TempDir::new("targets");
    let a = key();
    let (b, b_key, b_cert) = cluster_b(&d);
    let (r, _, r_cert) = recovery_key(&d);
    std::fs::create_dir_all(d.path().join("certs")).unwrap();
    std::fs::copy(cert_arg(), d.path().join("certs/a.pem")).unwrap();
    std::fs::copy(&b_cert, d.path().join("certs/b.pem")).unwrap();
    std::fs::copy(&r_cert, d.path().join("certs/r.pem")).unwrap();
    d.write(
        "targets.yaml",
        "apiVersion: sealed-secrets-rs.dev/v1\nkind: SealingTargets\nrecoveryCert: certs/r.pem\ntargets:\n  - {name: dev, cert: certs/a.pem, out: \"overlays/{target}/{name}.sealed.yaml\"}\n  - {name: prod, cert: certs/b.pem, out: \"overlays/prod/{namespace}-{name}.json\", namespace: prod-apps}\n",
    );
    let out = run(d.path(), &["--targets", "targets.yaml"], SECRET.as_bytes());
    out.ok();
    let dev = d.path().join("overlays/dev/db.sealed.yaml");
    let prod = d.path().join("overlays/prod/prod-apps-db.json");
    let dev_ss = sealed_in(&dev).remove(0);
    let prod_ss = sealed_in(&prod).remove(0);
    assert_eq!(dev_ss.metadata.namespace.as_deref(), Some("apps"));
    assert_eq!(prod_ss.metadata.namespace.as_deref(), Some("prod-apps"));
    assert_eq!(opens(&dev_ss, &a), want());
    assert_eq!(opens(&dev_ss, &b), None);
    assert_eq!(opens(&prod_ss, &b), want());
    assert_eq!(opens(&prod_ss, &a), None);
    for ss in [&dev_ss, &prod_ss] {
        assert_eq!(opens(&promote(ss).unwrap().unwrap(), &r), want());
    }
    // Again with one value changed and the cluster keys as the proof: only that item changes.
    let dev_before = std::fs::read_to_string(&dev).unwrap();
    let changed = SECRET.replace("hunter2", "hunter3");
    let again = run(
        d.path(),
        &[
            "--targets",
            "targets.yaml",
            "--recovery-private-key",
            &format!("{},{b_key}", key_arg()),
        ],
        changed.as_bytes(),
    );
    again.ok();
    let dev_ss2 = sealed_in(&dev).remove(0);
    assert_eq!(
        dev_ss2.spec.encrypted_data["user"],
        dev_ss.spec.encrypted_data["user"]
    );
    assert_ne!(
        dev_ss2.spec.encrypted_data["password"],
        dev_ss.spec.encrypted_data["password"]
    );
    let env1 = envelope(&dev_ss).unwrap().unwrap();
    let env2 = envelope(&dev_ss2).unwrap().unwrap();
    assert_eq!(env1.items["user"], env2.items["user"]);
    assert_eq!(
        opens(&promote(&dev_ss2).unwrap().unwrap(), &r).unwrap()[0],
        ("password".into(), b"hunter3".to_vec())
    );
    // Only the changed item's line and the envelope's line changed.
    let dev_after = std::fs::read_to_string(&dev).unwrap();
    let differing = dev_after
        .lines()
        .filter(|l| !dev_before.lines().any(|b| b == *l))
        .count();
    assert_eq!(differing, 2, "{dev_after}");
    // A bad targets file names the problem.
    d.write("bad.yaml", "apiVersion: v1\nkind: List\ntargets: []\n");
    let bad = run(d.path(), &["--targets", "bad.yaml"], SECRET.as_bytes());
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("bad.yaml") && bad.stderr.contains("SealingTargets"),
        "{}",
        bad.stderr
    );
}

#[test]
fn edit_keeps_the_envelope_in_step() {
    let d = TempDir::new("edit-env");
    let (r, r_key, r_cert) = recovery_key(&d);
    let a_cert = cert_arg();
    run(
        d.path(),
        &[
            "--cert",
            &a_cert,
            "--recovery-cert",
            &r_cert,
            "-o",
            "yaml",
            "-w",
            "db.yaml",
        ],
        SECRET.as_bytes(),
    )
    .ok();
    let run_dir = d.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let xdg = run_dir.to_str().unwrap().to_owned();
    // An "editor" that changes the password (shown in clear: the recovery key opens the envelope)
    // and deletes the user.
    let editor =
        "sh -c 'sed -i -e \"s/password: hunter2/password: changed/\" -e \"/  user: /d\" \"$0\"'";
    let env = [
        ("EDITOR", editor),
        ("XDG_RUNTIME_DIR", xdg.as_str()),
        ("PATH", "/usr/bin:/bin"),
    ];
    // Without the recovery certificate: refused, the file keeps its bytes.
    let before = std::fs::read(d.path().join("db.yaml")).unwrap();
    let refused = run_env(
        d.path(),
        &[
            "edit",
            "db.yaml",
            "--cert",
            &a_cert,
            "--recovery-private-key",
            &r_key,
        ],
        b"",
        &env,
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--recovery-cert"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read(d.path().join("db.yaml")).unwrap(), before);
    let out = run_env(
        d.path(),
        &[
            "edit",
            "db.yaml",
            "--cert",
            &a_cert,
            "--recovery-private-key",
            &r_key,
            "--recovery-cert",
            &r_cert,
        ],
        b"",
        &env,
    );
    out.ok();
    let ss = sealed_in(&d.path().join("db.yaml")).remove(0);
    assert!(matches!(coverage(&ss).unwrap(), Coverage::Complete { .. }));
    assert_eq!(
        opens(&promote(&ss).unwrap().unwrap(), &r),
        Some(vec![("password".into(), b"changed".to_vec())])
    );
    assert_eq!(
        opens(&ss, &key()),
        Some(vec![("password".into(), b"changed".to_vec())])
    );
    assert_eq!(std::fs::read_dir(&run_dir).unwrap().count(), 0);
}

#[test]
fn passphrase_protected_recovery_key() {
    let d = TempDir::new("rk-pass");
    let pass = [(
        "SEALED_SECRETS_RECOVERY_PASSPHRASE",
        "correct horse battery",
    )];
    run_env(
        d.path(),
        &[
            "recovery-key",
            "new",
            "--passphrase",
            "--key-out",
            "r.key",
            "--cert-out",
            "r.pem",
        ],
        b"",
        &pass,
    )
    .ok();
    let pem = std::fs::read_to_string(d.path().join("r.key")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    assert!(!pem.contains("correct horse"));
    let sealed = run(
        d.path(),
        &["--cert", &cert_arg(), "--recovery-cert", "r.pem"],
        SECRET.as_bytes(),
    );
    sealed.ok();
    let unseal_with = |env: &[(&str, &str)]| {
        run_env(
            d.path(),
            &[
                "--recovery-unseal",
                "--recovery-private-key",
                "r.key",
                "-o",
                "yaml",
            ],
            &sealed.stdout,
            env,
        )
    };
    let ok = unseal_with(&pass);
    ok.ok();
    assert!(ok.stdout_str().contains("password: aHVudGVyMg=="));
    let wrong = unseal_with(&[("SEALED_SECRETS_RECOVERY_PASSPHRASE", "wrong")]);
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stderr.contains("wrong passphrase"),
        "{}",
        wrong.stderr
    );
    // No variable and no terminal: a clear error naming the variable.
    let none = unseal_with(&[]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.contains("SEALED_SECRETS_RECOVERY_PASSPHRASE"),
        "{}",
        none.stderr
    );
}
