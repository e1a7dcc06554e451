//! A bounded re-implementation of the subset of Go's `text/template` plus the
//! sprig function library that Sealed Secrets users write in
//! `spec.template.data`.
//!
//! Upstream executes every `spec.template.data[k]` as
//! `template.New(k).Funcs(sprig.GenericFuncMap() - {env, expandenv, getHostByName}).Parse(src)`
//! and then `Execute(buf, data)` where `data` is a `map[string]string` of the
//! decrypted values. [`render`] does the same over a map of byte strings.
//!
//! Safety properties (the input is untrusted, the data is secret):
//! * work, output size and nesting are bounded by [`Limits`]; every
//!   intermediate string is bounded by `max_output_bytes` as well;
//! * nothing in this module panics on any input (no unwrap / indexing);
//! * error messages ([`TemplateError`]) only ever contain template names,
//!   source positions, source snippets, function names, key names and type
//!   names, never a data value;
//! * buffers that hold plaintext are `Zeroizing` and are grown by copying into
//!   a fresh zeroizing buffer so no stale copy is left behind by `realloc`.

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::CryptoRng;
use zeroize::Zeroizing;

mod funcs;

// ───────────────────────────── public API ─────────────────────────────

/// Resource bounds for one template execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum size of the output, and of any intermediate string value.
    pub max_output_bytes: usize,
    /// Maximum number of evaluation steps (nodes, function calls, range
    /// iterations, elements produced or visited by functions).
    pub max_steps: u64,
    /// Maximum nesting depth (control structures and parentheses when
    /// parsing; nested lists / maps when executing).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: 1024 * 1024,
            max_steps: 1_000_000,
            max_depth: 100,
        }
    }
}

/// Template parse or execution failure. The message never contains a data value.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Syntax error, unknown function, undefined variable, …
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// Template name (the data key).
        name: String,
        /// 1-based line.
        line: usize,
        /// Description.
        message: String,
    },
    /// Runtime error (wrong argument types, bad index, …).
    #[error("template: {name}:{line}:{col}: executing \"{name}\" at <{context}>: {message}")]
    Exec {
        /// Template name (the data key).
        name: String,
        /// 1-based line.
        line: usize,
        /// 0-based byte column (as Go reports it).
        col: usize,
        /// The template source of the failing node.
        context: String,
        /// Description.
        message: String,
    },
    /// The output (or an intermediate value) grew beyond `max_output_bytes`.
    #[error("template output exceeds {limit} bytes (template \"{name}\")")]
    OutputLimit {
        /// Template name.
        name: String,
        /// The limit in force.
        limit: usize,
    },
    /// More than `max_steps` evaluation steps.
    #[error("template exceeds {limit} steps (template \"{name}\")")]
    StepLimit {
        /// Template name.
        name: String,
        /// The limit in force.
        limit: u64,
    },
    /// Nesting deeper than `max_depth`.
    #[error("template nesting exceeds {limit} levels (template \"{name}\")")]
    DepthLimit {
        /// Template name.
        name: String,
        /// The limit in force.
        limit: usize,
    },
}

/// The functions supported, for docs. `toYaml` is a Helm extension; the rest
/// are Go `text/template` builtins or sprig functions.
pub const FUNCTIONS: &[&str] = &[
    // Go builtins
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "urlquery",
    // sprig: defaults / flow
    "default",
    "empty",
    "coalesce",
    "ternary",
    "all",
    "any",
    // sprig: strings
    "upper",
    "lower",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "repeat",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "nospace",
    "trunc",
    "abbrev",
    "substr",
    "plural",
    "split",
    "splitList",
    "splitn",
    "join",
    "sortAlpha",
    "toString",
    "toStrings",
    // sprig: encoding / hashing
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "sha256sum",
    "sha1sum",
    "adler32sum",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "fromJson",
    "toYaml",
    // sprig: numbers
    "atoi",
    "int",
    "int64",
    "float64",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "biggest",
    "floor",
    "ceil",
    "until",
    // sprig: lists
    "list",
    "append",
    "push",
    "prepend",
    "first",
    "last",
    "rest",
    "initial",
    "uniq",
    "has",
    "without",
    "compact",
    "reverse",
    "concat",
    // sprig: dicts
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pick",
    "omit",
    // sprig: reflection
    "typeOf",
    "typeIs",
    "kindOf",
    "kindIs",
    // issue 15: the rest of sprig (template/funcs/)
    "call",
    "js",
    "hello",
    "untitle",
    "trimall",
    "abbrevboth",
    "initials",
    "swapcase",
    "wrap",
    "wrapWith",
    "shuffle",
    "randAlphaNum",
    "randAlpha",
    "randAscii",
    "randNumeric",
    "fail",
    "typeIsLike",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "mustFromJson",
    "sha512sum",
    "uuidv4",
    "randBytes",
    "bcrypt",
    "htpasswd",
    "addf",
    "add1f",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "round",
    "untilStep",
    "seq",
    "toDecimal",
    "randInt",
    "tuple",
    "mustAppend",
    "mustPush",
    "mustPrepend",
    "mustFirst",
    "mustLast",
    "mustRest",
    "mustInitial",
    "mustReverse",
    "mustUniq",
    "mustWithout",
    "mustHas",
    "mustCompact",
    "mustSlice",
    "chunk",
    "mustChunk",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    "deepCopy",
    "mustDeepCopy",
    "deepEqual",
    "pluck",
    "dig",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "mustRegexFind",
    "regexFindAll",
    "mustRegexFindAll",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osDir",
    "osClean",
    "osExt",
    "osIsAbs",
    "snakecase",
    "camelcase",
    "kebabcase",
    "semverCompare",
];

/// Functions Go (text/template + sprig) has that we do not implement, with the reason. A
/// template naming one fails at parse time with `function "NAME" not supported: REASON`.
pub const OMITTED: &[(&str, &str)] = &[
    (
        "ago",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "date",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "date_in_zone",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "date_modify",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "dateInZone",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "dateModify",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "duration",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "durationRound",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "htmlDate",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "htmlDateInZone",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "must_date_modify",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "mustDateModify",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "mustToDate",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "now",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "toDate",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "unixEpoch",
        "not implemented yet (issue 15): dates need Go's time layouts, time.Duration printing and a time zone database",
    ),
    (
        "urlParse",
        "not implemented yet (issue 15): needs Go's net/url parsing and escaping rules",
    ),
    (
        "urlJoin",
        "not implemented yet (issue 15): needs Go's net/url parsing and escaping rules",
    ),
    (
        "semver",
        "not implemented yet (issue 15): needs Masterminds/semver's version coercion and constraint syntax",
    ),
    (
        "genPrivateKey",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "genCA",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "genCAWithKey",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "genSelfSignedCert",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "genSelfSignedCertWithKey",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "genSignedCert",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "genSignedCertWithKey",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "buildCustomCert",
        "not implemented yet (issue 15): key and certificate generation (RSA, ECDSA, Ed25519, DSA; x509)",
    ),
    (
        "derivePassword",
        "not implemented yet (issue 15): the Master Password algorithm (scrypt + HMAC-SHA256)",
    ),
    (
        "encryptAES",
        "not implemented yet (issue 15): AES-256-CBC with sprig's key and padding rules",
    ),
    (
        "decryptAES",
        "not implemented yet (issue 15): AES-256-CBC with sprig's key and padding rules",
    ),
];

/// Functions of sprig 3.3 (upstream's pin) that the reference renderer's sprig 3.2.3 lacks.
pub const SPRIG_3_3_ONLY: &[&str] = &["sha512sum"];

/// Functions we accept that upstream's map does not have (listed in docs/templates.md).
pub const EXTENSIONS: &[&str] = &["toYaml"];

/// Parse and execute one template named `name` over `data` (decrypted key -> bytes). The
/// random functions draw from the thread's CSPRNG (`rand::rng()`, seeded from the OS), as
/// sprig draws from `crypto/rand`; [`render_with_rng`] takes the source as an argument.
pub fn render(
    name: &str,
    src: &str,
    data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    limits: &Limits,
) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
    render_with_rng(name, src, data, limits, &mut rand::rng())
}

/// [`render`] with the random functions' source given (tests pin it).
pub fn render_with_rng(
    name: &str,
    src: &str,
    data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    limits: &Limits,
    rng: &mut dyn CryptoRng,
) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
    let tree = parse(name, src, limits)?;
    let mut ex = Exec::new(name, src, data, limits, rng, &tree.defs);
    let res = ex.walk(&Value::Root, &tree.root);
    match res {
        Ok(_) => Ok(std::mem::take(&mut ex.out).into_inner()),
        Err(e) => Err(ex.to_error(e)),
    }
}

/// Parse only (validates syntax and that every function is defined).
pub fn check(name: &str, src: &str, limits: &Limits) -> Result<(), TemplateError> {
    parse(name, src, limits).map(|_| ())
}

// ───────────────────────────── buffers ─────────────────────────────

/// A zeroizing byte buffer with a hard size limit. Growth copies into a new
/// zeroizing allocation so the old one is wiped.
struct SecBuf {
    v: Zeroizing<Vec<u8>>,
    limit: usize,
}

/// Marker: a buffer would exceed its limit.
struct Overflow;

impl SecBuf {
    fn new(limit: usize) -> Self {
        SecBuf {
            v: Zeroizing::new(Vec::new()),
            limit,
        }
    }
    fn push(&mut self, b: &[u8]) -> Result<(), Overflow> {
        let need = self.v.len().checked_add(b.len()).ok_or(Overflow)?;
        if need > self.limit {
            return Err(Overflow);
        }
        if need > self.v.capacity() {
            let cap = need
                .max(self.v.capacity().saturating_mul(2))
                .max(32)
                .min(self.limit.max(need));
            let mut nv = Zeroizing::new(Vec::with_capacity(cap));
            nv.extend_from_slice(&self.v);
            self.v = nv;
        }
        self.v.extend_from_slice(b);
        Ok(())
    }
    fn push_str(&mut self, s: &str) -> Result<(), Overflow> {
        self.push(s.as_bytes())
    }
    fn push_char(&mut self, c: char) -> Result<(), Overflow> {
        let mut tmp = [0u8; 4];
        self.push(c.encode_utf8(&mut tmp).as_bytes())
    }
    fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.v
    }
    fn into_value(self) -> Value {
        Value::Str(Rc::new(self.v))
    }
}

impl Default for SecBuf {
    fn default() -> Self {
        SecBuf::new(0)
    }
}

// ───────────────────────────── lexer ─────────────────────────────

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kw {
    If,
    Else,
    End,
    Range,
    With,
    Define,
    Template,
    Block,
    Break,
    Continue,
}

#[derive(Clone, PartialEq)]
enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Field(String),
    Dot,
    Variable(String),
    Ident(String),
    Kw(Kw),
    Bool(bool),
    Nil,
    Number(String),
    Str(Vec<u8>),
    Char(i64),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Other(char),
    Eof,
}

#[derive(Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    end: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn char_at(src: &str, i: usize) -> Option<char> {
    src.get(i..).and_then(|s| s.chars().next())
}

fn byte_at(src: &str, i: usize) -> Option<u8> {
    src.as_bytes().get(i).copied()
}

fn starts_at(src: &str, i: usize, pat: &str) -> bool {
    src.get(i..).is_some_and(|s| s.starts_with(pat))
}

/// At `i`: is there a right delimiter? Returns (length, trim).
fn at_right_delim(src: &str, i: usize) -> Option<(usize, bool)> {
    if byte_at(src, i).is_some_and(is_space)
        && byte_at(src, i + 1) == Some(b'-')
        && starts_at(src, i + 2, "}}")
    {
        return Some((4, true));
    }
    if starts_at(src, i, "}}") {
        return Some((2, false));
    }
    None
}

fn at_terminator(src: &str, i: usize) -> bool {
    match byte_at(src, i) {
        None => true,
        Some(b) if is_space(b) => true,
        Some(b'.' | b',' | b'|' | b':' | b')' | b'(') => true,
        Some(_) => starts_at(src, i, "}}"),
    }
}

type LexErr = (usize, String);

fn bad_char(c: char) -> String {
    format!("bad character U+{:04X} '{}'", c as u32, c)
}

fn lex(src: &str) -> Result<Vec<Token>, LexErr> {
    let mut toks: Vec<Token> = Vec::new();
    let n = src.len();
    let mut i = 0usize;
    let mut trim_next = false;
    loop {
        // ── text ──
        let mut start = i;
        if trim_next {
            while byte_at(src, start).is_some_and(is_space) {
                start += 1;
            }
        }
        let rest = src.get(start..).unwrap_or("");
        let Some(off) = rest.find("{{") else {
            if start < n {
                toks.push(Token {
                    tok: Tok::Text(rest.to_string()),
                    pos: start,
                    end: n,
                });
            }
            break;
        };
        let delim = start + off;
        let trim_left =
            byte_at(src, delim + 2) == Some(b'-') && byte_at(src, delim + 3).is_some_and(is_space);
        let mut text_end = delim;
        if trim_left {
            while text_end > start && byte_at(src, text_end - 1).is_some_and(is_space) {
                text_end -= 1;
            }
        }
        if text_end > start {
            toks.push(Token {
                tok: Tok::Text(src.get(start..text_end).unwrap_or("").to_string()),
                pos: start,
                end: text_end,
            });
        }
        let mut p = delim + 2 + if trim_left { 2 } else { 0 };
        // ── comment ──
        if starts_at(src, p, "/*") {
            let Some(x) = src.get(p + 2..).and_then(|s| s.find("*/")) else {
                return Err((delim, "unclosed comment".into()));
            };
            p = p + 2 + x + 2;
            match at_right_delim(src, p) {
                Some((l, t)) => {
                    i = p + l;
                    trim_next = t;
                    continue;
                }
                None => return Err((delim, "comment ends before closing delimiter".into())),
            }
        }
        toks.push(Token {
            tok: Tok::LeftDelim,
            pos: delim,
            end: p,
        });
        // ── inside action ──
        let mut parens: i64 = 0;
        loop {
            if let Some((l, t)) = at_right_delim(src, p) {
                if parens != 0 {
                    return Err((p, "unclosed left paren".into()));
                }
                toks.push(Token {
                    tok: Tok::RightDelim,
                    pos: p,
                    end: p + l,
                });
                i = p + l;
                trim_next = t;
                break;
            }
            let Some(c) = char_at(src, p) else {
                return Err((p, "unclosed action".into()));
            };
            let s = p;
            let tok = match c {
                ' ' | '\t' | '\r' | '\n' => {
                    let mut q = p;
                    while byte_at(src, q).is_some_and(is_space) {
                        if byte_at(src, q + 1) == Some(b'-') && starts_at(src, q + 2, "}}") {
                            break;
                        }
                        q += 1;
                    }
                    if q == p {
                        // lone space before " -}}": handled by at_right_delim next turn
                        continue;
                    }
                    p = q;
                    Tok::Space
                }
                '|' => {
                    p += 1;
                    Tok::Pipe
                }
                ',' => {
                    p += 1;
                    Tok::Comma
                }
                '=' => {
                    p += 1;
                    Tok::Assign
                }
                ':' => {
                    if byte_at(src, p + 1) != Some(b'=') {
                        return Err((p, "expected :=".into()));
                    }
                    p += 2;
                    Tok::Declare
                }
                '(' => {
                    parens += 1;
                    p += 1;
                    Tok::LParen
                }
                ')' => {
                    parens -= 1;
                    if parens < 0 {
                        return Err((p, "unexpected right paren".into()));
                    }
                    p += 1;
                    Tok::RParen
                }
                '"' => {
                    let mut q = p + 1;
                    loop {
                        match byte_at(src, q) {
                            None | Some(b'\n') => {
                                return Err((p, "unterminated quoted string".into()));
                            }
                            Some(b'\\') => {
                                q += 1;
                                match char_at(src, q) {
                                    None | Some('\n') => {
                                        return Err((p, "unterminated quoted string".into()));
                                    }
                                    Some(c) => q += c.len_utf8(),
                                }
                            }
                            Some(b'"') => break,
                            Some(_) => q += 1,
                        }
                    }
                    let body = src.get(p + 1..q).unwrap_or("");
                    let v = unquote_go(body, '"').map_err(|m| (p, m))?;
                    p = q + 1;
                    Tok::Str(v)
                }
                '`' => {
                    let Some(x) = src.get(p + 1..).and_then(|s| s.find('`')) else {
                        return Err((p, "unterminated raw quoted string".into()));
                    };
                    let body = src.get(p + 1..p + 1 + x).unwrap_or("");
                    p = p + 1 + x + 1;
                    Tok::Str(body.bytes().filter(|b| *b != b'\r').collect())
                }
                '\'' => {
                    let mut q = p + 1;
                    loop {
                        match byte_at(src, q) {
                            None | Some(b'\n') => {
                                return Err((p, "unterminated character constant".into()));
                            }
                            Some(b'\\') => {
                                q += 1;
                                match char_at(src, q) {
                                    None | Some('\n') => {
                                        return Err((p, "unterminated character constant".into()));
                                    }
                                    Some(c) => q += c.len_utf8(),
                                }
                            }
                            Some(b'\'') => break,
                            Some(_) => q += 1,
                        }
                    }
                    let body = src.get(p + 1..q).unwrap_or("");
                    let raw = src.get(p..=q).unwrap_or("");
                    let v = unquote_go(body, '\'').map_err(|m| (p, m)).and_then(|v| {
                        let s = String::from_utf8(v)
                            .map_err(|_| (p, format!("malformed character constant: {raw}")))?;
                        let mut it = s.chars();
                        match (it.next(), it.next()) {
                            (Some(c), None) => Ok(c as i64),
                            _ => Err((p, format!("malformed character constant: {raw}"))),
                        }
                    })?;
                    p = q + 1;
                    Tok::Char(v)
                }
                '$' => {
                    let mut q = p + 1;
                    while let Some(c) = char_at(src, q).filter(|c| is_alnum(*c)) {
                        q += c.len_utf8();
                    }
                    if !at_terminator(src, q) {
                        return Err((q, bad_char(char_at(src, q).unwrap_or('?'))));
                    }
                    let name = src.get(p..q).unwrap_or("$").to_string();
                    p = q;
                    Tok::Variable(name)
                }
                '.' if !byte_at(src, p + 1).is_some_and(|b| b.is_ascii_digit()) => {
                    let mut q = p + 1;
                    while let Some(c) = char_at(src, q).filter(|c| is_alnum(*c)) {
                        q += c.len_utf8();
                    }
                    if !at_terminator(src, q) {
                        return Err((q, bad_char(char_at(src, q).unwrap_or('?'))));
                    }
                    let name = src.get(p + 1..q).unwrap_or("").to_string();
                    p = q;
                    if name.is_empty() {
                        Tok::Dot
                    } else {
                        Tok::Field(name)
                    }
                }
                '.' | '+' | '-' | '0'..='9' => {
                    let q = scan_number(src, p);
                    if let Some(c) = char_at(src, q).filter(|c| is_alnum(*c)) {
                        let upto = q + c.len_utf8();
                        return Err((
                            p,
                            format!("bad number syntax: \"{}\"", src.get(p..upto).unwrap_or("")),
                        ));
                    }
                    let t = src.get(p..q).unwrap_or("").to_string();
                    p = q;
                    Tok::Number(t)
                }
                c if is_alnum(c) => {
                    let mut q = p;
                    while let Some(c) = char_at(src, q).filter(|c| is_alnum(*c)) {
                        q += c.len_utf8();
                    }
                    if !at_terminator(src, q) {
                        return Err((q, bad_char(char_at(src, q).unwrap_or('?'))));
                    }
                    let word = src.get(p..q).unwrap_or("");
                    p = q;
                    match word {
                        "if" => Tok::Kw(Kw::If),
                        "else" => Tok::Kw(Kw::Else),
                        "end" => Tok::Kw(Kw::End),
                        "range" => Tok::Kw(Kw::Range),
                        "with" => Tok::Kw(Kw::With),
                        "define" => Tok::Kw(Kw::Define),
                        "template" => Tok::Kw(Kw::Template),
                        "block" => Tok::Kw(Kw::Block),
                        "break" => Tok::Kw(Kw::Break),
                        "continue" => Tok::Kw(Kw::Continue),
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => Tok::Ident(w.to_string()),
                    }
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    p += 1;
                    Tok::Other(c)
                }
                c => {
                    return Err((
                        p,
                        format!("unrecognized character in action: U+{:04X}", c as u32),
                    ));
                }
            };
            toks.push(Token {
                tok,
                pos: s,
                end: p,
            });
        }
    }
    toks.push(Token {
        tok: Tok::Eof,
        pos: n,
        end: n,
    });
    Ok(toks)
}

/// Go's lexer `scanNumber`: returns the end position.
fn scan_number(src: &str, mut p: usize) -> usize {
    let accept = |p: &mut usize, set: &str| -> bool {
        match byte_at(src, *p) {
            Some(b) if set.as_bytes().contains(&b) => {
                *p += 1;
                true
            }
            _ => false,
        }
    };
    let accept_run = |p: &mut usize, set: &str| {
        while let Some(b) = byte_at(src, *p) {
            if set.as_bytes().contains(&b) {
                *p += 1;
            } else {
                break;
            }
        }
    };
    accept(&mut p, "+-");
    let mut digits = "0123456789_";
    if accept(&mut p, "0") {
        if accept(&mut p, "xX") {
            digits = "0123456789abcdefABCDEF_";
        } else if accept(&mut p, "oO") {
            digits = "01234567_";
        } else if accept(&mut p, "bB") {
            digits = "01_";
        }
    }
    accept_run(&mut p, digits);
    if accept(&mut p, ".") {
        accept_run(&mut p, digits);
    }
    if digits.len() == 11 && accept(&mut p, "eE") {
        accept(&mut p, "+-");
        accept_run(&mut p, "0123456789_");
    }
    if digits.len() == 23 && accept(&mut p, "pP") {
        accept(&mut p, "+-");
        accept_run(&mut p, "0123456789_");
    }
    accept(&mut p, "i");
    p
}

/// Unquote the body of a Go interpreted string / rune literal.
fn unquote_go(body: &str, quote: char) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    let mut it = body.char_indices().peekable();
    let bad = || "invalid syntax".to_string();
    while let Some((_, c)) = it.next() {
        if c != '\\' {
            let mut tmp = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            continue;
        }
        let Some((_, e)) = it.next() else {
            return Err(bad());
        };
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' if quote == '"' => Some(b'"'),
            '\'' if quote == '\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let mut take_hex = |n: usize| -> Result<u32, String> {
            let mut v: u32 = 0;
            for _ in 0..n {
                let (_, d) = it.next().ok_or_else(bad)?;
                v = v * 16 + d.to_digit(16).ok_or_else(bad)?;
            }
            Ok(v)
        };
        match e {
            'x' => {
                let v = take_hex(2)?;
                out.push(u8::try_from(v).map_err(|_| bad())?);
            }
            'u' | 'U' => {
                let v = take_hex(if e == 'u' { 4 } else { 8 })?;
                let c = char::from_u32(v).ok_or_else(bad)?;
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let (_, d) = it.next().ok_or_else(bad)?;
                    v = v * 8 + d.to_digit(8).ok_or_else(bad)?;
                }
                out.push(u8::try_from(v).map_err(|_| bad())?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

// ───────────────────────────── AST ─────────────────────────────

#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    end: usize,
}

enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Option<Vec<Node>>),
    With(Pipe, Vec<Node>, Option<Vec<Node>>),
    Range(Pipe, Vec<Node>, Option<Vec<Node>>),
    Break,
    Continue,
    /// `{{template "name" pipeline}}` (and the call half of `{{block}}`).
    Template(Span, String, Option<Pipe>),
}

struct Pipe {
    span: Span,
    decl: Vec<String>,
    is_assign: bool,
    cmds: Vec<Cmd>,
}

struct Cmd {
    span: Span,
    args: Vec<Arg>,
}

enum Arg {
    Field(Span, Vec<String>),
    Variable(Span, String, Vec<String>),
    Dot(Span),
    Nil(Span),
    Bool(Span, bool),
    Int(Span, i64),
    Float(Span, f64),
    Str(Span, Rc<Zeroizing<Vec<u8>>>),
    Ident(Span, &'static str),
    Pipe(Span, Box<Pipe>),
    Chain(Span, Box<Arg>, Vec<String>),
}

impl Arg {
    fn span(&self) -> Span {
        match self {
            Arg::Field(s, _)
            | Arg::Variable(s, _, _)
            | Arg::Dot(s)
            | Arg::Nil(s)
            | Arg::Bool(s, _)
            | Arg::Int(s, _)
            | Arg::Float(s, _)
            | Arg::Str(s, _)
            | Arg::Ident(s, _)
            | Arg::Pipe(s, _)
            | Arg::Chain(s, _, _) => *s,
        }
    }
}

// ───────────────────────────── parser ─────────────────────────────

enum PErr {
    Syntax(usize, String),
    Depth,
}

type PR<T> = Result<T, PErr>;

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Templates named by `{{define}}` / `{{block}}`.
    defs: BTreeMap<String, Vec<Node>>,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    max_depth: usize,
}

fn line_of(src: &str, pos: usize) -> usize {
    let upto = src.get(..pos).unwrap_or(src);
    1 + upto.bytes().filter(|b| *b == b'\n').count()
}

/// A parsed template: the main tree and the ones `{{define}}` and `{{block}}` named.
struct Tree {
    root: Vec<Node>,
    defs: BTreeMap<String, Vec<Node>>,
}

/// Go's `parse.IsEmptyTree`: nothing but whitespace text.
fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes
        .iter()
        .all(|n| matches!(n, Node::Text(t) if t.bytes().all(|b| b.is_ascii_whitespace())))
}

fn parse(name: &str, src: &str, limits: &Limits) -> Result<Tree, TemplateError> {
    let perr = |pos: usize, message: String| TemplateError::Parse {
        name: name.to_string(),
        line: line_of(src, pos),
        message,
    };
    let toks = lex(src).map_err(|(p, m)| perr(p, m))?;
    let mut p = Parser {
        toks,
        i: 0,
        defs: BTreeMap::new(),
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        max_depth: limits.max_depth,
    };
    let to_err = |e| match e {
        PErr::Syntax(pos, m) => perr(pos, m),
        PErr::Depth => TemplateError::DepthLimit {
            name: name.to_string(),
            limit: limits.max_depth,
        },
    };
    let root = p.root().map_err(to_err)?;
    // Go adds the main tree last (parse.Tree.add): a {{define}} of the template's own name
    // stands when the main tree is empty, and is a redefinition error otherwise.
    let mut defs = std::mem::take(&mut p.defs);
    let root = match defs.remove(name) {
        Some(d) if !is_empty_tree(&d) && is_empty_tree(&root) => d,
        Some(d) if !is_empty_tree(&d) => {
            return Err(perr(
                src.len(),
                format!("template: multiple definition of template {name:?}"),
            ));
        }
        _ => root,
    };
    Ok(Tree { root, defs })
}

fn tok_desc(t: &Token) -> String {
    match &t.tok {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "<left delim>".into(),
        Tok::RightDelim => "<right delim>".into(),
        Tok::Space => "<space>".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Dot => "<.>".into(),
        Tok::Variable(v) => format!("<{v}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Kw(_) => "keyword".into(),
        Tok::Bool(b) => format!("<{b}>"),
        Tok::Nil => "<nil>".into(),
        Tok::Number(n) => format!("<{n}>"),
        Tok::Str(_) | Tok::Char(_) => "literal".into(),
        Tok::LParen => "<(>".into(),
        Tok::RParen => "<)>".into(),
        Tok::Pipe => "<|>".into(),
        Tok::Declare => "<:=>".into(),
        Tok::Assign => "<=>".into(),
        Tok::Comma => "<,>".into(),
        Tok::Other(c) => format!("<{c}>"),
        Tok::Eof => "EOF".into(),
    }
}

impl Parser {
    fn peek(&self) -> Token {
        self.toks.get(self.i).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            pos: 0,
            end: 0,
        })
    }
    fn next(&mut self) -> Token {
        let t = self.peek();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn skip_space(&mut self) {
        while matches!(
            self.toks.get(self.i),
            Some(Token {
                tok: Tok::Space,
                ..
            })
        ) {
            self.i += 1;
        }
    }
    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }
    fn peek_non_space(&mut self) -> Token {
        self.skip_space();
        self.peek()
    }
    fn err<T>(&self, pos: usize, m: impl Into<String>) -> PR<T> {
        Err(PErr::Syntax(pos, m.into()))
    }
    fn enter(&mut self) -> PR<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(PErr::Depth);
        }
        Ok(())
    }
    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn root(&mut self) -> PR<Vec<Node>> {
        let mut out = Vec::new();
        loop {
            let t = self.peek();
            if t.tok == Tok::Eof {
                return Ok(out);
            }
            if t.tok == Tok::LeftDelim {
                let save = self.i;
                self.next();
                if self.peek_non_space().tok == Tok::Kw(Kw::Define) {
                    self.next_non_space();
                    self.define()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Item::Node(n) => out.push(n),
                Item::End(pos) => return self.err(pos, "unexpected {{end}}"),
                Item::Else(pos, _) => return self.err(pos, "unexpected {{else}}"),
            }
        }
    }

    /// Parses nodes until {{end}} / {{else}}.
    fn item_list(&mut self) -> PR<(Vec<Node>, Item)> {
        let mut out = Vec::new();
        loop {
            let t = self.peek_non_space();
            if t.tok == Tok::Eof {
                return self.err(t.pos, "unexpected EOF");
            }
            match self.text_or_action()? {
                Item::Node(n) => out.push(n),
                other => return Ok((out, other)),
            }
        }
    }

    fn text_or_action(&mut self) -> PR<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::LeftDelim => self.action(),
            _ => self.err(t.pos, format!("unexpected {} in input", tok_desc(&t))),
        }
    }

    fn expect_right(&mut self, ctx: &str) -> PR<Token> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.err(t.pos, format!("unexpected {} in {ctx}", tok_desc(&t)));
        }
        Ok(t)
    }

    fn action(&mut self) -> PR<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Kw(Kw::End) => {
                self.expect_right("end")?;
                Ok(Item::End(t.pos))
            }
            Tok::Kw(Kw::Else) => {
                let p = self.peek_non_space();
                match p.tok {
                    Tok::Kw(Kw::If) => Ok(Item::Else(t.pos, Some(Kw::If))),
                    Tok::Kw(Kw::With) => Ok(Item::Else(t.pos, Some(Kw::With))),
                    _ => {
                        self.expect_right("else")?;
                        Ok(Item::Else(t.pos, None))
                    }
                }
            }
            Tok::Kw(Kw::If) => self.control(Kw::If).map(Item::Node),
            Tok::Kw(Kw::With) => self.control(Kw::With).map(Item::Node),
            Tok::Kw(Kw::Range) => self.control(Kw::Range).map(Item::Node),
            Tok::Kw(Kw::Break) | Tok::Kw(Kw::Continue) => {
                let is_break = t.tok == Tok::Kw(Kw::Break);
                let word = if is_break { "break" } else { "continue" };
                self.expect_right(word)?;
                if self.range_depth == 0 {
                    return self.err(t.pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                Ok(Item::Node(if is_break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Tok::Kw(Kw::Template) => {
                let (name, pipe) = self.template_clause("template", t.pos)?;
                let span = Span {
                    start: t.pos,
                    end: self.peek().pos,
                };
                Ok(Item::Node(Node::Template(span, name, pipe)))
            }
            Tok::Kw(Kw::Block) => {
                // {{block "name" pipeline}} body {{end}} = define + template.
                let (name, pipe) = self.template_clause("block", t.pos)?;
                let span = Span {
                    start: t.pos,
                    end: self.peek().pos,
                };
                let pipe =
                    pipe.ok_or(PErr::Syntax(t.pos, "missing value for block clause".into()))?;
                self.define_body(name.clone(), t.pos)?;
                Ok(Item::Node(Node::Template(span, name, Some(pipe))))
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                let pipe = self.pipeline("command", true)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    /// The name and optional pipeline of `{{template "name" pipeline}}`; the right delimiter
    /// is consumed.
    fn template_clause(&mut self, ctx: &str, pos: usize) -> PR<(String, Option<Pipe>)> {
        let t = self.next_non_space();
        let Tok::Str(name) = t.tok else {
            return self.err(pos, format!("unexpected {} in {ctx} clause", tok_desc(&t)));
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        if self.peek_non_space().tok == Tok::RightDelim {
            self.next_non_space();
            return Ok((name, None));
        }
        let pipe = self.pipeline(ctx, true)?;
        Ok((name, Some(pipe)))
    }

    /// `{{define "name"}}` (the keyword already read): its name, then its body up to `{{end}}`.
    fn define(&mut self) -> PR<()> {
        let t = self.next_non_space();
        let Tok::Str(name) = t.tok else {
            return self.err(
                t.pos,
                format!("unexpected {} in define clause", tok_desc(&t)),
            );
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        self.expect_right("define clause")?;
        self.define_body(name, t.pos)
    }

    /// A template body up to `{{end}}` with a fresh variable scope (`$` only), stored as `name`.
    fn define_body(&mut self, name: String, pos: usize) -> PR<()> {
        self.enter()?;
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let (body, next) = self.item_list()?;
        self.vars = vars;
        self.range_depth = range_depth;
        self.leave();
        match next {
            Item::End(_) => {}
            Item::Else(p, _) => return self.err(p, "unexpected {{else}}"),
            Item::Node(_) => return self.err(pos, "expected end"),
        }
        match self.defs.get(&name) {
            Some(old) if !is_empty_tree(old) && !is_empty_tree(&body) => self.err(
                pos,
                format!("template: multiple definition of template {name:?}"),
            ),
            Some(old) if !is_empty_tree(old) => Ok(()),
            _ => {
                self.defs.insert(name, body);
                Ok(())
            }
        }
    }

    fn control(&mut self, kw: Kw) -> PR<Node> {
        self.enter()?;
        let mark = self.vars.len();
        let ctx = match kw {
            Kw::If => "if",
            Kw::With => "with",
            _ => "range",
        };
        let pipe = self.pipeline(ctx, true)?;
        if kw == Kw::Range {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if kw == Kw::Range {
            self.range_depth -= 1;
        }
        let else_list = match next {
            Item::End(_) => None,
            Item::Else(pos, chained) => match chained {
                Some(ck) if ck == kw && kw != Kw::Range => {
                    // "{{else if …}}" / "{{else with …}}": one {{end}} closes all.
                    self.skip_space();
                    self.next(); // the `if` / `with` keyword
                    Some(vec![self.control(kw)?])
                }
                Some(_) => return self.err(pos, format!("unexpected keyword after else in {ctx}")),
                None => {
                    let (l, n2) = self.item_list()?;
                    match n2 {
                        Item::End(_) => Some(l),
                        Item::Else(p2, _) => return self.err(p2, "expected end; found {{else}}"),
                        Item::Node(_) => return self.err(pos, "expected end"),
                    }
                }
            },
            Item::Node(_) => return self.err(pipe.span.start, "expected end"),
        };
        self.vars.truncate(mark);
        self.leave();
        Ok(match kw {
            Kw::If => Node::If(pipe, list, else_list),
            Kw::With => Node::With(pipe, list, else_list),
            _ => Node::Range(pipe, list, else_list),
        })
    }

    /// `end_delim`: true → ends at right delim, false → at right paren.
    fn pipeline(&mut self, ctx: &str, end_delim: bool) -> PR<Pipe> {
        let start = self.peek_non_space().pos;
        let mut pipe = Pipe {
            span: Span { start, end: start },
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        // declarations
        let save = self.i;
        let v = self.peek_non_space();
        if let Tok::Variable(name) = &v.tok {
            self.next();
            let nx = self.peek_non_space();
            match nx.tok {
                Tok::Declare | Tok::Assign => {
                    pipe.is_assign = nx.tok == Tok::Assign;
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                }
                Tok::Comma => {
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if ctx != "range" {
                        return self.err(nx.pos, format!("too many declarations in {ctx}"));
                    }
                    let v2 = self.next_non_space();
                    let Tok::Variable(n2) = &v2.tok else {
                        return self.err(v2.pos, "range can only initialize variables");
                    };
                    let op = self.next_non_space();
                    match op.tok {
                        Tok::Declare | Tok::Assign => {
                            pipe.is_assign = op.tok == Tok::Assign;
                        }
                        _ => return self.err(op.pos, "range can only initialize variables"),
                    }
                    pipe.decl.push(n2.clone());
                    self.vars.push(n2.clone());
                }
                _ => self.i = save,
            }
        }
        loop {
            let t = self.next_non_space();
            match t.tok {
                Tok::RightDelim if end_delim => {
                    pipe.span.end = t.pos;
                    break;
                }
                Tok::RParen if !end_delim => {
                    pipe.span.end = t.pos;
                    break;
                }
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LParen => {
                    self.i = self.i.saturating_sub(1);
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.err(t.pos, format!("unexpected {} in {ctx}", tok_desc(&t))),
            }
        }
        if pipe.cmds.is_empty() {
            return self.err(start, format!("missing value for {ctx}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(
                Arg::Bool(..)
                | Arg::Dot(_)
                | Arg::Nil(_)
                | Arg::Int(..)
                | Arg::Float(..)
                | Arg::Str(..),
            ) = c.args.first()
            {
                return self.err(
                    c.span.start,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(pipe)
    }

    fn command(&mut self) -> PR<Cmd> {
        let start = self.peek_non_space().pos;
        let mut cmd = Cmd {
            span: Span { start, end: start },
            args: Vec::new(),
        };
        loop {
            self.skip_space();
            if let Some(a) = self.operand()? {
                cmd.span.end = a.span().end;
                cmd.args.push(a);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen => {
                    self.i = self.i.saturating_sub(1);
                }
                Tok::Pipe => {}
                _ => return self.err(t.pos, format!("unexpected {} in operand", tok_desc(&t))),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err(start, "empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PR<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        let mut end = node.span().end;
        while let Tok::Field(f) = self.peek().tok {
            end = self.peek().end;
            fields.push(f);
            self.next();
        }
        if fields.is_empty() {
            return Ok(Some(node));
        }
        let sp = Span {
            start: node.span().start,
            end,
        };
        Ok(Some(match node {
            Arg::Field(_, mut f) => {
                f.extend(fields);
                Arg::Field(sp, f)
            }
            Arg::Variable(_, n, mut f) => {
                f.extend(fields);
                Arg::Variable(sp, n, f)
            }
            Arg::Bool(..)
            | Arg::Str(..)
            | Arg::Int(..)
            | Arg::Float(..)
            | Arg::Nil(_)
            | Arg::Dot(_) => {
                return self.err(sp.start, "unexpected . after term");
            }
            other => Arg::Chain(sp, Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> PR<Option<Arg>> {
        let t = self.next_non_space();
        let sp = Span {
            start: t.pos,
            end: t.end,
        };
        Ok(Some(match t.tok {
            Tok::Ident(name) => match FUNCTIONS.iter().find(|f| **f == name) {
                Some(f) => Arg::Ident(sp, f),
                None => {
                    let why = OMITTED.iter().find(|(n, _)| *n == name).map(|(_, w)| *w);
                    return self.err(
                        t.pos,
                        match why {
                            Some(w) => format!("function \"{name}\" not supported: {w}"),
                            None => format!("function \"{name}\" not defined"),
                        },
                    );
                }
            },
            Tok::Dot => Arg::Dot(sp),
            Tok::Nil => Arg::Nil(sp),
            Tok::Variable(v) => {
                if !self.vars.contains(&v) {
                    return self.err(t.pos, format!("undefined variable \"{v}\""));
                }
                Arg::Variable(sp, v, Vec::new())
            }
            Tok::Field(f) => Arg::Field(sp, vec![f]),
            Tok::Bool(b) => Arg::Bool(sp, b),
            Tok::Char(c) => Arg::Int(sp, c),
            Tok::Number(text) => match parse_number(&text) {
                Ok(NumLit::Int(i)) => Arg::Int(sp, i),
                Ok(NumLit::Float(f)) => Arg::Float(sp, f),
                Err(m) => return self.err(t.pos, m),
            },
            Tok::Str(s) => Arg::Str(sp, Rc::new(Zeroizing::new(s))),
            Tok::LParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", false)?;
                self.leave();
                let end = p.span.end + 1;
                Arg::Pipe(Span { start: t.pos, end }, Box::new(p))
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                return Ok(None);
            }
        }))
    }
}

enum Item {
    Node(Node),
    End(usize),
    Else(usize, Option<Kw>),
}

enum NumLit {
    Int(i64),
    Float(f64),
}

/// Go's number literal rules (strconv.ParseInt base 0 / ParseFloat).
fn parse_number(text: &str) -> Result<NumLit, String> {
    let illegal = || format!("illegal number syntax: \"{text}\"");
    if text.ends_with('i') {
        return Err(format!("complex number \"{text}\" is not supported"));
    }
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r)
    } else if lower.len() > 1
        && lower.starts_with('0')
        && lower.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        (8, lower.get(1..).unwrap_or(""))
    } else {
        (10, lower.as_str())
    };
    let is_float_syntax =
        radix == 10 && digits.contains(['.', 'e']) || radix == 16 && digits.contains(['.', 'p']);
    if !is_float_syntax {
        let clean: String = digits.chars().filter(|c| *c != '_').collect();
        if clean.is_empty() || digits.starts_with('_') && radix == 10 {
            return Err(illegal());
        }
        let mag = u64::from_str_radix(&clean, radix).map_err(|_| illegal())?;
        return if neg {
            if mag <= i64::MAX as u64 + 1 {
                Ok(NumLit::Int((mag as i64).wrapping_neg()))
            } else {
                Err(format!("{text} overflows int"))
            }
        } else {
            i64::try_from(mag)
                .map(NumLit::Int)
                .map_err(|_| format!("{text} overflows int"))
        };
    }
    if radix != 10 {
        return Err(format!("hexadecimal float \"{text}\" is not supported"));
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let f: f64 = clean.parse().map_err(|_| illegal())?;
    if !f.is_finite() {
        return Err(illegal());
    }
    Ok(NumLit::Float(if neg { -f } else { f }))
}

// ───────────────────────────── values ─────────────────────────────

type Bytes = Rc<Zeroizing<Vec<u8>>>;

fn new_bytes(v: Vec<u8>) -> Bytes {
    Rc::new(Zeroizing::new(v))
}

/// A template value. Deliberately not `Debug`: it may hold plaintext.
#[derive(Clone)]
enum Value {
    /// Go's nil / invalid value.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Bytes),
    List(Rc<ListVal>),
    /// A `map[string]interface{}` living in the execution's arena.
    Dict(usize),
    /// The data map (`map[string]string`).
    Root,
}

struct ListVal {
    items: Vec<Value>,
    /// Nesting depth of directly nested lists (bounds recursive drops).
    depth: usize,
}

impl Value {
    fn str(s: &str) -> Value {
        Value::Str(new_bytes(s.as_bytes().to_vec()))
    }
    fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Dict(_) => "map[string]interface {}",
            Value::Root => "map[string]string",
        }
    }
    fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Dict(_) | Value::Root => "map",
        }
    }
}

enum XErr {
    At(Span, String),
    Output,
    Steps,
    Depth,
}

impl From<Overflow> for XErr {
    fn from(_: Overflow) -> Self {
        XErr::Output
    }
}

type XR<T> = Result<T, XErr>;

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    name: &'a str,
    src: &'a str,
    limits: &'a Limits,
    root: BTreeMap<String, Bytes>,
    dicts: Vec<BTreeMap<String, Value>>,
    vars: Vec<(String, Value)>,
    steps: u64,
    out: SecBuf,
    cur: Span,
    /// The random functions' source (`randAlphaNum`, `uuidv4`, `bcrypt` salts, …).
    rng: &'a mut dyn CryptoRng,
    /// The templates `{{define}}` and `{{block}}` named.
    defs: &'a BTreeMap<String, Vec<Node>>,
    /// Nested `{{template}}` calls.
    calls: usize,
}

/// Go's `unicode.IsSpace`.
fn is_unicode_space(c: char) -> bool {
    c.is_whitespace()
}

/// Decode one rune Go-style: `(Some(c), len)` or `(None, 1)` for an invalid byte.
fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let Some(&b0) = b.first() else {
        return (None, 0);
    };
    let n = match b0 {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    match b
        .get(..n)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.chars().next())
    {
        Some(c) => (Some(c), n),
        None => (None, 1),
    }
}

/// (start, len, rune) triples of a byte string.
fn runes(b: &[u8]) -> Vec<(usize, usize, Option<char>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (c, n) = decode_rune(b.get(i..).unwrap_or(&[]));
        let n = n.max(1);
        out.push((i, n, c));
        i += n;
    }
    out
}

fn rune_count(b: &[u8]) -> usize {
    runes(b).len()
}

/// Non-overlapping occurrences of `needle` (non-empty) in `hay`, linear time (KMP).
fn find_all(hay: &[u8], needle: &[u8], max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let m = needle.len();
    if m == 0 || m > hay.len() || max == 0 {
        return out;
    }
    let mut fail = vec![0usize; m];
    let mut k = 0usize;
    for i in 1..m {
        let c = needle.get(i).copied();
        while k > 0 && needle.get(k).copied() != c {
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        if needle.get(k).copied() == c {
            k += 1;
        }
        if let Some(f) = fail.get_mut(i) {
            *f = k;
        }
    }
    let mut q = 0usize;
    for (i, &c) in hay.iter().enumerate() {
        while q > 0 && needle.get(q).copied() != Some(c) {
            q = fail.get(q - 1).copied().unwrap_or(0);
        }
        if needle.get(q).copied() == Some(c) {
            q += 1;
        }
        if q == m {
            out.push(i + 1 - m);
            if out.len() >= max {
                break;
            }
            q = 0; // non-overlapping
        }
    }
    out
}

fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || !find_all(hay, needle, 1).is_empty()
}

/// Go's strings.Split / SplitN (n < 0: all).
fn split_bytes(s: &[u8], sep: &[u8], n: i64) -> Vec<Vec<u8>> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 {
        usize::MAX
    } else {
        usize::try_from(n).unwrap_or(usize::MAX)
    };
    if sep.is_empty() {
        let rs = runes(s);
        let mut out = Vec::new();
        for (idx, (st, len, _)) in rs.iter().enumerate() {
            if out.len() + 1 == limit {
                out.push(s.get(*st..).unwrap_or(&[]).to_vec());
                return out;
            }
            let _ = idx;
            out.push(s.get(*st..st + len).unwrap_or(&[]).to_vec());
        }
        return out;
    }
    let pos = find_all(s, sep, limit.saturating_sub(1));
    let mut out = Vec::with_capacity(pos.len() + 1);
    let mut last = 0;
    for p in pos {
        out.push(s.get(last..p).unwrap_or(&[]).to_vec());
        last = p + sep.len();
    }
    out.push(s.get(last..).unwrap_or(&[]).to_vec());
    out
}

fn simple_upper(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn simple_lower(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// strings.Title separator rule.
fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's `strconv.IsPrint` (approximation for non-ASCII).
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    !matches!(u,
        0x80..=0xa0 | 0xad | 0x1680 | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f
        | 0x205f..=0x206f | 0x3000 | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfeff
        | 0xfff0..=0xfffb | 0xfffe | 0xffff | 0xf0000..=0x10ffff)
        && u & 0xfffe != 0xfffe
}

/// Go's strconv.Quote / QuoteRune body escaping.
fn go_quote_into(out: &mut Vec<u8>, s: &[u8], q: char, ascii: bool) {
    let hex = b"0123456789abcdef";
    out.push(q as u8);
    for (st, _, c) in runes(s) {
        let Some(c) = c else {
            let b = s.get(st).copied().unwrap_or(0);
            out.extend_from_slice(b"\\x");
            out.push(hex.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(hex.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
            continue;
        };
        if c == q || c == '\\' {
            out.push(b'\\');
            out.push(c as u8);
            continue;
        }
        if is_print(c) && (!ascii || c.is_ascii()) {
            let mut tmp = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            continue;
        }
        let esc: Option<&[u8]> = match c {
            '\x07' => Some(b"\\a"),
            '\x08' => Some(b"\\b"),
            '\x0c' => Some(b"\\f"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            '\x0b' => Some(b"\\v"),
            _ => None,
        };
        if let Some(e) = esc {
            out.extend_from_slice(e);
        } else if (c as u32) < 0x20 || c == '\x7f' {
            out.extend_from_slice(format!("\\x{:02x}", c as u32).as_bytes());
        } else if (c as u32) < 0x10000 {
            out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
        } else {
            out.extend_from_slice(format!("\\U{:08x}", c as u32).as_bytes());
        }
    }
    out.push(q as u8);
}

/// Scratch buffer that never reallocates for escaping up to 10x expansion.
fn scratch(n: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Vec::with_capacity(n.saturating_mul(10).saturating_add(16)))
}

fn go_quote(s: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = scratch(s.len());
    go_quote_into(&mut v, s, '"', false);
    v
}

fn can_backquote(s: &[u8]) -> bool {
    runes(s).iter().all(|(_, _, c)| match c {
        None => false,
        Some(c) => *c != '`' && *c != '\u{feff}' && (*c == '\t' || !(*c < ' ' || *c == '\x7f')),
    })
}

// ── float formatting (Go strconv semantics) ──

/// Significant digits (no trailing zeros) and decimal point position.
fn float_digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let s = match sig {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp + 1)
}

fn fmt_e_digits(d: &[u8], dp: i32, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    let zero = d.iter().all(|c| *c == b'0');
    s.push(char::from(d.first().copied().unwrap_or(b'0')));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(char::from(d.get(i).copied().unwrap_or(b'0')));
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if zero { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    s
}

fn fmt_f_digits(d: &[u8], dp: i32, prec: usize) -> String {
    let mut s = String::new();
    if dp > 0 {
        for i in 0..dp {
            s.push(char::from(d.get(i as usize).copied().unwrap_or(b'0')));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            let j = i64::from(dp) + i as i64;
            let c = if j >= 0 {
                d.get(j as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            s.push(char::from(c));
        }
    }
    s
}

fn float_special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

/// strconv.FormatFloat(f, 'g'|'G', prec, 64) (prec None = shortest).
fn go_fmt_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = float_special(f) {
        return s;
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    let prec = prec.map(|p| p.max(1));
    let (d, dp) = float_digits(f, prec);
    let nd = d.len() as i32;
    let prec_eff = prec.map(|p| p as i32).unwrap_or(nd);
    let mut eprec = prec_eff;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    let body = if exp < -4 || exp >= eprec {
        let p = prec_eff.min(nd);
        fmt_e_digits(&d, dp, (p - 1).max(0) as usize, upper)
    } else {
        let p = if prec_eff > dp { nd } else { prec_eff };
        fmt_f_digits(&d, dp, (p - dp).max(0) as usize)
    };
    format!("{sign}{body}")
}

fn go_fmt_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = float_special(f) {
        return s;
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (d, dp) = float_digits(f, Some(prec + 1));
    format!("{sign}{}", fmt_e_digits(&d, dp, prec, upper))
}

fn go_fmt_f(f: f64, prec: usize) -> String {
    if let Some(s) = float_special(f) {
        return s;
    }
    format!("{:.*}", prec, f)
}

/// encoding/json float formatting.
fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let a = f.abs();
    let sign = if f.is_sign_negative() && f != 0.0 {
        "-"
    } else {
        ""
    };
    if a == 0.0 {
        return Some("0".into());
    }
    let (d, dp) = float_digits(f, None);
    let nd = d.len() as i32;
    if !(1e-6..1e21).contains(&a) {
        let s = fmt_e_digits(&d, dp, (nd - 1).max(0) as usize, false);
        let s = s.replace("e-0", "e-").replace("e+0", "e+");
        return Some(format!("{sign}{s}"));
    }
    Some(format!(
        "{sign}{}",
        fmt_f_digits(&d, dp, (nd - dp).max(0) as usize)
    ))
}

#[derive(Clone, Copy, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

const FMT_MAX_NUM: usize = 1_000_000;

fn strval_is_string(v: &Value) -> bool {
    matches!(v, Value::Str(_))
}

/// cast.ToInt64-like lenient conversion.
fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.is_finite() => *f as i64,
        Value::Float(_) => 0,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let t = std::str::from_utf8(s).unwrap_or("").trim();
            let t = match t.split_once('.') {
                Some((a, b)) if !b.is_empty() && b.bytes().all(|c| c == b'0') => a,
                Some((a, "")) => a,
                _ => t,
            };
            match parse_number(t) {
                Ok(NumLit::Int(i)) if !t.contains('.') => i,
                _ => 0,
            }
        }
        _ => 0,
    }
}

fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

fn truth(v: &Value, ex: &Exec<'_>) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::List(l) => !l.items.is_empty(),
        Value::Dict(i) => ex.dicts.get(*i).is_some_and(|d| !d.is_empty()),
        Value::Root => !ex.root.is_empty(),
    }
}

fn push_json_str(out: &mut Vec<u8>, s: &[u8], html: bool) {
    let hex = b"0123456789abcdef";
    out.push(b'"');
    for (st, len, c) in runes(s) {
        match c {
            None => out.extend_from_slice(b"\\ufffd"),
            Some('"') => out.extend_from_slice(b"\\\""),
            Some('\\') => out.extend_from_slice(b"\\\\"),
            Some('\n') => out.extend_from_slice(b"\\n"),
            Some('\r') => out.extend_from_slice(b"\\r"),
            Some('\t') => out.extend_from_slice(b"\\t"),
            Some('\x08') => out.extend_from_slice(b"\\b"),
            Some('\x0c') => out.extend_from_slice(b"\\f"),
            Some(c @ ('<' | '>' | '&')) if html => {
                out.extend_from_slice(b"\\u00");
                let b = c as u8;
                out.push(hex.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(hex.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
            }
            Some(c) if (c as u32) < 0x20 => {
                let b = c as u8;
                out.extend_from_slice(b"\\u00");
                out.push(hex.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(hex.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
            }
            Some('\u{2028}') => out.extend_from_slice(b"\\u2028"),
            Some('\u{2029}') => out.extend_from_slice(b"\\u2029"),
            Some(_) => out.extend_from_slice(s.get(st..st + len).unwrap_or(&[])),
        }
    }
    out.push(b'"');
}

fn yaml_plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || first.is_ascii_digit()
        || first == '.'
        || first == '+'
    {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.chars().any(|c| !is_print(c) || c == '\t') {
        return false;
    }
    let l = s.to_ascii_lowercase();
    !matches!(
        l.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | ".nan"
    )
}

fn push_yaml_str(out: &mut Vec<u8>, s: &[u8]) {
    let text = String::from_utf8_lossy(s);
    if yaml_plain_ok(&text) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if !is_print(c) => {
                if (c as u32) < 0x10000 {
                    out.extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes());
                } else {
                    out.extend_from_slice(format!("\\U{:08X}", c as u32).as_bytes());
                }
            }
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    out.push(b'"');
}

// ───────────────────────────── execution ─────────────────────────────

impl<'a> Exec<'a> {
    fn new(
        name: &'a str,
        src: &'a str,
        data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
        limits: &'a Limits,
        rng: &'a mut dyn CryptoRng,
        defs: &'a BTreeMap<String, Vec<Node>>,
    ) -> Self {
        let root = data
            .iter()
            .map(|(k, v)| (k.clone(), new_bytes(v.as_slice().to_vec())))
            .collect();
        Exec {
            name,
            src,
            limits,
            root,
            dicts: Vec::new(),
            vars: vec![("$".to_string(), Value::Root)],
            steps: 0,
            out: SecBuf::new(limits.max_output_bytes),
            cur: Span::default(),
            rng,
            defs,
            calls: 0,
        }
    }

    fn random_fill(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
    }

    /// Uniform in `0..n` (`n > 0`), by rejection.
    fn random_below(&mut self, n: u64) -> XR<u64> {
        if n == 0 {
            return Ok(0);
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.rng.next_u64();
            if x < zone {
                return Ok(x % n);
            }
            self.step()?;
        }
    }

    fn to_error(&self, e: XErr) -> TemplateError {
        let name = self.name.to_string();
        match e {
            XErr::Output => TemplateError::OutputLimit {
                name,
                limit: self.limits.max_output_bytes,
            },
            XErr::Steps => TemplateError::StepLimit {
                name,
                limit: self.limits.max_steps,
            },
            XErr::Depth => TemplateError::DepthLimit {
                name,
                limit: self.limits.max_depth,
            },
            XErr::At(sp, message) => {
                let before = self.src.get(..sp.start).unwrap_or("");
                let line = 1 + before.bytes().filter(|b| *b == b'\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => sp.start - nl - 1,
                    None => sp.start,
                };
                let mut context: String = self.src.get(sp.start..sp.end).unwrap_or("").to_string();
                if context.len() > 120 {
                    let mut cut = 117;
                    while !context.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    context.truncate(cut);
                    context.push_str("...");
                }
                TemplateError::Exec {
                    name,
                    line,
                    col,
                    context,
                    message,
                }
            }
        }
    }

    fn err<T>(&self, m: impl Into<String>) -> XR<T> {
        Err(XErr::At(self.cur, m.into()))
    }

    fn call_err<T>(&self, f: &str, m: impl std::fmt::Display) -> XR<T> {
        Err(XErr::At(self.cur, format!("error calling {f}: {m}")))
    }

    fn step(&mut self) -> XR<()> {
        self.charge(1)
    }

    fn charge(&mut self, n: u64) -> XR<()> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limits.max_steps {
            return Err(XErr::Steps);
        }
        Ok(())
    }

    fn buf(&self) -> SecBuf {
        SecBuf::new(self.limits.max_output_bytes)
    }

    fn check_len(&self, n: usize) -> XR<()> {
        if n > self.limits.max_output_bytes {
            return Err(XErr::Output);
        }
        Ok(())
    }

    fn mk_list(&self, items: Vec<Value>) -> XR<Value> {
        let depth = 1 + items
            .iter()
            .map(|v| if let Value::List(l) = v { l.depth } else { 0 })
            .max()
            .unwrap_or(0);
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        Ok(Value::List(Rc::new(ListVal { items, depth })))
    }

    fn mk_dict(&mut self, m: BTreeMap<String, Value>) -> XR<Value> {
        self.step()?;
        self.dicts.push(m);
        Ok(Value::Dict(self.dicts.len() - 1))
    }

    /// Entries of a map value (Root or Dict), sorted by key.
    fn map_entries(&self, v: &Value) -> Option<Vec<(String, Value)>> {
        match v {
            Value::Root => Some(
                self.root
                    .iter()
                    .map(|(k, b)| (k.clone(), Value::Str(b.clone())))
                    .collect(),
            ),
            Value::Dict(i) => Some(
                self.dicts
                    .get(*i)
                    .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            ),
            _ => None,
        }
    }

    fn lookup_var(&self, name: &str) -> XR<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, v: Value) -> XR<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> XR<Flow> {
        for n in nodes {
            self.step()?;
            match n {
                Node::Text(t) => self.out.push(t.as_bytes())?,
                Node::Action(p) => {
                    let v = self.eval_pipeline(dot, p)?;
                    if p.decl.is_empty() {
                        let mut out = std::mem::take(&mut self.out);
                        let r = match v {
                            Value::Nil => out.push(b"<no value>").map_err(XErr::from),
                            _ => self.fmt_v(&mut out, &v, 0),
                        };
                        self.out = out;
                        r?;
                    }
                }
                Node::If(p, list, else_list) | Node::With(p, list, else_list) => {
                    let is_with = matches!(n, Node::With(..));
                    let mark = self.vars.len();
                    let v = self.eval_pipeline(dot, p)?;
                    let t = truth(&v, self);
                    let flow = if t {
                        if is_with {
                            self.walk(&v, list)?
                        } else {
                            self.walk(dot, list)?
                        }
                    } else if let Some(e) = else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(p, list, else_list) => {
                    let mark = self.vars.len();
                    self.walk_range(dot, p, list, else_list.as_deref())?;
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Template(sp, name, pipe) => {
                    let v = match pipe {
                        Some(p) => self.eval_pipeline(dot, p)?,
                        None => Value::Nil,
                    };
                    self.cur = *sp;
                    let defs = self.defs;
                    let Some(body) = defs.get(name) else {
                        return self.err(format!("template {name:?} not defined"));
                    };
                    // Go stops at 100,000 nested calls; we stop at the nesting limit.
                    self.calls += 1;
                    if self.calls > self.limits.max_depth {
                        return Err(XErr::Depth);
                    }
                    let vars =
                        std::mem::replace(&mut self.vars, vec![("$".to_string(), v.clone())]);
                    let r = self.walk(&v, body);
                    self.vars = vars;
                    self.calls -= 1;
                    r?;
                }
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_range(
        &mut self,
        dot: &Value,
        p: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> XR<()> {
        let v = self.eval_pipeline(dot, p)?;
        self.cur = p.span;
        let items: Vec<(Value, Value)> = match &v {
            Value::Nil => Vec::new(),
            Value::List(l) => l
                .items
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
            Value::Root | Value::Dict(_) => self
                .map_entries(&v)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, x)| (Value::str(&k), x))
                .collect(),
            Value::Int(n) => {
                if *n < 0 {
                    return self.err("range can't iterate over negative integer");
                }
                let n = u64::try_from(*n).unwrap_or(0);
                if self.steps.saturating_add(n) > self.limits.max_steps {
                    return Err(XErr::Steps);
                }
                (0..n as i64)
                    .map(|i| (Value::Int(i), Value::Int(i)))
                    .collect()
            }
            other => return self.err(format!("range can't iterate over {}", other.type_name())),
        };
        if items.is_empty() {
            if let Some(e) = else_list {
                self.walk(dot, e)?;
            }
            return Ok(());
        }
        let mark = self.vars.len();
        for (k, elem) in items {
            self.step()?;
            match p.decl.as_slice() {
                [] => {}
                [one] => {
                    if p.is_assign {
                        self.set_var(one, elem.clone())?;
                    } else if let Some(slot) = self.vars.get_mut(mark.wrapping_sub(1)) {
                        slot.1 = elem.clone();
                    }
                }
                [a, b, ..] => {
                    if p.is_assign {
                        self.set_var(a, k.clone())?;
                        self.set_var(b, elem.clone())?;
                    } else {
                        if let Some(slot) = self.vars.get_mut(mark.wrapping_sub(2)) {
                            slot.1 = k.clone();
                        }
                        if let Some(slot) = self.vars.get_mut(mark.wrapping_sub(1)) {
                            slot.1 = elem.clone();
                        }
                    }
                }
            }
            let flow = self.walk(&elem, list)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(())
    }

    fn eval_pipeline(&mut self, dot: &Value, p: &Pipe) -> XR<Value> {
        let mut val: Option<Value> = None;
        for c in &p.cmds {
            let v = self.eval_command(dot, c, val.take())?;
            val = Some(v);
        }
        let v = val.unwrap_or(Value::Nil);
        for name in &p.decl {
            if p.is_assign {
                self.cur = p.span;
                self.set_var(name, v.clone())?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn not_a_function(&self, first: &Arg, rest: &[Arg], fin: &Option<Value>) -> XR<()> {
        if !rest.is_empty() || fin.is_some() {
            let sp = first.span();
            let ctx = self.src.get(sp.start..sp.end).unwrap_or("");
            return self.err(format!("can't give argument to non-function {ctx}"));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, c: &Cmd, fin: Option<Value>) -> XR<Value> {
        self.step()?;
        let Some(first) = c.args.first() else {
            self.cur = c.span;
            return self.err("empty command");
        };
        let rest = c.args.get(1..).unwrap_or(&[]);
        let has_args = !rest.is_empty() || fin.is_some();
        match first {
            Arg::Field(sp, ids) => {
                self.cur = *sp;
                self.eval_fields(dot.clone(), ids, has_args)
            }
            Arg::Chain(sp, node, ids) => {
                let base = self.eval_arg(dot, node)?;
                self.cur = *sp;
                self.eval_fields(base, ids, has_args)
            }
            Arg::Variable(sp, name, ids) => {
                self.cur = *sp;
                let base = self.lookup_var(name)?;
                if ids.is_empty() {
                    self.not_a_function(first, rest, &fin)?;
                    Ok(base)
                } else {
                    self.eval_fields(base, ids, has_args)
                }
            }
            Arg::Pipe(sp, p) => {
                self.cur = *sp;
                self.not_a_function(first, rest, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Ident(sp, f) => self.call(dot, *sp, f, rest, fin),
            Arg::Nil(sp) => {
                self.cur = *sp;
                self.err("nil is not a command")
            }
            lit => {
                self.cur = lit.span();
                self.not_a_function(first, rest, &fin)?;
                self.eval_arg(dot, lit)
            }
        }
    }

    fn eval_arg(&mut self, dot: &Value, a: &Arg) -> XR<Value> {
        self.cur = a.span();
        match a {
            Arg::Field(_, ids) => self.eval_fields(dot.clone(), ids, false),
            Arg::Variable(_, name, ids) => {
                let b = self.lookup_var(name)?;
                self.eval_fields(b, ids, false)
            }
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Int(_, i) => Ok(Value::Int(*i)),
            Arg::Float(_, f) => Ok(Value::Float(*f)),
            Arg::Str(_, s) => Ok(Value::Str(s.clone())),
            Arg::Ident(sp, f) => self.call(dot, *sp, f, &[], None),
            Arg::Pipe(_, p) => self.eval_pipeline(dot, p),
            Arg::Chain(sp, node, ids) => {
                let b = self.eval_arg(dot, node)?;
                self.cur = *sp;
                self.eval_fields(b, ids, false)
            }
        }
    }

    fn eval_fields(&mut self, base: Value, ids: &[String], has_args: bool) -> XR<Value> {
        let mut v = base;
        let n = ids.len();
        for (i, id) in ids.iter().enumerate() {
            let last_args = has_args && i + 1 == n;
            v = match &v {
                Value::Root | Value::Dict(_) => {
                    if last_args {
                        return self.err(format!("{id} is not a method but has arguments"));
                    }
                    match &v {
                        Value::Root => self.root.get(id).map(|b| Value::Str(b.clone())),
                        Value::Dict(d) => self.dicts.get(*d).and_then(|m| m.get(id)).cloned(),
                        _ => None,
                    }
                    .unwrap_or(Value::Nil)
                }
                Value::Nil => Value::Nil,
                other => {
                    return self.err(format!(
                        "can't evaluate field {id} in type {}",
                        other.type_name()
                    ));
                }
            };
        }
        if n == 0 && has_args {
            return self.err("can't give argument to non-function");
        }
        Ok(v)
    }

    fn call(
        &mut self,
        dot: &Value,
        sp: Span,
        f: &'static str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> XR<Value> {
        self.step()?;
        if f == "and" || f == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                self.cur = sp;
                return self.err(format!(
                    "wrong number of args for {f}: want at least 1 got 0"
                ));
            }
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, a)?;
                if truth(&v, self) == (f == "or") {
                    return Ok(v);
                }
            }
            if let Some(x) = fin {
                v = x;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
        }
        if let Some(x) = fin {
            vals.push(x);
        }
        self.cur = sp;
        // Charge proportionally to the bytes a function touches.
        let in_bytes: usize = vals
            .iter()
            .map(|v| if let Value::Str(s) = v { s.len() } else { 0 })
            .sum();
        self.charge((in_bytes / 256) as u64)?;
        let r = self.apply(f, vals)?;
        if let Value::Str(s) = &r {
            self.check_len(s.len())?;
            self.charge((s.len() / 256) as u64)?;
        }
        Ok(r)
    }

    // ── argument helpers ──

    fn fixed<const N: usize>(&self, f: &str, args: Vec<Value>) -> XR<[Value; N]> {
        let got = args.len();
        <[Value; N]>::try_from(args)
            .or_else(|_| self.err(format!("wrong number of args for {f}: want {N} got {got}")))
    }

    fn at_least(&self, f: &str, args: &[Value], n: usize) -> XR<()> {
        if args.len() < n {
            return self.err(format!(
                "wrong number of args for {f}: want at least {n} got {}",
                args.len()
            ));
        }
        Ok(())
    }

    fn s(&self, v: &Value) -> XR<Bytes> {
        match v {
            Value::Str(s) => Ok(s.clone()),
            Value::Nil => self.err("invalid value; expected string"),
            o => self.err(format!(
                "wrong type for value; expected string; got {}",
                o.type_name()
            )),
        }
    }

    fn i(&self, v: &Value) -> XR<i64> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Nil => self.err("invalid value; expected int"),
            o => self.err(format!(
                "wrong type for value; expected int; got {}",
                o.type_name()
            )),
        }
    }

    fn b(&self, v: &Value) -> XR<bool> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Nil => self.err("invalid value; expected bool"),
            o => self.err(format!(
                "wrong type for value; expected bool; got {}",
                o.type_name()
            )),
        }
    }

    fn dict_arg(&self, v: &Value, f: &str) -> XR<usize> {
        match v {
            Value::Dict(i) => Ok(*i),
            Value::Nil => self.err("invalid value; expected map[string]interface {}"),
            o => {
                let _ = f;
                self.err(format!(
                    "wrong type for value; expected map[string]interface {{}}; got {}",
                    o.type_name()
                ))
            }
        }
    }

    fn list_arg(&self, v: &Value, f: &str) -> XR<Rc<ListVal>> {
        match v {
            Value::List(l) => Ok(l.clone()),
            o => self.call_err(f, format!("Cannot find {f} on type {}", o.type_name())),
        }
    }

    /// sprig `strval`.
    fn strval(&mut self, v: &Value) -> XR<Bytes> {
        match v {
            Value::Str(s) => Ok(s.clone()),
            other => {
                let mut b = self.buf();
                self.fmt_v(&mut b, other, 0)?;
                Ok(Rc::new(b.into_inner()))
            }
        }
    }

    /// sprig `strslice`.
    fn strslice(&mut self, v: &Value) -> XR<Vec<Bytes>> {
        match v {
            Value::Nil => Ok(Vec::new()),
            Value::List(l) => {
                self.charge(l.items.len() as u64)?;
                let mut out = Vec::with_capacity(l.items.len());
                for x in &l.items {
                    if !matches!(x, Value::Nil) {
                        out.push(self.strval(x)?);
                    }
                }
                Ok(out)
            }
            other => Ok(vec![self.strval(other)?]),
        }
    }

    fn deep_eq(&mut self, a: &Value, b: &Value, depth: usize) -> XR<bool> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        Ok(match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x.as_slice() == y.as_slice(),
            (Value::List(x), Value::List(y)) => {
                if x.items.len() != y.items.len() {
                    return Ok(false);
                }
                for (p, q) in x.items.iter().zip(y.items.iter()) {
                    if !self.deep_eq(p, q, depth + 1)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Root, Value::Root) => true,
            (Value::Dict(x), Value::Dict(y)) if x == y => true,
            (Value::Dict(_), Value::Dict(_)) => {
                let (Some(ea), Some(eb)) = (self.map_entries(a), self.map_entries(b)) else {
                    return Ok(false);
                };
                if ea.len() != eb.len() {
                    return Ok(false);
                }
                for ((ka, va), (kb, vb)) in ea.iter().zip(eb.iter()) {
                    if ka != kb || !self.deep_eq(va, vb, depth + 1)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    fn go_eq(&self, a: &Value, b: &Value) -> XR<bool> {
        Ok(match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Nil, _) | (_, Value::Nil) => false,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x.as_slice() == y.as_slice(),
            (Value::List(_) | Value::Dict(_) | Value::Root, _)
            | (_, Value::List(_) | Value::Dict(_) | Value::Root) => {
                return self.call_err(
                    "eq",
                    format!(
                        "non-comparable types {} and {}",
                        a.type_name(),
                        b.type_name()
                    ),
                );
            }
            _ => return self.call_err("eq", "incompatible types for comparison"),
        })
    }

    fn go_lt(&self, f: &str, a: &Value, b: &Value) -> XR<bool> {
        Ok(match (a, b) {
            (Value::Int(x), Value::Int(y)) => x < y,
            (Value::Float(x), Value::Float(y)) => x < y,
            (Value::Str(x), Value::Str(y)) => x.as_slice() < y.as_slice(),
            (
                Value::Int(_) | Value::Float(_) | Value::Str(_),
                Value::Int(_) | Value::Float(_) | Value::Str(_),
            ) => {
                return self.call_err(f, "incompatible types for comparison");
            }
            _ => return self.call_err(f, "invalid type for comparison"),
        })
    }
}

// ───────────────────────────── formatting ─────────────────────────────

impl Exec<'_> {
    /// fmt's `%v`.
    fn fmt_v(&mut self, b: &mut SecBuf, v: &Value, depth: usize) -> XR<()> {
        self.fmt_verb(b, v, 'v', Spec::default(), depth)
    }

    fn fmt_verb(
        &mut self,
        b: &mut SecBuf,
        v: &Value,
        verb: char,
        sp: Spec,
        depth: usize,
    ) -> XR<()> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        match v {
            Value::Nil => match verb {
                'v' => pad(b, sp, b"<nil>")?,
                _ => self.bad_verb(b, verb, v)?,
            },
            Value::Bool(x) => match verb {
                'v' | 't' => pad(b, sp, if *x { b"true" } else { b"false" })?,
                _ => self.bad_verb(b, verb, v)?,
            },
            Value::Int(n) => match verb {
                'v' | 'd' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 10, verb, false),
                )?,
                'b' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 2, verb, false),
                )?,
                'o' | 'O' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 8, verb, false),
                )?,
                'x' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 16, verb, false),
                )?,
                'X' => pad(
                    b,
                    Spec { zero: false, ..sp },
                    &fmt_integer(sp, *n, 16, verb, true),
                )?,
                'c' => {
                    let c = u32::try_from(*n)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}');
                    let mut t = [0u8; 4];
                    pad(b, sp, c.encode_utf8(&mut t).as_bytes())?;
                }
                'q' => {
                    let c = u32::try_from(*n)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}');
                    let mut t = [0u8; 4];
                    let mut o = Vec::new();
                    go_quote_into(&mut o, c.encode_utf8(&mut t).as_bytes(), '\'', sp.plus);
                    pad(b, sp, &o)?;
                }
                'U' => pad(b, sp, format!("U+{:04X}", *n).as_bytes())?,
                _ => self.bad_verb(b, verb, v)?,
            },
            Value::Float(f) => {
                let s = match verb {
                    'v' => go_fmt_g(*f, sp.prec, false),
                    'g' | 'G' => go_fmt_g(*f, sp.prec, verb == 'G'),
                    'e' | 'E' => go_fmt_e(*f, sp.prec.unwrap_or(6), verb == 'E'),
                    'f' | 'F' => go_fmt_f(*f, sp.prec.unwrap_or(6)),
                    _ => return self.bad_verb(b, verb, v),
                };
                let mut s = s;
                if !s.starts_with(['-', '+']) && !f.is_nan() {
                    if sp.plus {
                        s.insert(0, '+');
                    } else if sp.space {
                        s.insert(0, ' ');
                    }
                }
                if sp.zero && !sp.minus && f.is_finite() {
                    let w = sp.width.unwrap_or(0);
                    if w > s.len() {
                        let (sign, num) = if s.starts_with(['-', '+', ' ']) {
                            s.split_at(1)
                        } else {
                            ("", s.as_str())
                        };
                        b.push_str(sign)?;
                        for _ in 0..(w - s.len()) {
                            b.push(b"0")?;
                        }
                        b.push_str(num)?;
                        return Ok(());
                    }
                }
                pad(b, sp, s.as_bytes())?;
            }
            Value::Str(s) => match verb {
                'v' | 's' => {
                    let t = truncate_runes(s, sp.prec);
                    pad(b, sp, t)?;
                }
                'q' => {
                    let t = truncate_runes(s, sp.prec);
                    if sp.sharp && can_backquote(t) {
                        let mut o = scratch(t.len());
                        o.push(b'`');
                        o.extend_from_slice(t);
                        o.push(b'`');
                        pad(b, sp, &o)?;
                    } else {
                        let mut o = scratch(t.len());
                        go_quote_into(&mut o, t, '"', sp.plus);
                        pad(b, sp, &o)?;
                    }
                }
                'x' | 'X' => {
                    let t = match sp.prec {
                        Some(p) => s.get(..p.min(s.len())).unwrap_or(&[]),
                        None => s.as_slice(),
                    };
                    let digits: &[u8; 16] = if verb == 'x' {
                        b"0123456789abcdef"
                    } else {
                        b"0123456789ABCDEF"
                    };
                    let mut o = scratch(t.len());
                    for (i, byte) in t.iter().enumerate() {
                        if sp.space && i > 0 {
                            o.push(b' ');
                        }
                        if sp.sharp && (sp.space || i == 0) {
                            o.extend_from_slice(if verb == 'x' { b"0x" } else { b"0X" });
                        }
                        o.push(digits.get(usize::from(byte >> 4)).copied().unwrap_or(b'0'));
                        o.push(digits.get(usize::from(byte & 15)).copied().unwrap_or(b'0'));
                    }
                    pad(b, sp, &o)?;
                }
                _ => self.bad_verb(b, verb, v)?,
            },
            Value::List(l) => {
                b.push(b"[")?;
                for (i, x) in l.items.iter().enumerate() {
                    if i > 0 {
                        b.push(b" ")?;
                    }
                    self.fmt_verb(b, x, verb, sp, depth + 1)?;
                }
                b.push(b"]")?;
            }
            Value::Dict(_) | Value::Root => {
                let entries = self.map_entries(v).unwrap_or_default();
                b.push(b"map[")?;
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        b.push(b" ")?;
                    }
                    b.push_str(k)?;
                    b.push(b":")?;
                    self.fmt_verb(b, x, verb, sp, depth + 1)?;
                }
                b.push(b"]")?;
            }
        }
        Ok(())
    }

    fn bad_verb(&mut self, b: &mut SecBuf, verb: char, v: &Value) -> XR<()> {
        b.push(b"%!")?;
        b.push_char(verb)?;
        b.push(b"(")?;
        if matches!(v, Value::Nil) {
            b.push(b"<nil>")?;
        } else {
            b.push_str(v.type_name())?;
            b.push(b"=")?;
            self.fmt_v(b, v, 1)?;
        }
        b.push(b")")?;
        Ok(())
    }

    /// fmt.Sprintf subset.
    fn sprintf(&mut self, b: &mut SecBuf, f: &[u8], args: &[Value]) -> XR<()> {
        let mut i = 0usize;
        let mut argi = 0usize;
        let n = f.len();
        while i < n {
            let lit_end = f
                .get(i..)
                .and_then(|r| r.iter().position(|c| *c == b'%'))
                .map_or(n, |p| i + p);
            b.push(f.get(i..lit_end).unwrap_or(&[]))?;
            i = lit_end;
            if i >= n {
                break;
            }
            i += 1;
            self.step()?;
            let mut sp = Spec::default();
            while let Some(c) = f.get(i) {
                match c {
                    b'#' => sp.sharp = true,
                    b'0' => sp.zero = !sp.minus,
                    b'+' => sp.plus = true,
                    b'-' => {
                        sp.minus = true;
                        sp.zero = false;
                    }
                    b' ' => sp.space = true,
                    _ => break,
                }
                i += 1;
            }
            // width
            if f.get(i) == Some(&b'*') {
                i += 1;
                match args.get(argi) {
                    Some(Value::Int(w)) => {
                        argi += 1;
                        let a = usize::try_from(w.unsigned_abs()).unwrap_or(usize::MAX);
                        if a > FMT_MAX_NUM {
                            b.push(b"%!(BADWIDTH)")?;
                        } else {
                            sp.width = Some(a);
                            if *w < 0 {
                                sp.minus = true;
                                sp.zero = false;
                            }
                        }
                    }
                    Some(_) => {
                        argi += 1;
                        b.push(b"%!(BADWIDTH)")?;
                    }
                    None => b.push(b"%!(BADWIDTH)")?,
                }
            } else {
                let (num, ni, ok) = parse_fmt_num(f, i);
                if !ok {
                    i = n;
                } else {
                    i = ni;
                    sp.width = num;
                }
            }
            // precision
            if f.get(i) == Some(&b'.') {
                i += 1;
                if f.get(i) == Some(&b'*') {
                    i += 1;
                    match args.get(argi) {
                        Some(Value::Int(p)) if *p >= 0 && (*p as u64) <= FMT_MAX_NUM as u64 => {
                            argi += 1;
                            sp.prec = Some(*p as usize);
                        }
                        Some(_) => {
                            argi += 1;
                            b.push(b"%!(BADPREC)")?;
                        }
                        None => b.push(b"%!(BADPREC)")?,
                    }
                } else {
                    let (num, ni, ok) = parse_fmt_num(f, i);
                    if !ok {
                        i = n;
                    } else {
                        i = ni;
                        sp.prec = Some(num.unwrap_or(0));
                    }
                }
            }
            if i >= n {
                b.push(b"%!(NOVERB)")?;
                break;
            }
            let (c, len) = decode_rune(f.get(i..).unwrap_or(&[]));
            i += len.max(1);
            let verb = c.unwrap_or('\u{fffd}');
            if verb == '%' {
                b.push(b"%")?;
                continue;
            }
            match args.get(argi) {
                None => {
                    b.push(b"%!")?;
                    b.push_char(verb)?;
                    b.push(b"(MISSING)")?;
                }
                Some(a) => {
                    argi += 1;
                    if verb == 'T' {
                        pad(b, sp, a.type_name().as_bytes())?;
                    } else {
                        self.fmt_verb(b, a, verb, sp, 0)?;
                    }
                }
            }
        }
        if argi < args.len() {
            b.push(b"%!(EXTRA ")?;
            for (k, a) in args.iter().skip(argi).enumerate() {
                if k > 0 {
                    b.push(b", ")?;
                }
                if matches!(a, Value::Nil) {
                    b.push(b"<nil>")?;
                } else {
                    b.push_str(a.type_name())?;
                    b.push(b"=")?;
                    self.fmt_v(b, a, 0)?;
                }
            }
            b.push(b")")?;
        }
        Ok(())
    }

    /// fmt.Sprint (`ln`: Sprintln).
    fn sprint(&mut self, b: &mut SecBuf, args: &[Value], ln: bool) -> XR<()> {
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                let prev_str = args.get(i - 1).is_some_and(strval_is_string);
                if ln || (!prev_str && !strval_is_string(a)) {
                    b.push(b" ")?;
                }
            }
            self.fmt_v(b, a, 0)?;
        }
        if ln {
            b.push(b"\n")?;
        }
        Ok(())
    }

    fn json(
        &mut self,
        b: &mut SecBuf,
        v: &Value,
        html: bool,
        indent: Option<usize>,
        depth: usize,
    ) -> XR<bool> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        let nl = |b: &mut SecBuf, lvl: usize| -> Result<(), Overflow> {
            b.push(b"\n")?;
            for _ in 0..lvl {
                b.push(b"  ")?;
            }
            Ok(())
        };
        match v {
            Value::Nil => b.push(b"null")?,
            Value::Bool(x) => b.push(if *x { b"true" } else { b"false" })?,
            Value::Int(i) => b.push_str(&i.to_string())?,
            Value::Float(f) => match json_float(*f) {
                Some(s) => b.push_str(&s)?,
                None => return Ok(false),
            },
            Value::Str(s) => {
                let mut o = scratch(s.len());
                push_json_str(&mut o, s, html);
                b.push(&o)?;
            }
            Value::List(l) => {
                b.push(b"[")?;
                for (i, x) in l.items.iter().enumerate() {
                    if i > 0 {
                        b.push(b",")?;
                    }
                    if let Some(lvl) = indent {
                        nl(b, lvl + 1)?;
                    }
                    if !self.json(b, x, html, indent.map(|l| l + 1), depth + 1)? {
                        return Ok(false);
                    }
                }
                if let (Some(lvl), false) = (indent, l.items.is_empty()) {
                    nl(b, lvl)?;
                }
                b.push(b"]")?;
            }
            Value::Dict(_) | Value::Root => {
                let entries = self.map_entries(v).unwrap_or_default();
                b.push(b"{")?;
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        b.push(b",")?;
                    }
                    if let Some(lvl) = indent {
                        nl(b, lvl + 1)?;
                    }
                    let mut o = scratch(k.len());
                    push_json_str(&mut o, k.as_bytes(), html);
                    b.push(&o)?;
                    b.push(if indent.is_some() { b": " } else { b":" })?;
                    if !self.json(b, x, html, indent.map(|l| l + 1), depth + 1)? {
                        return Ok(false);
                    }
                }
                if let (Some(lvl), false) = (indent, entries.is_empty()) {
                    nl(b, lvl)?;
                }
                b.push(b"}")?;
            }
        }
        Ok(true)
    }

    fn yaml_scalar(&mut self, b: &mut SecBuf, v: &Value) -> XR<()> {
        match v {
            Value::Nil => b.push(b"null")?,
            Value::Bool(x) => b.push(if *x { b"true" } else { b"false" })?,
            Value::Int(i) => b.push_str(&i.to_string())?,
            Value::Float(f) => {
                if f.is_nan() {
                    b.push(b".nan")?
                } else if f.is_infinite() {
                    b.push(if *f > 0.0 { b".inf" as &[u8] } else { b"-.inf" })?
                } else {
                    b.push_str(&go_fmt_g(*f, None, false))?
                }
            }
            Value::Str(s) => {
                let mut o = scratch(s.len());
                push_yaml_str(&mut o, s);
                b.push(&o)?;
            }
            Value::List(_) => b.push(b"[]")?,
            Value::Dict(_) | Value::Root => b.push(b"{}")?,
        }
        Ok(())
    }

    fn yaml_nonempty_coll(&self, v: &Value) -> bool {
        match v {
            Value::List(l) => !l.items.is_empty(),
            Value::Dict(_) | Value::Root => truth(v, self),
            _ => false,
        }
    }

    fn yaml_block(
        &mut self,
        b: &mut SecBuf,
        v: &Value,
        indent: usize,
        inline_first: bool,
        depth: usize,
    ) -> XR<()> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        let spaces = |b: &mut SecBuf, n: usize| -> Result<(), Overflow> {
            for _ in 0..n {
                b.push(b" ")?;
            }
            Ok(())
        };
        if !self.yaml_nonempty_coll(v) {
            self.yaml_scalar(b, v)?;
            b.push(b"\n")?;
            return Ok(());
        }
        match v {
            Value::List(l) => {
                for (i, x) in l.items.iter().enumerate() {
                    if !(i == 0 && inline_first) {
                        spaces(b, indent)?;
                    }
                    b.push(b"- ")?;
                    if self.yaml_nonempty_coll(x) {
                        self.yaml_block(b, x, indent + 2, true, depth + 1)?;
                    } else {
                        self.yaml_scalar(b, x)?;
                        b.push(b"\n")?;
                    }
                }
            }
            _ => {
                let entries = self.map_entries(v).unwrap_or_default();
                for (i, (k, x)) in entries.iter().enumerate() {
                    if !(i == 0 && inline_first) {
                        spaces(b, indent)?;
                    }
                    let mut o = scratch(k.len());
                    push_yaml_str(&mut o, k.as_bytes());
                    b.push(&o)?;
                    b.push(b":")?;
                    match x {
                        Value::List(_) if self.yaml_nonempty_coll(x) => {
                            b.push(b"\n")?;
                            self.yaml_block(b, x, indent, false, depth + 1)?;
                        }
                        Value::Dict(_) | Value::Root if self.yaml_nonempty_coll(x) => {
                            b.push(b"\n")?;
                            self.yaml_block(b, x, indent + 2, false, depth + 1)?;
                        }
                        _ => {
                            b.push(b" ")?;
                            self.yaml_scalar(b, x)?;
                            b.push(b"\n")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn json_to_value(&mut self, j: serde_json::Value, depth: usize) -> XR<Value> {
        if depth > self.limits.max_depth {
            return Err(XErr::Depth);
        }
        self.step()?;
        Ok(match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::Str(new_bytes(s.into_bytes())),
            serde_json::Value::Array(a) => {
                let mut items = Vec::with_capacity(a.len());
                for x in a {
                    items.push(self.json_to_value(x, depth + 1)?);
                }
                self.mk_list(items)?
            }
            serde_json::Value::Object(o) => {
                let mut m = BTreeMap::new();
                for (k, x) in o {
                    let v = self.json_to_value(x, depth + 1)?;
                    m.insert(k, v);
                }
                self.mk_dict(m)?
            }
        })
    }
}

fn parse_fmt_num(f: &[u8], mut i: usize) -> (Option<usize>, usize, bool) {
    let mut num: usize = 0;
    let mut any = false;
    while let Some(c) = f.get(i).filter(|c| c.is_ascii_digit()) {
        if num > FMT_MAX_NUM {
            return (None, f.len(), false);
        }
        num = num * 10 + usize::from(c - b'0');
        any = true;
        i += 1;
    }
    (if any { Some(num) } else { None }, i, true)
}

fn truncate_runes(s: &[u8], prec: Option<usize>) -> &[u8] {
    match prec {
        None => s,
        Some(p) => match runes(s).get(p) {
            Some((st, _, _)) => s.get(..*st).unwrap_or(s),
            None => s,
        },
    }
}

/// Pad to the width (in runes) like fmt.
fn pad(b: &mut SecBuf, sp: Spec, s: &[u8]) -> Result<(), Overflow> {
    let w = sp.width.unwrap_or(0);
    let n = if w > 0 { rune_count(s) } else { 0 };
    if n >= w {
        return b.push(s);
    }
    let fill: &[u8] = if sp.zero && !sp.minus { b"0" } else { b" " };
    if sp.minus {
        b.push(s)?;
        for _ in n..w {
            b.push(b" ")?;
        }
    } else {
        for _ in n..w {
            b.push(fill)?;
        }
        b.push(s)?;
    }
    Ok(())
}

/// fmt's fmtInteger (the result still gets `pad` with zero-padding disabled).
fn fmt_integer(sp: Spec, n: i64, base: u32, verb: char, upper: bool) -> Vec<u8> {
    let neg = n < 0;
    let u = n.unsigned_abs();
    let mut digits: Vec<u8> = Vec::new();
    let mut x = u;
    let table: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    loop {
        digits.push(
            table
                .get((x % u64::from(base)) as usize)
                .copied()
                .unwrap_or(b'0'),
        );
        x /= u64::from(base);
        if x == 0 {
            break;
        }
    }
    digits.reverse();
    let mut prec = 0usize;
    if let Some(p) = sp.prec {
        prec = p;
        if p == 0 && u == 0 {
            digits.clear();
        }
    } else if sp.zero
        && !sp.minus
        && let Some(w) = sp.width
    {
        prec = w;
        if neg || sp.plus || sp.space {
            prec = prec.saturating_sub(1);
        }
    }
    let mut out = Vec::new();
    if neg {
        out.push(b'-');
    } else if sp.plus {
        out.push(b'+');
    } else if sp.space {
        out.push(b' ');
    }
    if verb == 'O' {
        out.extend_from_slice(b"0o");
    } else if sp.sharp {
        match base {
            16 => out.extend_from_slice(if upper { b"0X" } else { b"0x" }),
            2 => out.extend_from_slice(b"0b"),
            8 if digits.first() != Some(&b'0') => out.push(b'0'),
            _ => {}
        }
    }
    // precision zero padding happens after the prefix (Go puts it before the prefix for
    // zero flag; identical for the common cases).
    out.extend(std::iter::repeat_n(b'0', prec.saturating_sub(digits.len())));
    out.extend_from_slice(&digits);
    out
}

// ───────────────────────────── functions ─────────────────────────────

fn b64_engine() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    )
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().div_ceil(5) * 8);
    for chunk in s.chunks(5) {
        let mut buf = [0u8; 5];
        for (d, c) in buf.iter_mut().zip(chunk.iter()) {
            *d = *c;
        }
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let nchars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < nchars {
                let idx = ((bits >> (35 - 5 * i)) & 31) as usize;
                out.push(B32.get(idx).copied().unwrap_or(b'A'));
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

fn b32_decode(s: &[u8]) -> Result<Vec<u8>, usize> {
    let s: Vec<u8> = s
        .iter()
        .copied()
        .filter(|c| *c != b'\r' && *c != b'\n')
        .collect();
    if !s.len().is_multiple_of(8) {
        return Err(s.len() / 8 * 8);
    }
    let mut out = Vec::with_capacity(s.len() / 8 * 5);
    let nchunks = s.len() / 8;
    for (ci, chunk) in s.chunks(8).enumerate() {
        let pads = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pads > 0 && ci + 1 != nchunks || !matches!(pads, 0 | 1 | 3 | 4 | 6) {
            return Err(ci * 8 + 8 - pads);
        }
        let mut bits = 0u64;
        for (i, c) in chunk.iter().enumerate() {
            let v = if i >= 8 - pads {
                0
            } else {
                match B32.iter().position(|x| x == c) {
                    Some(v) => v as u64,
                    None => return Err(ci * 8 + i),
                }
            };
            bits = (bits << 5) | v;
        }
        let nbytes = match pads {
            0 => 5,
            1 => 4,
            3 => 3,
            4 => 2,
            _ => 1,
        };
        for i in 0..nbytes {
            out.push(((bits >> (32 - 8 * i)) & 0xff) as u8);
        }
    }
    Ok(out)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).into()
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

impl Exec<'_> {
    #[allow(clippy::too_many_lines)]
    fn apply(&mut self, f: &'static str, args: Vec<Value>) -> XR<Value> {
        let max = self.limits.max_output_bytes;
        Ok(match f {
            // ── Go builtins ──
            "not" => {
                let [a] = self.fixed::<1>(f, args)?;
                Value::Bool(!truth(&a, self))
            }
            "len" => {
                let [a] = self.fixed::<1>(f, args)?;
                match &a {
                    Value::Str(s) => Value::Int(s.len() as i64),
                    Value::List(l) => Value::Int(l.items.len() as i64),
                    Value::Dict(_) | Value::Root => {
                        Value::Int(self.map_entries(&a).map_or(0, |e| e.len()) as i64)
                    }
                    Value::Nil => return self.call_err(f, "len of nil pointer"),
                    o => return self.call_err(f, format!("len of type {}", o.type_name())),
                }
            }
            "index" => {
                self.at_least(f, &args, 1)?;
                let mut it = args.into_iter();
                let mut item = it.next().unwrap_or(Value::Nil);
                for idx in it {
                    item = match (&item, &idx) {
                        (Value::Nil, _) => return self.call_err(f, "index of untyped nil"),
                        (Value::List(_) | Value::Str(_), Value::Int(i)) => {
                            let len = match &item {
                                Value::List(l) => l.items.len(),
                                Value::Str(s) => s.len(),
                                _ => 0,
                            };
                            let Some(u) = usize::try_from(*i).ok().filter(|u| *u < len) else {
                                return self.call_err(f, format!("index out of range: {i}"));
                            };
                            match &item {
                                Value::List(l) => l.items.get(u).cloned().unwrap_or(Value::Nil),
                                Value::Str(s) => {
                                    Value::Int(i64::from(s.get(u).copied().unwrap_or(0)))
                                }
                                _ => Value::Nil,
                            }
                        }
                        (Value::List(_) | Value::Str(_), Value::Nil) => {
                            return self.call_err(f, "cannot index slice/array with nil");
                        }
                        (Value::List(_) | Value::Str(_), o) => {
                            return self.call_err(
                                f,
                                format!("cannot index slice/array with type {}", o.type_name()),
                            );
                        }
                        (Value::Root, Value::Str(k)) => {
                            let k = String::from_utf8_lossy(k);
                            Value::Str(
                                self.root
                                    .get(k.as_ref())
                                    .cloned()
                                    .unwrap_or_else(|| new_bytes(Vec::new())),
                            )
                        }
                        (Value::Dict(d), Value::Str(k)) => {
                            let k = String::from_utf8_lossy(k);
                            self.dicts
                                .get(*d)
                                .and_then(|m| m.get(k.as_ref()))
                                .cloned()
                                .unwrap_or(Value::Nil)
                        }
                        (Value::Root | Value::Dict(_), o) => {
                            return self.call_err(
                                f,
                                format!("value has type {}; should be string", o.type_name()),
                            );
                        }
                        (o, _) => {
                            return self.call_err(
                                f,
                                format!("can't index item of type {}", o.type_name()),
                            );
                        }
                    };
                }
                item
            }
            "print" | "println" => {
                let mut b = self.buf();
                self.sprint(&mut b, &args, f == "println")?;
                b.into_value()
            }
            "printf" => {
                self.at_least(f, &args, 1)?;
                let mut it = args.into_iter();
                let fmt = self.s(&it.next().unwrap_or(Value::Nil))?;
                let rest: Vec<Value> = it.collect();
                let mut b = self.buf();
                self.sprintf(&mut b, &fmt, &rest)?;
                b.into_value()
            }
            "html" | "urlquery" => {
                let text = if let [Value::Str(s)] = args.as_slice() {
                    s.clone()
                } else {
                    let mut b = self.buf();
                    self.sprint(&mut b, &args, false)?;
                    Rc::new(b.into_inner())
                };
                let mut b = self.buf();
                for (st, len, c) in runes(&text) {
                    let raw = text.get(st..st + len).unwrap_or(&[]);
                    if f == "html" {
                        match c {
                            Some('"') => b.push(b"&#34;")?,
                            Some('\'') => b.push(b"&#39;")?,
                            Some('&') => b.push(b"&amp;")?,
                            Some('<') => b.push(b"&lt;")?,
                            Some('>') => b.push(b"&gt;")?,
                            Some('\0') => b.push("\u{fffd}".as_bytes())?,
                            _ => b.push(raw)?,
                        }
                    } else {
                        for &x in raw {
                            if x.is_ascii_alphanumeric() || matches!(x, b'-' | b'_' | b'.' | b'~') {
                                b.push(&[x])?;
                            } else if x == b' ' {
                                b.push(b"+")?;
                            } else {
                                b.push_str(&format!("%{x:02X}"))?;
                            }
                        }
                    }
                }
                b.into_value()
            }
            "eq" => {
                self.at_least(f, &args, 1)?;
                let mut it = args.iter();
                let a = it.next().cloned().unwrap_or(Value::Nil);
                if args.len() < 2 {
                    return self.call_err(f, "missing argument for comparison");
                }
                let mut r = false;
                for x in it {
                    if self.go_eq(&a, x)? {
                        r = true;
                        break;
                    }
                }
                Value::Bool(r)
            }
            "ne" => {
                let [a, b] = self.fixed::<2>(f, args)?;
                Value::Bool(
                    !self
                        .go_eq(&a, &b)
                        .or_else(|_| self.call_err(f, "incompatible types for comparison"))?,
                )
            }
            "lt" | "le" | "gt" | "ge" => {
                let [a, b] = self.fixed::<2>(f, args)?;
                let lt = self.go_lt(f, &a, &b)?;
                let eq = !lt && self.go_eq(&a, &b).unwrap_or(false);
                Value::Bool(match f {
                    "lt" => lt,
                    "le" => lt || eq,
                    "gt" => !(lt || eq),
                    _ => !lt,
                })
            }
            // ── defaults / flow ──
            "default" => {
                self.at_least(f, &args, 1)?;
                let mut it = args.into_iter();
                let d = it.next().unwrap_or(Value::Nil);
                match it.next() {
                    Some(g) if truth(&g, self) => g,
                    _ => d,
                }
            }
            "empty" => {
                let [a] = self.fixed::<1>(f, args)?;
                Value::Bool(!truth(&a, self))
            }
            "coalesce" => args
                .into_iter()
                .find(|v| truth(v, self))
                .unwrap_or(Value::Nil),
            "all" => Value::Bool(args.iter().all(|v| truth(v, self))),
            "any" => Value::Bool(args.iter().any(|v| truth(v, self))),
            "ternary" => {
                let [t, fl, c] = self.fixed::<3>(f, args)?;
                if self.b(&c)? { t } else { fl }
            }
            // ── strings ──
            "upper" | "lower" | "title" => {
                let [a] = self.fixed::<1>(f, args)?;
                let s = self.s(&a)?;
                let mut b = self.buf();
                if s.is_ascii() {
                    let mut prev_sep = true;
                    for &c in s.iter() {
                        let o = match f {
                            "upper" => c.to_ascii_uppercase(),
                            "lower" => c.to_ascii_lowercase(),
                            _ => {
                                let o = if prev_sep { c.to_ascii_uppercase() } else { c };
                                prev_sep = is_title_separator(char::from(c));
                                o
                            }
                        };
                        b.push(&[o])?;
                    }
                } else {
                    let mut prev_sep = true;
                    for (_, _, c) in runes(&s) {
                        let c = c.unwrap_or('\u{fffd}');
                        let o = match f {
                            "upper" => simple_upper(c),
                            "lower" => simple_lower(c),
                            _ => {
                                let o = if prev_sep { simple_upper(c) } else { c };
                                prev_sep = is_title_separator(c);
                                o
                            }
                        };
                        b.push_char(o)?;
                    }
                }
                b.into_value()
            }
            "trim" | "nospace" => {
                let [a] = self.fixed::<1>(f, args)?;
                let s = self.s(&a)?;
                let rs = runes(&s);
                let sp = |c: &Option<char>| c.is_some_and(is_unicode_space);
                if f == "trim" {
                    let st = rs
                        .iter()
                        .position(|(_, _, c)| !sp(c))
                        .and_then(|i| rs.get(i))
                        .map_or(s.len(), |r| r.0);
                    let en = rs
                        .iter()
                        .rposition(|(_, _, c)| !sp(c))
                        .and_then(|i| rs.get(i))
                        .map_or(st, |r| r.0 + r.1);
                    Value::Str(new_bytes(s.get(st..en.max(st)).unwrap_or(&[]).to_vec()))
                } else {
                    let mut b = self.buf();
                    for (st, len, c) in rs {
                        if !sp(&c) {
                            b.push(s.get(st..st + len).unwrap_or(&[]))?;
                        }
                    }
                    b.into_value()
                }
            }
            "trimAll" => {
                let [cut, a] = self.fixed::<2>(f, args)?;
                let (cut, s) = (self.s(&cut)?, self.s(&a)?);
                let set: Vec<char> = runes(&cut)
                    .iter()
                    .map(|r| r.2.unwrap_or('\u{fffd}'))
                    .collect();
                let rs = runes(&s);
                let keep =
                    |r: &(usize, usize, Option<char>)| !set.contains(&r.2.unwrap_or('\u{fffd}'));
                let st = rs
                    .iter()
                    .position(keep)
                    .and_then(|i| rs.get(i))
                    .map_or(s.len(), |r| r.0);
                let en = rs
                    .iter()
                    .rposition(keep)
                    .and_then(|i| rs.get(i))
                    .map_or(st, |r| r.0 + r.1);
                Value::Str(new_bytes(s.get(st..en.max(st)).unwrap_or(&[]).to_vec()))
            }
            "trimPrefix" | "trimSuffix" => {
                let [p, a] = self.fixed::<2>(f, args)?;
                let (p, s) = (self.s(&p)?, self.s(&a)?);
                let r = if f == "trimPrefix" {
                    s.strip_prefix(p.as_slice()).unwrap_or(&s)
                } else {
                    s.strip_suffix(p.as_slice()).unwrap_or(&s)
                };
                Value::Str(new_bytes(r.to_vec()))
            }
            "contains" | "hasPrefix" | "hasSuffix" => {
                let [p, a] = self.fixed::<2>(f, args)?;
                let (p, s) = (self.s(&p)?, self.s(&a)?);
                Value::Bool(match f {
                    "contains" => contains_bytes(&s, &p),
                    "hasPrefix" => s.starts_with(&p),
                    _ => s.ends_with(&p),
                })
            }
            "replace" => {
                let [old, new, src] = self.fixed::<3>(f, args)?;
                let (old, new, src) = (self.s(&old)?, self.s(&new)?, self.s(&src)?);
                let mut b = self.buf();
                if old.is_empty() {
                    b.push(&new)?;
                    for (st, len, _) in runes(&src) {
                        b.push(src.get(st..st + len).unwrap_or(&[]))?;
                        b.push(&new)?;
                    }
                } else {
                    let mut last = 0;
                    for p in find_all(&src, &old, usize::MAX) {
                        b.push(src.get(last..p).unwrap_or(&[]))?;
                        b.push(&new)?;
                        last = p + old.len();
                    }
                    b.push(src.get(last..).unwrap_or(&[]))?;
                }
                b.into_value()
            }
            "quote" | "squote" => {
                let mut b = self.buf();
                let mut first = true;
                for a in &args {
                    if matches!(a, Value::Nil) {
                        continue;
                    }
                    if !first {
                        b.push(b" ")?;
                    }
                    first = false;
                    let s = self.strval(a)?;
                    if f == "quote" {
                        b.push(&go_quote(&s))?;
                    } else {
                        b.push(b"'")?;
                        b.push(&s)?;
                        b.push(b"'")?;
                    }
                }
                b.into_value()
            }
            "cat" => {
                let mut b = self.buf();
                let mut first = true;
                for a in &args {
                    if matches!(a, Value::Nil) {
                        continue;
                    }
                    if !first {
                        b.push(b" ")?;
                    }
                    first = false;
                    self.fmt_v(&mut b, a, 0)?;
                }
                b.into_value()
            }
            "indent" | "nindent" => {
                let [n, a] = self.fixed::<2>(f, args)?;
                let (n, s) = (self.i(&n)?, self.s(&a)?);
                if n < 0 {
                    return self.call_err(f, "strings: negative Repeat count");
                }
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                self.check_len(n)?;
                let pad = vec![b' '; n];
                let mut b = self.buf();
                if f == "nindent" {
                    b.push(b"\n")?;
                }
                b.push(&pad)?;
                for &c in s.iter() {
                    b.push(&[c])?;
                    if c == b'\n' {
                        b.push(&pad)?;
                    }
                }
                b.into_value()
            }
            "repeat" => {
                let [n, a] = self.fixed::<2>(f, args)?;
                let (n, s) = (self.i(&n)?, self.s(&a)?);
                if n < 0 {
                    return self.call_err(f, "strings: negative Repeat count");
                }
                let total = usize::try_from(n).ok().and_then(|n| n.checked_mul(s.len()));
                match total {
                    Some(t) if t <= max => {}
                    _ => return Err(XErr::Output),
                }
                self.charge((total.unwrap_or(0) / 1024) as u64)?;
                let mut b = self.buf();
                for _ in 0..n {
                    b.push(&s)?;
                }
                b.into_value()
            }
            "substr" => {
                let [st, en, a] = self.fixed::<3>(f, args)?;
                let (st, en, s) = (self.i(&st)?, self.i(&en)?, self.s(&a)?);
                let len = s.len() as i64;
                let (lo, hi) = if st < 0 {
                    (0, en)
                } else if en < 0 || en > len {
                    (st, len)
                } else {
                    (st, en)
                };
                if lo < 0 || hi < 0 || lo > hi || hi > len {
                    return self.call_err(
                        f,
                        format!("runtime error: slice bounds out of range [{lo}:{hi}]"),
                    );
                }
                Value::Str(new_bytes(
                    s.get(lo as usize..hi as usize).unwrap_or(&[]).to_vec(),
                ))
            }
            "trunc" => {
                let [c, a] = self.fixed::<2>(f, args)?;
                let (c, s) = (self.i(&c)?, self.s(&a)?);
                let len = s.len() as i64;
                let r: &[u8] = if c < 0 && len + c > 0 {
                    s.get((len + c) as usize..).unwrap_or(&[])
                } else if c >= 0 && len > c {
                    s.get(..c as usize).unwrap_or(&[])
                } else {
                    &s
                };
                Value::Str(new_bytes(r.to_vec()))
            }
            "abbrev" => {
                let [w, a] = self.fixed::<2>(f, args)?;
                let (w, s) = (self.i(&w)?, self.s(&a)?);
                if w < 4 || s.len() as i64 <= w {
                    Value::Str(s)
                } else {
                    let mut v = s.get(..(w - 3) as usize).unwrap_or(&[]).to_vec();
                    v.extend_from_slice(b"...");
                    Value::Str(new_bytes(v))
                }
            }
            "plural" => {
                let [one, many, n] = self.fixed::<3>(f, args)?;
                let n = self.i(&n)?;
                if n == 1 {
                    Value::Str(self.s(&one)?)
                } else {
                    Value::Str(self.s(&many)?)
                }
            }
            "split" | "splitList" => {
                let [sep, a] = self.fixed::<2>(f, args)?;
                let (sep, s) = (self.s(&sep)?, self.s(&a)?);
                let parts = split_bytes(&s, &sep, -1);
                self.parts_value(f == "split", parts)?
            }
            "splitn" => {
                let [sep, n, a] = self.fixed::<3>(f, args)?;
                let (sep, n, s) = (self.s(&sep)?, self.i(&n)?, self.s(&a)?);
                let parts = split_bytes(&s, &sep, n);
                self.parts_value(true, parts)?
            }
            "join" => {
                let [sep, v] = self.fixed::<2>(f, args)?;
                let sep = self.s(&sep)?;
                let parts = self.strslice(&v)?;
                let mut b = self.buf();
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        b.push(&sep)?;
                    }
                    b.push(p)?;
                }
                b.into_value()
            }
            "sortAlpha" => {
                let [v] = self.fixed::<1>(f, args)?;
                let mut parts = self.strslice(&v)?;
                parts.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
                self.mk_list(parts.into_iter().map(Value::Str).collect())?
            }
            "toString" => {
                let [v] = self.fixed::<1>(f, args)?;
                Value::Str(self.strval(&v)?)
            }
            "toStrings" => {
                let [v] = self.fixed::<1>(f, args)?;
                let parts = self.strslice(&v)?;
                self.mk_list(parts.into_iter().map(Value::Str).collect())?
            }
            // ── encoding / hashing ──
            "b64enc" | "b64dec" | "b32enc" | "b32dec" | "sha256sum" | "sha1sum" | "adler32sum" => {
                let [a] = self.fixed::<1>(f, args)?;
                let s = self.s(&a)?;
                match f {
                    "b64enc" => {
                        self.check_len(s.len().div_ceil(3).saturating_mul(4))?;
                        let mut out = Zeroizing::new(vec![0u8; s.len().div_ceil(3) * 4]);
                        let n = base64::Engine::encode_slice(
                            &b64_engine(),
                            s.as_slice(),
                            out.as_mut_slice(),
                        )
                        .unwrap_or(0);
                        out.truncate(n);
                        Value::Str(Rc::new(out))
                    }
                    "b64dec" => {
                        let clean: Zeroizing<Vec<u8>> = Zeroizing::new(
                            s.iter()
                                .copied()
                                .filter(|c| *c != b'\r' && *c != b'\n')
                                .collect(),
                        );
                        let mut out = Zeroizing::new(vec![0u8; clean.len() / 4 * 3 + 3]);
                        match base64::Engine::decode_slice(
                            &b64_engine(),
                            clean.as_slice(),
                            out.as_mut_slice(),
                        ) {
                            Ok(n) => {
                                out.truncate(n);
                                Value::Str(Rc::new(out))
                            }
                            Err(e) => {
                                let at = match e {
                                    base64::DecodeSliceError::DecodeError(
                                        base64::DecodeError::InvalidByte(o, _)
                                        | base64::DecodeError::InvalidLastSymbol(o, _),
                                    ) => o,
                                    _ => clean.len() / 4 * 4,
                                };
                                Value::str(&format!("illegal base64 data at input byte {at}"))
                            }
                        }
                    }
                    "b32enc" => {
                        self.check_len(s.len().div_ceil(5).saturating_mul(8))?;
                        Value::Str(new_bytes(b32_encode(&s)))
                    }
                    "b32dec" => match b32_decode(&s) {
                        Ok(v) => Value::Str(new_bytes(v)),
                        Err(at) => Value::str(&format!("illegal base32 data at input byte {at}")),
                    },
                    "sha256sum" => Value::str(&hex_lower(&sha256(&s))),
                    "sha1sum" => Value::str(&hex_lower(&sha1(&s))),
                    _ => Value::str(&adler32(&s).to_string()),
                }
            }
            "toJson" | "toPrettyJson" | "toRawJson" => {
                let [v] = self.fixed::<1>(f, args)?;
                let mut b = self.buf();
                let indent = if f == "toPrettyJson" { Some(0) } else { None };
                if self.json(&mut b, &v, f != "toRawJson", indent, 0)? {
                    b.into_value()
                } else {
                    Value::str("")
                }
            }
            "fromJson" => {
                let [a] = self.fixed::<1>(f, args)?;
                let s = self.s(&a)?;
                match serde_json::from_slice::<serde_json::Value>(&s) {
                    Ok(j) => self.json_to_value(j, 0)?,
                    Err(_) => Value::Nil,
                }
            }
            "toYaml" => {
                let [v] = self.fixed::<1>(f, args)?;
                let mut b = self.buf();
                self.yaml_block(&mut b, &v, 0, false, 0)?;
                let mut out = b.into_inner();
                if out.last() == Some(&b'\n') {
                    out.pop();
                }
                Value::Str(Rc::new(out))
            }
            // ── numbers ──
            "atoi" => {
                let [a] = self.fixed::<1>(f, args)?;
                let s = self.s(&a)?;
                let t = std::str::from_utf8(&s).unwrap_or("");
                let ok = !t.contains('_') && !t.starts_with('+')
                    || t.len() > 1 && t.get(1..).is_some_and(|r| !r.starts_with(['+', '-']));
                Value::Int(if ok { t.parse::<i64>().unwrap_or(0) } else { 0 })
            }
            "int" | "int64" => {
                let [a] = self.fixed::<1>(f, args)?;
                Value::Int(to_i64(&a))
            }
            "float64" => {
                let [a] = self.fixed::<1>(f, args)?;
                Value::Float(to_f64(&a))
            }
            "add" => Value::Int(args.iter().fold(0i64, |acc, v| acc.wrapping_add(to_i64(v)))),
            "add1" => {
                let [a] = self.fixed::<1>(f, args)?;
                Value::Int(to_i64(&a).wrapping_add(1))
            }
            "sub" | "div" | "mod" => {
                let [a, b] = self.fixed::<2>(f, args)?;
                let (a, b) = (to_i64(&a), to_i64(&b));
                Value::Int(match f {
                    "sub" => a.wrapping_sub(b),
                    _ if b == 0 => {
                        return self.call_err(f, "runtime error: integer divide by zero");
                    }
                    "div" => a.wrapping_div(b),
                    _ => a.wrapping_rem(b),
                })
            }
            "mul" => {
                self.at_least(f, &args, 1)?;
                Value::Int(args.iter().fold(1i64, |acc, v| acc.wrapping_mul(to_i64(v))))
            }
            "max" | "biggest" | "min" => {
                self.at_least(f, &args, 1)?;
                let it = args.iter().map(to_i64);
                Value::Int(if f == "min" {
                    it.min().unwrap_or(0)
                } else {
                    it.max().unwrap_or(0)
                })
            }
            "floor" | "ceil" => {
                let [a] = self.fixed::<1>(f, args)?;
                let x = to_f64(&a);
                Value::Float(if f == "floor" { x.floor() } else { x.ceil() })
            }
            "until" => {
                let [n] = self.fixed::<1>(f, args)?;
                let n = self.i(&n)?;
                self.charge(n.unsigned_abs())?;
                let items: Vec<Value> = if n >= 0 {
                    (0..n).map(Value::Int).collect()
                } else {
                    (n + 1..=0).rev().map(Value::Int).collect()
                };
                self.mk_list(items)?
            }
            // ── lists ──
            "list" => self.mk_list(args)?,
            "append" | "push" | "prepend" => {
                let [l, v] = self.fixed::<2>(f, args)?;
                let l = match &l {
                    Value::Nil => Rc::new(ListVal {
                        items: Vec::new(),
                        depth: 1,
                    }),
                    o => self.list_arg(o, f)?,
                };
                self.charge(l.items.len() as u64)?;
                let mut items = Vec::with_capacity(l.items.len() + 1);
                if f == "prepend" {
                    items.push(v);
                    items.extend(l.items.iter().cloned());
                } else {
                    items.extend(l.items.iter().cloned());
                    items.push(v);
                }
                self.mk_list(items)?
            }
            "first" | "last" | "rest" | "initial" | "uniq" | "compact" | "reverse" => {
                let [l] = self.fixed::<1>(f, args)?;
                if matches!(l, Value::Nil) {
                    // sprig: reflect.TypeOf(nil).Kind() panics.
                    return self.call_err(
                        f,
                        "runtime error: invalid memory address or nil pointer dereference",
                    );
                }
                let l = self.list_arg(&l, f)?;
                self.charge(l.items.len() as u64)?;
                let n = l.items.len();
                match f {
                    "first" => l.items.first().cloned().unwrap_or(Value::Nil),
                    "last" => l.items.last().cloned().unwrap_or(Value::Nil),
                    "rest" => self.mk_list(l.items.get(1..).unwrap_or(&[]).to_vec())?,
                    "initial" => {
                        self.mk_list(l.items.get(..n.saturating_sub(1)).unwrap_or(&[]).to_vec())?
                    }
                    "reverse" => self.mk_list(l.items.iter().rev().cloned().collect())?,
                    "compact" => {
                        let items = l.items.iter().filter(|v| truth(v, self)).cloned().collect();
                        self.mk_list(items)?
                    }
                    _ => {
                        let mut out: Vec<Value> = Vec::new();
                        for v in &l.items {
                            let mut dup = false;
                            for o in &out {
                                if self.deep_eq(o, v, 0)? {
                                    dup = true;
                                    break;
                                }
                            }
                            if !dup {
                                out.push(v.clone());
                            }
                        }
                        self.mk_list(out)?
                    }
                }
            }
            "has" => {
                let [needle, hay] = self.fixed::<2>(f, args)?;
                match &hay {
                    Value::Nil => Value::Bool(false),
                    o => {
                        let l = self.list_arg(o, f)?;
                        let mut found = false;
                        for v in &l.items {
                            if self.deep_eq(v, &needle, 0)? {
                                found = true;
                                break;
                            }
                        }
                        Value::Bool(found)
                    }
                }
            }
            "without" => {
                self.at_least(f, &args, 1)?;
                let mut it = args.into_iter();
                let l = self.list_arg(&it.next().unwrap_or(Value::Nil), f)?;
                let omit: Vec<Value> = it.collect();
                let mut out = Vec::new();
                for v in &l.items {
                    let mut drop = false;
                    for o in &omit {
                        if self.deep_eq(v, o, 0)? {
                            drop = true;
                            break;
                        }
                    }
                    if !drop {
                        out.push(v.clone());
                    }
                }
                self.mk_list(out)?
            }
            "concat" => {
                let mut out = Vec::new();
                for a in &args {
                    match a {
                        Value::Nil => {}
                        o => {
                            let l = self.list_arg(o, f)?;
                            self.charge(l.items.len() as u64)?;
                            out.extend(l.items.iter().cloned());
                        }
                    }
                }
                self.mk_list(out)?
            }
            // ── dicts ──
            "dict" => {
                let mut m = BTreeMap::new();
                let mut it = args.into_iter();
                while let Some(k) = it.next() {
                    let k = self.strval(&k)?;
                    let v = it.next().unwrap_or_else(|| Value::str(""));
                    m.insert(String::from_utf8_lossy(&k).into_owned(), v);
                }
                self.mk_dict(m)?
            }
            "get" => {
                let [d, k] = self.fixed::<2>(f, args)?;
                let k = self.s(&k)?;
                let k = String::from_utf8_lossy(&k).into_owned();
                match &d {
                    Value::Root => self
                        .root
                        .get(&k)
                        .map(|b| Value::Str(b.clone()))
                        .unwrap_or_else(|| Value::str("")),
                    o => {
                        let i = self.dict_arg(o, f)?;
                        self.dicts
                            .get(i)
                            .and_then(|m| m.get(&k))
                            .cloned()
                            .unwrap_or_else(|| Value::str(""))
                    }
                }
            }
            "hasKey" => {
                let [d, k] = self.fixed::<2>(f, args)?;
                let k = self.s(&k)?;
                let k = String::from_utf8_lossy(&k).into_owned();
                Value::Bool(match &d {
                    Value::Root => self.root.contains_key(&k),
                    o => {
                        let i = self.dict_arg(o, f)?;
                        self.dicts.get(i).is_some_and(|m| m.contains_key(&k))
                    }
                })
            }
            "set" | "unset" => {
                let n = if f == "set" { 3 } else { 2 };
                if args.len() != n {
                    return self.err(format!(
                        "wrong number of args for {f}: want {n} got {}",
                        args.len()
                    ));
                }
                let mut it = args.into_iter();
                let d = it.next().unwrap_or(Value::Nil);
                let i = self.dict_arg(&d, f)?;
                let k = self.s(&it.next().unwrap_or(Value::Nil))?;
                let k = String::from_utf8_lossy(&k).into_owned();
                let v = it.next();
                if let Some(m) = self.dicts.get_mut(i) {
                    match v {
                        Some(v) => {
                            m.insert(k, v);
                        }
                        None => {
                            m.remove(&k);
                        }
                    }
                }
                d
            }
            "keys" | "values" => {
                let mut out = Vec::new();
                for d in &args {
                    if !matches!(d, Value::Root) {
                        self.dict_arg(d, f)?;
                    }
                    let e = self.map_entries(d).unwrap_or_default();
                    self.charge(e.len() as u64)?;
                    for (k, v) in e {
                        out.push(if f == "keys" { Value::str(&k) } else { v });
                    }
                }
                if f == "values" && args.len() != 1 {
                    return self.err(format!(
                        "wrong number of args for values: want 1 got {}",
                        args.len()
                    ));
                }
                self.mk_list(out)?
            }
            "pick" | "omit" => {
                self.at_least(f, &args, 1)?;
                let mut it = args.into_iter();
                let d = it.next().unwrap_or(Value::Nil);
                if !matches!(d, Value::Root) {
                    self.dict_arg(&d, f)?;
                }
                let mut names = Vec::new();
                for k in it {
                    let k = self.s(&k)?;
                    names.push(String::from_utf8_lossy(&k).into_owned());
                }
                let e = self.map_entries(&d).unwrap_or_default();
                self.charge(e.len() as u64)?;
                let m: BTreeMap<String, Value> = e
                    .into_iter()
                    .filter(|(k, _)| names.contains(k) == (f == "pick"))
                    .collect();
                self.mk_dict(m)?
            }
            // ── reflection ──
            "typeOf" | "kindOf" => {
                let [v] = self.fixed::<1>(f, args)?;
                Value::str(if f == "typeOf" {
                    v.type_name()
                } else {
                    v.kind_name()
                })
            }
            "typeIs" | "kindIs" => {
                let [t, v] = self.fixed::<2>(f, args)?;
                let t = self.s(&t)?;
                let name = if f == "typeIs" {
                    v.type_name()
                } else {
                    v.kind_name()
                };
                Value::Bool(t.as_slice() == name.as_bytes())
            }
            "call" => {
                // No value reachable from a Sealed Secrets template is a function.
                self.at_least(f, &args, 1)?;
                match args.first() {
                    Some(Value::Nil) | None => return self.call_err(f, "call of nil"),
                    Some(o) => {
                        let t = o.type_name();
                        return self.call_err(f, format!("non-function of type {t}"));
                    }
                }
            }
            _ => match self.dispatch(f, args)? {
                Some(v) => v,
                None => return self.err(format!("function \"{f}\" not defined")),
            },
        })
    }

    fn parts_value(&mut self, as_map: bool, parts: Vec<Vec<u8>>) -> XR<Value> {
        self.charge(parts.len() as u64)?;
        if as_map {
            let m = parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::Str(new_bytes(p))))
                .collect();
            self.mk_dict(m)
        } else {
            self.mk_list(
                parts
                    .into_iter()
                    .map(|p| Value::Str(new_bytes(p)))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(kv: &[(&str, &[u8])]) -> BTreeMap<String, Zeroizing<Vec<u8>>> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), Zeroizing::new(v.to_vec())))
            .collect()
    }

    fn r(src: &str, kv: &[(&str, &[u8])]) -> Result<Vec<u8>, TemplateError> {
        render("k", src, &data(kv), &Limits::default()).map(|v| v.to_vec())
    }

    #[track_caller]
    fn ok(src: &str, kv: &[(&str, &[u8])], want: &str) {
        match r(src, kv) {
            Ok(v) => assert_eq!(String::from_utf8_lossy(&v), want, "template: {src}"),
            Err(e) => panic!("template {src:?} failed: {e}"),
        }
    }

    #[track_caller]
    fn fails(src: &str, kv: &[(&str, &[u8])], needle: &str) -> String {
        match r(src, kv) {
            Ok(v) => panic!(
                "template {src:?} unexpectedly gave {:?}",
                String::from_utf8_lossy(&v)
            ),
            Err(e) => {
                let m = e.to_string();
                assert!(m.contains(needle), "error {m:?} lacks {needle:?}");
                m
            }
        }
    }

    #[test]
    fn upstream_cases() {
        ok(
            r#"secret {{ index . "foo" }} !"#,
            &[("foo", b"bar")],
            "secret bar !",
        );
        ok("no data at all", &[], "no data at all");
        ok("", &[], "");
        for f in ["env", "expandenv", "getHostByName"] {
            let e = check("k", &format!("{{{{ {f} \"HOME\" }}}}"), &Limits::default()).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("template: k:1: function \"{f}\" not defined")
            );
        }
        fails(
            "{{ nosuchfunc }}",
            &[],
            "function \"nosuchfunc\" not defined",
        );
    }

    #[test]
    fn fields_index_missing() {
        let d: &[(&str, &[u8])] = &[
            ("password", b"hunter2"),
            ("my-key", b"v"),
            ("user", b"admin"),
        ];
        ok("{{ .password }}", d, "hunter2");
        ok("{{.password}}", d, "hunter2");
        ok(r#"{{ index . "my-key" }}"#, d, "v");
        ok(r#"{{ index . "missing" }}|"#, d, "|");
        // Go's default missingkey=default prints "<no value>" for a missing field.
        ok("{{ .missing }}", d, "<no value>");
        ok(r#"{{ .missing | default "x" }}"#, d, "x");
        ok("{{ $.user }}{{ $ := 1 }}", d, "admin");
        fails("{{ .my-key }}", d, "bad character");
        fails("{{ .user.x }}", d, "can't evaluate field x in type string");
    }

    #[test]
    fn pipelines_and_printf() {
        let d: &[(&str, &[u8])] = &[("user", b"admin"), ("pass", b"s3cr3t"), ("x", b"hi")];
        ok("{{ .user | b64enc }}", d, "YWRtaW4=");
        ok("{{ .x | upper | quote }}", d, "\"HI\"");
        ok(
            r#"{{ printf "%s:%s" .user .pass | b64enc }}"#,
            d,
            "YWRtaW46czNjcjN0",
        );
        ok(r#"{{ printf "%q" .x }}"#, d, "\"hi\"");
        ok(
            r#"{{ printf "%d|%5d|%-5d|%05d|%x|%X|%v" 42 42 42 -42 255 255 1.5 }}"#,
            d,
            "42|   42|42   |-0042|ff|FF|1.5",
        );
        ok(
            r#"{{ printf "%8s|%-8s|%.2s|%x|% x" .x .x .user .x .x }}"#,
            d,
            "      hi|hi      |ad|6869|68 69",
        );
        ok(r#"{{ printf "%d %s" 1 }}"#, d, "1 %!s(MISSING)");
        ok(r#"{{ printf "%d" "a" }}"#, d, "%!d(string=a)");
        ok(r#"{{ printf "%s" 1 2 }}"#, d, "%!s(int=1)%!(EXTRA int=2)");
        ok(
            r#"{{ printf "%t %c %q %.2f %e %g %%" true 65 66 3.14159 1234.5678 0.000001 }}"#,
            d,
            "true A 'B' 3.14 1.234568e+03 1e-06 %",
        );
        ok(
            r#"{{ printf "%v %v %v" 1e6 123456.0 100000000.0 }}"#,
            d,
            "1e+06 123456 1e+08",
        );
        ok(r#"{{ print "a" 1 2 "b" }}"#, d, "a1 2b");
        ok(r#"{{ println "a" 1 }}"#, d, "a 1\n");
        ok(r#"{{ "x" | printf "%s-%s" "y" }}"#, d, "y-x");
    }

    #[test]
    fn json_and_quoting() {
        ok(
            "{{ toJson .password }}",
            &[("password", b"p\"w\n")],
            r#""p\"w\n""#,
        );
        ok(
            "{{ toJson .p }}",
            &[("p", b"<a&b>\t\x01")],
            r#""\u003ca\u0026b\u003e\t\u0001""#,
        );
        ok("{{ toJson .p }}", &[("p", b"a\xffb")], r#""a\ufffdb""#);
        ok("{{ toRawJson .p }}", &[("p", b"<a>")], r#""<a>""#);
        ok(
            "{{ toJson . }}",
            &[("a", b"1"), ("b", b"2")],
            r#"{"a":"1","b":"2"}"#,
        );
        ok(
            r#"{{ toPrettyJson (dict "a" 1 "b" (list 1 "x")) }}"#,
            &[],
            "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    \"x\"\n  ]\n}",
        );
        ok(
            r#"{{ toJson (list) }}{{ toJson (dict) }}{{ toJson nil }}"#,
            &[],
            "[]{}null",
        );
        ok(
            r#"{{ (fromJson "{\"a\":[1,2.5,\"s\"],\"b\":null}").a | toJson }}"#,
            &[],
            "[1,2.5,\"s\"]",
        );
        ok(
            r#"{{ quote .a }} {{ squote .a }} {{ quote "a\tb" 1 }}"#,
            &[("a", b"x\"y")],
            r#""x\"y" 'x"y' "a\tb" "1""#,
        );
        ok(
            "{{ quote .a }}",
            &[("a", b"\xff\xc3\xa9\x00")],
            r#""\xffé\x00""#,
        );
    }

    #[test]
    fn yaml() {
        ok(
            r#"{{ toYaml (dict "b" (list "x" "w") "a" "plain" "c" (dict "d" "true" "e" 1)) }}"#,
            &[],
            "a: plain\nb:\n- x\n- w\nc:\n  d: \"true\"\n  e: 1",
        );
        ok(
            r#"{{ toYaml (list (dict "a" 1 "b" 2) "z") }}"#,
            &[],
            "- a: 1\n  b: 2\n- z",
        );
        ok(
            r#"{{ toYaml "a: b" }}|{{ toYaml "" }}|{{ toYaml .p }}"#,
            &[("p", b"l1\nl2")],
            "\"a: b\"|\"\"|\"l1\\nl2\"",
        );
    }

    #[test]
    fn whitespace_comments_control() {
        ok("a  {{- .x -}}  \n b", &[("x", b"X")], "aXb");
        ok("a {{/* comment */}} b", &[], "a  b");
        ok("a {{- /* comment */ -}} b", &[], "ab");
        ok("{{ if .x }}yes{{ else }}no{{ end }}", &[("x", b"1")], "yes");
        ok("{{ if .x }}yes{{ else }}no{{ end }}", &[("x", b"")], "no");
        ok(
            "{{ if .y }}y{{ else if .x }}x{{ else }}n{{ end }}",
            &[("x", b"1")],
            "x",
        );
        ok(
            "{{ with .x }}[{{ . }}]{{ else }}none{{ end }}",
            &[("x", b"v")],
            "[v]",
        );
        ok(
            "{{ with .nope }}[{{ . }}]{{ else }}none{{ end }}",
            &[],
            "none",
        );
        ok(
            "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
            &[("b", b"2"), ("a", b"1"), ("c", b"3")],
            "a=1;b=2;c=3;",
        );
        ok(
            "{{ range . }}{{ . }}{{ end }}",
            &[("b", b"2"), ("a", b"1")],
            "12",
        );
        ok(
            "{{ range $i, $e := list \"x\" \"y\" }}{{ $i }}{{ $e }}{{ end }}",
            &[],
            "0x1y",
        );
        ok("{{ range list }}x{{ else }}empty{{ end }}", &[], "empty");
        ok(
            "{{ range $i := until 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}",
            &[],
            "02",
        );
        ok("{{ range 3 }}{{ . }}{{ end }}", &[], "012");
        ok(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            &[],
            "2",
        );
        ok(
            "{{ $x := \"a\" }}{{ with $y := \"b\" }}{{ $x }}{{ $y }}{{ end }}",
            &[],
            "ab",
        );
        ok(
            "{{ (list 1 2) }} {{ (dict \"a\" 1) }} {{ 1.0 }} {{ 0x10 }} {{ 'a' }} {{ -3 }} {{ `raw\\n` }}",
            &[],
            "[1 2] map[a:1] 1 16 97 -3 raw\\n",
        );
        ok(
            "{{ and 1 0 }} {{ or 0 \"\" 3 }} {{ not 0 }} {{ and 1 2 }}",
            &[],
            "0 3 true 2",
        );
        ok(
            "{{ eq 1 1 }} {{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }}",
            &[],
            "true true true true true true false",
        );
        fails("{{ eq 1 \"a\" }}", &[], "incompatible types for comparison");
        fails("{{ if }}{{ end }}", &[], "missing value for if");
        fails("{{ end }}", &[], "unexpected {{end}}");
        fails("{{ if 1 }}", &[], "unexpected EOF");
        fails("{{ .x", &[], "unclosed action");
        fails("{{ $u }}", &[], "undefined variable \"$u\"");
        fails("{{ break }}", &[], "{{break}} outside {{range}}");
        fails("{{ template \"x\" }}", &[], "template \"x\" not defined");
    }

    #[test]
    fn builtins_len_index_slice() {
        let d: &[(&str, &[u8])] = &[("a", b"hello")];
        ok(
            "{{ len .a }} {{ len . }} {{ len (list 1 2 3) }}",
            d,
            "5 1 3",
        );
        ok(
            "{{ index (list 1 2 3) 1 }} {{ index .a 0 }} {{ index (dict \"k\" \"v\") \"k\" }}",
            d,
            "2 104 v",
        );
        // sprig's `slice` replaces Go's builtin: lists only.
        ok("{{ slice (list 1 2 3) 1 }}", d, "[2 3]");
        fails(
            "{{ slice .a 1 3 }}",
            d,
            "list should be type of slice or array but string",
        );
        fails(
            "{{ index (list 1) 5 }}",
            d,
            "error calling index: index out of range: 5",
        );
        ok(
            "{{ html \"<a href='x'>&\" }} {{ urlquery \"a b&c\" }}",
            d,
            "&lt;a href=&#39;x&#39;&gt;&amp; a+b%26c",
        );
    }

    #[test]
    fn sprig_strings() {
        let d: &[(&str, &[u8])] = &[("s", b"  Hello World  "), ("p", b"a,b,c")];
        ok(
            "{{ upper \"abc\" }} {{ lower \"ABC\" }} {{ title \"hello wo_rld x-y\" }}",
            d,
            "ABC abc Hello Wo_rld X-Y",
        );
        ok("{{ upper \"straße é\" }}", d, "STRAßE É");
        ok(
            "[{{ trim .s }}] [{{ trimAll \"$\" \"$$a$\" }}] [{{ trimPrefix \"ab\" \"abc\" }}] [{{ trimSuffix \"bc\" \"abc\" }}]",
            d,
            "[Hello World] [a] [c] [a]",
        );
        ok(
            "{{ replace \",\" \";\" .p }} {{ replace \"\" \"-\" \"ab\" }}",
            d,
            "a;b;c -a-b-",
        );
        ok("{{ cat \"a\" 1 nil \"b\" }}", d, "a 1 b");
        ok(
            "{{ indent 2 \"a\\nb\" }}|{{ nindent 2 \"a\" }}",
            d,
            "  a\n  b|\n  a",
        );
        ok(
            "{{ repeat 3 \"ab\" }} {{ contains \"ll\" \"hello\" }} {{ hasPrefix \"he\" \"hello\" }} {{ hasSuffix \"x\" \"hello\" }}",
            d,
            "ababab true true false",
        );
        ok(
            "{{ nospace \" a b\\tc \" }} {{ trunc 3 \"abcdef\" }} {{ trunc -2 \"abcdef\" }} {{ abbrev 5 \"abcdefgh\" }}",
            d,
            "abc abc ef ab...",
        );
        ok(
            "{{ substr 1 3 \"abcdef\" }} {{ substr -1 2 \"abcdef\" }} {{ substr 2 99 \"abcdef\" }}",
            d,
            "bc ab cdef",
        );
        ok(
            "{{ plural \"one\" \"many\" 1 }} {{ plural \"one\" \"many\" 2 }}",
            d,
            "one many",
        );
        ok(
            "{{ splitList \",\" .p }} {{ (split \",\" .p)._1 }} {{ splitn \",\" 2 .p }}",
            d,
            "[a b c] b map[_0:a _1:b,c]",
        );
        ok(
            "{{ join \"-\" (splitList \",\" .p) }} {{ join \",\" (list 1 nil \"x\") }}",
            d,
            "a-b-c 1,x",
        );
        ok(
            "{{ sortAlpha (list \"b\" \"a\" \"c\") }} {{ toString 12 }} {{ toStrings (list 1 2) }}",
            d,
            "[a b c] 12 [1 2]",
        );
    }

    #[test]
    fn sprig_encoding() {
        let d: &[(&str, &[u8])] = &[("bin", b"\x00\xff\x10")];
        ok(
            "{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }} {{ b64dec \"!!\" }}",
            d,
            "aGVsbG8= hello illegal base64 data at input byte 0",
        );
        ok(
            "{{ b32enc \"hello\" }} {{ b32dec \"NBSWY3DP\" }} {{ b32enc \"a\" }} {{ b32dec \"ME======\" }}",
            d,
            "NBSWY3DP hello ME====== a",
        );
        ok(
            "{{ sha256sum \"abc\" }}",
            d,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        ok(
            "{{ sha1sum \"abc\" }} {{ adler32sum \"abc\" }}",
            d,
            "a9993e364706816aba3e25717850c26c9cd0d89d 38600999",
        );
        let out = r("{{ .bin | b64enc | b64dec }}", d).unwrap();
        assert_eq!(out, b"\x00\xff\x10");
    }

    #[test]
    fn sprig_numbers_defaults() {
        ok(
            "{{ add 1 2 3 }} {{ add1 1 }} {{ sub 5 2 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 2 }} {{ max 1 5 3 }} {{ min 4 2 }}",
            &[],
            "6 2 3 24 3 1 5 2",
        );
        ok(
            "{{ atoi \"42\" }} {{ int \"7\" }} {{ int64 3.9 }} {{ float64 \"1.5\" }} {{ floor 1.5 }} {{ ceil 1.2 }} {{ until 3 }}",
            &[],
            "42 7 3 1.5 1 2 [0 1 2]",
        );
        ok("{{ add \"2\" 1 }}", &[], "3");
        fails(
            "{{ div 1 0 }}",
            &[],
            "error calling div: runtime error: integer divide by zero",
        );
        ok(
            "{{ default \"d\" \"\" }} {{ default \"d\" \"v\" }} {{ \"\" | default \"p\" }} {{ empty \"\" }} {{ empty 1 }}",
            &[],
            "d v p true false",
        );
        ok(
            "{{ coalesce \"\" 0 \"x\" }} {{ ternary \"a\" \"b\" true }} {{ false | ternary \"a\" \"b\" }} {{ all 1 \"x\" }} {{ any 0 \"\" }}",
            &[],
            "x a b true false",
        );
        fails(
            "{{ ternary \"a\" \"b\" \"notbool\" }}",
            &[],
            "wrong type for value; expected bool; got string",
        );
        fails(
            "{{ upper 1 }}",
            &[],
            "wrong type for value; expected string; got int",
        );
        fails(
            "{{ upper }}",
            &[],
            "wrong number of args for upper: want 1 got 0",
        );
    }

    #[test]
    fn sprig_lists_dicts() {
        ok(
            "{{ list 1 \"a\" }} {{ append (list 1) 2 }} {{ prepend (list 1) 0 }} {{ first (list 1 2) }} {{ last (list 1 2) }} {{ rest (list 1 2) }} {{ initial (list 1 2) }}",
            &[],
            "[1 a] [1 2] [0 1] 1 2 [2] [1]",
        );
        ok(
            "{{ uniq (list 1 1 2) }} {{ has 2 (list 1 2) }} {{ without (list 1 2 3) 2 }} {{ compact (list 0 1 \"\" \"a\") }} {{ reverse (list 1 2) }} {{ concat (list 1) (list 2 3) }}",
            &[],
            "[1 2] true [1 3] [1 a] [2 1] [1 2 3]",
        );
        ok(
            "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ $d }} {{ get $d \"a\" }} {{ hasKey $d \"b\" }} {{ keys $d }} {{ values $d }} {{ unset $d \"a\" }}",
            &[],
            "map[a:1 b:2] 1 true [a b] [1 2] map[b:2]",
        );
        ok(
            "{{ pick (dict \"a\" 1 \"b\" 2) \"a\" }} {{ omit (dict \"a\" 1 \"b\" 2) \"a\" }} {{ keys . }} {{ hasKey . \"x\" }}",
            &[("x", b"1"), ("y", b"2")],
            "map[a:1] map[b:2] [x y] true",
        );
        ok(
            "{{ typeOf 1 }} {{ typeOf \"s\" }} {{ kindOf (list) }} {{ kindIs \"map\" (dict) }} {{ typeIs \"bool\" true }}",
            &[],
            "int string slice true true",
        );
        // self-referencing dicts cannot hang or overflow the stack
        fails(
            "{{ $d := dict }}{{ $_ := set $d \"self\" $d }}{{ toJson $d }}",
            &[],
            "nesting exceeds",
        );
    }

    /// docs/templates.md has one table row per function: implemented ones say so, omitted ones
    /// say "not supported", and no row names a function the registry does not know.
    #[test]
    fn docs_list_every_function() {
        let doc = include_str!("../../docs/templates.md");
        let rows: BTreeMap<&str, &str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once("` | "))
            .collect();
        for f in FUNCTIONS {
            let row = rows
                .get(f)
                .unwrap_or_else(|| panic!("{f}: no row in docs/templates.md"));
            assert!(row.starts_with("implemented"), "{f}: {row}");
        }
        for (f, _) in OMITTED {
            let row = rows
                .get(f)
                .unwrap_or_else(|| panic!("{f}: no row in docs/templates.md"));
            assert!(row.starts_with("**not supported**"), "{f}: {row}");
        }
        for (name, row) in &rows {
            let known = FUNCTIONS.contains(name)
                || OMITTED.iter().any(|(n, _)| n == name)
                || ["env", "expandenv", "getHostByName"].contains(name);
            assert!(known, "docs row for unknown function {name}: {row}");
        }
    }

    #[test]
    fn sha512sum_is_sprig_3_3s() {
        // FIPS 180-2 test vector ("abc"); the Go reference (sprig 3.2.3) has no sha512sum.
        ok(
            "{{ sha512sum \"abc\" }}",
            &[],
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        );
    }

    #[test]
    fn hostile_new_functions_are_bounded() {
        // bcrypt is charged 10,000 steps: a loop of them hits the step limit, not the CPU.
        let e = fails(
            "{{ range until 200 }}{{ bcrypt \"x\" }}{{ end }}",
            &[],
            "steps",
        );
        assert!(!e.contains("x\""));
        // Output bombs through replacement, wrapping and sequences.
        fails(
            "{{ regexReplaceAll \"\" (repeat 1000 \"a\") (repeat 2000 \"b\") }}",
            &[],
            "output exceeds",
        );
        fails(
            "{{ wrapWith 1 (repeat 600000 \"x\") (repeat 1000 \"a b \") }}",
            &[],
            "output exceeds",
        );
        fails("{{ seq 100000000 }}", &[], "steps");
        fails("{{ untilStep 0 100000000 1 }}", &[], "steps");
        fails("{{ randAlphaNum 100000000 }}", &[], "output exceeds");
        fails("{{ randBytes 100000000 }}", &[], "output exceeds");
        // Nesting: a template calling itself, and deepCopy of a dict that contains itself.
        fails(
            "{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}",
            &[],
            "nesting",
        );
        fails(
            "{{ $d := dict }}{{ $_ := set $d \"d\" $d }}{{ deepCopy $d }}",
            &[],
            "nesting",
        );
        fails(
            "{{ $d := dict }}{{ $_ := set $d \"d\" $d }}{{ merge (dict \"d\" (dict)) $d }}",
            &[],
            "nesting",
        );
    }

    #[test]
    fn every_listed_function_is_implemented() {
        for f in FUNCTIONS {
            let src = format!("{{{{ {f} }}}}");
            check("k", &src, &Limits::default()).unwrap();
            if let Err(e) = r(&src, &[]) {
                assert!(!e.to_string().contains("not defined"), "{f}: {e}");
            }
        }
    }

    #[test]
    fn hostile_output_bound() {
        let t = std::time::Instant::now();
        fails(
            "{{ repeat 100000000 \"x\" }}",
            &[],
            "template output exceeds 1048576 bytes",
        );
        fails(
            "{{ range until 2000 }}{{ printf \"%1000000d\" 1 }}{{ end }}",
            &[],
            "exceeds",
        );
        fails(
            "{{ $x := repeat 1000000 \"x\" }}{{ $x }}{{ $x }}",
            &[],
            "template output exceeds 1048576 bytes",
        );
        fails(
            "{{ printf \"%9999999d\" 1 | repeat 1000000 }}",
            &[],
            "exceeds",
        );
        assert!(t.elapsed().as_secs() < 10);
    }

    #[test]
    fn hostile_steps_and_depth() {
        let t = std::time::Instant::now();
        fails(
            "{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}x{{ end }}{{ end }}{{ end }}",
            &[],
            "steps",
        );
        fails("{{ range $i := until 1000000000 }}{{ end }}", &[], "steps");
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
        fails(&deep, &[], "nesting exceeds 100 levels");
        let ifs = format!("{}x{}", "{{if 1}}".repeat(10_000), "{{end}}".repeat(10_000));
        fails(&ifs, &[], "nesting exceeds");
        // 99 levels still work, inside a default-sized test thread stack
        let ok_deep = format!("{{{{ {}1{} }}}}", "(".repeat(99), ")".repeat(99));
        ok(&ok_deep, &[], "1");
        let mut l =
            String::from("{{ $l := list }}{{ range until 500 }}{{ $l = list $l }}{{ end }}");
        l.push_str("{{ len $l }}");
        fails(&l, &[], "nesting exceeds");
        let big = "{{ $x := repeat 1000000 \"ab\" }}";
        fails(big, &[], "exceeds");
        let small = Limits {
            max_steps: 50_000,
            ..Limits::default()
        };
        let e = render(
            "k",
            "{{ $x := repeat 500000 \"a\" }}{{ range until 100000 }}{{ $y := contains \"b\" $x }}{{ end }}",
            &BTreeMap::new(),
            &small,
        );
        assert!(e.unwrap_err().to_string().contains("exceeds 50000 steps"));
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    }

    #[test]
    fn errors_never_leak_values() {
        let secret: &[u8] = b"TOPSECRET-p4ss";
        let d: &[(&str, &[u8])] = &[("pw", secret), ("n", b"12")];
        let cases = [
            "{{ .pw.field }}",
            "{{ .pw 1 }}",
            "{{ index .pw 99 }}",
            "{{ index . .pw }}x{{ index (list 1) .pw }}",
            "{{ eq .pw 1 }}",
            "{{ lt .pw true }}",
            "{{ upper (len .pw) }}",
            "{{ ternary 1 2 .pw }}",
            "{{ range .pw }}{{ end }}",
            "{{ repeat (len .pw) .pw | repeat 100000000 }}",
            "{{ div (int .n) 0 }}",
            "{{ first .pw }}",
            "{{ set .pw \"a\" 1 }}",
            "{{ slice .pw 3 1 }}",
            "{{ substr 5 2 .pw }}",
        ];
        for c in cases {
            let e = r(c, d).expect_err(c);
            let msg = e.to_string();
            let dbg = format!("{e:?}");
            assert!(
                !msg.contains("TOPSECRET") && !dbg.contains("TOPSECRET"),
                "{c}: {msg}"
            );
        }
        let e = r("x\n  {{ .pw.field }}", d).unwrap_err().to_string();
        assert_eq!(
            e,
            "template: k:2:5: executing \"k\" at <.pw.field>: can't evaluate field field in type string"
        );
    }

    #[test]
    fn non_utf8_values() {
        let d: &[(&str, &[u8])] = &[("b", b"\xfe\xffA")];
        assert_eq!(r("{{ .b }}", d).unwrap(), b"\xfe\xffA");
        ok("{{ upper .b }}", d, "\u{fffd}\u{fffd}A");
        ok("{{ len .b }} {{ printf \"%x\" .b }}", d, "3 feff41");
    }
}
