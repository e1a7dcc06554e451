//! sprig `semverCompare` (Masterminds/semver v3 `NewConstraint(c).Check(NewVersion(v))`).
//! Versions are parsed with Masterminds' loose rules (`v` prefix, missing minor/patch are 0) and
//! ordered by the `semver` crate's SemVer 2 precedence; constraints (`=`, `!=`, `>`, `<`, `>=`,
//! `<=`, `~`, `^`, wildcards `x X *`, `a - b` ranges, `,`/space for AND and `||` for OR) follow
//! Masterminds 3.2.0's `constraints.go`, including its "dirty" wildcard handling and its rule that
//! a prerelease version only satisfies a constraint that has a prerelease.
//!
//! `semver` returns the version as a value with Masterminds' methods (`Major`, `Minor`,
//! `Patch`, `Prerelease`, `Metadata`, `Original`, `String`, `IncMajor`, `IncMinor`, `IncPatch`,
//! `LessThan`, `GreaterThan`, `Equal`, `Compare`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

use super::Answer;
use crate::template::{Exec, Obj, Value, XR};

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Res {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn res() -> Option<&'static Res> {
    static R: OnceLock<Option<Res>> = OnceLock::new();
    R.get_or_init(|| {
        Some(Res {
            version: Regex::new(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$").ok()?,
            constraint: Regex::new(&format!(r"^\s*({OPS})\s*({CV})\s*$")).ok()?,
            range: Regex::new(&format!(r"\s*({CV})\s+-\s+({CV})\s*")).ok()?,
            find: Regex::new(&format!(r"({OPS})\s*({CV})")).ok()?,
            valid: Regex::new(&format!(r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$")).ok()?,
        })
    })
    .as_ref()
}

/// A Masterminds `semver.Version`.
#[derive(Clone)]
pub(in crate::template) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
    /// `*semver.Version` (from `semver`) or `semver.Version` (from the `Inc*` methods).
    pub(in crate::template) pointer: bool,
}

impl Version {
    /// Masterminds `NewVersion`.
    fn parse(s: &str) -> Option<Version> {
        let m = res()?.version.captures(s)?;
        let seg = |i: usize| -> Option<u64> {
            match m.get(i) {
                Some(g) => g.as_str().trim_start_matches('.').parse().ok(),
                None => Some(0),
            }
        };
        let pre = m.get(5).map_or("", |g| g.as_str()).to_owned();
        let meta = m.get(8).map_or("", |g| g.as_str());
        if !pre.is_empty() && semver::Prerelease::new(&pre).is_err() {
            return None;
        }
        if !meta.is_empty() && semver::BuildMetadata::new(meta).is_err() {
            return None;
        }
        Some(Version {
            major: seg(1)?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre,
            meta: meta.to_owned(),
            original: s.to_owned(),
            pointer: true,
        })
    }

    /// `Version.String`.
    pub(in crate::template) fn string(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            s.push('+');
            s.push_str(&self.meta);
        }
        s
    }

    /// `IncMajor` (`which` 0), `IncMinor` (1), `IncPatch` (2).
    fn inc(&self, which: u8) -> Version {
        let mut n = self.clone();
        n.meta.clear();
        n.pointer = false;
        match which {
            0 => {
                n.major = n.major.wrapping_add(1);
                n.minor = 0;
                n.patch = 0;
            }
            1 => {
                n.minor = n.minor.wrapping_add(1);
                n.patch = 0;
            }
            _ if !self.pre.is_empty() => {}
            _ => n.patch = n.patch.wrapping_add(1),
        }
        n.pre.clear();
        let v = if self.original.starts_with(['v', 'V']) {
            self.original.get(..1).unwrap_or("")
        } else {
            ""
        };
        n.original = format!("{v}{}", n.string());
        n
    }

    /// A method call `v.Name args…`, `None` for a method we do not have.
    pub(in crate::template) fn method(&self, name: &str, args: &[Value]) -> Option<Value> {
        let other = |a: &Value| match a {
            Value::Obj(o) => match &**o {
                Obj::Version(v) if v.pointer => Some(v.clone()),
                _ => None,
            },
            _ => None,
        };
        let int = |u: u64| Some(Value::Int(i64::try_from(u).unwrap_or(i64::MAX)));
        let obj = |v: Version| Some(Value::Obj(std::rc::Rc::new(Obj::Version(v))));
        match (name, args) {
            ("Major", []) => int(self.major),
            ("Minor", []) => int(self.minor),
            ("Patch", []) => int(self.patch),
            ("Prerelease", []) => Some(Value::str(&self.pre)),
            ("Metadata", []) => Some(Value::str(&self.meta)),
            ("Original", []) if self.pointer => Some(Value::str(&self.original)),
            ("String", []) => Some(Value::str(&self.string())),
            ("IncMajor", []) => obj(self.inc(0)),
            ("IncMinor", []) => obj(self.inc(1)),
            ("IncPatch", []) => obj(self.inc(2)),
            ("LessThan" | "GreaterThan" | "Equal" | "Compare", [a]) if self.pointer => {
                let o = other(a)?;
                let c = self.cmp(&o);
                Some(match name {
                    "LessThan" => Value::Bool(c == Ordering::Less),
                    "GreaterThan" => Value::Bool(c == Ordering::Greater),
                    "Equal" => Value::Bool(c == Ordering::Equal),
                    _ => Value::Int(c as i64),
                })
            }
            _ => None,
        }
    }

    /// Masterminds `Compare` (build metadata ignored): SemVer 2 precedence.
    fn cmp(&self, o: &Version) -> Ordering {
        let mk = |v: &Version| semver::Version {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
            pre: semver::Prerelease::new(&v.pre).unwrap_or(semver::Prerelease::EMPTY),
            build: semver::BuildMetadata::EMPTY,
        };
        mk(self).cmp_precedence(&mk(o))
    }
}

struct Constraint {
    op: String,
    con: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "*" | "X")
}

/// Masterminds `parseConstraint`.
fn parse_constraint(c: &str) -> Option<Constraint> {
    if c.is_empty() {
        let con = Version {
            major: 0,
            minor: 0,
            patch: 0,
            pre: String::new(),
            meta: String::new(),
            original: String::new(),
            pointer: true,
        };
        return Some(Constraint {
            op: String::new(),
            con,
            minor_dirty: false,
            patch_dirty: false,
            dirty: true,
        });
    }
    let m = res()?.constraint.captures(c)?;
    let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
    let (maj, min, pat, pre) = (g(3), g(4), g(5), g(6));
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let ver = if is_x(maj) || maj.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_x(min.trim_start_matches('.')) || min.is_empty() {
        minor_dirty = true;
        dirty = true;
        format!("{maj}.0.0{pre}")
    } else if is_x(pat.trim_start_matches('.')) || pat.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{maj}{min}.0{pre}")
    } else {
        g(2).to_owned()
    };
    let con = Version::parse(&ver)?;
    Some(Constraint {
        op: g(1).to_owned(),
        con,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

/// Masterminds `NewConstraint`: OR groups of AND constraints, `None` on a parse error.
fn parse_constraints(c: &str) -> Option<Vec<Vec<Constraint>>> {
    let r = res()?;
    // rewriteRange: "a - b" → ">= a, <= b".
    let mut c = c.to_owned();
    let ranges: Vec<(String, String, String)> = r
        .range
        .captures_iter(&c)
        .map(|m| {
            let g = |i: usize| m.get(i).map_or("", |x| x.as_str()).to_owned();
            (g(0), g(1), g(11))
        })
        .collect();
    for (whole, a, b) in ranges {
        c = c.replacen(&whole, &format!(">= {a}, <= {b}"), 1);
    }
    let mut out = Vec::new();
    for part in c.split("||") {
        if !r.valid.is_match(part) {
            return None;
        }
        let found: Vec<&str> = r.find.find_iter(part).map(|m| m.as_str()).collect();
        let found = if found.is_empty() { vec![part] } else { found };
        let mut and = Vec::new();
        for s in found {
            and.push(parse_constraint(s)?);
        }
        out.push(and);
    }
    Some(out)
}

fn check(v: &Version, c: &Constraint) -> bool {
    let cv = &c.con;
    let pre_only_in_v = !v.pre.is_empty() && cv.pre.is_empty();
    let tilde = |v: &Version| -> bool {
        if pre_only_in_v || v.cmp(cv) == Ordering::Less {
            return false;
        }
        if cv.major == 0 && cv.minor == 0 && cv.patch == 0 && !c.minor_dirty && !c.patch_dirty {
            return true;
        }
        v.major == cv.major && (v.minor == cv.minor || c.minor_dirty)
    };
    match c.op.as_str() {
        "" | "=" => {
            if pre_only_in_v {
                false
            } else if c.dirty {
                tilde(v)
            } else {
                v.cmp(cv) == Ordering::Equal
            }
        }
        "!=" => {
            if c.dirty {
                if pre_only_in_v {
                    return false;
                }
                if cv.major != v.major {
                    return true;
                }
                if cv.minor != v.minor && !c.minor_dirty {
                    return true;
                } else if c.minor_dirty {
                    return false;
                } else if cv.patch != v.patch && !c.patch_dirty {
                    return true;
                } else if c.patch_dirty {
                    if !v.pre.is_empty() || !cv.pre.is_empty() {
                        let a = Version {
                            pre: v.pre.clone(),
                            ..cv.clone()
                        };
                        return a.cmp(cv) != Ordering::Equal;
                    }
                    return false;
                }
            }
            v.cmp(cv) != Ordering::Equal
        }
        ">" => {
            if pre_only_in_v {
                false
            } else if !c.dirty {
                v.cmp(cv) == Ordering::Greater
            } else if v.major != cv.major {
                v.major > cv.major
            } else if c.minor_dirty {
                false
            } else if c.patch_dirty {
                v.minor > cv.minor
            } else {
                v.cmp(cv) == Ordering::Greater
            }
        }
        "<" => !pre_only_in_v && v.cmp(cv) == Ordering::Less,
        ">=" | "=>" => !pre_only_in_v && v.cmp(cv) != Ordering::Less,
        "<=" | "=<" => {
            if pre_only_in_v {
                false
            } else if !c.dirty {
                v.cmp(cv) != Ordering::Greater
            } else {
                !(v.major > cv.major
                    || (v.major == cv.major && v.minor > cv.minor && !c.minor_dirty))
            }
        }
        "~" | "~>" => tilde(v),
        "^" => {
            if pre_only_in_v || v.cmp(cv) == Ordering::Less {
                return false;
            }
            if cv.major > 0 || c.minor_dirty {
                return v.major == cv.major;
            }
            if v.major > 0 {
                return false;
            }
            if cv.minor > 0 || c.patch_dirty {
                return v.minor == cv.minor;
            }
            if v.minor > 0 {
                return false;
            }
            cv.patch == v.patch
        }
        _ => false,
    }
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    if f == "semver" {
        let [v] = ex.fixed::<1>(f, args)?;
        let v = ex.text(&v)?;
        ex.charge(v.len() as u64)?;
        return match Version::parse(&v) {
            Some(v) => Ok(Ok(Value::Obj(std::rc::Rc::new(Obj::Version(v))))),
            // Masterminds' messages; they may quote the version, which may be secret.
            None => ex.call_err(f, "Invalid Semantic Version"),
        };
    }
    if f != "semverCompare" {
        return Ok(Err(args));
    }
    let [c, v] = ex.fixed::<2>(f, args)?;
    let (c, v) = (ex.text(&c)?, ex.text(&v)?);
    ex.charge((c.len() + v.len()) as u64)?;
    let Some(cs) = parse_constraints(&c) else {
        return ex.call_err(f, "improper constraint");
    };
    let Some(v) = Version::parse(&v) else {
        return ex.call_err(f, "Invalid Semantic Version");
    };
    Ok(Ok(Value::Bool(
        cs.iter().any(|and| and.iter().all(|c| check(&v, c))),
    )))
}
