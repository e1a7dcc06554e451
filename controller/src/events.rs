//! Kubernetes Events, as upstream's recorder: component `sealed-secrets`, reasons `Unsealed`,
//! `ErrUnsealFailed`, `ErrUpdateFailed`. Messages name objects and errors, never values.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder as KubeRecorder, Reporter};

/// Publishes Events; failures are logged, never fatal.
#[derive(Clone)]
pub struct Recorder {
    inner: KubeRecorder,
}

impl Recorder {
    /// A recorder reporting as `sealed-secrets` (instance: the pod name, when known).
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: "sealed-secrets".into(),
            instance,
        };
        Self {
            inner: KubeRecorder::new(client, reporter),
        }
    }

    async fn publish(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: &str,
    ) {
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(truncate(note, 1000)),
            action: reason.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.inner.publish(&ev, reference).await {
            tracing::warn!(reason, error = %e, "cannot record event");
        }
    }

    /// A Normal event.
    pub async fn normal(&self, reference: &ObjectReference, reason: &str, note: &str) {
        self.publish(reference, EventType::Normal, reason, note)
            .await;
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
        self.publish(reference, EventType::Warning, reason, note)
            .await;
    }
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
}
