//! Keeping the recovery envelope ([`common::recovery`]) in step on every path that writes items:
//! which envelope a command edits, the plaintext values of a Secret in the order they are sealed,
//! and the stale-envelope report on stderr.

use std::collections::BTreeMap;

use common::crd::SealedSecret;
use common::keys::{Certificate, PublicKey};
use common::recovery::{self, Envelope};
use k8s_openapi::api::core::v1::Secret;
use rand::CryptoRng;

/// The values of `secret` as they are sealed: `data`, then `stringData`, which wins on a shared key.
pub fn secret_values(secret: &Secret) -> BTreeMap<&str, &[u8]> {
    let mut out: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        out.insert(k, &v.0);
    }
    for (k, v) in secret.string_data.iter().flatten() {
        out.insert(k, v.as_bytes());
    }
    out
}

/// Seal every value of `secrets[i]` into the envelope of `sealed[i]` for `recovery`.
pub fn attach<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sealed: &mut [SealedSecret],
    secrets: &[Secret],
    recovery: &PublicKey,
) -> anyhow::Result<()> {
    for (ss, secret) in sealed.iter_mut().zip(secrets) {
        recovery::seal_envelope(rng, ss, recovery, secret_values(secret))?;
    }
    Ok(())
}

/// The envelope a command that changes some items of `what` edits: the object's own (`existing`),
/// a new one when `--recovery-cert` is given and there is none, or none at all. Refused: an
/// envelope that would go stale because no `--recovery-cert` was given to seal the changed items
/// (`sealing`), or one sealed to another recipient (its other items cannot be re-sealed here).
pub fn plan(
    existing: Option<Envelope>,
    recovery: Option<&Certificate>,
    sealing: bool,
    what: &str,
) -> anyhow::Result<Option<Envelope>> {
    match (existing, recovery) {
        (None, None) => Ok(None),
        (Some(env), None) if !sealing => Ok(Some(env)),
        (Some(env), None) => anyhow::bail!(
            "{what} carries a recovery envelope (recipient {}): pass --recovery-cert (or SEALED_SECRETS_RECOVERY_CERT) so that it stays in step",
            env.recipient
        ),
        (Some(env), Some(c)) if !env.is_for(c.public_key()) => anyhow::bail!(
            "{what}: its recovery envelope is sealed to {}, --recovery-cert is {}; to move to a new recovery key re-encrypt with --re-encrypt-dir DIR --recovery-private-key OLD.key --recovery-cert NEW.pem",
            env.recipient,
            c.public_key().fingerprint()
        ),
        (Some(env), Some(_)) => Ok(Some(env)),
        (None, Some(c)) => Ok(Some(Envelope::new(c.public_key()))),
    }
}

/// The envelope of a parsed document (`serde_json::Value` of a SealedSecret).
pub fn of_value(doc: &serde_json::Value) -> anyhow::Result<Option<Envelope>> {
    doc.pointer("/metadata/annotations")
        .and_then(|a| a.get(recovery::RECOVERY_ANNOTATION))
        .and_then(|v| v.as_str())
        .map(Envelope::from_annotation)
        .transpose()
        .map_err(Into::into)
}

/// Print a warning for each SealedSecret whose envelope is stale.
pub fn report_stale<'a>(sealed: impl IntoIterator<Item = &'a SealedSecret>) {
    for ss in sealed {
        if let Some(msg) = recovery::stale_message(ss) {
            eprintln!("kubeseal: warning: {msg}");
        }
    }
}

/// [`report_stale`] for the SealedSecret documents of a file's text.
pub fn report_stale_text(text: &str) {
    if let Ok(all) = common::documents::parse_sealed_secrets(text.as_bytes()) {
        report_stale(&all);
    }
}
