//! Fixtures shared by the unit tests: the interop key from ../shared/fixtures/interop and a
//! generated key, each made once per test binary.

use std::sync::OnceLock;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::keys::{Certificate, CertificateParams, PrivateKey, self_signed_certificate};

pub use fixtures::read as fixture;

pub fn fixture_key_pem() -> String {
    String::from_utf8(fixtures::key_pem()).unwrap()
}

pub fn fixture_key() -> PrivateKey {
    PrivateKey::from_pem(fixture_key_pem().as_bytes()).unwrap()
}

pub fn fixture_cert() -> Certificate {
    Certificate::from_pem(&fixtures::cert_pem()).unwrap()
}

pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A 2048-bit key generated once per test binary (4096 is slow to generate).
pub fn generated_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate(&mut seeded_rng(42), 2048).unwrap())
}

pub fn generated_cert_pem() -> String {
    let params = CertificateParams {
        common_name: "test".into(),
        not_before: std::time::SystemTime::now(),
        validity: std::time::Duration::from_secs(3600),
    };
    self_signed_certificate(&mut seeded_rng(7), generated_key(), &params)
        .unwrap()
        .to_pem()
}
