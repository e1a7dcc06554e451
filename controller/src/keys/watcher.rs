//! Keeps the [`Registry`] equal to the key Secrets of the controller namespace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::keys::Fingerprint;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher;

#[cfg(doc)]
use super::Registry;
use super::{KeyEntry, KeyRing, is_key_secret, read_key_secret};
use crate::context::Context;

/// Keep `ctx.keys` in step with the key Secrets of the controller namespace until the stream
/// ends (it does not, short of shutdown).
pub async fn run(ctx: Arc<Context>) {
    KeyWatcher { ctx }.run().await;
}

struct KeyWatcher {
    ctx: Arc<Context>,
}

impl KeyWatcher {
    async fn run(self) {
        let mut parsed: HashMap<String, Option<Arc<KeyEntry>>> = HashMap::new();
        let mut pending: Option<HashMap<String, Option<Arc<KeyEntry>>>> = None;
        // Scoped to the controller namespace; the legacy key has no label, so no selector.
        let stream = watcher(self.ctx.key_api(), watcher::Config::default());
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => pending = Some(HashMap::new()),
                Ok(watcher::Event::InitApply(s)) => {
                    let map = pending.get_or_insert_with(HashMap::new);
                    self.apply(map, Some(&parsed), &s);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(map) = pending.take() {
                        parsed = map;
                    }
                    self.publish(&parsed);
                    self.ctx.keys.loaded.send_replace(true);
                }
                Ok(watcher::Event::Apply(s)) => {
                    self.apply(&mut parsed, None, &s);
                    self.publish(&parsed);
                }
                Ok(watcher::Event::Delete(s)) => {
                    if let Some(name) = s.metadata.name.as_deref()
                        && parsed.remove(name).flatten().is_some()
                    {
                        tracing::warn!(
                            secret = name,
                            "sealing key Secret deleted; its key is no longer used"
                        );
                    }
                    self.publish(&parsed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching key Secrets failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Parse `s` into `map` if it is a key Secret (or drop it from `map` if it no longer is).
    /// A key is logged as loaded unless `prev` (default: `map` itself) already had it by name.
    fn apply(
        &self,
        map: &mut HashMap<String, Option<Arc<KeyEntry>>>,
        prev: Option<&HashMap<String, Option<Arc<KeyEntry>>>>,
        s: &Secret,
    ) {
        let Some(name) = s.metadata.name.clone() else {
            return;
        };
        let previous: Option<Fingerprint> = prev
            .unwrap_or(map)
            .get(&name)
            .and_then(|e| e.as_ref())
            .map(|e| e.key.fingerprint().clone());
        if !is_key_secret(s, &self.ctx.config.key_prefix) {
            if map.remove(&name).flatten().is_some() {
                tracing::warn!(secret = %name, "sealing key Secret no longer labelled active; its key is no longer used");
            }
            return;
        }
        match read_key_secret(s, self.ctx.config.key_order_priority) {
            Ok(entry) => {
                if previous.as_ref() != Some(entry.key.fingerprint()) {
                    tracing::info!(secret = %name, fingerprint = %entry.key.fingerprint(), "sealing key loaded");
                }
                map.insert(name, Some(Arc::new(entry)));
            }
            Err(err) => {
                tracing::warn!(secret = %name, error = %err, "skipping malformed sealing key Secret");
                self.ctx.metrics.invalid_key_secrets.inc();
                let recorder = self.ctx.recorder.clone();
                let reference = crate::events::object_ref_of(s);
                let message = format!("Skipping malformed sealing key: {err}");
                tokio::spawn(async move {
                    recorder.warn(&reference, "ErrInvalidKey", &message).await;
                });
                map.insert(name, None);
            }
        }
    }

    fn publish(&self, parsed: &HashMap<String, Option<Arc<KeyEntry>>>) {
        let ring = KeyRing::new(parsed.values().flatten().cloned().collect());
        self.ctx.metrics.observe_keys(&ring);
        self.ctx.keys.replace(ring);
    }
}
