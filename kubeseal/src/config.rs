//! The plain configuration the CLI layer produces. Nothing here knows about clap.

use std::path::PathBuf;

use common::documents::Format;
use common::scope::SealingScope;

/// kubectl-style connection flags. Accepted now; only `kubeconfig`, `context` and `namespace`
/// are used offline (namespace resolution).
#[derive(Debug, Clone, Default)]
pub struct KubeFlags {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--server`.
    pub server: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--as`.
    pub as_user: Option<String>,
    /// `--as-group`.
    pub as_group: Vec<String>,
    /// `--certificate-authority`.
    pub certificate_authority: Option<PathBuf>,
    /// `--client-certificate`.
    pub client_certificate: Option<PathBuf>,
    /// `--client-key`.
    pub client_key: Option<PathBuf>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `--request-timeout`.
    pub request_timeout: String,
    /// `-n/--namespace`: the explicit namespace.
    pub namespace: Option<String>,
}

/// Everything a run needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `--cert`: path, `http(s)://` or `file://` URL.
    pub cert: Option<String>,
    /// `--controller-name`.
    pub controller_name: String,
    /// `--controller-namespace`.
    pub controller_namespace: String,
    /// `-o/--format`.
    pub format: Format,
    /// Whether `-o` was given (or set by env); `--merge-into` and in-place rewrites keep the file's
    /// format otherwise.
    pub format_explicit: bool,
    /// `-w/--sealed-secret-file`.
    pub output_file: Option<PathBuf>,
    /// `-f/--secret-file`.
    pub input_file: Option<PathBuf>,
    /// `--fetch-cert`.
    pub fetch_cert: bool,
    /// `--allow-empty-data`.
    pub allow_empty_data: bool,
    /// `--validate`.
    pub validate: bool,
    /// `--merge-into`.
    pub merge_into: Option<PathBuf>,
    /// `--raw`.
    pub raw: bool,
    /// `--name`.
    pub name: Option<String>,
    /// `--from-file`.
    pub from_file: Vec<String>,
    /// `--scope`.
    pub scope: SealingScope,
    /// `--re-encrypt` / `--rotate`.
    pub re_encrypt: bool,
    /// `--re-encrypt-dir` (ours).
    pub re_encrypt_dir: Option<PathBuf>,
    /// `--recovery-unseal`.
    pub recovery_unseal: bool,
    /// `--recovery-private-key`, already split on commas.
    pub recovery_private_keys: Vec<String>,
    /// Connection flags.
    pub kube: KubeFlags,
    /// `kubeseal keys …` (ours): key backup/restore/list instead of the sealing modes.
    pub keys: Option<KeysCommand>,
}

/// `kubeseal keys …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysCommand {
    /// `keys backup -o FILE` (`-` = stdout).
    Backup {
        /// Output file.
        output: PathBuf,
    },
    /// `keys restore FILE`.
    Restore {
        /// Backup file.
        file: PathBuf,
    },
    /// `keys list`.
    List,
}
