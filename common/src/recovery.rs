//! The break-glass recovery envelope (ours, issue 19): every item of a SealedSecret sealed a
//! second time, to an offline recovery key, under **the same label** as in `encryptedData`, in
//! upstream's exact hybrid format. It lives in one annotation on the SealedSecret's own metadata,
//! [`RECOVERY_ANNOTATION`], whose value is compact JSON:
//!
//! ```text
//! {"v":1,"recipient":"SHA256:<fingerprint of the recovery public key>","items":{"<item>":"<base64 hybrid ciphertext>"}}
//! ```
//!
//! Upstream's controller ignores unknown annotations, and neither controller copies the
//! SealedSecret's own annotations into the Secret (the Secret's metadata comes from
//! `spec.template.metadata` only), so the envelope never reaches a Secret. Because the label is the
//! same, [`promote`] can move the envelope into `encryptedData` without decrypting anything: a
//! controller holding the recovery key then opens the object as if it had been sealed for it.
//!
//! The envelope is *complete* when it holds exactly the items of `encryptedData` ([`coverage`]);
//! a stale envelope (an item added, changed by a tool that does not know it, or deleted) is
//! reported by kubeseal.

use std::collections::BTreeMap;

use base64::Engine as _;
use rand::CryptoRng;
use zeroize::Zeroizing;

use crate::annotations::EXT_PREFIX;
use crate::crd::SealedSecret;
use crate::crypto::{self, EncryptionError};
use crate::keys::{PrivateKey, PublicKey};
use crate::sealing::{label_of, open_value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The annotation on a SealedSecret's metadata that holds the recovery envelope.
pub const RECOVERY_ANNOTATION: &str = "sealed-secrets-rs.dev/recovery";
const _: () = assert!(RECOVERY_ANNOTATION.len() > EXT_PREFIX.len());

/// The envelope format version this code writes and reads.
pub const VERSION: u64 = 1;

/// The recovery envelope could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The annotation is not the JSON this module writes.
    #[error("the {RECOVERY_ANNOTATION} annotation is not a valid recovery envelope: {0}")]
    Invalid(String),
    /// The annotation was written by a newer format.
    #[error("the {RECOVERY_ANNOTATION} annotation has version {0}; this kubeseal reads version 1")]
    Version(u64),
    /// The envelope does not hold every item, so promoting it would lose some.
    #[error("the recovery envelope does not cover the item(s) {}", .0.join(", "))]
    Incomplete(Vec<String>),
    /// Sealing a value for the recovery key failed.
    #[error(transparent)]
    Encrypt(#[from] EncryptionError),
}

/// The parsed envelope: who it is sealed to, and the items (base64 ciphertexts, as in
/// `encryptedData`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// Format version ([`VERSION`]).
    pub v: u64,
    /// Fingerprint of the recovery public key (`SHA256:…`, as `kubeseal keys list` prints).
    pub recipient: String,
    /// Item name → ciphertext sealed to the recipient under the object's label.
    pub items: BTreeMap<String, String>,
}

impl Envelope {
    /// An empty envelope for `recipient`.
    pub fn new(recipient: &PublicKey) -> Self {
        Envelope {
            v: VERSION,
            recipient: recipient.fingerprint().as_str().to_owned(),
            items: BTreeMap::new(),
        }
    }

    /// Seal `value` to `recipient` under `label` as item `key` (replacing it).
    pub fn seal_item<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        recipient: &PublicKey,
        label: &[u8],
        key: &str,
        value: &[u8],
    ) -> Result<(), EncryptionError> {
        let ct = crypto::hybrid_encrypt(rng, recipient, value, label)?;
        self.items.insert(key.to_owned(), B64.encode(ct));
        Ok(())
    }

    /// Is it sealed to `key`?
    pub fn is_for(&self, key: &PublicKey) -> bool {
        self.recipient == key.fingerprint().as_str()
    }

    /// The annotation value (compact JSON).
    pub fn to_annotation(&self) -> String {
        // A struct of strings and maps of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse an annotation value.
    pub fn from_annotation(value: &str) -> Result<Self, RecoveryError> {
        let raw: serde_json::Value =
            serde_json::from_str(value).map_err(|e| RecoveryError::Invalid(e.to_string()))?;
        match raw.get("v").and_then(serde_json::Value::as_u64) {
            Some(VERSION) => {}
            Some(v) => return Err(RecoveryError::Version(v)),
            None => return Err(RecoveryError::Invalid("no version field \"v\"".into())),
        }
        let env: Envelope =
            serde_json::from_value(raw).map_err(|e| RecoveryError::Invalid(e.to_string()))?;
        for (k, ct) in &env.items {
            if B64.decode(ct.as_bytes()).is_err() {
                return Err(RecoveryError::Invalid(format!("item {k:?} is not base64")));
            }
        }
        Ok(env)
    }
}

/// The envelope of `ss`, if it carries one.
pub fn envelope(ss: &SealedSecret) -> Result<Option<Envelope>, RecoveryError> {
    ss.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RECOVERY_ANNOTATION))
        .map(|v| Envelope::from_annotation(v))
        .transpose()
}

/// Put `env` on `ss` (replacing any envelope).
pub fn set_envelope(ss: &mut SealedSecret, env: &Envelope) {
    ss.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(RECOVERY_ANNOTATION.to_owned(), env.to_annotation());
}

/// Seal `values` (item name → plaintext) to `recipient` under `ss`'s label and put the envelope
/// on `ss`.
pub fn seal_envelope<'a, R: CryptoRng + ?Sized>(
    rng: &mut R,
    ss: &mut SealedSecret,
    recipient: &PublicKey,
    values: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), EncryptionError> {
    let label = label_of(ss);
    let mut env = Envelope::new(recipient);
    for (k, v) in values {
        env.seal_item(rng, recipient, &label, k, v)?;
    }
    set_envelope(ss, &env);
    Ok(())
}

/// How far the envelope of an object covers its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// No envelope.
    None,
    /// The envelope holds exactly the items of `encryptedData`.
    Complete {
        /// The envelope's recipient.
        recipient: String,
    },
    /// The item sets differ.
    Stale {
        /// The envelope's recipient.
        recipient: String,
        /// Items of `encryptedData` the envelope lacks.
        missing: Vec<String>,
        /// Envelope items that `encryptedData` no longer has.
        extra: Vec<String>,
    },
}

/// Compare the envelope's item set with `encryptedData`'s.
pub fn coverage(ss: &SealedSecret) -> Result<Coverage, RecoveryError> {
    let Some(env) = envelope(ss)? else {
        return Ok(Coverage::None);
    };
    let items = &ss.spec.encrypted_data;
    let missing: Vec<String> = items
        .keys()
        .filter(|k| !env.items.contains_key(*k))
        .cloned()
        .collect();
    let extra: Vec<String> = env
        .items
        .keys()
        .filter(|k| !items.contains_key(*k))
        .cloned()
        .collect();
    Ok(if missing.is_empty() && extra.is_empty() {
        Coverage::Complete {
            recipient: env.recipient,
        }
    } else {
        Coverage::Stale {
            recipient: env.recipient,
            missing,
            extra,
        }
    })
}

/// A one-line description of a stale envelope for stderr (item names only), `None` otherwise.
pub fn stale_message(ss: &SealedSecret) -> Option<String> {
    let what = format!(
        "{}/{}",
        ss.metadata.namespace.as_deref().unwrap_or_default(),
        ss.metadata.name.as_deref().unwrap_or_default()
    );
    match coverage(ss) {
        Ok(Coverage::Stale { missing, extra, .. }) => {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("not covered: {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                parts.push(format!("no longer in encryptedData: {}", extra.join(", ")));
            }
            Some(format!(
                "the recovery envelope of SealedSecret {what} is stale ({}); seal it again with --recovery-cert",
                parts.join("; ")
            ))
        }
        Ok(_) => None,
        Err(e) => Some(format!("SealedSecret {what}: {e}")),
    }
}

/// `ss` with `encryptedData` replaced by the envelope's ciphertexts (nothing is decrypted; the
/// envelope annotation is kept). `None` when `ss` has no envelope; an error when the envelope does
/// not cover every item (promoting it would lose items).
pub fn promote(ss: &SealedSecret) -> Result<Option<SealedSecret>, RecoveryError> {
    let Some(env) = envelope(ss)? else {
        return Ok(None);
    };
    let missing: Vec<String> = ss
        .spec
        .encrypted_data
        .keys()
        .filter(|k| !env.items.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(RecoveryError::Incomplete(missing));
    }
    let mut out = ss.clone();
    out.spec.encrypted_data = env.items;
    Ok(Some(out))
}

/// Every item of `ss` opened with `keys`, from `encryptedData` or, for the items it does not
/// open, from the envelope. `None` for an item nothing opens.
pub fn open_items(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
) -> BTreeMap<String, Option<Zeroizing<Vec<u8>>>> {
    let label = label_of(ss);
    let env = envelope(ss).ok().flatten();
    ss.spec
        .encrypted_data
        .iter()
        .map(|(k, ct)| {
            let opened = open_value(keys.iter().copied(), &label, ct).or_else(|| {
                env.as_ref()
                    .and_then(|e| e.items.get(k))
                    .and_then(|rct| open_value(keys.iter().copied(), &label, rct))
            });
            (k.clone(), opened)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealing::{UnsealOptions, UnsealStats, seal_secret, unseal};
    use crate::test_support::*;
    use k8s_openapi::api::core::v1::Secret;

    fn secret(scope: &str) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some("db".into());
        s.metadata.namespace = Some("apps".into());
        if !scope.is_empty() {
            s.metadata.annotations = Some(
                [(scope.to_owned(), "true".to_owned())]
                    .into_iter()
                    .collect(),
            );
        }
        s.string_data = Some(
            [("user", "admin"), ("password", "hunter2")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        s
    }

    fn values(s: &Secret) -> Vec<(&str, &[u8])> {
        s.string_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect()
    }

    #[test]
    fn promoted_envelope_opens_with_the_recovery_key_only_in_every_scope() {
        let cluster = fixture_key();
        let recovery = generated_key();
        let mut rng = seeded_rng(1);
        for scope in [
            "",
            crate::annotations::NAMESPACE_WIDE_ANNOTATION,
            crate::annotations::CLUSTER_WIDE_ANNOTATION,
        ] {
            let s = secret(scope);
            let mut ss = seal_secret(&mut rng, cluster.public_key(), &s).unwrap();
            seal_envelope(&mut rng, &mut ss, recovery.public_key(), values(&s)).unwrap();
            assert!(matches!(coverage(&ss).unwrap(), Coverage::Complete { .. }));
            let opts = UnsealOptions::default();
            // The object as sealed opens with the cluster key, not with the recovery key.
            assert!(unseal(&ss, &[&cluster], &opts, &mut UnsealStats::default()).is_ok());
            assert!(unseal(&ss, &[recovery], &opts, &mut UnsealStats::default()).is_err());
            let promoted = promote(&ss).unwrap().unwrap();
            let opened = unseal(&promoted, &[recovery], &opts, &mut UnsealStats::default())
                .expect("the promoted object opens with the recovery key");
            let data = opened.secret().data.as_ref().unwrap();
            assert_eq!(data["password"].0, b"hunter2", "{scope}");
            assert_eq!(data["user"].0, b"admin");
            assert!(unseal(&promoted, &[&cluster], &opts, &mut UnsealStats::default()).is_err());
            // The recovery annotation is never part of the Secret.
            assert!(
                opened
                    .secret()
                    .metadata
                    .annotations
                    .iter()
                    .flatten()
                    .all(|(k, _)| k != RECOVERY_ANNOTATION)
            );
            let items = open_items(&ss, &[recovery]);
            assert_eq!(
                items["password"].as_deref().map(|v| &v[..]),
                Some(&b"hunter2"[..])
            );
        }
    }

    #[test]
    fn envelope_items_carry_the_objects_label() {
        // Renaming the object (or changing its scope) breaks the envelope as it breaks encryptedData.
        let recovery = generated_key();
        let mut rng = seeded_rng(2);
        let s = secret("");
        let mut ss = seal_secret(&mut rng, fixture_key().public_key(), &s).unwrap();
        seal_envelope(&mut rng, &mut ss, recovery.public_key(), values(&s)).unwrap();
        let mut renamed = promote(&ss).unwrap().unwrap();
        renamed.metadata.name = Some("other".into());
        let opts = UnsealOptions::default();
        assert!(unseal(&renamed, &[recovery], &opts, &mut UnsealStats::default()).is_err());
    }

    #[test]
    fn stale_envelopes_are_reported_and_not_promoted() {
        let recovery = generated_key();
        let mut rng = seeded_rng(3);
        let s = secret("");
        let mut ss = seal_secret(&mut rng, fixture_key().public_key(), &s).unwrap();
        seal_envelope(&mut rng, &mut ss, recovery.public_key(), values(&s)).unwrap();
        ss.spec
            .encrypted_data
            .insert("token".into(), ss.spec.encrypted_data["user"].clone());
        ss.spec.encrypted_data.remove("user");
        let Coverage::Stale { missing, extra, .. } = coverage(&ss).unwrap() else {
            panic!("stale expected");
        };
        assert_eq!(
            (missing, extra),
            (vec!["token".into()], vec!["user".into()])
        );
        let msg = stale_message(&ss).unwrap();
        assert!(
            msg.contains("not covered: token") && msg.contains("user"),
            "{msg}"
        );
        assert!(matches!(promote(&ss), Err(RecoveryError::Incomplete(m)) if m == ["token"]));
    }

    #[test]
    fn annotation_format_is_versioned_json() {
        let recovery = generated_key();
        let mut env = Envelope::new(recovery.public_key());
        env.seal_item(&mut seeded_rng(4), recovery.public_key(), b"", "k", b"v")
            .unwrap();
        let text = env.to_annotation();
        assert!(
            text.starts_with("{\"v\":1,\"recipient\":\"SHA256:"),
            "{text}"
        );
        assert_eq!(Envelope::from_annotation(&text).unwrap(), env);
        assert!(matches!(
            Envelope::from_annotation("{\"v\":2,\"recipient\":\"x\",\"items\":{}}"),
            Err(RecoveryError::Version(2))
        ));
        assert!(Envelope::from_annotation("nope").is_err());
        assert!(
            Envelope::from_annotation("{\"v\":1,\"recipient\":\"x\",\"items\":{\"a\":\"!!\"}}")
                .is_err()
        );
    }
}
