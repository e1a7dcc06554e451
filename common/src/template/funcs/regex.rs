//! sprig `regex.go`. Go's `regexp` is RE2; so is the `regex` crate, with these differences
//! handled here: Go's `\d`, `\w`, `\s` and `\b` are ASCII (the crate's are Unicode), and Go's
//! `\s` has no `\v`. Syntax only the crate accepts (flags `x`, `u`, `R`; class set operations
//! `&&`, `--`, `~~`; nested classes; `\<`, `\>`, `\b{…}`) is rejected as Go rejects it; see
//! docs/templates.md.

use regex::Regex;

use super::Answer;
use crate::template::{Exec, Value, XR, new_bytes};

/// Translates a Go RE2 pattern to the `regex` crate's syntax, or `None` when Go rejects a
/// construct that the crate would accept.
fn translate(src: &str) -> Option<String> {
    let mut out = String::with_capacity(src.len() + 8);
    let mut chars = src.chars().peekable();
    let mut in_class = false;
    // Right after `[` or `[^` a `]` is a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_start = class_start;
        class_start = false;
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Some(out + "\\");
                };
                if e == 'Q' {
                    // RE2's quoted literal, up to `\E` or the end (a class cannot hold one).
                    if in_class {
                        return None;
                    }
                    let mut lit = String::new();
                    while let Some(c) = chars.next() {
                        if c == '\\' && chars.peek() == Some(&'E') {
                            chars.next();
                            break;
                        }
                        lit.push(c);
                    }
                    out.push_str(&regex::escape(&lit));
                    continue;
                }
                let rep = match (e, in_class) {
                    ('d', false) => "[0-9]",
                    ('D', false) => "[^0-9]",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('W', false) => "[^0-9A-Za-z_]",
                    ('s', false) => "[\\t\\n\\f\\r ]",
                    ('S', false) => "[^\\t\\n\\f\\r ]",
                    ('d', true) => "0-9",
                    ('w', true) => "0-9A-Za-z_",
                    ('s', true) => "\\t\\n\\f\\r ",
                    ('D' | 'W' | 'S', true) => {
                        // A negated Perl class inside a class: the ASCII POSIX form.
                        match e {
                            'D' => "[:^digit:]",
                            'W' => "[:^word:]",
                            _ => return None,
                        }
                    }
                    ('b', false) => "(?-u:\\b)",
                    ('B', false) => "(?-u:\\B)",
                    ('<' | '>', _) => return None,
                    // RE2 knows only these letter escapes; the crate's others (`\u`, `\U`, …)
                    // are errors in Go (`invalid escape sequence`).
                    (e, _) if e.is_ascii_alphabetic() && !"afnrtvxdswDSWpPAzbBQE".contains(e) => {
                        return None;
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                        if e == 'b' && chars.peek() == Some(&'{') {
                            return None;
                        }
                        continue;
                    }
                };
                out.push_str(rep);
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            '[' => {
                // `[:alpha:]` is fine in both; any other `[` inside a class is a literal in Go
                // and a nested class in the crate.
                if chars.peek() == Some(&':') {
                    out.push('[');
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class && !at_start => {
                in_class = false;
                out.push(']');
            }
            ']' if in_class => out.push_str("\\]"),
            '&' | '-' | '~' if in_class && chars.peek() == Some(&c) => {
                if c == '-' {
                    // `--` is a range ending in `-` or a set difference in the crate.
                    return None;
                }
                out.push('\\');
                out.push(c);
            }
            '{' if !in_class => {
                // Go takes a `{` that does not start `{n}`, `{n,}` or `{n,m}` as a literal; the
                // crate rejects it.
                let rest: String = chars.clone().collect();
                let close = rest.find('}');
                let valid = close.is_some_and(|i| {
                    let body = rest.get(..i).unwrap_or_default();
                    let (a, b) = body.split_once(',').unwrap_or((body, "0"));
                    !a.is_empty()
                        && a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit())
                });
                if let (true, Some(i)) = (valid, close) {
                    out.push('{');
                    for _ in 0..=i {
                        if let Some(c) = chars.next() {
                            out.push(c);
                        }
                    }
                } else {
                    out.push_str("\\{");
                }
            }
            '}' if !in_class => {
                // A `}` outside a repetition (those are copied whole above) is a literal.
                out.push_str("\\}");
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                out.push('(');
                out.push('?');
                chars.next();
                // Go's flags: i, m, s, U (and `-`), then `:` or `)`; or `P<name>`.
                let mut flags = String::new();
                while let Some(&f) = chars.peek() {
                    if f == ':' || f == ')' || f == 'P' || f == '<' {
                        break;
                    }
                    if !matches!(f, 'i' | 'm' | 's' | 'U' | '-') {
                        return None;
                    }
                    flags.push(f);
                    chars.next();
                }
                out.push_str(&flags);
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

/// A pattern argument: Go's regexp refuses one that is not valid UTF-8 (`invalid UTF-8`), so it
/// is kept as it is (`None`) instead of becoming U+FFFD as other text does.
fn pattern(ex: &Exec<'_>, v: &Value) -> XR<Option<zeroize::Zeroizing<String>>> {
    let b = ex.s(v)?;
    Ok(std::str::from_utf8(&b)
        .ok()
        .map(|s| zeroize::Zeroizing::new(s.to_owned())))
}

fn compile(src: &Option<zeroize::Zeroizing<String>>) -> Result<Regex, ()> {
    let t = translate(src.as_deref().ok_or(())?).ok_or(())?;
    regex::RegexBuilder::new(&t)
        .size_limit(1 << 20)
        .build()
        .map_err(|_| ())
}

/// Go's `(*Regexp).FindAllStringIndex(s, n)`: `n < 0` all, else at most `n`. Go skips an
/// empty match that abuts the previous match.
fn find_all(re: &Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let mut prev_end: Option<usize> = None;
    for m in re.find_iter(s) {
        if m.start() == m.end() && prev_end == Some(m.start()) {
            continue;
        }
        prev_end = Some(m.end());
        out.push((m.start(), m.end()));
        if n > 0 && out.len() as i64 >= n {
            break;
        }
    }
    out
}

/// Go's `(*Regexp).Split(s, n)`.
/// `n` is not 0 (Go's nil slice: the caller's).
fn split(re: &Regex, s: &str, n: i64) -> Vec<String> {
    if !re.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let matches = find_all(re, s, n);
    let mut out = Vec::with_capacity(matches.len() + 1);
    let (mut beg, mut end) = (0, 0);
    for (a, b) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            out.push(s.get(beg..end).unwrap_or_default().to_owned());
        }
        beg = b;
    }
    if end != s.len() {
        out.push(s.get(beg..).unwrap_or_default().to_owned());
    }
    out
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let must = f.starts_with("must");
    let v = match f {
        "regexQuoteMeta" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.text(&s)?;
            let mut out = String::with_capacity(s.len() * 2);
            for c in s.chars() {
                if "\\.+*?()|[]{}^$".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            Value::str(&out)
        }
        "regexMatch" | "mustRegexMatch" => {
            let [re, s] = ex.fixed::<2>(f, args)?;
            let (re, s) = (pattern(ex, &re)?, ex.text(&s)?);
            match compile(&re) {
                Ok(r) => Value::Bool(r.is_match(&s)),
                Err(()) if must => return ex.call_err(f, "error parsing regexp"),
                Err(()) => Value::Bool(false),
            }
        }
        "regexFind" | "mustRegexFind" => {
            let [re, s] = ex.fixed::<2>(f, args)?;
            let (re, s) = (pattern(ex, &re)?, ex.text(&s)?);
            let r = compile(&re).or_else(|()| ex.call_err(f, "error parsing regexp"))?;
            Value::str(r.find(&s).map_or("", |m| m.as_str()))
        }
        "regexFindAll" | "mustRegexFindAll" => {
            let [re, s, n] = ex.fixed::<3>(f, args)?;
            let (re, s, n) = (pattern(ex, &re)?, ex.text(&s)?, ex.i(&n)?);
            let r = compile(&re).or_else(|()| ex.call_err(f, "error parsing regexp"))?;
            let found = find_all(&r, &s, n);
            ex.charge(found.len() as u64)?;
            if found.is_empty() {
                // Go's FindAllString gives a nil slice for no match (and for n = 0): JSON null.
                ex.nil_list()
            } else {
                let items = found
                    .into_iter()
                    .map(|(a, b)| Value::str(s.get(a..b).unwrap_or_default()))
                    .collect();
                ex.mk_list(items)?
            }
        }
        "regexReplaceAll"
        | "mustRegexReplaceAll"
        | "regexReplaceAllLiteral"
        | "mustRegexReplaceAllLiteral" => {
            let [re, s, repl] = ex.fixed::<3>(f, args)?;
            let (re, s, repl) = (pattern(ex, &re)?, ex.text(&s)?, ex.text(&repl)?);
            let r = compile(&re).or_else(|()| ex.call_err(f, "error parsing regexp"))?;
            // Bound the result before building it: every match may add `repl`.
            let n = find_all(&r, &s, -1).len();
            ex.charge(n as u64)?;
            ex.check_len(s.len().saturating_add(n.saturating_mul(repl.len())))?;
            let out = replace_all(&r, &s, &repl, f.ends_with("Literal"));
            Value::Str(new_bytes(out.into_bytes()))
        }
        "regexSplit" | "mustRegexSplit" => {
            let [re, s, n] = ex.fixed::<3>(f, args)?;
            let (re, s, n) = (pattern(ex, &re)?, ex.text(&s)?, ex.i(&n)?);
            let r = compile(&re).or_else(|()| ex.call_err(f, "error parsing regexp"))?;
            if n == 0 {
                // Go's Split(s, 0) is a nil slice: JSON null.
                ex.nil_list()
            } else {
                let parts = split(&r, &s, n);
                ex.charge(parts.len() as u64)?;
                ex.mk_list(parts.iter().map(|p| Value::str(p)).collect())?
            }
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}

/// Go's `ReplaceAllString` (with `$name` / `${name}` expansion) or `ReplaceAllLiteralString`,
/// over Go's match positions (an empty match abutting the previous one is skipped).
fn replace_all(re: &Regex, s: &str, repl: &str, literal: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut prev_end: Option<usize> = None;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        if m.start() == m.end() && prev_end == Some(m.start()) {
            continue;
        }
        prev_end = Some(m.end());
        out.push_str(s.get(last..m.start()).unwrap_or_default());
        if literal {
            out.push_str(repl);
        } else {
            caps.expand(repl, &mut out);
        }
        last = m.end();
    }
    out.push_str(s.get(last..).unwrap_or_default());
    out
}
