//! The only module that knows clap: arguments and `SEALED_SECRETS_<FLAG>` variables → [`Config`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use common::documents::Format;
use common::scope::SealingScope;

use crate::config::{Config, KeysCommand, KubeFlags};

/// The action word of `kubeseal keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KeysAction {
    /// Export every key Secret.
    Backup,
    /// Create the keys of a backup that are missing.
    Restore,
    /// Print the keys.
    List,
}

/// Upstream's `VERSION`, printed by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// kubeseal flags, as upstream's pflag set. Every flag can also be set as `SEALED_SECRETS_<FLAG>`;
/// an explicit flag wins.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal",
    about = "Seal Kubernetes Secrets into SealedSecrets (drop-in for bitnami-labs/sealed-secrets kubeseal)",
    disable_version_flag = true
)]
pub struct Cli {
    /// Certificate / public key file/URL to use for encryption. Overrides --controller-*
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "CERT")]
    cert: Option<String>,
    /// Namespace of sealed-secrets controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    controller_namespace: String,
    /// Name of sealed-secrets controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    controller_name: String,
    /// Output format for sealed secret. Either json or yaml
    #[arg(
        short = 'o',
        long,
        env = "SEALED_SECRETS_FORMAT",
        default_value = "json"
    )]
    format: String,
    /// Sealed-secret (output) file
    #[arg(short = 'w', long, env = "SEALED_SECRETS_SEALED_SECRET_FILE")]
    sealed_secret_file: Option<PathBuf>,
    /// Secret (input) file
    #[arg(short = 'f', long, env = "SEALED_SECRETS_SECRET_FILE")]
    secret_file: Option<PathBuf>,
    /// Write certificate to stdout. Useful for later use with --cert
    #[arg(long, env = "SEALED_SECRETS_FETCH_CERT", action = ArgAction::SetTrue)]
    fetch_cert: bool,
    /// Allow empty data in the secret object
    #[arg(long, env = "SEALED_SECRETS_ALLOW_EMPTY_DATA", action = ArgAction::SetTrue)]
    allow_empty_data: bool,
    /// Validate a sealed secret with the controller
    #[arg(long, env = "SEALED_SECRETS_VALIDATE", action = ArgAction::SetTrue)]
    validate: bool,
    /// Merge items from secret into an existing sealed secret file, updating the file in-place instead of writing to stdout.
    #[arg(long, env = "SEALED_SECRETS_MERGE_INTO")]
    merge_into: Option<PathBuf>,
    /// Encrypt a raw value passed via the --from-file flag or stdin
    #[arg(long, env = "SEALED_SECRETS_RAW", action = ArgAction::SetTrue)]
    raw: bool,
    /// Name of the sealed secret (required with --raw and default (strict) scope)
    #[arg(long, env = "SEALED_SECRETS_NAME")]
    name: Option<String>,
    /// (only with --raw) Secret items can be sourced from files. Pro-tip: you can use /dev/stdin to read pipe input. This flag tries to follow the same syntax as in kubectl
    #[arg(long, env = "SEALED_SECRETS_FROM_FILE", value_delimiter = ',')]
    from_file: Vec<String>,
    /// Set the scope of the sealed secret: strict, namespace-wide, cluster-wide (defaults to strict). Mandatory for --raw, otherwise the 'sealedsecrets.bitnami.com/cluster-wide' and 'sealedsecrets.bitnami.com/namespace-wide' annotations on the input secret can be used to select the scope.
    #[arg(long, env = "SEALED_SECRETS_SCOPE", default_value = "strict", value_parser = parse_scope)]
    scope: SealingScope,
    /// Re-encrypt the given sealed secret to use the latest cluster key (offline with --recovery-private-key and --cert).
    #[arg(long, env = "SEALED_SECRETS_RE_ENCRYPT", action = ArgAction::SetTrue)]
    re_encrypt: bool,
    /// [DEPRECATED - use --re-encrypt instead] Re-encrypt the given sealed secret to use the latest cluster key.
    #[arg(long, env = "SEALED_SECRETS_ROTATE", action = ArgAction::SetTrue)]
    rotate: bool,
    /// Re-encrypt every SealedSecret file (.yaml, .yml, .json) under DIR, recursively, in place (offline; needs --recovery-private-key and --cert).
    #[arg(long, env = "SEALED_SECRETS_RE_ENCRYPT_DIR", value_name = "DIR")]
    re_encrypt_dir: Option<PathBuf>,
    /// Decrypt a sealed secrets file obtained from stdin, using the private key mode used to seal it
    #[arg(long, env = "SEALED_SECRETS_RECOVERY_UNSEAL", action = ArgAction::SetTrue)]
    recovery_unseal: bool,
    /// Private key filename used by the --recovery-unseal command. Multiple files accepted either via comma separated list or by repetition of the flag. Either PEM encoded private keys or a backup of a json/yaml encoded k8s sealed-secret controller secret (and v1.List) are accepted.
    #[arg(
        long,
        env = "SEALED_SECRETS_RECOVERY_PRIVATE_KEY",
        value_delimiter = ','
    )]
    recovery_private_key: Vec<String>,
    /// Print version information and exit
    #[arg(long, action = ArgAction::SetTrue)]
    version: bool,

    #[command(flatten)]
    kube: KubeArgs,
}

/// kubectl-style connection flags (shared by the sealing CLI and `kubeseal keys`).
#[derive(clap::Args, Debug)]
struct KubeArgs {
    /// Path to a kube config. Only required if out-of-cluster
    #[arg(long, env = "SEALED_SECRETS_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Username to impersonate for the operation
    #[arg(long = "as", env = "SEALED_SECRETS_AS")]
    as_user: Option<String>,
    /// Group to impersonate for the operation, this flag can be repeated to specify multiple groups.
    #[arg(long, env = "SEALED_SECRETS_AS_GROUP", value_delimiter = ',')]
    as_group: Vec<String>,
    /// Path to a cert file for the certificate authority
    #[arg(long, env = "SEALED_SECRETS_CERTIFICATE_AUTHORITY")]
    certificate_authority: Option<PathBuf>,
    /// Path to a client certificate file for TLS
    #[arg(long, env = "SEALED_SECRETS_CLIENT_CERTIFICATE")]
    client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS
    #[arg(long, env = "SEALED_SECRETS_CLIENT_KEY")]
    client_key: Option<PathBuf>,
    /// The name of the kubeconfig cluster to use
    #[arg(long, env = "SEALED_SECRETS_CLUSTER")]
    cluster: Option<String>,
    /// The name of the kubeconfig context to use
    #[arg(long, env = "SEALED_SECRETS_CONTEXT")]
    context: Option<String>,
    /// If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure
    #[arg(long, env = "SEALED_SECRETS_INSECURE_SKIP_TLS_VERIFY", action = ArgAction::SetTrue)]
    insecure_skip_tls_verify: bool,
    /// If present, the namespace scope for this CLI request
    #[arg(short = 'n', long, env = "SEALED_SECRETS_NAMESPACE")]
    namespace: Option<String>,
    /// The length of time to wait before giving up on a single server request. Non-zero values should contain a corresponding time unit (e.g. 1s, 2m, 3h). A value of zero means don't timeout requests.
    #[arg(long, env = "SEALED_SECRETS_REQUEST_TIMEOUT", default_value = "0")]
    request_timeout: String,
    /// The address and port of the Kubernetes API server
    #[arg(long, env = "SEALED_SECRETS_SERVER")]
    server: Option<String>,
    /// Bearer token for authentication to the API server
    #[arg(long, env = "SEALED_SECRETS_TOKEN")]
    token: Option<String>,
    /// The name of the kubeconfig user to use
    #[arg(long, env = "SEALED_SECRETS_USER")]
    user: Option<String>,
}

impl KubeArgs {
    fn into_flags(self) -> KubeFlags {
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let nonempty_path = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
        KubeFlags {
            kubeconfig: nonempty_path(self.kubeconfig),
            context: nonempty(self.context),
            cluster: nonempty(self.cluster),
            user: nonempty(self.user),
            server: nonempty(self.server),
            token: nonempty(self.token),
            as_user: nonempty(self.as_user),
            as_group: self
                .as_group
                .into_iter()
                .filter(|g| !g.is_empty())
                .collect(),
            certificate_authority: nonempty_path(self.certificate_authority),
            client_certificate: nonempty_path(self.client_certificate),
            client_key: nonempty_path(self.client_key),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            request_timeout: self.request_timeout,
            namespace: nonempty(self.namespace),
        }
    }
}

/// `kubeseal keys <backup|restore|list>` (beyond upstream): manage the controller's sealing keys.
/// Upstream's kubeseal takes no positional arguments, so a leading `keys` cannot clash.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal keys",
    about = "Back up, restore and list the sealing keys of the sealed-secrets controller (needs secrets get/list/create in the controller namespace)"
)]
struct KeysCli {
    /// What to do: backup (all key Secrets to one v1.List file), restore FILE (create the keys that are missing), list
    #[arg(value_enum)]
    action: KeysAction,
    /// restore: the backup file (a v1.List of key Secrets, or Secrets, as `keys backup` writes)
    file: Option<PathBuf>,
    /// backup: the file to write (mode 0600); `-` for stdout
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Namespace of sealed-secrets controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    controller_namespace: String,
    #[command(flatten)]
    kube: KubeArgs,
}

fn parse_keys<I, T>(args: I) -> Result<Config, ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Drop argv[0] ("kubeseal") so that the command is named "kubeseal keys".
    let k = match KeysCli::try_parse_from(args.into_iter().skip(1)) {
        Ok(k) => k,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    let cmd = match k.action {
        KeysAction::Backup => match k.output {
            Some(o) => KeysCommand::Backup { output: o },
            None => {
                eprintln!("error: kubeseal keys backup needs -o FILE (or -o - for stdout)");
                return Err(ExitCode::FAILURE);
            }
        },
        KeysAction::Restore => match k.file {
            Some(f) => KeysCommand::Restore { file: f },
            None => {
                eprintln!("error: kubeseal keys restore needs a FILE argument");
                return Err(ExitCode::FAILURE);
            }
        },
        KeysAction::List => KeysCommand::List,
    };
    Ok(Config {
        controller_namespace: k.controller_namespace,
        keys: Some(cmd),
        kube: k.kube.into_flags(),
        ..Config::default()
    })
}

fn parse_scope(s: &str) -> Result<SealingScope, String> {
    s.parse::<SealingScope>().map_err(|e| e.to_string())
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s.to_ascii_lowercase().as_str() {
        "json" => Ok(Format::Json),
        "yaml" => Ok(Format::Yaml),
        _ => Err(format!("unsupported output format: {s}")),
    }
}

/// The clap command (for `debug_assert` and help text).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parse `args` (including `argv[0]`). `Err` carries the exit code after clap printed help or a
/// usage error, or after `--version` was printed.
pub fn parse_from<I, T>(args: I) -> Result<Config, ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<T> = args.into_iter().collect();
    if args
        .get(1)
        .is_some_and(|a| Into::<std::ffi::OsString>::into(a.clone()) == "keys")
    {
        return parse_keys(args);
    }
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    let format_explicit = matches!(
        matches.value_source("format"),
        Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
    );
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Err(ExitCode::from(2));
        }
    };
    if cli.version {
        println!("kubeseal version: {VERSION}");
        return Err(ExitCode::SUCCESS);
    }
    let format = match parse_format(&cli.format) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Err(ExitCode::FAILURE);
        }
    };
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let nonempty_path = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    Ok(Config {
        cert: nonempty(cli.cert),
        controller_name: cli.controller_name,
        controller_namespace: cli.controller_namespace,
        format,
        format_explicit,
        output_file: nonempty_path(cli.sealed_secret_file),
        input_file: nonempty_path(cli.secret_file),
        fetch_cert: cli.fetch_cert,
        allow_empty_data: cli.allow_empty_data,
        validate: cli.validate,
        merge_into: nonempty_path(cli.merge_into),
        raw: cli.raw,
        name: nonempty(cli.name),
        from_file: cli
            .from_file
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        scope: cli.scope,
        re_encrypt: cli.re_encrypt || cli.rotate || cli.re_encrypt_dir.is_some(),
        re_encrypt_dir: nonempty_path(cli.re_encrypt_dir),
        recovery_unseal: cli.recovery_unseal,
        recovery_private_keys: cli
            .recovery_private_key
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        keys: None,
        kube: cli.kube.into_flags(),
    })
}

/// Parse the process arguments.
pub fn parse() -> Result<Config, ExitCode> {
    parse_from(std::env::args_os())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_debug_assert() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let c = parse_from(["kubeseal"]).unwrap();
        assert_eq!(c.controller_name, "sealed-secrets-controller");
        assert_eq!(c.controller_namespace, "kube-system");
        assert_eq!(c.format, Format::Json);
        assert!(!c.format_explicit);
        assert_eq!(c.scope, SealingScope::Strict);
    }

    #[test]
    fn slices_split_on_commas_and_repeat() {
        let c = parse_from([
            "kubeseal",
            "--recovery-private-key",
            "a,b",
            "--recovery-private-key",
            "c",
            "-o",
            "YAML",
        ])
        .unwrap();
        assert_eq!(c.recovery_private_keys, ["a", "b", "c"]);
        assert_eq!(c.format, Format::Yaml);
        assert!(c.format_explicit);
    }
}
