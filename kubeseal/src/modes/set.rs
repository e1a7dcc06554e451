//! `kubeseal set FILE [KEY]`: add, replace or delete items of one SealedSecret of FILE, sealed
//! with that SealedSecret's own name, namespace and scope. Only the changed items' lines change
//! ([`common::edit`]); nothing changed → the file is not written.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use common::edit::{Document, ItemEdit, documents, edit_encrypted_data};
use common::keys::PublicKey;
use common::scope::{SealingScope, encryption_label};
use common::sealing::seal_raw;
use rand::{CryptoRng, RngExt as _};
use zeroize::Zeroizing;

use crate::cert;
use crate::config::{Charset, Config, SetCommand, SetSource};
use crate::io::{read_file, write_atomic};
use crate::rng::AppRng;

/// Run `kubeseal set`.
pub fn run(cmd: &SetCommand, config: &Config) -> anyhow::Result<()> {
    let path = cmd.file.as_path();
    let bytes = read_file(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
    let docs = documents(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (index, target) = pick(&docs, cmd.name.as_deref(), path)?;
    let (name, namespace, scope) = identity(target, path)?;

    let mut rng = AppRng::from_env()?;
    let needs_key = cmd.items.iter().any(|i| i.source != SetSource::Delete);
    let cert = if needs_key {
        Some(cert::load(config)?)
    } else {
        None
    };
    let fingerprint_key = super::fingerprint::load(config)?;
    let mut values = std::collections::BTreeMap::new();
    let recovery = cert::load_recovery(config)?;
    let what = format!("{}: SealedSecret {name:?}", path.display());
    let mut env = super::envelope::plan(
        super::envelope::of_value(&target.value)?,
        recovery.as_ref(),
        needs_key,
        &what,
    )?;
    let label = encryption_label(&namespace, &name, scope);
    let mut edits = Vec::with_capacity(cmd.items.len() + 1);
    for item in &cmd.items {
        let edit = match (&item.source, &cert) {
            (SetSource::Delete, _) => {
                if let Some(env) = env.as_mut() {
                    env.items.remove(&item.key);
                }
                ItemEdit::Delete {
                    key: item.key.clone(),
                }
            }
            (source, Some(cert)) => {
                let value = value_of(&item.key, source, cmd, &mut rng)?;
                if let (Some(env), Some(r)) = (env.as_mut(), &recovery) {
                    env.seal_item(&mut rng, r.public_key(), &label, &item.key, &value)?;
                }
                let target = Target {
                    key: cert.public_key(),
                    namespace: &namespace,
                    name: &name,
                    scope,
                };
                let ciphertext = target.seal(&mut rng, &value)?;
                values.insert(item.key.clone(), value);
                ItemEdit::Set {
                    key: item.key.clone(),
                    ciphertext,
                }
            }
            (_, None) => anyhow::bail!("no certificate"),
        };
        edits.push(edit);
    }
    let annotations = annotations_of(target);
    edits.extend(super::fingerprint::edit_for(
        annotations.as_ref(),
        fingerprint_key.as_ref(),
        &label,
        &edits,
        |k| values.get(k).map(|v| v.as_slice()),
    ));
    let mut edited = edit_encrypted_data(text, index, &edits)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(env) = &env {
        let with_env = common::edit::set_annotation(
            &edited.text,
            index,
            common::recovery::RECOVERY_ANNOTATION,
            Some(&env.to_annotation()),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        edited.text = with_env.text;
        edited.rewritten = edited.rewritten.or(with_env.rewritten);
    }
    super::envelope::report_stale_text(&edited.text);
    if let Some(why) = edited.rewritten {
        eprintln!(
            "kubeseal: {}: SealedSecret {name:?} rewritten in kubeseal's format ({why}); its comments and layout are not kept",
            path.display()
        );
    }
    if edited.text != text {
        write_atomic(path, edited.text.as_bytes())?;
    }
    Ok(())
}

/// The name, namespace and scope a SealedSecret's items are sealed with.
pub(super) fn identity(
    target: &Document,
    path: &Path,
) -> anyhow::Result<(String, String, SealingScope)> {
    let field = |p: &str| {
        target
            .value
            .pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    };
    let name = field("/metadata/name").to_owned();
    let namespace = field("/metadata/namespace").to_owned();
    let annotations = annotations_of(target);
    let scope = SealingScope::from_annotations(annotations.as_ref());
    if scope != SealingScope::ClusterWide && namespace.is_empty() {
        anyhow::bail!(
            "{}: SealedSecret {name:?} has no metadata.namespace (needed by its {} scope)",
            path.display(),
            scope.as_str()
        );
    }
    if scope == SealingScope::Strict && name.is_empty() {
        anyhow::bail!("{}: the SealedSecret has no metadata.name", path.display());
    }
    Ok((name, namespace, scope))
}

/// The SealedSecret's own `metadata.annotations` (`None` when absent or not strings).
pub(super) fn annotations_of(
    target: &Document,
) -> Option<std::collections::BTreeMap<String, String>> {
    target
        .value
        .pointer("/metadata/annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
}

/// The SealedSecret to edit: `--name`, else the only one.
pub(super) fn pick<'a>(
    docs: &'a [Document],
    name: Option<&str>,
    path: &Path,
) -> anyhow::Result<(usize, &'a Document)> {
    let sealed: Vec<(usize, &Document)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.value.get("kind").and_then(|k| k.as_str()) == Some("SealedSecret"))
        .collect();
    let name_of = |d: &Document| {
        d.value
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    match (name, sealed.as_slice()) {
        (_, []) => anyhow::bail!("{}: no SealedSecret in the file", path.display()),
        (None, [one]) => Ok(*one),
        (None, many) => anyhow::bail!(
            "{}: {} SealedSecrets ({}); choose one with --name",
            path.display(),
            many.len(),
            many.iter()
                .map(|(_, d)| name_of(d))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (Some(want), all) => all
            .iter()
            .find(|(_, d)| name_of(d) == want)
            .copied()
            .ok_or_else(|| anyhow::anyhow!("{}: no SealedSecret named {want:?}", path.display())),
    }
}

/// What a value is sealed to.
pub(super) struct Target<'a> {
    pub(super) key: &'a PublicKey,
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) scope: SealingScope,
}

impl Target<'_> {
    pub(super) fn seal<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        value: &[u8],
    ) -> anyhow::Result<String> {
        Ok(seal_raw(
            rng,
            self.key,
            self.namespace,
            self.name,
            self.scope,
            value,
        )?)
    }
}

/// The plaintext of one item. Never printed.
fn value_of<R: CryptoRng + ?Sized>(
    key: &str,
    source: &SetSource,
    cmd: &SetCommand,
    rng: &mut R,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    Ok(match source {
        SetSource::Input => {
            if std::io::stdin().is_terminal() {
                let v = Zeroizing::new(
                    rpassword::prompt_password(format!("Value for {key:?} (not echoed): "))
                        .map_err(|e| anyhow::anyhow!("cannot read the value of {key:?}: {e}"))?,
                );
                Zeroizing::new(v.as_bytes().to_vec())
            } else {
                let mut buf = Zeroizing::new(Vec::new());
                std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                    anyhow::anyhow!("cannot read the value of {key:?} from stdin: {e}")
                })?;
                buf
            }
        }
        SetSource::File(p) => Zeroizing::new(read_file(p)?),
        SetSource::Literal(v) => Zeroizing::new(v.as_bytes().to_vec()),
        SetSource::Generate => generate(rng, cmd.length, cmd.charset),
        SetSource::Delete => Zeroizing::new(Vec::new()),
    })
}

/// `length` characters drawn uniformly from `charset`.
fn generate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    length: usize,
    charset: Charset,
) -> Zeroizing<Vec<u8>> {
    let alphabet = charset.alphabet();
    let mut out = Zeroizing::new(Vec::with_capacity(length));
    for _ in 0..length {
        let i = rng.random_range(0..alphabet.len());
        out.push(alphabet.get(i).copied().unwrap_or(b'A'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_use_only_the_alphabet_and_differ() {
        let mut rng = rand::rng();
        for cs in [
            Charset::Alnum,
            Charset::Hex,
            Charset::Base64url,
            Charset::Ascii,
        ] {
            let a = generate(&mut rng, 64, cs);
            let b = generate(&mut rng, 64, cs);
            assert_eq!(a.len(), 64);
            assert!(a.iter().all(|c| cs.alphabet().contains(c)), "{cs:?}");
            assert_ne!(*a, *b);
        }
    }
}
