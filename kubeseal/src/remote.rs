//! The online modes: `--validate` and `--re-encrypt` through the controller's `/v1/verify` and
//! `/v1/rotate`, reached through the API server's service proxy.

use common::documents::{
    Format, parse_documents, sealed_secret_from_value, sealed_secret_to_string,
};

use crate::config::Config;
use crate::online::{Online, proxy_error};

/// `--validate`: POST each SealedSecret of `input` to `/v1/verify`. Nothing is printed on success.
pub fn validate(config: &Config, input: &[u8]) -> anyhow::Result<()> {
    let docs = parse_documents(input)
        .map_err(|e| anyhow::anyhow!("unable to decrypt sealed secret: {e}"))?;
    let mut sealed = Vec::with_capacity(docs.len());
    for d in docs {
        sealed.push(
            sealed_secret_from_value(d)
                .map_err(|e| anyhow::anyhow!("unable to decrypt sealed secret: {e}"))?,
        );
    }
    if sealed.is_empty() {
        return Ok(());
    }
    let online = Online::connect(&config.kube)?;
    let ctl = online.controller(&config.controller_namespace, &config.controller_name)?;
    for ss in &sealed {
        let name = ss.metadata.name.clone().unwrap_or_default();
        let body = serde_json::to_vec(ss)?;
        let r = online
            .post(&ctl, "verify", body)
            .map_err(|e| anyhow::anyhow!("cannot validate sealed secret: {e}"))?;
        match r.status.as_u16() {
            200..=299 => {}
            409 => anyhow::bail!("unable to decrypt sealed secret: {name}"),
            _ => anyhow::bail!(
                "cannot validate sealed secret: {}",
                proxy_error(&r, "create", &ctl)
            ),
        }
    }
    Ok(())
}

/// `--re-encrypt` online: POST each SealedSecret of `input` to `/v1/rotate` and print the results
/// in `format` (server-set fields cleared).
pub fn reencrypt(config: &Config, input: &[u8], format: Format) -> anyhow::Result<Vec<u8>> {
    let docs = parse_documents(input)?;
    let mut sealed = Vec::with_capacity(docs.len());
    for d in docs {
        sealed.push(sealed_secret_from_value(d)?);
    }
    if sealed.is_empty() {
        anyhow::bail!("no sealed secrets found in the input");
    }
    let online = Online::connect(&config.kube)?;
    let ctl = online.controller(&config.controller_namespace, &config.controller_name)?;
    let mut out = String::new();
    for ss in &sealed {
        let name = ss.metadata.name.clone().unwrap_or_default();
        let body = serde_json::to_vec(ss)?;
        let r = online
            .post(&ctl, "rotate", body)
            .map_err(|e| anyhow::anyhow!("cannot re-encrypt secret: {e}"))?;
        match r.status.as_u16() {
            200..=299 => {}
            409 => anyhow::bail!(
                "unable to rotate secret: {name}: no key of the controller can decrypt it"
            ),
            _ => anyhow::bail!(
                "cannot re-encrypt secret: {}",
                proxy_error(&r, "create", &ctl)
            ),
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| {
            anyhow::anyhow!("cannot re-encrypt secret: cannot decode the controller's answer: {e}")
        })?;
        let mut new = sealed_secret_from_value(v)?;
        new.metadata.creation_timestamp = None;
        new.metadata.deletion_timestamp = None;
        new.metadata.generation = None;
        out.push_str(&sealed_secret_to_string(&new, format)?);
    }
    Ok(out.into_bytes())
}
