//! Values, the execution state (`Exec`) and the byte-string, number and JSON/YAML string
//! helpers the executor and the functions share (Go's `reflect`-level view of a value).

use super::*;

/// A zeroizing byte buffer with a hard size limit. Growth copies into a new
/// zeroizing allocation so the old one is wiped.
pub(in crate::template) struct SecBuf {
    pub(in crate::template) v: Zeroizing<Vec<u8>>,
    pub(in crate::template) limit: usize,
}

/// Marker: a buffer would exceed its limit.
pub(in crate::template) struct Overflow;

impl SecBuf {
    pub(in crate::template) fn new(limit: usize) -> Self {
        SecBuf {
            v: Zeroizing::new(Vec::new()),
            limit,
        }
    }
    pub(in crate::template) fn push(&mut self, b: &[u8]) -> Result<(), Overflow> {
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
    pub(in crate::template) fn push_str(&mut self, s: &str) -> Result<(), Overflow> {
        self.push(s.as_bytes())
    }
    pub(in crate::template) fn push_char(&mut self, c: char) -> Result<(), Overflow> {
        let mut tmp = [0u8; 4];
        self.push(c.encode_utf8(&mut tmp).as_bytes())
    }
    pub(in crate::template) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.v
    }
    pub(in crate::template) fn into_value(self) -> Value {
        Value::Str(Rc::new(self.v))
    }
}

impl Default for SecBuf {
    fn default() -> Self {
        SecBuf::new(0)
    }
}

pub(in crate::template) type Bytes = Rc<Zeroizing<Vec<u8>>>;

pub(in crate::template) fn new_bytes(v: Vec<u8>) -> Bytes {
    Rc::new(Zeroizing::new(v))
}

/// A template value. Deliberately not `Debug`: it may hold plaintext.
#[derive(Clone)]
pub(in crate::template) enum Value {
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
    /// A Go value with methods: `time.Time`, `*semver.Version`.
    Obj(Rc<Obj>),
}

/// The Go struct values a function may return (read through their methods).
pub(in crate::template) enum Obj {
    Time(super::funcs::GoTime),
    Version(super::funcs::Version),
    Cert(super::funcs::CertPair),
}

impl Obj {
    pub(in crate::template) fn type_name(&self) -> &'static str {
        match self {
            Obj::Time(_) => "time.Time",
            Obj::Version(v) if v.pointer => "*semver.Version",
            Obj::Version(_) => "semver.Version",
            Obj::Cert(_) => "sprig.certificate",
        }
    }
    pub(in crate::template) fn kind_name(&self) -> &'static str {
        match self {
            Obj::Version(v) if v.pointer => "ptr",
            _ => "struct",
        }
    }
    /// Go's `==` on two such values.
    pub(in crate::template) fn same(self: &Rc<Self>, o: &Rc<Self>) -> bool {
        match (&**self, &**o) {
            (Obj::Time(a), Obj::Time(b)) => a.same(b),
            (Obj::Version(a), Obj::Version(b)) if a.pointer && b.pointer => Rc::ptr_eq(self, o),
            (Obj::Version(a), Obj::Version(b)) => {
                !a.pointer && !b.pointer && a.string() == b.string()
            }
            _ => false,
        }
    }
    /// What fmt prints (`String()`).
    pub(in crate::template) fn string(&self) -> String {
        match self {
            Obj::Time(t) => t.string(),
            Obj::Version(v) => v.string(),
            Obj::Cert(c) => format!("{{{} {}}}", c.cert, c.key.as_str()),
        }
    }
    /// `json.Marshal` of the value (`None`: Go's marshaller fails).
    pub(in crate::template) fn json(&self) -> Option<String> {
        match self {
            Obj::Time(t) => t.json(),
            Obj::Version(v) => {
                let mut out = Vec::new();
                push_json_str(&mut out, v.string().as_bytes(), true);
                String::from_utf8(out).ok()
            }
            Obj::Cert(c) => {
                let mut out = b"{\"Cert\":".to_vec();
                push_json_str(&mut out, c.cert.as_bytes(), true);
                out.extend_from_slice(b",\"Key\":");
                push_json_str(&mut out, c.key.as_bytes(), true);
                out.push(b'}');
                String::from_utf8(out).ok()
            }
        }
    }
    /// A method call, `None` when the type has no such method (or not with these arguments).
    pub(in crate::template) fn method(&self, name: &str, args: &[Value]) -> Option<Value> {
        match self {
            Obj::Time(t) => t.method(name, args),
            Obj::Version(v) => v.method(name, args),
            Obj::Cert(c) if args.is_empty() => c.field(name),
            Obj::Cert(_) => None,
        }
    }
}

/// What the host hands an execution besides the data: the clock and the zoneinfo files.
pub struct Env<'a> {
    /// The wall clock (`time.Now()`): seconds and nanoseconds since the Unix epoch.
    pub now_unix: (i64, u32),
    /// The monotonic clock reading `time.Now()` carries (nanoseconds since the process started).
    pub now_mono: i64,
    /// The TZif data of a zone name (`Europe/Paris`), as `time.LoadLocation` reads it.
    pub zoneinfo: &'a dyn Fn(&str) -> Option<Vec<u8>>,
}

pub(in crate::template) struct ListVal {
    pub(in crate::template) items: Vec<Value>,
    /// Nesting depth of directly nested lists (bounds recursive drops).
    pub(in crate::template) depth: usize,
    /// Go's nil `[]interface {}` (sprig's `rest` and `initial` of an empty list): empty, printed
    /// as `[]`, but JSON `null` and not deeply equal to an empty list.
    pub(in crate::template) nil_slice: bool,
}

impl Value {
    pub(in crate::template) fn str(s: &str) -> Value {
        Value::Str(new_bytes(s.as_bytes().to_vec()))
    }
    pub(in crate::template) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Dict(_) => "map[string]interface {}",
            Value::Root => "map[string]string",
            Value::Obj(o) => o.type_name(),
        }
    }
    pub(in crate::template) fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Dict(_) | Value::Root => "map",
            Value::Obj(o) => o.kind_name(),
        }
    }
}

pub(in crate::template) enum XErr {
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

pub(in crate::template) type XR<T> = Result<T, XErr>;

pub(in crate::template) enum Flow {
    Normal,
    Break,
    Continue,
}

pub(in crate::template) struct Exec<'a> {
    pub(in crate::template) name: &'a str,
    pub(in crate::template) src: &'a str,
    pub(in crate::template) limits: &'a Limits,
    pub(in crate::template) root: BTreeMap<String, Bytes>,
    pub(in crate::template) dicts: Vec<BTreeMap<String, Value>>,
    pub(in crate::template) vars: Vec<(String, Value)>,
    pub(in crate::template) steps: u64,
    pub(in crate::template) out: SecBuf,
    pub(in crate::template) cur: Span,
    /// The random functions' source (`randAlphaNum`, `uuidv4`, `bcrypt` salts, …).
    pub(in crate::template) rng: &'a mut dyn CryptoRng,
    /// The templates `{{define}}` and `{{block}}` named.
    pub(in crate::template) defs: &'a BTreeMap<String, Vec<Node>>,
    /// Nested `{{template}}` calls.
    pub(in crate::template) calls: usize,
    /// The clock and the time zones.
    pub(in crate::template) env: &'a Env<'a>,
}

/// Go's `unicode.IsSpace`.
pub(in crate::template) fn is_unicode_space(c: char) -> bool {
    c.is_whitespace()
}

/// Decode one rune Go-style: `(Some(c), len)` or `(None, 1)` for an invalid byte.
pub(in crate::template) fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
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
pub(in crate::template) fn runes(b: &[u8]) -> Vec<(usize, usize, Option<char>)> {
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

pub(in crate::template) fn rune_count(b: &[u8]) -> usize {
    runes(b).len()
}

/// Non-overlapping occurrences of `needle` (non-empty) in `hay`, linear time (KMP).
pub(in crate::template) fn find_all(hay: &[u8], needle: &[u8], max: usize) -> Vec<usize> {
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

pub(in crate::template) fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || !find_all(hay, needle, 1).is_empty()
}

/// Go's strings.Split / SplitN (n < 0: all).
pub(in crate::template) fn split_bytes(s: &[u8], sep: &[u8], n: i64) -> Vec<Vec<u8>> {
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

pub(in crate::template) fn simple_upper(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

pub(in crate::template) fn simple_lower(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// strings.Title separator rule.
pub(in crate::template) fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's `strconv.IsPrint` (approximation for non-ASCII).
pub(in crate::template) fn is_print(c: char) -> bool {
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
pub(in crate::template) fn go_quote_into(out: &mut Vec<u8>, s: &[u8], q: char, ascii: bool) {
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
pub(in crate::template) fn scratch(n: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Vec::with_capacity(n.saturating_mul(10).saturating_add(16)))
}

pub(in crate::template) fn go_quote(s: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = scratch(s.len());
    go_quote_into(&mut v, s, '"', false);
    v
}

pub(in crate::template) fn can_backquote(s: &[u8]) -> bool {
    runes(s).iter().all(|(_, _, c)| match c {
        None => false,
        Some(c) => *c != '`' && *c != '\u{feff}' && (*c == '\t' || !(*c < ' ' || *c == '\x7f')),
    })
}

// ── float formatting (Go strconv semantics) ──

/// Significant digits (no trailing zeros) and decimal point position.
pub(in crate::template) fn float_digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
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

pub(in crate::template) fn fmt_e_digits(d: &[u8], dp: i32, prec: usize, upper: bool) -> String {
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

pub(in crate::template) fn fmt_f_digits(d: &[u8], dp: i32, prec: usize) -> String {
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

pub(in crate::template) fn float_special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

/// strconv.FormatFloat(f, 'g'|'G', prec, 64) (prec None = shortest).
pub(in crate::template) fn go_fmt_g(f: f64, prec: Option<usize>, upper: bool) -> String {
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

/// The sign, unbiased binary exponent and 53-bit mantissa of `f` as strconv reads them (a
/// subnormal's exponent is the smallest normal one, its mantissa without the implicit bit).
fn float_parts(f: f64) -> (bool, i64, u64) {
    let bits = f.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let mut mant = bits & ((1u64 << 52) - 1);
    let exp = if biased == 0 {
        1 - 1023
    } else {
        mant |= 1u64 << 52;
        biased - 1023
    };
    (bits >> 63 != 0, exp, mant)
}

/// strconv.FormatFloat(f, 'x'|'X', prec, 64): `-0x1.8p+00` (prec None = as many hexadecimal
/// digits as the value needs; a precision rounds half to even, as strconv's fmtX does).
pub(in crate::template) fn go_fmt_x(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = float_special(f) {
        return s;
    }
    let (neg, mut exp, mut mant) = float_parts(f);
    if mant == 0 {
        exp = 0;
    }
    // The leading 1 (if any) at bit 60.
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|&p| p < 15) {
        let shift = u32::try_from(p * 4).unwrap_or(0);
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            // Rounded up to the next power of two.
            mant >>= 1;
            exp += 1;
        }
    }
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let nibble = |m: u64| {
        char::from(
            digits
                .get(((m >> 60) & 15) as usize)
                .copied()
                .unwrap_or(b'0'),
        )
    };
    let mut s = String::with_capacity(24);
    if neg {
        s.push('-');
    }
    s.push_str(if upper { "0X" } else { "0x" });
    s.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4; // drop the leading digit
    match prec {
        None if mant != 0 => {
            s.push('.');
            while mant != 0 {
                s.push(nibble(mant));
                mant <<= 4;
            }
        }
        Some(p) if p > 0 => {
            s.push('.');
            for _ in 0..p {
                s.push(nibble(mant));
                mant <<= 4;
            }
        }
        _ => {}
    }
    s.push(if upper { 'P' } else { 'p' });
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
    s
}

/// strconv.FormatFloat(f, 'b', -1, 64): the integer mantissa and the binary exponent
/// (`6755399441055744p-52`).
pub(in crate::template) fn go_fmt_b(f: f64) -> String {
    if let Some(s) = float_special(f) {
        return s;
    }
    let (neg, exp, mant) = float_parts(f);
    let exp = exp - 52;
    format!(
        "{}{mant}p{}{exp}",
        if neg { "-" } else { "" },
        if exp >= 0 { "+" } else { "" }
    )
}

/// fmt's `#` flag on a formatted float (`s`, finite, sign included): a decimal point always, and
/// for `%g` and `%x` (not `%X`: fmt's own switch leaves it out) the trailing zeros up to the
/// precision (6 when none), counted as fmt counts them — from the first character other than
/// `0`, the `x` of `0x` included.
pub(in crate::template) fn go_float_sharp(s: &str, conv: char, prec: Option<usize>) -> String {
    let (sign, body) = match s.strip_prefix(['-', '+']) {
        Some(rest) => (s.get(..1).unwrap_or(""), rest),
        None => ("", s),
    };
    let mut digits: i64 = match conv {
        'g' | 'G' | 'x' => prec.map_or(6, |p| i64::try_from(p).unwrap_or(i64::MAX)),
        _ => 0,
    };
    let mut num = body;
    let mut tail = "";
    let mut has_point = false;
    let mut saw_nonzero = false;
    for (i, c) in body.char_indices() {
        match c {
            '.' => has_point = true,
            'p' | 'P' => {
                (num, tail) = body.split_at(i);
                break;
            }
            'e' | 'E' if conv != 'x' && conv != 'X' => {
                (num, tail) = body.split_at(i);
                break;
            }
            _ => {
                if c != '0' {
                    saw_nonzero = true;
                }
                if saw_nonzero {
                    digits -= 1;
                }
            }
        }
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(sign);
    out.push_str(num);
    if !has_point {
        // A lone leading 0 counts once.
        if num == "0" {
            digits -= 1;
        }
        out.push('.');
    }
    while digits > 0 {
        out.push('0');
        digits -= 1;
    }
    out.push_str(tail);
    out
}

pub(in crate::template) fn go_fmt_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = float_special(f) {
        return s;
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (d, dp) = float_digits(f, Some(prec + 1));
    format!("{sign}{}", fmt_e_digits(&d, dp, prec, upper))
}

pub(in crate::template) fn go_fmt_f(f: f64, prec: usize) -> String {
    if let Some(s) = float_special(f) {
        return s;
    }
    format!("{:.*}", prec, f)
}

/// encoding/json float formatting.
pub(in crate::template) fn json_float(f: f64) -> Option<String> {
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
        // encoding/json writes negative zero as `-0` (strconv's 'f' format keeps the sign).
        return Some(if f.is_sign_negative() { "-0" } else { "0" }.into());
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
pub(in crate::template) struct Spec {
    pub(in crate::template) minus: bool,
    pub(in crate::template) plus: bool,
    pub(in crate::template) sharp: bool,
    pub(in crate::template) zero: bool,
    pub(in crate::template) space: bool,
    pub(in crate::template) width: Option<usize>,
    pub(in crate::template) prec: Option<usize>,
}

pub(in crate::template) const FMT_MAX_NUM: usize = 1_000_000;

pub(in crate::template) fn strval_is_string(v: &Value) -> bool {
    matches!(v, Value::Str(_))
}

/// cast.ToInt64-like lenient conversion.
pub(in crate::template) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.is_finite() => *f as i64,
        Value::Float(_) => 0,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            // spf13/cast: strconv.ParseInt(trimZeroDecimal(s), 0, 0), no space trimming.
            let t = std::str::from_utf8(s).unwrap_or("");
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

pub(in crate::template) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => std::str::from_utf8(s)
            .ok()
            // spf13/cast: strconv.ParseFloat(s, 64), no space trimming; Go accepts `_`
            // between digits.
            .and_then(|t| {
                if !t.contains('_') {
                    return t.parse::<f64>().ok();
                }
                let b = t.as_bytes();
                let ok = b.iter().enumerate().all(|(i, &c)| {
                    c != b'_'
                        || (i > 0
                            && b.get(i - 1).is_some_and(u8::is_ascii_alphanumeric)
                            && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit))
                });
                if !ok {
                    return None;
                }
                t.replace('_', "").parse::<f64>().ok()
            })
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

pub(in crate::template) fn truth(v: &Value, ex: &Exec<'_>) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::List(l) => !l.items.is_empty(),
        Value::Dict(i) => ex.dicts.get(*i).is_some_and(|d| !d.is_empty()),
        Value::Root => !ex.root.is_empty(),
        Value::Obj(_) => true,
    }
}

pub(in crate::template) fn push_json_str(out: &mut Vec<u8>, s: &[u8], html: bool) {
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

pub(in crate::template) fn yaml_plain_ok(s: &str) -> bool {
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

pub(in crate::template) fn push_yaml_str(out: &mut Vec<u8>, s: &[u8]) {
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
