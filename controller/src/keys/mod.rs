//! The sealing-key registry: key Secrets in the controller namespace, read live from a watch.
//!
//! Upstream reads keys once at start (and, with `--watch-for-secrets`, only added ones). Here a
//! watcher keeps the registry equal to what the namespace holds: added, relabelled and deleted key
//! Secrets take effect without a restart. A malformed key Secret is skipped with a warning (and a
//! metric), never a crash. Old keys are never deleted.
//!
//! [`watcher`] keeps the [`Registry`] in step with the namespace; [`rotation`] generates keys (the
//! first one, after `--key-cutoff-time`, every `--key-renew-period` and on `SIGUSR1`).

pub mod rotation;
pub mod watcher;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use common::annotations::SEALED_SECRETS_KEY_LABEL;
use common::keys::{
    Certificate, CertificateParams, Fingerprint, PrivateKey, self_signed_certificate,
};
use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::watch;

use crate::config::{Config, KeyOrderPriority};

/// One loaded sealing key.
pub struct KeyEntry {
    /// The private key.
    pub key: PrivateKey,
    /// Its certificate (what `/v1/cert.pem` serves for the newest key).
    pub cert: Certificate,
    /// Name of the Secret holding it.
    pub secret_name: String,
    /// When it counts as created, for picking the newest (`--key-order-priority`).
    pub ordering_time: SystemTime,
    /// The Secret's creationTimestamp.
    pub created: Option<SystemTime>,
}

/// An immutable snapshot of all loaded keys, oldest first.
#[derive(Default)]
pub struct KeyRing {
    entries: Vec<Arc<KeyEntry>>,
}

impl KeyRing {
    /// Build from entries; duplicates (same fingerprint) keep the first seen, as a set.
    pub fn new(mut entries: Vec<Arc<KeyEntry>>) -> Self {
        entries.sort_by(|a, b| {
            a.ordering_time
                .cmp(&b.ordering_time)
                .then_with(|| a.secret_name.cmp(&b.secret_name))
        });
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.key.fingerprint().clone()));
        Self { entries }
    }

    /// The active (sealing) key: the newest.
    pub fn newest(&self) -> Option<&Arc<KeyEntry>> {
        self.entries.last()
    }

    /// All keys, oldest first.
    pub fn entries(&self) -> &[Arc<KeyEntry>] {
        &self.entries
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No keys at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys in the order to try: the ones that opened this object before, then newest to oldest.
    /// Each wrong key costs a full RSA private operation.
    pub fn decryption_order<'a>(&'a self, preferred: &[Fingerprint]) -> Vec<&'a PrivateKey> {
        let mut out: Vec<&PrivateKey> = Vec::with_capacity(self.entries.len());
        for f in preferred {
            if let Some(e) = self.entries.iter().find(|e| e.key.fingerprint() == f) {
                out.push(&e.key);
            }
        }
        for e in self.entries.iter().rev() {
            if !out.iter().any(|k| k.fingerprint() == e.key.fingerprint()) {
                out.push(&e.key);
            }
        }
        out
    }
}

/// The shared, live registry.
pub struct Registry {
    ring: RwLock<Arc<KeyRing>>,
    loaded: watch::Sender<bool>,
    changes: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            ring: RwLock::new(Arc::new(KeyRing::default())),
            loaded: watch::channel(false).0,
            changes: watch::channel(0).0,
        }
    }
}

impl Registry {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn replace(&self, ring: KeyRing) {
        let fingerprints = |r: &KeyRing| {
            r.entries()
                .iter()
                .map(|e| e.key.fingerprint().clone())
                .collect::<Vec<_>>()
        };
        let changed = fingerprints(&ring) != fingerprints(&self.snapshot());
        let ring = Arc::new(ring);
        match self.ring.write() {
            Ok(mut g) => *g = ring,
            Err(p) => *p.into_inner() = ring,
        }
        if changed {
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// A receiver that sees a new value whenever the set of keys changes.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// One item per change of the key set after `ready` turns true: the keys it had by then
    /// (the initial load, a first key generated) are no change.
    pub fn changes_after(
        self: &Arc<Self>,
        mut ready: watch::Receiver<bool>,
    ) -> impl futures::Stream<Item = ()> + Send + 'static {
        let registry = self.clone();
        futures::stream::once(async move {
            let _ = ready.wait_for(|v| *v).await;
            registry.subscribe_changes()
        })
        .flat_map(|rx| {
            futures::stream::unfold(rx, |mut rx| async move {
                rx.changed().await.ok()?;
                Some(((), rx))
            })
        })
    }

    /// Whether the initial listing of key Secrets has completed.
    pub fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// A registry already loaded with `entries` (for tests and embedding).
    #[doc(hidden)]
    pub fn from_entries(entries: Vec<Arc<KeyEntry>>) -> Registry {
        Registry {
            ring: RwLock::new(Arc::new(KeyRing::new(entries))),
            loaded: watch::channel(true).0,
            changes: watch::channel(0).0,
        }
    }

    /// Wait until the initial listing has completed.
    pub async fn wait_loaded(&self) {
        let mut rx = self.loaded.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// Why a key Secret was skipped.
#[derive(Debug, thiserror::Error)]
pub enum KeySecretError {
    /// `tls.key` is missing.
    #[error("key Secret has no tls.key")]
    MissingKey,
    /// `tls.crt` is missing.
    #[error("key Secret has no tls.crt")]
    MissingCert,
    /// The key or certificate could not be read.
    #[error(transparent)]
    Key(#[from] common::keys::KeyError),
}

/// Read one key Secret (upstream's `readKey`), checking that its certificate matches the key.
pub fn read_key_secret(
    secret: &Secret,
    order: KeyOrderPriority,
) -> Result<KeyEntry, KeySecretError> {
    let data = secret.data.as_ref();
    let key_pem = data
        .and_then(|d| d.get("tls.key"))
        .ok_or(KeySecretError::MissingKey)?;
    let cert_pem = data
        .and_then(|d| d.get("tls.crt"))
        .ok_or(KeySecretError::MissingCert)?;
    let key = PrivateKey::from_pem(&key_pem.0)?;
    let cert = Certificate::from_pem(&cert_pem.0)?;
    cert.check_matches(&key)?;
    let created = secret
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| SystemTime::from(t.0));
    let ordering_time = match order {
        KeyOrderPriority::CertNotBefore => cert.not_before(),
        KeyOrderPriority::SecretCreationTimestamp => created.unwrap_or(cert.not_before()),
    };
    Ok(KeyEntry {
        key,
        cert,
        secret_name: secret.metadata.name.clone().unwrap_or_default(),
        ordering_time,
        created,
    })
}

/// Is this Secret a sealing key we load: labelled `active`, or the legacy Secret named exactly
/// the key prefix?
pub fn is_key_secret(secret: &Secret, prefix: &str) -> bool {
    let active = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SEALED_SECRETS_KEY_LABEL))
        .is_some_and(|v| v == "active");
    active || secret.metadata.name.as_deref() == Some(prefix)
}

/// The key Secret upstream writes for a new key.
pub fn key_secret(
    config: &Config,
    namespace: &str,
    key: &PrivateKey,
    cert: &Certificate,
) -> Result<Secret, common::keys::KeyError> {
    let mut labels = BTreeMap::new();
    for (k, v) in &config.privatekey_labels {
        if k != SEALED_SECRETS_KEY_LABEL {
            labels.insert(k.clone(), v.clone());
        }
    }
    labels.insert(SEALED_SECRETS_KEY_LABEL.to_owned(), "active".to_owned());
    let annotations: BTreeMap<String, String> =
        config.privatekey_annotations.iter().cloned().collect();
    let key_pem = key.to_pkcs1_pem()?;
    Ok(Secret {
        metadata: ObjectMeta {
            generate_name: Some(config.key_prefix.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(BTreeMap::from([
            (
                "tls.key".to_owned(),
                ByteString(key_pem.as_bytes().to_vec()),
            ),
            ("tls.crt".to_owned(), ByteString(cert.to_pem().into_bytes())),
        ])),
        ..Secret::default()
    })
}

/// Generate a key and its certificate (CPU-heavy: run off the async runtime).
pub fn generate_key(config: &Config) -> Result<(PrivateKey, Certificate), common::keys::KeyError> {
    let mut rng = rand::rng();
    let key = PrivateKey::generate(&mut rng, config.key_size)?;
    let params = CertificateParams {
        common_name: config.my_cn.clone(),
        not_before: SystemTime::now(),
        validity: config.key_ttl,
    };
    let cert = self_signed_certificate(&mut rng, &key, &params)?;
    Ok((key, cert))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) fn config(args: &[&str]) -> Config {
        let mut all = vec!["controller"];
        all.extend_from_slice(args);
        Config::from_args(all).unwrap()
    }

    pub(crate) fn small_config() -> Config {
        config(&["--key-size=1024"])
    }

    #[test]
    fn test_write_key_and_read_it_back() {
        let cfg = config(&[
            "--key-size=1024",
            "--privatekey-labels=team=a,sealedsecrets.bitnami.com/sealed-secrets-key=compromised",
            "--privatekey-annotations=note=x",
        ]);
        let (key, cert) = generate_key(&cfg).unwrap();
        let s = key_secret(&cfg, "kube-system", &key, &cert).unwrap();
        assert_eq!(
            s.metadata.generate_name.as_deref(),
            Some("sealed-secrets-key")
        );
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        let labels = s.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[SEALED_SECRETS_KEY_LABEL], "active");
        assert_eq!(labels["team"], "a");
        assert_eq!(s.metadata.annotations.as_ref().unwrap()["note"], "x");
        let pem = &s.data.as_ref().unwrap()["tls.key"].0;
        assert!(pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
        let mut named = s.clone();
        named.metadata.name = Some("sealed-secrets-keyabcde".into());
        let entry = read_key_secret(&named, KeyOrderPriority::CertNotBefore).unwrap();
        assert_eq!(entry.key.fingerprint(), key.fingerprint());
        assert!(is_key_secret(&named, "sealed-secrets-key"));
    }

    #[test]
    fn test_read_key_rejects_malformed() {
        let cfg = small_config();
        let (key, cert) = generate_key(&cfg).unwrap();
        let (_, other_cert) = generate_key(&cfg).unwrap();
        let good = key_secret(&cfg, "ns", &key, &cert).unwrap();
        let mut no_crt = good.clone();
        no_crt.data.as_mut().unwrap().remove("tls.crt");
        assert!(matches!(
            read_key_secret(&no_crt, KeyOrderPriority::CertNotBefore),
            Err(KeySecretError::MissingCert)
        ));
        let mut bad_pem = good.clone();
        bad_pem
            .data
            .as_mut()
            .unwrap()
            .insert("tls.key".into(), ByteString(b"garbage".to_vec()));
        assert!(read_key_secret(&bad_pem, KeyOrderPriority::CertNotBefore).is_err());
        let mut mismatch = good.clone();
        mismatch.data.as_mut().unwrap().insert(
            "tls.crt".into(),
            ByteString(other_cert.to_pem().into_bytes()),
        );
        assert!(read_key_secret(&mismatch, KeyOrderPriority::CertNotBefore).is_err());
    }

    #[test]
    fn test_legacy_secret_is_a_key() {
        let mut s = Secret::default();
        s.metadata.name = Some("sealed-secrets-key".into());
        assert!(is_key_secret(&s, "sealed-secrets-key"));
        s.metadata.name = Some("other".into());
        assert!(!is_key_secret(&s, "sealed-secrets-key"));
        s.metadata.labels = Some(BTreeMap::from([(
            SEALED_SECRETS_KEY_LABEL.into(),
            "compromised".into(),
        )]));
        assert!(!is_key_secret(&s, "sealed-secrets-key"));
    }

    pub(crate) fn entry(cfg: &Config, name: &str, t: u64) -> Arc<KeyEntry> {
        let (key, cert) = generate_key(cfg).unwrap();
        Arc::new(KeyEntry {
            key,
            cert,
            secret_name: name.into(),
            ordering_time: SystemTime::UNIX_EPOCH + Duration::from_secs(t),
            created: None,
        })
    }

    #[tokio::test]
    async fn key_changes_count_from_ready_not_the_initial_load() {
        let cfg = small_config();
        let registry = Arc::new(Registry::default());
        let (ready, ready_rx) = watch::channel(false);
        let mut changes = Box::pin(registry.changes_after(ready_rx));
        // The initial load, before the keys are ready: no change to retry for.
        registry.replace(KeyRing::new(vec![entry(&cfg, "a", 10)]));
        ready.send_replace(true);
        tokio::task::yield_now().await;
        assert!(
            futures::FutureExt::now_or_never(changes.next()).is_none(),
            "the initial load counted as a change"
        );
        // A new key afterwards is one.
        registry.replace(KeyRing::new(vec![
            entry(&cfg, "a", 10),
            entry(&cfg, "b", 20),
        ]));
        let next = tokio::time::timeout(Duration::from_secs(5), changes.next()).await;
        assert_eq!(
            next.ok(),
            Some(Some(())),
            "a key added after ready is a change"
        );
    }

    #[test]
    fn test_newest_and_decryption_order() {
        let cfg = small_config();
        let a = entry(&cfg, "a", 10);
        let b = entry(&cfg, "b", 30);
        let c = entry(&cfg, "c", 20);
        let ring = KeyRing::new(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(ring.newest().unwrap().secret_name, "b");
        let order: Vec<_> = ring
            .decryption_order(&[a.key.fingerprint().clone()])
            .iter()
            .map(|k| k.fingerprint().clone())
            .collect();
        assert_eq!(
            order,
            vec![
                a.key.fingerprint().clone(),
                b.key.fingerprint().clone(),
                c.key.fingerprint().clone()
            ]
        );
    }
}
