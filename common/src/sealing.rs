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

use crate::annotations::{
    LAST_APPLIED_ANNOTATIONS, SKIP_SET_OWNER_REFERENCES_ANNOTATION, annotation_is_true,
};
use crate::crd::{API_VERSION, KIND, SealedSecret, SealedSecretSpec, SecretTemplateSpec};
use crate::crypto::{self, DecryptionError, EncryptionError};
use crate::keys::{Fingerprint, PrivateKey, PublicKey};
use crate::scope::{SealingScope, encryption_label};
use crate::template;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
                metadata: template_meta.into(),
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

/// The OAEP label of `ss`'s values: from its own metadata (name, namespace, scope annotations),
/// never its template.
pub fn label_of(ss: &SealedSecret) -> Vec<u8> {
    encryption_label(
        ss.metadata.namespace.as_deref().unwrap_or_default(),
        ss.metadata.name.as_deref().unwrap_or_default(),
        SealingScope::from_annotations(ss.metadata.annotations.as_ref()),
    )
}

/// One sealed value (base64, as in `encryptedData`) opened with any of `keys` under `label`;
/// `None` when it is not base64 or no key opens it (kubeseal's offline proofs).
pub fn open_value<'k>(
    keys: impl IntoIterator<Item = &'k PrivateKey>,
    label: &[u8],
    ciphertext: &str,
) -> Option<Zeroizing<Vec<u8>>> {
    let raw = B64.decode(ciphertext.as_bytes()).ok()?;
    crypto::hybrid_decrypt(keys, &raw, label, &mut 0)
        .ok()
        .map(|(plain, _)| plain)
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
/// Returns the plaintexts and which key opened each. [`Search::Exhaustive`] tries every key on
/// every value instead.
fn decrypt_items(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    errors: &mut Errors,
    stats: &mut UnsealStats,
    search: Search,
) -> BTreeMap<String, (Zeroizing<Vec<u8>>, Fingerprint)> {
    let label = label_of(ss);
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
        let candidates = if given_up && search == Search::Bounded {
            opened_with.max(1)
        } else {
            order.len()
        };
        let mut attempts = 0;
        let opened = crypto::hybrid_decrypt(
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
/// what `/v1/verify` answers. Returns the fingerprints that opened the values and adds the cost to
/// `stats` (pass `&mut UnsealStats::default()` when it does not matter).
pub fn verify(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    stats: &mut UnsealStats,
) -> Result<Vec<Fingerprint>, UnsealError> {
    let mut errors = Errors::default();
    let items = decrypt_items(ss, keys, &mut errors, stats, Search::Bounded);
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
/// `skip-set-owner-references: "true"`. Adds the cost to `stats` whether it succeeds or not (pass
/// `&mut UnsealStats::default()` when it does not matter).
pub fn unseal(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    opts: &UnsealOptions,
    stats: &mut UnsealStats,
) -> Result<UnsealedSecret, UnsealError> {
    unseal_searching(ss, keys, opts, stats, Search::Bounded)
}

/// How many keys a value is tried with once another value of the object opened with none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    /// Only the keys that opened a value of the object (the controller's cost bound).
    Bounded,
    /// Every key, so that every value that no key opens is named (kubeseal's offline re-encrypt).
    Exhaustive,
}

fn unseal_searching(
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    opts: &UnsealOptions,
    stats: &mut UnsealStats,
    search: Search,
) -> Result<UnsealedSecret, UnsealError> {
    let mut opened_by = Vec::new();
    let mut secret = match &ss.spec.data {
        None => {
            let t = &ss.spec.template;
            let mut secret = Secret {
                metadata: t.metadata.clone().into_inner(),
                type_: t.type_.clone(),
                immutable: t.immutable,
                ..Secret::default()
            };
            let mut errors = Errors::default();
            let items = decrypt_items(ss, keys, &mut errors, stats, search);
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
            let label = label_of(ss);
            let (plain, key) = crypto::hybrid_decrypt(
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

/// How to re-seal; the fields are where `/v1/rotate` and kubeseal's offline `--re-encrypt` differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResealOptions {
    /// Accept the deprecated v1 `spec.data` blob (the controller's `--accept-deprecated-v1-data`);
    /// otherwise such an object is refused with [`ResealError::DeprecatedData`].
    pub accept_deprecated_v1_data: bool,
    /// Rebuild the object as `/v1/rotate` does: keep only name, namespace, labels and annotations
    /// of its metadata, set the object's and the template's scope annotations to the scope of the
    /// object's own metadata, which the values are sealed for (CVE-2026-22728: never the
    /// template's), and drop the last-applied annotations (they would carry the old ciphertexts).
    /// A v1 object's template comes from the Secret inside its blob. When false, only the
    /// `encryptedData` values change.
    pub normalise: bool,
    /// Return the object unchanged ([`Resealed::changed`] false) when every value already opens
    /// with the target's key, so that kubeseal leaves such a file untouched. When false, the values
    /// are always sealed again.
    pub keep_current: bool,
    /// Try every key on every value, and report every value that does not open (bad base64
    /// included) in one `no key could decrypt secret (…)`: kubeseal's wording. When false, the
    /// bounded search of [`unseal`] applies, as in the controller.
    pub exhaustive: bool,
}

/// A re-sealed SealedSecret.
#[derive(Debug, Clone)]
pub struct Resealed {
    /// The object, sealed for the target key (or as it was, when `changed` is false).
    pub sealed: SealedSecret,
    /// Whether any value was sealed again.
    pub changed: bool,
}

/// Re-sealing failed.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// The object has the deprecated v1 `spec.data` and the options do not accept it.
    #[error("cannot re-encrypt the deprecated 'data' field; use 'encryptedData'")]
    DeprecatedData,
    /// A value could not be opened, or the object is malformed.
    #[error(transparent)]
    Unseal(#[from] UnsealError),
    /// Sealing a value for the target key failed.
    #[error(transparent)]
    Encrypt(#[from] EncryptionError),
}

/// Open every value of `ss` with `keys` and seal it again for `target`, for the scope of the
/// object's own metadata (so the name, namespace and scope it was sealed for are kept).
/// Templates are never rendered: `spec.template.data` stays a template. What else changes is
/// chosen by `opts`; see [`ResealOptions`].
pub fn reseal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    ss: &SealedSecret,
    keys: &[&PrivateKey],
    target: &PublicKey,
    opts: &ResealOptions,
) -> Result<Resealed, ResealError> {
    if ss.spec.data.is_some() && !opts.accept_deprecated_v1_data {
        return Err(ResealError::DeprecatedData);
    }
    let unseal_opts = UnsealOptions {
        accept_deprecated_v1_data: opts.accept_deprecated_v1_data,
        render_templates: false,
        ..UnsealOptions::default()
    };
    let search = if opts.exhaustive {
        Search::Exhaustive
    } else {
        Search::Bounded
    };
    let unsealed = unseal_searching(ss, keys, &unseal_opts, &mut UnsealStats::default(), search)
        .map_err(|e| match e {
            UnsealError::Items(items) if opts.exhaustive => {
                let mut failed: Vec<String> = items.into_iter().flat_map(|(_, ks)| ks).collect();
                // `encryptedData` is sorted: the values in the order they were tried.
                failed.sort();
                UnsealError::Items(vec![(ItemError::Decryption, failed)])
            }
            e => e,
        })?;
    if opts.keep_current
        && unsealed
            .opened_by()
            .iter()
            .all(|f| f == target.fingerprint())
    {
        return Ok(Resealed {
            sealed: ss.clone(),
            changed: false,
        });
    }

    let scope = SealingScope::from_annotations(ss.metadata.annotations.as_ref());
    let label = label_of(ss);
    let secret = unsealed.secret();
    // `stringData` is only ever set inside a v1 blob; like `seal_secret`, it wins on a shared key.
    let values = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k, v.0.as_slice()))
        .chain(
            secret
                .string_data
                .iter()
                .flatten()
                .map(|(k, v)| (k, v.as_bytes())),
        );
    let mut encrypted = BTreeMap::new();
    for (k, v) in values {
        let ct = crypto::hybrid_encrypt(rng, target, v, &label)?;
        encrypted.insert(k.clone(), B64.encode(ct));
    }

    if !opts.normalise {
        let mut sealed = ss.clone();
        sealed.spec.encrypted_data = encrypted;
        // Every value is sealed again: fingerprints of the old ciphertexts prove nothing.
        if let Some(a) = sealed.metadata.annotations.as_mut() {
            a.remove(crate::fingerprint::ANNOTATION);
            if a.is_empty() {
                sealed.metadata.annotations = None;
            }
        }
        return Ok(Resealed {
            sealed,
            changed: true,
        });
    }
    let mut template = if ss.spec.data.is_some() {
        // A v1 object: its Secret's metadata and type were inside the blob.
        let mut metadata = secret.metadata.clone();
        metadata.owner_references = None;
        SecretTemplateSpec {
            metadata: metadata.into(),
            type_: secret.type_.clone(),
            immutable: secret.immutable,
            data: None,
        }
    } else {
        ss.spec.template.clone()
    };
    template.metadata.annotations = with_scope(template.metadata.annotations.take(), scope);
    Ok(Resealed {
        sealed: SealedSecret {
            metadata: ObjectMeta {
                name: ss.metadata.name.clone(),
                namespace: ss.metadata.namespace.clone(),
                labels: ss.metadata.labels.clone(),
                // Every value is sealed again: fingerprints of the old ciphertexts prove nothing.
                annotations: with_scope(
                    ss.metadata.annotations.clone().map(|mut a| {
                        a.remove(crate::fingerprint::ANNOTATION);
                        a
                    }),
                    scope,
                ),
                ..ObjectMeta::default()
            },
            spec: SealedSecretSpec {
                template,
                data: None,
                encrypted_data: encrypted,
            },
            status: None,
        },
        changed: true,
    })
}

/// `annotations` with exactly `scope`'s annotation and no last-applied configuration.
fn with_scope(
    annotations: Option<BTreeMap<String, String>>,
    scope: SealingScope,
) -> Option<BTreeMap<String, String>> {
    let mut a = annotations.unwrap_or_default();
    scope.apply_to(&mut a);
    for k in LAST_APPLIED_ANNOTATIONS {
        a.remove(k);
    }
    (!a.is_empty()).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::NAMESPACE_WIDE_ANNOTATION;
    use crate::test_support::*;

    const OFFLINE: ResealOptions = ResealOptions {
        accept_deprecated_v1_data: false,
        normalise: false,
        keep_current: true,
        exhaustive: true,
    };
    const ROTATE: ResealOptions = ResealOptions {
        accept_deprecated_v1_data: true,
        normalise: true,
        keep_current: false,
        exhaustive: false,
    };

    fn sealed_for(key: &PublicKey) -> SealedSecret {
        let mut s = Secret::default();
        s.metadata.name = Some("n".into());
        s.metadata.namespace = Some("ns".into());
        s.metadata.annotations = Some(BTreeMap::from([
            (NAMESPACE_WIDE_ANNOTATION.into(), "true".into()),
            (LAST_APPLIED_ANNOTATIONS[0].into(), "{}".into()),
        ]));
        s.string_data = Some(BTreeMap::from([
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
        ]));
        seal_secret(&mut seeded_rng(3), key, &s).unwrap()
    }

    fn plaintext(ss: &SealedSecret, key: &PrivateKey, item: &str) -> Vec<u8> {
        let opts = UnsealOptions::default();
        let u = unseal(ss, &[key], &opts, &mut UnsealStats::default()).unwrap();
        u.secret().data.as_ref().unwrap()[item].0.clone()
    }

    #[test]
    fn offline_reseal_changes_only_the_values_and_keeps_a_current_object() {
        let (old, new) = (fixture_key(), generated_key());
        let ss = sealed_for(old.public_key());
        let mut rng = seeded_rng(5);
        let r = reseal(&mut rng, &ss, &[&old], new.public_key(), &OFFLINE).unwrap();
        assert!(r.changed);
        assert_eq!(r.sealed.metadata, ss.metadata);
        assert_eq!(r.sealed.spec.template, ss.spec.template);
        assert_eq!(plaintext(&r.sealed, new, "b"), b"2");
        let keys = [&old, new];
        let again = reseal(&mut rng, &r.sealed, &keys, new.public_key(), &OFFLINE).unwrap();
        assert!(!again.changed);
        assert_eq!(
            serde_json::to_value(&again.sealed).unwrap(),
            serde_json::to_value(&r.sealed).unwrap()
        );
        // /v1/rotate always re-seals, and normalises the annotations.
        let rotated = reseal(&mut rng, &r.sealed, &keys, new.public_key(), &ROTATE).unwrap();
        assert!(rotated.changed);
        assert_ne!(
            rotated.sealed.spec.encrypted_data,
            r.sealed.spec.encrypted_data
        );
        let annotations = rotated
            .sealed
            .spec
            .template
            .metadata
            .into_inner()
            .annotations
            .unwrap();
        assert_eq!(annotations[NAMESPACE_WIDE_ANNOTATION], "true");
        assert!(!annotations.contains_key(LAST_APPLIED_ANNOTATIONS[0]));
    }

    #[test]
    fn resealing_drops_the_fingerprints_of_the_old_ciphertexts() {
        let (old, new) = (fixture_key(), generated_key());
        let mut ss = sealed_for(old.public_key());
        ss.metadata.annotations.get_or_insert_default().insert(
            crate::fingerprint::ANNOTATION.into(),
            r#"{"a":"v1:x"}"#.into(),
        );
        let mut rng = seeded_rng(6);
        for opts in [&OFFLINE, &ROTATE] {
            let r = reseal(&mut rng, &ss, &[&old], new.public_key(), opts).unwrap();
            let a = r.sealed.metadata.annotations.unwrap_or_default();
            assert!(!a.contains_key(crate::fingerprint::ANNOTATION), "{opts:?}");
            assert_eq!(a[NAMESPACE_WIDE_ANNOTATION], "true");
        }
    }

    #[test]
    fn offline_reseal_names_every_value_no_key_opens() {
        let (old, new) = (fixture_key(), generated_key());
        let mut ss = sealed_for(old.public_key());
        let foreign = sealed_for(new.public_key());
        ss.spec.encrypted_data.insert("0bad".into(), "%%%".into());
        ss.spec
            .encrypted_data
            .insert("c".into(), foreign.spec.encrypted_data["a"].clone());
        let mut rng = seeded_rng(5);
        let err = reseal(&mut rng, &ss, &[&old], new.public_key(), &OFFLINE).unwrap_err();
        assert_eq!(err.to_string(), "no key could decrypt secret (0bad, c)");
        let err = reseal(&mut rng, &ss, &[&old], new.public_key(), &ROTATE).unwrap_err();
        assert!(
            matches!(err, ResealError::Unseal(UnsealError::Items(_))),
            "{err}"
        );
        // The v1 blob is refused offline.
        let mut v1 = sealed_for(old.public_key());
        v1.spec.data = Some(ByteString(vec![1, 2, 3]));
        let err = reseal(&mut rng, &v1, &[&old], new.public_key(), &OFFLINE).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot re-encrypt the deprecated 'data' field; use 'encryptedData'"
        );
    }
}
