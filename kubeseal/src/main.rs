//! `kubeseal`: seal Secrets into SealedSecrets, offline modes of upstream's CLI.

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
