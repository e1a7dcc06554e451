//! Kubernetes Events, as upstream's recorder writes them: core/v1 Events with
//! `source.component: sealed-secrets` (so `kubectl get events --field-selector
//! source=sealed-secrets` finds them), reasons `Unsealed`, `ErrUnsealFailed`, `ErrUpdateFailed`,
//! `ErrInvalidKey`. Like client-go's correlator, a repeat of the same event within ten minutes
//! patches the first one's `count` and `lastTimestamp` instead of creating another. That needs
//! only `create` and `patch` on core `events`, upstream's RBAC. Messages name objects and
//! errors, never values; failures are logged, never fatal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams, PostParams};

/// The `source.component` and `reportingComponent` of our Events (upstream's).
pub const COMPONENT: &str = "sealed-secrets";
/// A repeat within this window is counted on the first Event (client-go's default).
const REPEAT_WINDOW: Duration = Duration::from_secs(600);
/// Most distinct events remembered for counting repeats; past it the memory starts over.
const MAX_REMEMBERED: usize = 4096;
/// Longest note (Events are small objects).
const MAX_NOTE: usize = 1000;

/// What makes two events the same one.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct EventKey {
    namespace: String,
    kind: String,
    name: String,
    uid: String,
    type_: &'static str,
    reason: String,
    message: String,
}

/// An Event already written: its name, count and when it was first seen here.
#[derive(Clone, Debug)]
struct Written {
    name: String,
    count: i32,
    first_seen: Instant,
}

/// Publishes Events.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    /// The reporting instance: the pod name, when known.
    instance: Option<String>,
    seen: Arc<Mutex<HashMap<EventKey, Written>>>,
}

impl Recorder {
    /// A recorder reporting as `sealed-secrets` (instance: the pod name, when known).
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        Self {
            client,
            instance,
            seen: Arc::default(),
        }
    }

    async fn publish(
        &self,
        reference: &ObjectReference,
        type_: &'static str,
        reason: &str,
        note: &str,
    ) {
        let message = truncate(note, MAX_NOTE);
        let key = EventKey {
            namespace: reference
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            kind: reference.kind.clone().unwrap_or_default(),
            name: reference.name.clone().unwrap_or_default(),
            uid: reference.uid.clone().unwrap_or_default(),
            type_,
            reason: reason.to_owned(),
            message: message.clone(),
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &key.namespace);
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        if let Some(repeat) = self.repeat_of(&key) {
            let patch = serde_json::json!({ "count": repeat.count, "lastTimestamp": now });
            match api
                .patch(&repeat.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return,
                // Gone (expired or deleted): write it anew below.
                Err(kube::Error::Api(e)) if e.code == 404 => self.forget(&key),
                Err(e) => {
                    tracing::warn!(reason, error = %e, "cannot record event");
                    return;
                }
            }
        }
        let event = Event {
            metadata: ObjectMeta {
                name: Some(event_name(&key.name)),
                namespace: Some(key.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: reference.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(type_.to_owned()),
            source: Some(EventSource {
                component: Some(COMPONENT.to_owned()),
                host: None,
            }),
            reporting_component: Some(COMPONENT.to_owned()),
            reporting_instance: self.instance.clone(),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Event::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(created) => self.remember(key, created.metadata.name.unwrap_or_default()),
            Err(e) => tracing::warn!(reason, error = %e, "cannot record event"),
        }
    }

    /// The Event to count a repeat on, with its new count, if `key` was written recently.
    fn repeat_of(&self, key: &EventKey) -> Option<Written> {
        let mut seen = self.seen.lock().ok()?;
        let w = seen.get_mut(key)?;
        if w.first_seen.elapsed() > REPEAT_WINDOW {
            seen.remove(key);
            return None;
        }
        w.count = w.count.saturating_add(1);
        Some(w.clone())
    }

    fn remember(&self, key: EventKey, name: String) {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= MAX_REMEMBERED {
                seen.clear();
            }
            seen.insert(
                key,
                Written {
                    name,
                    count: 1,
                    first_seen: Instant::now(),
                },
            );
        }
    }

    fn forget(&self, key: &EventKey) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(key);
        }
    }

    /// A Normal event.
    pub async fn normal(&self, reference: &ObjectReference, reason: &str, note: &str) {
        self.publish(reference, "Normal", reason, note).await;
    }

    /// A Warning event.
    pub async fn warn(&self, reference: &ObjectReference, reason: &str, note: &str) {
        tracing::warn!(
            namespace = reference.namespace.as_deref().unwrap_or_default(),
            name = reference.name.as_deref().unwrap_or_default(),
            reason,
            message = note,
            "event"
        );
        self.publish(reference, "Warning", reason, note).await;
    }
}

/// client-go's Event name: `<object>.<nanoseconds, hex>`, unique enough per object.
fn event_name(object: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{object}.{nanos:x}")
}

/// An ObjectReference to `obj`.
pub fn object_ref_of<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    // The longest prefix of at most `max` bytes that ends on a character boundary (0 always does).
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", s.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_keeps_short_notes_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(truncate("short", 1000), "short");
        assert_eq!(truncate("abcdef", 3), "abc…");
        // "é" is two bytes: a cut inside it falls back to the boundary before it.
        assert_eq!(truncate("aé", 2), "a…");
        assert_eq!(truncate("éé", 1), "…");
        assert_eq!(truncate("ééé", 4), "éé…");
    }

    #[test]
    fn event_names_are_the_object_and_a_hex_suffix() {
        let n = super::event_name("db");
        let (object, suffix) = n.split_once('.').unwrap();
        assert_eq!(object, "db");
        assert!(
            !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_hexdigit()),
            "{n}"
        );
    }
}
