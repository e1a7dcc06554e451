//! Hostile and bad input through `common`'s public API (the code the controller, verify/rotate and
//! kubeseal all run): each case gets a clear error naming the item, costs a bounded amount of
//! work, and never carries a plaintext.
//!
//! Costs are measured against the time of one RSA private operation on this machine (calibrated
//! at the start of each test), so the bounds hold on a loaded 2-core machine: "no RSA operation"
//! means "10,000 items in less time than 100 RSA operations".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::annotations::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};
use common::crd::SealedSecret;
use common::crypto::{DecryptionError, hybrid_decrypt, hybrid_encrypt, single_decrypt};
use common::keys::PrivateKey;
use common::scope::{SealingScope, encryption_label};
use common::sealing::{
    ItemError, UnsealError, UnsealOptions, UnsealStats, seal_secret, unseal, verify,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const PLAINTEXT: &str = "Hostile-Plaintext-Needle-93c1e";

fn fixture_key() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| PrivateKey::from_pem(&fixtures::key_pem()).unwrap())
}

/// A second key (2048-bit: cheaper, so the item-count tests stay short).
fn other_key() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| PrivateKey::generate(&mut rand::rng(), 2048).unwrap())
}

fn secret(ns: &str, name: &str, items: &[(&str, &[u8])]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(ns.into());
    s.data = Some(
        items
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
            .collect(),
    );
    s
}

fn sealed(key: &PrivateKey, items: &[(&str, &[u8])]) -> SealedSecret {
    seal_secret(
        &mut rand::rng(),
        key.public_key(),
        &secret("ns", "name", items),
    )
    .unwrap()
}

/// Median wall time of one failing RSA-OAEP private operation with `key` (a well-formed
/// ciphertext under the wrong label: exactly one private operation, then the padding check fails).
fn rsa_op(key: &PrivateKey) -> Duration {
    let ct = hybrid_encrypt(&mut rand::rng(), key.public_key(), b"x", b"ns/name").unwrap();
    let mut times: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(single_decrypt(key, &ct, b"ns/other"), Err(DecryptionError));
            t.elapsed()
        })
        .collect();
    times.sort();
    times[3]
}

/// Neither the plaintext nor its base64 appears in `text`.
#[track_caller]
fn assert_no_plaintext(what: &str, text: &str) {
    assert!(
        !text.contains(PLAINTEXT),
        "plaintext in {what}: {text:.300}"
    );
    let encoded = B64.encode(PLAINTEXT);
    assert!(
        !text.contains(&encoded),
        "base64 plaintext in {what}: {text:.300}"
    );
}

fn items_of(err: &UnsealError) -> Vec<(ItemError, Vec<String>)> {
    match err {
        UnsealError::Items(items) => items.clone(),
        other => panic!("expected per-item errors, got {other}"),
    }
}

#[test]
fn invalid_base64_names_each_item_and_costs_no_rsa() {
    let key = fixture_key();
    let mut ss = sealed(key, &[("good", PLAINTEXT.as_bytes())]);
    ss.spec
        .encrypted_data
        .insert("bad-b64".into(), "@@@not base64@@@".into());
    ss.spec
        .encrypted_data
        .insert("bad-padding".into(), "QUJD=x".into());
    for err in [
        unseal(
            &ss,
            &[key],
            &UnsealOptions::default(),
            &mut Default::default(),
        )
        .unwrap_err(),
        verify(&ss, &[key], &mut Default::default()).unwrap_err(),
    ] {
        let items = items_of(&err);
        let named: Vec<&str> = items
            .iter()
            .flat_map(|(e, keys)| {
                assert!(matches!(e, ItemError::Base64(_)), "{e}");
                keys.iter().map(String::as_str)
            })
            .collect();
        assert_eq!(named, ["bad-b64", "bad-padding"]);
        let text = format!("{err} {err:?}");
        assert!(text.contains("illegal base64 data at input byte"), "{text}");
        assert!(text.contains("bad-b64") && text.contains("bad-padding"));
        assert!(!err.is_decryption(), "a parse error is not a decryption");
        assert_eq!(err.kind(), "invalid");
        assert_no_plaintext("base64 error", &text);
    }

    // 10,000 undecodable items: one grouped error, no RSA work.
    let one = rsa_op(key);
    let mut many = ss.clone();
    many.spec.encrypted_data = (0..10_000)
        .map(|i| (format!("k{i:05}"), "!!!".to_owned()))
        .collect();
    let t = Instant::now();
    let mut stats = UnsealStats::default();
    let err = verify(&many, &[key, other_key()], &mut stats).unwrap_err();
    let took = t.elapsed();
    assert_eq!(stats.rsa_operations, 0);
    let items = items_of(&err);
    assert_eq!(items.len(), 1, "one message for all items");
    assert_eq!(items[0].1.len(), 10_000);
    eprintln!("10,000 bad-base64 items: {took:?} (one RSA-4096 op: {one:?})");
    assert!(
        took < (one * 100).max(Duration::from_secs(2)),
        "{took:?} for 10,000 undecodable items, one RSA op takes {one:?}"
    );
}

/// Every envelope that cannot hold a wrapped key and a tag is refused before any RSA work.
fn impossible_envelopes(valid: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("one byte".into(), vec![2]),
        ("length only".into(), vec![2, 0]),
        ("length 0xffff".into(), {
            let mut c = vec![0xff, 0xff];
            c.extend_from_slice(&valid[2..]);
            c
        }),
        // Parses, but the wrapped key is longer than any modulus here: refused before RSA.
        ("wrapped key longer than the modulus".into(), {
            let mut c = vec![0x03, 0x00];
            c.extend(std::iter::repeat_n(0x5a, 768 + 32));
            c
        }),
    ];
    for cut in [1, 2, 3, 100, 257, 513, 514, 2 + 512 + 15] {
        v.push((format!("truncated to {cut}"), valid[..cut].to_vec()));
    }
    v
}

#[test]
fn truncated_empty_and_impossible_ciphertexts_are_one_opaque_error_without_rsa() {
    let key = fixture_key();
    let label = encryption_label("ns", "name", SealingScope::Strict);
    let valid = hybrid_encrypt(
        &mut rand::rng(),
        key.public_key(),
        PLAINTEXT.as_bytes(),
        &label,
    )
    .unwrap();
    assert_eq!(valid.len(), 2 + 512 + PLAINTEXT.len() + 16);
    let cases = impossible_envelopes(&valid);
    for (what, ct) in &cases {
        assert_eq!(
            single_decrypt(key, ct, &label).map(|_| ()),
            Err(DecryptionError),
            "{what}"
        );
        assert_eq!(
            hybrid_decrypt([key, other_key()], ct, &label, &mut 0).map(|_| ()),
            Err(DecryptionError),
            "{what}"
        );
    }

    // All of them 1,000 times over, with two keys: far less than one RSA op each.
    let one = rsa_op(key);
    let t = Instant::now();
    for _ in 0..1_000 {
        for (_, ct) in &cases {
            assert!(hybrid_decrypt([key, other_key()], ct, &label, &mut 0).is_err());
        }
    }
    let took = t.elapsed();
    let n = 1_000 * cases.len() as u32;
    eprintln!("{n} impossible envelopes x 2 keys: {took:?} (one RSA-4096 op: {one:?})");
    assert!(
        took < (one * 100).max(Duration::from_secs(2)),
        "{took:?} for {n} impossible envelopes; one RSA op takes {one:?}: an RSA operation was attempted"
    );

    // Through unseal: every such item is the same opaque decryption error, listed by key name,
    // and the good item's plaintext is in neither the message nor the Debug form.
    let mut ss = sealed(key, &[("good", PLAINTEXT.as_bytes())]);
    for (i, (_, ct)) in cases.iter().enumerate() {
        ss.spec
            .encrypted_data
            .insert(format!("bad{i:02}"), B64.encode(ct));
    }
    let mut stats = UnsealStats::default();
    let err = unseal(&ss, &[key], &UnsealOptions::default(), &mut stats).unwrap_err();
    let items = items_of(&err);
    assert_eq!(items.len(), 1, "{err}");
    assert_eq!(items[0].0, ItemError::Decryption);
    assert_eq!(items[0].1.len(), cases.len());
    // The good item costs one RSA op; the only impossible envelope counted is the one whose
    // wrapped key is longer than the modulus (one cheap rejection per key, no private operation).
    assert_eq!(stats.rsa_operations, 2);
    assert!(err.is_decryption());
    let text = format!("{err} {err:?}");
    assert!(text.starts_with("no key could decrypt secret (bad00, bad01"));
    assert_no_plaintext("unseal error", &text);
}

#[test]
fn a_ten_mib_ciphertext_costs_one_rsa_op_per_key_and_fails_opaquely() {
    let key = fixture_key();
    let label = encryption_label("ns", "name", SealingScope::Strict);
    let big = vec![0x41u8; 10 * 1024 * 1024];
    let t = Instant::now();
    let valid = hybrid_encrypt(&mut rand::rng(), key.public_key(), &big, &label).unwrap();
    let seal_time = t.elapsed();

    // Tampered tag: the RSA unwrap succeeds, AES-GCM over 10 MiB refuses.
    let mut tampered = valid.clone();
    *tampered.last_mut().unwrap() ^= 1;
    // Wrong key: one RSA op for it, then the right key opens the session key and GCM refuses.
    let t = Instant::now();
    assert_eq!(
        hybrid_decrypt([other_key(), key], &tampered, &label, &mut 0).map(|_| ()),
        Err(DecryptionError)
    );
    let tampered_time = t.elapsed();
    // Wrong label: the OAEP check fails; the 10 MiB are never touched.
    let t = Instant::now();
    assert_eq!(
        single_decrypt(key, &valid, b"ns/other").map(|_| ()),
        Err(DecryptionError)
    );
    let wrong_label_time = t.elapsed();
    let t = Instant::now();
    let opened = single_decrypt(key, &valid, &label).unwrap();
    let open_time = t.elapsed();
    assert_eq!(opened.len(), big.len());
    eprintln!(
        "10 MiB value: seal {seal_time:?}, open {open_time:?}, tampered {tampered_time:?}, wrong label {wrong_label_time:?}"
    );
    // Generous: seconds of AES-GCM in a debug build on a loaded machine (generic code is
    // compiled at the calling crate's opt-level), far less in release.
    for (what, d) in [
        ("seal", seal_time),
        ("open", open_time),
        ("tampered", tampered_time),
        ("wrong label", wrong_label_time),
    ] {
        assert!(d < Duration::from_secs(60), "{what}: {d:?}");
    }
    let one = rsa_op(key);
    assert!(
        wrong_label_time < (one * 20).max(Duration::from_millis(500)),
        "a wrong label must cost one RSA op ({one:?}), not a pass over the payload: {wrong_label_time:?}"
    );

    // As an item in a SealedSecret whose other item fails: the error names the item only.
    let mut ss = sealed(key, &[("small", PLAINTEXT.as_bytes())]);
    ss.spec
        .encrypted_data
        .insert("huge".into(), B64.encode(&tampered));
    let err = verify(&ss, &[key], &mut Default::default()).unwrap_err();
    assert_eq!(err.to_string(), "no key could decrypt secret (huge)");
}

#[test]
fn ten_thousand_items_cost_is_linear() {
    let key = other_key();
    let one = rsa_op(key);

    // Cheap garbage (impossible envelopes) in 10,000 items: no RSA work at all.
    let mut garbage = sealed(key, &[]);
    garbage.spec.encrypted_data = (0..10_000)
        .map(|i| (format!("item-{i:05}"), B64.encode([0u8, 1, 2, 3])))
        .collect();
    let t = Instant::now();
    let mut stats = UnsealStats::default();
    let err = unseal(
        &garbage,
        &[key, fixture_key()],
        &UnsealOptions::default(),
        &mut stats,
    )
    .unwrap_err();
    let garbage_time = t.elapsed();
    assert_eq!(
        stats.rsa_operations, 0,
        "no RSA work for impossible envelopes"
    );
    let items = items_of(&err);
    assert_eq!(items, vec![(ItemError::Decryption, items[0].1.clone())]);
    assert_eq!(items[0].1.len(), 10_000);
    assert!(items[0].1.first().is_some_and(|k| k == "item-00000"));
    // The message names every key (this is what reaches the status condition; events truncate).
    let message = err.to_string();
    assert!(message.len() < 10_000 * 16, "{}", message.len());
    eprintln!(
        "10,000 garbage items: {garbage_time:?}, message {} bytes (one RSA-2048 op: {one:?})",
        message.len()
    );
    assert!(
        garbage_time < (one * 100).max(Duration::from_secs(2)),
        "{garbage_time:?}"
    );

    // Well-formed ciphertexts of the key's own size that do not open (sealed for another
    // name): every item costs one RSA op per key tried, no more (N x K), and nothing
    // superlinear. Measured at N = 200 and N = 1,000 (10,000 is the same loop, ten times longer).
    let wrong = hybrid_encrypt(
        &mut rand::rng(),
        key.public_key(),
        PLAINTEXT.as_bytes(),
        b"ns/another-name",
    )
    .unwrap();
    let mut per_item = Vec::new();
    for n in [200usize, 1_000] {
        let mut ss = sealed(key, &[]);
        ss.spec.encrypted_data = (0..n)
            .map(|i| (format!("item-{i:05}"), B64.encode(&wrong)))
            .collect();
        let t = Instant::now();
        let mut stats = UnsealStats::default();
        let err = verify(&ss, &[key], &mut stats).unwrap_err();
        let took = t.elapsed();
        assert!(err.is_decryption());
        assert_eq!(stats.rsa_operations, n as u64, "one op per item");
        assert_no_plaintext("error", &format!("{err} {err:?}"));
        eprintln!(
            "{n} wrong-scope items x 1 key: {took:?} ({:?} per item; one RSA-2048 op {one:?})",
            took / n as u32
        );
        per_item.push(took / n as u32);
    }
    // With two keys, the first item is tried with both (a shorter wrapped key is left-padded, as
    // upstream, so the 4096-bit key does a full private operation too); once it failed with every
    // key, the rest are tried with the likeliest key only: keys + items - 1, not items x keys.
    let mut two = sealed(key, &[]);
    two.spec.encrypted_data = (0..20)
        .map(|i| (format!("item-{i:05}"), B64.encode(&wrong)))
        .collect();
    let mut stats = UnsealStats::default();
    assert!(verify(&two, &[key, fixture_key()], &mut stats).is_err());
    assert_eq!(stats.rsa_operations, 2 + 19, "keys + items - 1");
    // The exact count above is the bound; the time only shows each op is a real one.
    eprintln!("per item: {per_item:?}");
}

/// A secret value and templates that try every way out: resource bombs, forbidden functions,
/// errors over the value. Each gets an error naming the template key, in bounded time, without
/// the value; verify/rotate (no rendering) ignore them.
#[test]
fn hostile_templates_fail_per_key_without_values() {
    let key = fixture_key();
    let base = sealed(key, &[("pw", PLAINTEXT.as_bytes())]);
    let deep_parens = format!("{{{{ {}.pw{} }}}}", "(".repeat(5_000), ")".repeat(5_000));
    let deep_ifs = format!(
        "{}{{{{ .pw }}}}{}",
        "{{ if 1 }}".repeat(5_000),
        "{{ end }}".repeat(5_000)
    );
    let huge_text = format!("{}{{{{ .pw }}}}", "x".repeat(2 * 1024 * 1024));
    let huge_ops = "{{ .pw }}".repeat(200_000);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "forbidden-env",
            r#"{{ env "HOME" }}{{ .pw }}"#.into(),
            "function \"env\" not defined",
        ),
        (
            "forbidden-expandenv",
            r#"{{ .pw }}{{ expandenv "$PATH" }}"#.into(),
            "function \"expandenv\" not defined",
        ),
        (
            "forbidden-dns",
            r#"{{ getHostByName .pw }}"#.into(),
            "function \"getHostByName\" not defined",
        ),
        ("deep-parens", deep_parens, "nesting exceeds"),
        ("deep-ifs", deep_ifs, "nesting exceeds"),
        ("huge-text", huge_text, "output exceeds"),
        ("huge-ops", huge_ops, "exceeds"),
        (
            "repeat-bomb",
            "{{ repeat 100000000 .pw }}".into(),
            "output exceeds",
        ),
        (
            "step-bomb",
            "{{ range until 100000 }}{{ range until 100000 }}{{ $.pw }}{{ end }}{{ end }}".into(),
            "exceeds",
        ),
        (
            "field-of-value",
            "{{ .pw.nope }}".into(),
            "can't evaluate field",
        ),
        (
            "index-value",
            "{{ index .pw 10000 }}".into(),
            "index out of range",
        ),
        (
            "value-as-key",
            "{{ index (dict) (index . \"pw\") | len }}".into(),
            "",
        ),
        ("type-of-value", "{{ add .pw 1 | div 0 }}".into(), ""),
        ("unclosed", "{{ if .pw }}".into(), "unexpected EOF"),
    ];
    let limits = UnsealOptions::default().template_limits;
    for (name, src, needle) in &cases {
        let mut ss = base.clone();
        ss.spec.template.data = Some(BTreeMap::from([(name.to_string(), src.clone())]));
        let t = Instant::now();
        let res = unseal(
            &ss,
            &[key],
            &UnsealOptions::default(),
            &mut Default::default(),
        );
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(20),
            "{name}: {took:?} (limits {limits:?})"
        );
        let err = match res {
            // Two cases just check that nothing leaks when Go's semantics let them succeed.
            Ok(u) if needle.is_empty() => {
                let out = &u.secret().data.as_ref().unwrap()[*name].0;
                assert!(!String::from_utf8_lossy(out).contains(PLAINTEXT), "{name}");
                continue;
            }
            Ok(_) => panic!("{name}: rendered"),
            Err(e) => e,
        };
        let items = items_of(&err);
        assert_eq!(items.len(), 1, "{name}: {err}");
        assert!(matches!(items[0].0, ItemError::Template(_)), "{name}");
        assert_eq!(items[0].1, [name.to_string()], "the error names the key");
        let text = format!("{err} {err:?}");
        assert!(text.contains(needle), "{name}: {text:.300}");
        assert!(
            text.len() < 2_000,
            "{name}: error of {} bytes quotes the template",
            text.len()
        );
        assert_no_plaintext(name, &text);
        assert!(!err.is_decryption());
        // What verify/rotate do: the templates are not rendered, the object verifies.
        let no_render = UnsealOptions {
            render_templates: false,
            ..UnsealOptions::default()
        };
        assert!(
            unseal(&ss, &[key], &no_render, &mut Default::default()).is_ok(),
            "{name}"
        );
        assert!(
            verify(&ss, &[key], &mut Default::default()).is_ok(),
            "{name}"
        );
    }
}

/// Wrong key, wrong name, wrong namespace, widened scope: one and the same error, whatever failed.
#[test]
fn wrong_key_and_wrong_scope_are_indistinguishable() {
    let key = fixture_key();
    let base = sealed(key, &[("a", PLAINTEXT.as_bytes())]);
    let mut variants: Vec<(&str, SealedSecret, Vec<&PrivateKey>)> = Vec::new();
    variants.push(("wrong key", base.clone(), vec![other_key()]));
    let mut renamed = base.clone();
    renamed.metadata.name = Some("other".into());
    variants.push(("renamed", renamed, vec![key]));
    let mut moved = base.clone();
    moved.metadata.namespace = Some("elsewhere".into());
    variants.push(("moved", moved, vec![key]));
    for widen in [CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION] {
        let mut widened = base.clone();
        widened.metadata.annotations = Some(BTreeMap::from([(widen.into(), "true".into())]));
        variants.push(("widened", widened, vec![key]));
    }
    // The template claims cluster-wide: ignored, still opens strictly (no widening).
    let mut claim = base.clone();
    claim.spec.template.metadata.annotations = Some(BTreeMap::from([(
        CLUSTER_WIDE_ANNOTATION.into(),
        "true".into(),
    )]));
    assert!(verify(&claim, &[key], &mut Default::default()).is_ok());
    claim.metadata.namespace = Some("elsewhere".into());
    variants.push(("template claims cluster-wide", claim, vec![key]));
    let mut truncated = base.clone();
    truncated
        .spec
        .encrypted_data
        .insert("a".into(), "AgA=".into());
    variants.push(("truncated", truncated, vec![key]));
    variants.push(("no keys", base.clone(), vec![]));

    for (what, ss, keys) in &variants {
        let err = unseal(ss, keys, &UnsealOptions::default(), &mut Default::default()).unwrap_err();
        assert_eq!(
            err,
            UnsealError::Items(vec![(ItemError::Decryption, vec!["a".into()])]),
            "{what}"
        );
        assert_eq!(err.to_string(), "no key could decrypt secret (a)", "{what}");
        assert_eq!(
            verify(ss, keys, &mut Default::default()).unwrap_err(),
            err,
            "{what}"
        );
    }
}

/// `template.metadata` cannot rename or move the Secret: name and namespace always come from the
/// SealedSecret (the apiserver already validated those), whatever the template says.
#[test]
fn template_metadata_cannot_retarget_the_secret() {
    let key = fixture_key();
    let mut ss = sealed(key, &[("a", b"v")]);
    ss.metadata.uid = Some("uid-1".into());
    ss.spec.template.metadata.name = Some("Not_A/Valid..Name".into());
    ss.spec.template.metadata.namespace = Some("kube-system".into());
    let u = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    let m = &u.secret().metadata;
    assert_eq!(m.name.as_deref(), Some("name"));
    assert_eq!(m.namespace.as_deref(), Some("ns"));
    assert_eq!(m.owner_references.as_ref().unwrap()[0].uid, "uid-1");
}

/// A Secret whose `data` is not base64: the error names the item, never quotes the value.
#[test]
fn secret_data_that_is_not_base64_names_the_item() {
    use common::documents::parse_secrets;
    for (doc, expect) in [
        (
            format!(
                "kind: Secret\nmetadata: {{name: s}}\ndata:\n  ok: YmFy\n  password: '{PLAINTEXT}'\n"
            ),
            "cannot decode Secret: data[password]: illegal base64 data at input byte 7",
        ),
        (
            format!("kind: Secret\nmetadata: {{name: s}}\ndata:\n  password: YmFy{PLAINTEXT}\n"),
            "cannot decode Secret: data[password]: illegal base64 data at input byte 11",
        ),
        (
            format!("{{\"kind\":\"Secret\",\"data\":{{\"password\":{{\"v\":\"{PLAINTEXT}\"}}}}}}"),
            "cannot decode Secret: data[password]: expected a base64-encoded string",
        ),
        (
            "kind: Secret\ndata:\n  password: YmFyx\n".to_owned(),
            "cannot decode Secret: data[password]: illegal base64 data (bad length or padding)",
        ),
    ] {
        let err = parse_secrets(doc.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), expect);
        assert_no_plaintext("document error", &format!("{err} {err:?}"));
    }
    // Valid base64 and null values still decode as before.
    let ok = parse_secrets(b"kind: Secret\ndata:\n  a: YmFy\n  b: ''\n").unwrap();
    assert_eq!(ok[0].data.as_ref().unwrap()["a"].0, b"bar");
}
