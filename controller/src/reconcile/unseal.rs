//! Where decryptions run: on the blocking pool, at most one per core at a time (more would only
//! add threads, memory and cache misses: they are CPU-bound), starting with the keys likeliest
//! to open the object.

use std::sync::{Arc, Mutex};

use common::crd::SealedSecret;
use common::keys::Fingerprint;
use common::sealing::{UnsealError, UnsealOptions, UnsealStats, UnsealedSecret, unseal};

use super::Error;
use crate::keys::KeyRing;

/// The decryption pool and its key preference.
pub struct Unsealer {
    permits: tokio::sync::Semaphore,
    /// The key that opened the most recent object: objects sealed at the same time share one.
    last_opener: Mutex<Option<Fingerprint>>,
}

impl Default for Unsealer {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            permits: tokio::sync::Semaphore::new(cores),
            last_opener: Mutex::new(None),
        }
    }
}

impl Unsealer {
    /// Unseal `ss` with `ring` on the blocking pool. Returns the result and the RSA work done.
    pub async fn unseal(
        &self,
        ss: &Arc<SealedSecret>,
        ring: &Arc<KeyRing>,
        opts: UnsealOptions,
    ) -> Result<(Result<UnsealedSecret, UnsealError>, UnsealStats), Error> {
        let preferred = self.preferred(ss, ring);
        let job_ss = ss.clone();
        let job_ring = ring.clone();
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::TaskFailed)?;
        let (unsealed, stats) = tokio::task::spawn_blocking(move || {
            let keys = job_ring.decryption_order(&preferred);
            let mut stats = UnsealStats::default();
            let unsealed = unseal(&job_ss, &keys, &opts, &mut stats);
            (unsealed, stats)
        })
        .await
        .map_err(|_| Error::TaskFailed)?;
        drop(permit);
        if let Ok(u) = &unsealed {
            self.opened(u.opened_by().first());
        }
        Ok((unsealed, stats))
    }

    /// Keys to try first for `ss`: those its status says opened this generation, then the key
    /// that opened the latest object, then those its status names from an older generation.
    fn preferred(&self, ss: &SealedSecret, ring: &KeyRing) -> Vec<Fingerprint> {
        let status = ss.status.as_ref();
        let current = status.is_some_and(|s| s.observed_generation == ss.metadata.generation);
        let from_status = status
            .map(|s| {
                s.key_fingerprints.iter().filter_map(|f| {
                    ring.entries()
                        .iter()
                        .find(|e| e.key.fingerprint().as_str() == f)
                        .map(|e| e.key.fingerprint().clone())
                })
            })
            .into_iter()
            .flatten();
        let recent = self.last_opener.lock().ok().and_then(|f| f.clone());
        let mut out: Vec<Fingerprint> = Vec::new();
        if current {
            out.extend(from_status);
            out.extend(recent);
        } else {
            out.extend(recent);
            out.extend(from_status);
        }
        out
    }

    fn opened(&self, by: Option<&Fingerprint>) {
        if let (Some(f), Ok(mut last)) = (by, self.last_opener.lock())
            && last.as_ref() != Some(f)
        {
            *last = Some(f.clone());
        }
    }
}

/// Identifies a set of keys (any change of the key Secrets gives a new one).
pub fn key_set_id(ring: &KeyRing) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for e in ring.entries() {
        e.key.fingerprint().hash(&mut h);
    }
    h.finish()
}
