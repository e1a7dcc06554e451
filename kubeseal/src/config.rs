//! The plain configuration the CLI layer produces: what to do ([`Mode`], decided once from the
//! flags) and with what. Nothing here knows about clap.

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
    /// `--as-uid`.
    pub as_uid: Option<String>,
    /// `--certificate-authority`.
    pub certificate_authority: Option<PathBuf>,
    /// `--client-certificate`.
    pub client_certificate: Option<PathBuf>,
    /// `--client-key`.
    pub client_key: Option<PathBuf>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `--tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `--proxy-url`.
    pub proxy_url: Option<String>,
    /// `--disable-compression`.
    pub disable_compression: bool,
    /// `--request-timeout`.
    pub request_timeout: String,
    /// `-n/--namespace`: the explicit namespace.
    pub namespace: Option<String>,
}

/// What a run does, decided once from the flags in upstream's order (`runCLI`): `kubeseal keys`,
/// `--recovery-unseal`, `--validate`, `--re-encrypt`, `--fetch-cert`, `--merge-into`, `--raw`,
/// else seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Default: Secrets → SealedSecrets.
    Seal {
        /// `--name`: the name of every sealed Secret (upstream's `overrideName`).
        name: Option<String>,
    },
    /// `--raw`: one value → bare base64.
    Raw {
        /// `--name`.
        name: Option<String>,
        /// `--from-file`.
        from_file: Vec<String>,
    },
    /// `--merge-into FILE`: seal into an existing SealedSecret file, in place.
    MergeInto(PathBuf),
    /// `--fetch-cert`: print the certificate.
    FetchCert,
    /// `--validate`: ask the controller's `/v1/verify`.
    Validate,
    /// `--re-encrypt` without `--recovery-private-key`: the controller's `/v1/rotate`.
    Rotate,
    /// `--re-encrypt` with `--recovery-private-key`: offline, for `--cert`.
    ReEncrypt {
        /// `--re-encrypt-dir` (ours): every SealedSecret file under it, instead of the input.
        dir: Option<PathBuf>,
    },
    /// `--recovery-unseal`: SealedSecrets → Secrets with `--recovery-private-key`.
    RecoveryUnseal,
    /// `kubeseal keys …` (ours): key backup/restore/list.
    Keys(KeysCommand),
    /// `kubeseal set FILE …` (ours): add, replace or delete items of a SealedSecret file in place.
    Set(SetCommand),
    /// `kubeseal edit FILE` (ours): edit the items of a SealedSecret file in `$EDITOR`.
    Edit {
        /// The SealedSecret file, edited in place.
        file: PathBuf,
        /// `--name`: the document to edit when the file holds several SealedSecrets.
        name: Option<String>,
    },
    /// `kubeseal fingerprint-key new -o FILE` (ours): a new fingerprint key (`-` = stdout).
    FingerprintKeyNew {
        /// Where to write it.
        output: PathBuf,
    },
    /// `--targets FILE` (ours): seal the input once per target of a `SealingTargets` file.
    Targets(PathBuf),
    /// `kubeseal recovery-key new` (ours): a break-glass recovery key pair.
    RecoveryKeyNew {
        /// `--key-out`: the private key (PKCS#8 PEM, mode 0600, never overwritten).
        key_out: PathBuf,
        /// `--cert-out`: the certificate (never overwritten).
        cert_out: PathBuf,
        /// `--validity`.
        validity: std::time::Duration,
        /// `--common-name`.
        common_name: String,
        /// `--passphrase`: write passphrase-protected PKCS#8.
        passphrase: bool,
    },
    /// `kubeseal recover --promote DIR` (ours): recovery envelopes moved into `encryptedData`.
    Promote {
        /// Every SealedSecret file under it, rewritten in place.
        dir: PathBuf,
    },
    /// `kubeseal diff OLD NEW` (ours): which items changed, never the values.
    Diff {
        /// The old SealedSecret file.
        old: PathBuf,
        /// The new SealedSecret file.
        new: PathBuf,
    },
}

/// `kubeseal set FILE [KEY]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCommand {
    /// The SealedSecret file, edited in place.
    pub file: PathBuf,
    /// `--name`: the document to edit when the file holds several SealedSecrets.
    pub name: Option<String>,
    /// The items, in the order given.
    pub items: Vec<SetItem>,
    /// `--length` of `--generate` values.
    pub length: usize,
    /// `--charset` of `--generate` values.
    pub charset: Charset,
}

/// One item of `kubeseal set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetItem {
    /// The item's name.
    pub key: String,
    /// Where its value comes from.
    pub source: SetSource,
}

/// Where a `kubeseal set` value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetSource {
    /// The positional KEY: a no-echo prompt on a terminal, else all of stdin.
    Input,
    /// `--from-file KEY=PATH`.
    File(PathBuf),
    /// `--from-literal KEY=VALUE` (visible in shell history and `ps`).
    Literal(String),
    /// `--generate KEY`: random, never shown.
    Generate,
    /// `--delete KEY`.
    Delete,
}

/// Alphabets of `--generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Charset {
    /// A–Z, a–z, 0–9.
    Alnum,
    /// Hexadecimal digits, lower case.
    Hex,
    /// The URL-safe base64 alphabet (A–Z, a–z, 0–9, `-`, `_`).
    Base64url,
    /// Printable ASCII without space, quotes and backslash.
    Ascii,
}

impl Charset {
    /// The characters.
    pub fn alphabet(self) -> &'static [u8] {
        match self {
            Charset::Alnum => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            Charset::Hex => b"0123456789abcdef",
            Charset::Base64url => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            }
            Charset::Ascii => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~"
            }
        }
    }
}

/// Where the sealing certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// A local file.
    Path(PathBuf),
    /// `http://`, `https://` or `file://` URL.
    Url(String),
    /// The controller, through the API server's service proxy.
    Controller {
        /// Service name.
        name: String,
        /// Namespace.
        namespace: String,
        /// The name came from `--controller-name` or its env var: never look for another.
        explicit: bool,
    },
}

impl CertSource {
    /// `--cert` wins over `--controller-*`. Upstream treats `--cert` as a filename when
    /// `url.Parse` finds no scheme or a one-letter scheme (a Windows drive); otherwise as a URL.
    pub fn new(cert: Option<&str>, name: &str, namespace: &str, explicit: bool) -> Self {
        let Some(cert) = cert else {
            return CertSource::Controller {
                explicit,
                name: name.to_owned(),
                namespace: namespace.to_owned(),
            };
        };
        let scheme = cert.split_once(':').map(|(s, _)| s).filter(|s| {
            let mut c = s.chars();
            c.next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.all(|ch| ch.is_ascii_alphanumeric() || "+-.".contains(ch))
        });
        match scheme {
            Some(s) if s.len() > 1 => CertSource::Url(cert.to_string()),
            _ => CertSource::Path(PathBuf::from(cert)),
        }
    }
}

/// Where the result goes, and in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `-w`, or the `-f` file itself when it is rewritten in place (`--re-encrypt -f FILE`
    /// without `-w`, #405); `None` is stdout.
    pub file: Option<PathBuf>,
    /// `file` is the input, rewritten in place.
    pub in_place: bool,
    /// `-o`, forced to YAML by `-w *.yaml`/`*.yml`, as upstream.
    pub format: Format,
    /// The format when one was chosen (`-o` or its variable, or `-w *.yaml`); `None` keeps the
    /// format of the file rewritten (`--merge-into`, in-place re-encryption).
    pub explicit_format: Option<Format>,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to do.
    pub mode: Mode,
    /// `--cert`, or the controller.
    pub cert: CertSource,
    /// `--controller-name`.
    pub controller_name: String,
    /// `--controller-name` (or `SEALED_SECRETS_CONTROLLER_NAME`) was given: no discovery.
    pub controller_name_explicit: bool,
    /// `--controller-namespace`.
    pub controller_namespace: String,
    /// `-f/--secret-file`; `None` is stdin.
    pub input_file: Option<PathBuf>,
    /// `-w`, `-o` and in-place rewrites.
    pub output: Output,
    /// `--allow-empty-data`.
    pub allow_empty_data: bool,
    /// `--scope`.
    pub scope: SealingScope,
    /// `--recovery-private-key`, already split on commas (`--recovery-unseal`, `--re-encrypt`,
    /// the proof of `--keep-unchanged`).
    pub recovery_private_keys: Vec<String>,
    /// `--recovery-cert` (ours): every item is also sealed to this certificate, into the
    /// `sealed-secrets-rs.dev/recovery` annotation.
    pub recovery_cert: Option<PathBuf>,
    /// Every `--cert` when more than one was given (ours, fleet sealing: one SealedSecret per
    /// certificate); empty otherwise (`cert` is the one certificate).
    pub fleet: Vec<CertSource>,
    /// `--keep-unchanged OLDFILE` (ours, seal mode): keep the ciphertext of items proven unchanged.
    pub keep_unchanged: Option<PathBuf>,
    /// `--from-cluster` (ours; `edit`, `--keep-unchanged`): the live cluster as a proof of values.
    pub from_cluster: bool,
    /// `--fingerprint-key-file` (ours; seal, `set`, `edit`): the key of the fingerprint annotation,
    /// else `SEALED_SECRETS_FINGERPRINT_KEY`.
    pub fingerprint_key_file: Option<PathBuf>,
    /// Connection flags.
    pub kube: KubeFlags,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_like_url_parse() {
        let classify = |c: &str| CertSource::new(Some(c), "n", "ns", false);
        assert_eq!(
            classify("/tmp/c.pem"),
            CertSource::Path("/tmp/c.pem".into())
        );
        assert_eq!(classify("c.pem"), CertSource::Path("c.pem".into()));
        assert_eq!(
            classify("C:\\x\\c.pem"),
            CertSource::Path("C:\\x\\c.pem".into())
        );
        assert_eq!(classify("http://h/c"), CertSource::Url("http://h/c".into()));
        assert_eq!(classify("file:///c"), CertSource::Url("file:///c".into()));
    }
}
