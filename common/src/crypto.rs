//! The Sealed Secrets hybrid encryption wire format, byte-compatible with upstream's `pkg/crypto`.
//!
//! ```text
//! u16be(len(rsa)) || RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session key) || AES-GCM(session key, nonce = 0^12, no AAD)(plaintext) || tag
//! ```
//!
//! Encryption uses RustCrypto's `rsa` (randomness is passed in, so a pinned stream gives upstream's
//! exact bytes); decryption, the controller's hot path, uses aws-lc-rs (about 5x faster per RSA-4096
//! private operation). Every decryption failure is the one opaque [`DecryptionError`].

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce, aes::Aes192};
use rand::CryptoRng;
use rsa::Oaep;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keys::{PrivateKey, PublicKey};

/// Size of the AES-256-GCM session key upstream generates for each item.
pub const SESSION_KEY_BYTES: usize = 32;
/// Size of the AES-GCM authentication tag.
const TAG_BYTES: usize = 16;

type Aes192Gcm = AesGcm<Aes192, aes_gcm::aead::consts::U12>;

/// A value could not be decrypted: wrong key, wrong label (scope, name or namespace), truncated or
/// tampered ciphertext. Deliberately carries no detail, so it cannot be used as an oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no key could decrypt secret")]
pub struct DecryptionError;

/// Encryption failed: a key too small to wrap a session key, or a value too large for AES-GCM.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// RSA-OAEP could not wrap the session key (the public key is too small).
    #[error("cannot wrap the session key with this public key")]
    Wrap(#[source] rsa::Error),
    /// The value is larger than AES-GCM can encrypt under one key.
    #[error("value too large to encrypt")]
    TooLarge,
}

/// A one-use AES-256-GCM key. [`SessionKey::seal`] consumes it, so the all-zero nonce that the wire
/// format prescribes can never be used twice with the same key.
struct SessionKey(Zeroizing<[u8; SESSION_KEY_BYTES]>);

impl SessionKey {
    fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; SESSION_KEY_BYTES]);
        rng.fill_bytes(key.as_mut_slice());
        Self(key)
    }

    fn seal(self, out: &mut Vec<u8>, plaintext: &[u8]) -> Result<(), EncryptionError> {
        let cipher =
            Aes256Gcm::new_from_slice(self.0.as_slice()).map_err(|_| EncryptionError::TooLarge)?;
        let sealed = cipher
            .encrypt(&Nonce::default(), plaintext)
            .map_err(|_| EncryptionError::TooLarge)?;
        out.extend_from_slice(&sealed);
        Ok(())
    }
}

/// Seal `plaintext` for `key` under the OAEP `label` (see [`crate::scope::encryption_label`]).
///
/// Reads exactly 32 bytes of session key and then the 32-byte OAEP seed from `rng`, as upstream does.
pub fn hybrid_encrypt<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PublicKey,
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, EncryptionError> {
    let session_key = SessionKey::generate(rng);
    let wrapped = key
        .rsa()
        .encrypt(
            rng,
            Oaep::<Sha256>::new_with_label(label),
            session_key.0.as_slice(),
        )
        .map_err(EncryptionError::Wrap)?;
    let wrapped_len = u16::try_from(wrapped.len())
        .map_err(|_| EncryptionError::Wrap(rsa::Error::MessageTooLong))?;
    let mut out = Vec::with_capacity(2 + wrapped.len() + plaintext.len() + TAG_BYTES);
    out.extend_from_slice(&wrapped_len.to_be_bytes());
    out.extend_from_slice(&wrapped);
    session_key.seal(&mut out, plaintext)?;
    Ok(out)
}

/// Try each key in turn; return the plaintext and the key that opened it. Adds to `attempts` one
/// per key tried (each is an RSA private operation, or a cheaper rejection when the wrapped key is
/// longer than the modulus); a ciphertext too short to be an envelope costs no attempt. Callers
/// that do not count pass `&mut 0`.
///
/// Callers that know which key probably opens a value (the one that opened it before, then the
/// newest) should order `keys` that way: each wrong key costs a full RSA private operation.
pub fn hybrid_decrypt<'k, I>(
    keys: I,
    ciphertext: &[u8],
    label: &[u8],
    attempts: &mut u64,
) -> Result<(Zeroizing<Vec<u8>>, &'k PrivateKey), DecryptionError>
where
    I: IntoIterator<Item = &'k PrivateKey>,
{
    let envelope = Envelope::parse(ciphertext)?;
    keys.into_iter()
        .find_map(|key| {
            *attempts += 1;
            envelope.open(key, label).ok().map(|pt| (pt, key))
        })
        .ok_or(DecryptionError)
}

/// Decrypt with one key.
pub fn single_decrypt(
    key: &PrivateKey,
    ciphertext: &[u8],
    label: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptionError> {
    Envelope::parse(ciphertext)?.open(key, label)
}

/// The two parts of a ciphertext, split without copying.
struct Envelope<'a> {
    wrapped_key: &'a [u8],
    sealed: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn parse(ciphertext: &'a [u8]) -> Result<Self, DecryptionError> {
        let (len, rest) = ciphertext.split_first_chunk::<2>().ok_or(DecryptionError)?;
        let rsa_len = usize::from(u16::from_be_bytes(*len));
        let (wrapped_key, sealed) = rest.split_at_checked(rsa_len).ok_or(DecryptionError)?;
        if sealed.len() < TAG_BYTES {
            return Err(DecryptionError);
        }
        Ok(Self {
            wrapped_key,
            sealed,
        })
    }

    fn open(&self, key: &PrivateKey, label: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptionError> {
        let session_key = key.oaep_decrypt(self.wrapped_key, label)?;
        let nonce = Nonce::default();
        let opened = match session_key.len() {
            16 => Aes128Gcm::new_from_slice(&session_key)
                .map_err(|_| DecryptionError)?
                .decrypt(&nonce, self.sealed),
            24 => Aes192Gcm::new_from_slice(&session_key)
                .map_err(|_| DecryptionError)?
                .decrypt(&nonce, self.sealed),
            32 => Aes256Gcm::new_from_slice(&session_key)
                .map_err(|_| DecryptionError)?
                .decrypt(&nonce, self.sealed),
            _ => return Err(DecryptionError),
        };
        opened.map(Zeroizing::new).map_err(|_| DecryptionError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn envelope_rejects_short_inputs() {
        assert!(Envelope::parse(&[]).is_err());
        assert!(Envelope::parse(&[0]).is_err());
        assert!(Envelope::parse(&[0, 5, 1, 2]).is_err());
        // Length fits, but fewer than 16 bytes remain for the tag.
        assert!(Envelope::parse(&[0, 1, 9, 1, 2, 3]).is_err());
        assert!(Envelope::parse(&[0u8; 2 + 16]).is_ok());
    }

    #[test]
    fn round_trip_and_wrong_label() {
        let key = fixture_key();
        let mut rng = seeded_rng(1);
        let ct = hybrid_encrypt(&mut rng, key.public_key(), b"hello", b"ns/name").unwrap();
        assert_eq!(&ct[..2], &[0x02, 0x00]);
        assert_eq!(ct.len(), 2 + 512 + 5 + 16);
        let (pt, used) = hybrid_decrypt([&key], &ct, b"ns/name", &mut 0).unwrap();
        assert_eq!(pt.as_slice(), b"hello");
        assert_eq!(used.fingerprint(), key.fingerprint());
        assert!(hybrid_decrypt([&key], &ct, b"ns/other", &mut 0).is_err());
    }
}
