//! `kubeseal recovery-key new` and `kubeseal recover --promote DIR` (ours, issue 19): the
//! break-glass recovery key pair, and moving recovery envelopes into `encryptedData` after a
//! cluster is lost, without decrypting anything.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::crd::KIND;
use common::edit::{ItemEdit, documents, edit_encrypted_data};
use common::keys::{CertificateParams, PrivateKey, self_signed_certificate};
use common::recovery::Envelope;

use crate::io::{io_text, write_atomic};
use crate::rng::AppRng;

/// Size of a recovery key.
pub const RECOVERY_KEY_BITS: usize = 4096;

/// Create `path` with `bytes` atomically and never over an existing file: a temp file next to
/// it, fsync, then a hard link to `path` (which fails when `path` exists).
fn create_new_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if path.symlink_metadata().is_ok() {
        anyhow::bail!("{} already exists; it is never overwritten", path.display());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{base}.{}.new", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} already exists; it is never overwritten", path.display())
        } else {
            anyhow::anyhow!("cannot write {}: {}", path.display(), io_text(&e))
        }
    })
}

/// `kubeseal recovery-key new --key-out KEY --cert-out CERT`.
pub fn new_key(
    key_out: &Path,
    cert_out: &Path,
    validity: Duration,
    common_name: &str,
    passphrase: bool,
) -> anyhow::Result<()> {
    let passphrase = if passphrase {
        Some(new_passphrase()?)
    } else {
        None
    };
    for p in [key_out, cert_out] {
        if p.symlink_metadata().is_ok() {
            anyhow::bail!("{} already exists; it is never overwritten", p.display());
        }
    }
    let mut rng = AppRng::from_env()?;
    let key = PrivateKey::generate(&mut rng, RECOVERY_KEY_BITS)?;
    let params = CertificateParams {
        common_name: common_name.to_owned(),
        not_before: SystemTime::now(),
        validity,
    };
    let cert = self_signed_certificate(&mut rng, &key, &params)?;
    let pem = match &passphrase {
        Some(p) => key.to_pkcs8_encrypted_pem(&mut rng, p.as_bytes())?,
        None => key.to_pkcs8_pem()?,
    };
    create_new_atomic(key_out, pem.as_bytes(), 0o600)?;
    if let Err(e) = create_new_atomic(cert_out, cert.to_pem().as_bytes(), 0o644) {
        // Do not leave a key without its certificate.
        let _ = std::fs::remove_file(key_out);
        return Err(e);
    }
    eprintln!(
        "kubeseal: recovery key {} written to {} (mode 0600) and {}; keep the key offline: it opens every SealedSecret sealed with --recovery-cert {}",
        key.fingerprint(),
        key_out.display(),
        cert_out.display(),
        cert_out.display()
    );
    Ok(())
}

/// The variable that holds the recovery key's passphrase (for scripts and tests; on a terminal
/// kubeseal asks instead).
pub const PASSPHRASE_ENV: &str = "SEALED_SECRETS_RECOVERY_PASSPHRASE";

/// A new passphrase: [`PASSPHRASE_ENV`], else asked twice on the terminal.
fn new_passphrase() -> anyhow::Result<zeroize::Zeroizing<String>> {
    if let Some(p) = std::env::var_os(PASSPHRASE_ENV) {
        let p = zeroize::Zeroizing::new(p.to_string_lossy().into_owned());
        if p.is_empty() {
            anyhow::bail!("{PASSPHRASE_ENV} is empty");
        }
        return Ok(p);
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot read the passphrase from the terminal ({e}); set {PASSPHRASE_ENV}"
                )
            })
    };
    let first = ask("Passphrase for the recovery key (not echoed): ")?;
    if first.len() < 8 {
        anyhow::bail!("the passphrase must have at least 8 characters");
    }
    let second = ask("The same passphrase again: ")?;
    if *first != *second {
        anyhow::bail!("the passphrases differ");
    }
    Ok(first)
}

/// The passphrase of the key file `path`: [`PASSPHRASE_ENV`], else asked on the terminal.
pub fn passphrase_for(path: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    if let Some(p) = std::env::var_os(PASSPHRASE_ENV) {
        return Ok(zeroize::Zeroizing::new(p.to_string_lossy().into_owned()));
    }
    rpassword::prompt_password(format!("Passphrase for {} (not echoed): ", path.display()))
        .map(zeroize::Zeroizing::new)
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is passphrase-protected and the terminal cannot be read ({e}); set {PASSPHRASE_ENV}",
                path.display()
            )
        })
}

/// What `recover --promote` did.
#[derive(Debug, Default)]
pub struct Promoted {
    /// Files rewritten.
    pub files: usize,
    /// SealedSecrets whose envelope went into `encryptedData`.
    pub objects: usize,
    /// SealedSecrets without an envelope (left alone).
    pub without: Vec<String>,
    /// Files that failed, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

/// The text of a file with every SealedSecret's envelope promoted; `(text, promoted, without)`.
pub fn promote_text(text: &str) -> anyhow::Result<(String, usize, Vec<String>)> {
    let mut out = text.to_owned();
    let (mut promoted, mut without) = (0, Vec::new());
    let count = documents(text)?.len();
    for index in 0..count {
        let docs = documents(&out)?;
        let Some(doc) = docs.get(index) else { break };
        if doc.value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
            continue;
        }
        let name = format!(
            "{}/{}",
            doc.value
                .pointer("/metadata/namespace")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
            doc.value
                .pointer("/metadata/name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        );
        let Some(env): Option<Envelope> = super::envelope::of_value(&doc.value)
            .map_err(|e| e.context(format!("SealedSecret {name}")))?
        else {
            without.push(name);
            continue;
        };
        let items: std::collections::BTreeMap<String, String> = doc
            .value
            .pointer("/spec/encryptedData")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let missing: Vec<&String> = items
            .keys()
            .filter(|k| !env.items.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "SealedSecret {name}: the recovery envelope does not cover {}; nothing promoted (promoting would lose them)",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let mut edits: Vec<ItemEdit> = env
            .items
            .iter()
            .filter(|(k, ct)| items.get(*k) != Some(*ct))
            .map(|(k, ct)| ItemEdit::Set {
                key: k.clone(),
                ciphertext: ct.clone(),
            })
            .collect();
        // Items only the envelope has (deleted later by a tool that does not know it) stay out.
        edits.retain(|e| items.contains_key(e.key()));
        if edits.is_empty() {
            continue;
        }
        out = edit_encrypted_data(&out, index, &edits)?.text;
        promoted += 1;
    }
    Ok((out, promoted, without))
}

/// `kubeseal recover --promote DIR`.
pub fn promote_dir(dir: &Path) -> anyhow::Result<Promoted> {
    let mut files = Vec::new();
    super::reencrypt::walk(dir, &mut files)?;
    let mut summary = Promoted::default();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(docs) = documents(&text) else { continue };
        if !docs
            .iter()
            .any(|d| d.value.get("kind").and_then(|k| k.as_str()) == Some(KIND))
        {
            continue;
        }
        match promote_text(&text) {
            Ok((new, n, without)) => {
                summary.without.extend(without);
                if n > 0 {
                    match write_atomic(&path, new.as_bytes()) {
                        Ok(()) => {
                            summary.files += 1;
                            summary.objects += n;
                        }
                        Err(e) => summary.failed.push((path, format!("{e:#}"))),
                    }
                }
            }
            Err(e) => summary.failed.push((path, format!("{e:#}"))),
        }
    }
    Ok(summary)
}

/// Run `kubeseal recover --promote DIR`.
pub fn run_promote(dir: &Path) -> anyhow::Result<()> {
    let s = promote_dir(dir)?;
    for (p, e) in &s.failed {
        eprintln!("error: {}: {e}", p.display());
    }
    for name in &s.without {
        eprintln!(
            "kubeseal: warning: SealedSecret {name} has no recovery envelope: it cannot be recovered this way"
        );
    }
    eprintln!(
        "kubeseal: promoted the recovery envelope of {} SealedSecret(s) in {} file(s); {} without an envelope, {} file(s) failed. Apply them to a cluster whose controller holds the recovery key, then re-encrypt (kubeseal --re-encrypt) to its own key",
        s.objects,
        s.files,
        s.without.len(),
        s.failed.len()
    );
    if !s.failed.is_empty() {
        anyhow::bail!("{} file(s) could not be promoted", s.failed.len());
    }
    Ok(())
}
