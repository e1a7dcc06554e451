//! Go's builtin functions (`funcs.go`) and the sprig functions of the first implementation
//! (defaults, strings, encoding, numbers, lists, dicts, reflection): `Exec::apply`, the one
//! entry point every call goes through; the other families are reached from its last arm.

use super::super::*;

pub(in crate::template) fn b64_engine() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    )
}

pub(in crate::template) const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub(in crate::template) fn b32_encode(s: &[u8]) -> Vec<u8> {
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

/// Go's `base32.StdEncoding.DecodeString`: newlines are stripped first, then 8-character quanta
/// with Go's padding rules; `Err` is the offset Go's `CorruptInputError` reports.
pub(in crate::template) fn b32_decode(s: &[u8]) -> Result<Vec<u8>, usize> {
    let src: Zeroizing<Vec<u8>> = Zeroizing::new(
        s.iter()
            .copied()
            .filter(|c| *c != b'\r' && *c != b'\n')
            .collect(),
    );
    let olen = src.len();
    let mut rest: &[u8] = &src;
    let mut out = Vec::with_capacity(olen / 8 * 5 + 5);
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            let Some((&c, tail)) = rest.split_first() else {
                return Err(olen - j);
            };
            rest = tail;
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return Err(olen);
                }
                for k in 0..7 - j {
                    if rest.get(k).is_some_and(|&x| x != b'=') {
                        return Err((olen + k).saturating_sub(rest.len() + 1));
                    }
                }
                dlen = j;
                end = true;
                if matches!(dlen, 1 | 3 | 6) {
                    return Err(olen - rest.len() - 1);
                }
                break;
            }
            let Some(v) = B32.iter().position(|x| *x == c) else {
                return Err(olen - rest.len() - 1);
            };
            if let Some(slot) = dbuf.get_mut(j) {
                *slot = v as u8;
            }
            j += 1;
        }
        let [d0, d1, d2, d3, d4, d5, d6, d7] = dbuf;
        let bytes = [
            (d0 << 3) | (d1 >> 2),
            (d1 << 6) | (d2 << 1) | (d3 >> 4),
            (d3 << 4) | (d4 >> 1),
            (d4 << 7) | (d5 << 2) | (d6 >> 3),
            (d6 << 5) | d7,
        ];
        let n = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        out.extend_from_slice(bytes.get(..n).unwrap_or_default());
    }
    Ok(out)
}

/// Go's `base64.StdEncoding.DecodeString` (not strict): 4-character quanta, `\r` and `\n`
/// skipped where they stand, Go's padding rules; `Err` is the offset Go reports.
pub(in crate::template) fn b64_decode(src: &[u8]) -> Result<Zeroizing<Vec<u8>>, usize> {
    fn val(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let at = |i: usize| src.get(i).copied();
    let is_nl = |c: Option<u8>| matches!(c, Some(b'\n' | b'\r'));
    let mut out = Zeroizing::new(Vec::with_capacity(src.len() / 4 * 3 + 3));
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0;
        let mut trailing = None;
        while j < 4 {
            let Some(c) = at(si) else {
                if j > 0 {
                    // StdEncoding pads: a short final quantum is an error.
                    return Err(si - j);
                }
                dlen = 0;
                break;
            };
            si += 1;
            if let Some(v) = val(c) {
                if let Some(slot) = dbuf.get_mut(j) {
                    *slot = v;
                }
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while is_nl(at(si)) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if at(si) != Some(b'=') {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while is_nl(at(si)) {
                si += 1;
            }
            if si < src.len() {
                trailing = Some(si);
            }
            dlen = j;
            break;
        }
        let v = (u32::from(dbuf[0]) << 18)
            | (u32::from(dbuf[1]) << 12)
            | (u32::from(dbuf[2]) << 6)
            | u32::from(dbuf[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(bytes.get(..dlen.saturating_sub(1)).unwrap_or_default());
        if let Some(t) = trailing {
            return Err(t);
        }
        if dlen < 4 {
            break;
        }
    }
    Ok(out)
}

/// text/template's `evalArgs` for `html`, `js` and `urlquery`: a missing value prints as
/// `<no value>` (a string, so `fmt.Sprint` puts no space around it).
pub(in crate::template) fn no_value_for_nil(args: Vec<Value>) -> Vec<Value> {
    args.into_iter()
        .map(|a| match a {
            Value::Nil => Value::str("<no value>"),
            other => other,
        })
        .collect()
}

pub(in crate::template) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

pub(in crate::template) fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).into()
}

pub(in crate::template) fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(in crate::template) fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

impl Exec<'_> {
    #[allow(clippy::too_many_lines)]
    pub(in crate::template) fn apply(&mut self, f: &'static str, args: Vec<Value>) -> XR<Value> {
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
                let args = no_value_for_nil(args);
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
                    // goutils.DeleteWhiteSpace walks bytes, each taken as a rune: when it removes
                    // anything, a non-ASCII byte comes out as its Latin-1 character (two bytes);
                    // 0x85 and 0xA0 count as space. When nothing is removed, the input is kept.
                    if !s.iter().any(|&byte| is_unicode_space(char::from(byte))) {
                        return Ok(Value::Str(s));
                    }
                    let mut b = self.buf();
                    for &byte in s.iter() {
                        let c = char::from(byte);
                        if !is_unicode_space(c) {
                            let mut t = [0u8; 4];
                            b.push(c.encode_utf8(&mut t).as_bytes())?;
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
                // Every argument is checked, left to right, before the call (as reflect does).
                let (one, many, n) = (self.s(&one)?, self.s(&many)?, self.i(&n)?);
                Value::Str(if n == 1 { one } else { many })
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
                if matches!(v, Value::Nil) {
                    // Not a slice: sprig returns []string{strval(nil)}.
                    return self.mk_list(vec![Value::str("<nil>")]);
                }
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
                    "b64dec" => match b64_decode(&s) {
                        Ok(v) => Value::Str(Rc::new(v)),
                        Err(at) => Value::str(&format!("illegal base64 data at input byte {at}")),
                    },
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
                    // sprig: reflect.TypeOf(nil).Kind() panics.
                    Value::Nil => {
                        return self.call_err(
                            f,
                            "runtime error: invalid memory address or nil pointer dereference",
                        );
                    }
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
                    // sprig returns a nil slice for an empty list (JSON `null`).
                    "rest" | "initial" if n == 0 => self.nil_list(),
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
                        // sprig: reflect.TypeOf(nil).Kind() panics.
                        Value::Nil => {
                            return self.call_err(
                                f,
                                "runtime error: invalid memory address or nil pointer dereference",
                            );
                        }
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
                let d = self.nil_as_map(d)?;
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
                let d = self.nil_as_map(d)?;
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
                if f == "set" && matches!(d, Value::Nil) {
                    return self.call_err(f, "assignment to entry in nil map");
                }
                let d = self.nil_as_map(d)?;
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
                let mut maps = Vec::with_capacity(args.len());
                for a in args {
                    maps.push(self.nil_as_map(a)?);
                }
                let args = maps;
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
                let d = self.nil_as_map(it.next().unwrap_or(Value::Nil))?;
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

    pub(in crate::template) fn parts_value(
        &mut self,
        as_map: bool,
        parts: Vec<Vec<u8>>,
    ) -> XR<Value> {
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
