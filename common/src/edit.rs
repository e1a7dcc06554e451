//! Surgical edits of `spec.encryptedData` in a SealedSecret file (`kubeseal set`): only the lines
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
}

impl ItemEdit {
    /// The item's name.
    pub fn key(&self) -> &str {
        match self {
            ItemEdit::Set { key, .. } | ItemEdit::Delete { key } => key,
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
        let end = rest.get(1..)?.find(first)? + 1;
        let inner = rest.get(1..end)?;
        if inner.contains('\\') || !is_blank_or_comment(rest.get(end + 1..)?) {
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

/// Does `key` need quotes as a YAML mapping key (YAML 1.1 and 1.2 readers alike)?
fn yaml_key(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
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

fn yaml_edit(segment: &str, edits: &[ItemEdit]) -> Result<String, &'static str> {
    if segment.contains('\t') {
        return Err("the document is indented with tabs");
    }
    let ls = lines(segment);
    let text_of = |i: usize| ls.get(i).map_or("", |l| l.text);
    // `spec:` at the top level.
    let spec = ls
        .iter()
        .position(|l| {
            indent(l.text) == 0
                && mapping_entry(l.text)
                    .is_some_and(|(k, r)| k == "spec" && (r.is_empty() || r.starts_with('#')))
        })
        .ok_or("no block `spec:` at the top level")?;
    let block_end = |from: usize, parent: usize| -> usize {
        (from..ls.len())
            .find(|&i| !is_blank_or_comment(text_of(i)) && indent(text_of(i)) <= parent)
            .unwrap_or(ls.len())
    };
    let spec_end = block_end(spec + 1, 0);
    let child = (spec + 1..spec_end)
        .find(|&i| !is_blank_or_comment(text_of(i)))
        .map(|i| indent(text_of(i)))
        .ok_or("an empty spec")?;
    let ed = (spec + 1..spec_end)
        .find(|&i| {
            indent(text_of(i)) == child
                && mapping_entry(text_of(i)).is_some_and(|(k, _)| k == "encryptedData")
        })
        .ok_or("no `encryptedData:` in the spec")?;
    let (_, ed_rest) = mapping_entry(text_of(ed)).ok_or("encryptedData")?;
    let ed_indent = indent(text_of(ed));
    let empty_flow = ed_rest == "{}" || ed_rest.starts_with("{} #");
    if !(ed_rest.is_empty() || ed_rest.starts_with('#') || empty_flow) {
        return Err("`encryptedData` is not a block mapping");
    }
    let ed_end = if empty_flow {
        ed + 1
    } else {
        block_end(ed + 1, ed_indent)
    };
    // The items: (line, key, value span in the line).
    let mut items: Vec<(usize, String, Option<char>, std::ops::Range<usize>)> = Vec::new();
    let mut item_indent = None;
    for (i, l) in ls.iter().enumerate().take(ed_end).skip(ed + 1) {
        if is_blank_or_comment(l.text) {
            continue;
        }
        let ind = indent(l.text);
        if *item_indent.get_or_insert(ind) != ind {
            return Err("an item spans several lines");
        }
        let (key, rest) = mapping_entry(l.text).ok_or("an item is not `key: value`")?;
        let (quote, span) =
            simple_scalar(rest).ok_or("an item's value is not a one-line scalar")?;
        // `rest` is a slice of the line: its offset places the value's span in the line.
        let at = rest.as_ptr() as usize - l.text.as_ptr() as usize;
        items.push((i, key, quote, at + span.start..at + span.end));
    }
    let item_indent = item_indent.unwrap_or(ed_indent + 2);
    let sorted = items
        .iter()
        .zip(items.iter().skip(1))
        .all(|(a, b)| a.1 <= b.1);
    let brk = ls
        .first()
        .map_or("\n", |l| if l.brk.is_empty() { "\n" } else { l.brk });

    // Line replacements: index → new text (None = delete); insertions before a line index.
    let mut replace: std::collections::BTreeMap<usize, Option<String>> = Default::default();
    let mut insert: std::collections::BTreeMap<usize, Vec<(String, String)>> = Default::default();
    let mut keys: std::collections::BTreeSet<String> =
        items.iter().map(|(_, k, ..)| k.clone()).collect();
    let end_of_items = ed_end_of_items(&ls, ed, ed_end);
    for e in edits {
        for v in insert.values_mut() {
            v.retain(|(k, _)| k != e.key());
        }
        match e {
            ItemEdit::Set { key, ciphertext } => {
                keys.insert(key.clone());
                if let Some((line, _, quote, span)) = items.iter().find(|(_, k, ..)| k == key) {
                    let t = text_of(*line);
                    let q = quote.map(String::from).unwrap_or_default();
                    let (Some(before), Some(after)) =
                        (t.get(..span.start - q.len()), t.get(span.end + q.len()..))
                    else {
                        return Err("an item's value");
                    };
                    let new = format!("{before}{q}{ciphertext}{q}{after}");
                    replace.insert(*line, Some(new));
                    continue;
                }
                let new_line =
                    format!("{}{}: {ciphertext}", " ".repeat(item_indent), yaml_key(key));
                // Sorted files stay sorted; otherwise the new item goes last.
                let at = items
                    .iter()
                    .find(|(_, k, ..)| sorted && k.as_str() > key.as_str())
                    .map_or(end_of_items, |(l, ..)| *l);
                let here = insert.entry(at).or_default();
                here.push((key.clone(), new_line));
                if sorted {
                    here.sort();
                }
            }
            ItemEdit::Delete { key } => {
                keys.remove(key);
                if let Some((line, ..)) = items.iter().find(|(_, k, ..)| k == key) {
                    replace.insert(*line, None);
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
            let colon = l.text.find(':').ok_or("encryptedData")?;
            let key_part = l.text.get(..=colon).ok_or("encryptedData")?;
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
    const LAYOUT: &str = "the JSON layout is not one item per line";
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
    };
    let top = s.members().ok_or("not a JSON object")?;
    let spec = top.iter().find(|m| m.key == "spec").ok_or("no spec")?;
    let mut s = Scanner {
        b: text.as_bytes(),
        i: spec.value.start,
    };
    let spec_members = s.members().ok_or("spec is not an object")?;
    let ed = spec_members
        .iter()
        .find(|m| m.key == "encryptedData")
        .ok_or("no encryptedData in the spec")?;
    let mut s = Scanner {
        b: text.as_bytes(),
        i: ed.value.start,
    };
    let items = s.members().ok_or("encryptedData is not an object")?;
    if items.is_empty() {
        return Err("encryptedData is empty");
    }
    // One item per line: each key starts its own line.
    for m in &items {
        if !part(text, line_start(text, m.key_start)..m.key_start)?
            .trim()
            .is_empty()
        {
            return Err(LAYOUT);
        }
        if !part(text, m.value.clone())?.starts_with('"') {
            return Err("an item's value is not a string");
        }
    }
    // The items as (key, text from the start of its line to the end of its value, without the
    // comma); the lines from the first item to the end of the last value are rebuilt from them.
    let (Some(head), Some(last)) = (items.first(), items.last()) else {
        return Err("encryptedData is empty");
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
        match e {
            ItemEdit::Set { key, ciphertext } => {
                let kj = serde_json::to_string(key).map_err(|_| "key")?;
                if let Some(entry) = entries.iter_mut().find(|(k, _)| k == key) {
                    entry.1 = match items.iter().find(|m| &m.key == key) {
                        Some(m) => format!(
                            "{}\"{ciphertext}\"",
                            part(text, line_start(text, m.key_start)..m.value.start)?
                        ),
                        None => format!("{pad}{kj}: \"{ciphertext}\""),
                    };
                } else {
                    let line = format!("{pad}{kj}: \"{ciphertext}\"");
                    let at = if sorted {
                        entries
                            .iter()
                            .position(|(k, _)| k.as_str() > key.as_str())
                            .unwrap_or(entries.len())
                    } else {
                        entries.len()
                    };
                    entries.insert(at, (key.clone(), line));
                }
            }
            ItemEdit::Delete { key } => entries.retain(|(k, _)| k != key),
        }
    }
    if entries.is_empty() {
        return Err("every item deleted");
    }
    // Between two items the original separator is `,\n` (plus spaces/comments are not JSON).
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

/// Set (or, with `None`, remove) annotation `key` of document `index`'s own `metadata`. In a YAML
/// block layout only that annotation's line changes (a value is written single-quoted, so it must
/// not contain `'` or a line break; anything else is rewritten); otherwise, and for JSON files,
/// the document is rewritten as [`edit_encrypted_data`] does, and [`Edited::rewritten`] says so.
pub fn set_annotation(
    text: &str,
    index: usize,
    key: &str,
    value: Option<&str>,
) -> Result<Edited, EditError> {
    let docs = documents(text)?;
    let doc = docs.get(index).ok_or(EditError::NoDocument(index + 1))?;
    let mut expected = doc.value.clone();
    {
        let meta = expected
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or(EditError::NotSealedSecret(index + 1))?;
        match value {
            Some(v) => {
                let a = meta
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Map::new()));
                if a.is_null() {
                    *a = Value::Object(Map::new());
                }
                a.as_object_mut()
                    .ok_or(EditError::NotSealedSecret(index + 1))?
                    .insert(key.to_owned(), Value::String(v.to_owned()));
            }
            None => {
                if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                    a.remove(key);
                }
            }
        }
    }
    if expected == doc.value {
        return Ok(Edited {
            text: text.to_owned(),
            rewritten: None,
        });
    }
    let json = looks_like_json(text.as_bytes());
    let segment = text.get(doc.range.clone()).unwrap_or_default();
    let surgical = if doc.range.is_empty() {
        Err("the file's documents cannot be told apart")
    } else if json {
        Err("a JSON file")
    } else {
        yaml_annotation_edit(segment, key, value)
    };
    let attempt = surgical.and_then(|new_segment| {
        let reparsed =
            parse_documents(new_segment.as_bytes()).map_err(|_| "the edit does not parse")?;
        match reparsed.as_slice() {
            [v] if *v == expected => Ok(new_segment),
            _ => Err("the edit changes more than the annotation"),
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

fn yaml_annotation_edit(
    segment: &str,
    key: &str,
    value: Option<&str>,
) -> Result<String, &'static str> {
    if segment.contains('\t') {
        return Err("the document is indented with tabs");
    }
    if value.is_some_and(|v| v.contains(['\'', '\n', '\r'])) {
        return Err("the annotation value needs another quoting");
    }
    let ls = lines(segment);
    let text_of = |i: usize| ls.get(i).map_or("", |l| l.text);
    let block_end = |from: usize, parent: usize| -> usize {
        (from..ls.len())
            .find(|&i| !is_blank_or_comment(text_of(i)) && indent(text_of(i)) <= parent)
            .unwrap_or(ls.len())
    };
    let meta = ls
        .iter()
        .position(|l| {
            indent(l.text) == 0
                && mapping_entry(l.text)
                    .is_some_and(|(k, r)| k == "metadata" && (r.is_empty() || r.starts_with('#')))
        })
        .ok_or("no block `metadata:` at the top level")?;
    let meta_end = block_end(meta + 1, 0);
    let child = (meta + 1..meta_end)
        .find(|&i| !is_blank_or_comment(text_of(i)))
        .map(|i| indent(text_of(i)))
        .ok_or("an empty metadata")?;
    let ann = (meta + 1..meta_end)
        .find(|&i| {
            indent(text_of(i)) == child
                && mapping_entry(text_of(i)).is_some_and(|(k, _)| k == "annotations")
        })
        .ok_or("no `annotations:` in the metadata")?;
    let (_, rest) = mapping_entry(text_of(ann)).ok_or("annotations")?;
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err("`annotations` is not a block mapping");
    }
    let ann_end = block_end(ann + 1, child);
    let mut found = None;
    let mut last = ann;
    let mut item_indent = None;
    for i in ann + 1..ann_end {
        let t = text_of(i);
        if is_blank_or_comment(t) {
            continue;
        }
        let ind = indent(t);
        if *item_indent.get_or_insert(ind) != ind {
            return Err("an annotation spans several lines");
        }
        let (k, rest) = mapping_entry(t).ok_or("an annotation is not `key: value`")?;
        // The line being replaced may hold any one-line double-quoted scalar (escapes too:
        // kubeseal writes the envelope that way); the re-parse check below proves the result.
        let replaced_whole =
            k == key && rest.len() > 1 && rest.starts_with('"') && rest.ends_with('"');
        if !replaced_whole {
            simple_scalar(rest).ok_or("an annotation is not a one-line scalar")?;
        }
        if k == key {
            // `rest` is a slice of the line: what precedes it is the key and the colon.
            let at = rest.as_ptr() as usize - t.as_ptr() as usize;
            found = Some((i, t.get(..at).unwrap_or_default().to_owned()));
        }
        last = i;
    }
    let item_indent = item_indent.ok_or("an empty annotations block")?;
    let brk = ls
        .first()
        .map_or("\n", |l| if l.brk.is_empty() { "\n" } else { l.brk });
    let new_line = value.map(|v| format!("{}{}: '{v}'", " ".repeat(item_indent), yaml_key(key)));
    let mut out = String::with_capacity(segment.len() + new_line.as_ref().map_or(0, String::len));
    for (i, l) in ls.iter().enumerate() {
        if let Some((_, prefix)) = found.as_ref().filter(|(at, _)| *at == i) {
            if let Some(v) = value {
                let prefix = if prefix.ends_with(' ') {
                    prefix.clone()
                } else {
                    format!("{prefix} ")
                };
                out.push_str(&format!("{prefix}'{v}'"));
                out.push_str(l.brk);
            }
        } else {
            out.push_str(l.text);
            out.push_str(l.brk);
        }
        if found.is_none()
            && i == last
            && let Some(n) = &new_line
        {
            if l.brk.is_empty() {
                out.push_str(brk);
            }
            out.push_str(n);
            out.push_str(brk);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
