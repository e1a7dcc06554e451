//! Differential test of `common::template` against Go's own `text/template` + sprig (the
//! reference renderer in `tests/templates/goref/`, built by `tests/templates/goref.sh`).
//!
//! The corpus is `common/tests/template_corpus/*.txt`; every case is rendered by both engines in
//! this run: the bytes must be identical, or both must fail. A case marked `~ REGEX` is a random
//! function: both outputs must match the regex (whole output) instead. A case marked
//! `x509` holds certificates and keys (random): every PEM block in both outputs is replaced by
//! what it says — a certificate's subject, issuer, validity length, serial size, key type and
//! size, signature algorithm and each extension (OID, criticality, DER value; the key ids only
//! as present), a key's type and size — and the rest must be identical. A case marked
//! `! REASON` is a documented difference (docs/templates.md): it must still differ, so the list
//! cannot go stale. Both also check that the corpus names every function Go knows, and that every
//! such function is either implemented (in `template::FUNCTIONS`) or deliberately left out
//! (`template::OMITTED`), with nothing in our registry that Go does not have.
//!
//! Corpus format:
//! ```text
//! === case name
//! ~ ^[a-z]{5}$            (optional: compare by shape)
//! x509                    (optional: compare PEM certificates and keys by content)
//! ! why it differs        (optional: a documented difference)
//! data {"k": "v"}         (optional: the decrypted values; default: DEFAULT_DATA)
//! ---
//! the template, up to the next line starting with "=== " (its final newline is not part of it)
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod goref;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::template::{self, Limits};
use goref::GoOutcome;
use zeroize::Zeroizing;

const DEFAULT_DATA: &str = r#"{"user": "admin", "pass": "s3cr3t", "num": "42", "neg": "-7",
  "float": "3.75", "empty": "", "json": "{\"a\": 1, \"b\": [1, \"two\", null], \"c\": {\"d\": true}}",
  "multi": "line1\nline2\n", "space": "  padded \t", "csv": "a,b,,c", "unicode": "héllo wörld ß",
  "ver": "1.2.3-beta.1", "url": "https://u:p@example.com:8443/a/b?x=1&y=2#frag", "path": "/etc/ssl/certs/ca.pem",
  "b64": "aGVsbG8gd29ybGQ=", "html": "<a href=\"x\">&'</a>", "true": "true"}"#;

struct Case {
    file: String,
    name: String,
    shape: Option<regex::Regex>,
    x509: bool,
    known: Option<String>,
    data: BTreeMap<String, Vec<u8>>,
    tpl: String,
}

fn parse_data(json: &str, at: &str) -> BTreeMap<String, Vec<u8>> {
    let v: BTreeMap<String, String> =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{at}: bad data line: {e}"));
    v.into_iter().map(|(k, v)| (k, v.into_bytes())).collect()
}

fn load_corpus() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/template_corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let default = parse_data(DEFAULT_DATA, "DEFAULT_DATA");
    let mut cases = Vec::new();
    let mut names = BTreeSet::new();
    for f in files {
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        let mut chunks = text.split("\n=== ");
        let head = chunks.next().unwrap_or_default();
        // Text before the first case is a comment; a file may also start with a case.
        let mut rest: Vec<&str> = chunks.collect();
        if let Some(first) = head.strip_prefix("=== ") {
            rest.insert(0, first);
        }
        for chunk in rest {
            let (header, body) = chunk
                .split_once("\n---\n")
                .unwrap_or_else(|| panic!("{file}: case {chunk:?} has no --- line"));
            let mut lines = header.lines();
            let name = lines.next().unwrap().trim().to_owned();
            let at = format!("{file}: {name}");
            assert!(names.insert(name.clone()), "{at}: duplicate case name");
            let mut case = Case {
                file: file.clone(),
                name,
                shape: None,
                x509: false,
                known: None,
                data: default.clone(),
                tpl: body.strip_suffix('\n').unwrap_or(body).to_owned(),
            };
            for l in lines {
                if let Some(re) = l.strip_prefix("~ ") {
                    case.shape =
                        Some(regex::Regex::new(re).unwrap_or_else(|e| panic!("{at}: {e}")));
                } else if l == "x509" {
                    case.x509 = true;
                } else if let Some(why) = l.strip_prefix("! ") {
                    case.known = Some(why.to_owned());
                } else if let Some(json) = l.strip_prefix("data ") {
                    case.data = parse_data(json, &at);
                } else {
                    panic!("{at}: unknown header line {l:?}");
                }
            }
            cases.push(case);
        }
    }
    cases
}

fn ours(case: &Case) -> Result<Vec<u8>, String> {
    let data: BTreeMap<String, Zeroizing<Vec<u8>>> = case
        .data
        .iter()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone())))
        .collect();
    template::render("t", &case.tpl, &data, &Limits::default())
        .map(|o| o.to_vec())
        .map_err(|e| e.to_string())
}

fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

fn show_go(g: &GoOutcome) -> String {
    match g {
        GoOutcome::Ok(b) => format!("Ok({})", show(b)),
        other => format!("{other:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What one PEM block says (see the module docs), or why it cannot be read.
fn describe_block(typ: &str, der: &[u8]) -> String {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;
    use x509_cert::der::Decode as _;
    match typ {
        "CERTIFICATE" => {
            let Ok(c) = x509_cert::Certificate::from_der(der) else {
                return "CERT{unparsable}".into();
            };
            let t = c.tbs_certificate();
            let v = t.validity();
            let secs = |x: &x509_cert::time::Time| x.to_unix_duration().as_secs() as i64;
            let days = (secs(&v.not_after) - secs(&v.not_before)) as f64 / 86_400.0;
            let spki = t.subject_public_key_info();
            let key = x509_cert::der::Encode::to_der(spki)
                .ok()
                .and_then(|d| rsa::PublicKey::from_public_key_der(&d).ok())
                .map(|k| format!("rsa{}", k.size() * 8))
                .ok_or(())
                .unwrap_or_else(|_| spki.algorithm.oid.to_string());
            let mut exts = Vec::new();
            for e in t.extensions().map(|e| e.as_slice()).unwrap_or_default() {
                let oid = e.extn_id.to_string();
                // Subject and authority key ids depend on the random key.
                let val = if oid == "2.5.29.14" || oid == "2.5.29.35" {
                    "present".to_owned()
                } else {
                    hex(e.extn_value.as_bytes())
                };
                exts.push(format!("{oid}{}={val}", if e.critical { "!" } else { "" }));
            }
            format!(
                "CERT{{v{:?} subject={} issuer={} days={days:.3} serial_bits<=128:{} key={key} sig={} ext=[{}] {}}}",
                t.version(),
                t.subject(),
                t.issuer(),
                t.serial_number().as_bytes().len() <= 17,
                c.signature_algorithm().oid,
                exts.join(" "),
                if t.issuer() == t.subject() {
                    "self-issued"
                } else {
                    "issued"
                },
            )
        }
        "RSA PRIVATE KEY" => match rsa::PrivateKey::from_pkcs1_der(der) {
            Ok(k) => format!("KEY{{rsa{}}}", k.size() * 8),
            Err(_) => "KEY{unparsable rsa}".into(),
        },
        other => format!("PEM{{{other} {} bytes}}", der.len()),
    }
}

/// The output with each PEM block replaced by [`describe_block`].
fn pem_summary(b: &[u8]) -> String {
    use base64::Engine as _;
    let s = String::from_utf8_lossy(b);
    let mut out = String::new();
    let mut rest: &str = &s;
    while let Some(start) = rest.find("-----BEGIN ") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 11..];
        let Some((typ, body)) = after.split_once("-----") else {
            break;
        };
        let end = format!("-----END {typ}-----");
        let Some(stop) = body.find(&end) else {
            break;
        };
        let b64: String = body[..stop].split_whitespace().collect();
        out.push_str(
            &match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(der) => describe_block(typ, &der),
                Err(_) => format!("PEM{{{typ} bad base64}}"),
            },
        );
        rest = &body[stop + end.len()..];
    }
    out.push_str(rest);
    out
}

/// `None` when the engines agree (as the case demands), else what differs.
fn compare(case: &Case, go: &GoOutcome, us: &Result<Vec<u8>, String>) -> Option<String> {
    match (go, us) {
        (GoOutcome::Ok(g), Ok(u)) => match &case.shape {
            Some(re) => {
                let fits = |b: &[u8]| std::str::from_utf8(b).is_ok_and(|s| re.is_match(s));
                (!fits(g) || !fits(u))
                    .then(|| format!("shape {re}: go {} ours {}", show(g), show(u)))
            }
            None if case.x509 => {
                let (g, u) = (pem_summary(g), pem_summary(u));
                // A block neither side can read would compare equal: that is a failure too.
                let readable = |s: &str| s.contains("CERT{v") && !s.contains("unparsable");
                (g != u || !readable(&g) || !readable(&u))
                    .then(|| format!("x509: go {g:?}\n    ours {u:?}"))
            }
            None => (g != u).then(|| format!("go {} ours {}", show(g), show(u))),
        },
        (g, Err(_)) if g.is_err() => None,
        (g, Ok(u)) => Some(format!("go {} ours Ok({})", show_go(g), show(u))),
        (g, Err(e)) => Some(format!("go {} ours error {e}", show_go(g))),
    }
}

#[test]
fn corpus_matches_go_text_template_and_sprig() {
    let mut go = goref::start().unwrap_or_else(|e| panic!("{e}"));
    let cases = load_corpus();
    assert!(cases.len() > 100, "corpus too small: {}", cases.len());
    let mut diffs = Vec::new();
    let mut stale = Vec::new();
    let mut known = 0;
    let mut omitted = 0;
    for case in &cases {
        let g = go
            .render(
                "t",
                &case.tpl,
                &case.data,
                Limits::default().max_output_bytes,
            )
            .unwrap_or_else(|e| panic!("{}: {}: {e}", case.file, case.name));
        assert_ne!(g, GoOutcome::Timeout, "{}: Go timed out", case.name);
        let u = ours(case);
        // A function deliberately left out (template::OMITTED) fails at parse time, naming
        // itself: counted, not a failure. Removing it from OMITTED makes the case binding.
        if let Err(e) = &u
            && e.contains("not supported:")
            && template::OMITTED
                .iter()
                .any(|(n, _)| e.contains(&format!("function \"{n}\"")))
        {
            omitted += 1;
            continue;
        }
        match (compare(case, &g, &u), &case.known) {
            (Some(d), None) => diffs.push(format!(
                "{}: {}: {:?}\n    {d}",
                case.file, case.name, case.tpl
            )),
            (None, Some(_)) => stale.push(format!("{}: {}", case.file, case.name)),
            (Some(_), Some(_)) => known += 1,
            (None, None) => {}
        }
    }
    eprintln!(
        "template corpus: {} cases, {} identical or both errors, {} documented differences, \
         {} calling a function in template::OMITTED",
        cases.len(),
        cases.len() - diffs.len() - stale.len() - known - omitted,
        known,
        omitted
    );
    assert!(
        diffs.is_empty() && stale.is_empty(),
        "{} cases differ from Go:\n{}\n{} cases marked `!` now agree with Go (drop the mark and the docs row):\n{}",
        diffs.len(),
        diffs.join("\n"),
        stale.len(),
        stale.join("\n")
    );
}

/// Function names used by a template: identifiers right after `{{`, `(`, `|` or whitespace.
fn used_names(cases: &[Case]) -> BTreeSet<String> {
    let ident = regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").unwrap();
    let mut out = BTreeSet::new();
    for c in cases {
        for m in ident.find_iter(&c.tpl) {
            let before = c.tpl[..m.start()].chars().next_back();
            if !matches!(before, Some('.' | '$')) {
                out.insert(m.as_str().to_owned());
            }
        }
    }
    out
}

#[test]
fn registry_and_corpus_cover_every_function_go_knows() {
    let mut go = goref::start().unwrap_or_else(|e| panic!("{e}"));
    let go_names: BTreeSet<String> = go.names().unwrap().into_iter().collect();
    assert!(go_names.len() > 150, "Go listed {} names", go_names.len());
    let ours: BTreeSet<String> = template::FUNCTIONS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let omitted: BTreeSet<String> = template::OMITTED
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    let both: Vec<_> = ours.intersection(&omitted).collect();
    assert!(both.is_empty(), "implemented and omitted: {both:?}");
    let missing: Vec<_> = go_names
        .iter()
        .filter(|n| !ours.contains(*n) && !omitted.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "Go has functions we neither implement nor omit: {missing:?}"
    );
    let extra: Vec<_> = ours
        .iter()
        .filter(|n| {
            !go_names.contains(*n)
                && !template::EXTENSIONS.contains(&n.as_str())
                && !template::SPRIG_3_3_ONLY.contains(&n.as_str())
        })
        .collect();
    assert!(
        extra.is_empty(),
        "our registry has functions Go lacks: {extra:?}"
    );
    // Every implemented function is exercised against Go, and every omitted one is shown to be an error.
    let used = used_names(&load_corpus());
    let untested: Vec<_> = go_names.iter().filter(|n| !used.contains(*n)).collect();
    assert!(
        untested.is_empty(),
        "functions the corpus never calls: {untested:?}"
    );
}

#[test]
fn omitted_functions_fail_at_parse_time_naming_the_function() {
    for (name, why) in template::OMITTED {
        assert!(!why.is_empty(), "{name}: no reason");
        let src = format!("{{{{ {name} }}}}");
        let err = template::check("k", &src, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("\"{name}\"")), "{name}: {err}");
    }
}
