//! The only module that knows clap: arguments and `SEALED_SECRETS_<FLAG>` variables → [`Config`],
//! with the [`Mode`] decided here and flag combinations that make no sense refused as usage errors.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use common::documents::Format;
use common::scope::SealingScope;

use crate::config::{
    CertSource, Charset, Config, KeysCommand, KubeFlags, Mode, Output, SetCommand, SetItem,
    SetSource,
};
use crate::io::is_yaml_path;

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

/// Go's `strconv.ParseBool`, as pflag parses `--flag=<bool>` and kubeseal its `SEALED_SECRETS_*`
/// booleans (`1`, `t`, `T`, `TRUE`, `true`, `True` and the `0`/`f`/`false` forms).
fn go_bool(s: &str) -> Result<bool, common::go::BoolError> {
    common::go::parse_bool(s)
}

/// Upstream's `VERSION`, printed by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// kubeseal flags, as upstream's pflag set. Every flag can also be set as `SEALED_SECRETS_<FLAG>`;
/// an explicit flag wins.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal",
    about = "Seal Kubernetes Secrets into SealedSecrets (drop-in for bitnami-labs/sealed-secrets kubeseal)",
    disable_version_flag = true,
    // pflag: a repeated flag is not an error, the last one wins (chart args plus extra args).
    args_override_self = true
)]
pub struct Cli {
    /// Certificate / public key file/URL to use for encryption. Overrides --controller-*. Given more than once (ours): one SealedSecret per certificate (a v1 List in JSON, one document each in YAML)
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "CERT", action = ArgAction::Append)]
    cert: Vec<String>,
    /// (ours) Also seal every item to this break-glass recovery certificate, into the sealed-secrets-rs.dev/recovery annotation (kubeseal recovery-key new makes one)
    #[arg(long, env = "SEALED_SECRETS_RECOVERY_CERT", value_name = "FILE")]
    recovery_cert: Option<PathBuf>,
    /// (ours) Seal the input once per target of a SealingTargets file (per target: cert, output path pattern, optional namespace; one recoveryCert for all), writing each target's file
    #[arg(long, env = "SEALED_SECRETS_TARGETS", value_name = "FILE")]
    targets: Option<PathBuf>,
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
    #[arg(long, env = "SEALED_SECRETS_FETCH_CERT", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    fetch_cert: bool,
    /// Allow empty data in the secret object
    #[arg(long, env = "SEALED_SECRETS_ALLOW_EMPTY_DATA", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    allow_empty_data: bool,
    /// Validate a sealed secret with the controller
    #[arg(long, env = "SEALED_SECRETS_VALIDATE", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    validate: bool,
    /// Merge items from secret into an existing sealed secret file, updating the file in-place instead of writing to stdout.
    #[arg(long, env = "SEALED_SECRETS_MERGE_INTO")]
    merge_into: Option<PathBuf>,
    /// (sealing) Keep the ciphertext of every item of OLDFILE proven to hold the same value under the same label, so that only changed items change; the proof is --recovery-private-key (without it every item is sealed again). With -w OLDFILE only the changed items' lines are rewritten.
    #[arg(long, value_name = "OLDFILE")]
    keep_unchanged: Option<PathBuf>,
    /// (with --keep-unchanged) Also prove values with the live cluster: the in-cluster SealedSecret must hold OLDFILE's exact items, be Synced at its generation and own the Secret whose values are read (needs get on sealedsecrets and secrets).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    from_cluster: bool,
    /// (sealing) Write the keyed fingerprint annotation (sealed-secrets-rs.dev/fingerprints) and accept it as the proof of --keep-unchanged; FILE holds the key from `kubeseal fingerprint-key new`, never commit it (else SEALED_SECRETS_FINGERPRINT_KEY holds the key itself).
    #[arg(long, value_name = "FILE")]
    fingerprint_key_file: Option<PathBuf>,
    /// Encrypt a raw value passed via the --from-file flag or stdin
    #[arg(long, env = "SEALED_SECRETS_RAW", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
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
    #[arg(long, env = "SEALED_SECRETS_RE_ENCRYPT", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    re_encrypt: bool,
    /// [DEPRECATED - use --re-encrypt instead] Re-encrypt the given sealed secret to use the latest cluster key.
    #[arg(long, env = "SEALED_SECRETS_ROTATE", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    rotate: bool,
    /// Re-encrypt every SealedSecret file (.yaml, .yml, .json) under DIR, recursively, in place (offline; needs --recovery-private-key and --cert).
    #[arg(long, env = "SEALED_SECRETS_RE_ENCRYPT_DIR", value_name = "DIR")]
    re_encrypt_dir: Option<PathBuf>,
    /// Decrypt a sealed secrets file obtained from stdin, using the private key mode used to seal it
    #[arg(long, env = "SEALED_SECRETS_RECOVERY_UNSEAL", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    recovery_unseal: bool,
    /// Private key filename used by the --recovery-unseal command. Multiple files accepted either via comma separated list or by repetition of the flag. Either PEM encoded private keys or a backup of a json/yaml encoded k8s sealed-secret controller secret (and v1.List) are accepted.
    #[arg(
        long,
        env = "SEALED_SECRETS_RECOVERY_PRIVATE_KEY",
        value_delimiter = ','
    )]
    recovery_private_key: Vec<String>,
    /// Print version information and exit
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    version: bool,

    /// Ignored, as upstream's kubeseal ignores positional arguments (the input is stdin or -f).
    #[arg(hide = true, value_name = "IGNORED")]
    positional: Vec<std::ffi::OsString>,

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
    /// UID to impersonate for the operation.
    #[arg(long, env = "SEALED_SECRETS_AS_UID")]
    as_uid: Option<String>,
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
    #[arg(long, env = "SEALED_SECRETS_INSECURE_SKIP_TLS_VERIFY", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    insecure_skip_tls_verify: bool,
    /// Server name to use for server certificate validation. If it is not provided, the hostname used to contact the server is used
    #[arg(long, env = "SEALED_SECRETS_TLS_SERVER_NAME")]
    tls_server_name: Option<String>,
    /// If provided, this URL will be used to connect via proxy
    #[arg(long, env = "SEALED_SECRETS_PROXY_URL")]
    proxy_url: Option<String>,
    /// If true, opt-out of response compression for all requests to the server
    #[arg(long, env = "SEALED_SECRETS_DISABLE_COMPRESSION", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set)]
    disable_compression: bool,
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
            as_uid: nonempty(self.as_uid),
            certificate_authority: nonempty_path(self.certificate_authority),
            client_certificate: nonempty_path(self.client_certificate),
            client_key: nonempty_path(self.client_key),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            tls_server_name: nonempty(self.tls_server_name),
            proxy_url: nonempty(self.proxy_url),
            disable_compression: self.disable_compression,
            request_timeout: self.request_timeout,
            namespace: nonempty(self.namespace.map(|n| remove_namespaces_prefix(&n))),
        }
    }
}

/// client-go's `RemoveNamespacesPrefix` (how `-n` is bound): `ns/x`, `namespace/x` and
/// `namespaces/x` (any case) mean `x`.
fn remove_namespaces_prefix(value: &str) -> String {
    for prefix in ["namespaces/", "namespace/", "ns/"] {
        if let Some(head) = value.get(..prefix.len())
            && value.len() > prefix.len()
            && head.eq_ignore_ascii_case(prefix)
        {
            return value.get(prefix.len()..).unwrap_or_default().to_string();
        }
    }
    value.to_string()
}

/// `kubeseal keys <backup|restore|list>` (beyond upstream): manage the controller's sealing keys.
/// Upstream's kubeseal takes no positional arguments, so a leading `keys` cannot clash.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal keys",
    about = "Back up, restore and list the sealing keys of the sealed-secrets controller (needs secrets get/list/create in the controller namespace)",
    args_override_self = true
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
    Ok(no_sealing_config(
        Mode::Keys(cmd),
        k.controller_namespace,
        Vec::new(),
        k.kube.into_flags(),
    ))
}

/// `kubeseal set FILE [KEY]` (beyond upstream): change items of a SealedSecret file in place; only
/// their lines change. Like `keys`, a leading word upstream would ignore.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal set",
    about = "Add, replace or delete items of a SealedSecret file in place, sealed with the file's own name, namespace and scope; every other item keeps its exact bytes",
    args_override_self = true
)]
struct SetCli {
    /// The SealedSecret file (YAML or JSON, one or more documents), rewritten atomically.
    file: PathBuf,
    /// An item whose value is read from a no-echo prompt on a terminal, else from all of stdin.
    key: Option<String>,
    /// KEY=PATH: the item KEY gets the bytes of PATH (repeatable).
    #[arg(long = "from-file", value_name = "KEY=PATH")]
    from_file: Vec<String>,
    /// KEY=VALUE: the item KEY gets VALUE (repeatable). Visible in shell history and to `ps`.
    #[arg(long = "from-literal", value_name = "KEY=VALUE")]
    from_literal: Vec<String>,
    /// Generate a random value for KEY (repeatable); it is never printed.
    #[arg(long, value_name = "KEY")]
    generate: Vec<String>,
    /// Length of generated values.
    #[arg(long, default_value_t = 32)]
    length: usize,
    /// Alphabet of generated values.
    #[arg(long, value_enum, default_value_t = Charset::Alnum)]
    charset: Charset,
    /// Remove the item KEY (repeatable).
    #[arg(long, value_name = "KEY")]
    delete: Vec<String>,
    /// The SealedSecret to edit (metadata.name) when the file holds several.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    to: SealTo,
}

/// Where the file commands (`set`, `edit`) get the certificate, and their connection flags.
#[derive(clap::Args, Debug)]
struct SealTo {
    /// Certificate / public key file/URL to use for encryption. Overrides --controller-*
    #[arg(long, env = "SEALED_SECRETS_CERT")]
    cert: Option<String>,
    /// Keep the sealed-secrets-rs.dev/recovery envelope in step: changed items are also sealed to this recovery certificate (needed when the SealedSecret carries an envelope)
    #[arg(long, env = "SEALED_SECRETS_RECOVERY_CERT", value_name = "FILE")]
    recovery_cert: Option<PathBuf>,
    /// Name of sealed-secrets controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    controller_name: String,
    /// Namespace of sealed-secrets controller.
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    controller_namespace: String,
    /// The key of the fingerprint annotation (sealed-secrets-rs.dev/fingerprints), from `kubeseal fingerprint-key new`: the changed items' fingerprints are written (else SEALED_SECRETS_FINGERPRINT_KEY holds the key itself; without a key, changed items lose theirs).
    #[arg(long, value_name = "FILE")]
    fingerprint_key_file: Option<PathBuf>,
    #[command(flatten)]
    kube: KubeArgs,
}

/// A leading-word command's arguments (argv[0] dropped, so that clap names it `kubeseal WORD`),
/// and whether `--controller-name` (or its env var) was given.
fn parse_word<C: Parser>(args: Vec<std::ffi::OsString>) -> Result<(C, bool), ExitCode> {
    let matches = match C::command().try_get_matches_from(args.into_iter().skip(1)) {
        Ok(m) => m,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    let name_explicit = matches!(
        matches.value_source("controller_name"),
        Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
    );
    match C::from_arg_matches(&matches) {
        Ok(c) => Ok((c, name_explicit)),
        Err(e) => {
            let _ = e.print();
            Err(ExitCode::from(2))
        }
    }
}

impl SealTo {
    /// The Config of a file command that edits FILE in place.
    fn config(
        self,
        mode: Mode,
        name_explicit: bool,
        keys: Vec<String>,
        from_cluster: bool,
    ) -> Config {
        Config {
            cert: CertSource::new(
                self.cert.as_deref().filter(|c| !c.is_empty()),
                &self.controller_name,
                &self.controller_namespace,
                name_explicit,
            ),
            controller_name: self.controller_name,
            controller_name_explicit: name_explicit,
            controller_namespace: self.controller_namespace,
            mode,
            input_file: None,
            output: Output {
                file: None,
                in_place: true,
                format: Format::Json,
                explicit_format: None,
            },
            allow_empty_data: false,
            scope: SealingScope::Strict,
            recovery_private_keys: keys,
            recovery_cert: self.recovery_cert.filter(|p| !p.as_os_str().is_empty()),
            fleet: Vec::new(),
            keep_unchanged: None,
            from_cluster,
            fingerprint_key_file: self
                .fingerprint_key_file
                .filter(|p| !p.as_os_str().is_empty()),
            kube: self.kube.into_flags(),
        }
    }
}

fn parse_set(args: Vec<std::ffi::OsString>) -> Result<Config, ExitCode> {
    let (s, name_explicit) = parse_word::<SetCli>(args)?;
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::FAILURE
    };
    let key_value = |flag: &str, entry: &str| -> Result<(String, String), ExitCode> {
        match entry.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            // The entry may be a secret value: never quoted.
            _ => Err(fail(format!(
                "{flag} expects KEY=VALUE, with a non-empty KEY"
            ))),
        }
    };
    let mut items = Vec::new();
    if let Some(key) = s.key {
        items.push(SetItem {
            key,
            source: SetSource::Input,
        });
    }
    for e in &s.from_file {
        let (key, path) = key_value("--from-file", e)?;
        items.push(SetItem {
            key,
            source: SetSource::File(path.into()),
        });
    }
    for e in &s.from_literal {
        let (key, value) = key_value("--from-literal", e)?;
        items.push(SetItem {
            key,
            source: SetSource::Literal(value),
        });
    }
    for key in s.generate {
        items.push(SetItem {
            key,
            source: SetSource::Generate,
        });
    }
    for key in s.delete {
        items.push(SetItem {
            key,
            source: SetSource::Delete,
        });
    }
    if items.is_empty() {
        return Err(fail(
            "kubeseal set needs an item: KEY, --from-file, --from-literal, --generate or --delete"
                .into(),
        ));
    }
    for (i, a) in items.iter().enumerate() {
        if !is_secret_key(&a.key) {
            return Err(fail(format!(
                "invalid item name {:?}: a Secret key is [-._a-zA-Z0-9]+, at most 253 characters",
                a.key
            )));
        }
        if items.iter().skip(i + 1).any(|b| b.key == a.key) {
            return Err(fail(format!("item {:?} is given more than once", a.key)));
        }
    }
    if s.length == 0 || s.length > 4096 {
        return Err(fail(format!(
            "--length {} is out of range 1..=4096",
            s.length
        )));
    }
    let mode = Mode::Set(SetCommand {
        file: s.file,
        name: s.name,
        items,
        length: s.length,
        charset: s.charset,
    });
    Ok(s.to.config(mode, name_explicit, Vec::new(), false))
}

/// `kubeseal diff OLD NEW` (beyond upstream): which items of two SealedSecret files differ.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal diff",
    about = "Say which items of the SealedSecrets in OLD and NEW were added, removed, changed or only re-sealed (never the values). Telling a changed value from a re-sealed one needs a proof: --recovery-private-key",
    args_override_self = true
)]
struct DiffCli {
    /// The old file (e.g. `git show HEAD:db.yaml > old.yaml`).
    old: PathBuf,
    /// The new file.
    new: PathBuf,
    /// Private keys (PEM, or a `kubeseal keys backup` file) that prove whether a re-sealed item
    /// holds the same value; repeatable or comma-separated.
    #[arg(long = "recovery-private-key", value_delimiter = ',')]
    recovery_private_key: Vec<String>,
}

fn parse_diff(args: Vec<std::ffi::OsString>) -> Result<Config, ExitCode> {
    let d = match DiffCli::try_parse_from(args.into_iter().skip(1)) {
        Ok(d) => d,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    let mode = Mode::Diff {
        old: d.old,
        new: d.new,
    };
    Ok(no_sealing_config(
        mode,
        "kube-system".into(),
        d.recovery_private_key,
        KubeFlags::default(),
    ))
}

/// `kubeseal edit FILE` (beyond upstream): the items of a SealedSecret in an editor.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal edit",
    about = "Edit the items of a SealedSecret file in $KUBE_EDITOR, $VISUAL or $EDITOR (default vi), as a Secret-shaped view in a private RAM-backed directory that is removed afterwards. Values opened by --recovery-private-key are shown in clear, the others as a placeholder that keeps their sealed bytes; only changed items are sealed again and only their lines change",
    args_override_self = true
)]
struct EditCli {
    /// The SealedSecret file (YAML or JSON), rewritten atomically when something changed.
    file: PathBuf,
    /// The SealedSecret to edit (metadata.name) when the file holds several.
    #[arg(long)]
    name: Option<String>,
    /// Private keys (PEM, or a `kubeseal keys backup` file) that open the values to show them.
    #[arg(long = "recovery-private-key", value_delimiter = ',')]
    recovery_private_key: Vec<String>,
    /// Show the values the live cluster proves: the in-cluster SealedSecret must hold the file's exact items, be Synced at its generation and own the Secret whose values are read (needs get on sealedsecrets and secrets).
    #[arg(long)]
    from_cluster: bool,
    #[command(flatten)]
    to: SealTo,
}

fn parse_edit(args: Vec<std::ffi::OsString>) -> Result<Config, ExitCode> {
    let (e, name_explicit) = parse_word::<EditCli>(args)?;
    let mode = Mode::Edit {
        file: e.file,
        name: e.name,
    };
    Ok(e.to.config(mode, name_explicit, e.recovery_private_key, e.from_cluster))
}

/// `kubeseal fingerprint-key new` (beyond upstream): the key of the fingerprint annotation.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal fingerprint-key",
    about = "Create the secret key of the fingerprint annotation (32 random bytes, base64): with it, sealing and `kubeseal set`/`edit` write a keyed fingerprint of each item, and --keep-unchanged keeps items whose fingerprint proves the same value. Keep it out of Git, like the values (a CI secret)",
    args_override_self = true
)]
struct FingerprintKeyCli {
    /// What to do: new (write a new key)
    #[arg(value_enum)]
    action: FingerprintKeyAction,
    /// The file to write (mode 0600, never overwritten); `-` for stdout
    #[arg(short = 'o', long)]
    output: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum FingerprintKeyAction {
    New,
}

fn parse_fingerprint_key(args: Vec<std::ffi::OsString>) -> Result<Config, ExitCode> {
    let f = match FingerprintKeyCli::try_parse_from(args.into_iter().skip(1)) {
        Ok(f) => f,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    let FingerprintKeyAction::New = f.action;
    Ok(no_sealing_config(
        Mode::FingerprintKeyNew { output: f.output },
        "kube-system".into(),
        Vec::new(),
        KubeFlags::default(),
    ))
}

/// The action word of `kubeseal recovery-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RecoveryKeyAction {
    /// Generate a new recovery key pair.
    New,
}

/// `kubeseal recovery-key new` (beyond upstream): the break-glass recovery key pair.
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal recovery-key",
    about = "Generate a break-glass recovery key pair (RSA-4096, self-signed): seal with --recovery-cert CERT, keep KEY offline. Existing files are never overwritten",
    args_override_self = true
)]
struct RecoveryKeyCli {
    /// What to do: new
    #[arg(value_enum)]
    action: RecoveryKeyAction,
    /// The private key file to create (PKCS#8 PEM, mode 0600).
    #[arg(long, value_name = "FILE")]
    key_out: PathBuf,
    /// The certificate file to create (PEM).
    #[arg(long, value_name = "FILE")]
    cert_out: PathBuf,
    /// How long the certificate is valid (Go duration; kubeseal refuses to seal to an expired certificate).
    #[arg(long, default_value = "87600h")]
    validity: String,
    /// The certificate's subject common name.
    #[arg(long, default_value = "sealed-secrets-rs recovery key")]
    common_name: String,
    /// Protect the key file with a passphrase (PKCS#8 PBES2: scrypt and AES-256-CBC), taken from SEALED_SECRETS_RECOVERY_PASSPHRASE or asked twice on the terminal (never a flag value); --recovery-private-key asks for it the same way
    #[arg(long)]
    passphrase: bool,
}

fn parse_recovery_key(args: Vec<std::ffi::OsString>) -> Result<Config, ExitCode> {
    let r = match RecoveryKeyCli::try_parse_from(args.into_iter().skip(1)) {
        Ok(r) => r,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    let validity = match common::go::parse_duration(&r.validity) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            eprintln!(
                "error: --validity {:?} is not a positive Go duration (e.g. 87600h)",
                r.validity
            );
            return Err(ExitCode::FAILURE);
        }
    };
    let RecoveryKeyAction::New = r.action;
    Ok(no_sealing_config(
        Mode::RecoveryKeyNew {
            key_out: r.key_out,
            cert_out: r.cert_out,
            validity,
            common_name: r.common_name,
            passphrase: r.passphrase,
        },
        "kube-system".into(),
        Vec::new(),
        KubeFlags::default(),
    ))
}

/// `kubeseal recover --promote DIR` (beyond upstream).
#[derive(Parser, Debug)]
#[command(
    name = "kubeseal recover",
    about = "After losing a cluster: move the sealed-secrets-rs.dev/recovery envelope of every SealedSecret file under DIR into encryptedData, without decrypting anything, so that a controller holding the restored recovery key opens them. Only the items' lines change",
    args_override_self = true
)]
struct RecoverCli {
    /// The directory of SealedSecret files (.yaml, .yml, .json, recursively), rewritten in place.
    #[arg(long, value_name = "DIR")]
    promote: PathBuf,
}

fn parse_recover(args: Vec<std::ffi::OsString>) -> Result<Config, ExitCode> {
    let r = match RecoverCli::try_parse_from(args.into_iter().skip(1)) {
        Ok(r) => r,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    Ok(no_sealing_config(
        Mode::Promote { dir: r.promote },
        "kube-system".into(),
        Vec::new(),
        KubeFlags::default(),
    ))
}

/// The Config of a command that seals nothing (`keys`, `diff`).
fn no_sealing_config(
    mode: Mode,
    controller_namespace: String,
    recovery_private_keys: Vec<String>,
    kube: KubeFlags,
) -> Config {
    Config {
        mode,
        cert: CertSource::new(None, "", &controller_namespace, true),
        controller_name: String::new(),
        controller_name_explicit: true,
        controller_namespace,
        input_file: None,
        output: Output {
            file: None,
            in_place: false,
            format: Format::Json,
            explicit_format: None,
        },
        allow_empty_data: false,
        scope: SealingScope::Strict,
        recovery_private_keys,
        recovery_cert: None,
        fleet: Vec::new(),
        keep_unchanged: None,
        from_cluster: false,
        fingerprint_key_file: None,
        kube,
    }
}

/// A Secret data key, as the API server validates it.
fn is_secret_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
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
    if args
        .get(1)
        .is_some_and(|a| Into::<std::ffi::OsString>::into(a.clone()) == "set")
    {
        return parse_set(args.into_iter().map(Into::into).collect());
    }
    if args
        .get(1)
        .is_some_and(|a| Into::<std::ffi::OsString>::into(a.clone()) == "diff")
    {
        return parse_diff(args.into_iter().map(Into::into).collect());
    }
    if args
        .get(1)
        .is_some_and(|a| Into::<std::ffi::OsString>::into(a.clone()) == "edit")
    {
        return parse_edit(args.into_iter().map(Into::into).collect());
    }
    if args
        .get(1)
        .is_some_and(|a| Into::<std::ffi::OsString>::into(a.clone()) == "fingerprint-key")
    {
        return parse_fingerprint_key(args.into_iter().map(Into::into).collect());
    }
    if args
        .get(1)
        .is_some_and(|a| Into::<std::ffi::OsString>::into(a.clone()) == "recovery-key")
    {
        return parse_recovery_key(args.into_iter().map(Into::into).collect());
    }
    if args
        .get(1)
        .is_some_and(|a| Into::<std::ffi::OsString>::into(a.clone()) == "recover")
    {
        return parse_recover(args.into_iter().map(Into::into).collect());
    }
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
    };
    let explicit = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        )
    };
    // pflag's deprecation notice, for the command line only (upstream sets env values without it).
    if matches.value_source("rotate") == Some(clap::parser::ValueSource::CommandLine) {
        eprintln!("Flag --rotate has been deprecated, please use --re-encrypt instead");
    }
    let format_explicit = explicit("format");
    let controller_name_explicit = explicit("controller_name");
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Err(ExitCode::from(2));
        }
    };
    if !cli.positional.is_empty() {
        // Upstream ignores them silently; `kubeseal secret.yaml` then waits on stdin. The
        // arguments are not echoed (one could be a value someone meant to seal).
        let n = cli.positional.len();
        eprintln!(
            "kubeseal: warning: ignoring {n} positional argument{}: kubeseal reads the input from stdin or -f/--secret-file",
            if n == 1 { "" } else { "s" }
        );
    }
    if cli.version {
        println!("kubeseal version: v{VERSION}");
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
    let usage = |msg: &str| {
        eprintln!("error: {msg}");
        Err(ExitCode::FAILURE)
    };
    let from_file: Vec<String> = cli
        .from_file
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if !from_file.is_empty() && !cli.raw {
        return usage("--from-file requires --raw");
    }
    let recovery_private_keys: Vec<String> = cli
        .recovery_private_key
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let re_encrypt = cli.re_encrypt || cli.rotate || cli.re_encrypt_dir.is_some();
    let re_encrypt_dir = nonempty_path(cli.re_encrypt_dir);
    let input_file = nonempty_path(cli.secret_file);

    // `-w file.yaml` forces YAML, as upstream; `--re-encrypt -f FILE` without `-w` rewrites FILE
    // in place (#405).
    let written = nonempty_path(cli.sealed_secret_file);
    let yaml_file = written.as_deref().is_some_and(is_yaml_path);
    let format = if yaml_file { Format::Yaml } else { format };
    let (file, in_place) = match (written, &input_file) {
        (Some(w), _) => (Some(w), false),
        (None, Some(f)) if re_encrypt && re_encrypt_dir.is_none() => (Some(f.clone()), true),
        _ => (None, false),
    };
    let output = Output {
        file,
        in_place,
        format,
        explicit_format: (format_explicit || yaml_file).then_some(format),
    };

    // Upstream's order (`runCLI`).
    let mode = if cli.recovery_unseal {
        Mode::RecoveryUnseal
    } else {
        if !recovery_private_keys.is_empty()
            && !re_encrypt
            && cli.keep_unchanged.is_none()
            && cli.targets.is_none()
            && std::io::stderr().is_terminal()
        {
            eprintln!(
                "warning: ignoring --recovery-private-key because unseal command not chosen with --recovery-unseal"
            );
        }
        if cli.validate {
            Mode::Validate
        } else if re_encrypt && recovery_private_keys.is_empty() {
            if re_encrypt_dir.is_some() {
                return usage(
                    "--re-encrypt-dir works offline only: pass --recovery-private-key (and --cert, or let kubeseal fetch the certificate from the controller)",
                );
            }
            Mode::Rotate
        } else if re_encrypt {
            Mode::ReEncrypt {
                dir: re_encrypt_dir,
            }
        } else if cli.fetch_cert {
            Mode::FetchCert
        } else if let Some(targets) = nonempty_path(cli.targets.clone()) {
            Mode::Targets(targets)
        } else if let Some(target) = nonempty_path(cli.merge_into) {
            Mode::MergeInto(target)
        } else if cli.raw {
            Mode::Raw {
                name: nonempty(cli.name),
                from_file,
            }
        } else {
            Mode::Seal {
                name: nonempty(cli.name),
            }
        }
    };
    let keep_unchanged = nonempty_path(cli.keep_unchanged);
    if keep_unchanged.is_some() && !matches!(mode, Mode::Seal { .. }) {
        return usage("--keep-unchanged works when sealing Secrets only");
    }
    if cli.from_cluster && keep_unchanged.is_none() {
        return usage("--from-cluster is a proof for --keep-unchanged (and kubeseal edit)");
    }
    let fingerprint_key_file = nonempty_path(cli.fingerprint_key_file);
    if fingerprint_key_file.is_some() && !matches!(mode, Mode::Seal { .. } | Mode::Targets(_)) {
        return usage(
            "--fingerprint-key-file works when sealing Secrets (and with kubeseal set/edit) only",
        );
    }
    let certs: Vec<String> = cli.cert.into_iter().filter(|c| !c.is_empty()).collect();
    if nonempty_path(cli.targets).is_some() && !matches!(mode, Mode::Targets(_)) {
        return usage("--targets works when sealing Secrets only");
    }
    if matches!(mode, Mode::Targets(_)) && !certs.is_empty() {
        return usage("--targets names the certificates: --cert is not used with it");
    }
    let fleet = if certs.len() > 1 {
        if !matches!(mode, Mode::Seal { .. }) {
            return usage(
                "several --cert (one SealedSecret per certificate) work when sealing Secrets only",
            );
        }
        if keep_unchanged.is_some() {
            return usage(
                "--keep-unchanged works with one --cert; for several clusters use --targets",
            );
        }
        certs
            .iter()
            .map(|c| {
                CertSource::new(
                    Some(c),
                    &cli.controller_name,
                    &cli.controller_namespace,
                    controller_name_explicit,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let recovery_cert = nonempty_path(cli.recovery_cert);
    if recovery_cert.is_some() && matches!(mode, Mode::Raw { .. }) {
        return usage(
            "--recovery-cert cannot be used with --raw: a bare value has no object to carry the recovery envelope; seal the item with kubeseal set FILE, which keeps the envelope in step",
        );
    }
    let cert = certs.last().cloned();
    Ok(Config {
        mode,
        cert: CertSource::new(
            cert.as_deref(),
            &cli.controller_name,
            &cli.controller_namespace,
            controller_name_explicit,
        ),
        controller_name: cli.controller_name,
        controller_name_explicit,
        controller_namespace: cli.controller_namespace,
        input_file,
        output,
        allow_empty_data: cli.allow_empty_data,
        scope: cli.scope,
        recovery_private_keys,
        recovery_cert,
        fleet,
        keep_unchanged,
        from_cluster: cli.from_cluster,
        fingerprint_key_file,
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
        assert_eq!(c.output.format, Format::Json);
        assert_eq!(c.output.explicit_format, None);
        assert_eq!(c.scope, SealingScope::Strict);
        assert_eq!(c.mode, Mode::Seal { name: None });
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
        assert_eq!(c.output.format, Format::Yaml);
        assert_eq!(c.output.explicit_format, Some(Format::Yaml));
    }

    #[test]
    fn mode_is_decided_in_upstreams_order() {
        let mode = |args: &[&str]| {
            let mut a = vec!["kubeseal"];
            a.extend_from_slice(args);
            parse_from(a).unwrap().mode
        };
        assert_eq!(
            mode(&["--raw", "--name", "n"]),
            Mode::Raw {
                name: Some("n".into()),
                from_file: vec![],
            }
        );
        assert_eq!(mode(&["--raw", "--fetch-cert"]), Mode::FetchCert);
        assert_eq!(
            mode(&["--merge-into", "f", "--raw"]),
            Mode::MergeInto("f".into())
        );
        assert_eq!(mode(&["--rotate", "--fetch-cert"]), Mode::Rotate);
        assert_eq!(
            mode(&["--re-encrypt", "--recovery-private-key", "k"]),
            Mode::ReEncrypt { dir: None }
        );
        assert_eq!(
            mode(&["--re-encrypt-dir", "d", "--recovery-private-key", "k"]),
            Mode::ReEncrypt {
                dir: Some("d".into())
            }
        );
        assert_eq!(mode(&["--validate", "--re-encrypt"]), Mode::Validate);
        assert_eq!(
            mode(&["--recovery-unseal", "--validate"]),
            Mode::RecoveryUnseal
        );
        assert_eq!(mode(&["keys", "list"]), Mode::Keys(KeysCommand::List));
        // Refused while parsing (the messages are checked on the binary, tests/cli.rs).
        assert!(parse_from(["kubeseal", "--from-file", "x"]).is_err());
        assert!(parse_from(["kubeseal", "--re-encrypt-dir", "d"]).is_err());
        assert!(parse_from(["kubeseal", "--validate", "--re-encrypt-dir", "d"]).is_ok());
    }

    #[test]
    fn client_flags_as_kubectl() {
        let c = parse_from([
            "kubeseal",
            "--as-uid=1234",
            "--tls-server-name",
            "api.internal",
            "--proxy-url",
            "http://proxy:3128",
            "--disable-compression",
            "-n",
            "namespaces/team",
        ])
        .unwrap();
        assert_eq!(c.kube.as_uid.as_deref(), Some("1234"));
        assert_eq!(c.kube.tls_server_name.as_deref(), Some("api.internal"));
        assert_eq!(c.kube.proxy_url.as_deref(), Some("http://proxy:3128"));
        assert!(c.kube.disable_compression);
        assert_eq!(c.kube.namespace.as_deref(), Some("team"));
        let c = parse_from(["kubeseal", "--disable-compression=false", "-n", "ns/"]).unwrap();
        assert!(!c.kube.disable_compression);
        // Only a prefix followed by a name is removed, in any case.
        assert_eq!(c.kube.namespace.as_deref(), Some("ns/"));
        for (given, want) in [("NS/a", "a"), ("Namespace/b", "b"), ("x/ns/c", "x/ns/c")] {
            assert_eq!(remove_namespaces_prefix(given), want);
        }
        // `kubeseal keys` takes the same flags.
        let c = parse_from([
            "kubeseal",
            "keys",
            "list",
            "--as-uid",
            "u",
            "--proxy-url=socks5://p",
        ])
        .unwrap();
        assert_eq!(c.kube.as_uid.as_deref(), Some("u"));
        assert_eq!(c.kube.proxy_url.as_deref(), Some("socks5://p"));
    }

    #[test]
    fn name_is_kept_for_seal_mode() {
        assert_eq!(
            parse_from(["kubeseal", "--name", "x"]).unwrap().mode,
            Mode::Seal {
                name: Some("x".into())
            }
        );
        assert_eq!(
            parse_from(["kubeseal", "--name", ""]).unwrap().mode,
            Mode::Seal { name: None }
        );
    }

    #[test]
    fn in_place_output_only_for_re_encrypt_of_a_file() {
        let c = parse_from(["kubeseal", "--re-encrypt", "-f", "ss.json"]).unwrap();
        assert_eq!(c.output.file, Some("ss.json".into()));
        assert!(c.output.in_place);
        let c = parse_from(["kubeseal", "--re-encrypt", "-f", "ss.json", "-w", "o.yml"]).unwrap();
        assert_eq!(c.output.file, Some("o.yml".into()));
        assert!(!c.output.in_place);
        assert_eq!(c.output.explicit_format, Some(Format::Yaml));
        let c = parse_from(["kubeseal", "-f", "s.json"]).unwrap();
        assert_eq!(c.output.file, None);
    }
}
