//! Command-line flags, each also settable as `SEALED_SECRETS_<FLAG>`, with upstream's defaults.
//! This is the only module that knows clap; the rest of the controller sees [`Config`].

use std::time::{Duration, SystemTime};

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use common::go::{parse_bool as parse_go_bool, parse_rfc1123z};

pub use crate::logging::{Format as LogFormat, SlogLevel};

/// Upstream's flags (§5.1 of the reference), plus leader election and `--kubeconfig`.
#[derive(Debug, Parser)]
#[command(
    name = "controller",
    about = "Sealed Secrets controller",
    disable_version_flag = true,
    // pflag: a repeated flag is not an error, the last one wins (chart args plus extra args).
    args_override_self = true
)]
struct Cli {
    /// Prefix used to name keys (generateName of key Secrets, and the legacy key's name).
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_PREFIX",
        default_value = "sealed-secrets-key"
    )]
    key_prefix: String,
    /// Size of encryption key.
    #[arg(long, env = "SEALED_SECRETS_KEY_SIZE", default_value_t = 4096)]
    key_size: usize,
    /// Duration that certificate is valid for.
    #[arg(long, env = "SEALED_SECRETS_KEY_TTL", default_value = "87600h0m0s", value_parser = parse_go_duration)]
    key_ttl: Duration,
    /// Common name to be used as issuer/subject DN in generated certificate.
    #[arg(long, env = "SEALED_SECRETS_MY_CN", default_value = "")]
    my_cn: String,
    /// New key generation period (automatic rotation disabled if 0).
    #[arg(long, env = "SEALED_SECRETS_KEY_RENEW_PERIOD", value_parser = parse_go_duration)]
    key_renew_period: Option<Duration>,
    /// Deprecated alias of --key-renew-period.
    #[arg(long, env = "SEALED_SECRETS_ROTATE_PERIOD", value_parser = parse_go_duration, hide = true)]
    rotate_period: Option<Duration>,
    /// Ordering of keys: CertNotBefore or SecretCreationTimestamp.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_ORDER_PRIORITY",
        default_value = "CertNotBefore"
    )]
    key_order_priority: String,
    /// Accept deprecated V1 data field.
    #[arg(long, env = "SEALED_SECRETS_ACCEPT_DEPRECATED_V1_DATA", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    accept_deprecated_v1_data: bool,
    /// Create a new key if latest one is older than this cutoff time (RFC1123Z).
    #[arg(long, env = "SEALED_SECRETS_KEY_CUTOFF_TIME", default_value = "")]
    key_cutoff_time: String,
    /// Scan all namespaces or only the current namespace.
    #[arg(long, env = "SEALED_SECRETS_ALL_NAMESPACES", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    all_namespaces: bool,
    /// Comma-separated list of additional namespaces to be scanned.
    #[arg(long, env = "SEALED_SECRETS_ADDITIONAL_NAMESPACES", default_value = "")]
    additional_namespaces: String,
    /// Label selector for the SealedSecrets (and Secrets) the controller handles.
    #[arg(long, env = "SEALED_SECRETS_LABEL_SELECTOR", default_value = "")]
    label_selector: String,
    /// Number of allowed sustained requests per second for verify and rotate.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT", default_value_t = 2)]
    rate_limit: u32,
    /// Number of requests allowed to exceed the rate limit per second.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT_BURST", default_value_t = 2)]
    rate_limit_burst: u32,
    /// Comma-separated k=v annotations for new key Secrets.
    #[arg(
        long,
        env = "SEALED_SECRETS_PRIVATEKEY_ANNOTATIONS",
        default_value = ""
    )]
    privatekey_annotations: String,
    /// Comma-separated k=v labels for new key Secrets.
    #[arg(long, env = "SEALED_SECRETS_PRIVATEKEY_LABELS", default_value = "")]
    privatekey_labels: String,
    /// The controller deletes the Secret itself when its SealedSecret is deleted.
    #[arg(long, env = "SEALED_SECRETS_OLD_GC_BEHAVIOR", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    old_gc_behavior: bool,
    /// Write the status subresource.
    #[arg(long, env = "SEALED_SECRETS_UPDATE_STATUS", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    update_status: bool,
    /// Accepted for compatibility: key Secrets are always watched (added, relabelled and deleted keys take effect live).
    #[arg(long, env = "SEALED_SECRETS_WATCH_FOR_SECRETS", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    watch_for_secrets: bool,
    /// Do not watch Secrets, so deleted Secrets are not recreated.
    #[arg(long, env = "SEALED_SECRETS_SKIP_RECREATE", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    skip_recreate: bool,
    /// INFO and below to stdout, WARN and ERROR to stderr; false sends everything to stderr.
    #[arg(long, env = "SEALED_SECRETS_LOG_INFO_STDOUT", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    log_info_stdout: bool,
    /// Log level: DEBUG, INFO, WARN, ERROR.
    #[arg(long, env = "SEALED_SECRETS_LOG_LEVEL", default_value = "INFO")]
    log_level: String,
    /// Log format: text or json.
    #[arg(long, env = "SEALED_SECRETS_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// Max unseal retries before giving up on an object until it changes.
    #[arg(long, env = "SEALED_SECRETS_MAX_UNSEAL_RETRIES", default_value_t = 5)]
    max_unseal_retries: u32,
    /// Accepted for compatibility; the Rust client does not throttle (see docs/compatibility.md).
    #[arg(
        long,
        env = "SEALED_SECRETS_KUBECLIENT_QPS",
        default_value_t = 5.0,
        allow_negative_numbers = true
    )]
    kubeclient_qps: f32,
    /// Accepted for compatibility; the Rust client does not throttle.
    #[arg(long, env = "SEALED_SECRETS_KUBECLIENT_BURST", default_value_t = 10)]
    kubeclient_burst: i32,
    /// HTTP listen address.
    #[arg(long, env = "SEALED_SECRETS_LISTEN_ADDR", default_value = ":8080")]
    listen_addr: String,
    /// Metrics listen address.
    #[arg(
        long,
        env = "SEALED_SECRETS_LISTEN_METRICS_ADDR",
        default_value = ":8081"
    )]
    listen_metrics_addr: String,
    /// HTTP read timeout.
    #[arg(long, env = "SEALED_SECRETS_READ_TIMEOUT", default_value = "2m0s", value_parser = parse_go_duration)]
    read_timeout: Duration,
    /// HTTP write timeout.
    #[arg(long, env = "SEALED_SECRETS_WRITE_TIMEOUT", default_value = "2m0s", value_parser = parse_go_duration)]
    write_timeout: Duration,
    /// Print version and exit.
    #[arg(long, env = "SEALED_SECRETS_VERSION", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    version: bool,
    /// Kubeconfig to use instead of the in-cluster configuration (also `KUBECONFIG`).
    #[arg(long, env = "SEALED_SECRETS_KUBECONFIG")]
    kubeconfig: Option<std::path::PathBuf>,
    /// Elect one active replica through a coordination.k8s.io Lease (required for replicas > 1).
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    leader_elect: bool,
    /// Name of the leader-election Lease (in the controller namespace).
    #[arg(
        long,
        env = "SEALED_SECRETS_LEADER_ELECTION_NAME",
        default_value = "sealed-secrets-controller"
    )]
    leader_election_name: String,
    /// Serve the write-only sealing page at /ui/ (it encrypts in the browser; nothing returns plaintext).
    #[arg(long, env = "SEALED_SECRETS_UI", default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool, action = ArgAction::Set)]
    ui: bool,
    /// Maximum SealedSecrets reconciled at once (decryptions run on all cores).
    #[arg(long, env = "SEALED_SECRETS_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Positional arguments: ignored, as upstream's flag parsing ignores them (`--update-status false`
    /// sets the flag to true there and drops `false`); logged as a warning at start.
    #[arg(hide = true)]
    ignored_args: Vec<String>,
}

/// How new keys are ordered to pick the active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrderPriority {
    /// Newest certificate NotBefore (default).
    CertNotBefore,
    /// Newest Secret creationTimestamp.
    SecretCreationTimestamp,
}

/// The controller's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub key_prefix: String,
    pub key_size: usize,
    pub key_ttl: Duration,
    pub my_cn: String,
    pub key_renew_period: Duration,
    pub key_order_priority: KeyOrderPriority,
    pub accept_deprecated_v1_data: bool,
    pub key_cutoff_time: Option<SystemTime>,
    pub all_namespaces: bool,
    pub additional_namespaces: Vec<String>,
    pub label_selector: Option<String>,
    pub rate_limit: u32,
    pub rate_limit_burst: u32,
    pub privatekey_annotations: Vec<(String, String)>,
    pub privatekey_labels: Vec<(String, String)>,
    pub old_gc_behavior: bool,
    pub update_status: bool,
    pub skip_recreate: bool,
    pub log_info_stdout: bool,
    /// `--log-level` as slog reads it.
    pub log_level: SlogLevel,
    /// `--log-format`: slog's JSON handler for exactly `json`, else its text handler.
    pub log_format: LogFormat,
    pub max_unseal_retries: u32,
    pub listen_addr: String,
    pub listen_metrics_addr: String,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub print_version: bool,
    pub kubeconfig: Option<std::path::PathBuf>,
    pub leader_elect: bool,
    pub leader_election_name: String,
    pub concurrency: u16,
    /// `--ui`: serve the sealing page at `/ui/`.
    pub ui: bool,
    /// Positional arguments given on the command line (ignored, warned about).
    pub ignored_args: Vec<String>,
    /// `SEALED_SECRETS_*` variables whose value did not parse (ignored as upstream, warned about).
    pub ignored_env: Vec<String>,
}

/// A flag value that parsed but makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--key-prefix` has characters outside `[a-z0-9-]` or is too long.
    #[error("invalid --key-prefix {0:?}: at most 245 characters from [a-z0-9-]")]
    KeyPrefix(String),
    /// `--key-cutoff-time` is not RFC1123Z.
    #[error(
        "invalid --key-cutoff-time {0:?}: expected RFC1123Z like \"Mon, 02 Jan 2006 15:04:05 -0700\" (date -R)"
    )]
    CutoffTime(String),
    /// `--privatekey-labels`/`--privatekey-annotations` entry without `=`.
    #[error("invalid {flag} entry {entry:?}: expected key=value")]
    KeyValue { flag: &'static str, entry: String },
    /// Key size outside what we can generate.
    #[error("invalid --key-size {0}: must be between 1024 and 16384")]
    KeySize(usize),
}

impl Config {
    /// Parse `args` (with the environment) into a Config.
    pub fn from_args<I, T>(args: I) -> Result<Self, anyhow::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let (command, ignored_env) = without_invalid_env(Cli::command());
        let matches = command.try_get_matches_from(args)?;
        let mut config = Self::from_cli(Cli::from_arg_matches(&matches)?)?;
        config.ignored_env = ignored_env;
        Ok(config)
    }

    fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let valid_prefix = cli.key_prefix.len() <= 245
            && cli
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_prefix {
            return Err(ConfigError::KeyPrefix(cli.key_prefix));
        }
        if !(1024..=16384).contains(&cli.key_size) {
            return Err(ConfigError::KeySize(cli.key_size));
        }
        let key_cutoff_time = match cli.key_cutoff_time.trim() {
            "" => None,
            s => Some(parse_rfc1123z(s).ok_or_else(|| ConfigError::CutoffTime(s.to_owned()))?),
        };
        let key_order_priority = match cli.key_order_priority.as_str() {
            "SecretCreationTimestamp" => KeyOrderPriority::SecretCreationTimestamp,
            "CertNotBefore" => KeyOrderPriority::CertNotBefore,
            other => {
                tracing::error!(
                    value = other,
                    "invalid --key-order-priority, using CertNotBefore"
                );
                KeyOrderPriority::CertNotBefore
            }
        };
        // As upstream, the deprecated alias shares the variable; when both are given the alias
        // (visited later) wins.
        let key_renew_period = cli
            .rotate_period
            .or(cli.key_renew_period)
            .unwrap_or(Duration::from_secs(720 * 3600));
        Ok(Self {
            key_prefix: cli.key_prefix,
            key_size: cli.key_size,
            key_ttl: cli.key_ttl,
            my_cn: cli.my_cn,
            key_renew_period,
            key_order_priority,
            accept_deprecated_v1_data: cli.accept_deprecated_v1_data,
            key_cutoff_time,
            all_namespaces: cli.all_namespaces,
            additional_namespaces: split_list(&cli.additional_namespaces),
            label_selector: Some(cli.label_selector).filter(|s| !s.is_empty()),
            rate_limit: cli.rate_limit,
            rate_limit_burst: cli.rate_limit_burst,
            privatekey_annotations: parse_key_values(
                "--privatekey-annotations",
                &cli.privatekey_annotations,
            )?,
            privatekey_labels: parse_key_values("--privatekey-labels", &cli.privatekey_labels)?,
            old_gc_behavior: cli.old_gc_behavior,
            update_status: cli.update_status,
            skip_recreate: cli.skip_recreate,
            log_info_stdout: cli.log_info_stdout,
            log_level: SlogLevel::parse(&cli.log_level),
            // Upstream's `format == "json"`: exactly that, anything else is text.
            log_format: if cli.log_format == "json" {
                LogFormat::Json
            } else {
                LogFormat::Text
            },
            max_unseal_retries: cli.max_unseal_retries,
            listen_addr: cli.listen_addr,
            listen_metrics_addr: cli.listen_metrics_addr,
            read_timeout: cli.read_timeout,
            write_timeout: cli.write_timeout,
            print_version: cli.version,
            kubeconfig: cli.kubeconfig,
            leader_elect: cli.leader_elect,
            leader_election_name: cli.leader_election_name,
            concurrency: cli.concurrency.max(1),
            ui: cli.ui,
            ignored_args: cli.ignored_args,
            ignored_env: Vec::new(),
        })
    }

    /// The namespaces to watch: `None` for all namespaces, else the list (own namespace first).
    pub fn watched_namespaces(&self, own: &str) -> Option<Vec<String>> {
        if self.all_namespaces && self.additional_namespaces.is_empty() {
            return None;
        }
        let mut out = vec![own.to_owned()];
        for ns in &self.additional_namespaces {
            if !out.contains(ns) {
                out.push(ns.clone());
            }
        }
        Some(out)
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `k=v,k=v` (upstream panics on an entry without `=`; we refuse to start with a clear error).
fn parse_key_values(flag: &'static str, s: &str) -> Result<Vec<(String, String)>, ConfigError> {
    split_list(s)
        .into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(ConfigError::KeyValue { flag, entry }),
        })
        .collect()
}

/// Upstream maps `SEALED_SECRETS_*` to flags with pflagenv, which skips a value that does not parse
/// (the flag keeps its default). Clap would refuse to start, so such variables are detached from
/// their flags first; the names are returned for a warning. Flags on the command line still fail.
fn without_invalid_env(mut command: clap::Command) -> (clap::Command, Vec<String>) {
    let mut ignored = Vec::new();
    let mut bad_ids = Vec::new();
    for arg in command.get_arguments() {
        let Some(name) = arg.get_env() else { continue };
        let (Some(value), Some(long)) = (std::env::var_os(name), arg.get_long()) else {
            continue;
        };
        // The flag alone in a command of its own, given the variable's value on the command line.
        let probe = clap::Command::new("probe").arg(arg.clone().env(None::<&str>));
        let mut flag = std::ffi::OsString::from(format!("--{long}="));
        flag.push(&value);
        if probe
            .try_get_matches_from([std::ffi::OsString::from("probe"), flag])
            .is_err()
        {
            ignored.push(name.to_string_lossy().into_owned());
            bad_ids.push(arg.get_id().clone());
        }
    }
    for id in bad_ids {
        command = command.mut_arg(id, |a| a.env(None::<&str>));
    }
    (command, ignored)
}

/// Go's `time.ParseDuration` ([`common::go::parse_duration`]) for non-negative values:
/// `720h0m0s`, `30m`, `1.5h`, `100ms`, `0`; surrounding blanks are ignored.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    common::go::parse_duration(s.trim()).map_err(|_| format!("invalid duration {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_debug_assert() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_upstream() {
        let c = Config::from_args(["controller"]).unwrap();
        assert_eq!(c.key_prefix, "sealed-secrets-key");
        assert_eq!(c.key_size, 4096);
        assert_eq!(c.key_ttl, Duration::from_secs(87_600 * 3600));
        assert_eq!(c.key_renew_period, Duration::from_secs(720 * 3600));
        assert!(c.accept_deprecated_v1_data && c.all_namespaces && c.update_status);
        assert!(!c.skip_recreate && !c.old_gc_behavior);
        assert_eq!((c.rate_limit, c.rate_limit_burst), (2, 2));
        assert_eq!(c.max_unseal_retries, 5);
        assert_eq!(c.listen_addr, ":8080");
        assert_eq!(c.listen_metrics_addr, ":8081");
        assert_eq!(c.read_timeout, Duration::from_secs(120));
        assert_eq!(c.key_order_priority, KeyOrderPriority::CertNotBefore);
        assert_eq!(c.watched_namespaces("kube-system"), None);
        assert!(!c.ui);
        assert!(Config::from_args(["controller", "--ui"]).unwrap().ui);
    }

    #[test]
    fn repeated_flags_take_the_last_value_like_pflag() {
        let c = Config::from_args([
            "controller",
            "--key-prefix=a",
            "--key-prefix=b",
            "--update-status=false",
            "--update-status=T",
            "--leader-elect",
            "--leader-elect=F",
        ])
        .unwrap();
        assert_eq!(c.key_prefix, "b");
        assert!(c.update_status);
        assert!(!c.leader_elect);
    }

    #[test]
    fn go_style_bools_and_durations() {
        let c = Config::from_args([
            "controller",
            "--update-status=false",
            "--skip-recreate",
            "--key-renew-period=0",
            "--additional-namespaces=a, b,a",
        ])
        .unwrap();
        assert!(!c.update_status && c.skip_recreate);
        assert_eq!(c.key_renew_period, Duration::ZERO);
        assert_eq!(
            c.watched_namespaces("kube-system"),
            Some(vec!["kube-system".into(), "a".into(), "b".into()])
        );
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("100ms").unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("-1h").is_err());
        assert!(parse_go_duration("99999999999999999999999h").is_err());
        assert!(parse_go_duration("5µ").is_err());
    }

    #[test]
    fn rfc1123z() {
        let t = parse_rfc1123z("Mon, 02 Jan 2006 15:04:05 -0700").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_136_239_445
        );
        assert!(parse_rfc1123z("2006-01-02").is_none());
        // Out-of-range fields are refused (as Go's time.Parse does), never overflow.
        for bad in [
            "Mon, 02 Jan 99999999999999999 15:04:05 -0700",
            "Mon, 02 Jan 2006 9223372036854775807:04:05 -0700",
            "Mon, 02 Jan 2006 24:00:00 -0700",
            "Mon, 32 Jan 2006 15:04:05 -0700",
            "Mon, 02 Jan 2006 15:60:05 -0700",
            "Mon, 02 Jan 2006 15:04:05 +-100",
        ] {
            assert!(parse_rfc1123z(bad).is_none(), "{bad}");
        }
        assert!(Config::from_args(["controller", "--key-cutoff-time=yesterday"]).is_err());
    }

    #[test]
    fn positional_arguments_are_ignored_like_pflag() {
        // pflag: `--update-status false` is `--update-status` (true) plus an ignored `false`.
        let c = Config::from_args([
            "controller",
            "--update-status",
            "false",
            "--key-prefix",
            "k",
        ])
        .unwrap();
        assert!(c.update_status);
        assert_eq!(c.key_prefix, "k");
        assert_eq!(c.ignored_args, ["false"]);
        let c = Config::from_args(["controller", "--update-status=false"]).unwrap();
        assert!(!c.update_status && c.ignored_args.is_empty());
    }

    #[test]
    fn key_value_flags_refuse_entries_without_equals() {
        let err = Config::from_args(["controller", "--privatekey-labels=a=b,broken"]).unwrap_err();
        assert!(err.to_string().contains("broken"), "{err}");
        let c = Config::from_args(["controller", "--privatekey-labels=a=b,c=d=e"]).unwrap();
        assert_eq!(
            c.privatekey_labels,
            vec![("a".into(), "b".into()), ("c".into(), "d=e".into())]
        );
    }

    #[test]
    fn log_flags_like_slog() {
        let c =
            Config::from_args(["controller", "--log-level=INFO+2", "--log-format=json"]).unwrap();
        assert_eq!(c.log_level, SlogLevel(2));
        assert_eq!(c.log_format, LogFormat::Json);
        let c = Config::from_args(["controller", "--log-format=JSON"]).unwrap();
        assert_eq!(c.log_format, LogFormat::Text);
        let c = Config::from_args(["controller", "--log-level=WARNING"]).unwrap();
        assert_eq!(c.log_level, SlogLevel::INFO);
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.log_info_stdout);
    }
}
