//! Hostile and bad input to the real kubeseal binary: every error is one `error: …` line naming
//! the field, item or file, in bounded time, and never carries a secret value (nor its base64).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::crd::SealedSecret;
use common::documents::{Format, parse_sealed_secrets, sealed_secret_to_string};
use common::keys::{CertificateParams, PrivateKey, self_signed_certificate};
use support::*;

const NEEDLE: &str = "Kubeseal-Needle-Value-61f0";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[track_caller]
fn fails_cleanly(out: &Out, expect: &str) {
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains(expect), "{:.400}", out.stderr);
    assert!(
        !out.stderr.contains(NEEDLE),
        "value in: {:.400}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(&B64.encode(NEEDLE)),
        "base64 value in: {:.400}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "nothing on stdout after an error");
}

fn needle_secret(extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: n}}\nstringData:\n  password: {NEEDLE}\n{extra}"
    )
}

fn sealed_needle(dir: &TempDir) -> SealedSecret {
    let out = run(
        dir.path(),
        &["--cert", &cert_arg()],
        needle_secret("").as_bytes(),
    );
    parse_sealed_secrets(&out.ok().stdout).unwrap().remove(0)
}

fn write_ss(dir: &TempDir, name: &str, ss: &SealedSecret) -> String {
    dir.write(name, sealed_secret_to_string(ss, Format::Yaml).unwrap())
        .display()
        .to_string()
}

/// Malformed input Secrets: parse errors name the problem, never quote the values.
#[test]
fn malformed_secrets_fail_without_quoting_values() {
    let d = TempDir::new("hostile-input");
    let c = cert_arg();
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata:\n  password: '{NEEDLE}'\n"
            ),
            "error: cannot decode Secret: data[password]: illegal base64 data at input byte 8\n",
        ),
        (
            format!(
                "{{\"kind\":\"Secret\",\"metadata\":{{\"name\":\"s\"}},\"data\":{{\"password\":{{\"v\":\"{NEEDLE}\"}}}}}}"
            ),
            "error: cannot decode Secret: data[password]: expected a base64-encoded string\n",
        ),
        (
            format!(
                "{{\"kind\":\"Secret\",\"metadata\":{{\"name\":\"s\"}},\"stringData\":{{\"password\":\"{NEEDLE}\"}}"
            ),
            "cannot parse JSON",
        ),
        (needle_secret("  other: [unclosed\n"), "cannot parse YAML"),
        (needle_secret("\t- tab\n"), "cannot parse YAML"),
        (
            format!("{}\n{NEEDLE}: ]\n", needle_secret("")),
            "cannot parse YAML",
        ),
    ];
    for (input, expect) in &cases {
        let out = run(d.path(), &["--cert", &c], input.as_bytes());
        fails_cleanly(&out, expect);
    }
}

/// Resource bombs in the input: deep nesting, alias expansion ("billion laughs"), deep JSON. Each
/// is refused quickly by the parser's budget, with no crash (exit 1, not a signal).
#[test]
fn parser_bombs_are_refused_quickly() {
    let d = TempDir::new("hostile-bombs");
    let c = cert_arg();
    let mut deep_yaml = needle_secret("x:\n");
    for i in 0..5_000 {
        deep_yaml.push_str(&"  ".repeat(i + 1));
        deep_yaml.push_str("a:\n");
    }
    let mut laughs = format!("a0: &a0 [\"{NEEDLE}\", \"{NEEDLE}\"]\n");
    for i in 1..40 {
        laughs.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
    }
    laughs.push_str("kind: Secret\n");
    let deep_json = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let flow = format!(
        "stringData: {{password: {NEEDLE}}}\nx: {}",
        "{a: ".repeat(100_000)
    );
    for (what, input, expect) in [
        ("deep YAML", deep_yaml, "budget"),
        ("alias expansion", laughs, "budget"),
        ("deep JSON", deep_json, "recursion limit"),
        ("deep flow YAML", flow, "cannot parse YAML"),
    ] {
        let t = Instant::now();
        let out = run(d.path(), &["--cert", &c], input.as_bytes());
        let took = t.elapsed();
        fails_cleanly(&out, expect);
        assert!(took < Duration::from_secs(20), "{what}: {took:?}");
    }
}

/// 10,000 keys in one Secret, and a 10 MiB value: sealed in time linear in the input.
#[test]
fn ten_thousand_keys_and_a_ten_mib_value_are_sealed_in_bounded_time() {
    let d = TempDir::new("hostile-big");
    let mut rng = rand::rng();
    let key = PrivateKey::generate(&mut rng, 2048).unwrap();
    let cert = self_signed_certificate(
        &mut rng,
        &key,
        &CertificateParams {
            common_name: "hostile".into(),
            not_before: std::time::SystemTime::now(),
            validity: Duration::from_secs(3600),
        },
    )
    .unwrap();
    let cert = d.write("cert.pem", cert.to_pem()).display().to_string();

    let mut many = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\nstringData:\n",
    );
    for i in 0..10_000 {
        many.push_str(&format!("  k{i:05}: v{i}\n"));
    }
    let t = Instant::now();
    let out = run(d.path(), &["--cert", &cert], many.as_bytes());
    let took = t.elapsed();
    let ss = parse_sealed_secrets(&out.ok().stdout).unwrap().remove(0);
    eprintln!("10,000 keys sealed in {took:?}");
    assert!(took < Duration::from_secs(120), "{took:?}");
    assert_eq!(ss.spec.encrypted_data.len(), 10_000);
    for k in ["k00000", "k04321", "k09999"] {
        let ct = B64.decode(&ss.spec.encrypted_data[k]).unwrap();
        let pt = common::crypto::single_decrypt(&key, &ct, b"n/s").unwrap();
        let i: u32 = k[1..].parse().unwrap();
        assert_eq!(pt.as_slice(), format!("v{i}").as_bytes());
    }

    let big = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: n}}\nstringData:\n  big: {}\n",
        "x".repeat(10 * 1024 * 1024)
    );
    let t = Instant::now();
    let out = run(d.path(), &["--cert", &cert], big.as_bytes());
    let took = t.elapsed();
    let ss = parse_sealed_secrets(&out.ok().stdout).unwrap().remove(0);
    eprintln!("10 MiB value sealed in {took:?}");
    assert!(took < Duration::from_secs(120), "{took:?}");
    let ct = B64.decode(&ss.spec.encrypted_data["big"]).unwrap();
    assert_eq!(ct.len(), 2 + 256 + 10 * 1024 * 1024 + 16);
}

/// `--recovery-unseal` with bad keys or bad SealedSecrets: the error names the file or the item,
/// and the values that did decrypt are never printed.
#[test]
fn recovery_unseal_errors_name_the_file_or_item_never_the_value() {
    let d = TempDir::new("hostile-unseal");
    let good = sealed_needle(&d);
    let key = key_arg();

    let ec = d.write(
        "ec.pem",
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIN/la44rRmgqJhSkN/5XPRmP7Xftk5iClUJq9AX52GtfoAoGCCqGSM49\nAwEHoUQDQgAEDj9ifiwzFsKZzRACMeVXkovOGiteHInaVosAHAqODAZw6eD2OnZW\nbYItViGMB8GkZXz1NE9U4aGgx16ul+47qg==\n-----END EC PRIVATE KEY-----\n",
    );
    let garbage = d.write(
        "garbage.pem",
        format!("-----BEGIN RSA PRIVATE KEY-----\n{NEEDLE}\n-----END RSA PRIVATE KEY-----\n"),
    );
    let empty = d.write("empty.pem", "");
    let input = write_ss(&d, "good.yaml", &good);
    for (file, expect) in [
        (
            ec.display().to_string(),
            "ec.pem: private key is not an RSA key",
        ),
        (garbage.display().to_string(), "garbage.pem"),
        (empty.display().to_string(), "empty.pem"),
        (
            d.path().join("missing.pem").display().to_string(),
            "missing.pem: no such file or directory",
        ),
    ] {
        let out = run(
            d.path(),
            &[
                "--recovery-unseal",
                "--recovery-private-key",
                &file,
                "-f",
                &input,
            ],
            b"",
        );
        fails_cleanly(&out, expect);
    }

    let mut template = good.clone();
    template.spec.template.data = Some(
        [("t".to_owned(), "{{ index .password 100 }}".to_owned())]
            .into_iter()
            .collect(),
    );
    let mut bad_b64 = good.clone();
    bad_b64
        .spec
        .encrypted_data
        .insert("bad".into(), "@@@".into());
    let mut renamed = good.clone();
    renamed.metadata.name = Some("renamed".into());
    let mut truncated = good.clone();
    let ct = truncated.spec.encrypted_data["password"].clone();
    truncated
        .spec
        .encrypted_data
        .insert("password".into(), ct[..ct.len() / 8 * 4].to_owned());
    for (name, ss, expect) in [
        ("template", template, "index out of range: 100 (t)"),
        (
            "bad-b64",
            bad_b64,
            "illegal base64 data at input byte 0 (bad)",
        ),
        ("renamed", renamed, "no key could decrypt secret (password)"),
        (
            "truncated",
            truncated,
            "no key could decrypt secret (password)",
        ),
    ] {
        let f = write_ss(&d, &format!("{name}.yaml"), &ss);
        let out = run(
            d.path(),
            &[
                "--recovery-unseal",
                "--recovery-private-key",
                &key,
                "-f",
                &f,
            ],
            b"",
        );
        fails_cleanly(&out, expect);
    }
}

/// Offline re-encryption and `--merge-into` of damaged files: the error names the item, the
/// target file is left as it was.
#[test]
fn reencrypt_and_merge_into_of_damaged_files_leave_them_alone() {
    let d = TempDir::new("hostile-reenc");
    let good = sealed_needle(&d);
    let mut renamed = good.clone();
    renamed.metadata.name = Some("renamed".into());
    let f = write_ss(&d, "renamed.yaml", &renamed);
    let before = std::fs::read(&f).unwrap();
    let out = run(
        d.path(),
        &[
            "--re-encrypt",
            "--recovery-private-key",
            &key_arg(),
            "--cert",
            &cert_arg(),
            "-f",
            &f,
        ],
        b"",
    );
    fails_cleanly(&out, "no key could decrypt secret (password)");
    assert_eq!(std::fs::read(&f).unwrap(), before);

    // A merge target that is not a SealedSecret: refused, untouched, the input value not echoed.
    let target = d.write(
        "target.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert_arg(),
            "--merge-into",
            &target.display().to_string(),
        ],
        needle_secret("").as_bytes(),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!out.stderr.contains(NEEDLE), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the --merge-into file is not a SealedSecret"),
        "the error names the file: {}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    );
}
