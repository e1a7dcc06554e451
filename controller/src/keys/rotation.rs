//! Key generation: the first key, a key after `--key-cutoff-time`, one every
//! `--key-renew-period`, and one on `SIGUSR1`. Old keys are never deleted.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::api::PostParams;

use super::{KeyEntry, KeyRing, generate_key, key_secret};
use crate::config::Config;
use crate::context::Context;

/// Generate a key now if there is none, or the newest is older than `--key-cutoff-time`.
pub async fn ensure_initial_key(ctx: &Context) -> anyhow::Result<()> {
    if needs_initial_key(&ctx.config, &ctx.keys.snapshot()) {
        let name = create_key(ctx).await?;
        tracing::info!(secret = %name, "generated the first (or a post-cutoff) sealing key");
    }
    Ok(())
}

/// Generate keys every `--key-renew-period` and on SIGUSR1.
pub async fn renew(ctx: Arc<Context>) -> anyhow::Result<()> {
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    loop {
        let wait = next_renewal(&ctx.config, &ctx.keys.snapshot(), SystemTime::now());
        let timer = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => futures::future::pending().await,
            }
        };
        tokio::select! {
            () = timer => tracing::info!("key renewal period elapsed"),
            _ = usr1.recv() => tracing::info!("SIGUSR1: generating a new key"),
        }
        if let Err(e) = create_key(&ctx).await {
            tracing::error!(error = %e, "Failed to generate new key");
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    }
}

/// Create a new key Secret and add it to the registry at once (the watch confirms it later).
async fn create_key(ctx: &Context) -> anyhow::Result<String> {
    let cfg = ctx.config.clone();
    let (key, cert) = tokio::task::spawn_blocking(move || generate_key(&cfg)).await??;
    let secret = key_secret(&ctx.config, &ctx.identity.namespace, &key, &cert)?;
    let created = ctx
        .key_api()
        .create(&PostParams::default(), &secret)
        .await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    tracing::info!(secret = %name, fingerprint = %key.fingerprint(), "New key written");
    tracing::info!(certificate = %cert.to_pem(), "Certificate generated");
    let entry = KeyEntry {
        key,
        cert,
        secret_name: name.clone(),
        ordering_time: SystemTime::now(),
        created: created
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| SystemTime::from(t.0)),
    };
    let snapshot = ctx.keys.snapshot();
    let mut entries = snapshot.entries().to_vec();
    entries.push(Arc::new(entry));
    ctx.keys.replace(KeyRing::new(entries));
    Ok(name)
}

/// When the next key is due: `None` when renewal is disabled.
fn next_renewal(config: &Config, ring: &KeyRing, now: SystemTime) -> Option<Duration> {
    if config.key_renew_period.is_zero() {
        return None;
    }
    let age = ring
        .newest()
        .and_then(|k| now.duration_since(k.ordering_time).ok())
        .unwrap_or_default();
    Some(config.key_renew_period.saturating_sub(age))
}

/// Whether a key must be generated at start: none at all, or the newest older than the cutoff.
fn needs_initial_key(config: &Config, ring: &KeyRing) -> bool {
    match ring.newest() {
        None => true,
        Some(newest) => config
            .key_cutoff_time
            .is_some_and(|cutoff| newest.ordering_time < cutoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::{config, entry, small_config};

    #[test]
    fn test_renewal_schedule_and_cutoff() {
        let cfg = small_config();
        let ring = KeyRing::new(vec![entry(&cfg, "a", 1_000)]);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + 3600);
        // Default 720h period: the first tick comes 720h after the newest key, minus its age.
        assert_eq!(
            next_renewal(&cfg, &ring, now),
            Some(Duration::from_secs(719 * 3600))
        );
        let off = config(&["--key-size=1024", "--key-renew-period=0"]);
        assert_eq!(next_renewal(&off, &ring, now), None);
        assert!(!needs_initial_key(&cfg, &ring));
        assert!(needs_initial_key(&cfg, &KeyRing::default()));
        let cut = config(&[
            "--key-size=1024",
            "--key-cutoff-time=Mon, 02 Jan 2006 15:04:05 -0700",
        ]);
        assert!(needs_initial_key(&cut, &ring));
    }
}
