//! sprig `url.go`: `urlParse` (a dict of Go's `net/url.Parse` fields) and `urlJoin`
//! (`url.URL{…}.String()`), with Go 1.19's parsing, escaping and validation rules on bytes.

use std::collections::BTreeMap;

use super::Answer;
use crate::template::{Exec, Value, XR, new_bytes};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    QueryComponent,
    Fragment,
}

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::QueryComponent => return true,
            Mode::Fragment => return false,
            _ => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Go's `unescape`; `Err` is its error (the message is not needed: sprig panics with it and
/// the template fails, naming the function).
fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, ()> {
    let mut i = 0;
    while i < s.len() {
        let c = s.get(i).copied().unwrap_or(0);
        match c {
            b'%' => {
                let (h1, h2) = (s.get(i + 1).copied(), s.get(i + 2).copied());
                let (Some(h1), Some(h2)) = (h1, h2) else {
                    return Err(());
                };
                if !h1.is_ascii_hexdigit() || !h2.is_ascii_hexdigit() {
                    return Err(());
                }
                let is25 = h1 == b'2' && h2 == b'5';
                if mode == Mode::Host && unhex(h1) < 8 && !is25 {
                    return Err(());
                }
                if mode == Mode::Zone {
                    let v = (unhex(h1) << 4) | unhex(h2);
                    if !is25 && v != b' ' && should_escape(v, Mode::Host) {
                        return Err(());
                    }
                }
                i += 3;
            }
            _ => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(());
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s.get(i).copied().unwrap_or(0) {
            b'%' => {
                let h1 = s.get(i + 1).copied().unwrap_or(b'0');
                let h2 = s.get(i + 2).copied().unwrap_or(b'0');
                out.push((unhex(h1) << 4) | unhex(h2));
                i += 3;
            }
            b'+' if mode == Mode::QueryComponent => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c == b' ' && mode == Mode::QueryComponent {
            out.push(b'+');
        } else if should_escape(c, mode) {
            out.push(b'%');
            out.push(HEX.get(usize::from(c >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(c & 15)).copied().unwrap_or(b'0'));
        } else {
            out.push(c);
        }
    }
    out
}

fn valid_optional_port(p: &[u8]) -> bool {
    match p.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

fn rfind(s: &[u8], c: u8) -> Option<usize> {
    s.iter().rposition(|&b| b == c)
}

fn find(s: &[u8], c: u8) -> Option<usize> {
    s.iter().position(|&b| b == c)
}

fn parse_host(host: &[u8]) -> Result<Vec<u8>, ()> {
    if host.first() == Some(&b'[') {
        let i = rfind(host, b']').ok_or(())?;
        if !valid_optional_port(host.get(i + 1..).unwrap_or_default()) {
            return Err(());
        }
        let head = host.get(..i).unwrap_or_default();
        if let Some(z) = head.windows(3).position(|w| w == b"%25") {
            let mut out = unescape(host.get(..z).unwrap_or_default(), Mode::Host)?;
            out.extend(unescape(host.get(z..i).unwrap_or_default(), Mode::Zone)?);
            out.extend(unescape(host.get(i..).unwrap_or_default(), Mode::Host)?);
            return Ok(out);
        }
    } else if let Some(i) = rfind(host, b':')
        && !valid_optional_port(host.get(i..).unwrap_or_default())
    {
        return Err(());
    }
    unescape(host, Mode::Host)
}

#[derive(Default)]
struct Url {
    scheme: Vec<u8>,
    opaque: Vec<u8>,
    /// (username, password if set)
    user: Option<(Vec<u8>, Option<Vec<u8>>)>,
    host: Vec<u8>,
    path: Vec<u8>,
    raw_path: Vec<u8>,
    omit_host: bool,
    force_query: bool,
    raw_query: Vec<u8>,
    fragment: Vec<u8>,
    raw_fragment: Vec<u8>,
}

fn valid_userinfo(s: &[u8]) -> bool {
    // Go ranges over runes: any non-ASCII rune is invalid, as is any byte outside the set.
    s.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b':'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b'@'
            )
    })
}

/// Go's `url.Parse`.
fn parse(raw: &[u8]) -> Result<Url, ()> {
    let (u, frag) = match find(raw, b'#') {
        Some(i) => (
            raw.get(..i).unwrap_or_default(),
            Some(raw.get(i + 1..).unwrap_or_default()),
        ),
        None => (raw, None),
    };
    if u.iter().any(|&b| b < b' ' || b == 0x7f) {
        return Err(());
    }
    let mut url = Url::default();
    if u == b"*" {
        url.path = b"*".to_vec();
    } else {
        // getScheme
        let mut rest: &[u8] = u;
        for (i, &c) in u.iter().enumerate() {
            if c.is_ascii_alphabetic() {
                continue;
            }
            if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') {
                if i == 0 {
                    break;
                }
                continue;
            }
            if c == b':' {
                if i == 0 {
                    return Err(());
                }
                url.scheme = u.get(..i).unwrap_or_default().to_ascii_lowercase();
                rest = u.get(i + 1..).unwrap_or_default();
            }
            break;
        }
        let qs = rest.iter().filter(|&&b| b == b'?').count();
        if rest.last() == Some(&b'?') && qs == 1 {
            url.force_query = true;
            rest = rest.get(..rest.len() - 1).unwrap_or_default();
        } else if let Some(i) = find(rest, b'?') {
            url.raw_query = rest.get(i + 1..).unwrap_or_default().to_vec();
            rest = rest.get(..i).unwrap_or_default();
        }
        if rest.first() != Some(&b'/') {
            if !url.scheme.is_empty() {
                url.opaque = rest.to_vec();
                return finish(url, frag);
            }
            let seg = find(rest, b'/').map_or(rest, |i| rest.get(..i).unwrap_or_default());
            if seg.contains(&b':') {
                return Err(());
            }
        }
        let mut path = rest;
        if (!url.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
            let auth_all = rest.get(2..).unwrap_or_default();
            let (auth, p) = match find(auth_all, b'/') {
                Some(i) => (
                    auth_all.get(..i).unwrap_or_default(),
                    auth_all.get(i..).unwrap_or_default(),
                ),
                None => (auth_all, &b""[..]),
            };
            path = p;
            let at = rfind(auth, b'@');
            url.host = parse_host(at.map_or(auth, |i| auth.get(i + 1..).unwrap_or_default()))?;
            if let Some(i) = at {
                let ui = auth.get(..i).unwrap_or_default();
                if !valid_userinfo(ui) {
                    return Err(());
                }
                url.user = Some(match find(ui, b':') {
                    None => (unescape(ui, Mode::UserPassword)?, None),
                    Some(c) => (
                        unescape(ui.get(..c).unwrap_or_default(), Mode::UserPassword)?,
                        Some(unescape(
                            ui.get(c + 1..).unwrap_or_default(),
                            Mode::UserPassword,
                        )?),
                    ),
                });
            }
        } else if !url.scheme.is_empty() && rest.first() == Some(&b'/') {
            url.omit_host = true;
        }
        url.path = unescape(path, Mode::Path)?;
        if escape(&url.path, Mode::Path) != path {
            url.raw_path = path.to_vec();
        }
    }
    finish(url, frag)
}

fn finish(mut url: Url, frag: Option<&[u8]>) -> Result<Url, ()> {
    if let Some(f) = frag.filter(|f| !f.is_empty()) {
        url.fragment = unescape(f, Mode::Fragment)?;
        if escape(&url.fragment, Mode::Fragment) != f {
            url.raw_fragment = f.to_vec();
        }
    }
    Ok(url)
}

fn valid_encoded(s: &[u8], mode: Mode) -> bool {
    s.iter().all(|&c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    })
}

fn user_string(u: &(Vec<u8>, Option<Vec<u8>>)) -> Vec<u8> {
    let mut s = escape(&u.0, Mode::UserPassword);
    if let Some(p) = &u.1 {
        s.push(b':');
        s.extend(escape(p, Mode::UserPassword));
    }
    s
}

/// Go's `(*URL).String()`.
fn to_string(u: &Url) -> Vec<u8> {
    let mut b = Vec::new();
    if !u.scheme.is_empty() {
        b.extend_from_slice(&u.scheme);
        b.push(b':');
    }
    if !u.opaque.is_empty() {
        b.extend_from_slice(&u.opaque);
    } else {
        let no_authority = u.host.is_empty() && u.user.is_none();
        let omitted = u.omit_host && no_authority;
        if !(omitted || no_authority && u.scheme.is_empty()) {
            if !u.host.is_empty() || !u.path.is_empty() || u.user.is_some() {
                b.extend_from_slice(b"//");
            }
            if let Some(ui) = &u.user {
                b.extend(user_string(ui));
                b.push(b'@');
            }
            b.extend(escape(&u.host, Mode::Host));
        }
        let path = if !u.raw_path.is_empty()
            && valid_encoded(&u.raw_path, Mode::Path)
            && unescape(&u.raw_path, Mode::Path).is_ok_and(|p| p == u.path)
        {
            u.raw_path.clone()
        } else if u.path == b"*" {
            b"*".to_vec()
        } else {
            escape(&u.path, Mode::Path)
        };
        if path.first().is_some_and(|&c| c != b'/') && !u.host.is_empty() {
            b.push(b'/');
        }
        if b.is_empty() {
            let seg = find(&path, b'/').map_or(&path[..], |i| path.get(..i).unwrap_or_default());
            if seg.contains(&b':') {
                b.extend_from_slice(b"./");
            }
        }
        b.extend(path);
    }
    if u.force_query || !u.raw_query.is_empty() {
        b.push(b'?');
        b.extend_from_slice(&u.raw_query);
    }
    if !u.fragment.is_empty() {
        b.push(b'#');
        let f = if !u.raw_fragment.is_empty()
            && valid_encoded(&u.raw_fragment, Mode::Fragment)
            && unescape(&u.raw_fragment, Mode::Fragment).is_ok_and(|f| f == u.fragment)
        {
            u.raw_fragment.clone()
        } else {
            escape(&u.fragment, Mode::Fragment)
        };
        b.extend(f);
    }
    b
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let v = match f {
        "urlParse" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.s(&s)?;
            ex.charge(s.len() as u64 / 16)?;
            let Ok(u) = parse(&s) else {
                return ex.call_err(f, "unable to parse url");
            };
            let host = u.host.clone();
            let hostname = {
                let mut h: &[u8] = &host;
                if let Some(c) = rfind(h, b':')
                    && valid_optional_port(h.get(c..).unwrap_or_default())
                {
                    h = h.get(..c).unwrap_or_default();
                }
                if h.len() >= 2 && h.first() == Some(&b'[') && h.last() == Some(&b']') {
                    h = h.get(1..h.len() - 1).unwrap_or_default();
                }
                h.to_vec()
            };
            let userinfo = u.user.as_ref().map(user_string).unwrap_or_default();
            let mut m = BTreeMap::new();
            for (k, v) in [
                ("scheme", u.scheme),
                ("host", host),
                ("hostname", hostname),
                ("path", u.path),
                ("query", u.raw_query),
                ("opaque", u.opaque),
                ("fragment", u.fragment),
                ("userinfo", userinfo),
            ] {
                m.insert(k.to_owned(), Value::Str(new_bytes(v)));
            }
            ex.mk_dict(m)?
        }
        "urlJoin" => {
            let [d] = ex.fixed::<1>(f, args)?;
            let d = ex.nil_as_map(d)?;
            let id = ex.dict_arg(&d, f)?;
            let get = |k: &str| -> XR<Vec<u8>> {
                match ex.dicts.get(id).and_then(|m| m.get(k)) {
                    None => Ok(Vec::new()),
                    Some(Value::Str(s)) => Ok(s.to_vec()),
                    Some(_) => ex.call_err(
                        f,
                        format!("unable to parse {k} key, must be of type string"),
                    ),
                }
            };
            let mut u = Url {
                scheme: get("scheme")?,
                host: get("host")?,
                path: get("path")?,
                raw_query: get("query")?,
                opaque: get("opaque")?,
                fragment: get("fragment")?,
                ..Url::default()
            };
            let ui = get("userinfo")?;
            if !ui.is_empty() {
                let mut probe = b"proto://".to_vec();
                probe.extend_from_slice(&ui);
                probe.extend_from_slice(b"@host");
                match parse(&probe) {
                    Ok(p) => u.user = p.user,
                    Err(()) => return ex.call_err(f, "unable to parse userinfo in dict"),
                }
            }
            let s = to_string(&u);
            ex.check_len(s.len())?;
            Value::Str(new_bytes(s))
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}
