//! Fixtures shared by the fuzz targets: the interop test key (`../shared/fixtures/interop`,
//! compiled in so a target needs no files at run time), loaded once per process.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use common::keys::{Certificate, PrivateKey};
use controller::keys::{KeyEntry, KeyRing};

/// The interop sealing key (RSA-4096, PKCS#1 PEM). Test data only.
pub const KEY_PEM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/interop/key-4096.pem"
));

/// Its self-signed certificate.
pub const CERT_PEM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/interop/cert-4096.pem"
));

/// The fixture private key.
pub fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::from_pem(KEY_PEM).expect("fixture key parses"))
}

/// The fixture certificate.
pub fn cert() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::from_pem(CERT_PEM).expect("fixture certificate parses"))
}

/// A controller key ring holding only the fixture key.
pub fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::new(vec![Arc::new(KeyEntry {
            key: PrivateKey::from_pem(KEY_PEM).expect("fixture key parses"),
            cert: cert().clone(),
            secret_name: "sealed-secrets-keyfuzz".into(),
            ordering_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
            created: None,
        })])
    })
}

/// True when `needle` (at least `min` bytes) occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8], min: usize) -> bool {
    needle.len() >= min && haystack.windows(needle.len()).any(|w| w == needle)
}
