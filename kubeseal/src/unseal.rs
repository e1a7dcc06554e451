//! `--recovery-unseal`: SealedSecret(s) → Secret(s) with private keys, offline.

use common::documents::{Format, parse_sealed_secrets, secret_to_string};
use common::keys::PrivateKey;
use common::sealing::{UnsealOptions, UnsealStats, unseal};

/// Unseal every SealedSecret in `input` with `keys`; the Secrets in `format`.
pub fn recovery_unseal(
    input: &[u8],
    keys: &[PrivateKey],
    format: Format,
) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    let sealed = parse_sealed_secrets(input)?;
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
        let secret = unseal(ss, &refs, &opts, &mut UnsealStats::default())?;
        out.push_str(&secret_to_string(secret.secret(), format)?);
    }
    Ok(zeroize::Zeroizing::new(
        std::mem::take(&mut *out).into_bytes(),
    ))
}
