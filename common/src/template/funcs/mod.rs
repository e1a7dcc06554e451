//! sprig functions beyond the ones in `template.rs`'s `Exec::apply`, one module per sprig file
//! (`regex.go`, `list.go`, `dict.go`, `numeric.go`, `strings.go`, `crypto.go`, the path
//! functions of `functions.go`). Each module's `apply` returns `Ok(None)` for a name that is
//! not its own; [`dispatch`] asks them in turn. The names themselves are registered once, in
//! `template::FUNCTIONS`.

use zeroize::Zeroizing;

use super::{Exec, Value, XR, runes};

mod builtins;
mod certs;
mod crypto;
mod dates;
mod dicts;
mod lists;
mod numbers;
mod paths;
mod regex;
mod semver;
mod strings;
mod url;
mod xstrings;

impl Exec<'_> {
    /// A Go `string` parameter as text (invalid UTF-8 becomes U+FFFD).
    pub(super) fn text(&self, v: &Value) -> XR<Zeroizing<String>> {
        let b = self.s(v)?;
        // Go's rune loop: every byte of an invalid sequence is one U+FFFD (Rust's lossy
        // conversion gives one for a whole truncated sequence, the fuzz target's session 6 find).
        let mut out = Zeroizing::new(String::with_capacity(b.len()));
        for (_, _, c) in runes(&b) {
            out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        Ok(out)
    }

    /// Applies a function implemented in one of the family modules.
    pub(super) fn dispatch(&mut self, f: &'static str, args: Vec<Value>) -> XR<Option<Value>> {
        // Each family takes the arguments back when the name is not its own.
        let mut args = Some(args);
        for family in [
            regex::apply,
            semver::apply,
            lists::apply,
            dicts::apply,
            numbers::apply,
            strings::apply,
            xstrings::apply,
            crypto::apply,
            dates::apply,
            certs::apply,
            url::apply,
            paths::apply,
        ] {
            let a = args.take().unwrap_or_default();
            match family(self, f, a)? {
                Ok(v) => return Ok(Some(v)),
                Err(back) => args = Some(back),
            }
        }
        Ok(None)
    }
}

/// What a family returns: the value, or the arguments back when `f` is not its own.
type Answer = Result<Value, Vec<Value>>;

pub(super) use certs::CertPair;
pub(super) use dates::GoTime;
pub(super) use semver::Version;
