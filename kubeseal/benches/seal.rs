//! Whole-process wall time of `kubeseal` sealing a 10-key Secret with the 4096-bit fixture
//! certificate. Run with `cargo bench -p kubeseal` (builds the release binary first).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 50;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cert = fixtures::path(fixtures::CERT);
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "kubeseal", "--bin", "kubeseal"])
        .current_dir(&root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "release build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../target"));
    let bin = target.join("release/kubeseal");

    let mut secret = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bench\n  namespace: default\nstringData:\n",
    );
    for i in 0..10 {
        secret.push_str(&format!("  key{i}: value-{i}-{}\n", "x".repeat(32)));
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS + 3 {
        let start = Instant::now();
        let mut child = Command::new(&bin)
            .arg("--cert")
            .arg(&cert)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kubeseal");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(secret.as_bytes())
            .expect("write");
        let st = child.wait().expect("wait");
        assert!(st.success());
        times.push(start.elapsed());
    }
    let mut times: Vec<Duration> = times.split_off(3); // warm-up runs dropped
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| benchmark (kubeseal, 10-key Secret, RSA-4096 cert) | runs | min ms | median ms | p90 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| seal, whole process | {RUNS} | {:.2} | {:.2} | {:.2} | {:.2} |",
        ms(times[0]),
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(times[times.len() - 1])
    );
}
