//! Per-SealedSecret state kept between reconciles, in one map: filled by `reconcile` and
//! `error_policy`, emptied by [`ObjectMemo::forget`] when the object is deleted.

use std::collections::HashMap;
use std::sync::Mutex;

/// `(namespace, name)` of a SealedSecret.
pub type ObjectKey = (String, String);

/// What this process remembers about one object.
#[derive(Clone, Debug, Default, PartialEq)]
struct Entry {
    /// Failed attempts since the last success (drives the API-error backoff).
    attempts: u32,
    /// What this process last wrote: (generation, Secret resourceVersion). Our own Secret write
    /// comes back through the Secret watch before the new status reaches the SealedSecret cache;
    /// this recognises that echo instead of decrypting again.
    applied: Option<(Option<i64>, String)>,
    /// The unseal of this generation failed with this key set (see `key_set_id`).
    failed: Option<(Option<i64>, u64)>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Per-object state of every SealedSecret this process reconciled.
#[derive(Debug, Default)]
pub struct ObjectMemo {
    objects: Mutex<HashMap<ObjectKey, Entry>>,
}

impl ObjectMemo {
    fn with<T>(&self, key: &ObjectKey, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let mut objects = self.objects.lock().ok()?;
        let entry = objects.entry(key.clone()).or_default();
        let out = f(entry);
        if entry.is_empty() {
            objects.remove(key);
        }
        Some(out)
    }

    fn read<T>(&self, key: &ObjectKey, f: impl FnOnce(&Entry) -> Option<T>) -> Option<T> {
        self.objects.lock().ok()?.get(key).and_then(f)
    }

    /// The Secret version this process wrote for `generation` of the object, if any.
    pub fn applied_version(&self, key: &ObjectKey, generation: Option<i64>) -> Option<String> {
        self.read(key, |e| {
            e.applied
                .as_ref()
                .filter(|(g, _)| *g == generation)
                .map(|(_, rv)| rv.clone())
        })
    }

    /// True when `generation` already failed to unseal with the key set `key_set`.
    pub fn failed_before(&self, key: &ObjectKey, generation: Option<i64>, key_set: u64) -> bool {
        self.read(key, |e| e.failed)
            .is_some_and(|f| f == (generation, key_set))
    }

    /// Record a reconcile whose outcome reached the status (or not): `applied` is the Secret
    /// version written for `generation`, `failed` the key set an unseal failed with.
    pub fn record(
        &self,
        key: &ObjectKey,
        generation: Option<i64>,
        applied: Option<String>,
        failed: Option<u64>,
    ) {
        self.with(key, |e| {
            e.applied = applied.map(|rv| (generation, rv));
            e.failed = failed.map(|set| (generation, set));
        });
    }

    /// Count a failed attempt; returns the number since the last success.
    pub fn count_attempt(&self, key: &ObjectKey) -> u32 {
        self.with(key, |e| {
            e.attempts = e.attempts.saturating_add(1);
            e.attempts
        })
        .unwrap_or(1)
    }

    /// The object reconciled successfully: its backoff starts over.
    pub fn succeeded(&self, key: &ObjectKey) {
        self.with(key, |e| e.attempts = 0);
    }

    /// The set of keys changed: every object is retried, so every backoff starts over.
    pub fn keys_changed(&self) {
        if let Ok(mut objects) = self.objects.lock() {
            for e in objects.values_mut() {
                e.attempts = 0;
            }
            objects.retain(|_, e| !e.is_empty());
        }
    }

    /// The object was deleted.
    pub fn forget(&self, key: &ObjectKey) {
        if let Ok(mut objects) = self.objects.lock() {
            objects.remove(key);
        }
    }

    /// Number of objects with state (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.objects.lock().map(|o| o.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ("ns".into(), name.into())
    }

    #[test]
    fn applied_version_is_per_generation() {
        let m = ObjectMemo::default();
        m.record(&key("a"), Some(2), Some("17".into()), None);
        assert_eq!(m.applied_version(&key("a"), Some(2)).as_deref(), Some("17"));
        assert_eq!(m.applied_version(&key("a"), Some(3)), None);
        assert_eq!(m.applied_version(&key("b"), Some(2)), None);
    }

    #[test]
    fn failure_is_per_generation_and_key_set() {
        let m = ObjectMemo::default();
        m.record(&key("a"), Some(1), None, Some(7));
        assert!(m.failed_before(&key("a"), Some(1), 7));
        assert!(
            !m.failed_before(&key("a"), Some(1), 8),
            "other keys: try again"
        );
        assert!(
            !m.failed_before(&key("a"), Some(2), 7),
            "new generation: try again"
        );
        m.record(&key("a"), Some(1), Some("5".into()), None);
        assert!(
            !m.failed_before(&key("a"), Some(1), 7),
            "a success clears it"
        );
    }

    #[test]
    fn attempts_count_up_and_reset() {
        let m = ObjectMemo::default();
        assert_eq!(m.count_attempt(&key("a")), 1);
        assert_eq!(m.count_attempt(&key("a")), 2);
        m.succeeded(&key("a"));
        assert_eq!(m.count_attempt(&key("a")), 1);
        m.count_attempt(&key("b"));
        m.keys_changed();
        assert_eq!(m.count_attempt(&key("a")), 1);
        assert_eq!(m.count_attempt(&key("b")), 1);
    }

    #[test]
    fn forget_and_empty_entries_leave_nothing() {
        let m = ObjectMemo::default();
        m.record(&key("a"), Some(1), Some("1".into()), None);
        m.count_attempt(&key("b"));
        m.succeeded(&key("b"));
        assert_eq!(m.len(), 1, "an entry with nothing left is dropped");
        m.forget(&key("a"));
        assert_eq!(m.len(), 0);
    }
}
