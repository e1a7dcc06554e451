//! Keyed item fingerprints (ours, opt-in): a proof for `kubeseal --keep-unchanged` in pipelines
//! that hold every plaintext on each run but no private key.
//!
//! A SealedSecret may carry the annotation [`ANNOTATION`] on its own metadata: a JSON object that
//! maps an item name to `v1:<base64 HMAC-SHA256>` over
//! `"ss-fp-v1" ‖ u32be(len(label)) ‖ label ‖ SHA-256(ciphertext) ‖ plaintext`, keyed with 32
//! random bytes that never go in Git ([`FingerprintKey`]). Binding the label and the ciphertext's
//! hash means a fingerprint proves "this exact ciphertext, under this label, holds this value":
//! a swapped or moved ciphertext is never kept by mistake. Without the key a fingerprint tells
//! nothing about the value, but with a leaked key low-entropy values can be guessed offline, so the
//! key is a secret like the values.
//!
//! Upstream's controller ignores the annotation, and the Secret is built from
//! `spec.template.metadata`, so it never reaches the Secret.

use std::collections::BTreeMap;

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::CryptoRng;
use zeroize::Zeroizing;

/// The annotation on a SealedSecret's metadata that holds its items' fingerprints.
pub const ANNOTATION: &str = "sealed-secrets-rs.dev/fingerprints";

const DOMAIN: &[u8] = b"ss-fp-v1";
const VERSION: &str = "v1:";
const KEY_LEN: usize = 32;

/// The secret key of the fingerprints: 32 random bytes, written as one line of base64.
pub struct FingerprintKey {
    key: hmac::Key,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

/// Why a fingerprint key cannot be read. Never quotes the input (it is a secret).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FingerprintKeyError {
    /// Not one line of standard base64.
    #[error("a fingerprint key is one line of base64 (as `kubeseal fingerprint-key new` writes)")]
    NotBase64,
    /// Decodes to another length.
    #[error("a fingerprint key is 32 bytes, this one decodes to {0}")]
    Length(usize),
}

impl FingerprintKey {
    /// A new random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes.as_ref()),
            bytes,
        }
    }

    /// The key from its text form (surrounding whitespace ignored).
    pub fn parse(text: &[u8]) -> Result<Self, FingerprintKeyError> {
        let trimmed = text.trim_ascii();
        let decoded = Zeroizing::new(
            B64.decode(trimmed)
                .map_err(|_| FingerprintKeyError::NotBase64)?,
        );
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        if decoded.len() != KEY_LEN {
            return Err(FingerprintKeyError::Length(decoded.len()));
        }
        bytes.copy_from_slice(&decoded);
        Ok(Self::from_bytes(bytes))
    }

    /// The key's text form: base64 and a line break.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(B64.encode(self.bytes.as_ref()));
        s.push('\n');
        s
    }

    fn message(label: &[u8], ciphertext: &[u8], plaintext: &[u8]) -> Zeroizing<Vec<u8>> {
        let len = u32::try_from(label.len()).unwrap_or(u32::MAX);
        let mut m = Zeroizing::new(Vec::with_capacity(
            DOMAIN.len() + 4 + label.len() + 32 + plaintext.len(),
        ));
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(label);
        m.extend_from_slice(digest::digest(&digest::SHA256, ciphertext).as_ref());
        m.extend_from_slice(plaintext);
        m
    }

    /// The fingerprint of an item: its label, its ciphertext as written in `encryptedData`
    /// (base64) and its value. `None` when the ciphertext is not base64.
    pub fn fingerprint(&self, label: &[u8], ciphertext: &str, plaintext: &[u8]) -> Option<String> {
        let ct = B64.decode(ciphertext.as_bytes()).ok()?;
        let tag = hmac::sign(&self.key, &Self::message(label, &ct, plaintext));
        Some(format!("{VERSION}{}", B64.encode(tag.as_ref())))
    }

    /// Does `fingerprint` prove that `ciphertext` under `label` holds `plaintext`? Compared in
    /// constant time.
    pub fn verify(
        &self,
        label: &[u8],
        ciphertext: &str,
        plaintext: &[u8],
        fingerprint: &str,
    ) -> bool {
        let (Some(tag), Ok(ct)) = (
            fingerprint
                .strip_prefix(VERSION)
                .and_then(|t| B64.decode(t.as_bytes()).ok()),
            B64.decode(ciphertext.as_bytes()),
        ) else {
            return false;
        };
        hmac::verify(&self.key, &Self::message(label, &ct, plaintext), &tag).is_ok()
    }
}

/// The fingerprints of an annotation value, by item name; `None` when it is not a JSON object of
/// strings (an unreadable annotation proves nothing and is replaced when written).
pub fn parse_annotation(value: &str) -> Option<BTreeMap<String, String>> {
    serde_json::from_str(value).ok()
}

/// The annotation value for `fingerprints`: compact JSON, keys sorted.
pub fn annotation_value(fingerprints: &BTreeMap<String, String>) -> String {
    serde_json::to_string(fingerprints).unwrap_or_default()
}

/// The fingerprints a SealedSecret's annotations carry (empty when there are none or they are
/// unreadable).
pub fn of_annotations(annotations: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    annotations
        .and_then(|a| a.get(ANNOTATION))
        .and_then(|v| parse_annotation(v))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> FingerprintKey {
        FingerprintKey::from_bytes(Zeroizing::new([byte; KEY_LEN]))
    }

    #[test]
    fn the_annotation_uses_our_prefix() {
        assert!(ANNOTATION.starts_with(crate::annotations::EXT_PREFIX));
    }

    #[test]
    fn a_fingerprint_binds_key_label_ciphertext_and_value() {
        let k = key(7);
        let ct = B64.encode(b"ciphertext bytes");
        let fp = k.fingerprint(b"ns/name", &ct, b"hunter2").unwrap();
        assert!(fp.starts_with("v1:"));
        assert!(k.verify(b"ns/name", &ct, b"hunter2", &fp));
        assert!(!k.verify(b"ns/name", &ct, b"hunter3", &fp), "value");
        assert!(!k.verify(b"ns/other", &ct, b"hunter2", &fp), "label");
        let other_ct = B64.encode(b"ciphertext byteS");
        assert!(
            !k.verify(b"ns/name", &other_ct, b"hunter2", &fp),
            "ciphertext"
        );
        assert!(!key(8).verify(b"ns/name", &ct, b"hunter2", &fp), "key");
        assert!(!k.verify(b"ns/name", &ct, b"hunter2", &fp.replacen("v1:", "v2:", 1)));
        assert!(!k.verify(b"ns/name", &ct, b"hunter2", "v1:%%%"));
        // The label's length is part of the message: moving bytes between label and value changes it.
        assert_ne!(
            k.fingerprint(b"ab", &ct, b"c"),
            k.fingerprint(b"a", &ct, b"bc")
        );
        assert_eq!(k.fingerprint(b"x", "not base64!", b"v"), None);
    }

    #[test]
    fn the_fingerprint_is_hmac_sha256_over_the_documented_message() {
        // An independent computation with the `hmac` and `sha2` crates.
        use ::hmac::{KeyInit as _, Mac as _};
        use sha2::Digest as _;
        let k = key(0x42);
        let ct_bytes = b"\x00\x01sealed";
        let ct = B64.encode(ct_bytes);
        let mut mac = ::hmac::Hmac::<sha2::Sha256>::new_from_slice(&[0x42; 32]).unwrap();
        mac.update(b"ss-fp-v1");
        mac.update(&7u32.to_be_bytes());
        mac.update(b"default");
        mac.update(&sha2::Sha256::digest(ct_bytes));
        mac.update(b"value");
        let want = format!("v1:{}", B64.encode(mac.finalize().into_bytes()));
        assert_eq!(k.fingerprint(b"default", &ct, b"value").unwrap(), want);
    }

    #[test]
    fn keys_round_trip_and_bad_text_is_refused_without_quoting_it() {
        let mut rng = rand::rng();
        let k = FingerprintKey::generate(&mut rng);
        let text = k.encode();
        let back = FingerprintKey::parse(text.as_bytes()).unwrap();
        let ct = B64.encode(b"c");
        assert_eq!(
            k.fingerprint(b"l", &ct, b"v"),
            back.fingerprint(b"l", &ct, b"v")
        );
        assert_ne!(
            FingerprintKey::generate(&mut rng).fingerprint(b"l", &ct, b"v"),
            k.fingerprint(b"l", &ct, b"v")
        );
        let err = FingerprintKey::parse(b"secret-ish words").unwrap_err();
        assert!(!err.to_string().contains("secret-ish"));
        assert_eq!(
            FingerprintKey::parse(B64.encode([1u8; 16]).as_bytes()).unwrap_err(),
            FingerprintKeyError::Length(16)
        );
        assert!(!format!("{k:?}").contains(text.trim()));
    }

    #[test]
    fn annotation_values_are_sorted_compact_json() {
        let mut m = BTreeMap::new();
        m.insert("b".to_owned(), "v1:B".to_owned());
        m.insert("a".to_owned(), "v1:A".to_owned());
        let v = annotation_value(&m);
        assert_eq!(v, r#"{"a":"v1:A","b":"v1:B"}"#);
        assert_eq!(parse_annotation(&v), Some(m));
        assert_eq!(parse_annotation("[1]"), None);
        let mut ann = BTreeMap::new();
        ann.insert(ANNOTATION.to_owned(), "not json".to_owned());
        assert!(of_annotations(Some(&ann)).is_empty());
    }
}
