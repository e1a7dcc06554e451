//! Fleet sealing (ours, issue 19; upstream #263, #839): the same Secrets sealed for several
//! clusters in one run.
//!
//! * `--cert a.pem --cert b.pem`: one SealedSecret per certificate (and per input Secret), in the
//!   order of the certificates: a `v1 List` in JSON, one document each in YAML.
//! * `--targets targets.yaml`: a `SealingTargets` file names, per target, a certificate, an
//!   output path pattern and optionally a namespace; `recoveryCert` is sealed into every output.
//!   Each target's file is written atomically; when it exists, it is the `--keep-unchanged`
//!   OLDFILE of that target (proven with `--recovery-private-key`).
//!
//! ```yaml
//! apiVersion: sealed-secrets-rs.dev/v1
//! kind: SealingTargets
//! recoveryCert: certs/recovery.pem        # optional; relative paths are relative to this file
//! targets:
//!   - {name: dev,  cert: certs/dev.pem,  out: "overlays/dev/{name}.sealed.yaml"}
//!   - {name: prod, cert: certs/prod.pem, out: "overlays/prod/{name}.sealed.yaml", namespace: prod-apps}
//! ```
//!
//! `out` may use `{name}` and `{namespace}` (of the sealed Secret) and `{target}`; a `.json`
//! path is written as JSON, anything else as YAML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::crd::SealedSecret;
use common::documents::{Format, parse_documents, parse_secrets, sealed_secret_to_string};
use k8s_openapi::api::core::v1::Secret;

use super::seal::{SealParams, seal_one};
use crate::cert;
use crate::cluster::kubeconfig;
use crate::config::{CertSource, Config};
use crate::io::{TTY_HINT_RESOURCE, emit, read_file, read_input, write_atomic};
use crate::rng::AppRng;

/// The `apiVersion` of a targets file.
pub const TARGETS_API_VERSION: &str = "sealed-secrets-rs.dev/v1";
/// The `kind` of a targets file.
pub const TARGETS_KIND: &str = "SealingTargets";

/// `--cert a --cert b …`: every input Secret sealed for every certificate.
pub fn run_certs(config: &Config, name: Option<&str>) -> anyhow::Result<()> {
    let recovery = cert::load_recovery(config)?;
    let fingerprint_key = super::fingerprint::load(config)?;
    let mut rng = AppRng::from_env()?;
    let ns = kubeconfig::LazyNamespace::new(&config.kube);
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let secrets = parse_secrets(&input)?;
    let params = SealParams {
        scope: config.scope,
        namespace: &ns,
        allow_empty_data: config.allow_empty_data,
        name,
        overrides: None,
    };
    let mut all: Vec<SealedSecret> = Vec::new();
    for source in &config.fleet {
        let c = cert::load_source(source, &config.kube)
            .map_err(|e| e.context(format!("--cert {}", describe(source))))?;
        let mut sealed = super::seal::seal_all(&mut rng, c.public_key(), &input, &params)?;
        if let Some(r) = &recovery {
            super::envelope::attach(&mut rng, &mut sealed, &secrets, r.public_key())?;
        }
        super::keep::fingerprint_new(&mut sealed, &secrets, fingerprint_key.as_ref());
        all.extend(sealed);
    }
    emit(
        &config.output,
        render(&all, config.output.format)?.as_bytes(),
    )
}

fn describe(source: &CertSource) -> String {
    match source {
        CertSource::Path(p) => p.display().to_string(),
        CertSource::Url(u) => u.clone(),
        CertSource::Controller {
            name, namespace, ..
        } => format!("{namespace}/{name}"),
    }
}

/// Several SealedSecrets in `format`: a `v1 List` in JSON (one object stays one object, as
/// upstream prints it), one document each in YAML.
pub fn render(all: &[SealedSecret], format: Format) -> anyhow::Result<String> {
    match (format, all) {
        (Format::Json, [_, _, ..]) => {
            let items = all
                .iter()
                .map(|ss| {
                    let text = sealed_secret_to_string(ss, Format::Json)?;
                    Ok(serde_json::from_str::<serde_json::Value>(&text)?)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            let mut s = serde_json::to_string_pretty(&list)?;
            s.push('\n');
            Ok(s)
        }
        _ => {
            let mut out = String::new();
            for ss in all {
                out.push_str(&sealed_secret_to_string(ss, format)?);
            }
            Ok(out)
        }
    }
}

/// One target of a targets file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Shown in messages; `{target}` in `out`.
    pub name: String,
    /// The cluster's certificate (a path relative to the targets file, or an http(s) URL).
    pub cert: String,
    /// Output path pattern.
    pub out: String,
    /// The namespace the Secrets are sealed for in this cluster (default: their own).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A `SealingTargets` file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetsFile {
    /// [`TARGETS_API_VERSION`].
    pub api_version: String,
    /// [`TARGETS_KIND`].
    pub kind: String,
    /// The targets, in the order they are written.
    pub targets: Vec<Target>,
    /// One recovery certificate for every target.
    #[serde(default)]
    pub recovery_cert: Option<String>,
}

/// Parse a targets file's contents (`path` names it in errors).
pub fn parse_targets(bytes: &[u8], path: &Path) -> anyhow::Result<TargetsFile> {
    let what = path.display();
    let doc = parse_documents(bytes)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("{what}: empty targets file"))?;
    let t: TargetsFile = serde_json::from_value(doc).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    if t.api_version != TARGETS_API_VERSION || t.kind != TARGETS_KIND {
        anyhow::bail!(
            "{what}: expected apiVersion {TARGETS_API_VERSION} and kind {TARGETS_KIND}, got {} {}",
            t.api_version,
            t.kind
        );
    }
    if t.targets.is_empty() {
        anyhow::bail!("{what}: no targets");
    }
    for (i, a) in t.targets.iter().enumerate() {
        if a.name.is_empty() || a.cert.is_empty() || a.out.is_empty() {
            anyhow::bail!("{what}: targets[{i}] needs name, cert and out");
        }
        if t.targets.iter().skip(i + 1).any(|b| b.name == a.name) {
            anyhow::bail!("{what}: target {:?} is named twice", a.name);
        }
    }
    Ok(t)
}

/// `out` with `{name}`, `{namespace}` and `{target}` replaced.
fn out_path(pattern: &str, target: &str, ss: &SealedSecret) -> anyhow::Result<String> {
    let name = ss.metadata.name.as_deref().unwrap_or_default();
    let ns = ss.metadata.namespace.as_deref().unwrap_or_default();
    let path = pattern
        .replace("{name}", name)
        .replace("{namespace}", ns)
        .replace("{target}", target);
    if path.contains(['{', '}']) {
        anyhow::bail!(
            "target {target:?}: out {pattern:?} uses a placeholder other than {{name}}, {{namespace}} and {{target}}"
        );
    }
    Ok(path)
}

fn relative_to(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `--targets FILE`.
pub fn run_targets(config: &Config, file: &Path) -> anyhow::Result<()> {
    let targets = parse_targets(&read_file(file)?, file)?;
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let recovery = match (&targets.recovery_cert, &config.recovery_cert) {
        (Some(_), Some(_)) => anyhow::bail!(
            "{}: recoveryCert is set; --recovery-cert is not used with it",
            file.display()
        ),
        (Some(p), None) => Some(cert::load_recovery_file(&relative_to(&base, p))?),
        (None, _) => cert::load_recovery(config)?,
    };
    let keys = super::recovery::read_private_keys(&config.recovery_private_keys)?;
    let fingerprint_key = super::fingerprint::load(config)?;
    let mut rng = AppRng::from_env()?;
    let ns = kubeconfig::LazyNamespace::new(&config.kube);
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let secrets = parse_secrets(&input)?;
    if secrets.is_empty() {
        anyhow::bail!("no secrets found. Ensure the input is valid and UTF-8 encoded");
    }
    for t in &targets.targets {
        let source = CertSource::new(
            Some(&t.cert),
            &config.controller_name,
            &config.controller_namespace,
            true,
        );
        let source = match source {
            CertSource::Path(p) => CertSource::Path(relative_to(&base, &p.to_string_lossy())),
            other => other,
        };
        let c = cert::load_source(&source, &config.kube)
            .map_err(|e| e.context(format!("target {:?}: cert {}", t.name, t.cert)))?;
        let params = SealParams {
            scope: config.scope,
            namespace: &ns,
            allow_empty_data: config.allow_empty_data,
            name: None,
            overrides: None,
        };
        // Per output file: the SealedSecrets and the Secrets they were sealed from.
        let mut files: BTreeMap<PathBuf, (Vec<SealedSecret>, Vec<Secret>)> = BTreeMap::new();
        for s in &secrets {
            let mut s = s.clone();
            if let Some(n) = t.namespace.as_deref().filter(|n| !n.is_empty()) {
                s.metadata.namespace = Some(n.to_owned());
            }
            let mut ss = seal_one(&mut rng, c.public_key(), s.clone(), &params)
                .map_err(|e| e.context(format!("target {:?}", t.name)))?;
            if let Some(r) = &recovery {
                super::envelope::attach(
                    &mut rng,
                    std::slice::from_mut(&mut ss),
                    std::slice::from_ref(&s),
                    r.public_key(),
                )?;
            }
            let path = relative_to(&base, &out_path(&t.out, &t.name, &ss)?);
            let entry = files.entry(path).or_default();
            entry.0.push(ss);
            entry.1.push(s);
        }
        for (path, (mut sealed, secrets)) in files {
            let format = if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            {
                Format::Json
            } else {
                Format::Yaml
            };
            let old = std::fs::read(&path).ok();
            let text = match &old {
                Some(old_bytes) => {
                    let kept = super::seal::keep_and_render(
                        &mut sealed,
                        &secrets,
                        old_bytes,
                        &path,
                        &keys,
                        &super::keep::ByObject::new(),
                        fingerprint_key.as_ref(),
                    )?;
                    match kept {
                        Some(t) => t,
                        None => render(&sealed, format)?,
                    }
                }
                None => {
                    super::keep::fingerprint_new(&mut sealed, &secrets, fingerprint_key.as_ref());
                    render(&sealed, format)?
                }
            };
            if old.as_deref() == Some(text.as_bytes()) {
                eprintln!("kubeseal: target {}: {} unchanged", t.name, path.display());
                continue;
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            }
            write_atomic(&path, text.as_bytes())?;
            eprintln!("kubeseal: target {}: wrote {}", t.name, path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_file_is_checked() {
        let p = Path::new("t.yaml");
        let ok = b"apiVersion: sealed-secrets-rs.dev/v1\nkind: SealingTargets\ntargets:\n- {name: a, cert: a.pem, out: 'a/{name}.yaml'}\n";
        assert_eq!(parse_targets(ok, p).unwrap().targets.len(), 1);
        let bad_kind = b"apiVersion: v1\nkind: List\ntargets: []\n";
        assert!(
            parse_targets(bad_kind, p)
                .unwrap_err()
                .to_string()
                .contains("SealingTargets")
        );
        let unknown = b"apiVersion: sealed-secrets-rs.dev/v1\nkind: SealingTargets\ntargets:\n- {name: a, cert: a.pem, out: o, colour: red}\n";
        assert!(
            parse_targets(unknown, p)
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
        let twice = b"apiVersion: sealed-secrets-rs.dev/v1\nkind: SealingTargets\ntargets:\n- {name: a, cert: a.pem, out: o}\n- {name: a, cert: b.pem, out: p}\n";
        assert!(
            parse_targets(twice, p)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
