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
    pub fn new(client: kube::Client) -> Self {
        let reporter = Reporter {
            controller: "sealed-secrets".into(),
            instance: std::env::var("POD_NAME").ok(),
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

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
