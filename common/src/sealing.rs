//! Secret → SealedSecret (what kubeseal does) and SealedSecret → Secret (what the controller does),
//! as pure functions. Upstream: `NewSealedSecret` and `SealedSecret.Unseal`.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use rand::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{self, DecryptionError, EncryptionError};
use crate::keys::{Fingerprint, PrivateKey, PublicKey};
use crate::scope::{
    SKIP_SET_OWNER_REFERENCES_ANNOTATION, SealingScope, annotation_is_true, encryption_label,
};
use crate::template;
use crate::types::{API_VERSION, KIND, SealedSecret, SealedSecretSpec, SecretTemplateSpec};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Annotations that would leak the plaintext Secret into the SealedSecret (upstream v0.8.3).
pub const LAST_APPLIED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// Sealing failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A namespaced scope needs a namespace.
    #[error("secret must declare a namespace")]
    MissingNamespace,
    /// Encryption failed.
    #[error(transparent)]
    Encrypt(#[from] EncryptionError),
}

/// Seal `secret` for `key`, as upstream's `NewSealedSecret`: the scope comes from the Secret's own
/// annotations; its whole metadata (less the last-applied annotations and ownerReferences) becomes
/// the template; `data` is sealed, then `stringData`, which wins on a shared key.
pub fn seal_secret<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PublicKey,
    secret: &Secret,
) -> Result<SealedSecret, SealError> {
    let meta = &secret.metadata;
    let scope = SealingScope::from_annotations(meta.annotations.as_ref());
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    if scope != SealingScope::ClusterWide && namespace.is_empty() {
        return Err(SealError::MissingNamespace);
    }

    let mut annotations = BTreeMap::new();
    scope.apply_to(&mut annotations);
    let outer = ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    };

    let mut template_meta = meta.clone();
    if let Some(a) = template_meta.annotations.as_mut() {
        for k in LAST_APPLIED_ANNOTATIONS {
            a.remove(k);
        }
    }
    template_meta.owner_references = None;

    let label = encryption_label(&namespace, &name, scope);
    let mut encrypted = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        let ct = crypto::hybrid_encrypt(rng, key, &v.0, &label)?;
        encrypted.insert(k.clone(), B64.encode(ct));
    }
    for (k, v) in secret.string_data.iter().flatten() {
        let ct = crypto::hybrid_encrypt(rng, key, v.as_bytes(), &label)?;
        encrypted.insert(k.clone(), B64.encode(ct));
    }

    Ok(SealedSecret {
        metadata: outer,
        spec: SealedSecretSpec {
            template: SecretTemplateSpec {
                metadata: template_meta,
                type_: secret.type_.clone(),
                immutable: secret.immutable,
                data: None,
            },
            data: None,
            encrypted_data: encrypted,
        },
        status: None,
    })
}

/// Seal one value (kubeseal `--raw`).
pub fn seal_raw<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PublicKey,
    namespace: &str,
    name: &str,
    scope: SealingScope,
    value: &[u8],
) -> Result<String, EncryptionError> {
    let label = encryption_label(namespace, name, scope);
    crypto::hybrid_encrypt(rng, key, value, &label).map(|ct| B64.encode(ct))
}

/// How to unseal.
#[derive(Debug, Clone)]
pub struct UnsealOptions {
    /// Accept the deprecated v1 `spec.data` blob (`--accept-deprecated-v1-data`, default true).
    pub accept_deprecated_v1_data: bool,
    /// Render `spec.template.data`. `/v1/verify` and `/v1/rotate` set this false, so a crafted
    /// template cannot turn them into a decryption oracle.
    pub render_templates: bool,
    /// Bounds on template work and output.
    pub template_limits: template::Limits,
}

impl Default for UnsealOptions {
    fn default() -> Self {
        Self {
            accept_deprecated_v1_data: true,
            render_templates: true,
            template_limits: template::Limits::default(),
        }
    }
}

/// Why one item failed. The messages are upstream's; none carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemError {
    /// `encryptedData[key]` is not valid base64.
    Base64(String),
    /// No key could decrypt the value (wrong key, name, namespace or scope, or tampering).
    Decryption,
    /// A template failed to parse or execute.
    Template(String),
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemError::Base64(m) | ItemError::Template(m) => f.write_str(m),
            ItemError::Decryption => DecryptionError.fmt(f),
        }
    }
}

/// Unsealing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// Some items failed. Displayed like upstream's deduplicated multierror:
    /// `no key could decrypt secret (foo, bar)`, distinct messages on separate lines.
    #[error("{}", display_items(.0))]
    Items(Vec<(ItemError, Vec<String>)>),
    /// The v1 `spec.data` blob is present and not accepted.
    #[error("using deprecated 'data' field, use 'encryptedData' or flip the feature flag")]
    DeprecatedDataRejected,
    /// Both `spec.data` and `spec.encryptedData` are set.
    #[error(
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    )]
    BothDataFields,
    /// The v1 blob decrypted but is not a Secret.
    #[error("cannot decode the deprecated 'data' field as a Secret")]
    DeprecatedDataInvalid,
    /// The v1 blob could not be decrypted.
    #[error("no key could decrypt secret")]
    DeprecatedDataDecryption,
}

impl UnsealError {
    /// True when the failure is a decryption failure (wrong key, scope or tampering), as opposed
    /// to malformed input or a template error.
    pub fn is_decryption(&self) -> bool {
        match self {
            UnsealError::Items(items) => items.iter().any(|(e, _)| *e == ItemError::Decryption),
            UnsealError::DeprecatedDataDecryption => true,
            _ => false,
        }
    }

    /// A fixed label for metrics.
    pub fn kind(&self) -> &'static str {
        if self.is_decryption() {
            "decryption"
        } else {
            "invalid"
        }
    }
}

fn display_items(items: &[(ItemError, Vec<String>)]) -> String {
    items
        .iter()
        .map(|(e, keys)| format!("{e} ({})", keys.join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Secret holding plaintext. Its values are zeroized when it is dropped; it has no `Debug`.
pub struct UnsealedSecret {
    secret: Secret,
    opened_by: Vec<Fingerprint>,
}

impl UnsealedSecret {
    /// The Secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Fingerprints of the keys that opened the values, most used first (empty when there were no
    /// encrypted values).
    pub fn opened_by(&self) -> &[Fingerprint] {
        &self.opened_by
    }

    /// Give up zeroization and take the Secret (for a caller that serializes it and manages its
    /// own copy).
    pub fn into_secret(mut self) -> Secret {
        std::mem::take(&mut self.secret)
    }
}

impl fmt::Debug for UnsealedSecret {
    /// Names only; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealedSecret")
            .field("namespace", &self.secret.metadata.namespace)
            .field("name", &self.secret.metadata.name)
            .field(
                "keys",
                &self
                    .secret
                    .data
                    .iter()
                    .flat_map(|d| d.keys())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Drop for UnsealedSecret {
    fn drop(&mut self) {
        for v in self.secret.data.iter_mut().flat_map(|d| d.values_mut()) {
            v.0.zeroize();
        }
    }
}

/// Record per-item errors grouped by message, keys in input order, as `multierror.Uniq`.
#[derive(Default)]
struct Errors(Vec<(ItemError, Vec<String>)>);

impl Errors {
    fn push(&mut self, err: ItemError, key: &str) {
        match self.0.iter_mut().find(|(e, _)| *e == err) {
            Some((_, keys)) => keys.push(key.to_owned()),
            None => self.0.push((err, vec![key.to_owned()])),
        }
    }
}

/// What an unseal cost, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnsealStats {
    /// Private-key attempts (RSA operations), wrong keys included.
    pub rsa_operations: u64,
}

/// Decrypt every `encryptedData` value with `keys` (in the order given; put the likeliest first).
/// A key that opens one value is tried first for the rest: the values of one object are almost
/// always sealed with the same key. After a value that no key opens, the remaining values are
/// tried only with the keys that opened one of this object's values, or the likeliest key (and
/// reported as undecryptable otherwise): the object fails either way, and thousands of
/// well-formed values sealed for somewhere else must not cost thousands of RSA operations per key.
/// Returns the plaintexts and which key opened each.
fn decrypt_items(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    errors: &mut Errors,
    stats: &mut UnsealStats,
) -> BTreeMap<String, (Zeroizing<Vec<u8>>, Fingerprint)> {
    let namespace = ss.metadata.namespace.as_deref().unwrap_or_default();
    let name = ss.metadata.name.as_deref().unwrap_or_default();
    let scope = SealingScope::from_annotations(ss.metadata.annotations.as_ref());
    let label = encryption_label(namespace, name, scope);
    // Keys to try, likeliest first; the first `opened_with` of them opened a value already.
    let mut order: Vec<&PrivateKey> = keys.to_vec();
    let mut opened_with = 0;
    let mut given_up = false;
    let mut out = BTreeMap::new();
    for (k, v) in &ss.spec.encrypted_data {
        let ct = match B64.decode(v) {
            Ok(ct) => ct,
            Err(e) => {
                errors.push(ItemError::Base64(base64_message(&e)), k);
                continue;
            }
        };
        // Once a value failed with every key the object cannot be unsealed: the rest are only
        // tried with the keys that opened a value of this object (or the likeliest key), so an
        // object costs at most one private operation per key plus one per value: no more than a
        // valid object of the same size.
        let candidates = if given_up {
            opened_with.max(1)
        } else {
            order.len()
        };
        let mut attempts = 0;
        let opened = crypto::hybrid_decrypt_counting(
            order.iter().take(candidates).copied(),
            &ct,
            &label,
            &mut attempts,
        );
        stats.rsa_operations += attempts;
        match opened {
            Ok((pt, key)) => {
                let fingerprint = key.fingerprint().clone();
                if let Some(at) = order.iter().position(|o| o.fingerprint() == &fingerprint) {
                    if at >= opened_with {
                        opened_with += 1;
                    }
                    let hit = order.remove(at);
                    order.insert(0, hit);
                }
                out.insert(k.clone(), (pt, fingerprint));
            }
            Err(DecryptionError) => {
                if attempts > 0 && candidates == order.len() {
                    given_up = true;
                }
                errors.push(ItemError::Decryption, k);
            }
        }
    }
    out
}

/// Go's wording for base64 errors (`illegal base64 data at input byte N`).
fn base64_message(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        _ => "illegal base64 data at input byte 0".to_owned(),
    }
}

/// Check that every `encryptedData` value decrypts with some key, without rendering templates:
/// what `/v1/verify` answers. Returns the fingerprints that opened the values.
pub fn validate_encrypted_data(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
) -> Result<Vec<Fingerprint>, UnsealError> {
    validate_encrypted_data_with_stats(ss, keys, &mut UnsealStats::default())
}

/// [`validate_encrypted_data`], adding its cost to `stats`.
pub fn validate_encrypted_data_with_stats(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    stats: &mut UnsealStats,
) -> Result<Vec<Fingerprint>, UnsealError> {
    let mut errors = Errors::default();
    let items = decrypt_items(ss, keys, &mut errors, stats);
    if !errors.0.is_empty() {
        return Err(UnsealError::Items(errors.0));
    }
    Ok(fingerprints_by_use(items.values().map(|(_, f)| f)))
}

fn fingerprints_by_use<'a>(it: impl Iterator<Item = &'a Fingerprint>) -> Vec<Fingerprint> {
    let mut counts: BTreeMap<&Fingerprint, usize> = BTreeMap::new();
    for f in it {
        *counts.entry(f).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter().map(|(f, _)| f.clone()).collect()
}

/// SealedSecret → Secret, as upstream's `Unseal`: scope and label from the SealedSecret's own
/// metadata (never the template); template metadata, `type` and `immutable` copied; name and
/// namespace forced; one controller ownerReference unless the template says
/// `skip-set-owner-references: "true"`.
pub fn unseal(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    opts: &UnsealOptions,
) -> Result<UnsealedSecret, UnsealError> {
    unseal_with_stats(ss, keys, opts, &mut UnsealStats::default())
}

/// [`unseal`], adding its cost to `stats` (whether it succeeds or not).
pub fn unseal_with_stats(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    opts: &UnsealOptions,
    stats: &mut UnsealStats,
) -> Result<UnsealedSecret, UnsealError> {
    let mut opened_by = Vec::new();
    let mut secret = match &ss.spec.data {
        None => {
            let t = &ss.spec.template;
            let mut secret = Secret {
                metadata: t.metadata.clone(),
                type_: t.type_.clone(),
                immutable: t.immutable,
                ..Secret::default()
            };
            let mut errors = Errors::default();
            let items = decrypt_items(ss, keys, &mut errors, stats);
            opened_by = fingerprints_by_use(items.values().map(|(_, f)| f));
            let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
            // Failed items are still present (empty), as upstream sets them to nil.
            for (k, _) in errors
                .0
                .iter()
                .flat_map(|(_, ks)| ks.iter().map(|k| (k, ())))
            {
                data.insert(k.clone(), ByteString(Vec::new()));
            }
            if opts.render_templates
                && let Some(templates) = &t.data
            {
                let values: BTreeMap<String, Zeroizing<Vec<u8>>> = items
                    .iter()
                    .map(|(k, (v, _))| (k.clone(), Zeroizing::new(v.to_vec())))
                    .collect();
                for (k, src) in templates {
                    match template::render(k, src, &values, &opts.template_limits) {
                        Ok(mut out) => {
                            data.insert(k.clone(), ByteString(std::mem::take(&mut *out)));
                        }
                        Err(e) => errors.push(ItemError::Template(e.to_string()), k),
                    }
                }
            }
            for (k, (mut v, _)) in items {
                data.entry(k)
                    .or_insert_with(|| ByteString(std::mem::take(&mut *v)));
            }
            secret.data = Some(data);
            if !errors.0.is_empty() {
                drop(UnsealedSecret {
                    secret,
                    opened_by: Vec::new(),
                });
                return Err(UnsealError::Items(errors.0));
            }
            secret
        }
        Some(blob) => {
            if !opts.accept_deprecated_v1_data {
                return Err(UnsealError::DeprecatedDataRejected);
            }
            if !ss.spec.encrypted_data.is_empty() {
                return Err(UnsealError::BothDataFields);
            }
            let namespace = ss.metadata.namespace.as_deref().unwrap_or_default();
            let name = ss.metadata.name.as_deref().unwrap_or_default();
            let scope = SealingScope::from_annotations(ss.metadata.annotations.as_ref());
            let label = encryption_label(namespace, name, scope);
            let (plain, key) = crypto::hybrid_decrypt_counting(
                keys.iter().copied(),
                &blob.0,
                &label,
                &mut stats.rsa_operations,
            )
            .map_err(|_| UnsealError::DeprecatedDataDecryption)?;
            opened_by.push(key.fingerprint().clone());
            serde_json::from_slice::<Secret>(&plain)
                .map_err(|_| UnsealError::DeprecatedDataInvalid)?
        }
    };

    secret.metadata.namespace = ss.metadata.namespace.clone();
    secret.metadata.name = ss.metadata.name.clone();
    if !annotation_is_true(
        secret.metadata.annotations.as_ref(),
        SKIP_SET_OWNER_REFERENCES_ANNOTATION,
    ) {
        secret.metadata.owner_references = Some(vec![owner_reference(ss)]);
    }
    Ok(UnsealedSecret { secret, opened_by })
}

/// The controller ownerReference a Secret gets from its SealedSecret.
pub fn owner_reference(ss: &SealedSecret) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        name: ss.metadata.name.clone().unwrap_or_default(),
        uid: ss.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}
