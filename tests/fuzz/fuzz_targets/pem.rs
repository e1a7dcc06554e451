//! Key and certificate parsing (`common::keys`): what the controller reads from key Secrets
//! (`tls.key`, `tls.crt`) and kubeseal from `--cert` and `--recovery-private-key`.
//!
//! The input is tried as PEM (private keys: PKCS#1 or PKCS#8, anything between blocks skipped;
//! certificate bundles) and as raw DER (certificate, SubjectPublicKeyInfo). Checked: no panic, no
//! hang, and whatever parses writes back to PEM that parses to the same key or certificate.
#![no_main]

use std::time::SystemTime;

use common::keys::{Certificate, PrivateKey, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PrivateKey::from_pem(data) {
        let pkcs1 = key.to_pkcs1_pem().expect("a parsed key writes as PKCS#1");
        let again = PrivateKey::from_pem(pkcs1.as_bytes()).expect("own PKCS#1 parses");
        assert_eq!(again.fingerprint(), key.fingerprint());
        let pkcs8 = key.to_pkcs8_pem().expect("a parsed key writes as PKCS#8");
        let again = PrivateKey::from_pem(pkcs8.as_bytes()).expect("own PKCS#8 parses");
        assert_eq!(again.fingerprint(), key.fingerprint());
        let spki = key.public_key().to_spki_der().expect("public key writes");
        let public = PublicKey::from_spki_der(&spki).expect("own SPKI parses");
        assert_eq!(&public, key.public_key());
    }

    let all = Certificate::all_from_pem(data);
    let first = Certificate::from_pem(data);
    match &all {
        Ok(certs) if !certs.is_empty() => {
            let first = first.expect("first of a good bundle parses");
            assert_eq!(first.der(), certs[0].der());
        }
        _ => assert!(first.is_err(), "from_pem accepts what all_from_pem refuses"),
    }
    for cert in all.iter().flatten() {
        let again = Certificate::from_pem(cert.to_pem().as_bytes()).expect("own PEM parses");
        assert_eq!(again.der(), cert.der());
        assert_eq!(again.public_key(), cert.public_key());
        let _ = cert.check_not_expired(SystemTime::now());
    }

    if let Ok(cert) = Certificate::from_der(data) {
        assert_eq!(cert.der(), data);
        let again = Certificate::from_pem(cert.to_pem().as_bytes()).expect("own PEM parses");
        assert_eq!(again.public_key(), cert.public_key());
    }
    if let Ok(public) = PublicKey::from_spki_der(data) {
        let der = public.to_spki_der().expect("public key writes");
        assert_eq!(
            &PublicKey::from_spki_der(&der).expect("own SPKI parses"),
            &public
        );
    }
});
