//! The controller binary's command line, as a process: what happens before anything talks to a cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn controller() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_controller"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SEALED_SECRETS_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn an_env_value_that_does_not_parse_is_ignored_like_pflagenv() {
    let out = controller()
        .env("SEALED_SECRETS_KEY_SIZE", "big")
        .env("SEALED_SECRETS_UPDATE_STATUS", "maybe")
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("controller version: v"));
}

#[test]
fn a_flag_value_that_does_not_parse_is_an_error_naming_the_flag() {
    let out = controller()
        .args(["--key-size=big", "--version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--key-size"), "{stderr}");
}

#[test]
fn a_valid_env_value_is_still_used() {
    // A key size outside 1024..=16384 is refused after parsing, so this proves the variable was read.
    let out = controller()
        .env("SEALED_SECRETS_KEY_SIZE", "512")
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key-size 512"));
}
