//! `snakecase`, `camelcase` and `kebabcase`: sprig calls huandu/xstrings' `ToSnakeCase`,
//! `ToCamelCase` and `ToKebabCase`. This is the same word scanner (`nextWord`) and the same
//! joining rules, over chars. Unicode categories are approximated with Rust's: `IsLetter` by
//! `is_alphabetic` (which adds a few marks), `IsUpper` by `is_uppercase`, `IsPunct` exactly for
//! ASCII and by the General Punctuation and CJK punctuation blocks above it.

use super::Answer;
use crate::template::{Exec, Value, XR, simple_lower, simple_upper};

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

/// xstrings `nextWord`: the type and length (in chars) of the word at the start of `s`.
fn next_word(s: &[char]) -> (Word, usize) {
    let Some(&r) = s.first() else {
        return (Word::Invalid, 0);
    };
    if r == ERR {
        return (Word::Invalid, 1);
    }
    let run = |from: usize, keep: &dyn Fn(char) -> bool| -> usize {
        let mut n = from;
        while let Some(&c) = s.get(n) {
            // nextValidRune skips invalid runes while looking, but they are never part of
            // the word: stop at them as the byte offsets in Go do.
            if c == ERR || !keep(c) {
                break;
            }
            n += 1;
        }
        n
    };
    if is_connector(r) {
        return (Word::Connector, run(1, &is_connector));
    }
    if is_punct(r) {
        return (Word::Punct, run(1, &is_punct));
    }
    if r.is_uppercase() {
        let Some(&r2) = s.get(1) else {
            return (Word::Upper, 1);
        };
        if r2.is_uppercase() {
            let n = run(1, &|c: char| c.is_uppercase());
            // "HTTPStatus" → "HTTP" + "Status": the last upper letter starts the next word.
            if let Some(&next) = s.get(n)
                && is_alphabet(next)
            {
                return (Word::Upper, n - 1);
            }
            return (Word::Upper, n);
        }
        if is_alphabet(r2) {
            return (
                Word::Upper,
                run(1, &|c: char| is_alphabet(c) && !c.is_uppercase()),
            );
        }
        return (Word::Upper, 1);
    }
    if is_alphabet(r) {
        return (
            Word::Alphabet,
            run(1, &|c: char| is_alphabet(c) && !c.is_uppercase()),
        );
    }
    if r.is_numeric() {
        return (Word::Number, run(1, &char::is_numeric));
    }
    let n = run(1, &|c: char| {
        !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c))
    });
    (Word::Other, n)
}

/// xstrings `toLower`.
fn to_lower(out: &mut String, wt: Word, w: &[char], conn: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.extend(w);
        return;
    }
    for &c in w {
        if is_connector(c) {
            out.push(conn);
        } else if c.is_uppercase() {
            out.push(simple_lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings `camelCaseToLowerCase` (`ToSnakeCase` with '_', `ToKebabCase` with '-').
fn to_lower_case(s: &[char], conn: char) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    if s.is_empty() {
        return out;
    }
    let mut pos = 0usize;
    let next = |pos: &mut usize| -> (Word, &[char]) {
        let (wt, n) = next_word(s.get(*pos..).unwrap_or_default());
        let w = s.get(*pos..*pos + n).unwrap_or_default();
        *pos += n;
        (wt, w)
    };
    let (mut wt, mut word) = next(&mut pos);
    while pos < s.len() {
        if wt != Word::Connector {
            to_lower(&mut out, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word) = next(&mut pos);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower(&mut out, wt, word, conn);
                    (wt, word) = next(&mut pos);
                }
                if !matches!(wt, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(conn);
                }
            }
            Word::Connector => to_lower(&mut out, prev, last, conn),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                if pos >= s.len() {
                    continue;
                }
                let num = word;
                (wt, word) = next(&mut pos);
                if wt != Word::Alphabet {
                    to_lower(&mut out, Word::Number, num, conn);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                out.push(conn);
                to_lower(&mut out, Word::Number, num, conn);
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower(&mut out, wt, word, conn);
                    (wt, word) = next(&mut pos);
                }
                if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                    out.push(conn);
                }
            }
        }
    }
    to_lower(&mut out, wt, word, conn);
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
    let s = ex.text(&s)?;
    let chars: zeroize::Zeroizing<Vec<char>> = zeroize::Zeroizing::new(s.chars().collect());
    ex.charge(chars.len() as u64)?;
    let out = match f {
        "snakecase" => to_lower_case(&chars, '_'),
        "kebabcase" => to_lower_case(&chars, '-'),
        _ => to_camel(&chars),
    };
    ex.check_len(out.len())?;
    Ok(Ok(Value::str(&out)))
}
