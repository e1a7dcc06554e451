//! Keeps the [`Registry`] equal to the key Secrets of the controller namespace.
//!
//! Two watches, both filtered by the apiserver and listed from its watch cache: Secrets with the
//! key label (any value: one relabelled away from `active` is seen leaving) and the legacy key,
//! the unlabelled Secret named exactly `--key-prefix` (upstream's `initKeyRegistry` lists the
//! first and GETs the second). Watching every Secret of the namespace instead had the apiserver
//! send this process each Secret in full, values and all: in a namespace holding 10,000 Secrets
//! (kube-system, or the controller's own namespace with the Secrets it writes) the start waited
//! for 20 pages read from etcd and every Secret write was sent here once more.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::annotations::SEALED_SECRETS_KEY_LABEL;
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

/// Parsed key Secrets by name (`None`: malformed, skipped).
type Keys = HashMap<String, Option<Arc<KeyEntry>>>;

/// One key watch: what it holds, its list in progress, whether it has listed once.
#[derive(Default)]
struct WatchedKeys {
    parsed: Keys,
    pending: Option<Keys>,
    listed: bool,
}

struct KeyWatcher {
    ctx: Arc<Context>,
}

impl KeyWatcher {
    async fn run(self) {
        let api = self.ctx.key_api();
        let labelled = watcher(
            api.clone(),
            watcher::Config::default()
                .labels(SEALED_SECRETS_KEY_LABEL)
                .any_semantic(),
        );
        let legacy = watcher(
            api,
            watcher::Config::default()
                .fields(&format!("metadata.name={}", self.ctx.config.key_prefix))
                .any_semantic(),
        );
        let stream =
            futures::stream::select(labelled.map(|e| (true, e)), legacy.map(|e| (false, e)));
        let mut stream = std::pin::pin!(stream);
        // What each watch holds; the registry is the union of the two.
        let (mut by_label, mut by_name) = (WatchedKeys::default(), WatchedKeys::default());
        while let Some((is_labelled, ev)) = stream.next().await {
            let (this, other) = if is_labelled {
                (&mut by_label, &by_name)
            } else {
                (&mut by_name, &by_label)
            };
            match ev {
                Ok(watcher::Event::Init) => this.pending = Some(HashMap::new()),
                Ok(watcher::Event::InitApply(s)) => {
                    let map = this.pending.get_or_insert_with(HashMap::new);
                    self.apply(map, Some(&this.parsed), &s);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(map) = this.pending.take() {
                        this.parsed = map;
                    }
                    this.listed = true;
                    if other.listed {
                        self.publish(&by_label, &by_name);
                        self.ctx.keys.loaded.send_replace(true);
                    }
                }
                Ok(watcher::Event::Apply(s)) => {
                    self.apply(&mut this.parsed, None, &s);
                    self.publish(&by_label, &by_name);
                }
                Ok(watcher::Event::Delete(s)) => {
                    if let Some(name) = s.metadata.name.as_deref()
                        && this.parsed.remove(name).flatten().is_some()
                        && !other.parsed.contains_key(name)
                    {
                        // A watch by label also sees the label removed as a deletion.
                        tracing::warn!(
                            secret = name,
                            "sealing key Secret deleted or unlabelled; its key is no longer used"
                        );
                    }
                    self.publish(&by_label, &by_name);
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

    /// Publish the union of both watches' keys (a Secret both watches hold counts once).
    fn publish(&self, a: &WatchedKeys, b: &WatchedKeys) {
        let mut by_name: HashMap<&str, &Arc<KeyEntry>> = HashMap::new();
        for (name, entry) in a.parsed.iter().chain(&b.parsed) {
            if let Some(e) = entry {
                by_name.insert(name, e);
            }
        }
        let ring = KeyRing::new(by_name.into_values().cloned().collect());
        self.ctx.metrics.observe_keys(&ring);
        self.ctx.keys.replace(ring);
    }
}
