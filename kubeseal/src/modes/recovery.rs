//! `--recovery-unseal`: SealedSecret(s) → Secret(s) with private keys, offline (the recovery
//! envelope too, when the keys open it and not `encryptedData`); and the
//! `--recovery-private-key` files it (and offline re-encryption) reads: PEM private keys (PKCS#1
//! or PKCS#8), key Secrets (`tls.key`), `v1.List`/`SecretList` backups, or multi-document Secrets.

use common::documents::{
    Format, parse_documents, sealed_secret_from_value, secret_from_value, secret_to_string,
    unwrap_lists,
};
use common::keys::PrivateKey;
use common::sealing::{UnsealOptions, UnsealStats, unseal};

use crate::config::Config;
use crate::io::{TTY_HINT_RESOURCE, emit, read_file, read_input};

/// `--recovery-unseal`.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let keys = read_private_keys(&config.recovery_private_keys)?;
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let out = recovery_unseal(&input, &keys, config.output.format)?;
    emit(&config.output, &out)
}

/// Unseal every SealedSecret in `input` with `keys`; the Secrets in `format`.
pub fn recovery_unseal(
    input: &[u8],
    keys: &[PrivateKey],
    format: Format,
) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    // A `v1 List` (what several `--cert` print in JSON) is read as its items.
    let sealed = unwrap_lists(parse_documents(input)?)
        .into_iter()
        .map(sealed_secret_from_value)
        .collect::<Result<Vec<_>, _>>()?;
    if sealed.is_empty() {
        anyhow::bail!("no sealed secrets found. Ensure the input is valid and UTF-8 encoded");
    }
    let refs: Vec<&PrivateKey> = keys.iter().collect();
    let opts = UnsealOptions {
        accept_deprecated_v1_data: false,
        ..UnsealOptions::default()
    };
    let mut out = zeroize::Zeroizing::new(String::new());
    for ss in &sealed {
        // After a lost cluster the keys may open only the recovery envelope (same label).
        let secret = match unseal(ss, &refs, &opts, &mut UnsealStats::default()) {
            Ok(s) => s,
            Err(e) if e.is_decryption() => match common::recovery::promote(ss) {
                Ok(Some(promoted)) => {
                    unseal(&promoted, &refs, &opts, &mut UnsealStats::default()).map_err(|_| e)?
                }
                _ => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        out.push_str(&secret_to_string(secret.secret(), format)?);
    }
    Ok(zeroize::Zeroizing::new(
        std::mem::take(&mut *out).into_bytes(),
    ))
}

/// Read every key named by `specs` (paths; already split on commas).
pub fn read_private_keys(specs: &[String]) -> anyhow::Result<Vec<PrivateKey>> {
    let mut keys = Vec::new();
    for spec in specs {
        let path = std::path::Path::new(spec);
        let bytes = zeroize::Zeroizing::new(read_file(path)?);
        if PrivateKey::is_encrypted_pem(&bytes) {
            let pass = super::recover::passphrase_for(path)?;
            keys.push(
                PrivateKey::from_encrypted_pem(&bytes, pass.as_bytes()).map_err(|e| {
                    anyhow::anyhow!("cannot read private key {}: {e}", path.display())
                })?,
            );
            continue;
        }
        keys.extend(
            parse_private_keys(&bytes)
                .map_err(|e| e.context(format!("cannot read private key {}", path.display())))?,
        );
    }
    Ok(keys)
}

/// Keys in one file's contents.
pub fn parse_private_keys(bytes: &[u8]) -> anyhow::Result<Vec<PrivateKey>> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Ok(vec![PrivateKey::from_pem(bytes)?]);
    }
    let docs = unwrap_lists(parse_documents(bytes)?);
    let mut keys = Vec::new();
    for doc in docs {
        let secret = secret_from_value(doc)?;
        let pem = secret
            .data
            .as_ref()
            .and_then(|d| d.get("tls.key"))
            .ok_or_else(|| anyhow::anyhow!("secret must contain a 'tls.key' key"))?;
        keys.push(PrivateKey::from_pem(&pem.0)?);
    }
    if keys.is_empty() {
        anyhow::bail!("no private key found");
    }
    Ok(keys)
}
