//! `snakecase`, `camelcase` and `kebabcase`: sprig calls huandu/xstrings' `ToSnakeCase`,
//! `ToCamelCase` and `ToKebabCase`. This is the same word scanner (`nextWord`) and the same
//! joining rules, over runes (an invalid byte is one `ERR` rune, skipped while classifying as
//! `nextValidRune` does) with the input's bytes beside them, since Go copies most words byte for
//! byte. Unicode categories are approximated with Rust's: `IsLetter` by
//! `is_alphabetic` (which adds a few marks), `IsUpper` by `is_uppercase`, `IsPunct` exactly for
//! ASCII and by the General Punctuation and CJK punctuation blocks above it.

use super::Answer;
use crate::template::value::{new_bytes, runes};
use crate::template::{Exec, Value, XR, simple_lower, simple_upper};

fn push(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// Go's `unicode.IsPunct` (category P).
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return matches!(
            c,
            '!' | '"'
                | '#'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | ','
                | '-'
                | '.'
                | '/'
                | ':'
                | ';'
                | '?'
                | '@'
                | '['
                | '\\'
                | ']'
                | '_'
                | '{'
                | '}'
        );
    }
    matches!(c, '\u{00A1}' | '\u{00A7}' | '\u{00AB}' | '\u{00B6}' | '\u{00B7}' | '\u{00BB}'
        | '\u{00BF}' | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{2043}' | '\u{2045}'..='\u{2051}'
        | '\u{2053}'..='\u{205E}' | '\u{3001}'..='\u{3003}' | '\u{3008}'..='\u{3011}')
}

fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

/// xstrings `isAlphabet`: a letter that is not CJK.
fn is_alphabet(c: char) -> bool {
    if !is_letter(c) {
        return false;
    }
    !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

const ERR: char = '\u{FFFD}';

/// xstrings `nextValidRune`: the first rune of `s` that is not invalid (`ERR`) and how many
/// runes were read to find it, the invalid ones before it included; `prev` (and all of `s`)
/// when there is none.
fn next_valid_rune(s: &[char], prev: char) -> (char, usize) {
    for (i, &c) in s.iter().enumerate() {
        if c != ERR {
            return (c, i + 1);
        }
    }
    (prev, s.len())
}

/// xstrings `nextWord`: the type and length (in chars) of the word at the start of `s`. As in
/// Go, invalid runes are skipped while looking for the next rune to classify, so they become
/// part of the word around them (and a word ending the input takes the invalid runes after it).
fn next_word(s: &[char]) -> (Word, usize) {
    if s.is_empty() {
        return (Word::Invalid, 0);
    }
    let rest = |i: usize| s.get(i..).unwrap_or_default();
    let (r, size) = next_valid_rune(s, ERR);
    let mut offset = size;
    if r == ERR {
        return (Word::Invalid, offset);
    }
    // Go's loops: read the next valid rune, stop unless `keep` accepts it, else take it.
    let scan = |mut offset: usize, mut r: char, keep: &dyn Fn(char) -> bool| -> (usize, char) {
        while offset < s.len() {
            let (c, size) = next_valid_rune(rest(offset), r);
            r = c;
            if !keep(r) {
                break;
            }
            offset += size;
        }
        (offset, r)
    };
    let lower_alpha = |c: char| is_alphabet(c) && !c.is_uppercase();
    if is_connector(r) {
        return (Word::Connector, scan(offset, r, &is_connector).0);
    }
    if is_punct(r) {
        return (Word::Punct, scan(offset, r, &is_punct).0);
    }
    if r.is_uppercase() {
        if offset >= s.len() {
            return (Word::Upper, offset);
        }
        let (r2, size2) = next_valid_rune(rest(offset), r);
        if r2.is_uppercase() {
            let mut prev_size = size2;
            offset += size2;
            let mut r = r2;
            while offset < s.len() {
                let (c, size) = next_valid_rune(rest(offset), r);
                r = c;
                if !r.is_uppercase() {
                    break;
                }
                prev_size = size;
                offset += size;
            }
            // "HTTPStatus" → "HTTP" + "Status": the last upper letter starts the next word.
            if offset < s.len() && is_alphabet(r) {
                offset -= prev_size;
            }
            return (Word::Upper, offset);
        }
        if is_alphabet(r2) {
            return (Word::Upper, scan(offset + size2, r2, &lower_alpha).0);
        }
        return (Word::Upper, offset);
    }
    if is_alphabet(r) {
        return (Word::Alphabet, scan(offset, r, &lower_alpha).0);
    }
    if r.is_numeric() {
        return (Word::Number, scan(offset, r, &char::is_numeric).0);
    }
    let other = |c: char| !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c));
    (Word::Other, scan(offset, r, &other).0)
}

/// The input of `snakecase`/`kebabcase`: its runes (an invalid byte is one `ERR`) and the bytes
/// each came from, since Go copies most words byte for byte.
struct Text<'a> {
    chars: &'a [char],
    bytes: &'a [u8],
    /// Byte offset where each rune starts, and the input's length at the end.
    starts: &'a [usize],
}

/// xstrings `toLower`: a word that is neither upper case nor connectors is copied as it was
/// (invalid bytes too); the others are written rune by rune (an invalid byte as U+FFFD).
fn to_lower(out: &mut Vec<u8>, t: &Text<'_>, wt: Word, at: usize, n: usize, conn: char) {
    let w = t.chars.get(at..at + n).unwrap_or_default();
    if wt != Word::Upper && wt != Word::Connector {
        let from = t.starts.get(at).copied().unwrap_or(0);
        let to = t.starts.get(at + n).copied().unwrap_or(from);
        out.extend_from_slice(t.bytes.get(from..to).unwrap_or_default());
        return;
    }
    for &c in w {
        let c = if is_connector(c) {
            conn
        } else if c.is_uppercase() {
            simple_lower(c)
        } else {
            c
        };
        push(out, c);
    }
}

/// xstrings `camelCaseToLowerCase` (`ToSnakeCase` with '_', `ToKebabCase` with '-').
fn to_lower_case(t: &Text<'_>, conn: char) -> Vec<u8> {
    let s = t.chars;
    let mut out = Vec::with_capacity(t.bytes.len() + 8);
    if s.is_empty() {
        return out;
    }
    let mut pos = 0usize;
    // A word is (type, first rune, runes).
    let next = |pos: &mut usize| -> (Word, (usize, usize)) {
        let (wt, n) = next_word(s.get(*pos..).unwrap_or_default());
        let w = (*pos, n);
        *pos += n;
        (wt, w)
    };
    let (mut wt, mut word) = next(&mut pos);
    while pos < s.len() {
        if wt != Word::Connector {
            to_lower(&mut out, t, wt, word.0, word.1, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word) = next(&mut pos);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower(&mut out, t, wt, word.0, word.1, conn);
                    (wt, word) = next(&mut pos);
                }
                if !matches!(wt, Word::Invalid | Word::Punct | Word::Connector) {
                    push(&mut out, conn);
                }
            }
            Word::Connector => to_lower(&mut out, t, prev, last.0, last.1, conn),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        push(&mut out, conn);
                    }
                    continue;
                }
                if pos >= s.len() {
                    continue;
                }
                let num = word;
                (wt, word) = next(&mut pos);
                if wt != Word::Alphabet {
                    to_lower(&mut out, t, Word::Number, num.0, num.1, conn);
                    if wt != Word::Connector && wt != Word::Punct {
                        push(&mut out, conn);
                    }
                    continue;
                }
                push(&mut out, conn);
                to_lower(&mut out, t, Word::Number, num.0, num.1, conn);
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower(&mut out, t, wt, word.0, word.1, conn);
                    (wt, word) = next(&mut pos);
                }
                if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                    push(&mut out, conn);
                }
            }
        }
    }
    to_lower(&mut out, t, wt, word.0, word.1, conn);
    out
}

/// xstrings `ToCamelCase`.
fn to_camel(s: &[char]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.iter().copied().peekable();
    let mut r0 = '\0';
    let mut seen = false;
    for c in it.by_ref() {
        seen = true;
        if !is_connector(c) {
            r0 = simple_upper(c);
            break;
        }
        out.push(c);
        r0 = c;
    }
    if it.peek().is_none() {
        if seen {
            out.push(r0);
        }
        return out;
    }
    for c in it {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = simple_upper(r0);
        } else {
            r0 = simple_lower(r0);
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    if !matches!(f, "snakecase" | "camelcase" | "kebabcase") {
        return Ok(Err(args));
    }
    let [s] = ex.fixed::<1>(f, args)?;
    let bytes = ex.s(&s)?;
    let runes = runes(&bytes);
    let chars: zeroize::Zeroizing<Vec<char>> =
        zeroize::Zeroizing::new(runes.iter().map(|&(_, _, c)| c.unwrap_or(ERR)).collect());
    ex.charge(chars.len() as u64)?;
    let out = match f {
        "snakecase" | "kebabcase" => {
            let starts: Vec<usize> = runes
                .iter()
                .map(|&(at, _, _)| at)
                .chain(std::iter::once(bytes.len()))
                .collect();
            let t = Text {
                chars: &chars,
                bytes: &bytes,
                starts: &starts,
            };
            to_lower_case(&t, if f == "snakecase" { '_' } else { '-' })
        }
        _ => to_camel(&chars).into_bytes(),
    };
    ex.check_len(out.len())?;
    Ok(Ok(Value::Str(new_bytes(out))))
}
