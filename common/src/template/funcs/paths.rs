//! The `path` and `path/filepath` functions of sprig's `functions.go`: `base dir clean ext
//! isAbs` (Go's `path`) and `osBase osDir osClean osExt osIsAbs` (`path/filepath`, which on
//! Linux — where the controller runs — is the same algorithm with `/`).

use super::Answer;
use crate::template::{Exec, Value, XR, new_bytes};

/// Go's `path.Clean`.
pub(super) fn clean(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for seg in p.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|l| *l != b"..") {
                    parts.pop();
                } else if !rooted {
                    parts.push(seg);
                }
            }
            _ => parts.push(seg),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    if rooted {
        out.push(b'/');
    }
    out.extend(parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Go's `path.Base`.
fn base(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let mut p = p;
    while p.len() > 1 && p.last() == Some(&b'/') {
        p = p.get(..p.len() - 1).unwrap_or_default();
    }
    if p == b"/" {
        return b"/".to_vec();
    }
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => p.get(i + 1..).unwrap_or_default().to_vec(),
        None => p.to_vec(),
    }
}

/// Go's `path.Dir`.
fn dir(p: &[u8]) -> Vec<u8> {
    let cut = p.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    clean(p.get(..cut).unwrap_or_default())
}

/// Go's `path.Ext`.
fn ext(p: &[u8]) -> Vec<u8> {
    for (i, &b) in p.iter().enumerate().rev() {
        if b == b'/' {
            break;
        }
        if b == b'.' {
            return p.get(i..).unwrap_or_default().to_vec();
        }
    }
    Vec::new()
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let op: fn(&[u8]) -> Vec<u8> = match f {
        "base" | "osBase" => base,
        "dir" | "osDir" => dir,
        "clean" | "osClean" => clean,
        "ext" | "osExt" => ext,
        "isAbs" | "osIsAbs" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.s(&s)?;
            return Ok(Ok(Value::Bool(s.first() == Some(&b'/'))));
        }
        _ => return Ok(Err(args)),
    };
    let [s] = ex.fixed::<1>(f, args)?;
    let s = ex.s(&s)?;
    Ok(Ok(Value::Str(new_bytes(op(&s)))))
}
