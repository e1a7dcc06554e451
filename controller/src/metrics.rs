//! Prometheus metrics with upstream's names and labels, plus key-inventory gauges.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::keys::KeyRing;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: &'static str,
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub namespace: String,
    pub name: String,
    pub condition: String,
    pub ss_app_kubernetes_io_instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub path: &'static str,
    pub code: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpDurationLabels {
    pub path: &'static str,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FingerprintLabels {
    pub fingerprint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub revision: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub unseal_requests: Counter,
    pub unseal_errors: Family<ErrorLabels, Counter>,
    pub condition_info: Family<ConditionLabels, Gauge>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpDurationLabels, Histogram>,
    /// RSA-OAEP private operations attempted (one per encrypted item and key tried).
    pub rsa_decryptions: Counter,
    /// Reconciles answered from status without decrypting.
    pub skipped_in_sync: Counter,
    pub invalid_key_secrets: Counter,
    pub keys: Gauge,
    newest_key_time: AtomicU64,
    pub newest_key_age: Gauge<f64, AtomicU64>,
    pub key_objects: Family<FingerprintLabels, Gauge>,
    opened: Mutex<HashMap<(String, String), String>>,
    conditions: Mutex<HashMap<(String, String), ConditionLabels>>,
}

impl Metrics {
    /// Register every metric, present at zero from the start.
    pub fn new(version: &str) -> Self {
        let mut registry = Registry::with_prefix("sealed_secrets_controller");
        let build_info = Family::<BuildLabels, Gauge>::default();
        // Upstream never sets it, so it reads 0; we keep that.
        let _ = build_info.get_or_create(&BuildLabels {
            revision: version.to_owned(),
        });
        registry.register("build_info", "Build information", build_info);
        let m = Self {
            registry: Mutex::new(Registry::default()),
            unseal_requests: Counter::default(),
            unseal_errors: Family::default(),
            condition_info: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 12))
            }),
            rsa_decryptions: Counter::default(),
            skipped_in_sync: Counter::default(),
            invalid_key_secrets: Counter::default(),
            keys: Gauge::default(),
            newest_key_time: AtomicU64::new(0),
            newest_key_age: Gauge::default(),
            key_objects: Family::default(),
            opened: Mutex::new(HashMap::new()),
            conditions: Mutex::new(HashMap::new()),
        };
        registry.register(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            m.unseal_requests.clone(),
        );
        registry.register(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            m.unseal_errors.clone(),
        );
        registry.register("condition_info", "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)", m.condition_info.clone());
        registry.register(
            "http_requests",
            "Total number of HTTP requests by path, code and method",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration by path and method",
            m.http_duration.clone(),
        );
        registry.register(
            "rsa_decryptions",
            "RSA private-key operations attempted while unsealing",
            m.rsa_decryptions.clone(),
        );
        registry.register(
            "reconciles_in_sync",
            "Reconciles answered from status without decrypting",
            m.skipped_in_sync.clone(),
        );
        registry.register(
            "invalid_key_secrets",
            "Key Secrets skipped because they could not be read",
            m.invalid_key_secrets.clone(),
        );
        registry.register("keys", "Number of sealing keys loaded", m.keys.clone());
        registry.register(
            "newest_key_age_seconds",
            "Age of the active (newest) sealing key",
            m.newest_key_age.clone(),
        );
        registry.register(
            "key_unsealed_objects",
            "SealedSecrets last opened with each key, by fingerprint",
            m.key_objects.clone(),
        );
        // Pre-create the error series so they are present at zero.
        for reason in ["fetch", "unseal", "update", "unmanaged", "status"] {
            let _ = m.unseal_errors.get_or_create(&ErrorLabels {
                reason,
                namespace: String::new(),
            });
        }
        if let Ok(mut r) = m.registry.lock() {
            *r = registry;
        }
        m
    }

    /// Record an error by reason.
    pub fn error(&self, reason: &'static str, namespace: &str) {
        self.unseal_errors
            .get_or_create(&ErrorLabels {
                reason,
                namespace: namespace.to_owned(),
            })
            .inc();
    }

    /// Update the key inventory.
    pub fn observe_keys(&self, ring: &KeyRing) {
        self.keys.set(ring.len() as i64);
        let t = ring
            .newest()
            .and_then(|k| k.ordering_time.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.newest_key_time
            .store(t, std::sync::atomic::Ordering::Relaxed);
        for e in ring.entries() {
            let _ = self.key_objects.get_or_create(&FingerprintLabels {
                fingerprint: e.key.fingerprint().to_string(),
            });
        }
    }

    /// Remember which key opened an object (None: forget it).
    pub fn observe_opened(&self, namespace: &str, name: &str, fingerprint: Option<&str>) {
        let Ok(mut opened) = self.opened.lock() else {
            return;
        };
        let key = (namespace.to_owned(), name.to_owned());
        let previous = match fingerprint {
            Some(f) => opened.insert(key, f.to_owned()),
            None => opened.remove(&key),
        };
        if previous.as_deref() == fingerprint {
            return;
        }
        if let Some(p) = previous {
            self.key_objects
                .get_or_create(&FingerprintLabels { fingerprint: p })
                .dec();
        }
        if let Some(f) = fingerprint {
            self.key_objects
                .get_or_create(&FingerprintLabels {
                    fingerprint: f.to_owned(),
                })
                .inc();
        }
    }

    /// Set the condition gauge of one SealedSecret (-1 False, 0 Unknown/absent, 1 True).
    pub fn observe_condition(&self, labels: ConditionLabels, status: Option<&str>) {
        let v = match status {
            Some("True") => 1,
            Some("False") => -1,
            _ => 0,
        };
        if let Ok(mut seen) = self.conditions.lock() {
            let key = (labels.namespace.clone(), labels.name.clone());
            if let Some(old) = seen.insert(key, labels.clone())
                && old != labels
            {
                self.condition_info.remove(&old);
            }
        }
        self.condition_info.get_or_create(&labels).set(v);
    }

    /// Forget a deleted SealedSecret's series.
    pub fn unregister_condition(&self, namespace: &str, name: &str) {
        if let Ok(mut seen) = self.conditions.lock()
            && let Some(labels) = seen.remove(&(namespace.to_owned(), name.to_owned()))
        {
            self.condition_info.remove(&labels);
        }
        self.observe_opened(namespace, name, None);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let t = self
            .newest_key_time
            .load(std::sync::atomic::Ordering::Relaxed);
        if t > 0 {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.newest_key_age.set((now - t as f64).max(0.0));
        }
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
}
