//! The keyed fingerprint annotation (ours, [`common::fingerprint`]): `kubeseal fingerprint-key
//! new`, reading the key (`--fingerprint-key-file`, else `SEALED_SECRETS_FINGERPRINT_KEY`), and
//! keeping the annotation in step when items change.

use std::collections::BTreeMap;
use std::path::Path;

use common::edit::ItemEdit;
use common::fingerprint::{ANNOTATION, FingerprintKey, annotation_value, of_annotations};

use crate::config::Config;
use crate::io::{read_file, write_new_private, write_stdout};
use crate::rng::AppRng;

/// The environment variable that may hold the key itself (a CI secret).
pub const KEY_ENV: &str = "SEALED_SECRETS_FINGERPRINT_KEY";

/// `kubeseal fingerprint-key new -o FILE`.
pub fn new_key(output: &Path) -> anyhow::Result<()> {
    let mut rng = AppRng::from_env()?;
    let key = FingerprintKey::generate(&mut rng);
    if output.as_os_str() == "-" {
        return write_stdout(key.encode().as_bytes());
    }
    write_new_private(output, key.encode().as_bytes())
}

/// The fingerprint key, if one is configured. A configured key that cannot be read is an error
/// naming the file or the variable (never its content).
pub fn load(config: &Config) -> anyhow::Result<Option<FingerprintKey>> {
    if let Some(path) = config.fingerprint_key_file.as_deref() {
        let text = zeroize::Zeroizing::new(read_file(path)?);
        return FingerprintKey::parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("--fingerprint-key-file {}: {e}", path.display()));
    }
    match std::env::var_os(KEY_ENV) {
        Some(v) if !v.is_empty() => {
            let text = zeroize::Zeroizing::new(v.into_encoded_bytes());
            FingerprintKey::parse(&text)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{KEY_ENV}: {e}"))
        }
        _ => Ok(None),
    }
}

/// The annotation edit that keeps the fingerprints of a SealedSecret (whose annotations are
/// `annotations`, whose label is `label`) in step with item `edits`: every item set gets a new
/// fingerprint when there is a key and its value is known (`value_of`), else loses its entry (it
/// would name an old ciphertext); deleted items lose theirs; the other entries stay (their
/// ciphertexts did not change, so they still prove the same). `None` when nothing changes.
pub fn edit_for<'v>(
    annotations: Option<&BTreeMap<String, String>>,
    key: Option<&FingerprintKey>,
    label: &[u8],
    edits: &[ItemEdit],
    value_of: impl Fn(&str) -> Option<&'v [u8]>,
) -> Option<ItemEdit> {
    let mut fingerprints = of_annotations(annotations);
    for e in edits {
        match e {
            ItemEdit::Set {
                key: name,
                ciphertext,
            } => {
                match key
                    .zip(value_of(name))
                    .and_then(|(k, v)| k.fingerprint(label, ciphertext, v))
                {
                    Some(fp) => fingerprints.insert(name.clone(), fp),
                    None => fingerprints.remove(name),
                };
            }
            ItemEdit::Delete { key: name } => {
                fingerprints.remove(name);
            }
            ItemEdit::Annotate { .. } => {}
        }
    }
    annotation_edit(annotations, &fingerprints)
}

/// The annotation edit that turns `annotations` into ones carrying `fingerprints` (removed when
/// empty); `None` when nothing changes.
pub fn annotation_edit(
    annotations: Option<&BTreeMap<String, String>>,
    fingerprints: &BTreeMap<String, String>,
) -> Option<ItemEdit> {
    let old = annotations.and_then(|a| a.get(ANNOTATION));
    let new = (!fingerprints.is_empty()).then(|| annotation_value(fingerprints));
    (old != new.as_ref()).then(|| ItemEdit::Annotate {
        key: ANNOTATION.to_owned(),
        value: new,
    })
}

/// `annotations` carrying `fingerprints` (the annotation removed when empty).
pub fn apply(
    annotations: &mut Option<BTreeMap<String, String>>,
    fingerprints: &BTreeMap<String, String>,
) {
    if fingerprints.is_empty() {
        if let Some(a) = annotations.as_mut() {
            a.remove(ANNOTATION);
        }
        if annotations.as_ref().is_some_and(BTreeMap::is_empty) {
            *annotations = None;
        }
        return;
    }
    annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION.to_owned(), annotation_value(fingerprints));
}
