//! Fixtures shared by the fuzz targets: the interop test key (`../shared/fixtures/interop`, read
//! through the workspace's one fixtures crate), loaded once per process.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use common::keys::{Certificate, PrivateKey};
use controller::keys::{KeyEntry, KeyRing};

/// The interop sealing key (RSA-4096, PKCS#1 PEM). Test data only.
fn key_pem() -> &'static [u8] {
    static PEM: OnceLock<Vec<u8>> = OnceLock::new();
    PEM.get_or_init(fixtures::key_pem)
}

/// The fixture private key.
pub fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::from_pem(key_pem()).expect("fixture key parses"))
}

/// The fixture certificate.
pub fn cert() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::from_pem(&fixtures::cert_pem()).expect("fixture certificate parses"))
}

/// A controller key ring holding only the fixture key.
pub fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::new(vec![Arc::new(KeyEntry {
            key: PrivateKey::from_pem(key_pem()).expect("fixture key parses"),
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
