//! Seal mode (default), `--raw` and `--merge-into`.

use std::path::Path;

use common::crd::SealedSecret;
use common::documents::{
    Format, looks_like_json, parse_documents, parse_secrets, sealed_secret_from_value,
    sealed_secret_to_string,
};
use common::keys::PublicKey;
use common::scope::SealingScope;
use common::sealing::{seal_raw, seal_secret};
use k8s_openapi::api::core::v1::Secret;
use rand::CryptoRng;

use crate::cert;
use crate::cluster::kubeconfig;
use crate::config::Config;
use crate::io::{
    TTY_HINT_RAW, TTY_HINT_RESOURCE, emit, read_file, read_input, read_stdin, write_atomic,
};
use crate::rng::AppRng;

/// Default mode: the Secrets of the input → SealedSecrets; `name` (`--name`) renames every one,
/// or names one that has no name, as upstream's `overrideName`. With several `--cert` (ours), one
/// SealedSecret per certificate; with `--recovery-cert`, each carries the recovery envelope.
pub fn run(config: &Config, name: Option<&str>) -> anyhow::Result<()> {
    if !config.fleet.is_empty() {
        return super::fleet::run_certs(config, name);
    }
    let cert = cert::load(config)?;
    let recovery = cert::load_recovery(config)?;
    let mut rng = AppRng::from_env()?;
    let ns = kubeconfig::LazyNamespace::new(&config.kube);
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let params = SealParams {
        scope: config.scope,
        namespace: &ns,
        allow_empty_data: config.allow_empty_data,
        name,
        overrides: None,
    };
    // The input again: item values by name (never printed), in seal_all's order.
    let secrets: Vec<Secret> = parse_secrets(&input)?;
    let mut sealed = seal_all(&mut rng, cert.public_key(), &input, &params)?;
    if let Some(r) = &recovery {
        super::envelope::attach(&mut rng, &mut sealed, &secrets, r.public_key())?;
    }
    let fingerprint_key = super::fingerprint::load(config)?;
    let Some(old_path) = config.keep_unchanged.as_deref() else {
        super::keep::fingerprint_new(&mut sealed, &secrets, fingerprint_key.as_ref());
        let mut out = String::new();
        for ss in &sealed {
            out.push_str(&sealed_secret_to_string(ss, config.output.format)?);
        }
        return emit(&config.output, out.as_bytes());
    };
    let old_bytes = read_file(old_path)?;
    let keys = super::recovery::read_private_keys(&config.recovery_private_keys)?;
    // --from-cluster: the values the cluster proves for each old SealedSecret (an error is a
    // refusal, not a silent re-seal).
    let mut by_cluster = super::keep::ByObject::new();
    if config.from_cluster {
        let old = common::documents::parse_sealed_secrets(&old_bytes)
            .map_err(|e| anyhow::anyhow!("--keep-unchanged {}: {e}", old_path.display()))?;
        for o in &old {
            let id = super::keep::id(o);
            let values = super::proof::from_cluster(config, &id.0, &id.1, &o.spec.encrypted_data)?;
            by_cluster.insert(id, values);
        }
    }
    let surgical_text = keep_and_render(
        &mut sealed,
        &secrets,
        &old_bytes,
        old_path,
        &keys,
        &by_cluster,
        fingerprint_key.as_ref(),
    )?;
    if let (Some(text), Some(out_path)) = (&surgical_text, config.output.file.as_deref())
        && same_file(out_path, old_path)
    {
        if text.as_bytes() != old_bytes.as_slice() {
            write_atomic(out_path, text.as_bytes())?;
        }
        return Ok(());
    }
    let mut text = String::new();
    for ss in &sealed {
        text.push_str(&sealed_secret_to_string(ss, config.output.format)?);
    }
    emit(&config.output, text.as_bytes())
}

/// `--keep-unchanged`: keep every item of `old_bytes` proven unchanged (and its envelope entry,
/// when the old envelope has the same recipient) and print the summary. Returns OLDFILE's text
/// with only the changed lines rewritten when that gives exactly the one new object.
pub fn keep_and_render(
    sealed: &mut [SealedSecret],
    secrets: &[Secret],
    old_bytes: &[u8],
    old_path: &Path,
    keys: &[common::keys::PrivateKey],
    by_cluster: &super::keep::ByObject,
    fingerprint_key: Option<&common::fingerprint::FingerprintKey>,
) -> anyhow::Result<Option<String>> {
    let old = common::documents::parse_sealed_secrets(old_bytes)
        .map_err(|e| anyhow::anyhow!("--keep-unchanged {}: {e}", old_path.display()))?;
    let kept =
        super::keep::keep_unchanged(sealed, secrets, &old, keys, by_cluster, fingerprint_key);
    keep_envelopes(sealed, &old);
    eprintln!(
        "kubeseal: {} item(s) kept from {} (proven unchanged), {} sealed again{}",
        kept.kept,
        old_path.display(),
        kept.resealed,
        if keys.is_empty() && by_cluster.is_empty() && fingerprint_key.is_none() {
            " (no --recovery-private-key, --fingerprint-key-file or --from-cluster: nothing can be proven)"
        } else {
            ""
        }
    );
    if let [one] = &*sealed
        && let Some(text) = surgical(old_bytes, one)
    {
        return Ok(Some(text));
    }
    Ok(None)
}

/// For items kept from `old`, keep the old envelope's ciphertext too (same recipient and label),
/// so that an unchanged object keeps its exact annotation. Warn when an old object carried an
/// envelope and the new one has none.
fn keep_envelopes(sealed: &mut [SealedSecret], old: &[SealedSecret]) {
    use common::recovery::{envelope, set_envelope};
    for ss in sealed.iter_mut() {
        let label = common::sealing::label_of(ss);
        let Some(o) = old.iter().find(|o| {
            o.metadata.name == ss.metadata.name
                && o.metadata.namespace == ss.metadata.namespace
                && common::sealing::label_of(o) == label
        }) else {
            continue;
        };
        let (Ok(Some(old_env)), new_env) = (envelope(o), envelope(ss)) else {
            continue;
        };
        let Ok(Some(mut new_env)) = new_env else {
            eprintln!(
                "kubeseal: warning: {} carried a recovery envelope; the new SealedSecret has none (pass --recovery-cert)",
                ss.metadata.name.as_deref().unwrap_or_default()
            );
            continue;
        };
        if old_env.recipient != new_env.recipient {
            continue;
        }
        for (k, ct) in &ss.spec.encrypted_data {
            if o.spec.encrypted_data.get(k) == Some(ct)
                && let Some(old_ct) = old_env.items.get(k)
            {
                new_env.items.insert(k.clone(), old_ct.clone());
            }
        }
        set_envelope(ss, &new_env);
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// OLDFILE's text with only `new`'s changed items rewritten, when that gives exactly `new` (same
/// metadata and template); `None` when the whole document must be written.
fn surgical(old_bytes: &[u8], new: &SealedSecret) -> Option<String> {
    use common::edit::{ItemEdit, documents, edit_encrypted_data};
    let text = std::str::from_utf8(old_bytes).ok()?;
    let docs = documents(text).ok()?;
    let index = docs.iter().position(|d| {
        let field = |p: &str| d.value.pointer(p).and_then(|v| v.as_str());
        field("/kind") == Some("SealedSecret")
            && field("/metadata/name") == new.metadata.name.as_deref()
            && field("/metadata/namespace") == new.metadata.namespace.as_deref()
    })?;
    let old = sealed_secret_from_value(docs.get(index)?.value.clone()).ok()?;
    let mut edits: Vec<ItemEdit> = new
        .spec
        .encrypted_data
        .iter()
        .filter(|(k, ct)| old.spec.encrypted_data.get(*k) != Some(*ct))
        .map(|(k, ct)| ItemEdit::Set {
            key: k.clone(),
            ciphertext: ct.clone(),
        })
        .collect();
    edits.extend(
        old.spec
            .encrypted_data
            .keys()
            .filter(|k| !new.spec.encrypted_data.contains_key(*k))
            .map(|k| ItemEdit::Delete { key: k.clone() }),
    );
    edits.extend(super::fingerprint::annotation_edit(
        old.metadata.annotations.as_ref(),
        &common::fingerprint::of_annotations(new.metadata.annotations.as_ref()),
    ));
    let mut edited = edit_encrypted_data(text, index, &edits).ok()?;
    if edited.rewritten.is_some() {
        return None;
    }
    let annotation = |ss: &SealedSecret| {
        ss.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(common::recovery::RECOVERY_ANNOTATION))
            .cloned()
    };
    if annotation(&old) != annotation(new) {
        edited = common::edit::set_annotation(
            &edited.text,
            index,
            common::recovery::RECOVERY_ANNOTATION,
            annotation(new).as_deref(),
        )
        .ok()?;
        if edited.rewritten.is_some() {
            return None;
        }
    }
    let after = documents(&edited.text).ok()?;
    let got = sealed_secret_from_value(after.get(index)?.value.clone()).ok()?;
    let normal = |ss: &SealedSecret| serde_json::to_value(ss).ok();
    (normal(&got)? == normal(new)?).then_some(edited.text)
}

/// `--raw`: one value (`--from-file`, else stdin) → bare base64.
pub fn run_raw(config: &Config, name: Option<&str>, from_file: &[String]) -> anyhow::Result<()> {
    let cert = cert::load(config)?;
    let mut rng = AppRng::from_env()?;
    let ns = if config.scope < SealingScope::ClusterWide {
        kubeconfig::namespace(&config.kube)?.0
    } else {
        String::new()
    };
    let value = RawValue {
        scope: config.scope,
        name: name.unwrap_or_default(),
        namespace: &ns,
        from_file,
    };
    let out = raw(&mut rng, cert.public_key(), &value, || {
        read_stdin(TTY_HINT_RAW)
    })?;
    emit(&config.output, &out)
}

/// `--merge-into FILE`: FILE rewritten in place.
pub fn run_merge_into(config: &Config, target: &Path) -> anyhow::Result<()> {
    let cert = cert::load(config)?;
    let mut rng = AppRng::from_env()?;
    let ns = kubeconfig::LazyNamespace::new(&config.kube);
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let file = read_file(target)?;
    let params = SealParams {
        scope: config.scope,
        namespace: &ns,
        allow_empty_data: config.allow_empty_data,
        name: None,
        overrides: None,
    };
    let recovery = cert::load_recovery(config)?;
    let out = merge_into(
        &mut rng,
        cert.public_key(),
        &input,
        &file,
        &params,
        config.output.explicit_format,
        recovery.as_ref(),
    )?;
    write_atomic(target, &out)?;
    super::envelope::report_stale_text(&String::from_utf8_lossy(&out));
    Ok(())
}

/// What seal needs besides the key.
pub struct SealParams<'a> {
    /// `--scope`.
    pub scope: SealingScope,
    /// The namespace as client-go's `Namespace()`, looked up only for a Secret without one.
    pub namespace: &'a kubeconfig::LazyNamespace<'a>,
    /// `--allow-empty-data`.
    pub allow_empty_data: bool,
    /// `--name` in seal mode: replaces each Secret's name (upstream's `overrideName`).
    pub name: Option<&'a str>,
    /// Overrides (merge-into): name, namespace and scope of the target file.
    pub overrides: Option<(String, String, SealingScope)>,
}

/// Upstream's per-Secret checks and edits, then `NewSealedSecret`.
pub fn seal_one<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PublicKey,
    mut secret: Secret,
    p: &SealParams<'_>,
) -> anyhow::Result<SealedSecret> {
    let empty = |d: Option<usize>| d.unwrap_or(0) == 0;
    if !p.allow_empty_data
        && empty(secret.data.as_ref().map(|d| d.len()))
        && empty(secret.string_data.as_ref().map(|d| d.len()))
    {
        anyhow::bail!(
            "secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used"
        );
    }
    if let Some(name) = p.name.filter(|n| !n.is_empty()) {
        secret.metadata.name = Some(name.to_string());
    }
    if let Some((name, ns, scope)) = &p.overrides {
        secret.metadata.name = Some(name.clone());
        secret.metadata.namespace = Some(ns.clone()).filter(|n| !n.is_empty());
        scope.apply_to(
            secret
                .metadata
                .annotations
                .get_or_insert_with(Default::default),
        );
    }
    if secret
        .metadata
        .name
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        anyhow::bail!("missing metadata.name in input Secret");
    }
    if p.overrides.is_none() && p.scope != SealingScope::Strict {
        p.scope.apply_to(
            secret
                .metadata
                .annotations
                .get_or_insert_with(Default::default),
        );
    }
    if secret
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.is_empty())
    {
        secret.metadata.annotations = None;
    }
    let scope = SealingScope::from_annotations(secret.metadata.annotations.as_ref());
    if scope != SealingScope::ClusterWide {
        let input_ns = secret.metadata.namespace.clone().unwrap_or_default();
        if p.overrides.is_none()
            && let Some(ns) = p.namespace.explicit()
            && !input_ns.is_empty()
            && input_ns != ns
        {
            anyhow::bail!(
                "namespace mismatch: input secret is in namespace {input_ns:?} but {ns:?} was specified"
            );
        }
        if input_ns.is_empty() {
            secret.metadata.namespace = Some(p.namespace.get()?.to_string());
        }
    }
    let m = &mut secret.metadata;
    m.self_link = None;
    m.uid = None;
    m.resource_version = None;
    m.generation = None;
    m.creation_timestamp = None;
    m.deletion_timestamp = None;
    m.deletion_grace_period_seconds = None;
    Ok(seal_secret(rng, key, &secret)?)
}

/// Every Secret of `input` sealed, in input order.
pub fn seal_all<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PublicKey,
    input: &[u8],
    p: &SealParams<'_>,
) -> anyhow::Result<Vec<SealedSecret>> {
    let secrets = parse_secrets(input)?;
    if secrets.is_empty() {
        anyhow::bail!("no secrets found. Ensure the input is valid and UTF-8 encoded");
    }
    secrets
        .into_iter()
        .map(|s| seal_one(rng, key, s, p))
        .collect()
}

/// What `--raw` seals besides the value.
pub struct RawValue<'a> {
    /// `--scope`.
    pub scope: SealingScope,
    /// `--name`, empty when not given.
    pub name: &'a str,
    /// The namespace (empty for cluster-wide).
    pub namespace: &'a str,
    /// `--from-file`.
    pub from_file: &'a [String],
}

/// `--raw`: one value → bare base64, no newline.
pub fn raw<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PublicKey,
    v: &RawValue<'_>,
    read_value: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let (scope, name, namespace) = (v.scope, v.name, v.namespace);
    if scope < SealingScope::ClusterWide {
        if namespace.is_empty() {
            anyhow::bail!("must provide the --namespace flag with --raw and --scope {scope}");
        }
        if scope == SealingScope::Strict && name.is_empty() {
            anyhow::bail!("must provide the --name flag with --raw and --scope strict");
        }
    }
    let value = zeroize::Zeroizing::new(match v.from_file {
        [] => read_value()?,
        [one] => {
            let path = one.split_once('=').map(|(_, p)| p).unwrap_or(one);
            read_file(Path::new(path))?
        }
        _ => anyhow::bail!(
            "must provide only one --from-file when encrypting a single item with --raw"
        ),
    });
    Ok(seal_raw(rng, key, namespace, name, scope, &value)?.into_bytes())
}

/// `--merge-into FILE`: seal the input with FILE's name, namespace and scope, merge the items into
/// FILE and return FILE's new contents (in FILE's format unless `-o` was explicit).
pub fn merge_into<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PublicKey,
    input: &[u8],
    file_bytes: &[u8],
    p: &SealParams<'_>,
    explicit_format: Option<Format>,
    recovery: Option<&common::keys::Certificate>,
) -> anyhow::Result<Vec<u8>> {
    let file_format = if looks_like_json(file_bytes) {
        Format::Json
    } else {
        Format::Yaml
    };
    let doc = parse_documents(file_bytes)
        .map_err(|e| anyhow::anyhow!("the --merge-into file: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no SealedSecret found in the --merge-into file"))?;
    let mut orig = sealed_secret_from_value(doc)
        .map_err(|e| anyhow::anyhow!("the --merge-into file is not a SealedSecret: {e}"))?;
    let name = orig.metadata.name.clone().unwrap_or_default();
    let namespace = orig.metadata.namespace.clone().unwrap_or_default();
    let scope = SealingScope::from_annotations(orig.metadata.annotations.as_ref());
    let params = SealParams {
        scope: p.scope,
        namespace: p.namespace,
        allow_empty_data: p.allow_empty_data,
        name: None,
        overrides: Some((name, namespace, scope)),
    };
    let mut fingerprints = common::fingerprint::of_annotations(orig.metadata.annotations.as_ref());
    let what = format!(
        "the --merge-into file's SealedSecret {:?}",
        params
            .overrides
            .as_ref()
            .map(|o| o.0.as_str())
            .unwrap_or_default()
    );
    let mut env = super::envelope::plan(common::recovery::envelope(&orig)?, recovery, true, &what)?;
    let label = common::sealing::label_of(&orig);
    let secrets = parse_secrets(input)?;
    let updates = seal_all(rng, key, input, &params)?;
    for (update, secret) in updates.into_iter().zip(&secrets) {
        if let (Some(env), Some(r)) = (env.as_mut(), recovery) {
            for (k, v) in super::envelope::secret_values(secret) {
                env.seal_item(rng, r.public_key(), &label, k, v)?;
            }
        }
        // The fingerprints of replaced items named their old ciphertexts.
        for k in update.spec.encrypted_data.keys() {
            fingerprints.remove(k);
        }
        orig.spec.encrypted_data.extend(update.spec.encrypted_data);
        let (src, dst) = (
            update.spec.template.metadata.into_inner(),
            &mut *orig.spec.template.metadata,
        );
        if let Some(a) = src.annotations.filter(|a| !a.is_empty()) {
            dst.annotations
                .get_or_insert_with(Default::default)
                .extend(a);
        }
        if let Some(l) = src.labels.filter(|l| !l.is_empty()) {
            dst.labels.get_or_insert_with(Default::default).extend(l);
        }
        if let Some(d) = update.spec.template.data.filter(|d| !d.is_empty()) {
            orig.spec
                .template
                .data
                .get_or_insert_with(Default::default)
                .extend(d);
        }
    }
    if orig
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(common::fingerprint::ANNOTATION))
    {
        super::fingerprint::apply(&mut orig.metadata.annotations, &fingerprints);
    }
    if let Some(env) = env.take() {
        common::recovery::set_envelope(&mut orig, &env);
    }
    let format = explicit_format.unwrap_or(file_format);
    let mut out = sealed_secret_to_string(&orig, format)?;
    if format == Format::Yaml && !file_bytes.starts_with(b"---") {
        // Keep a file that did not start with `---` that way.
        out = out.trim_start_matches("---\n").to_string();
    }
    Ok(out.into_bytes())
}
