//! Sealing keys and their certificates: generation, PEM, fingerprints, and the decryption backend.
//!
//! One module owns both crypto libraries: RustCrypto `rsa` + `x509-cert` generate keys, read and
//! write PEM and sign certificates; aws-lc-rs performs the RSA-OAEP private operation (about 5x
//! faster). Keys outside aws-lc-rs's range (2048–8192 bits) fall back to `rsa` for decryption.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine as _;
use rand::CryptoRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use sha2::{Digest, Sha256};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use zeroize::Zeroizing;

use crate::crypto::DecryptionError;

/// Default RSA modulus size, as upstream's `--key-size`.
pub const DEFAULT_KEY_BITS: usize = 4096;
/// Default certificate validity, as upstream's `--key-ttl` (`87600h`).
pub const DEFAULT_CERT_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);

/// Errors reading or generating keys and certificates.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The input holds no PEM block of the expected kind.
    #[error("no {0} found in PEM data")]
    NoPem(&'static str),
    /// The private key is not an RSA key (e.g. EC).
    #[error("private key is not an RSA key")]
    NotRsaPrivateKey,
    /// The PEM private key could not be decoded.
    #[error("cannot parse private key")]
    PrivateKey,
    /// The PEM private key is passphrase-protected PKCS#8 (`ENCRYPTED PRIVATE KEY`): read it with
    /// [`PrivateKey::from_encrypted_pem`].
    #[error("the private key is passphrase-protected")]
    Encrypted,
    /// The passphrase-protected key could not be decrypted (wrong passphrase, or damaged).
    #[error("cannot decrypt the private key: wrong passphrase?")]
    Passphrase,
    /// Key generation failed.
    #[error("cannot generate a {0}-bit RSA key")]
    Generate(usize),
    /// The certificate could not be decoded.
    #[error("cannot parse certificate: {0}")]
    Certificate(String),
    /// The certificate holds a public key other than RSA.
    #[error("expected RSA public key but found {0}")]
    NotRsaPublicKey(String),
    /// The certificate expired before `now`.
    #[error("failed to encrypt using an expired certificate on {0}")]
    Expired(String),
    /// The certificate could not be built or signed.
    #[error("cannot build certificate: {0}")]
    Build(String),
    /// A certificate does not belong to the private key it is stored with.
    #[error("certificate does not match the private key")]
    Mismatch,
}

/// `SHA256:` + unpadded base64 of the SHA-256 of the SSH wire-format public key, as upstream's
/// `ssh.FingerprintSHA256`. Identifies a key in logs, metrics and status; reveals nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Big-endian magnitude without leading zero bytes.
fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

/// Append an SSH `mpint` (RFC 4251): u32 length, two's-complement big-endian, minimal.
fn put_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let magnitude = trim_leading_zeros(magnitude);
    let pad = magnitude.first().is_some_and(|b| b & 0x80 != 0);
    let len = magnitude.len() + usize::from(pad);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    if pad {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
}

/// A sized handle on a caller's RNG (pkcs8 wants a sized `TryCryptoRng`).
struct RngRef<'a, R: CryptoRng + ?Sized>(&'a mut R);

impl<R: CryptoRng + ?Sized> rand::TryRng for RngRef<'_, R> {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: CryptoRng + ?Sized> rand::TryCryptoRng for RngRef<'_, R> {}

/// An RSA public key (the sealing side).
#[derive(Clone)]
pub struct PublicKey {
    rsa: RsaPublicKey,
    fingerprint: Fingerprint,
}

impl PublicKey {
    fn new(rsa: RsaPublicKey) -> Self {
        let mut wire = Vec::with_capacity(32 + rsa.size());
        wire.extend_from_slice(&7u32.to_be_bytes());
        wire.extend_from_slice(b"ssh-rsa");
        put_mpint(&mut wire, &rsa.e().to_be_bytes());
        put_mpint(&mut wire, &rsa.n().to_be_bytes());
        let digest = Sha256::digest(&wire);
        let fingerprint = Fingerprint(format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        ));
        Self { rsa, fingerprint }
    }

    /// Parse a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        RsaPublicKey::from_public_key_der(der)
            .map(Self::new)
            .map_err(|e| KeyError::Certificate(e.to_string()))
    }

    pub(crate) fn rsa(&self) -> &RsaPublicKey {
        &self.rsa
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Modulus size in bytes (the size of the RSA part of every ciphertext).
    pub fn size_bytes(&self) -> usize {
        self.rsa.size()
    }

    /// DER `SubjectPublicKeyInfo`.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        self.rsa
            .to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|e| KeyError::Build(e.to_string()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &(self.rsa.size() * 8))
            .field("fingerprint", &self.fingerprint.0)
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.rsa == other.rsa
    }
}

/// Which library performs the RSA private operation.
enum Backend {
    AwsLc(OaepPrivateDecryptingKey),
    RustCrypto,
}

/// An RSA private sealing key. Zeroized on drop (both libraries clear their key material); its
/// `Debug` shows only the fingerprint. Deliberately not `Clone`, `Serialize` or `Display`.
pub struct PrivateKey {
    rsa: RsaPrivateKey,
    public: PublicKey,
    backend: Backend,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("fingerprint", &self.public.fingerprint.0)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    fn from_rsa(rsa: RsaPrivateKey) -> Result<Self, KeyError> {
        let public = PublicKey::new(rsa.to_public_key());
        let backend = match rsa.to_pkcs8_der() {
            Ok(der) => match PrivateDecryptingKey::from_pkcs8(der.as_bytes()) {
                Ok(key) => OaepPrivateDecryptingKey::new(key)
                    .map(Backend::AwsLc)
                    .unwrap_or(Backend::RustCrypto),
                // aws-lc-rs takes 2048..=8192-bit keys; others decrypt with `rsa`.
                Err(_) => Backend::RustCrypto,
            },
            Err(_) => return Err(KeyError::PrivateKey),
        };
        Ok(Self {
            rsa,
            public,
            backend,
        })
    }

    /// Generate a new key of `bits` bits.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, bits: usize) -> Result<Self, KeyError> {
        let rsa = RsaPrivateKey::new(rng, bits).map_err(|_| KeyError::Generate(bits))?;
        Self::from_rsa(rsa)
    }

    /// Read the first private key in PEM data: PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        for block in pem_blocks(pem) {
            let text = std::str::from_utf8(block.text).map_err(|_| KeyError::PrivateKey)?;
            let rsa = match block.label {
                "RSA PRIVATE KEY" => {
                    RsaPrivateKey::from_pkcs1_pem(text).map_err(|_| KeyError::PrivateKey)?
                }
                "PRIVATE KEY" => {
                    use rsa::pkcs8::DecodePrivateKey;
                    RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| match e {
                        rsa::pkcs8::Error::KeyMalformed(_) | rsa::pkcs8::Error::Asn1(_) => {
                            KeyError::PrivateKey
                        }
                        _ => KeyError::NotRsaPrivateKey,
                    })?
                }
                "EC PRIVATE KEY" => return Err(KeyError::NotRsaPrivateKey),
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                _ => continue,
            };
            return Self::from_rsa(rsa);
        }
        Err(KeyError::NoPem("private key"))
    }

    /// Does `pem` hold a passphrase-protected PKCS#8 key (`ENCRYPTED PRIVATE KEY`)?
    pub fn is_encrypted_pem(pem: &[u8]) -> bool {
        pem_blocks(pem).any(|b| b.label == "ENCRYPTED PRIVATE KEY")
    }

    /// Read the first passphrase-protected PKCS#8 key (PBES2) in PEM data.
    pub fn from_encrypted_pem(pem: &[u8], passphrase: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs8::DecodePrivateKey;
        let block = pem_blocks(pem)
            .find(|b| b.label == "ENCRYPTED PRIVATE KEY")
            .ok_or(KeyError::NoPem("encrypted private key"))?;
        let text = std::str::from_utf8(block.text).map_err(|_| KeyError::PrivateKey)?;
        let rsa = RsaPrivateKey::from_pkcs8_encrypted_pem(text, passphrase)
            .map_err(|_| KeyError::Passphrase)?;
        Self::from_rsa(rsa)
    }

    /// Passphrase-protected PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`; PBES2 with scrypt and
    /// AES-256-CBC, salt and IV from `rng`).
    pub fn to_pkcs8_encrypted_pem<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        passphrase: &[u8],
    ) -> Result<Zeroizing<String>, KeyError> {
        let der = self.rsa.to_pkcs8_der().map_err(|_| KeyError::PrivateKey)?;
        let info =
            pkcs8::PrivateKeyInfoRef::try_from(der.as_bytes()).map_err(|_| KeyError::PrivateKey)?;
        let encrypted = info
            .encrypt_with_rng(&mut RngRef(rng), passphrase)
            .map_err(|_| KeyError::PrivateKey)?;
        encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|_| KeyError::PrivateKey)
    }

    /// PKCS#1 PEM (`RSA PRIVATE KEY`), as upstream stores `tls.key`.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.rsa
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|_| KeyError::PrivateKey)
    }

    /// PKCS#8 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.rsa
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::PrivateKey)
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.public.fingerprint
    }

    /// Name of the library that performs this key's private operation.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::AwsLc(_) => "aws-lc-rs",
            Backend::RustCrypto => "rsa",
        }
    }

    /// Use RustCrypto `rsa` for the private operation (for cross-testing the two libraries).
    #[doc(hidden)]
    pub fn into_rustcrypto_backend(mut self) -> Self {
        self.backend = Backend::RustCrypto;
        self
    }

    /// RSA-OAEP-SHA256 unwrap of a session key. A ciphertext shorter than the modulus is
    /// left-padded with zeros (upstream accepts those); a longer one is rejected.
    pub(crate) fn oaep_decrypt(
        &self,
        wrapped: &[u8],
        label: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptionError> {
        let k = self.public.size_bytes();
        let pad = k.checked_sub(wrapped.len()).ok_or(DecryptionError)?;
        let mut padded = vec![0u8; k];
        padded
            .get_mut(pad..)
            .ok_or(DecryptionError)?
            .copy_from_slice(wrapped);
        match &self.backend {
            Backend::AwsLc(key) => {
                let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
                let label = (!label.is_empty()).then_some(label);
                let n = key
                    .decrypt(&OAEP_SHA256_MGF1SHA256, &padded, &mut out, label)
                    .map_err(|_| DecryptionError)?
                    .len();
                out.truncate(n);
                Ok(out)
            }
            Backend::RustCrypto => self
                .rsa
                .decrypt(Oaep::<Sha256>::new_with_label(label), &padded)
                .map(Zeroizing::new)
                .map_err(|_| DecryptionError),
        }
    }

    pub(crate) fn rsa(&self) -> &RsaPrivateKey {
        &self.rsa
    }
}

/// One PEM block found in a text: its label and its full text including the armour lines.
struct PemBlock<'a> {
    label: &'a str,
    text: &'a [u8],
}

/// Iterate over the PEM blocks of `data`, skipping anything between them.
fn pem_blocks(data: &[u8]) -> impl Iterator<Item = PemBlock<'_>> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut rest = data;
    std::iter::from_fn(move || {
        loop {
            let start = find(rest, BEGIN)?;
            let block = rest.get(start..)?;
            let after_begin = block.get(BEGIN.len()..)?;
            let label_end = find(after_begin, b"-----")?;
            let label = std::str::from_utf8(after_begin.get(..label_end)?).ok()?;
            let end_marker = format!("-----END {label}-----");
            let Some(end) = find(block, end_marker.as_bytes()) else {
                rest = after_begin;
                continue;
            };
            let stop = end + end_marker.len();
            rest = block.get(stop..)?;
            return Some(PemBlock {
                label,
                text: block.get(..stop)?,
            });
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An X.509 certificate holding an RSA sealing key.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    public: PublicKey,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.public.fingerprint.0)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Parse one DER certificate; it must hold an RSA public key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
        if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
            return Err(KeyError::NotRsaPublicKey(describe_key_algorithm(
                &spki.algorithm.oid.to_string(),
            )));
        }
        let spki_der = spki
            .to_der()
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        Ok(Self {
            der: der.to_vec(),
            public: PublicKey::from_spki_der(&spki_der)?,
            not_before: tbs.validity().not_before.to_system_time(),
            not_after: tbs.validity().not_after.to_system_time(),
        })
    }

    /// Parse the first certificate of a PEM bundle, as upstream's `ParseKey` does.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        Self::all_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or(KeyError::NoPem("certificate"))
    }

    /// Parse every certificate of a PEM bundle.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>, KeyError> {
        pem_blocks(pem)
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| {
                let (_, der) = x509_cert::der::pem::decode_vec(b.text)
                    .map_err(|e| KeyError::Certificate(e.to_string()))?;
                Self::from_der(&der)
            })
            .collect()
    }

    /// PEM text (`CERTIFICATE`).
    pub fn to_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certified public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Start of validity.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Refuse an expired certificate with upstream's message.
    pub fn check_not_expired(&self, now: SystemTime) -> Result<(), KeyError> {
        if now > self.not_after {
            return Err(KeyError::Expired(crate::go::format_date(self.not_after)));
        }
        Ok(())
    }

    /// Check that this certificate holds `key`'s public half.
    pub fn check_matches(&self, key: &PrivateKey) -> Result<(), KeyError> {
        if self.public == *key.public_key() {
            Ok(())
        } else {
            Err(KeyError::Mismatch)
        }
    }
}

fn describe_key_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.10045.2.1" => "*ecdsa.PublicKey".into(),
        "1.3.101.112" => "ed25519.PublicKey".into(),
        other => format!("key algorithm {other}"),
    }
}

/// What goes into a new sealing certificate.
#[derive(Debug, Clone)]
pub struct CertificateParams {
    /// Subject and issuer common name (`--my-cn`); empty gives an empty name, as upstream.
    pub common_name: String,
    /// Start of validity (the caller's clock).
    pub not_before: SystemTime,
    /// Validity length (`--key-ttl`).
    pub validity: Duration,
}

/// Self-signed sealing certificate profile: CA basic constraints, key usage
/// keyEncipherment + keyCertSign (see docs/compatibility.md), subject key identifier.
struct SealingProfile {
    subject: Name,
}

impl BuilderProfile for SealingProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts: Vec<Extension> = Vec::new();
        let subject = tbs.subject();
        let usage = KeyUsage(KeyUsages::KeyEncipherment | KeyUsages::KeyCertSign);
        exts.push((true, &usage).to_extension(subject, &exts)?);
        let basic = BasicConstraints {
            ca: true,
            path_len_constraint: None,
        };
        exts.push((true, &basic).to_extension(subject, &exts)?);
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        exts.push((false, &ski).to_extension(subject, &exts)?);
        Ok(exts)
    }
}

/// Escape a value for an RFC 4514 distinguished-name string.
fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let needs = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if needs {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Build the self-signed certificate for a new sealing key, shaped like upstream's:
/// random 128-bit serial, CN only (or empty), validity from `not_before`, SHA-256 with RSA.
pub fn self_signed_certificate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &PrivateKey,
    params: &CertificateParams,
) -> Result<Certificate, KeyError> {
    let build = |e: &dyn fmt::Display| KeyError::Build(e.to_string());
    let subject = if params.common_name.is_empty() {
        Name::default()
    } else {
        Name::from_str(&format!("CN={}", escape_dn_value(&params.common_name)))
            .map_err(|e| build(&e))?
    };
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    // A positive, non-zero serial: clear nothing but make sure it is not all zeros.
    if serial.iter().all(|b| *b == 0) {
        serial[15] = 1;
    }
    let serial = SerialNumber::new(&serial).map_err(|e| build(&e))?;
    let not_after = params
        .not_before
        .checked_add(params.validity)
        .ok_or_else(|| KeyError::Build("validity overflows".into()))?;
    let validity = Validity::new(
        Time::try_from(params.not_before).map_err(|e| build(&e))?,
        Time::try_from(not_after).map_err(|e| build(&e))?,
    );
    let spki_der = key.public_key().to_spki_der()?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(|e| build(&e))?;
    let builder = CertificateBuilder::new(SealingProfile { subject }, serial, validity, spki)
        .map_err(|e| build(&e))?;
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.rsa().clone());
    let cert = builder
        .build::<_, rsa::pkcs1v15::Signature>(&signer)
        .map_err(|e| build(&e))?;
    let der = cert.to_der().map_err(|e| build(&e))?;
    Certificate::from_der(&der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn fixture_key_and_cert_match() {
        let key = fixture_key();
        let cert = fixture_cert();
        cert.check_matches(&key).unwrap();
        assert_eq!(key.backend_name(), "aws-lc-rs");
        assert!(key.fingerprint().as_str().starts_with("SHA256:"));
        assert_eq!(key.fingerprint().as_str().len(), 7 + 43);
    }

    #[test]
    fn pkcs1_and_pkcs8_round_trip() {
        let key = fixture_key();
        let pkcs8 = key.to_pkcs8_pem().unwrap();
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = PrivateKey::from_pem(pkcs8.as_bytes()).unwrap();
        assert_eq!(again.fingerprint(), key.fingerprint());
        let pkcs1 = again.to_pkcs1_pem().unwrap();
        assert_eq!(
            pkcs1.as_str(),
            fixture_key_pem().trim_end().to_owned() + "\n"
        );
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let key = fixture_key();
        let shown = format!("{key:?}");
        assert!(shown.contains("SHA256:"));
        assert!(!shown.contains("MII"));
        assert!(shown.len() < 120);
    }

    #[test]
    fn rejects_non_rsa_and_garbage() {
        assert!(matches!(
            PrivateKey::from_pem(b"hello"),
            Err(KeyError::NoPem(_))
        ));
        let ec = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_pem(ec),
            Err(KeyError::NotRsaPrivateKey)
        ));
        let bad = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_pem(bad),
            Err(KeyError::PrivateKey)
        ));
        assert!(matches!(
            Certificate::from_pem(b""),
            Err(KeyError::NoPem(_))
        ));
    }

    #[test]
    fn first_certificate_of_a_bundle_is_used() {
        let cert = fixture_cert();
        let bundle = format!("junk\n{}{}", cert.to_pem(), generated_cert_pem());
        let first = Certificate::from_pem(bundle.as_bytes()).unwrap();
        assert_eq!(first.der(), cert.der());
        assert_eq!(
            Certificate::all_from_pem(bundle.as_bytes()).unwrap().len(),
            2
        );
    }

    #[test]
    fn expired_certificate_message_is_upstreams() {
        let cert = fixture_cert();
        let later = cert.not_after() + Duration::from_secs(1);
        let err = cert.check_not_expired(later).unwrap_err().to_string();
        assert!(
            err.starts_with("failed to encrypt using an expired certificate on "),
            "{err}"
        );
        cert.check_not_expired(cert.not_before()).unwrap();
    }

    #[test]
    fn mpint_encoding() {
        let mut out = Vec::new();
        put_mpint(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, [0, 0, 0, 3, 0, 0x80, 1]);
        out.clear();
        put_mpint(&mut out, &[0, 1, 0, 1]);
        assert_eq!(out, [0, 0, 0, 3, 1, 0, 1]);
    }

    #[test]
    fn generated_certificate_is_shaped_like_upstreams() {
        let key = generated_key();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let params = CertificateParams {
            common_name: String::new(),
            not_before: now,
            validity: DEFAULT_CERT_VALIDITY,
        };
        let cert = self_signed_certificate(&mut seeded_rng(9), key, &params).unwrap();
        cert.check_matches(key).unwrap();
        assert_eq!(cert.not_before(), now);
        assert_eq!(cert.not_after(), now + DEFAULT_CERT_VALIDITY);
        let parsed = x509_cert::Certificate::from_der(cert.der()).unwrap();
        let tbs = parsed.tbs_certificate();
        assert!(tbs.subject().is_empty());
        assert!(tbs.issuer().is_empty());
        let (critical, usage) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
        assert!(critical);
        assert!(usage.key_encipherment() && usage.key_cert_sign());
        assert!(!usage.encipher_only());
        let (_, basic) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
        assert!(basic.ca);
        assert!(tbs.serial_number().as_bytes().len() <= 17);

        let named = CertificateParams {
            common_name: "sealed-secret, \"x\"".into(),
            ..params
        };
        let cert = self_signed_certificate(&mut seeded_rng(10), key, &named).unwrap();
        let parsed = x509_cert::Certificate::from_der(cert.der()).unwrap();
        assert_eq!(
            parsed.tbs_certificate().subject().to_string(),
            "CN=sealed-secret\\, \\\"x\\\""
        );
    }
}
