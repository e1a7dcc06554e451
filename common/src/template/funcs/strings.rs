//! sprig `strings.go` functions `template.rs` does not already have, and the goutils
//! (`Masterminds/goutils`) helpers they call: `untitle`, `initials`, `swapcase`, `wrap`,
//! `wrapWith`, `abbrevboth`, the `rand*` strings, `shuffle`; plus `hello`, `fail`, `trimall`
//! and `typeIsLike` from `functions.go` / `reflect.go`; the `must*` JSON variants; Go's `js`.

use super::Answer;
use crate::template::{
    Exec, Value, XR, is_print, is_unicode_space, new_bytes, runes, simple_lower, simple_upper,
};

/// goutils `WrapCustom` (byte offsets, words split at ' ').
fn wrap_custom(s: &[u8], width: i64, nl: &[u8], long_words: bool) -> Vec<u8> {
    if s.is_empty() {
        return Vec::new();
    }
    let nl: &[u8] = if nl.is_empty() { b"\n" } else { nl };
    let w = usize::try_from(width.max(1)).unwrap_or(1);
    let len = s.len();
    let mut off = 0usize;
    let mut out = Vec::with_capacity(len + len / w.max(1) + 1);
    while len - off > w {
        if s.get(off) == Some(&b' ') {
            off += 1;
            continue;
        }
        let end = (w + off + 1).min(len);
        let window = s.get(off..end).unwrap_or_default();
        match window.iter().rposition(|&b| b == b' ') {
            Some(p) => {
                let at = off + p;
                out.extend_from_slice(s.get(off..at).unwrap_or_default());
                out.extend_from_slice(nl);
                off = at + 1;
            }
            None if long_words => {
                out.extend_from_slice(s.get(off..off + w).unwrap_or_default());
                out.extend_from_slice(nl);
                off += w;
            }
            None => {
                let end = w + off;
                match s
                    .get(end..)
                    .unwrap_or_default()
                    .iter()
                    .position(|&b| b == b' ')
                {
                    None => {
                        out.extend_from_slice(s.get(off..).unwrap_or_default());
                        off = len;
                    }
                    Some(i) => {
                        let at = i + end;
                        out.extend_from_slice(s.get(off..at).unwrap_or_default());
                        out.extend_from_slice(nl);
                        off = at + 1;
                    }
                }
            }
        }
    }
    out.extend_from_slice(s.get(off..).unwrap_or_default());
    out
}

/// goutils `AbbreviateFull` (byte offsets); `None` is its error (sprig then prints "").
fn abbreviate_full(s: &[u8], offset: i64, max: i64) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    if max < 4 {
        return None;
    }
    let len = s.len() as i64;
    if len <= max {
        return Some(s.to_vec());
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    let cut = |a: i64, b: i64| -> Vec<u8> {
        let (a, b) = (
            usize::try_from(a).unwrap_or(0),
            usize::try_from(b).unwrap_or(0),
        );
        s.get(a..b).unwrap_or_default().to_vec()
    };
    if offset <= 4 {
        let mut v = cut(0, max - 3);
        v.extend_from_slice(b"...");
        return Some(v);
    }
    if max < 7 {
        return None;
    }
    let mut v = b"...".to_vec();
    if offset + max - 3 < len {
        let rest = cut(offset, len);
        v.extend(abbreviate_full(&rest, 0, max - 3)?);
    } else {
        v.extend(cut(len - (max - 3), len));
    }
    Some(v)
}

fn is_title(c: char) -> bool {
    // The Unicode titlecase letters (category Lt).
    matches!(c, '\u{01C5}' | '\u{01C8}' | '\u{01CB}' | '\u{01F2}' | '\u{1F88}'..='\u{1F8F}'
        | '\u{1F98}'..='\u{1F9F}' | '\u{1FA8}'..='\u{1FAF}' | '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}')
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let v = match f {
        "js" => {
            // Go's builtin js: text/template.JSEscapeString of the arguments' fmt.Sprint.
            let args = super::builtins::no_value_for_nil(args);
            let text = if let [Value::Str(s)] = args.as_slice() {
                s.clone()
            } else {
                let mut b = ex.buf();
                ex.sprint(&mut b, &args, false)?;
                std::rc::Rc::new(b.into_inner())
            };
            let mut b = ex.buf();
            for (st, len, c) in runes(&text) {
                let raw = text.get(st..st + len).unwrap_or_default();
                match c {
                    Some('\\') => b.push(b"\\\\")?,
                    Some('\'') => b.push(b"\\'")?,
                    Some('"') => b.push(b"\\\"")?,
                    Some('<') => b.push(b"\\u003C")?,
                    Some('>') => b.push(b"\\u003E")?,
                    Some('&') => b.push(b"\\u0026")?,
                    Some('=') => b.push(b"\\u003D")?,
                    Some(c) if (c as u32) < 0x20 => b.push_str(&format!("\\u{:04X}", c as u32))?,
                    Some(c) if (c as u32) < 0x80 || is_print(c) => b.push(raw)?,
                    Some(c) => b.push_str(&format!("\\u{:04X}", c as u32))?,
                    // Invalid UTF-8: DecodeRune gives U+FFFD, which is printable: the byte stays.
                    None => b.push(raw)?,
                }
            }
            b.into_value()
        }
        "mustToJson" => ex.apply("toJson", args)?,
        "mustToPrettyJson" => ex.apply("toPrettyJson", args)?,
        "mustToRawJson" => ex.apply("toRawJson", args)?,
        "mustFromJson" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let t = ex.s(&s)?;
            if serde_json::from_slice::<serde::de::IgnoredAny>(&t).is_err() {
                return ex.call_err(f, "invalid JSON");
            }
            ex.apply("fromJson", vec![s])?
        }
        "hello" => {
            ex.fixed::<0>(f, args)?;
            Value::str("Hello!")
        }
        "fail" => {
            let [m] = ex.fixed::<1>(f, args)?;
            // The message is the template author's, not a data value: but it may have been
            // built from one, so it is not repeated.
            ex.s(&m)?;
            return ex.call_err(f, "fail was called");
        }
        "trimall" => {
            // sprig: func(a, b string) string { return strings.Trim(b, a) }, like trimAll.
            ex.apply("trimAll", args)?
        }
        "typeIsLike" => {
            let [t, v] = ex.fixed::<2>(f, args)?;
            let t = ex.s(&t)?;
            let name = v.type_name();
            let star = format!("*{name}");
            Value::Bool(t.as_slice() == name.as_bytes() || t.as_slice() == star.as_bytes())
        }
        "untitle" | "swapcase" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.text(&s)?;
            let mut out = String::with_capacity(s.len());
            let mut gap = true;
            for c in s.chars() {
                if f == "untitle" {
                    if is_unicode_space(c) {
                        gap = true;
                        out.push(c);
                    } else if gap {
                        out.push(simple_lower(c));
                        gap = false;
                    } else {
                        out.push(c);
                    }
                } else if c.is_uppercase() || is_title(c) {
                    out.push(simple_lower(c));
                    gap = false;
                } else if c.is_lowercase() {
                    out.push(simple_upper(c));
                    gap = false;
                } else {
                    gap = is_unicode_space(c);
                    out.push(c);
                }
            }
            let _ = gap;
            Value::str(&out)
        }
        "initials" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.s(&s)?;
            // goutils: byte by byte, each byte taken as a rune (so non-ASCII bytes become
            // U+0080..U+00FF, two bytes each in the output).
            let mut out = String::new();
            let mut gap = true;
            for &b in s.iter() {
                let c = char::from(b);
                if is_unicode_space(c) || (b == 0x85 || b == 0xA0) {
                    gap = true;
                } else if gap {
                    out.push(c);
                    gap = false;
                }
            }
            Value::str(&out)
        }
        "wrap" => {
            let [w, s] = ex.fixed::<2>(f, args)?;
            let (w, s) = (ex.i(&w)?, ex.s(&s)?);
            ex.check_len(s.len().saturating_mul(2))?;
            Value::Str(new_bytes(wrap_custom(&s, w, b"", false)))
        }
        "wrapWith" => {
            let [w, sep, s] = ex.fixed::<3>(f, args)?;
            let (w, sep, s) = (ex.i(&w)?, ex.s(&sep)?, ex.s(&s)?);
            let lines = s.len() / usize::try_from(w.max(1)).unwrap_or(1) + 1;
            ex.check_len(
                s.len()
                    .saturating_add(lines.saturating_mul(sep.len().max(1))),
            )?;
            Value::Str(new_bytes(wrap_custom(&s, w, &sep, true)))
        }
        "abbrevboth" => {
            let [l, r, s] = ex.fixed::<3>(f, args)?;
            let (l, r, s) = (ex.i(&l)?, ex.i(&r)?, ex.s(&s)?);
            if r < 4 || (l > 0 && r < 7) {
                Value::Str(s)
            } else {
                Value::Str(new_bytes(abbreviate_full(&s, l, r).unwrap_or_default()))
            }
        }
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => {
            let [n] = ex.fixed::<1>(f, args)?;
            let n = ex.i(&n)?;
            // goutils returns an error for n < 0, which sprig drops: "".
            let n = usize::try_from(n).unwrap_or(0);
            ex.check_len(n)?;
            ex.charge(n as u64)?;
            let alphabet: &[u8] = match f {
                "randAlphaNum" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "randAlpha" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "randNumeric" => b"0123456789",
                _ => b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
            };
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let i = ex.random_below(alphabet.len() as u64)?;
                out.push(alphabet.get(i as usize).copied().unwrap_or(b'a'));
            }
            Value::Str(new_bytes(out))
        }
        "shuffle" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.text(&s)?;
            let mut runes: Vec<char> = s.chars().collect();
            ex.charge(runes.len() as u64)?;
            // Fisher–Yates, as xstrings.Shuffle (math/rand) does.
            for i in (1..runes.len()).rev() {
                let j = ex.random_below(i as u64 + 1)? as usize;
                runes.swap(i, j);
            }
            Value::str(&runes.into_iter().collect::<String>())
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}
