//! Kubernetes documents in and out, sans IO: what kubeseal reads from stdin or files and what it
//! writes back.
//!
//! Input is either YAML (one or more `---`-separated documents) or a stream of concatenated or
//! newline-separated JSON objects, detected by the first non-space byte (`{` or `[` means JSON), as
//! upstream's `yaml.NewYAMLOrJSONDecoder`. Empty documents are skipped.
//!
//! Input may hold plaintext secrets, so parse errors never quote the input: YAML snippets are off
//! and quoted fragments of serde messages are elided (see [`DocumentError`]). YAML parsing runs with
//! serde-saphyr's budget on, so hostile input (alias bombs, deep nesting) fails fast.
//!
//! Output follows upstream: JSON is pretty-printed with 2 spaces and Go's field order (`kind`
//! before `apiVersion`, `ObjectMeta` in struct order) plus a trailing newline; YAML is
//! `---\n`-prefixed per document with keys sorted, as sigs.k8s.io/yaml does.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};
use serde::Serialize;
use serde_json::Value;

use crate::crd::{API_VERSION, KIND, SealedSecret, SealedSecretStatus};

/// Reading documents failed. Messages never contain input text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The input is not UTF-8 (YAML must be).
    #[error("input is not valid UTF-8")]
    NotUtf8,
    /// The YAML could not be parsed.
    #[error("cannot parse YAML: {0}")]
    Yaml(String),
    /// The JSON could not be parsed.
    #[error("cannot parse JSON: {0}")]
    Json(String),
    /// A document is not a mapping/object.
    #[error("document {0} is not an object")]
    NotAnObject(usize),
    /// A document does not have the expected shape.
    #[error("cannot decode {what}: {msg}")]
    Decode {
        /// What was expected (`Secret`, `SealedSecret`…).
        what: &'static str,
        /// The reason, with quoted input elided.
        msg: String,
    },
}

/// Output format (`-o json|yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Pretty JSON, 2-space indent, trailing newline.
    #[default]
    Json,
    /// YAML, `---\n` before each document, sorted keys.
    Yaml,
}

/// Remove anything quoted from a serde/parser message: values of the input must never appear in
/// errors (they may be plaintext secrets). Keeps the structure ("invalid type: string, expected…").
pub fn redact_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' | '\'' => {
                let close = c;
                // Only treat as a quote if a matching close exists later.
                let rest: String = chars.clone().collect();
                if let Some(end) = rest.find(close) {
                    out.push(close);
                    out.push('…');
                    out.push(close);
                    for _ in 0..rest.get(..end).map(|s| s.chars().count()).unwrap_or(0) + 1 {
                        chars.next();
                    }
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// YAML options for untrusted input: no snippets (they would echo input lines), budget on.
fn yaml_options() -> serde_saphyr::Options {
    let mut opts = serde_saphyr::Options::default();
    opts.with_snippet = false;
    opts.crop_radius = 0;
    // YAML 1.2 booleans only: `namespace: n` or `on: yes` stay strings (Kubernetes decodes string
    // fields by their target type, so YAML 1.1's y/n/on/off must not turn into booleans).
    opts.strict_booleans = true;
    opts.leading_zero_numbers_as_strings = true;
    opts.underscored_numbers_as_strings = true;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(64 * 1024 * 1024);
    budget.max_documents = 10_000;
    opts.budget = Some(budget);
    opts
}

/// True when the first non-whitespace byte says JSON (`{` or `[`).
pub fn looks_like_json(input: &[u8]) -> bool {
    matches!(
        input.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Split `input` into documents (YAML `---` or a JSON stream); empty and `null` documents are
/// skipped. Every returned value is a JSON object.
pub fn parse_documents(input: &[u8]) -> Result<Vec<Value>, DocumentError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let docs: Vec<Value> = if looks_like_json(input) {
        serde_json::Deserializer::from_slice(input)
            .into_iter::<Value>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DocumentError::Json(redact_message(&e.to_string())))?
    } else {
        let text = std::str::from_utf8(input).map_err(|_| DocumentError::NotUtf8)?;
        serde_saphyr::from_multiple_with_options::<Value>(text, yaml_options())
            .map_err(|e| DocumentError::Yaml(redact_message(&e.to_string())))?
    };
    let mut out = Vec::with_capacity(docs.len());
    for (i, d) in docs.into_iter().enumerate() {
        match d {
            Value::Null => {}
            Value::Object(_) => out.push(d),
            _ => return Err(DocumentError::NotAnObject(i + 1)),
        }
    }
    Ok(out)
}

/// Replace every `v1.List`-shaped document (`kind` ending in `List` with an `items` array) by its
/// items, recursively: the shape of `kubectl get secret -l … -o yaml|json` key backups.
pub fn unwrap_lists(docs: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        let is_list = d
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && d.get("items").is_some_and(Value::is_array);
        if is_list {
            if let Value::Object(mut m) = d
                && let Some(Value::Array(items)) = m.remove("items")
            {
                out.extend(unwrap_lists(items));
            }
        } else {
            out.push(d);
        }
    }
    out
}

/// Turn a number or boolean scalar into its string form (where the schema wants a string, as
/// `kubectl` decodes YAML by target type: `stringData: {pin: 1234}` is the string `"1234"`).
fn scalar_to_string(v: &mut Value) {
    let s = match v {
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return,
    };
    *v = Value::String(s);
}

fn coerce_map_values(v: Option<&mut Value>) {
    if let Some(Value::Object(m)) = v {
        m.values_mut().for_each(scalar_to_string);
    }
}

/// Coerce scalars in the string-typed fields of object metadata.
fn coerce_metadata(meta: Option<&mut Value>) {
    if let Some(Value::Object(m)) = meta {
        for k in [
            "name",
            "namespace",
            "generateName",
            "resourceVersion",
            "uid",
        ] {
            if let Some(v) = m.get_mut(k) {
                scalar_to_string(v);
            }
        }
        coerce_map_values(m.get_mut("labels"));
        coerce_map_values(m.get_mut("annotations"));
    }
}

/// Decode one document as a `v1.Secret`. Like upstream, `apiVersion` and `kind` are not checked and
/// unknown fields are ignored.
pub fn secret_from_value(mut v: Value) -> Result<Secret, DocumentError> {
    if let Value::Object(m) = &mut v {
        m.insert("apiVersion".into(), Value::String("v1".into()));
        m.insert("kind".into(), Value::String("Secret".into()));
        coerce_metadata(m.get_mut("metadata"));
        coerce_map_values(m.get_mut("stringData"));
        if let Some(t) = m.get_mut("type") {
            scalar_to_string(t);
        }
        check_data_base64(m.get("data"))?;
    }
    serde_json::from_value(v).map_err(|e| DocumentError::Decode {
        what: "Secret",
        msg: redact_message(&e.to_string()),
    })
}

/// Name the `data` item that is not base64 (serde's own error names neither the item nor the
/// field). The value is never quoted.
fn check_data_base64(data: Option<&Value>) -> Result<(), DocumentError> {
    use base64::Engine as _;
    let Some(Value::Object(items)) = data else {
        return Ok(());
    };
    for (k, v) in items {
        let problem = match v {
            Value::String(s) => match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(_) => continue,
                Err(
                    base64::DecodeError::InvalidByte(at, _)
                    | base64::DecodeError::InvalidLastSymbol(at, _),
                ) => format!("illegal base64 data at input byte {at}"),
                Err(_) => "illegal base64 data (bad length or padding)".to_owned(),
            },
            Value::Null => continue,
            _ => "expected a base64-encoded string".to_owned(),
        };
        return Err(DocumentError::Decode {
            what: "Secret",
            msg: format!("data[{k}]: {problem}"),
        });
    }
    Ok(())
}

/// Decode one document as a SealedSecret.
pub fn sealed_secret_from_value(mut v: Value) -> Result<SealedSecret, DocumentError> {
    if let Value::Object(m) = &mut v {
        m.insert("apiVersion".into(), Value::String(API_VERSION.into()));
        m.insert("kind".into(), Value::String(KIND.into()));
        coerce_metadata(m.get_mut("metadata"));
        if let Some(Value::Object(spec)) = m.get_mut("spec")
            && let Some(Value::Object(t)) = spec.get_mut("template")
        {
            coerce_metadata(t.get_mut("metadata"));
            coerce_map_values(t.get_mut("data"));
        }
    }
    serde_json::from_value(v).map_err(|e| DocumentError::Decode {
        what: "SealedSecret",
        msg: redact_message(&e.to_string()),
    })
}

/// Every document of `input` as a Secret.
pub fn parse_secrets(input: &[u8]) -> Result<Vec<Secret>, DocumentError> {
    parse_documents(input)?
        .into_iter()
        .map(secret_from_value)
        .collect()
}

/// Every document of `input` as a SealedSecret.
pub fn parse_sealed_secrets(input: &[u8]) -> Result<Vec<SealedSecret>, DocumentError> {
    parse_documents(input)?
        .into_iter()
        .map(sealed_secret_from_value)
        .collect()
}

/// `ObjectMeta` in Go's struct order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderedMeta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generate_name: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    self_link: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_version: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_timestamp: Option<&'a Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_timestamp: Option<&'a Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_grace_period_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_references: Option<Vec<OrderedOwnerRef<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finalizers: Option<&'a Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    managed_fields: Option<&'a Vec<ManagedFieldsEntry>>,
}

/// `OwnerReference` in Go's struct order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderedOwnerRef<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    uid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    block_owner_deletion: Option<bool>,
}

fn ordered_owner_ref(o: &OwnerReference) -> OrderedOwnerRef<'_> {
    OrderedOwnerRef {
        api_version: &o.api_version,
        kind: &o.kind,
        name: &o.name,
        uid: &o.uid,
        controller: o.controller,
        block_owner_deletion: o.block_owner_deletion,
    }
}

fn ordered_meta(m: &ObjectMeta) -> OrderedMeta<'_> {
    // Empty maps and lists are omitted, as Go's `omitempty`.
    OrderedMeta {
        name: m.name.as_ref().filter(|s| !s.is_empty()),
        generate_name: m.generate_name.as_ref().filter(|s| !s.is_empty()),
        namespace: m.namespace.as_ref().filter(|s| !s.is_empty()),
        self_link: m.self_link.as_ref().filter(|s| !s.is_empty()),
        uid: m.uid.as_ref().filter(|s| !s.is_empty()),
        resource_version: m.resource_version.as_ref().filter(|s| !s.is_empty()),
        generation: m.generation.filter(|g| *g != 0),
        creation_timestamp: m.creation_timestamp.as_ref(),
        deletion_timestamp: m.deletion_timestamp.as_ref(),
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        labels: m.labels.as_ref().filter(|l| !l.is_empty()),
        annotations: m.annotations.as_ref().filter(|a| !a.is_empty()),
        owner_references: m
            .owner_references
            .as_ref()
            .filter(|o| !o.is_empty())
            .map(|o| o.iter().map(ordered_owner_ref).collect()),
        finalizers: m.finalizers.as_ref().filter(|f| !f.is_empty()),
        managed_fields: m.managed_fields.as_ref().filter(|f| !f.is_empty()),
    }
}

#[derive(Serialize)]
struct OrderedTemplate<'a> {
    metadata: OrderedMeta<'a>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    immutable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct OrderedSpec<'a> {
    template: OrderedTemplate<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a ByteString>,
    #[serde(rename = "encryptedData")]
    encrypted_data: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct OrderedSealedSecret<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: OrderedMeta<'a>,
    spec: OrderedSpec<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a SealedSecretStatus>,
}

fn ordered_sealed_secret(ss: &SealedSecret) -> OrderedSealedSecret<'_> {
    let t = &ss.spec.template;
    OrderedSealedSecret {
        kind: KIND,
        api_version: API_VERSION,
        metadata: ordered_meta(&ss.metadata),
        spec: OrderedSpec {
            template: OrderedTemplate {
                metadata: ordered_meta(&t.metadata),
                type_: t.type_.as_ref(),
                immutable: t.immutable,
                data: t.data.as_ref(),
            },
            data: ss.spec.data.as_ref(),
            encrypted_data: &ss.spec.encrypted_data,
        },
        status: ss.status.as_ref(),
    }
}

/// `v1.Secret` in Go's struct order.
#[derive(Serialize)]
struct OrderedSecret<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: OrderedMeta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    immutable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a BTreeMap<String, ByteString>>,
    #[serde(rename = "stringData", skip_serializing_if = "Option::is_none")]
    string_data: Option<&'a BTreeMap<String, String>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'a String>,
}

fn ordered_secret(s: &Secret) -> OrderedSecret<'_> {
    OrderedSecret {
        kind: "Secret",
        api_version: "v1",
        metadata: ordered_meta(&s.metadata),
        immutable: s.immutable,
        data: s.data.as_ref().filter(|d| !d.is_empty()),
        string_data: s.string_data.as_ref().filter(|d| !d.is_empty()),
        type_: s.type_.as_ref(),
    }
}

fn json_pretty<T: Serialize>(v: &T) -> String {
    // Serializing these plain structs to a String cannot fail (string keys only).
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn yaml_sorted<T: Serialize>(v: &T) -> Result<String, DocumentError> {
    // serde_json's Map is a BTreeMap here, so a round trip through Value sorts keys, as
    // sigs.k8s.io/yaml (JSON → YAML) does.
    let value = serde_json::to_value(v).map_err(|e| DocumentError::Decode {
        what: "output",
        msg: e.to_string(),
    })?;
    // Long single-line strings (base64 ciphertexts) stay plain on one line, as yaml.v2 writes
    // them; multi-line strings use literal blocks.
    let mut opts = serde_saphyr::SerializerOptions::default();
    opts.folded_wrap_chars = usize::MAX;
    let mut s =
        serde_saphyr::to_string_with_options(&value, opts).map_err(|e| DocumentError::Decode {
            what: "output",
            msg: e.to_string(),
        })?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// A SealedSecret as upstream kubeseal prints it in `format` (YAML with a leading `---\n`).
pub fn sealed_secret_to_string(ss: &SealedSecret, format: Format) -> Result<String, DocumentError> {
    let o = ordered_sealed_secret(ss);
    match format {
        Format::Json => Ok(json_pretty(&o)),
        Format::Yaml => Ok(format!("---\n{}", yaml_sorted(&o)?)),
    }
}

/// A Secret as upstream kubeseal prints it in `format` (YAML with a leading `---\n`).
pub fn secret_to_string(s: &Secret, format: Format) -> Result<String, DocumentError> {
    let o = ordered_secret(s);
    match format {
        Format::Json => Ok(json_pretty(&o)),
        Format::Yaml => Ok(format!("---\n{}", yaml_sorted(&o)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::SealedSecretSpec;

    #[test]
    fn yaml_multi_doc_skips_empty() {
        let docs = parse_documents(b"---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["b"], 2);
    }

    #[test]
    fn json_stream_concatenated_and_newline_separated() {
        let docs = parse_documents(b"  {\"a\":1}{\"b\":2}\n{\"c\":3}\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert!(looks_like_json(b"\n [1]"));
        assert!(!looks_like_json(b"a: {}"));
    }

    #[test]
    fn empty_input_gives_no_documents() {
        assert!(parse_documents(b"").unwrap().is_empty());
        assert!(parse_documents(b"\n---\n").unwrap().is_empty());
    }

    #[test]
    fn yaml_scalars_decode_by_target_type() {
        let s = parse_secrets(b"metadata:\n  name: y\n  namespace: n\n  labels: {on: yes, v: 1.10}\nstringData:\n  pin: 0123\n  n: 1234\n  flag: true\n").unwrap();
        let s = &s[0];
        assert_eq!(s.metadata.namespace.as_deref(), Some("n"));
        assert_eq!(s.metadata.name.as_deref(), Some("y"));
        assert_eq!(s.metadata.labels.as_ref().unwrap()["on"], "yes");
        let sd = s.string_data.as_ref().unwrap();
        assert_eq!(sd["pin"], "0123");
        assert_eq!(sd["n"], "1234");
        assert_eq!(sd["flag"], "true");
    }

    #[test]
    fn scalar_document_is_an_error() {
        assert_eq!(
            parse_documents(b"just text").unwrap_err(),
            DocumentError::NotAnObject(1)
        );
    }

    #[test]
    fn parse_errors_never_echo_input() {
        let secret = "hunter2-very-secret";
        for input in [
            format!("data:\n  foo: {secret}\n bad: [\n"),
            format!("data: {{foo: \"{secret}\"\n"),
            format!("{{\"data\": {{\"foo\": \"{secret}\"}}, oops"),
            format!("data:\n  foo: \"{secret}\"\n"),
            format!("data:\n  foo: [\"{secret}\"]\n"),
            format!("stringData:\n  foo: {{x: \"{secret}\"}}\n"),
        ] {
            let err = parse_secrets(input.as_bytes()).map(|_| ()).unwrap_err();
            let msg = err.to_string();
            assert!(!msg.contains(secret), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn redact() {
        assert_eq!(
            redact_message("invalid type: string \"abc\", expected a map"),
            "invalid type: string \"…\", expected a map"
        );
        assert_eq!(redact_message("unknown `x` it's"), "unknown `…` it's");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut y = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            y.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse_documents(y.as_bytes()).is_err());
    }

    #[test]
    fn unwraps_lists() {
        let docs = parse_documents(
            br#"{"kind":"List","apiVersion":"v1","items":[{"kind":"Secret","a":1},{"kind":"SecretList","items":[{"b":2}]}]}{"c":3}"#,
        )
        .unwrap();
        let flat = unwrap_lists(docs);
        assert_eq!(flat.len(), 3);
        assert_eq!(flat[1]["b"], 2);
    }

    #[test]
    fn secret_ignores_kind_and_unknown_fields() {
        let s = parse_secrets(
            b"kind: Whatever\napiVersion: x/y\nmetadata: {name: a}\nfoo: bar\nstringData: {k: v}\n",
        )
        .unwrap();
        assert_eq!(s[0].metadata.name.as_deref(), Some("a"));
        assert_eq!(s[0].string_data.as_ref().unwrap()["k"], "v");
    }

    fn sample() -> SealedSecret {
        let mut ss = SealedSecret {
            metadata: ObjectMeta {
                name: Some("mysecret".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: SealedSecretSpec::default(),
            status: None,
        };
        ss.spec.template.metadata = ss.metadata.clone().into();
        ss.spec.template.metadata.labels =
            Some([("b".into(), "2".into()), ("a".into(), "1".into())].into());
        ss.spec.template.type_ = Some("Opaque".into());
        ss.spec.encrypted_data.insert("foo".into(), "AgB=".into());
        ss
    }

    #[test]
    fn json_output_in_go_field_order() {
        let out = sealed_secret_to_string(&sample(), Format::Json).unwrap();
        let expected = r#"{
  "kind": "SealedSecret",
  "apiVersion": "bitnami.com/v1alpha1",
  "metadata": {
    "name": "mysecret",
    "namespace": "default"
  },
  "spec": {
    "template": {
      "metadata": {
        "name": "mysecret",
        "namespace": "default",
        "labels": {
          "a": "1",
          "b": "2"
        }
      },
      "type": "Opaque"
    },
    "encryptedData": {
      "foo": "AgB="
    }
  }
}
"#;
        assert_eq!(out, expected);
    }

    #[test]
    fn yaml_output_sorted_with_leading_separator() {
        let out = sealed_secret_to_string(&sample(), Format::Yaml).unwrap();
        assert!(
            out.starts_with(
                "---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n"
            ),
            "{out}"
        );
        assert!(!out.ends_with("---\n"));
        let back = parse_sealed_secrets(out.as_bytes()).unwrap();
        assert_eq!(
            serde_json::to_value(&back[0]).unwrap(),
            serde_json::to_value(sample()).unwrap()
        );
    }

    #[test]
    fn metadata_order_follows_go() {
        let meta = ObjectMeta {
            finalizers: Some(vec!["f".into()]),
            annotations: Some([("x".into(), "y".into())].into()),
            uid: Some("u".into()),
            namespace: Some("n".into()),
            name: Some("a".into()),
            generation: Some(3),
            owner_references: Some(vec![OwnerReference {
                api_version: "v".into(),
                kind: "K".into(),
                name: "a".into(),
                uid: "u".into(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        };
        let s = serde_json::to_string(&ordered_meta(&meta)).unwrap();
        assert_eq!(
            s,
            r#"{"name":"a","namespace":"n","uid":"u","generation":3,"annotations":{"x":"y"},"ownerReferences":[{"apiVersion":"v","kind":"K","name":"a","uid":"u","controller":true}],"finalizers":["f"]}"#
        );
    }

    #[test]
    fn secret_output() {
        let s = Secret {
            metadata: ObjectMeta {
                name: Some("a".into()),
                ..Default::default()
            },
            data: Some([("k".into(), ByteString(b"v".to_vec()))].into()),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        assert_eq!(
            secret_to_string(&s, Format::Json).unwrap(),
            "{\n  \"kind\": \"Secret\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {\n    \"name\": \"a\"\n  },\n  \"data\": {\n    \"k\": \"dg==\"\n  },\n  \"type\": \"Opaque\"\n}\n"
        );
        let y = secret_to_string(&s, Format::Yaml).unwrap();
        assert_eq!(
            y,
            "---\napiVersion: v1\ndata:\n  k: dg==\nkind: Secret\nmetadata:\n  name: a\ntype: Opaque\n"
        );
    }
}
