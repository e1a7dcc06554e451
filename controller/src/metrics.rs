//! Prometheus metrics as upstream's `/metrics` serves them (`pkg/controller/metrics.go` behind
//! client_golang's `promhttp.Handler()`): the same names, types, labels and help texts, the
//! `process_*` and `promhttp_metric_handler_*` metrics of Go's default registry, in the
//! Prometheus text format 0.0.4; plus our key-inventory metrics. Go's `go_*` runtime metrics
//! have no Rust meaning and are not exported (docs/compatibility.md).

mod process;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use process::{ProcessCollector, Snapshot as ProcessSnapshot};

/// The `Content-Type` of the answer, exactly what `promhttp.Handler()` sends (client_golang
/// 1.23, prometheus/common 0.66). promhttp's default `HandlerOpts` never negotiates
/// OpenMetrics, whatever the scraper's `Accept` header says.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

/// Prometheus' `DefBuckets`, which upstream's request-duration histogram uses.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A metric registered with its help text exactly as given (the registry's own `register`
/// appends a `.`, which upstream's texts do not all have).
#[derive(Debug)]
struct Described<M> {
    name: &'static str,
    help: &'static str,
    metric: M,
}

impl<M: EncodeMetric + fmt::Debug + Send + Sync + 'static> Collector for Described<M> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        if self.metric.is_empty() {
            return Ok(());
        }
        let m = encoder.encode_descriptor(self.name, self.help, None, self.metric.metric_type())?;
        self.metric.encode(m)
    }
}

fn described<M: EncodeMetric + fmt::Debug + Send + Sync + 'static>(
    name: &'static str,
    help: &'static str,
    metric: M,
) -> Box<dyn Collector> {
    Box::new(Described { name, help, metric })
}

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
    /// promhttp's lower-case method name, `unknown` for others ([`method_label`]).
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpDurationLabels {
    pub path: &'static str,
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScrapeLabels {
    pub code: &'static str,
}

/// client_golang's `sanitizeMethod`: the standard methods (and NOTIFY) in lower case, when
/// sent in upper or lower case; anything else is `unknown`, so a caller cannot grow the series.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" | "get" => "get",
        "PUT" | "put" => "put",
        "HEAD" | "head" => "head",
        "POST" | "post" => "post",
        "DELETE" | "delete" => "delete",
        "CONNECT" | "connect" => "connect",
        "OPTIONS" | "options" => "options",
        "NOTIFY" | "notify" => "notify",
        "TRACE" | "trace" => "trace",
        "PATCH" | "patch" => "patch",
        _ => "unknown",
    }
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
    /// `promhttp_metric_handler_requests_total{code}`: scrapes answered.
    pub scrapes: Family<ScrapeLabels, Counter>,
    /// `promhttp_metric_handler_requests_in_flight`.
    pub scrapes_in_flight: Gauge,
    /// RSA-OAEP private operations attempted (one per encrypted item and key tried).
    pub rsa_decryptions: Counter,
    /// Reconciles answered from status without decrypting.
    pub skipped_in_sync: Counter,
    pub invalid_key_secrets: Counter,
    pub keys: Gauge,
    newest_key_time: AtomicU64,
    pub newest_key_age: Gauge<f64, AtomicU64>,
    pub key_objects: Family<FingerprintLabels, Gauge>,
    /// Per SealedSecret: what its series need to be updated and removed (one map for all).
    objects: Mutex<ObjectSeries>,
}

/// What the per-object series need remembered, by `(namespace, name)`: one entry per object (at
/// 10,000 SealedSecrets, a map per series and a copy of every fingerprint cost ≈ 3 MB more).
#[derive(Default)]
struct ObjectSeries {
    by_object: HashMap<(String, String), Series>,
    /// Every fingerprint seen, shared by the objects it opened.
    fingerprints: HashSet<Arc<str>>,
}

#[derive(Default)]
struct Series {
    /// `condition` and `ss_app_kubernetes_io_instance` of its `condition_info` series.
    condition: Option<(String, String)>,
    /// The key that last opened it (its `key_objects` count).
    opened: Option<Arc<str>>,
}

/// The label set of one object's `condition_info` series from what [`Series`] keeps of it.
fn condition_series(
    namespace: &str,
    name: &str,
    (condition, instance): (String, String),
) -> ConditionLabels {
    ConditionLabels {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        condition,
        ss_app_kubernetes_io_instance: instance,
    }
}

impl ObjectSeries {
    fn intern(&mut self, fingerprint: &str) -> Arc<str> {
        if let Some(f) = self.fingerprints.get(fingerprint) {
            return f.clone();
        }
        let f: Arc<str> = fingerprint.into();
        self.fingerprints.insert(f.clone());
        f
    }
}

impl Metrics {
    /// Register every metric, present at zero from the start.
    pub fn new(version: &str) -> Self {
        let m = Self {
            registry: Mutex::new(Registry::default()),
            unseal_requests: Counter::default(),
            unseal_errors: Family::default(),
            condition_info: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(|| {
                Histogram::new(DEFAULT_BUCKETS.iter().copied())
            }),
            scrapes: Family::default(),
            scrapes_in_flight: Gauge::default(),
            rsa_decryptions: Counter::default(),
            skipped_in_sync: Counter::default(),
            invalid_key_secrets: Counter::default(),
            keys: Gauge::default(),
            newest_key_time: AtomicU64::new(0),
            newest_key_age: Gauge::default(),
            key_objects: Family::default(),
            objects: Mutex::new(ObjectSeries::default()),
        };
        // Go's default registry: the process collector and promhttp's own metrics, unprefixed.
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        // promhttp creates these three codes at zero.
        for code in ["200", "500", "503"] {
            let _ = m.scrapes.get_or_create(&ScrapeLabels { code });
        }
        root.register_collector(described(
            "promhttp_metric_handler_requests",
            "Total number of scrapes by HTTP status code.",
            m.scrapes.clone(),
        ));
        root.register_collector(described(
            "promhttp_metric_handler_requests_in_flight",
            "Current number of scrapes being served.",
            m.scrapes_in_flight.clone(),
        ));
        let registry = root.sub_registry_with_prefix("sealed_secrets_controller");
        let build_info = Family::<BuildLabels, Gauge>::default();
        // Upstream never sets it, so it reads 0; we keep that.
        let _ = build_info.get_or_create(&BuildLabels {
            revision: version.to_owned(),
        });
        // Upstream's metrics with upstream's help texts.
        registry.register_collector(described("build_info", "Build information.", build_info));
        registry.register_collector(described(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            m.unseal_requests.clone(),
        ));
        registry.register_collector(described(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            m.unseal_errors.clone(),
        ));
        registry.register_collector(described(
            "condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
            m.condition_info.clone(),
        ));
        registry.register_collector(described(
            "http_requests",
            "A counter for requests to the wrapped handler.",
            m.http_requests.clone(),
        ));
        registry.register_collector(described(
            "http_request_duration_seconds",
            "A histogram of latencies for requests.",
            m.http_duration.clone(),
        ));
        // Ours.
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
            *r = root;
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
        let Ok(mut objects) = self.objects.lock() else {
            return;
        };
        let key = (namespace.to_owned(), name.to_owned());
        let previous = match fingerprint {
            Some(f) => {
                let f = objects.intern(f);
                objects.by_object.entry(key).or_default().opened.replace(f)
            }
            None => match objects.by_object.get_mut(&key) {
                Some(series) => {
                    let previous = series.opened.take();
                    if series.condition.is_none() {
                        objects.by_object.remove(&key);
                    }
                    previous
                }
                None => None,
            },
        };
        drop(objects);
        if previous.as_deref() != fingerprint {
            self.count_opened(previous.as_deref(), fingerprint);
        }
    }

    /// Move one object's count in `key_objects` from `from` to `to`.
    fn count_opened(&self, from: Option<&str>, to: Option<&str>) {
        if let Some(p) = from {
            self.key_objects
                .get_or_create(&FingerprintLabels {
                    fingerprint: p.to_owned(),
                })
                .dec();
        }
        if let Some(f) = to {
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
        if let Ok(mut objects) = self.objects.lock() {
            let key = (labels.namespace.clone(), labels.name.clone());
            let series = objects.by_object.entry(key).or_default();
            let same = series.condition.as_ref().is_some_and(|(c, i)| {
                *c == labels.condition && *i == labels.ss_app_kubernetes_io_instance
            });
            if !same {
                let new = (
                    labels.condition.clone(),
                    labels.ss_app_kubernetes_io_instance.clone(),
                );
                if let Some(old) = series.condition.replace(new) {
                    self.condition_info.remove(&condition_series(
                        &labels.namespace,
                        &labels.name,
                        old,
                    ));
                }
            }
        }
        self.condition_info.get_or_create(&labels).set(v);
    }

    /// Forget a deleted SealedSecret's series.
    pub fn unregister_condition(&self, namespace: &str, name: &str) {
        let removed = self
            .objects
            .lock()
            .ok()
            .and_then(|mut o| o.by_object.remove(&(namespace.to_owned(), name.to_owned())));
        let Some(series) = removed else {
            return;
        };
        if let Some(old) = series.condition {
            self.condition_info
                .remove(&condition_series(namespace, name, old));
        }
        self.count_opened(series.opened.as_deref(), None);
    }

    /// The exposition in the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
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
            let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str, instance: &str) -> ConditionLabels {
        ConditionLabels {
            namespace: "ns".into(),
            name: name.into(),
            condition: "Synced".into(),
            ss_app_kubernetes_io_instance: instance.into(),
        }
    }

    fn lines(m: &Metrics, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = m
            .encode()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn one_condition_series_per_object_moved_when_its_labels_change() {
        let m = Metrics::new("test");
        m.observe_condition(labels("a", ""), Some("True"));
        m.observe_condition(labels("b", ""), Some("False"));
        m.observe_condition(labels("a", "app1"), Some("True"));
        let got = lines(&m, "sealed_secrets_controller_condition_info{");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.iter()
                .any(|l| l.contains("name=\"a\"") && l.contains("app1"))
        );
        assert!(
            got.iter()
                .any(|l| l.contains("name=\"b\"") && l.ends_with(" -1"))
        );
        m.unregister_condition("ns", "a");
        let got = lines(&m, "sealed_secrets_controller_condition_info{");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("name=\"b\""));
    }

    #[test]
    fn key_objects_count_each_object_once_under_its_last_key() {
        let m = Metrics::new("test");
        let count = |fp: &str| {
            lines(&m, "sealed_secrets_controller_key_unsealed_objects{")
                .iter()
                .find(|l| l.contains(fp))
                .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
                .unwrap_or(0)
        };
        m.observe_condition(labels("a", ""), Some("True"));
        m.observe_opened("ns", "a", Some("f1"));
        m.observe_opened("ns", "a", Some("f1"));
        m.observe_opened("ns", "b", Some("f1"));
        assert_eq!(count("f1"), 2);
        m.observe_opened("ns", "a", Some("f2"));
        assert_eq!((count("f1"), count("f2")), (1, 1));
        m.observe_opened("ns", "b", None);
        assert_eq!(count("f1"), 0);
        // Deleting the object drops its count and its condition series.
        m.unregister_condition("ns", "a");
        assert_eq!(count("f2"), 0);
        assert!(lines(&m, "sealed_secrets_controller_condition_info{").is_empty());
        assert!(m.objects.lock().unwrap().by_object.is_empty());
    }
}
