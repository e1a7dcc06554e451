//! sprig `crypto.go`: `uuidv4`, `randBytes`, `bcrypt`, `htpasswd`, `sha512sum` (sprig 3.3),
//! `encryptAES`/`decryptAES` (AES-256-CBC, the password zero-padded or cut to 32 bytes as the
//! key, a random IV in front, PKCS#7 padding; decryption strips as many bytes as the last one
//! says, unchecked, as sprig does).
//! The random ones draw from the execution's CSPRNG (`Exec::rng`), as sprig draws from
//! `crypto/rand`.

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use base64::Engine as _;
use sha2::Digest as _;
use zeroize::Zeroizing;

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

/// sprig's AES key: the password's first 32 bytes, zero-padded.
fn aes_key(password: &[u8]) -> aes::Aes256 {
    let mut k = Zeroizing::new([0u8; 32]);
    let n = password.len().min(32);
    if let (Some(dst), Some(src)) = (k.get_mut(..n), password.get(..n)) {
        dst.copy_from_slice(src);
    }
    aes::Aes256::new(&Array::from(*k))
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
        "encryptAES" => {
            let [pw, text] = ex.fixed::<2>(f, args)?;
            let (pw, text) = (ex.s(&pw)?, ex.s(&text)?);
            if text.is_empty() {
                return Ok(Ok(Value::str("")));
            }
            ex.check_len((text.len() + 32) * 4 / 3 + 4)?;
            ex.charge(text.len() as u64 / 16)?;
            let cipher = aes_key(&pw);
            let pad = 16 - text.len() % 16;
            let mut buf = Zeroizing::new(Vec::with_capacity(16 + text.len() + pad));
            let mut iv = [0u8; 16];
            ex.random_fill(&mut iv);
            buf.extend_from_slice(&iv);
            buf.extend_from_slice(&text);
            buf.extend(std::iter::repeat_n(pad as u8, pad));
            let mut prev = iv;
            for chunk in buf.get_mut(16..).unwrap_or_default().chunks_exact_mut(16) {
                let mut block = [0u8; 16];
                for ((b, c), p) in block.iter_mut().zip(chunk.iter()).zip(prev.iter()) {
                    *b = c ^ p;
                }
                let mut block = Array::from(block);
                cipher.encrypt_block(&mut block);
                chunk.copy_from_slice(&block);
                prev.copy_from_slice(&block);
            }
            Value::str(&base64::engine::general_purpose::STANDARD.encode(&*buf))
        }
        "decryptAES" => {
            let [pw, b64] = ex.fixed::<2>(f, args)?;
            let (pw, b64) = (ex.s(&pw)?, ex.s(&b64)?);
            if b64.is_empty() {
                return Ok(Ok(Value::str("")));
            }
            ex.charge(b64.len() as u64 / 16)?;
            let Ok(data) = base64::engine::general_purpose::STANDARD.decode(&**b64) else {
                return ex.call_err(f, "illegal base64 data");
            };
            let data = Zeroizing::new(data);
            // Go slices crypt[:16] and CryptBlocks panics on a partial block: both are errors.
            if data.len() < 16 || data.len() % 16 != 0 || data.len() == 16 {
                return ex.call_err(f, "input not full blocks");
            }
            let cipher = aes_key(&pw);
            let (iv, body) = data.split_at(16);
            let mut prev = [0u8; 16];
            prev.copy_from_slice(iv);
            let mut out = Zeroizing::new(Vec::with_capacity(body.len()));
            for chunk in body.chunks_exact(16) {
                let mut block = [0u8; 16];
                block.copy_from_slice(chunk);
                let mut b = Array::from(block);
                cipher.decrypt_block(&mut b);
                out.extend(b.iter().zip(prev.iter()).map(|(x, p)| x ^ p));
                prev.copy_from_slice(chunk);
            }
            let pad = usize::from(out.last().copied().unwrap_or(0));
            let Some(keep) = out.len().checked_sub(pad) else {
                return ex.call_err(f, "slice bounds out of range");
            };
            out.truncate(keep);
            Value::Str(new_bytes(out.to_vec()))
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
