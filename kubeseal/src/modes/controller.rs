//! The modes that ask the controller: `--validate` and online `--re-encrypt`, through its
//! `/v1/verify` and `/v1/rotate`, reached through the API server's service proxy.

use common::crd::SealedSecret;
use common::documents::{
    Format, looks_like_json, parse_documents, sealed_secret_from_value, sealed_secret_to_string,
};

use crate::cluster::{Online, Response, proxy_error};
use crate::config::Config;
use crate::io::{TTY_HINT_RESOURCE, emit, read_input};

/// `--validate`: POST each SealedSecret of the input to `/v1/verify`. Nothing is printed on
/// success.
pub fn validate(config: &Config) -> anyhow::Result<()> {
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let docs = parse_documents(&input)
        .map_err(|e| anyhow::anyhow!("unable to decrypt sealed secret: {e}"))?;
    let mut sealed = Vec::with_capacity(docs.len());
    for d in docs {
        sealed.push(
            sealed_secret_from_value(d)
                .map_err(|e| anyhow::anyhow!("unable to decrypt sealed secret: {e}"))?,
        );
    }
    if sealed.is_empty() {
        return Ok(());
    }
    let calls = Calls {
        endpoint: "verify",
        what: "validate sealed secret",
        conflict: |name| format!("unable to decrypt sealed secret: {name}"),
    };
    post_each(config, &sealed, &calls, |_| Ok(()))
}

/// Online `--re-encrypt`: POST each SealedSecret of the input to `/v1/rotate` and write the
/// results (server-set fields cleared), in the input's own format when rewriting it in place
/// without `-o`.
pub fn rotate(config: &Config) -> anyhow::Result<()> {
    let input = read_input(config.input_file.as_deref(), TTY_HINT_RESOURCE)?;
    let output = &config.output;
    let format = if output.in_place {
        output
            .explicit_format
            .unwrap_or(if looks_like_json(&input) {
                Format::Json
            } else {
                Format::Yaml
            })
    } else {
        output.format
    };
    let docs = parse_documents(&input)?;
    let mut sealed = Vec::with_capacity(docs.len());
    for d in docs {
        sealed.push(sealed_secret_from_value(d)?);
    }
    if sealed.is_empty() {
        anyhow::bail!("no sealed secrets found in the input");
    }
    let calls = Calls {
        endpoint: "rotate",
        what: "re-encrypt secret",
        conflict: |name| {
            format!("unable to rotate secret: {name}: no key of the controller can decrypt it")
        },
    };
    let mut out = String::new();
    let mut inputs = sealed.iter();
    post_each(config, &sealed, &calls, |r| {
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| {
            anyhow::anyhow!("cannot re-encrypt secret: cannot decode the controller's answer: {e}")
        })?;
        let mut new = sealed_secret_from_value(v)?;
        new.metadata.creation_timestamp = None;
        new.metadata.deletion_timestamp = None;
        new.metadata.generation = None;
        // The recovery envelope stays valid (same label, same values); upstream's controller drops
        // annotations it does not know from its answer: put it back.
        keep_envelope(inputs.next(), &mut new);
        out.push_str(&sealed_secret_to_string(&new, format)?);
        Ok(())
    })?;
    emit(output, out.as_bytes())
}

/// Copy the recovery envelope of `input` onto `new` when the controller's answer lost it.
fn keep_envelope(input: Option<&SealedSecret>, new: &mut SealedSecret) {
    use common::recovery::RECOVERY_ANNOTATION;
    let Some(value) = input
        .and_then(|i| i.metadata.annotations.as_ref())
        .and_then(|a| a.get(RECOVERY_ANNOTATION))
    else {
        return;
    };
    new.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .entry(RECOVERY_ANNOTATION.to_owned())
        .or_insert_with(|| value.clone());
}

/// One controller endpoint and the wording of its failures.
struct Calls<F: Fn(&str) -> String> {
    /// `verify` or `rotate`.
    endpoint: &'static str,
    /// What failed, after `cannot `.
    what: &'static str,
    /// The message for a 409 (no key of the controller opens the object named).
    conflict: F,
}

/// Connect, find the controller, and POST each of `sealed` to its endpoint, stopping at the first
/// failure; `on_ok` gets each successful answer.
fn post_each<F: Fn(&str) -> String>(
    config: &Config,
    sealed: &[SealedSecret],
    calls: &Calls<F>,
    mut on_ok: impl FnMut(Response) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let online = Online::connect(&config.kube)?;
    let ctl = online.controller(
        &config.controller_namespace,
        &config.controller_name,
        !config.controller_name_explicit,
    )?;
    for ss in sealed {
        let name = ss.metadata.name.clone().unwrap_or_default();
        let body = serde_json::to_vec(ss)?;
        let r = online
            .post(&ctl, calls.endpoint, body)
            .map_err(|e| anyhow::anyhow!("cannot {}: {e}", calls.what))?;
        match r.status.as_u16() {
            200..=299 => on_ok(r)?,
            409 => anyhow::bail!("{}", (calls.conflict)(&name)),
            _ => anyhow::bail!("cannot {}: {}", calls.what, proxy_error(&r, "create", &ctl)),
        }
    }
    Ok(())
}
