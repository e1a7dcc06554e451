//! The lexer: Go's `text/template/parse/lex.go` (delimiters, trim markers, comments,
//! identifiers, numbers, quoted and raw strings, character constants).

#[derive(Clone, Copy, PartialEq, Eq)]
pub(in crate::template) enum Kw {
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
pub(in crate::template) enum Tok {
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
pub(in crate::template) struct Token {
    pub(in crate::template) tok: Tok,
    pub(in crate::template) pos: usize,
    pub(in crate::template) end: usize,
}

pub(in crate::template) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(in crate::template) fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

pub(in crate::template) fn char_at(src: &str, i: usize) -> Option<char> {
    src.get(i..).and_then(|s| s.chars().next())
}

pub(in crate::template) fn byte_at(src: &str, i: usize) -> Option<u8> {
    src.as_bytes().get(i).copied()
}

pub(in crate::template) fn starts_at(src: &str, i: usize, pat: &str) -> bool {
    src.get(i..).is_some_and(|s| s.starts_with(pat))
}

/// At `i`: is there a right delimiter? Returns (length, trim).
pub(in crate::template) fn at_right_delim(src: &str, i: usize) -> Option<(usize, bool)> {
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

pub(in crate::template) fn at_terminator(src: &str, i: usize) -> bool {
    match byte_at(src, i) {
        None => true,
        Some(b) if is_space(b) => true,
        Some(b'.' | b',' | b'|' | b':' | b')' | b'(') => true,
        Some(_) => starts_at(src, i, "}}"),
    }
}

pub(in crate::template) type LexErr = (usize, String);

pub(in crate::template) fn bad_char(c: char) -> String {
    format!("bad character U+{:04X} '{}'", c as u32, c)
}

pub(in crate::template) fn lex(src: &str) -> Result<Vec<Token>, LexErr> {
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
pub(in crate::template) fn scan_number(src: &str, mut p: usize) -> usize {
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
pub(in crate::template) fn unquote_go(body: &str, quote: char) -> Result<Vec<u8>, String> {
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
