//! `--recovery-private-key` files: PEM private keys (PKCS#1 or PKCS#8), key Secrets (`tls.key`),
//! `v1.List`/`SecretList` backups, or multi-document Secrets.

use common::documents::{parse_documents, secret_from_value, unwrap_lists};
use common::keys::PrivateKey;

/// Read every key named by `specs` (paths; already split on commas).
pub fn read_private_keys(specs: &[String]) -> anyhow::Result<Vec<PrivateKey>> {
    let mut keys = Vec::new();
    for spec in specs {
        let path = std::path::Path::new(spec);
        let bytes = zeroize::Zeroizing::new(crate::read_file(path)?);
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
