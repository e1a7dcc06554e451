//! Surgical edits of `spec.encryptedData` (and of `metadata.annotations`, for our fingerprint
//! annotation) in a SealedSecret file (`kubeseal set`, `edit`, `--keep-unchanged`): only the lines
//! of the items that change are touched; comments, key order, quoting, indentation, the JSON
//! layout and the other documents of the file keep their bytes.
//!
//! The editor works on the text, not on a parsed tree, so every result is checked: the edited
//! document is parsed again and must equal the original document with exactly the requested item
//! changes. When the layout is one the editor does not handle (flow mappings, multi-line scalars,
//! anchors, a `List`, …) or the check fails, the document is rewritten from the parsed value in
//! kubeseal's output format instead, and [`Edited::rewritten`] says so.

use serde_json::{Map, Value};

use crate::documents::{DocumentError, Format, looks_like_json, parse_documents};

/// One change to `spec.encryptedData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemEdit {
    /// Add the item, or replace its ciphertext (base64).
    Set {
        /// The item's name.
        key: String,
        /// Its new value, sealed (base64).
        ciphertext: String,
    },
    /// Remove the item (nothing happens when it is absent).
    Delete {
        /// The item's name.
        key: String,
    },
    /// Set (`Some`) or remove (`None`) an annotation of the SealedSecret's own
    /// `metadata.annotations` (one line of text), such as [`crate::fingerprint::ANNOTATION`].
    Annotate {
        /// The annotation's name.
        key: String,
        /// Its new value.
        value: Option<String>,
    },
}

impl ItemEdit {
    /// The item's name.
    pub fn key(&self) -> &str {
        match self {
            ItemEdit::Set { key, .. }
            | ItemEdit::Delete { key }
            | ItemEdit::Annotate { key, .. } => key,
        }
    }
}

/// The edited file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The whole file with the edits applied.
    pub text: String,
    /// The document had to be rewritten from its parsed value (its comments and layout are lost);
    /// `None` when only the changed items' lines changed.
    pub rewritten: Option<&'static str>,
}

/// Why a file cannot be edited at all.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file does not parse.
    #[error(transparent)]
    Parse(#[from] DocumentError),
    /// The document index is out of range.
    #[error("the file has no document {0}")]
    NoDocument(usize),
    /// The document is not a SealedSecret with a `spec`.
    #[error("document {0} is not a SealedSecret with a spec")]
    NotSealedSecret(usize),
}

/// A document of a file: its byte range and its parsed value.
#[derive(Debug, Clone)]
pub struct Document {
    /// Byte range of the document's text in the file (without its `---` line).
    pub range: std::ops::Range<usize>,
    /// The parsed document.
    pub value: Value,
}

/// The non-empty documents of `text` with their byte ranges. JSON files are one document.
pub fn documents(text: &str) -> Result<Vec<Document>, EditError> {
    if looks_like_json(text.as_bytes()) {
        let mut docs = parse_documents(text.as_bytes())?;
        return Ok(match docs.len() {
            1 => vec![Document {
                range: 0..text.len(),
                value: docs.remove(0),
            }],
            _ => docs
                .into_iter()
                .map(|value| Document { range: 0..0, value })
                .collect(),
        });
    }
    let mut out = Vec::new();
    for range in yaml_segments(text) {
        let Some(segment) = text.get(range.clone()) else {
            return Ok(Vec::new());
        };
        let mut parsed = parse_documents(segment.as_bytes())?;
        match parsed.len() {
            0 => {}
            1 => out.push(Document {
                range,
                value: parsed.remove(0),
            }),
            // A `---` inside a block scalar or similar: no reliable ranges.
            _ => {
                return Ok(parse_documents(text.as_bytes())?
                    .into_iter()
                    .map(|value| Document { range: 0..0, value })
                    .collect());
            }
        }
    }
    Ok(out)
}

/// Apply `edits` to `spec.encryptedData` of document `index` (as numbered by [`documents`]).
pub fn edit_encrypted_data(
    text: &str,
    index: usize,
    edits: &[ItemEdit],
) -> Result<Edited, EditError> {
    let docs = documents(text)?;
    let doc = docs.get(index).ok_or(EditError::NoDocument(index + 1))?;
    let mut expected = doc.value.clone();
    let items = encrypted_data_mut(&mut expected).ok_or(EditError::NotSealedSecret(index + 1))?;
    for e in edits {
        match e {
            ItemEdit::Set { key, ciphertext } => {
                items.insert(key.clone(), Value::String(ciphertext.clone()));
            }
            ItemEdit::Delete { key } => {
                items.remove(key);
            }
            ItemEdit::Annotate { .. } => {}
        }
    }
    for e in edits {
        if let ItemEdit::Annotate { key, value } = e {
            annotate(&mut expected, key, value.as_deref());
        }
    }
    let json = looks_like_json(text.as_bytes());
    let segment = text.get(doc.range.clone()).unwrap_or_default();
    let surgical = if doc.range.is_empty() {
        Err("the file's documents cannot be told apart")
    } else if json {
        json_edit(segment, edits)
    } else {
        yaml_edit(segment, edits)
    };
    let attempt = surgical.and_then(|new_segment| {
        let reparsed =
            parse_documents(new_segment.as_bytes()).map_err(|_| "the edit does not parse")?;
        match reparsed.as_slice() {
            [v] if *v == expected => Ok(new_segment),
            _ => Err("the edit changes more than the items"),
        }
    });
    match attempt {
        Ok(new_segment) => Ok(Edited {
            text: splice(text, &doc.range, &new_segment),
            rewritten: None,
        }),
        Err(why) => Ok(Edited {
            text: rewrite(text, &docs, index, &expected, json)?,
            rewritten: Some(why),
        }),
    }
}

/// `metadata.annotations[key]` set or removed (a missing map is created only to set).
fn annotate(doc: &mut Value, key: &str, value: Option<&str>) {
    let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    match value {
        Some(v) => {
            let ann = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if ann.is_null() {
                *ann = Value::Object(Map::new());
            }
            if let Some(ann) = ann.as_object_mut() {
                ann.insert(key.to_owned(), Value::String(v.to_owned()));
            }
        }
        None => {
            if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                ann.remove(key);
            }
        }
    }
}

fn encrypted_data_mut(doc: &mut Value) -> Option<&mut Map<String, Value>> {
    let spec = doc.get_mut("spec")?.as_object_mut()?;
    let ed = spec
        .entry("encryptedData")
        .or_insert_with(|| Value::Object(Map::new()));
    if ed.is_null() {
        *ed = Value::Object(Map::new());
    }
    ed.as_object_mut()
}

fn splice(text: &str, range: &std::ops::Range<usize>, new: &str) -> String {
    let mut out = String::with_capacity(text.len() + new.len());
    out.push_str(text.get(..range.start).unwrap_or_default());
    out.push_str(new);
    out.push_str(text.get(range.end..).unwrap_or_default());
    out
}

/// Every document rewritten in kubeseal's format when the documents cannot be told apart, else
/// only document `index`.
fn rewrite(
    text: &str,
    docs: &[Document],
    index: usize,
    expected: &Value,
    json: bool,
) -> Result<String, EditError> {
    let format = if json { Format::Json } else { Format::Yaml };
    let render = |v: &Value| -> Result<String, EditError> {
        Ok(match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(v)
                    .map_err(|e| EditError::Parse(DocumentError::Json(e.to_string())))?;
                s.push('\n');
                s
            }
            Format::Yaml => serde_saphyr::to_string(v)
                .map_err(|e| EditError::Parse(DocumentError::Yaml(e.to_string())))?,
        })
    };
    let range = docs.get(index).map(|d| d.range.clone()).unwrap_or_default();
    if !range.is_empty() {
        return Ok(splice(text, &range, &render(expected)?));
    }
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        let v = if i == index { expected } else { &d.value };
        if format == Format::Yaml {
            out.push_str("---\n");
        }
        out.push_str(&render(v)?);
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// YAML

/// Byte ranges of the documents of a YAML stream, split at `---` lines (the marker line itself is
/// not part of a range; a marker followed by content on the same line is not split).
fn yaml_segments(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = bare == "---" || bare.starts_with("--- #") || bare == "...";
        if marker {
            out.push(start..pos);
            start = pos + line.len();
        }
        pos += line.len();
    }
    out.push(start..text.len());
    out
}

struct Line<'a> {
    /// Without the line break.
    text: &'a str,
    /// `"\n"`, `"\r\n"` or `""` (last line).
    brk: &'a str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|raw| {
            let body = raw.trim_end_matches(['\n', '\r']);
            Line {
                text: body,
                brk: raw.get(body.len()..).unwrap_or_default(),
            }
        })
        .collect()
}

fn indent(s: &str) -> usize {
    s.len() - s.trim_start_matches(' ').len()
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// `key: rest` of a block mapping line (after the indentation), with `rest` trimmed.
fn mapping_entry(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start_matches(' ');
    let (key, rest) = if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"')?;
        let key = q.get(..end)?;
        if key.contains('\\') {
            return None;
        }
        (key.to_owned(), q.get(end + 1..)?.strip_prefix(':')?)
    } else if let Some(q) = s.strip_prefix('\'') {
        let end = q.find('\'')?;
        (
            q.get(..end)?.to_owned(),
            q.get(end + 1..)?.strip_prefix(':')?,
        )
    } else {
        let colon = s
            .find(": ")
            .or_else(|| s.strip_suffix(':').map(|k| k.len()))?;
        let key = s.get(..colon)?;
        if key.is_empty() || key.contains(['#', '{', '[', '&', '*', '!', '|', '>', '"', '\'']) {
            return None;
        }
        (key.to_owned(), s.get(colon + 1..)?)
    };
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim()))
}

/// A value the editor can replace: a plain or quoted one-line scalar, maybe with a comment.
/// Returns (quote, value span within `rest`).
fn simple_scalar(rest: &str) -> Option<(Option<char>, std::ops::Range<usize>)> {
    let first = rest.chars().next()?;
    if first == '"' || first == '\'' {
        let end = if first == '\'' {
            closing_single_quote(rest)?
        } else {
            closing_double_quote(rest)?
        };
        if !is_blank_or_comment(rest.get(end + 1..)?) {
            return None;
        }
        return Some((Some(first), 1..end));
    }
    if "{[&*!|>%@`-?:,".contains(first) {
        return None;
    }
    let end = rest.find(" #").unwrap_or(rest.len());
    Some((None, 0..rest.get(..end)?.trim_end().len()))
}

/// The offset of the `"` that closes the double-quoted scalar starting `s` (after a `\\`, any
/// character is escaped).
fn closing_double_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while let Some(c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The offset of the `'` that closes the single-quoted scalar starting `s` (`''` is a quote).
fn closing_single_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b.get(i) == Some(&b'\'') {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Does `key` need quotes as a YAML mapping key (YAML 1.1 and 1.2 readers alike)?
fn yaml_key(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        key.to_owned()
    } else {
        format!("\"{key}\"")
    }
}

/// A value written into a mapping.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    /// A sealed item (base64): a replaced one keeps its quotes, a new one is plain.
    Base64(&'a str),
    /// Any one-line text (an annotation): written single-quoted, or as a JSON string.
    Text(&'a str),
}

/// One change to a mapping: set (`Some`) or remove (`None`) `key`.
#[derive(Debug, Clone, Copy)]
struct MapEdit<'a> {
    key: &'a str,
    value: Option<Val<'a>>,
}

/// A mapping at `parent.child` of the document; `create`: a missing one is added (else the layout
/// is refused).
struct MapPath {
    parent: &'static str,
    child: &'static str,
    create: bool,
}

const ITEMS: MapPath = MapPath {
    parent: "spec",
    child: "encryptedData",
    create: false,
};

const ANNOTATIONS: MapPath = MapPath {
    parent: "metadata",
    child: "annotations",
    create: true,
};

/// The edits of `spec.encryptedData` and of `metadata.annotations`.
fn split_edits(edits: &[ItemEdit]) -> (Vec<MapEdit<'_>>, Vec<MapEdit<'_>>) {
    let mut items = Vec::new();
    let mut annotations = Vec::new();
    for e in edits {
        match e {
            ItemEdit::Set { key, ciphertext } => items.push(MapEdit {
                key,
                value: Some(Val::Base64(ciphertext)),
            }),
            ItemEdit::Delete { key } => items.push(MapEdit { key, value: None }),
            ItemEdit::Annotate { key, value } => annotations.push(MapEdit {
                key,
                value: value.as_deref().map(Val::Text),
            }),
        }
    }
    (items, annotations)
}

/// The entries a new mapping gets from `edits`, by key (the last edit of a key wins; removals
/// leave nothing).
fn entries_set<'a>(edits: &[MapEdit<'a>]) -> Vec<(&'a str, Val<'a>)> {
    let mut last = std::collections::BTreeMap::new();
    for e in edits {
        last.insert(e.key, e.value);
    }
    last.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

/// `s` as a YAML single-quoted scalar; `None` when it does not fit on one line.
fn yaml_single_quoted(s: &str) -> Option<String> {
    if s.chars().any(|c| c.is_control()) {
        return None;
    }
    Some(format!("'{}'", s.replace('\'', "''")))
}

fn yaml_new_scalar(v: Val<'_>) -> Result<String, &'static str> {
    match v {
        Val::Base64(ct) => Ok(ct.to_owned()),
        Val::Text(t) => yaml_single_quoted(t).ok_or("an annotation value spans several lines"),
    }
}

fn yaml_edit(segment: &str, edits: &[ItemEdit]) -> Result<String, &'static str> {
    if segment.contains('\t') {
        return Err("the document is indented with tabs");
    }
    let (items, annotations) = split_edits(edits);
    let mut out = segment.to_owned();
    if !items.is_empty() {
        out = yaml_map_edit(&out, &ITEMS, &items)?;
    }
    if !annotations.is_empty() {
        out = yaml_map_edit(&out, &ANNOTATIONS, &annotations)?;
    }
    Ok(out)
}

/// An entry of a block mapping: its first line, key, quote and value span in that line (`None`:
/// not a one-line scalar, so it cannot be replaced).
struct Entry {
    line: usize,
    key: String,
    quote: Option<char>,
    span: Option<std::ops::Range<usize>>,
}

fn yaml_map_edit(
    segment: &str,
    path: &MapPath,
    edits: &[MapEdit<'_>],
) -> Result<String, &'static str> {
    let ls = lines(segment);
    let text_of = |i: usize| ls.get(i).map_or("", |l| l.text);
    let brk = ls
        .first()
        .map_or("\n", |l| if l.brk.is_empty() { "\n" } else { l.brk });
    let parent = ls
        .iter()
        .position(|l| {
            indent(l.text) == 0
                && mapping_entry(l.text)
                    .is_some_and(|(k, r)| k == path.parent && (r.is_empty() || r.starts_with('#')))
        })
        .ok_or("no block mapping to edit at the top level")?;
    let block_end = |from: usize, parent: usize| -> usize {
        (from..ls.len())
            .find(|&i| !is_blank_or_comment(text_of(i)) && indent(text_of(i)) <= parent)
            .unwrap_or(ls.len())
    };
    let parent_end = block_end(parent + 1, 0);
    let child = (parent + 1..parent_end)
        .find(|&i| !is_blank_or_comment(text_of(i)))
        .map(|i| indent(text_of(i)))
        .ok_or("an empty mapping around the edited one")?;
    let found = (parent + 1..parent_end).find(|&i| {
        indent(text_of(i)) == child
            && mapping_entry(text_of(i)).is_some_and(|(k, _)| k == path.child)
    });
    let Some(ed) = found else {
        if !path.create {
            return Err("no mapping to edit");
        }
        // A new block at the end of the parent's entries, with the entries set.
        let set = entries_set(edits);
        if set.is_empty() {
            return Ok(segment.to_owned());
        }
        let at = ed_end_of_items(&ls, parent, parent_end);
        let mut block = format!("{}{}:{brk}", " ".repeat(child), path.child);
        for (k, v) in set {
            block.push_str(&format!(
                "{}{}: {}{brk}",
                " ".repeat(child + 2),
                yaml_key(k),
                yaml_new_scalar(v)?
            ));
        }
        let mut out = String::with_capacity(segment.len() + block.len());
        for (i, l) in ls.iter().enumerate() {
            if i == at {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push_str(brk);
                }
                out.push_str(&block);
            }
            out.push_str(l.text);
            out.push_str(l.brk);
        }
        if at >= ls.len() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(brk);
            }
            out.push_str(&block);
        }
        return Ok(out);
    };
    let (_, ed_rest) = mapping_entry(text_of(ed)).ok_or("the edited mapping")?;
    let ed_indent = indent(text_of(ed));
    let empty_flow = ed_rest == "{}" || ed_rest.starts_with("{} #");
    if !(ed_rest.is_empty() || ed_rest.starts_with('#') || empty_flow) {
        return Err("the edited field is not a block mapping");
    }
    let ed_end = if empty_flow {
        ed + 1
    } else {
        block_end(ed + 1, ed_indent)
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut item_indent = None;
    for (i, l) in ls.iter().enumerate().take(ed_end).skip(ed + 1) {
        if is_blank_or_comment(l.text) {
            continue;
        }
        let ind = indent(l.text);
        let first = *item_indent.get_or_insert(ind);
        if ind > first {
            // A continuation of the entry above (a multi-line or nested value).
            let last = entries.last_mut().ok_or("an entry spans several lines")?;
            last.span = None;
            continue;
        }
        if ind != first {
            return Err("the entries are not aligned");
        }
        let (key, rest) = mapping_entry(l.text).ok_or("an entry is not `key: value`")?;
        let scalar = simple_scalar(rest);
        // `rest` is a slice of the line: its offset places the value's span in the line.
        let at = rest.as_ptr() as usize - l.text.as_ptr() as usize;
        entries.push(Entry {
            line: i,
            key,
            quote: scalar.as_ref().and_then(|(q, _)| *q),
            span: scalar.map(|(_, span)| at + span.start..at + span.end),
        });
    }
    let item_indent = item_indent.unwrap_or(ed_indent + 2);
    let sorted = entries
        .iter()
        .zip(entries.iter().skip(1))
        .all(|(a, b)| a.key <= b.key);

    // Line replacements: index → new text (None = delete); insertions before a line index.
    let mut replace: std::collections::BTreeMap<usize, Option<String>> = Default::default();
    let mut insert: std::collections::BTreeMap<usize, Vec<(String, String)>> = Default::default();
    let mut keys: std::collections::BTreeSet<String> =
        entries.iter().map(|e| e.key.clone()).collect();
    let end_of_items = ed_end_of_items(&ls, ed, ed_end);
    for e in edits {
        for v in insert.values_mut() {
            v.retain(|(k, _)| k != e.key);
        }
        let existing = entries.iter().find(|x| x.key == e.key);
        match e.value {
            Some(value) => {
                keys.insert(e.key.to_owned());
                if let Some(x) = existing {
                    let span = x
                        .span
                        .clone()
                        .ok_or("an edited entry spans several lines")?;
                    let t = text_of(x.line);
                    let q = x.quote.map(String::from).unwrap_or_default();
                    let (Some(before), Some(after)) =
                        (t.get(..span.start - q.len()), t.get(span.end + q.len()..))
                    else {
                        return Err("an entry's value");
                    };
                    let new = match value {
                        Val::Base64(ct) => format!("{before}{q}{ct}{q}{after}"),
                        // A double-quoted line stays double-quoted: a JSON string is one.
                        Val::Text(t) if x.quote == Some('"') => format!(
                            "{before}{}{after}",
                            serde_json::to_string(t).map_err(|_| "an annotation value")?
                        ),
                        Val::Text(_) => format!("{before}{}{after}", yaml_new_scalar(value)?),
                    };
                    replace.insert(x.line, Some(new));
                    continue;
                }
                let new_line = format!(
                    "{}{}: {}",
                    " ".repeat(item_indent),
                    yaml_key(e.key),
                    yaml_new_scalar(value)?
                );
                // Sorted mappings stay sorted; otherwise the new entry goes last.
                let at = entries
                    .iter()
                    .find(|x| sorted && x.key.as_str() > e.key)
                    .map_or(end_of_items, |x| x.line);
                let here = insert.entry(at).or_default();
                here.push((e.key.to_owned(), new_line));
                if sorted {
                    here.sort();
                }
            }
            None => {
                keys.remove(e.key);
                if let Some(x) = existing {
                    if x.span.is_none() {
                        return Err("a deleted entry spans several lines");
                    }
                    replace.insert(x.line, None);
                }
            }
        }
    }
    let remaining = !keys.is_empty();
    let mut out = String::with_capacity(segment.len() + 256);
    let push_inserted = |out: &mut String, at: usize| {
        for (_, new) in insert.get(&at).into_iter().flatten() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(brk);
            }
            out.push_str(new);
            out.push_str(brk);
        }
    };
    for (i, l) in ls.iter().enumerate() {
        push_inserted(&mut out, i);
        let text = if i == ed {
            let colon = l.text.find(':').ok_or("the edited mapping")?;
            let key_part = l.text.get(..=colon).ok_or("the edited mapping")?;
            let suffix = ed_rest
                .find('#')
                .and_then(|c| ed_rest.get(c..))
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            if !remaining {
                Some(format!("{key_part} {{}}{suffix}"))
            } else if empty_flow {
                Some(format!("{key_part}{suffix}"))
            } else {
                Some(l.text.to_owned())
            }
        } else {
            match replace.get(&i) {
                Some(new) => new.clone(),
                None => Some(l.text.to_owned()),
            }
        };
        if let Some(text) = text {
            out.push_str(&text);
            out.push_str(l.brk);
        }
    }
    push_inserted(&mut out, ls.len());
    Ok(out)
}

/// The line before which an item added last goes: after the last item (comments and blank lines
/// that follow the items stay after them).
fn ed_end_of_items(ls: &[Line<'_>], ed: usize, ed_end: usize) -> usize {
    (ed + 1..ed_end)
        .rev()
        .find(|&i| ls.get(i).is_some_and(|l| !is_blank_or_comment(l.text)))
        .map_or(ed + 1, |i| i + 1)
}

// ------------------------------------------------------------------------------------------------
// JSON

/// A member of a JSON object: where its key string starts, and its value's byte range.
struct Member {
    key: String,
    key_start: usize,
    value: std::ops::Range<usize>,
}

/// Minimal JSON scanner: the members of one object, with byte offsets (the file already parsed as
/// JSON, so the scanner only needs to find boundaries).
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        let start = self.i;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(start..self.i);
                }
                _ => self.i += 1,
            }
        }
    }

    /// Skips any value; returns its range.
    fn value(&mut self) -> Option<std::ops::Range<usize>> {
        self.ws();
        let start = self.i;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.i += 1;
                                return Some(start..self.i);
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
            }
        }
        Some(start..self.i)
    }

    /// The members of the object starting at `self.i`.
    fn members(&mut self) -> Option<Vec<Member>> {
        self.ws();
        if self.peek() != Some(b'{') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Some(out);
            }
            let k = self.string()?;
            let key: String = serde_json::from_slice(self.b.get(k.clone())?).ok()?;
            self.ws();
            if self.peek() != Some(b':') {
                return None;
            }
            self.i += 1;
            let value = self.value()?;
            out.push(Member {
                key,
                key_start: k.start,
                value,
            });
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return None,
            }
        }
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text.get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// `text[range]`, or the layout error (the scanner's offsets are on character boundaries).
fn part(text: &str, range: std::ops::Range<usize>) -> Result<&str, &'static str> {
    text.get(range).ok_or("an offset inside a character")
}

fn json_edit(text: &str, edits: &[ItemEdit]) -> Result<String, &'static str> {
    let (items, annotations) = split_edits(edits);
    let mut out = text.to_owned();
    if !items.is_empty() {
        out = json_map_edit(&out, &ITEMS, &items)?;
    }
    if !annotations.is_empty() {
        out = json_map_edit(&out, &ANNOTATIONS, &annotations)?;
    }
    Ok(out)
}

fn json_value(v: Val<'_>) -> Result<String, &'static str> {
    match v {
        Val::Base64(ct) => Ok(format!("\"{ct}\"")),
        Val::Text(t) => serde_json::to_string(t).map_err(|_| "a value"),
    }
}

fn json_map_edit(
    text: &str,
    path: &MapPath,
    edits: &[MapEdit<'_>],
) -> Result<String, &'static str> {
    const LAYOUT: &str = "the JSON layout is not one entry per line";
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
    };
    let top = s.members().ok_or("not a JSON object")?;
    let parent = top
        .iter()
        .find(|m| m.key == path.parent)
        .ok_or("no object to edit")?;
    let mut s = Scanner {
        b: text.as_bytes(),
        i: parent.value.start,
    };
    let parent_members = s.members().ok_or("not an object")?;
    let Some(ed) = parent_members.iter().find(|m| m.key == path.child) else {
        if !path.create {
            return Err("no object to edit");
        }
        // A new member after the parent's last one, laid out like it.
        let set = entries_set(edits);
        if set.is_empty() {
            return Ok(text.to_owned());
        }
        let last = parent_members.last().ok_or("an empty object")?;
        let pad = part(text, line_start(text, last.key_start)..last.key_start)?;
        let outer = part(text, line_start(text, parent.key_start)..parent.key_start)?;
        if !pad.trim().is_empty() || !outer.trim().is_empty() || pad.len() <= outer.len() {
            return Err(LAYOUT);
        }
        let unit = pad.get(outer.len()..).ok_or(LAYOUT)?;
        let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let kj = serde_json::to_string(path.child).map_err(|_| "key")?;
        let mut member = format!(",{nl}{pad}{kj}: {{");
        for (i, (k, v)) in set.iter().enumerate() {
            let kj = serde_json::to_string(k).map_err(|_| "key")?;
            if i > 0 {
                member.push(',');
            }
            member.push_str(nl);
            member.push_str(&format!("{pad}{unit}{kj}: {}", json_value(*v)?));
        }
        member.push_str(&format!("{nl}{pad}}}"));
        let mut out = String::with_capacity(text.len() + member.len());
        out.push_str(part(text, 0..last.value.end)?);
        out.push_str(&member);
        out.push_str(part(text, last.value.end..text.len())?);
        return Ok(out);
    };
    let mut s = Scanner {
        b: text.as_bytes(),
        i: ed.value.start,
    };
    let items = s.members().ok_or("the edited member is not an object")?;
    if items.is_empty() {
        return Err("the edited object is empty");
    }
    // One entry per line: each key starts its own line.
    for m in &items {
        if !part(text, line_start(text, m.key_start)..m.key_start)?
            .trim()
            .is_empty()
        {
            return Err(LAYOUT);
        }
    }
    for e in edits {
        if let Some(m) = items.iter().find(|m| m.key == e.key)
            && !part(text, m.value.clone())?.starts_with('"')
        {
            return Err("an edited value is not a string");
        }
    }
    // The entries as (key, text from the start of its line to the end of its value, without the
    // comma); the lines from the first entry to the end of the last value are rebuilt from them.
    let (Some(head), Some(last)) = (items.first(), items.last()) else {
        return Err("the edited object is empty");
    };
    let first = line_start(text, head.key_start);
    let tail_start = last.value.end;
    let pad = part(text, first..head.key_start)?;
    let mut entries: Vec<(String, String)> = items
        .iter()
        .map(|m| {
            part(text, line_start(text, m.key_start)..m.value.end)
                .map(|t| (m.key.clone(), t.to_owned()))
        })
        .collect::<Result<_, _>>()?;
    let sorted = entries
        .iter()
        .zip(entries.iter().skip(1))
        .all(|(a, b)| a.0 <= b.0);
    for e in edits {
        match e.value {
            Some(value) => {
                let kj = serde_json::to_string(e.key).map_err(|_| "key")?;
                let v = json_value(value)?;
                if let Some(entry) = entries.iter_mut().find(|(k, _)| k == e.key) {
                    entry.1 = match items.iter().find(|m| m.key == e.key) {
                        Some(m) => format!(
                            "{}{v}",
                            part(text, line_start(text, m.key_start)..m.value.start)?
                        ),
                        None => format!("{pad}{kj}: {v}"),
                    };
                } else {
                    let line = format!("{pad}{kj}: {v}");
                    let at = if sorted {
                        entries
                            .iter()
                            .position(|(k, _)| k.as_str() > e.key)
                            .unwrap_or(entries.len())
                    } else {
                        entries.len()
                    };
                    entries.insert(at, (e.key.to_owned(), line));
                }
            }
            None => entries.retain(|(k, _)| k != e.key),
        }
    }
    if entries.is_empty() {
        return Err("every entry deleted");
    }
    // Between two entries the original separator is `,\n` (plus spaces/comments are not JSON).
    let brk = if text.contains("\r\n") {
        ",\r\n"
    } else {
        ",\n"
    };
    let body: Vec<&str> = entries.iter().map(|(_, l)| l.as_str()).collect();
    let mut out = String::with_capacity(text.len() + 256);
    out.push_str(part(text, 0..first)?);
    out.push_str(&body.join(brk));
    out.push_str(part(text, tail_start..text.len())?);
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// One annotation of the SealedSecret's own metadata (the recovery envelope, `kubeseal set/edit`)

/// Set (or, with `None`, remove) annotation `key` of document `index`'s own `metadata`: one
/// [`ItemEdit::Annotate`] (only that annotation's line changes, or a new `annotations:` block; a
/// layout the editor does not handle is rewritten, and [`Edited::rewritten`] says so).
pub fn set_annotation(
    text: &str,
    index: usize,
    key: &str,
    value: Option<&str>,
) -> Result<Edited, EditError> {
    edit_encrypted_data(
        text,
        index,
        &[ItemEdit::Annotate {
            key: key.to_owned(),
            value: value.map(str::to_owned),
        }],
    )
}

#[cfg(test)]
mod tests;
