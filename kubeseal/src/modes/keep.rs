//! `--keep-unchanged OLDFILE` (ours): when sealing a Secret again, an item keeps its old ciphertext
//! when there is a proof that the old ciphertext opens to the new value under the same label, so
//! that re-sealing a whole Secret changes only the items whose values changed. The proofs: local
//! keys (`--recovery-private-key`: the old ciphertext is opened and compared with the new value),
//! the keyed fingerprint annotation (`--fingerprint-key-file`, [`common::fingerprint`]) and the
//! live cluster (`--from-cluster`, [`super::proof`]). Without a proof every item is sealed again,
//! as without the flag. The controller is never asked whether two values are equal (that would be
//! an oracle).
//!
//! With a fingerprint key every item of the result gets a fingerprint of its (kept or new)
//! ciphertext; without one, kept items keep their old fingerprints and new ciphertexts get none.

use common::crd::SealedSecret;
use common::fingerprint::{FingerprintKey, of_annotations};
use common::keys::PrivateKey;
use common::sealing::{label_of, open_value};
use k8s_openapi::api::core::v1::Secret;

/// Item values proven by another source (the live cluster), by item name.
pub type Proven = std::collections::BTreeMap<String, zeroize::Zeroizing<Vec<u8>>>;

/// [`Proven`] values of SealedSecrets, by [`id`].
pub type ByObject = std::collections::BTreeMap<(String, String), Proven>;

/// A SealedSecret's namespace and name.
pub fn id(ss: &SealedSecret) -> (String, String) {
    (
        ss.metadata.namespace.clone().unwrap_or_default(),
        ss.metadata.name.clone().unwrap_or_default(),
    )
}

/// How many items kept their old ciphertext, and how many were sealed again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// Proven unchanged: the old ciphertext is kept.
    pub kept: usize,
    /// New, changed or unproven: sealed again.
    pub resealed: usize,
}

/// The value of item `key` of `secret` as it was sealed (`stringData` wins over `data`).
fn plaintext<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.as_bytes());
    }
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.as_slice())
}

/// Equal without an early exit on the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// For each new SealedSecret (`new[i]` sealed from `secrets[i]`), replace the ciphertext of every
/// item that the SealedSecret of the same name and namespace in `old` holds, under the same label,
/// and that is proven to hold the same value: it opens with `keys` to it, its fingerprint verifies
/// with `fingerprint_key`, or the cluster proved it (`by_object`). Then the fingerprint annotation
/// of each new SealedSecret is set (see the module's documentation).
pub fn keep_unchanged(
    new: &mut [SealedSecret],
    secrets: &[Secret],
    old: &[SealedSecret],
    keys: &[PrivateKey],
    by_object: &ByObject,
    fingerprint_key: Option<&FingerprintKey>,
) -> Kept {
    let mut out = Kept::default();
    for (ss, secret) in new.iter_mut().zip(secrets) {
        let label = label_of(ss);
        let previous = old.iter().find(|o| {
            o.metadata.name == ss.metadata.name
                && o.metadata.namespace == ss.metadata.namespace
                && label_of(o) == label
        });
        let empty = Proven::new();
        let by_cluster = previous
            .and_then(|o| by_object.get(&id(o)))
            .unwrap_or(&empty);
        let old_fingerprints = previous
            .map(|o| of_annotations(o.metadata.annotations.as_ref()))
            .unwrap_or_default();
        let mut fingerprints = std::collections::BTreeMap::new();
        for (key, ct) in ss.spec.encrypted_data.iter_mut() {
            let value = plaintext(secret, key);
            let proven = previous
                .and_then(|o| o.spec.encrypted_data.get(key))
                .filter(|old_ct| {
                    let Some(value) = value else {
                        return false;
                    };
                    // The same outcome in any order; the HMAC is the cheapest, RSA the dearest.
                    let by_fingerprint = fingerprint_key
                        .zip(old_fingerprints.get(key))
                        .is_some_and(|(k, fp)| k.verify(&label, old_ct, value, fp));
                    by_fingerprint
                        || by_cluster.get(key).is_some_and(|v| same(v, value))
                        || open_value(keys, &label, old_ct)
                            .is_some_and(|opened| same(&opened, value))
                });
            match proven {
                Some(old_ct) => {
                    *ct = old_ct.clone();
                    out.kept += 1;
                    if let Some(fp) = old_fingerprints.get(key) {
                        fingerprints.insert(key.clone(), fp.clone());
                    }
                }
                None => out.resealed += 1,
            }
            if let Some(fp) = fingerprint_key
                .zip(value)
                .and_then(|(k, v)| k.fingerprint(&label, ct, v))
            {
                fingerprints.insert(key.clone(), fp);
            }
        }
        super::fingerprint::apply(&mut ss.metadata.annotations, &fingerprints);
    }
    out
}

/// With a fingerprint key, every item of the newly sealed `sealed[i]` (from `secrets[i]`) gets the
/// fingerprint of its new ciphertext: [`keep_unchanged`] with nothing old to keep.
pub fn fingerprint_new(
    sealed: &mut [SealedSecret],
    secrets: &[Secret],
    fingerprint_key: Option<&FingerprintKey>,
) {
    if let Some(k) = fingerprint_key {
        keep_unchanged(sealed, secrets, &[], &[], &ByObject::new(), Some(k));
    }
}
