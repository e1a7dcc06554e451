//! `kubeseal`: seal Secrets into SealedSecrets, offline modes of upstream's CLI.
#![forbid(unsafe_code)]
// Same rules as the library.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match kubeseal::cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match kubeseal::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if kubeseal::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
