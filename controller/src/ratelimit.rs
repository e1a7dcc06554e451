//! An in-memory GCRA rate limiter with upstream's semantics (`throttled/throttled` v2,
//! `GCRARateLimiter` over a 65,536-key memory store).
//!
//! `rate` requests per second are sustained; `burst` more may arrive at once, so a fresh key gets
//! `burst + 1` requests before the first denial (throttled's `limit = MaxBurst + 1`). A rate of 0
//! turns limiting off (upstream divides by zero and panics at start).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most; upstream's memory store holds 65,536 too.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// The outcome of one check, with what the `X-RateLimit-*` and `Retry-After` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The request may proceed.
    pub allowed: bool,
    /// `X-RateLimit-Limit`: requests allowed at once (`burst + 1`).
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests still allowed right now.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: until the key is back to a full allowance.
    pub reset_after: Duration,
    /// `Retry-After`: until the next request will be allowed (only when denied).
    pub retry_after: Option<Duration>,
}

impl Decision {
    /// Whole seconds, rounded up, as throttled writes them.
    pub fn ceil_secs(d: Duration) -> u64 {
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }
}

/// A GCRA limiter keyed by string, bounded to `capacity` keys.
pub struct RateLimiter {
    /// Emission interval (`1s / rate`); `None` when limiting is off.
    interval: Option<Duration>,
    /// Delay variation tolerance (`interval * (burst + 1)`).
    tolerance: Duration,
    limit: u32,
    capacity: usize,
    /// Theoretical arrival time per key.
    tats: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// `rate` per second sustained, `burst` on top; at most `capacity` keys are remembered.
    pub fn new(rate: u32, burst: u32, capacity: usize) -> Self {
        let interval = (rate > 0).then(|| Duration::from_secs(1) / rate);
        let limit = burst.saturating_add(1);
        Self {
            interval,
            tolerance: interval.unwrap_or_default() * limit,
            limit,
            capacity: capacity.max(1),
            tats: Mutex::new(HashMap::new()),
        }
    }

    /// Whether limiting is on.
    pub fn enabled(&self) -> bool {
        self.interval.is_some()
    }

    /// Number of keys currently remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// No keys remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        match self.tats.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Count one request for `key` at `now`.
    pub fn check_at(&self, key: &str, now: Instant) -> Decision {
        let Some(interval) = self.interval else {
            return Decision {
                allowed: true,
                limit: self.limit,
                remaining: self.limit,
                reset_after: Duration::ZERO,
                retry_after: None,
            };
        };
        let mut tats = self.lock();
        let tat = tats.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + interval;
        // The request is allowed once `new_tat - tolerance <= now`.
        let allow_at = new_tat.checked_sub(self.tolerance).unwrap_or(now);
        let (allowed, ttl, retry_after) = if allow_at > now {
            (false, tat - now, Some(allow_at - now))
        } else {
            if !tats.contains_key(key) && tats.len() >= self.capacity {
                evict(&mut tats, now, self.capacity);
            }
            tats.insert(key.to_owned(), new_tat);
            (true, new_tat - now, None)
        };
        drop(tats);
        // throttled: remaining = (tolerance - ttl) / interval, when that is > -1 interval.
        let remaining = self.tolerance.checked_sub(ttl).map_or(0, |next| {
            (next.as_nanos() / interval.as_nanos().max(1)) as u32
        });
        Decision {
            allowed,
            limit: self.limit,
            remaining: remaining.min(self.limit),
            reset_after: ttl,
            retry_after,
        }
    }

    /// Count one request for `key` now.
    pub fn check(&self, key: &str) -> Decision {
        self.check_at(key, Instant::now())
    }
}

/// Make room for one more key: drop every key whose allowance is full again (a forgotten key and
/// such a key are treated the same), and if that is not enough, the eighth with the earliest
/// arrival times.
fn evict(tats: &mut HashMap<String, Instant>, now: Instant, capacity: usize) {
    tats.retain(|_, tat| *tat > now);
    if tats.len() < capacity {
        return;
    }
    let mut times: Vec<Instant> = tats.values().copied().collect();
    let cut = (times.len() / 8).max(1);
    let (_, nth, _) = times.select_nth_unstable(cut - 1);
    let threshold = *nth;
    tats.retain(|_, tat| *tat > threshold);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_plus_one_then_denied_with_retry_after() {
        let l = RateLimiter::new(2, 2, 16);
        let t0 = Instant::now();
        for i in 0..3 {
            let d = l.check_at("k", t0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.limit, 3);
            assert_eq!(d.remaining, 2 - i);
        }
        let d = l.check_at("k", t0);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        let retry = d.retry_after.unwrap();
        assert_eq!(retry, Duration::from_millis(500));
        assert_eq!(Decision::ceil_secs(retry), 1);
        // After the emission interval one more is allowed.
        assert!(l.check_at("k", t0 + Duration::from_millis(500)).allowed);
        assert!(!l.check_at("k", t0 + Duration::from_millis(500)).allowed);
        // Another key is independent.
        assert!(l.check_at("other", t0).allowed);
    }

    #[test]
    fn sustained_rate_is_enforced() {
        let l = RateLimiter::new(2, 2, 16);
        let t0 = Instant::now();
        let mut allowed = 0;
        for ms in (0..10_000).step_by(10) {
            if l.check_at("k", t0 + Duration::from_millis(ms)).allowed {
                allowed += 1;
            }
        }
        // 3 at once, then 2 per second for ~10 s.
        assert!((21..=23).contains(&allowed), "{allowed}");
    }

    #[test]
    fn zero_rate_disables() {
        let l = RateLimiter::new(0, 0, 16);
        assert!(!l.enabled());
        for _ in 0..100 {
            assert!(l.check("k").allowed);
        }
        assert!(l.is_empty());
    }

    #[test]
    fn map_stays_bounded() {
        let l = RateLimiter::new(1, 5, 64);
        let t0 = Instant::now();
        for i in 0..10_000 {
            assert!(l.check_at(&format!("key-{i}"), t0).allowed);
            assert!(l.len() <= 64);
        }
        // Keys whose allowance is full again are dropped first.
        let later = t0 + Duration::from_secs(60);
        assert!(l.check_at("fresh", later).allowed);
        assert!(l.len() <= 64);
    }
}
