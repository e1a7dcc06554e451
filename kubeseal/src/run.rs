//! Mode dispatch, in upstream's order (`runCLI`).

use std::io::IsTerminal;

use common::documents::Format;

use crate::certs::{self, CertSource};
use crate::config::Config;
use crate::input::{TTY_HINT_RAW, TTY_HINT_RESOURCE, read_input, read_stdin};
use crate::output::{is_yaml_path, write_atomic, write_stdout};
use crate::rng::AppRng;
use crate::seal::SealParams;

/// Run kubeseal with `config`.
pub fn run(config: &Config) -> anyhow::Result<()> {
    if let Some(cmd) = &config.keys {
        return crate::keycmd::run(cmd, config);
    }
    if !config.from_file.is_empty() && !config.raw {
        anyhow::bail!("--from-file requires --raw");
    }
    let mut format = config.format;
    // `-w file.yaml` forces YAML, as upstream.
    if let Some(w) = &config.output_file
        && is_yaml_path(w)
    {
        format = Format::Yaml;
    }
    let explicit_format = (config.format_explicit
        || config.output_file.as_deref().is_some_and(is_yaml_path))
    .then_some(format);
    // `--re-encrypt -f FILE` without `-w` rewrites FILE in place (#405).
    let output_file = match (&config.output_file, config.re_encrypt, &config.input_file) {
        (Some(w), _, _) => Some(w.clone()),
        (None, true, Some(f)) if config.re_encrypt_dir.is_none() => Some(f.clone()),
        _ => None,
    };
    let emit = |bytes: &[u8]| -> anyhow::Result<()> {
        match &output_file {
            Some(path) => write_atomic(path, bytes),
            None => write_stdout(bytes),
        }
    };

    if config.recovery_unseal {
        let keys = crate::privkeys::read_private_keys(&config.recovery_private_keys)?;
        let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
        let out = crate::unseal::recovery_unseal(&input, &keys, format)?;
        return emit(&out);
    }
    if !config.recovery_private_keys.is_empty()
        && !config.re_encrypt
        && std::io::stderr().is_terminal()
    {
        eprintln!(
            "warning: ignoring --recovery-private-key because unseal command not chosen with --recovery-unseal"
        );
    }
    if config.validate {
        let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
        return crate::remote::validate(config, &input);
    }
    if config.re_encrypt {
        if config.recovery_private_keys.is_empty() {
            if config.re_encrypt_dir.is_some() {
                anyhow::bail!(
                    "--re-encrypt-dir works offline only: pass --recovery-private-key (and --cert, or let kubeseal fetch the certificate from the controller)"
                );
            }
            // Online, through the controller's /v1/rotate.
            let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
            // In place without -o: keep the file's format.
            let fmt = if output_file.is_some() && config.output_file.is_none() {
                explicit_format.unwrap_or(if common::documents::looks_like_json(&input) {
                    Format::Json
                } else {
                    Format::Yaml
                })
            } else {
                format
            };
            let out = crate::remote::reencrypt(config, &input, fmt)?;
            return emit(&out);
        }
        let keys = crate::privkeys::read_private_keys(&config.recovery_private_keys)?;
        let source = CertSource::from_config(config);
        let cert = certs::parse_cert(
            &certs::open_cert(&source, &config.kube)?,
            crate::seal::now(),
        )?;
        let refs: Vec<_> = keys.iter().collect();
        let mut rng = AppRng::from_env()?;
        if let Some(dir) = &config.re_encrypt_dir {
            let s = crate::reencrypt::reencrypt_dir(&mut rng, dir, &refs, cert.public_key())?;
            for (p, e) in &s.failed {
                eprintln!("error: {}: {e}", p.display());
            }
            eprintln!(
                "re-encrypted {} file(s), {} already up to date, {} skipped, {} failed",
                s.rewritten.len(),
                s.unchanged.len(),
                s.skipped.len(),
                s.failed.len()
            );
            if !s.failed.is_empty() {
                anyhow::bail!("{} file(s) could not be re-encrypted", s.failed.len());
            }
            return Ok(());
        }
        let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
        // Keep the input's format when rewriting in place and -o was not given; else -o.
        let fmt = if output_file.is_some() && config.output_file.is_none() {
            explicit_format
        } else {
            Some(format)
        };
        let r =
            crate::reencrypt::reencrypt_documents(&mut rng, &input, &refs, cert.public_key(), fmt)?;
        if config.output_file.is_none() && output_file.is_some() && !r.changed {
            // In place and already sealed for this certificate: leave the file untouched.
            return Ok(());
        }
        return emit(&r.bytes);
    }

    let source = CertSource::from_config(config);
    let cert_bytes = certs::open_cert(&source, &config.kube)?;
    if config.fetch_cert {
        return emit(&cert_bytes);
    }
    let cert = certs::parse_cert(&cert_bytes, crate::seal::now())?;
    let key = cert.public_key();
    let mut rng = AppRng::from_env()?;

    if let Some(target) = &config.merge_into {
        let (ns, explicit) = crate::kubeconfig::namespace(&config.kube)?;
        let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
        let file = crate::read_file(target)?;
        let params = SealParams {
            scope: config.scope,
            namespace: (&ns, explicit),
            allow_empty_data: config.allow_empty_data,
            overrides: None,
        };
        let out = crate::seal::merge_into(&mut rng, key, &input, &file, &params, explicit_format)?;
        return write_atomic(target, &out);
    }
    if config.raw {
        let ns = if config.scope < common::scope::SealingScope::ClusterWide {
            crate::kubeconfig::namespace(&config.kube)?.0
        } else {
            String::new()
        };
        let out = crate::seal::raw(&mut rng, key, config, &ns, || read_stdin(TTY_HINT_RAW))?;
        return emit(&out);
    }
    let (ns, explicit) = crate::kubeconfig::namespace(&config.kube)?;
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let params = SealParams {
        scope: config.scope,
        namespace: (&ns, explicit),
        allow_empty_data: config.allow_empty_data,
        overrides: None,
    };
    let out = crate::seal::seal_documents(&mut rng, key, &input, &params, format)?;
    emit(&out)
}
