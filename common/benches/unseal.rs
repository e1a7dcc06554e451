//! P5: one item unseal through `common` against one raw aws-lc-rs RSA-4096 OAEP private operation on
//! the same machine, in the same run. Run with `cargo bench -p sealed-secrets-common --bench unseal`.
//!
//! Prints a table (median / p90 wall time per operation, single thread) and the ratio
//! `single_decrypt (aws-lc backend) ÷ raw aws-lc-rs private op` against the target 1.2.
//! `SSRS_BENCH_RUNS` overrides the number of timed runs (default 200).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

use std::time::{Duration, Instant};

use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine as _;
use common::crypto::{hybrid_encrypt, single_decrypt};
use common::keys::PrivateKey;
use common::scope::{SealingScope, encryption_label};

const TARGET: f64 = 1.2;

struct Stats {
    median: Duration,
    p90: Duration,
}

fn measure(runs: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..runs.div_ceil(10).max(3) {
        f(); // warm-up
    }
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    let pct = |p: f64| t[((t.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    Stats {
        median: pct(0.5),
        p90: pct(0.9),
    }
}

fn pkcs8_der(key: &PrivateKey) -> Vec<u8> {
    let pem = key.to_pkcs8_pem().expect("pkcs8 pem");
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("pkcs8 base64")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: nothing to parse.
    let runs: usize = std::env::var("SSRS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let key_pem = fixtures::key_pem();
    let key = PrivateKey::from_pem(&key_pem).expect("fixture key");
    assert_eq!(key.backend_name(), "aws-lc-rs", "common's default backend");
    let rc_key = PrivateKey::from_pem(&key_pem)
        .expect("fixture key")
        .into_rustcrypto_backend();
    let (ns, name) = ("bench", "secret");
    let label = encryption_label(ns, name, SealingScope::Strict);
    let value = [0x5au8; 64];
    let mut rng = rand::rng();
    let ciphertext = hybrid_encrypt(&mut rng, key.public_key(), &value, &label).expect("seal");

    // Raw aws-lc-rs: the same key, a 32-byte session key wrapped under the same label.
    let raw = OaepPrivateDecryptingKey::new(
        PrivateDecryptingKey::from_pkcs8(&pkcs8_der(&key)).expect("aws-lc key"),
    )
    .expect("oaep key");
    let spki = key.public_key().to_spki_der().expect("spki");
    let enc = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).expect("pub"))
        .expect("oaep pub");
    let mut wrapped = vec![0u8; enc.ciphertext_size()];
    let wrapped = enc
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &[7u8; 32],
            &mut wrapped,
            Some(&label),
        )
        .expect("wrap")
        .to_vec();
    let mut out = vec![0u8; raw.min_output_size()];

    let raw_op = measure(runs, || {
        let pt = raw
            .decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped, &mut out, Some(&label))
            .expect("raw decrypt");
        assert_eq!(pt.len(), 32);
    });
    let unseal_aws = measure(runs, || {
        let pt = single_decrypt(&key, &ciphertext, &label).expect("unseal");
        assert_eq!(pt.len(), 64);
    });
    let unseal_rc = measure((runs / 4).max(20), || {
        let pt = single_decrypt(&rc_key, &ciphertext, &label).expect("unseal rsa");
        assert_eq!(pt.len(), 64);
    });
    let seal = measure(runs, || {
        let ct = hybrid_encrypt(&mut rng, key.public_key(), &value, &label).expect("seal");
        assert!(!ct.is_empty());
    });

    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    println!("\nRSA-4096 (fixture key), single thread, {runs} timed runs (rsa backend: fewer)\n");
    println!("| operation | median ms | p90 ms |");
    println!("|---|---|---|");
    for (what, s) in [
        ("aws-lc-rs OAEP-SHA256 private op (raw, limit)", &raw_op),
        (
            "common single_decrypt, 64-byte item (aws-lc-rs backend)",
            &unseal_aws,
        ),
        (
            "common single_decrypt, 64-byte item (rsa 0.10 backend)",
            &unseal_rc,
        ),
        ("common hybrid_encrypt, 64-byte item (seal)", &seal),
    ] {
        println!("| {what} | {} | {} |", ms(s.median), ms(s.p90));
    }
    let ratio = unseal_aws.median.as_secs_f64() / raw_op.median.as_secs_f64();
    println!(
        "\nP5 one item unseal / one aws-lc-rs private op = {ratio:.3} (target <= {TARGET}): {}",
        if ratio <= TARGET { "PASS" } else { "FAIL" }
    );
}
