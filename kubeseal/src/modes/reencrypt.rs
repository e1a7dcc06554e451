//! Offline re-encryption (beyond upstream, #1453): decrypt `encryptedData` with recovery keys and
//! seal each value again for a new certificate, keeping name, namespace, scope, template metadata
//! and `template.data` templates (never rendered). A SealedSecret whose values all open with the
//! target certificate's key is left as it is.

use std::path::{Path, PathBuf};

use common::crd::{KIND, SealedSecret};
use common::documents::{
    Format, looks_like_json, parse_documents, sealed_secret_from_value, sealed_secret_to_string,
};
use common::keys::{PrivateKey, PublicKey};
use common::sealing::{ResealOptions, reseal};
use rand::CryptoRng;

use crate::cert;
use crate::config::Config;
use crate::io::{TTY_HINT_RESOURCE, emit, io_text, open_error, read_input, write_atomic};
use crate::modes::recovery::read_private_keys;
use crate::rng::AppRng;

/// `--re-encrypt --recovery-private-key …`: the input (or, with `dir`, every SealedSecret file
/// under it) sealed again for `--cert`.
pub fn run(config: &Config, dir: Option<&Path>) -> anyhow::Result<()> {
    let keys = read_private_keys(&config.recovery_private_keys)?;
    let cert = cert::load(config)?;
    let refs: Vec<_> = keys.iter().collect();
    let recovery = cert::load_recovery(config)?;
    let recovery = recovery.as_ref().map(|c| c.public_key());
    let mut rng = AppRng::from_env()?;
    if let Some(dir) = dir {
        // Two workers per core, each with its own RNG: every rewritten file ends in an fsync
        // that leaves its worker's core idle, and the second worker fills it (issue 20's K). A
        // replayed test stream stays one stream.
        let workers = match rng {
            AppRng::Fixed { .. } => 1,
            AppRng::Thread(_) => 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let s = reencrypt_dir(
            &AppRng::from_env,
            workers,
            dir,
            &refs,
            cert.public_key(),
            recovery,
        )?;
        for (p, e) in &s.failed {
            eprintln!("error: {}: {e}", p.display());
        }
        eprintln!(
            "re-encrypted {} file(s), {} already up to date, {} skipped, {} failed",
            s.rewritten.len(),
            s.unchanged.len(),
            s.skipped.len(),
            s.failed.len()
        );
        if !s.failed.is_empty() {
            anyhow::bail!("{} file(s) could not be re-encrypted", s.failed.len());
        }
        return Ok(());
    }
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    // Keep the input's format when rewriting in place and -o was not given; else -o.
    let out = &config.output;
    let format = if out.in_place {
        out.explicit_format
    } else {
        Some(out.format)
    };
    let r = reencrypt_documents(&mut rng, &input, &refs, cert.public_key(), recovery, format)?;
    if out.in_place && !r.changed {
        // Already sealed for this certificate: leave the file untouched.
        return Ok(());
    }
    emit(out, &r.bytes)
}

/// Re-seal `ss` for `target` in place ([`reseal`]: metadata, scope and templates kept as they
/// are, v1 objects refused, every value that no key opens named). When the keys do not open
/// `encryptedData` but open the recovery envelope (`--recovery-private-key recovery.key` after a
/// lost cluster), the envelope's values are re-sealed. With `recovery` (`--recovery-cert`), the
/// envelope is sealed again for it unless it is already complete for that recipient (rotating the
/// recovery key). Returns `true` when it changed.
pub fn reencrypt_one<R: CryptoRng + ?Sized>(
    rng: &mut R,
    ss: &mut SealedSecret,
    keys: &[&PrivateKey],
    target: &PublicKey,
    recovery: Option<&PublicKey>,
) -> anyhow::Result<bool> {
    use common::recovery::{Coverage, coverage, promote, seal_envelope};
    let opts = ResealOptions {
        accept_deprecated_v1_data: false,
        normalise: false,
        keep_current: true,
        exhaustive: true,
    };
    let (sealed, mut changed) = match reseal(rng, ss, keys, target, &opts) {
        Ok(r) => (r.sealed, r.changed),
        Err(e) => match promote(ss) {
            // Only the envelope opens: re-seal its values (the object changes either way).
            Ok(Some(promoted)) => match reseal(rng, &promoted, keys, target, &opts) {
                Ok(r) => (r.sealed, true),
                Err(_) => return Err(e.into()),
            },
            _ => return Err(e.into()),
        },
    };
    *ss = sealed;
    if let Some(rec) = recovery {
        let current = matches!(coverage(ss), Ok(Coverage::Complete { recipient }) if recipient == rec.fingerprint().as_str());
        if !current {
            let opened = common::recovery::open_items(ss, keys);
            let unopened: Vec<&str> = opened
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k.as_str())
                .collect();
            if !unopened.is_empty() {
                anyhow::bail!(
                    "cannot seal the recovery envelope: no key opens item(s) {}",
                    unopened.join(", ")
                );
            }
            let values = opened
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.as_str(), v.as_slice())));
            seal_envelope(rng, ss, rec, values)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Outcome of re-encrypting one document set.
pub struct Reencrypted {
    /// The new contents.
    pub bytes: Vec<u8>,
    /// Whether any SealedSecret changed.
    pub changed: bool,
}

/// Re-encrypt every SealedSecret in `input`. Output is in `format`, or the input's own format.
pub fn reencrypt_documents<R: CryptoRng + ?Sized>(
    rng: &mut R,
    input: &[u8],
    keys: &[&PrivateKey],
    target: &PublicKey,
    recovery: Option<&PublicKey>,
    format: Option<Format>,
) -> anyhow::Result<Reencrypted> {
    let docs = parse_documents(input)?;
    if docs.is_empty() {
        anyhow::bail!("no sealed secrets found. Ensure the input is valid and UTF-8 encoded");
    }
    let format = format.unwrap_or(if looks_like_json(input) {
        Format::Json
    } else {
        Format::Yaml
    });
    let mut out = String::new();
    let mut changed = false;
    for doc in docs {
        let mut ss = sealed_secret_from_value(doc)?;
        let what = ss.metadata.name.clone().unwrap_or_default();
        changed |= reencrypt_one(rng, &mut ss, keys, target, recovery)
            .map_err(|e| e.context(format!("cannot re-encrypt {what}")))?;
        super::envelope::report_stale(std::iter::once(&ss));
        out.push_str(&sealed_secret_to_string(&ss, format)?);
    }
    Ok(Reencrypted {
        bytes: out.into_bytes(),
        changed,
    })
}

/// Summary of a directory run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirSummary {
    /// Files rewritten.
    pub rewritten: Vec<PathBuf>,
    /// Files holding SealedSecrets already sealed for the target.
    pub unchanged: Vec<PathBuf>,
    /// Files skipped (not SealedSecrets, or mixed with other kinds).
    pub skipped: Vec<PathBuf>,
    /// Files that failed, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

pub(super) fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| open_error(dir, &e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file()
            && path
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| ["yaml", "yml", "json"].contains(&x.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// What happened to one file of a directory run.
enum FileOutcome {
    Rewritten,
    Unchanged,
    Skipped,
    Failed(String),
}

/// Re-encrypt every SealedSecret file under `dir`, rewriting (atomically) only files that change.
/// Files are kept in their own format. Symlinks are not followed. `workers` threads (each with an
/// RNG from `new_rng`) take the files in turn: the RSA work is CPU-bound and per file.
pub fn reencrypt_dir<R: CryptoRng>(
    new_rng: &(dyn Fn() -> anyhow::Result<R> + Sync),
    workers: usize,
    dir: &Path,
    keys: &[&PrivateKey],
    target: &PublicKey,
    recovery: Option<&PublicKey>,
) -> anyhow::Result<DirSummary> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> anyhow::Result<Vec<(usize, FileOutcome)>> {
        let mut rng = new_rng()?;
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(path) = files.get(i) else {
                return Ok(done);
            };
            done.push((i, reencrypt_file(&mut rng, path, keys, target, recovery)));
        }
    };
    let mut outcomes: Vec<(usize, FileOutcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.clamp(1, files.len().max(1)))
            .map(|_| s.spawn(work))
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a re-encryption worker panicked"))??,
            );
        }
        anyhow::Ok(all)
    })?;
    outcomes.sort_by_key(|(i, _)| *i);
    let mut summary = DirSummary::default();
    for ((_, outcome), path) in outcomes.into_iter().zip(files) {
        match outcome {
            FileOutcome::Rewritten => summary.rewritten.push(path),
            FileOutcome::Unchanged => summary.unchanged.push(path),
            FileOutcome::Skipped => summary.skipped.push(path),
            FileOutcome::Failed(e) => summary.failed.push((path, e)),
        }
    }
    Ok(summary)
}

/// Re-encrypt one file of a directory run.
fn reencrypt_file<R: CryptoRng + ?Sized>(
    rng: &mut R,
    path: &Path,
    keys: &[&PrivateKey],
    target: &PublicKey,
    recovery: Option<&PublicKey>,
) -> FileOutcome {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return FileOutcome::Failed(io_text(&e)),
    };
    let Ok(docs) = parse_documents(&bytes) else {
        return FileOutcome::Skipped;
    };
    let all_sealed = !docs.is_empty()
        && docs
            .iter()
            .all(|d| d.get("kind").and_then(|k| k.as_str()) == Some(KIND));
    if !all_sealed {
        return FileOutcome::Skipped;
    }
    match reencrypt_documents(rng, &bytes, keys, target, recovery, None) {
        Ok(r) if r.changed => {
            let mut out = r.bytes;
            if !looks_like_json(&bytes) && !bytes.starts_with(b"---") {
                out = out
                    .strip_prefix(b"---\n")
                    .map(<[u8]>::to_vec)
                    .unwrap_or(out);
            }
            match write_atomic(path, &out) {
                Ok(()) => FileOutcome::Rewritten,
                Err(e) => FileOutcome::Failed(format!("{e:#}")),
            }
        }
        Ok(_) => FileOutcome::Unchanged,
        Err(e) => FileOutcome::Failed(format!("{e:#}")),
    }
}
