//! The kubeseal CLI as a library: [`cli`] turns arguments into a [`config::Config`] whose
//! [`Mode`] says what to do; [`run`] hands it to the module of that mode.
//!
//! | mode | module |
//! |---|---|
//! | seal (default), `--raw`, `--merge-into` | `modes/seal.rs` |
//! | `--recovery-unseal` | `modes/recovery.rs` |
//! | `--re-encrypt --recovery-private-key …` (offline), `--re-encrypt-dir` | `modes/reencrypt.rs` |
//! | `--validate`, `--re-encrypt` (online) | `modes/controller.rs` |
//! | `kubeseal keys …` | `modes/keys.rs` |
//! | `kubeseal set FILE …` | `modes/set.rs` |
//! | `kubeseal diff OLD NEW` | `modes/diff.rs` |
//! | `kubeseal edit FILE` | `modes/edit.rs` |
//! | `--keep-unchanged OLDFILE` (in seal mode) | `modes/keep.rs` |
//! | `kubeseal fingerprint-key new`, `--fingerprint-key-file` | `modes/fingerprint.rs` |
//! | `--fetch-cert` | `cert.rs` |
//! | several `--cert`, `--targets FILE` (fleet sealing) | `modes/fleet.rs` |
//! | `kubeseal recovery-key new`, `kubeseal recover --promote DIR` | `modes/recover.rs` |
//! | `--recovery-cert` on every path that writes items | `modes/envelope.rs` |
//!
//! Around them: `cert.rs` (where the certificate comes from), `cluster/` (API server access, the
//! kubeconfig, proxies from the environment), `io.rs` (input, output, Go-style I/O errors) and
//! `rng.rs`.

pub mod cli;
pub mod config;

mod cert;
mod cluster;
mod io;
mod modes;
mod rng;

pub use cert::parse_cert;
pub use io::is_broken_pipe;

use config::{Config, Mode};

/// Run kubeseal with `config`.
pub fn run(config: &Config) -> anyhow::Result<()> {
    match &config.mode {
        Mode::Keys(cmd) => modes::keys::run(cmd, config),
        Mode::Set(cmd) => modes::set::run(cmd, config),
        Mode::Diff { old, new } => modes::diff::run(old, new, config),
        Mode::FingerprintKeyNew { output } => modes::fingerprint::new_key(output),
        Mode::Edit { file, name } => modes::edit::run(file, name.as_deref(), config),
        Mode::RecoveryUnseal => modes::recovery::run(config),
        Mode::Validate => modes::controller::validate(config),
        Mode::Rotate => modes::controller::rotate(config),
        Mode::ReEncrypt { dir } => modes::reencrypt::run(config, dir.as_deref()),
        Mode::Targets(file) => modes::fleet::run_targets(config, file),
        Mode::RecoveryKeyNew {
            key_out,
            cert_out,
            validity,
            common_name,
            passphrase,
        } => modes::recover::new_key(key_out, cert_out, *validity, common_name, *passphrase),
        Mode::Promote { dir } => modes::recover::run_promote(dir),
        Mode::FetchCert => io::emit(&config.output, &cert::open(config)?),
        Mode::MergeInto(target) => modes::seal::run_merge_into(config, target),
        Mode::Raw { name, from_file } => modes::seal::run_raw(config, name.as_deref(), from_file),
        Mode::Seal { name } => modes::seal::run(config, name.as_deref()),
    }
}
