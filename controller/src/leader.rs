//! Leader election on a coordination.k8s.io/v1 Lease, so `replicas: 2+` is safe: only the
//! leader reconciles and generates keys. Every replica serves HTTP (cert, verify, rotate).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};

/// How long a lease is valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the leader renews.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(5);
/// How often a follower retries.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// One replica's handle on the lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
}

impl LeaderElector {
    /// Elector for Lease `name` in `namespace`, as `identity` (the pod name, or host + pid).
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: String) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Wait until this replica holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election: cannot reach the lease"),
            }
            tokio::time::sleep(RETRY_INTERVAL).await;
        }
    }

    /// Keep renewing; returns when leadership is lost (the caller should then stop working).
    pub async fn hold(&self) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_INTERVAL).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("leader election: lease taken by another replica");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: renewal failed");
                    if last_ok.elapsed() >= LEASE_DURATION {
                        tracing::error!("leader election: lease expired without renewal");
                        return;
                    }
                }
            }
        }
    }

    /// Take the lease if it is free, expired or ours; renew it if ours. `Ok(true)` when we hold it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let duration_secs = LEASE_DURATION.as_secs() as i32;
        match self.api.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(duration_secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => {
                        tracing::info!(identity = %self.identity, "leader election: became leader");
                        Ok(true)
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
                let expired = lease_expired(spec, now);
                if !ours && !expired {
                    return Ok(false);
                }
                if !ours {
                    let transitions = spec.lease_transitions.unwrap_or(0);
                    spec.lease_transitions = Some(transitions.saturating_add(1));
                    spec.acquire_time = Some(MicroTime(now));
                    spec.holder_identity = Some(self.identity.clone());
                }
                spec.lease_duration_seconds = Some(duration_secs);
                spec.renew_time = Some(MicroTime(now));
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => {
                        if !ours {
                            tracing::info!(identity = %self.identity, "leader election: became leader");
                        }
                        Ok(true)
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// Whether the holder of `spec` let it lapse at `now`: no renew time or duration, or
/// `renewTime + leaseDurationSeconds` is past. An expiry beyond the last instant a timestamp can
/// hold (a hand-edited Lease) is never reached; one before the first is past.
fn lease_expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renew), Some(secs)) => renew
            .0
            .checked_add(SignedDuration::from_secs(i64::from(secs)))
            .map_or(secs < 0, |expiry| expiry < now),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(renew: Option<Timestamp>, secs: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            renew_time: renew.map(MicroTime),
            lease_duration_seconds: secs,
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn lease_expiry() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let ago = |s: i64| now.checked_sub(SignedDuration::from_secs(s)).unwrap();
        assert!(!lease_expired(&spec(Some(ago(10)), Some(15)), now));
        assert!(lease_expired(&spec(Some(ago(16)), Some(15)), now));
        assert!(lease_expired(&spec(None, Some(15)), now));
        assert!(lease_expired(&spec(Some(now), None), now));
        // Regression: the largest duration on the last representable instant overflowed `+`.
        assert!(!lease_expired(
            &spec(Some(Timestamp::MAX), Some(i32::MAX)),
            now
        ));
        assert!(lease_expired(
            &spec(Some(Timestamp::MIN), Some(i32::MIN)),
            now
        ));
    }
}
