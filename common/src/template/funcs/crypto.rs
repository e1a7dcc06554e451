//! sprig `crypto.go`: `uuidv4`, `randBytes`, `bcrypt`, `htpasswd`, `sha512sum` (sprig 3.3),
//! `encryptAES`/`decryptAES` (AES-256-CBC, the password zero-padded or cut to 32 bytes as the
//! key, a random IV in front, PKCS#7 padding; decryption strips as many bytes as the last one
//! says, unchecked, as sprig does), `genPrivateKey` (rsa, ecdsa, ed25519; not dsa),
//! `derivePassword` (scrypt + HMAC-SHA256, the Master Password algorithm).
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

/// Go's `pem.EncodeToMemory`: 64-character base64 lines.
fn pem(kind: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = Zeroizing::new(format!("-----BEGIN {kind}-----\n"));
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {kind}-----\n"));
    out
}

/// The work one key generation is charged: an RSA-4096 key takes seconds, so a template gets
/// two (the step limit is 10⁶); the others are cheap but still bounded.
const RSA_KEYGEN_STEPS: u64 = 400_000;
const KEYGEN_STEPS: u64 = 1_000;

impl Exec<'_> {
    /// sprig `genPrivateKey`: PEM of a new key, in Go's encodings (PKCS#1 for RSA-4096, SEC1
    /// for ECDSA P-256, PKCS#8 v1 for Ed25519). `Err(())` for DSA, which is not implemented.
    fn gen_private_key(&mut self, typ: &[u8]) -> XR<Result<Zeroizing<String>, String>> {
        match typ {
            b"" | b"rsa" => {
                self.charge(RSA_KEYGEN_STEPS)?;
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                let der = rsa::PrivateKey::new(&mut *self.rng, 4096)
                    .ok()
                    .and_then(|k| k.to_pkcs1_der().ok());
                Ok(match der {
                    Some(d) => Ok(pem("RSA PRIVATE KEY", d.as_bytes())),
                    None => Err("failed to generate private key".into()),
                })
            }
            b"ecdsa" => {
                self.charge(KEYGEN_STEPS)?;
                // A random scalar in [1, n-1] (aws-lc rejects the rest: draw again), its public
                // point, and x509.MarshalECPrivateKey's SEC1 layout.
                let alg = &aws_lc_rs::agreement::ECDH_P256;
                for _ in 0..64 {
                    let mut d = Zeroizing::new([0u8; 32]);
                    self.random_fill(&mut *d);
                    let Ok(k) = aws_lc_rs::agreement::PrivateKey::from_private_key(alg, &*d) else {
                        continue;
                    };
                    let Ok(public) = k.compute_public_key() else {
                        continue;
                    };
                    let mut der = Zeroizing::new(Vec::with_capacity(121));
                    der.extend_from_slice(&[0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20]);
                    der.extend_from_slice(&*d);
                    der.extend_from_slice(&[
                        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                        0xa1, 0x44, 0x03, 0x42, 0x00,
                    ]);
                    der.extend_from_slice(public.as_ref());
                    return Ok(Ok(pem("EC PRIVATE KEY", &der)));
                }
                Ok(Err("failed to generate private key".into()))
            }
            b"ed25519" => {
                self.charge(KEYGEN_STEPS)?;
                // Any 32 bytes are an Ed25519 seed; x509.MarshalPKCS8PrivateKey's v1 layout.
                let mut der = Zeroizing::new(vec![
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04,
                    0x22, 0x04, 0x20,
                ]);
                let mut seed = Zeroizing::new([0u8; 32]);
                self.random_fill(&mut *seed);
                der.extend_from_slice(&*seed);
                Ok(Ok(pem("PRIVATE KEY", &der)))
            }
            b"dsa" => Ok(Err(String::new())),
            other => Ok(Ok(Zeroizing::new(format!(
                "Unknown type {}",
                String::from_utf8_lossy(other)
            )))),
        }
    }
}

/// Master Password templates (sprig `passwordTypeTemplates`).
fn password_templates(kind: &[u8]) -> Option<&'static [&'static str]> {
    Some(match kind {
        b"maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        b"long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        b"medium" => &["CvcnoCvc", "CvcCvcno"],
        b"short" => &["Cvcn"],
        b"basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        b"pin" => &["nnnn"],
        _ => return None,
    })
}

fn password_chars(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// scrypt with N = 32768, r = 8 costs 32 MiB and ~0.1 s: a template gets ten.
const SCRYPT_STEPS: u64 = 100_000;

/// sprig `derivePassword` (the Master Password algorithm).
fn derive_password(
    counter: u32,
    kind: &[u8],
    password: &[u8],
    user: &[u8],
    site: &[u8],
) -> Zeroizing<Vec<u8>> {
    use hmac::{KeyInit as _, Mac as _};
    const SEED: &[u8] = b"com.lyndir.masterpassword";
    let Some(templates) = password_templates(kind) else {
        let mut m = b"cannot find password template ".to_vec();
        m.extend_from_slice(kind);
        return Zeroizing::new(m);
    };
    let mut salt = SEED.to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user);
    let mut key = Zeroizing::new([0u8; 64]);
    let derived = scrypt::Params::new(15, 8, 2)
        .ok()
        .and_then(|p| scrypt::scrypt(password, &salt, &p, &mut *key).ok());
    if derived.is_none() {
        return Zeroizing::new(b"failed to derive password".to_vec());
    }
    let mut msg = SEED.to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site);
    msg.extend_from_slice(&counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&*key) else {
        return Zeroizing::new(b"failed to derive password".to_vec());
    };
    mac.update(&msg);
    let seed = Zeroizing::new(mac.finalize().into_bytes().to_vec());
    let pick = usize::from(seed.first().copied().unwrap_or(0)) % templates.len();
    let temp = templates.get(pick).copied().unwrap_or_default();
    let mut out = Zeroizing::new(Vec::with_capacity(temp.len()));
    for (i, c) in temp.bytes().enumerate() {
        let chars = password_chars(c);
        let s = usize::from(seed.get(i + 1).copied().unwrap_or(0));
        out.push(chars.get(s % chars.len()).copied().unwrap_or(b'x'));
    }
    out
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
        "derivePassword" => {
            let [counter, kind, pw, user, site] = ex.fixed::<5>(f, args)?;
            let counter = ex.i(&counter)?;
            let Ok(counter) = u32::try_from(counter) else {
                return ex.err(format!("value {counter} overflows uint32"));
            };
            let (kind, pw, user, site) = (ex.s(&kind)?, ex.s(&pw)?, ex.s(&user)?, ex.s(&site)?);
            if password_templates(&kind).is_some() {
                ex.charge(SCRYPT_STEPS)?;
            }
            Value::Str(new_bytes(
                derive_password(counter, &kind, &pw, &user, &site).to_vec(),
            ))
        }
        "genPrivateKey" => {
            let [t] = ex.fixed::<1>(f, args)?;
            let t = ex.s(&t)?;
            match ex.gen_private_key(&t)? {
                Ok(pem) => Value::str(&pem),
                Err(m) if m.is_empty() => {
                    return ex.call_err(f, "DSA keys are not supported (see docs/templates.md)");
                }
                Err(m) => Value::str(&m),
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
