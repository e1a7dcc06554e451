//! sprig `crypto.go`: `uuidv4`, `randBytes`, `bcrypt`, `htpasswd`, `sha512sum` (sprig 3.3).
//! The random ones draw from the execution's CSPRNG (`Exec::rng`), as sprig draws from
//! `crypto/rand`.

use base64::Engine as _;
use sha2::Digest as _;

use super::Answer;
use crate::template::{Exec, Value, XR, new_bytes};

/// bcrypt's default cost in Go's `golang.org/x/crypto/bcrypt` (`DefaultCost`).
const BCRYPT_COST: u32 = 10;

impl Exec<'_> {
    /// Go's `$2a$` bcrypt hash of `pw` with a random salt (x/crypto truncates to 72 bytes).
    fn bcrypt_hash(&mut self, pw: &[u8]) -> XR<String> {
        // One bcrypt at cost 10 is ~50 ms: charge it so a template cannot loop on it freely.
        self.charge(10_000)?;
        let mut salt = [0u8; 16];
        self.random_fill(&mut salt);
        let pw = pw.get(..72).unwrap_or(pw);
        match bcrypt::hash_with_salt(pw, BCRYPT_COST, salt) {
            Ok(h) => Ok(h.format_for_version(bcrypt::Version::TwoA)),
            Err(e) => Ok(format!("failed to encrypt string with bcrypt: {e}")),
        }
    }
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let v = match f {
        "uuidv4" => {
            ex.fixed::<0>(f, args)?;
            let mut b = [0u8; 16];
            ex.random_fill(&mut b);
            let id = uuid::Builder::from_random_bytes(b).into_uuid();
            Value::str(&id.hyphenated().to_string())
        }
        "randBytes" => {
            let [n] = ex.fixed::<1>(f, args)?;
            let n = ex.i(&n)?;
            let Ok(n) = usize::try_from(n) else {
                return ex.call_err(f, "runtime error: makeslice: len out of range");
            };
            ex.check_len(n.saturating_mul(4) / 3 + 4)?;
            ex.charge(n as u64)?;
            let mut b = zeroize::Zeroizing::new(vec![0u8; n]);
            ex.random_fill(&mut b);
            Value::str(&base64::engine::general_purpose::STANDARD.encode(&*b))
        }
        "bcrypt" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.s(&s)?;
            let h = ex.bcrypt_hash(&s)?;
            Value::str(&h)
        }
        "htpasswd" => {
            let [u, p] = ex.fixed::<2>(f, args)?;
            let (u, p) = (ex.s(&u)?, ex.s(&p)?);
            if u.contains(&b':') {
                let mut out = b"invalid username: ".to_vec();
                out.extend_from_slice(&u);
                Value::Str(new_bytes(out))
            } else {
                let h = ex.bcrypt_hash(&p)?;
                let mut out = u.to_vec();
                out.push(b':');
                out.extend_from_slice(h.as_bytes());
                Value::Str(new_bytes(out))
            }
        }
        "sha512sum" => {
            let [s] = ex.fixed::<1>(f, args)?;
            let s = ex.strval(&s)?;
            let d = sha2::Sha512::digest(&**s);
            Value::str(&super::builtins::hex_lower(&d))
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}
