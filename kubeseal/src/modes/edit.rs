//! `kubeseal edit FILE`: the items of one SealedSecret of FILE as a Secret-shaped view in
//! `$KUBE_EDITOR`/`$VISUAL`/`$EDITOR` (default `vi`). Values that `--recovery-private-key` opens
//! are shown in clear; the others as [`PLACEHOLDER`], which keeps their sealed bytes when left
//! alone. The view lives in a fresh 0700 directory on RAM-backed storage (`$XDG_RUNTIME_DIR`, else
//! `/dev/shm`), mode 0600, and the whole directory (editor swap and backup files too) is removed
//! afterwards, also on error or Ctrl-C. Removed items are deleted, changed and new ones sealed; only
//! their lines change in FILE ([`common::edit`]); nothing changed → FILE is not written.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::documents::parse_secrets;
use common::edit::{ItemEdit, documents, edit_encrypted_data};
use common::scope::encryption_label;
use common::sealing::open_value;
use zeroize::Zeroizing;

use super::set::{Target, identity, pick};
use crate::cert;
use crate::config::Config;
use crate::io::{read_file, write_atomic};
use crate::rng::AppRng;

/// The value shown for an item whose value is not known here; left alone, the item keeps its
/// sealed bytes.
pub const PLACEHOLDER: &str = "<sealed: unchanged>";

/// A private directory removed (with everything in it) when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> anyhow::Result<Self> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(|| PathBuf::from("/dev/shm"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = base.join(format!("kubeseal-edit-{}-{nanos}", std::process::id()));
        let mut b = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create a private directory in {} (set XDG_RUNTIME_DIR): {e}",
                base.display()
            )
        })?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `kubeseal edit`.
pub fn run(file: &Path, name: Option<&str>, config: &Config) -> anyhow::Result<()> {
    let bytes = read_file(file)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", file.display()))?;
    let docs = documents(text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let (index, target) = pick(&docs, name, file)?;
    let (name, namespace, scope) = identity(target, file)?;
    let items: BTreeMap<String, String> = target
        .value
        .pointer("/spec/encryptedData")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let keys = super::recovery::read_private_keys(&config.recovery_private_keys)?;
    let fingerprint_key = super::fingerprint::load(config)?;
    let label = encryption_label(&namespace, &name, scope);
    // What is known of each item: its value when a key opens it (and it is text).
    let mut known: BTreeMap<&str, Zeroizing<String>> = BTreeMap::new();
    // The recovery envelope's ciphertext (same label) when the keys do not open the item itself.
    let envelope = super::envelope::of_value(&target.value)?
        .map(|e| e.items)
        .unwrap_or_default();
    for (k, ct) in &items {
        let opened = open_value(&keys, &label, ct)
            .or_else(|| {
                envelope
                    .get(k)
                    .and_then(|rct| open_value(&keys, &label, rct))
            })
            .and_then(|pt| String::from_utf8(pt.to_vec()).ok());
        if let Some(v) = opened {
            known.insert(k, Zeroizing::new(v));
        }
    }

    if config.from_cluster {
        let proven = super::proof::from_cluster(config, &namespace, &name, &items)?;
        for k in items.keys() {
            let text = proven
                .get(k)
                .and_then(|v| String::from_utf8(v.to_vec()).ok());
            if let Some(text) = text {
                known.entry(k).or_insert_with(|| Zeroizing::new(text));
            }
        }
    }
    let scratch = ScratchDir::new()?;
    let view_path = scratch.0.join(format!("{name}.yaml"));
    let view = view(&name, &namespace, &items, &known)?;
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o
            .open(&view_path)
            .map_err(|e| anyhow::anyhow!("cannot write the view: {e}"))?;
        f.write_all(view.as_bytes())?;
    }
    run_editor(&view_path)?;
    let edited = Zeroizing::new(
        std::fs::read(&view_path).map_err(|e| anyhow::anyhow!("cannot read the view back: {e}"))?,
    );
    drop(scratch);

    let secret = parse_secrets(&edited)
        .map_err(|e| anyhow::anyhow!("the edited view: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the edited view holds no Secret: nothing changed"))?;
    let mut wanted: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
    for (k, v) in secret.data.unwrap_or_default() {
        wanted.insert(k, Zeroizing::new(v.0));
    }
    for (k, v) in secret.string_data.unwrap_or_default() {
        wanted.insert(k, Zeroizing::new(v.into_bytes()));
    }
    let mut edits = Vec::new();
    let mut to_seal = Vec::new();
    for k in items.keys() {
        if !wanted.contains_key(k) {
            edits.push(ItemEdit::Delete { key: k.clone() });
        }
    }
    let recovery = cert::load_recovery(config)?;
    for (k, v) in &wanted {
        let unchanged = (items.contains_key(k) && v.as_slice() == PLACEHOLDER.as_bytes())
            || known
                .get(k.as_str())
                .is_some_and(|old| old.as_bytes() == v.as_slice());
        if !unchanged {
            if v.as_slice() == PLACEHOLDER.as_bytes() {
                anyhow::bail!("item {k:?} is new but has the placeholder as its value");
            }
            to_seal.push((k.clone(), v));
        }
    }
    let what = format!("{}: SealedSecret {name:?}", file.display());
    let mut env = super::envelope::plan(
        super::envelope::of_value(&target.value)?,
        recovery.as_ref(),
        !to_seal.is_empty(),
        &what,
    )?;
    if let Some(env) = env.as_mut() {
        for e in &edits {
            env.items.remove(e.key());
        }
    }
    if !to_seal.is_empty() {
        let cert = cert::load(config)?;
        let mut rng = AppRng::from_env()?;
        let target = Target {
            key: cert.public_key(),
            namespace: &namespace,
            name: &name,
            scope,
        };
        for (k, v) in to_seal {
            if let (Some(env), Some(r)) = (env.as_mut(), &recovery) {
                env.seal_item(&mut rng, r.public_key(), &label, &k, v)?;
            }
            edits.push(ItemEdit::Set {
                key: k,
                ciphertext: target.seal(&mut rng, v)?,
            });
        }
    }
    if edits.is_empty() {
        eprintln!(
            "kubeseal: nothing changed; {} left as it was",
            file.display()
        );
        return Ok(());
    }
    let annotations = super::set::annotations_of(target);
    edits.extend(super::fingerprint::edit_for(
        annotations.as_ref(),
        fingerprint_key.as_ref(),
        &label,
        &edits,
        |k| wanted.get(k).map(|v| v.as_slice()),
    ));
    let mut out = edit_encrypted_data(text, index, &edits)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if let Some(env) = &env {
        let with_env = common::edit::set_annotation(
            &out.text,
            index,
            common::recovery::RECOVERY_ANNOTATION,
            Some(&env.to_annotation()),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        out.text = with_env.text;
        out.rewritten = out.rewritten.or(with_env.rewritten);
    }
    super::envelope::report_stale_text(&out.text);
    if let Some(why) = out.rewritten {
        eprintln!(
            "kubeseal: {}: SealedSecret {name:?} rewritten in kubeseal's format ({why})",
            file.display()
        );
    }
    if out.text != text {
        write_atomic(file, out.text.as_bytes())?;
    }
    Ok(())
}

/// The Secret-shaped view, with a comment saying how to use it.
fn view(
    name: &str,
    namespace: &str,
    items: &BTreeMap<String, String>,
    known: &BTreeMap<&str, Zeroizing<String>>,
) -> anyhow::Result<Zeroizing<String>> {
    let mut string_data = serde_json::Map::new();
    for k in items.keys() {
        let v = known.get(k.as_str()).map_or(PLACEHOLDER, |v| v.as_str());
        string_data.insert(k.clone(), serde_json::Value::String(v.to_owned()));
    }
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": string_data,
    });
    let body = Zeroizing::new(serde_saphyr::to_string(&doc)?);
    let mut out = Zeroizing::new(String::new());
    out.push_str(&format!(
        "# kubeseal edit: the items of SealedSecret {namespace}/{name}, one per line under stringData.\n\
         # Change a value to seal a new one; delete a line to delete the item; add a line to add one.\n\
         # {PLACEHOLDER} keeps the item's sealed bytes. Only changed items are sealed again.\n\
         # This file is in a private RAM directory, removed when the editor exits.\n"
    ));
    out.push_str(&body);
    Ok(out)
}

/// `$KUBE_EDITOR`, `$VISUAL`, `$EDITOR` or `vi`, through `sh` as kubectl does; waits for it.
/// SIGINT (Ctrl-C in the editor's terminal) is kept from killing kubeseal before it cleans up.
fn run_editor(path: &Path) -> anyhow::Result<()> {
    let editor = ["KUBE_EDITOR", "VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered for as long as the editor runs: SIGINT no longer terminates this process.
    let _sigint = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    })?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot start the editor {editor:?}: {e}"))?;
    if !status.success() {
        anyhow::bail!("the editor {editor:?} failed ({status}); nothing changed");
    }
    Ok(())
}
