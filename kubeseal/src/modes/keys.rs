//! `kubeseal keys backup|restore|list` (beyond upstream, #1588): manage the controller's sealing
//! key Secrets through the API server. Needs `get`, `list` (and `create` for restore) on Secrets
//! in the controller namespace.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use common::annotations::{
    BACKUP_CREATED_ANNOTATION, KUBECTL_LAST_APPLIED_ANNOTATION, SEALED_SECRETS_KEY_LABEL,
};
use common::documents::{parse_documents, secret_from_value, unwrap_lists};
use common::keys::{Certificate, PrivateKey};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};

use crate::cluster::Online;
use crate::config::{Config, KeysCommand};
use crate::io::{read_file, write_private, write_stdout};

/// The legacy key Secret name (and the controller's default `--key-prefix`).
pub const LEGACY_KEY_NAME: &str = "sealed-secrets-key";

/// Run a `kubeseal keys …` command.
pub fn run(cmd: &KeysCommand, config: &Config) -> anyhow::Result<()> {
    let online = Online::connect(&config.kube)?;
    let ns = config.controller_namespace.as_str();
    match cmd {
        KeysCommand::Backup { output } => backup(&online, ns, output),
        KeysCommand::Restore { file } => restore(&online, ns, file),
        KeysCommand::List => list(&online, ns),
    }
}

fn api_error(e: kube::Error, what: &str, ns: &str, verbs: &str) -> anyhow::Error {
    match &e {
        kube::Error::Api(s) if s.code == 403 => anyhow::anyhow!(
            "cannot {what} in namespace {ns:?}: forbidden: kubeseal keys needs {verbs} on \"secrets\" in namespace {ns:?}: {}",
            s.message
        ),
        _ => anyhow::anyhow!("cannot {what} in namespace {ns:?}: {e}"),
    }
}

/// Every sealing key Secret of `ns`: labelled `sealedsecrets.bitnami.com/sealed-secrets-key` (any
/// value) and the legacy `sealed-secrets-key`, sorted by name.
pub fn key_secrets(online: &Online, ns: &str) -> anyhow::Result<Vec<Secret>> {
    let api: Api<Secret> = Api::namespaced(online.client(), ns);
    online.block_on(async move {
        let mut items = api
            .list(&ListParams::default().labels(SEALED_SECRETS_KEY_LABEL))
            .await
            .map_err(|e| api_error(e, "list the key secrets", ns, "\"list\""))?
            .items;
        if !items
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(LEGACY_KEY_NAME))
            && let Some(s) = api
                .get_opt(LEGACY_KEY_NAME)
                .await
                .map_err(|e| api_error(e, "get the legacy key secret", ns, "\"get\""))?
        {
            items.push(s);
        }
        items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(items)
    })
}

fn data<'a>(s: &'a Secret, key: &str) -> Option<&'a [u8]> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice())
}

fn label(s: &Secret) -> Option<&str> {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SEALED_SECRETS_KEY_LABEL))
        .map(String::as_str)
}

/// Does the controller load this key (labelled `active`, or the legacy name)?
pub fn is_loaded(s: &Secret) -> bool {
    label(s) == Some("active") || s.metadata.name.as_deref() == Some(LEGACY_KEY_NAME)
}

/// The public fingerprint of the key in `tls.key`.
pub fn fingerprint(s: &Secret) -> anyhow::Result<String> {
    let pem = data(s, "tls.key").ok_or_else(|| anyhow::anyhow!("no 'tls.key'"))?;
    let pem = zeroize::Zeroizing::new(pem.to_vec());
    Ok(PrivateKey::from_pem(&pem)?.fingerprint().to_string())
}

/// A key Secret without server-set fields, ready to be created again.
pub fn strip_for_backup(s: &Secret) -> Secret {
    let mut annotations = s.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(KUBECTL_LAST_APPLIED_ANNOTATION);
    if let Some(t) = &s.metadata.creation_timestamp {
        annotations
            .entry(BACKUP_CREATED_ANNOTATION.into())
            .or_insert_with(|| t.0.to_string());
    }
    Secret {
        metadata: ObjectMeta {
            name: s.metadata.name.clone(),
            namespace: s.metadata.namespace.clone(),
            labels: s.metadata.labels.clone(),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        type_: s.type_.clone(),
        data: s.data.clone(),
        ..Secret::default()
    }
}

/// The backup document: a `v1.List` of the stripped key Secrets, as YAML.
pub fn backup_yaml(secrets: &[Secret]) -> anyhow::Result<String> {
    let items: Vec<serde_json::Value> = secrets
        .iter()
        .map(|s| serde_json::to_value(strip_for_backup(s)))
        .collect::<Result<_, _>>()?;
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let mut opts = serde_saphyr::SerializerOptions::default();
    opts.folded_wrap_chars = usize::MAX;
    Ok(serde_saphyr::to_string_with_options(&list, opts)?)
}

fn backup(online: &Online, ns: &str, output: &Path) -> anyhow::Result<()> {
    let secrets = key_secrets(online, ns)?;
    if secrets.is_empty() {
        anyhow::bail!("no sealing key secrets found in namespace {ns:?}");
    }
    let yaml = zeroize::Zeroizing::new(backup_yaml(&secrets)?);
    if output.as_os_str() == "-" {
        write_stdout(yaml.as_bytes())?;
        eprintln!(
            "warning: the output holds the controller's PRIVATE sealing keys ({} key(s)): anyone who has it can decrypt every SealedSecret sealed with them. Store it encrypted and offline (e.g. a password manager or vault), never in git.",
            secrets.len()
        );
        return Ok(());
    }
    write_private(output, yaml.as_bytes())?;
    eprintln!(
        "wrote {} key(s) from namespace {ns:?} to {} (mode 0600)",
        secrets.len(),
        output.display()
    );
    eprintln!(
        "warning: {} holds the controller's PRIVATE sealing keys: anyone who has it can decrypt every SealedSecret sealed with them. Store it encrypted and offline (e.g. a password manager or vault), never in git. Restore with `kubeseal keys restore {}`; offline use: `kubeseal --recovery-unseal --recovery-private-key {}`.",
        output.display(),
        output.display(),
        output.display()
    );
    Ok(())
}

/// Key Secrets of a backup file (`v1.List`, `SecretList` or Secrets, JSON or YAML).
pub fn read_backup(bytes: &[u8]) -> anyhow::Result<Vec<Secret>> {
    let docs = unwrap_lists(parse_documents(bytes)?);
    let mut out = Vec::new();
    for d in docs {
        let s = secret_from_value(d)?;
        let name = s.metadata.name.clone().unwrap_or_default();
        let key = data(&s, "tls.key")
            .ok_or_else(|| anyhow::anyhow!("secret {name:?} has no 'tls.key'"))?;
        let crt = data(&s, "tls.crt")
            .ok_or_else(|| anyhow::anyhow!("secret {name:?} has no 'tls.crt'"))?;
        let key = PrivateKey::from_pem(&zeroize::Zeroizing::new(key.to_vec()))
            .map_err(|e| anyhow::anyhow!("secret {name:?}: {e}"))?;
        Certificate::from_pem(crt)
            .and_then(|c| c.check_matches(&key))
            .map_err(|e| anyhow::anyhow!("secret {name:?}: {e}"))?;
        out.push(s);
    }
    if out.is_empty() {
        anyhow::bail!("no key secrets found in the backup");
    }
    Ok(out)
}

fn restore(online: &Online, ns: &str, file: &Path) -> anyhow::Result<()> {
    let bytes = zeroize::Zeroizing::new(read_file(file)?);
    let wanted = read_backup(&bytes)?;
    let existing = key_secrets(online, ns)?;
    let mut present: BTreeMap<String, String> = BTreeMap::new();
    for s in &existing {
        if let Ok(fp) = fingerprint(s) {
            present.insert(fp, s.metadata.name.clone().unwrap_or_default());
        }
    }
    let api: Api<Secret> = Api::namespaced(online.client(), ns);
    let (mut created, mut skipped) = (0usize, 0usize);
    for s in wanted {
        let fp = fingerprint(&s)?;
        let orig = s.metadata.name.clone().unwrap_or_default();
        if let Some(have) = present.get(&fp) {
            println!("skipped {orig}: key {fp} is already present as {have}");
            skipped += 1;
            continue;
        }
        let mut labels = s.metadata.labels.clone().unwrap_or_default();
        labels.insert(SEALED_SECRETS_KEY_LABEL.into(), "active".into());
        let mut annotations = s.metadata.annotations.clone().unwrap_or_default();
        annotations.remove(KUBECTL_LAST_APPLIED_ANNOTATION);
        let mut new = Secret {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                labels: Some(labels),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: s.data.clone(),
            ..Secret::default()
        };
        let api = api.clone();
        let name = online.block_on(async move {
            let taken = if orig.is_empty() {
                true
            } else {
                api.get_opt(&orig)
                    .await
                    .map_err(|e| api_error(e, "get secrets", ns, "\"get\""))?
                    .is_some()
            };
            if taken {
                new.metadata.generate_name = Some(LEGACY_KEY_NAME.into());
            } else {
                new.metadata.name = Some(orig.clone());
            }
            let c = api
                .create(&PostParams::default(), &new)
                .await
                .map_err(|e| api_error(e, "create a key secret", ns, "\"create\""))?;
            Ok(c.metadata.name.unwrap_or_default())
        })?;
        let s_name = s.metadata.name.clone().unwrap_or_default();
        if name == s_name {
            println!("created {name}: key {fp}");
        } else {
            println!("created {name}: key {fp} (from {s_name:?}; that name is taken)");
        }
        present.insert(fp, name);
        created += 1;
    }
    println!(
        "restored {created} key(s), skipped {skipped} already present, in namespace {ns}; the controller picks them up without a restart"
    );
    Ok(())
}

fn rfc3339(t: SystemTime) -> String {
    k8s_openapi::jiff::Timestamp::try_from(t)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "?".into())
}

/// One row of `keys list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Secret name.
    pub name: String,
    /// Public key fingerprint.
    pub fingerprint: String,
    /// `creationTimestamp` (RFC 3339).
    pub created: String,
    /// Certificate NotBefore, for ordering.
    pub not_before: Option<SystemTime>,
    /// Certificate NotAfter (RFC 3339).
    pub not_after: String,
    /// The key label's value, `-` when absent.
    pub label: String,
    /// Loaded by the controller.
    pub loaded: bool,
    /// The key the controller seals with (newest NotBefore among the loaded ones).
    pub active: bool,
}

/// Rows for `keys list`, sorted by NotBefore, with the active one marked.
pub fn rows(secrets: &[Secret]) -> Vec<KeyRow> {
    let mut rows: Vec<KeyRow> = secrets
        .iter()
        .map(|s| {
            let cert = data(s, "tls.crt").and_then(|c| Certificate::from_pem(c).ok());
            KeyRow {
                name: s.metadata.name.clone().unwrap_or_default(),
                fingerprint: fingerprint(s).unwrap_or_else(|_| "?".into()),
                created: s
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| rfc3339(SystemTime::from(t.0)))
                    .unwrap_or_else(|| "-".into()),
                not_before: cert.as_ref().map(|c| c.not_before()),
                not_after: cert
                    .as_ref()
                    .map(|c| rfc3339(c.not_after()))
                    .unwrap_or_else(|| "?".into()),
                label: label(s).unwrap_or("-").to_string(),
                loaded: is_loaded(s) && cert.is_some(),
                active: false,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.not_before.cmp(&b.not_before).then(a.name.cmp(&b.name)));
    if let Some(r) = rows.iter_mut().rev().find(|r| r.loaded) {
        r.active = true;
    }
    rows
}

/// The table `keys list` prints.
pub fn table(rows: &[KeyRow]) -> String {
    let head = [
        "NAME",
        "FINGERPRINT",
        "CREATED",
        "NOT-AFTER",
        "LABEL",
        "ACTIVE",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.fingerprint.clone(),
                r.created.clone(),
                r.not_after.clone(),
                r.label.clone(),
                if r.active {
                    "ACTIVE".into()
                } else if r.loaded {
                    String::new()
                } else {
                    "(not loaded)".into()
                },
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, v) in width.iter_mut().zip(c) {
            *w = (*w).max(v.len());
        }
    }
    let line = |vals: Vec<&str>| {
        let mut s = String::new();
        for (i, (v, w)) in vals.iter().zip(width).enumerate() {
            if i + 1 == vals.len() {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}   "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for c in &cells {
        out.push_str(&line(c.iter().map(String::as_str).collect()));
    }
    out
}

fn list(online: &Online, ns: &str) -> anyhow::Result<()> {
    let secrets = key_secrets(online, ns)?;
    if secrets.is_empty() {
        eprintln!("no sealing key secrets in namespace {ns:?}");
        return Ok(());
    }
    write_stdout(table(&rows(&secrets)).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn key_secret(name: &str, label: Option<&str>, age_days: u64) -> Secret {
        let mut rng = crate::rng::AppRng::from_env().unwrap();
        let key = PrivateKey::generate(&mut rng, 2048).unwrap();
        let params = common::keys::CertificateParams {
            common_name: String::new(),
            not_before: SystemTime::now() - std::time::Duration::from_secs(age_days * 86_400),
            validity: common::keys::DEFAULT_CERT_VALIDITY,
        };
        let cert = common::keys::self_signed_certificate(&mut rng, &key, &params).unwrap();
        let mut data = BTreeMap::new();
        data.insert(
            "tls.key".to_string(),
            ByteString(key.to_pkcs1_pem().unwrap().as_bytes().to_vec()),
        );
        data.insert(
            "tls.crt".to_string(),
            ByteString(cert.to_pem().into_bytes()),
        );
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some("u".into()),
                resource_version: Some("1".into()),
                labels: label.map(|l| {
                    BTreeMap::from([(SEALED_SECRETS_KEY_LABEL.to_string(), l.to_string())])
                }),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data),
            ..Secret::default()
        }
    }

    #[test]
    fn backup_round_trips_and_strips_server_fields() {
        let a = key_secret("sealed-secrets-keyabc", Some("active"), 1);
        let yaml = backup_yaml(std::slice::from_ref(&a)).unwrap();
        assert!(yaml.contains("kind: List"));
        assert!(!yaml.contains("uid"));
        assert!(!yaml.contains("resourceVersion"));
        let back = read_backup(yaml.as_bytes()).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(fingerprint(&back[0]).unwrap(), fingerprint(&a).unwrap());
        // Usable by --recovery-private-key.
        let keys = crate::modes::recovery::parse_private_keys(yaml.as_bytes()).unwrap();
        assert_eq!(keys[0].fingerprint().to_string(), fingerprint(&a).unwrap());
    }

    #[test]
    fn active_is_newest_loaded() {
        let a = key_secret("k-a", Some("active"), 3);
        let b = key_secret("k-b", Some("active"), 2);
        let c = key_secret("k-c", Some("compromised"), 1);
        let r = rows(&[c, b, a]);
        let names: Vec<_> = r.iter().map(|r| (r.name.as_str(), r.active)).collect();
        assert_eq!(names, [("k-a", false), ("k-b", true), ("k-c", false)]);
        let t = table(&r);
        assert!(t.starts_with("NAME"));
        assert!(t.lines().nth(2).unwrap().ends_with("ACTIVE"), "{t}");
        assert!(t.contains("(not loaded)"));
        // Columns line up: every fingerprint starts under the FINGERPRINT header.
        let lines: Vec<&str> = t.lines().collect();
        let at = lines[0].find("FINGERPRINT").unwrap();
        for l in &lines[1..] {
            assert!(l.get(at..).unwrap().starts_with("SHA256:"), "{t}");
        }
    }
}
