//! Interop tests against ../shared/fixtures/interop: byte-exact vectors, documents sealed by an
//! independent implementation (kubesealpy), tamper tests, and cross-tests of the two RSA libraries.

use std::collections::BTreeMap;
use std::convert::Infallible;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rand::{RngExt as _, SeedableRng};
use zeroize::Zeroizing;

use crate::annotations::{
    CLUSTER_WIDE_ANNOTATION, LAST_APPLIED_ANNOTATIONS, SKIP_SET_OWNER_REFERENCES_ANNOTATION,
};
use crate::crd::SealedSecret;
use crate::crypto::{hybrid_decrypt, hybrid_encrypt, single_decrypt};
use crate::keys::PrivateKey;
use crate::scope::{SealingScope, encryption_label};
use crate::sealing::{self, ItemError, UnsealError, UnsealOptions, seal_secret, unseal};
use crate::test_support::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Replays a fixed byte stream as the random source, and counts what was read.
struct FixedStream {
    bytes: Vec<u8>,
    pos: usize,
}

impl rand::TryRng for FixedStream {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.pos + dst.len();
        assert!(end <= self.bytes.len(), "random stream exhausted");
        dst.copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        Ok(())
    }
}
impl rand::TryCryptoRng for FixedStream {}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap(), 16).unwrap())
        .collect()
}

fn vectors() -> serde_json::Value {
    serde_json::from_slice(&fixture("vectors-4096.json")).unwrap()
}

fn str_field<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k}"))
}

#[test]
fn vectors_are_byte_exact_and_decrypt() {
    let key = fixture_key();
    let doc = vectors();
    let list = doc["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 15);
    assert_eq!(
        PrivateKey::from_pem(str_field(&doc, "private_key_pem").as_bytes())
            .unwrap()
            .fingerprint(),
        key.fingerprint()
    );
    for v in list {
        let id = str_field(v, "id");
        let scope: SealingScope = str_field(v, "scope").parse().unwrap();
        let label = encryption_label(str_field(v, "namespace"), str_field(v, "name"), scope);
        assert_eq!(label, hex(str_field(v, "label_hex")), "{id}: label");
        let plaintext = B64.decode(str_field(v, "plaintext_b64")).unwrap();
        let mut rng = FixedStream {
            bytes: hex(str_field(v, "rng_stream_hex")),
            pos: 0,
        };
        let ct = hybrid_encrypt(&mut rng, key.public_key(), &plaintext, &label).unwrap();
        assert_eq!(rng.pos, 64, "{id}: reads session key then OAEP seed");
        assert_eq!(
            B64.encode(&ct),
            str_field(v, "ciphertext_b64"),
            "{id}: ciphertext"
        );
        let expected = B64.decode(str_field(v, "ciphertext_b64")).unwrap();
        let pt = single_decrypt(&key, &expected, &label).unwrap();
        assert_eq!(pt.as_slice(), plaintext.as_slice(), "{id}: plaintext");
    }
}

#[test]
fn negative_vectors_are_rejected_and_lenient_accepted() {
    let key = fixture_key();
    let doc = vectors();
    for v in doc["negative"].as_array().unwrap() {
        let id = str_field(v, "id");
        let label = hex(str_field(v, "label_hex"));
        let ct = B64.decode(str_field(v, "ciphertext_b64")).unwrap();
        assert!(
            single_decrypt(&key, &ct, &label).is_err(),
            "{id} must be rejected"
        );
        let rc = fixture_key().into_rustcrypto_backend();
        assert!(
            single_decrypt(&rc, &ct, &label).is_err(),
            "{id} (rsa backend)"
        );
    }
    let lenient = doc["lenient"].as_array().unwrap();
    assert_eq!(lenient.len(), 2);
    for v in lenient {
        let id = str_field(v, "id");
        let label = hex(str_field(v, "label_hex"));
        let ct = B64.decode(str_field(v, "ciphertext_b64")).unwrap();
        let pt = single_decrypt(&key, &ct, &label).unwrap_or_else(|_| panic!("{id}"));
        assert_eq!(
            pt.as_slice(),
            B64.decode(str_field(v, "plaintext_b64")).unwrap()
        );
    }
}

#[test]
fn tamper_any_part_fails() {
    let key = fixture_key();
    let mut rng = seeded_rng(3);
    let ct = hybrid_encrypt(&mut rng, key.public_key(), b"tamper me", b"ns/n").unwrap();
    // Length prefix, RSA part (first, middle, last byte), GCM body, GCM tag.
    for i in [0, 1, 2, 200, 513, 514, ct.len() - 17, ct.len() - 1] {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        assert!(single_decrypt(&key, &bad, b"ns/n").is_err(), "byte {i}");
    }
    assert!(single_decrypt(&key, &ct, b"ns/m").is_err());
    assert!(single_decrypt(&key, &ct[..ct.len() - 1], b"ns/n").is_err());
    let mut longer = ct.clone();
    longer.push(0);
    assert!(single_decrypt(&key, &longer, b"ns/n").is_err());
    assert!(single_decrypt(&key, &ct, b"ns/n").is_ok());
}

#[test]
fn both_rsa_libraries_agree() {
    // rsa-encrypt (our sealing path) → aws-lc-decrypt, and the rsa backend opens the same bytes.
    let aws = fixture_key();
    let rc = fixture_key().into_rustcrypto_backend();
    assert_eq!(rc.backend_name(), "rsa");
    let mut rng = seeded_rng(11);
    for len in [0usize, 1, 31, 32, 33, 1000] {
        let pt: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let ct = hybrid_encrypt(&mut rng, aws.public_key(), &pt, b"l").unwrap();
        assert_eq!(single_decrypt(&aws, &ct, b"l").unwrap().as_slice(), &pt[..]);
        assert_eq!(single_decrypt(&rc, &ct, b"l").unwrap().as_slice(), &pt[..]);
    }
    // A 1024-bit key is below aws-lc-rs's range and decrypts through `rsa`.
    let small = PrivateKey::generate(&mut seeded_rng(5), 1024).unwrap();
    assert_eq!(small.backend_name(), "rsa");
    let ct = hybrid_encrypt(&mut rng, small.public_key(), b"x", b"").unwrap();
    assert_eq!(single_decrypt(&small, &ct, b"").unwrap().as_slice(), b"x");
}

#[test]
fn aws_lc_sealed_session_key_opens_with_rsa_backend() {
    // The reverse direction: a session key wrapped by aws-lc-rs, opened by both backends.
    use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
    let key = fixture_key();
    let spki = key.public_key().to_spki_der().unwrap();
    let enc = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).unwrap()).unwrap();
    let session = [7u8; 32];
    let mut wrapped = vec![0u8; enc.ciphertext_size()];
    let wrapped = enc
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &session,
            &mut wrapped,
            Some(b"ns/x"),
        )
        .unwrap()
        .to_vec();
    use aes_gcm::aead::{Aead, KeyInit};
    let gcm = aes_gcm::Aes256Gcm::new((&session).into())
        .encrypt(&aes_gcm::Nonce::default(), b"from aws-lc".as_slice())
        .unwrap();
    let mut ct = (wrapped.len() as u16).to_be_bytes().to_vec();
    ct.extend_from_slice(&wrapped);
    ct.extend_from_slice(&gcm);
    assert_eq!(
        single_decrypt(&key, &ct, b"ns/x").unwrap().as_slice(),
        b"from aws-lc"
    );
    let rc = fixture_key().into_rustcrypto_backend();
    assert_eq!(
        single_decrypt(&rc, &ct, b"ns/x").unwrap().as_slice(),
        b"from aws-lc"
    );
}

#[test]
fn property_round_trip_with_seeded_rng() {
    let key = generated_key();
    let other = fixture_key();
    let mut rng = seeded_rng(2024);
    for _ in 0..64 {
        let len = rng.random_range(0..2048);
        let pt: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let label: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        let ct = hybrid_encrypt(&mut rng, key.public_key(), &pt, &label).unwrap();
        let (out, used) = hybrid_decrypt([&other, key], &ct, &label, &mut 0).unwrap();
        assert_eq!(out.as_slice(), &pt[..]);
        assert_eq!(used.fingerprint(), key.fingerprint());
        let mut wrong = label.clone();
        wrong.push(b'x');
        assert!(hybrid_decrypt([&other, key], &ct, &wrong, &mut 0).is_err());
    }
}

fn expected_secret_data() -> BTreeMap<String, Vec<u8>> {
    let secret: Secret = serde_saphyr::from_slice(&fixture("secret.yaml")).unwrap();
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in secret.string_data.unwrap_or_default() {
        data.insert(k, v.into_bytes());
    }
    data
}

fn load_sealed(name: &str) -> SealedSecret {
    serde_saphyr::from_slice(&fixture(name)).unwrap()
}

fn data_of(s: &sealing::UnsealedSecret) -> BTreeMap<String, Vec<u8>> {
    s.secret()
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

#[test]
fn kubesealpy_documents_unseal() {
    let key = fixture_key();
    let opts = UnsealOptions::default();
    let expected = expected_secret_data();
    assert_eq!(expected["binary"].len(), 256);
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let ss = load_sealed(&format!("sealed-by-kubesealpy-{scope}.yaml"));
        let out = unseal(&ss, &[&key], &opts, &mut Default::default())
            .unwrap_or_else(|e| panic!("{scope}: {e}"));
        assert_eq!(data_of(&out), expected, "{scope}");
        assert_eq!(out.opened_by(), [key.fingerprint().clone()]);
        let s = out.secret();
        assert_eq!(s.metadata.name.as_deref(), Some("db-credentials"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("production"));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.kind, "SealedSecret");
        assert_eq!(owner.controller, Some(true));
    }
}

#[test]
fn kubesealpy_documents_respect_scope_when_moved() {
    let key = fixture_key();
    let opts = UnsealOptions::default();
    // (scope, renamed opens?, moved to another namespace opens?)
    for (scope, rename_ok, move_ok) in [
        ("strict", false, false),
        ("namespace-wide", true, false),
        ("cluster-wide", true, true),
    ] {
        let mut renamed = load_sealed(&format!("sealed-by-kubesealpy-{scope}.yaml"));
        renamed.metadata.name = Some("another-name".into());
        let r = unseal(&renamed, &[&key], &opts, &mut Default::default());
        assert_eq!(r.is_ok(), rename_ok, "{scope} renamed");
        if let Ok(s) = r {
            assert_eq!(s.secret().metadata.name.as_deref(), Some("another-name"));
        }
        let mut moved = load_sealed(&format!("sealed-by-kubesealpy-{scope}.yaml"));
        moved.metadata.namespace = Some("staging".into());
        let r = unseal(&moved, &[&key], &opts, &mut Default::default());
        assert_eq!(r.is_ok(), move_ok, "{scope} moved");
        if let Err(e) = r {
            assert!(e.is_decryption());
            assert_eq!(
                e.to_string(),
                "no key could decrypt secret (binary, password, username)"
            );
        }
    }
}

#[test]
fn scope_comes_from_metadata_not_template() {
    // A strict SealedSecret whose template claims cluster-wide must not open elsewhere.
    let key = fixture_key();
    let mut ss = load_sealed("sealed-by-kubesealpy-strict.yaml");
    ss.spec
        .template
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
    ss.metadata.name = Some("x".into());
    assert!(
        unseal(
            &ss,
            &[&key],
            &UnsealOptions::default(),
            &mut Default::default()
        )
        .is_err()
    );
}

fn test_secret(ns: &str, name: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(ns.into());
    s.data = Some(BTreeMap::from([(
        "foo".into(),
        ByteString(b"bar".to_vec()),
    )]));
    s
}

#[test]
fn test_seal_round_trip_and_string_data_conversion() {
    let key = generated_key();
    let mut s = test_secret("myns", "mysecret");
    s.string_data = Some(BTreeMap::from([
        ("foo".into(), "override".into()),
        ("other".into(), "x".into()),
    ]));
    s.type_ = Some("Opaque".into());
    let ss = seal_secret(&mut seeded_rng(1), key.public_key(), &s).unwrap();
    assert_eq!(ss.metadata.name.as_deref(), Some("mysecret"));
    assert_eq!(ss.metadata.annotations, None);
    assert_eq!(ss.spec.encrypted_data.len(), 2);
    let out = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    let data = data_of(&out);
    assert_eq!(data["foo"], b"override");
    assert_eq!(data["other"], b"x");
}

#[test]
fn test_seal_round_trip_with_scopes_and_mismatch() {
    let key = generated_key();
    for (scope, rename_ok, move_ok) in [
        (SealingScope::ClusterWide, true, true),
        (SealingScope::NamespaceWide, true, false),
        (SealingScope::Strict, false, false),
    ] {
        let mut s = test_secret("myns", "mysecret");
        scope.apply_to(s.metadata.annotations.get_or_insert_with(Default::default));
        let ss = seal_secret(&mut seeded_rng(2), key.public_key(), &s).unwrap();
        assert_eq!(
            SealingScope::from_annotations(ss.metadata.annotations.as_ref()),
            scope
        );
        assert!(
            unseal(
                &ss,
                &[key],
                &UnsealOptions::default(),
                &mut Default::default()
            )
            .is_ok()
        );
        let mut renamed = ss.clone();
        renamed.metadata.name = Some("other".into());
        assert_eq!(
            unseal(
                &renamed,
                &[key],
                &UnsealOptions::default(),
                &mut Default::default()
            )
            .is_ok(),
            rename_ok
        );
        let mut moved = ss.clone();
        moved.metadata.namespace = Some("otherns".into());
        assert_eq!(
            unseal(
                &moved,
                &[key],
                &UnsealOptions::default(),
                &mut Default::default()
            )
            .is_ok(),
            move_ok
        );
    }
}

#[test]
fn cluster_wide_may_have_no_namespace_but_others_must() {
    let key = generated_key();
    let mut s = test_secret("", "x");
    s.metadata.namespace = None;
    assert_eq!(
        seal_secret(&mut seeded_rng(1), key.public_key(), &s)
            .unwrap_err()
            .to_string(),
        "secret must declare a namespace"
    );
    SealingScope::ClusterWide.apply_to(s.metadata.annotations.get_or_insert_with(Default::default));
    let ss = seal_secret(&mut seeded_rng(1), key.public_key(), &s).unwrap();
    assert_eq!(ss.metadata.namespace, None);
}

#[test]
fn test_seal_metadata_preservation() {
    let key = generated_key();
    let mut s = test_secret("myns", "mysecret");
    s.metadata.labels = Some(BTreeMap::from([("app".into(), "x".into())]));
    s.metadata.annotations = Some(BTreeMap::from([
        (LAST_APPLIED_ANNOTATIONS[0].into(), "{\"leak\":1}".into()),
        (LAST_APPLIED_ANNOTATIONS[1].into(), "{\"leak\":2}".into()),
        ("keep".into(), "me".into()),
    ]));
    s.metadata.owner_references = Some(vec![Default::default()]);
    s.metadata.finalizers = Some(vec!["f".into()]);
    let ss = seal_secret(&mut seeded_rng(1), key.public_key(), &s).unwrap();
    let t = &ss.spec.template.metadata;
    assert_eq!(
        t.annotations,
        Some(BTreeMap::from([("keep".into(), "me".into())]))
    );
    assert_eq!(t.owner_references, None);
    assert_eq!(t.labels, s.metadata.labels);
    assert_eq!(t.finalizers, s.metadata.finalizers);
}

#[test]
fn test_skip_set_owner_reference() {
    let key = generated_key();
    let mut s = test_secret("myns", "mysecret");
    s.metadata.annotations = Some(BTreeMap::from([(
        SKIP_SET_OWNER_REFERENCES_ANNOTATION.into(),
        "true".into(),
    )]));
    let ss = seal_secret(&mut seeded_rng(1), key.public_key(), &s).unwrap();
    let out = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    assert_eq!(out.secret().metadata.owner_references, None);
    let plain = seal_secret(&mut seeded_rng(1), key.public_key(), &test_secret("a", "b")).unwrap();
    let out = unseal(
        &plain,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    assert_eq!(
        out.secret()
            .metadata
            .owner_references
            .as_ref()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn test_invalid_base64_names_the_field() {
    let key = generated_key();
    let mut ss = seal_secret(&mut seeded_rng(1), key.public_key(), &test_secret("a", "b")).unwrap();
    ss.spec
        .encrypted_data
        .insert("broken".into(), "!!!notbase64".into());
    let err = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert_eq!(msg, "illegal base64 data at input byte 0 (broken)");
    assert!(!msg.contains("decrypt"));
    assert!(!err.is_decryption());
}

#[test]
fn errors_are_grouped_like_multierror_uniq() {
    let key = generated_key();
    let other = fixture_key();
    let mut s = test_secret("a", "b");
    s.data
        .as_mut()
        .unwrap()
        .insert("foo2".into(), ByteString(b"x".to_vec()));
    let ss = seal_secret(&mut seeded_rng(1), key.public_key(), &s).unwrap();
    let mut ss2 = ss.clone();
    ss2.spec.encrypted_data.insert("z".into(), "%".into());
    let err = unseal(
        &ss2,
        &[&other],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        UnsealError::Items(vec![
            (ItemError::Decryption, vec!["foo".into(), "foo2".into()]),
            (
                ItemError::Base64("illegal base64 data at input byte 0".into()),
                vec!["z".into()]
            ),
        ])
    );
    assert_eq!(
        err.to_string(),
        "no key could decrypt secret (foo, foo2)\nillegal base64 data at input byte 0 (z)"
    );
}

#[test]
fn test_unsealing_v1_format_and_both_fields() {
    let key = generated_key();
    let inner = test_secret("a", "b");
    let blob = serde_json::to_vec(&inner).unwrap();
    let ct = hybrid_encrypt(&mut seeded_rng(1), key.public_key(), &blob, b"a/b").unwrap();
    let mut ss = SealedSecret::new("b", Default::default());
    ss.metadata.namespace = Some("a".into());
    ss.spec.data = Some(ByteString(ct));
    let out = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    assert_eq!(data_of(&out)["foo"], b"bar");
    let reject = UnsealOptions {
        accept_deprecated_v1_data: false,
        ..UnsealOptions::default()
    };
    assert_eq!(
        unseal(&ss, &[key], &reject, &mut Default::default())
            .err()
            .unwrap(),
        UnsealError::DeprecatedDataRejected
    );
    ss.spec.encrypted_data.insert("x".into(), "AgA=".into());
    assert_eq!(
        unseal(
            &ss,
            &[key],
            &UnsealOptions::default(),
            &mut Default::default()
        )
        .err()
        .unwrap(),
        UnsealError::BothDataFields
    );
}

#[test]
fn test_seal_round_trip_template_data() {
    let key = generated_key();
    let mut s = test_secret("myns", "mysecret");
    s.data
        .as_mut()
        .unwrap()
        .insert("password".into(), ByteString(b"p\"w".to_vec()));
    let mut ss = seal_secret(&mut seeded_rng(1), key.public_key(), &s).unwrap();
    ss.spec.template.data = Some(BTreeMap::from([
        ("foo".into(), "secret {{ index . \"foo\" }} !".into()),
        ("json".into(), "{{ toJson .password }}".into()),
        ("static".into(), "no data used".into()),
    ]));
    let out = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    let data = data_of(&out);
    assert_eq!(data["foo"], b"secret bar !");
    assert_eq!(data["json"], b"\"p\\\"w\"");
    assert_eq!(data["static"], b"no data used");
    assert_eq!(data["password"], b"p\"w");
    // verify/rotate mode: templates are not rendered, so a broken template changes nothing.
    ss.spec.template.data = Some(BTreeMap::from([("x".into(), "{{ env \"HOME\" }}".into())]));
    let no_render = UnsealOptions {
        render_templates: false,
        ..UnsealOptions::default()
    };
    assert!(unseal(&ss, &[key], &no_render, &mut Default::default()).is_ok());
    assert!(sealing::verify(&ss, &[key], &mut Default::default()).is_ok());
    let err = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap_err();
    assert!(!err.is_decryption());
}

#[test]
fn test_template_without_encrypted_data() {
    let mut ss = SealedSecret::new("b", Default::default());
    ss.metadata.namespace = Some("a".into());
    ss.spec.template.data = Some(BTreeMap::from([("k".into(), "value".into())]));
    let out = unseal(&ss, &[], &UnsealOptions::default(), &mut Default::default()).unwrap();
    assert_eq!(data_of(&out)["k"], b"value");
}

#[test]
fn template_error_never_contains_plaintext() {
    let key = generated_key();
    let mut s = test_secret("a", "b");
    s.data
        .as_mut()
        .unwrap()
        .insert("pw".into(), ByteString(b"Sup3rS3cretPlaintext".to_vec()));
    let mut ss = seal_secret(&mut seeded_rng(1), key.public_key(), &s).unwrap();
    ss.spec.template.data = Some(BTreeMap::from([(
        "t".into(),
        "{{ .pw | nosuchfunc }}{{ index .pw 99 }}".into(),
    )]));
    let err = unseal(
        &ss,
        &[key],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("Sup3rS3cretPlaintext"));
}

#[test]
fn raw_item_matches_vectors() {
    let key = fixture_key();
    let doc = vectors();
    let v = &doc["vectors"][0];
    let mut rng = FixedStream {
        bytes: hex(str_field(v, "rng_stream_hex")),
        pos: 0,
    };
    let out = sealing::seal_raw(
        &mut rng,
        key.public_key(),
        str_field(v, "namespace"),
        str_field(v, "name"),
        SealingScope::Strict,
        &B64.decode(str_field(v, "plaintext_b64")).unwrap(),
    )
    .unwrap();
    assert_eq!(out, str_field(v, "ciphertext_b64"));
}

#[test]
fn unsealed_values_are_zeroized_types() {
    // Compile-time property: plaintexts travel as Zeroizing buffers.
    let key = generated_key();
    let ss = seal_secret(&mut seeded_rng(1), key.public_key(), &test_secret("a", "b")).unwrap();
    let ct = B64.decode(&ss.spec.encrypted_data["foo"]).unwrap();
    let pt: Zeroizing<Vec<u8>> = single_decrypt(key, &ct, b"a/b").unwrap();
    assert_eq!(pt.as_slice(), b"bar");
    let _ = rand::rngs::StdRng::seed_from_u64(0);
}

#[test]
fn unseal_counts_key_attempts_and_tries_the_opening_key_first_for_the_rest() {
    // Three items sealed with `sealer`; tried with [other, sealer]: the first item costs 2
    // attempts, the other two start with the key that opened the first.
    let sealer = generated_key();
    let other = fixture_key();
    let mut s = test_secret("a", "b");
    let data = s.data.as_mut().unwrap();
    data.insert("foo2".into(), ByteString(b"x".to_vec()));
    data.insert("foo3".into(), ByteString(b"y".to_vec()));
    let ss = seal_secret(&mut seeded_rng(3), sealer.public_key(), &s).unwrap();
    let mut stats = sealing::UnsealStats::default();
    let out = sealing::unseal(
        &ss,
        &[&other, sealer],
        &UnsealOptions::default(),
        &mut stats,
    )
    .unwrap();
    assert_eq!(out.opened_by(), [sealer.fingerprint().clone()]);
    assert_eq!(stats.rsa_operations, 4);

    // Failures are counted too: every key for every item, nothing for undecodable ones.
    let mut broken = ss.clone();
    broken.spec.encrypted_data.insert("z".into(), "%".into());
    let mut stats = sealing::UnsealStats::default();
    assert!(sealing::unseal(&broken, &[&other], &UnsealOptions::default(), &mut stats).is_err());
    assert_eq!(stats.rsa_operations, 3);
    let mut stats = sealing::UnsealStats::default();
    sealing::verify(&ss, &[sealer, &other], &mut stats).unwrap();
    assert_eq!(stats.rsa_operations, 3);
}

#[test]
fn after_a_value_no_key_opens_the_rest_are_tried_only_with_keys_that_opened_one() {
    let sealer = generated_key();
    let other = fixture_key();
    let ss = seal_secret(
        &mut seeded_rng(4),
        sealer.public_key(),
        &test_secret("a", "b"),
    )
    .unwrap();
    let good = ss.spec.encrypted_data["foo"].clone();
    // Sealed for another name: well-formed, opens with no key.
    let elsewhere = seal_secret(
        &mut seeded_rng(5),
        sealer.public_key(),
        &test_secret("a", "c"),
    )
    .unwrap();
    let wrong = elsewhere.spec.encrypted_data["foo"].clone();

    let mut hostile = ss.clone();
    hostile.spec.encrypted_data = (0..50)
        .map(|i| (format!("k{i:02}"), wrong.clone()))
        .collect();
    let mut stats = sealing::UnsealStats::default();
    let err = sealing::unseal(
        &hostile,
        &[&other, sealer],
        &UnsealOptions::default(),
        &mut stats,
    )
    .unwrap_err();
    // The first value costs one attempt per key; the others one each (the likeliest key).
    assert_eq!(stats.rsa_operations, 2 + 49);
    let UnsealError::Items(items) = &err else {
        panic!("{err}")
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].0, ItemError::Decryption);
    assert_eq!(items[0].1.len(), 50, "every value is named");

    // A value that opened first ("a…" sorts before "k…"): the rest are tried with its key only.
    hostile.spec.encrypted_data.insert("a".into(), good.clone());
    let mut stats = sealing::UnsealStats::default();
    assert!(
        sealing::unseal(
            &hostile,
            &[&other, sealer],
            &UnsealOptions::default(),
            &mut stats
        )
        .is_err()
    );
    // "a": other, sealer (2); k00: sealer, other (2, gives up); k01..k49: sealer only (49).
    assert_eq!(stats.rsa_operations, 2 + 2 + 49);

    // Values after a failure that the likeliest key opens are still opened, not just named…
    let mut mixed = ss.clone();
    mixed.spec.encrypted_data.insert("a-bad".into(), wrong);
    mixed.spec.encrypted_data.insert("b-good".into(), good);
    let err = unseal(
        &mixed,
        &[sealer, &other],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "no key could decrypt secret (a-bad)");
    // …and those only a less likely key opens are named with the failures.
    let err = unseal(
        &mixed,
        &[&other, sealer],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no key could decrypt secret (a-bad, b-good, foo)"
    );
}
