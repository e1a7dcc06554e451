//! Kubernetes documents: multi-document YAML or a JSON stream (`documents::parse_documents`), as
//! kubeseal reads stdin, files and key backups, decoded as Secrets and SealedSecrets, then the
//! conversions kubeseal and the controller run on them.
//!
//! Checked on every input: no panic, no hang, no unbounded memory, and
//! * a decoded SealedSecret or Secret written as JSON or YAML reads back to the same object
//!   (so what kubeseal writes, kubeseal and the apiserver read back unchanged);
//! * a Secret sealed with the fixture certificate (`sealing::seal_secret`) reads back, and for
//!   one input in 16 it also unseals (`sealing::unseal`, one RSA-4096 private operation per
//!   value) to exactly its `data` + `stringData`.
#![no_main]

use std::collections::BTreeMap;

use common::documents::{
    Format, parse_documents, parse_sealed_secrets, parse_secrets, sealed_secret_from_value,
    sealed_secret_to_string, secret_from_value, secret_to_string, unwrap_lists,
};
use common::sealing::{SealError, UnsealOptions, seal_secret, unseal};
use k8s_openapi::api::core::v1::Secret;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sealed_secrets_fuzz::{cert, key};

/// Values sealed per Secret at most (each is an RSA public operation).
const MAX_SEALED_ITEMS: usize = 4;

fuzz_target!(|data: &[u8]| {
    let Ok(docs) = parse_documents(data) else {
        // The all-at-once parsers must fail too.
        assert!(parse_secrets(data).is_err());
        assert!(parse_sealed_secrets(data).is_err());
        return;
    };
    assert!(docs.iter().all(|d| d.is_object()));
    let unseal_too = data.iter().fold(0u8, |a, b| a.wrapping_add(*b)) % 16 == 0;
    for doc in unwrap_lists(docs) {
        if let Ok(ss) = sealed_secret_from_value(doc.clone()) {
            for format in [Format::Json, Format::Yaml] {
                let text = sealed_secret_to_string(&ss, format).expect("SealedSecret serializes");
                let back = parse_sealed_secrets(text.as_bytes()).expect("own output parses");
                assert_eq!(back.len(), 1, "one SealedSecret written, one read");
                assert_eq!(
                    sealed_secret_to_string(&back[0], format).expect("serializes again"),
                    text,
                    "SealedSecret {format:?} round trip changed the object"
                );
            }
        }
        if let Ok(secret) = secret_from_value(doc) {
            for format in [Format::Json, Format::Yaml] {
                let text = secret_to_string(&secret, format).expect("Secret serializes");
                let back = parse_secrets(text.as_bytes()).expect("own output parses");
                assert_eq!(back.len(), 1, "one Secret written, one read");
                assert_eq!(
                    secret_to_string(&back[0], format).expect("serializes again"),
                    text,
                    "Secret {format:?} round trip changed the object"
                );
            }
            convert(&secret, unseal_too);
        }
    }
});

/// Secret → SealedSecret (kubeseal) → text → SealedSecret → Secret (controller).
fn convert(secret: &Secret, unseal_too: bool) {
    let items = secret.data.as_ref().map_or(0, BTreeMap::len)
        + secret.string_data.as_ref().map_or(0, BTreeMap::len);
    if items > MAX_SEALED_ITEMS {
        return;
    }
    let mut rng = StdRng::seed_from_u64(7);
    let ss = match seal_secret(&mut rng, cert().public_key(), secret) {
        Ok(ss) => ss,
        Err(SealError::MissingNamespace) => return,
        Err(e) => panic!("sealing failed: {e}"),
    };
    let text = sealed_secret_to_string(&ss, Format::Yaml).expect("sealed output serializes");
    let back = parse_sealed_secrets(text.as_bytes()).expect("sealed output parses");
    assert_eq!(back.len(), 1);
    let ss = &back[0];
    if !unseal_too {
        return;
    }
    let opts = UnsealOptions {
        render_templates: false,
        ..UnsealOptions::default()
    };
    let unsealed =
        unseal(ss, &[key()], &opts, &mut Default::default()).expect("what we sealed unseals");
    let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        want.insert(k.clone(), v.0.clone());
    }
    for (k, v) in secret.string_data.iter().flatten() {
        want.insert(k.clone(), v.as_bytes().to_vec());
    }
    let got: BTreeMap<String, Vec<u8>> = unsealed
        .secret()
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    assert!(got == want, "unsealed values differ from the sealed ones");
    assert_eq!(unsealed.secret().metadata.name, ss.metadata.name);
    assert_eq!(unsealed.secret().metadata.namespace, ss.metadata.namespace);
}
