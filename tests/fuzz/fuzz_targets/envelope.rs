//! The ciphertext envelope: `u16be(len) || RSA-OAEP(session key) || AES-GCM(value) || tag`,
//! opened with the fixed interop key.
//!
//! Input: `mode (1 byte) || label length (1 byte) || label || payload`.
//! * mode bit 0 clear: the payload is raw ciphertext bytes for `crypto::single_decrypt` and
//!   `crypto::hybrid_decrypt`;
//! * mode bit 0 set: the payload is the base64 text of `encryptedData[k]` of a SealedSecret whose
//!   scope and name/namespace give that label, opened by `sealing::unseal` and
//!   `sealing::verify` (the controller's and `/v1/verify`'s paths).
#![no_main]

use std::collections::BTreeMap;

use common::annotations::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};
use common::crd::SealedSecret;
use common::crypto::{hybrid_decrypt, single_decrypt};
use common::sealing::{UnsealError, UnsealOptions, unseal, verify};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use libfuzzer_sys::fuzz_target;
use sealed_secrets_fuzz::{contains, key};

const TAG_BYTES: usize = 16;

fuzz_target!(|data: &[u8]| {
    let [mode, label_len, rest @ ..] = data else {
        return;
    };
    let Some((label, payload)) = rest.split_at_checked(usize::from(*label_len)) else {
        return;
    };
    if mode & 1 == 0 {
        raw(label, payload);
    } else if let Ok(text) = std::str::from_utf8(payload) {
        item(label, text);
    }
});

fn raw(label: &[u8], ct: &[u8]) {
    let one = single_decrypt(key(), ct, label);
    let many = hybrid_decrypt([key(), key()], ct, label, &mut 0);
    assert_eq!(one.is_ok(), many.is_ok(), "one key and a ring disagree");
    if let Ok(pt) = one {
        // u16 length, the RSA part (at most the modulus), then AES-GCM output = plaintext || tag.
        let rsa_len = usize::from(u16::from_be_bytes([ct[0], ct[1]]));
        assert!(rsa_len <= key().public_key().size_bytes());
        assert_eq!(pt.len() + TAG_BYTES + 2 + rsa_len, ct.len());
        assert_eq!(many.unwrap().0.as_slice(), pt.as_slice());
    }
}

/// A SealedSecret with one item whose label is `label`: `ns/name` is strict, a label with no `/`
/// is namespace-wide, the empty label is cluster-wide.
fn item(label: &[u8], text: &str) {
    let Ok(label) = std::str::from_utf8(label) else {
        return;
    };
    let mut meta = ObjectMeta::default();
    let mut annotations = BTreeMap::new();
    match label.split_once('/') {
        _ if label.is_empty() => {
            annotations.insert(CLUSTER_WIDE_ANNOTATION.to_owned(), "true".to_owned());
            meta.namespace = Some("fuzz".into());
            meta.name = Some("fuzz".into());
        }
        Some((ns, name)) => {
            meta.namespace = Some(ns.into());
            meta.name = Some(name.into());
        }
        None => {
            annotations.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "true".to_owned());
            meta.namespace = Some(label.into());
            meta.name = Some("fuzz".into());
        }
    }
    meta.annotations = (!annotations.is_empty()).then_some(annotations);
    let mut ss = SealedSecret {
        metadata: meta,
        spec: Default::default(),
        status: None,
    };
    ss.spec.encrypted_data.insert("k".into(), text.to_owned());
    let keys = [key()];
    let unsealed = unseal(
        &ss,
        &keys,
        &UnsealOptions::default(),
        &mut Default::default(),
    );
    let validated = verify(&ss, &keys, &mut Default::default());
    assert_eq!(
        unsealed.is_ok(),
        validated.is_ok(),
        "unseal and validate disagree"
    );
    match unsealed {
        Ok(u) => {
            let data = u.secret().data.as_ref().expect("unsealed data");
            assert!(data.contains_key("k"));
            assert_eq!(u.opened_by(), [key().fingerprint().clone()]);
        }
        Err(e) => {
            // Errors name keys, never values (a payload could itself be a plaintext). Checked
            // for payloads holding a DEL byte, which the messages' own text never has.
            let msg = e.to_string();
            assert!(
                !text.contains('\x7f') || !contains(msg.as_bytes(), text.as_bytes(), 6),
                "error quotes the input"
            );
            if let UnsealError::Items(items) = &e {
                assert!(items.iter().all(|(_, keys)| keys == &["k".to_owned()]));
            }
        }
    }
}
