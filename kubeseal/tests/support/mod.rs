//! Helpers: run the real binary in a temp dir with a scrubbed environment.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::keys::{Certificate, PrivateKey};

pub use fixtures::{TempDir, path as fixture};

pub fn key() -> PrivateKey {
    PrivateKey::from_pem(&std::fs::read(fixture("key-4096.pem")).unwrap()).unwrap()
}

pub fn cert() -> Certificate {
    Certificate::from_pem(&std::fs::read(fixture("cert-4096.pem")).unwrap()).unwrap()
}

pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn stdout_str(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        self
    }
}

/// Run kubeseal in `dir` with only HOME=dir (no kubeconfig) plus `env`.
pub fn run_env(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubeseal"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut sin = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(dir: &Path, args: &[&str], stdin: &[u8]) -> Out {
    run_env(dir, args, stdin, &[])
}

pub fn cert_arg() -> String {
    fixture("cert-4096.pem").display().to_string()
}

pub fn key_arg() -> String {
    fixture("key-4096.pem").display().to_string()
}

pub fn secret_yaml(name: &str, ns: Option<&str>, extra_meta: &str) -> String {
    let ns = ns
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n{ns}{extra_meta}data:\n  foo: YmFy\n"
    )
}
