//! sprig's certificate functions (`crypto.go`): `genCA`, `genCAWithKey`, `genSelfSignedCert`,
//! `genSelfSignedCertWithKey`, `genSignedCert`, `genSignedCertWithKey`, `buildCustomCert`. They
//! return sprig's `certificate` struct (`.Cert`, `.Key`: PEM). The certificate is Go's
//! `x509.CreateCertificate` of sprig's template: a random serial below 2¹²⁸, the common name as
//! the only subject attribute, validity from now for `days` × 24 h, key usage keyEncipherment +
//! digitalSignature (+ keyCertSign for a CA), extended key usage serverAuth + clientAuth, basic
//! constraints (CA or not, critical), the IP and DNS SANs, a subject key id for a CA and the
//! issuer's key id as authority key id for a signed certificate; SHA-256 with RSA.
//!
//! New keys are RSA-2048 as sprig's. A given key (`…WithKey`, `buildCustomCert`, the CA of
//! `genSignedCert`) must be RSA here: sprig also signs with ECDSA and Ed25519 keys, which are an
//! error here (docs/templates.md).

use std::net::IpAddr;
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use sha2::Sha256;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::asn1::{Ia5String, OctetString};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use zeroize::Zeroizing;

use super::Answer;
use crate::template::{Exec, Obj, Value, XR};

/// An RSA-2048 key generation: cheaper than genPrivateKey's RSA-4096, still bounded.
const RSA2048_STEPS: u64 = 100_000;

const SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// sprig's `certificate{Cert, Key string}`.
pub(in crate::template) struct CertPair {
    pub(in crate::template) cert: String,
    pub(in crate::template) key: Zeroizing<String>,
}

impl CertPair {
    pub(in crate::template) fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::str(&self.cert)),
            "Key" => Some(Value::str(&self.key)),
            _ => None,
        }
    }
}

/// Go's `pem.Decode`: the first block's type and bytes (headers not supported).
fn pem_decode(s: &str) -> Option<(String, Vec<u8>)> {
    let start = s.find("-----BEGIN ")?;
    let rest = s.get(start + 11..)?;
    let (typ, rest) = rest.split_once("-----")?;
    let end_marker = format!("-----END {typ}-----");
    let end = rest.find(&end_marker)?;
    let body: String = rest
        .get(..end)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .ok()?;
    Some((typ.to_owned(), der))
}

/// sprig's `parsePrivateKeyPEM`, for RSA keys.
fn parse_key(pem: &str) -> Result<rsa::PrivateKey, String> {
    let Some((typ, der)) = pem_decode(pem) else {
        return Err("no PEM data in input".into());
    };
    let der = Zeroizing::new(der);
    if typ == "PRIVATE KEY" {
        return rsa::PrivateKey::from_pkcs8_der(&der).map_err(|_| {
            "decoding PEM as PKCS#8: only RSA keys are supported here (docs/templates.md)".into()
        });
    }
    let Some(kind) = typ.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {typ}"));
    };
    match kind {
        "RSA" => rsa::PrivateKey::from_pkcs1_der(&der)
            .map_err(|_| "decoding PEM as RSA: invalid key".into()),
        "EC" | "DSA" => Err(format!(
            "{kind} keys are not supported here (docs/templates.md)"
        )),
        _ => Err(format!("invalid private key type {typ}")),
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

/// sprig's certificate template, as a builder profile.
struct SprigProfile {
    subject: Name,
    issuer: Name,
    ca: bool,
    signed: bool,
    ips: Vec<Vec<u8>>,
    dns: Vec<String>,
}

impl BuilderProfile for SprigProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut exts: Vec<Extension> = Vec::new();
        let mut usage = KeyUsages::KeyEncipherment | KeyUsages::DigitalSignature;
        if self.ca {
            usage |= KeyUsages::KeyCertSign;
        }
        exts.push((true, &KeyUsage(usage)).to_extension(subject, &exts)?);
        let eku = ExtendedKeyUsage(vec![SERVER_AUTH, CLIENT_AUTH]);
        exts.push((false, &eku).to_extension(subject, &exts)?);
        let basic = BasicConstraints {
            ca: self.ca,
            path_len_constraint: None,
        };
        exts.push((true, &basic).to_extension(subject, &exts)?);
        if self.ca {
            let ski = SubjectKeyIdentifier::try_from(spk)?;
            exts.push((false, &ski).to_extension(subject, &exts)?);
        }
        if self.signed {
            let ski = SubjectKeyIdentifier::try_from(issuer_spk)?;
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(ski.0),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            exts.push((false, &aki).to_extension(subject, &exts)?);
        }
        if !self.ips.is_empty() || !self.dns.is_empty() {
            let mut names = Vec::new();
            for d in &self.dns {
                names.push(GeneralName::DnsName(
                    Ia5String::new(d).map_err(x509_cert::builder::Error::from)?,
                ));
            }
            for ip in &self.ips {
                names.push(GeneralName::IpAddress(
                    OctetString::new(ip.clone()).map_err(x509_cert::builder::Error::from)?,
                ));
            }
            exts.push((false, &SubjectAltName(names)).to_extension(subject, &exts)?);
        }
        Ok(exts)
    }
}

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

impl Exec<'_> {
    fn new_rsa2048(&mut self) -> XR<Result<rsa::PrivateKey, String>> {
        self.charge(RSA2048_STEPS)?;
        Ok(rsa::PrivateKey::new(&mut *self.rng, 2048)
            .map_err(|e| format!("error generating rsa key: {e}")))
    }

    /// sprig's `getNetIPs` / `getAlternateDNSStrs` over a list argument (nil is empty).
    fn string_list(&self, v: &Value, what: &str) -> XR<Result<Vec<String>, String>> {
        let items = match v {
            Value::Nil => return Ok(Ok(Vec::new())),
            Value::List(l) => l.items.clone(),
            o => {
                return self.err(format!(
                    "wrong type for value; expected []interface {{}}; got {}",
                    o.type_name()
                ));
            }
        };
        let mut out = Vec::new();
        for x in &items {
            match x {
                Value::Str(s) => out.push(String::from_utf8_lossy(s).into_owned()),
                _ => return Ok(Err(format!("error parsing {what}: value is not a string"))),
            }
        }
        Ok(Ok(out))
    }

    /// Builds and signs sprig's template. `signer`: the issuer's certificate (PEM) and key, or
    /// `None` for a self-signed one.
    #[allow(clippy::too_many_arguments)]
    fn make_cert(
        &mut self,
        cn: &str,
        ips: &[String],
        dns: &[String],
        days: i64,
        ca: bool,
        key: &rsa::PrivateKey,
        signer: Option<(&str, &rsa::PrivateKey)>,
    ) -> XR<Result<CertPair, String>> {
        let fail = |m: &dyn std::fmt::Display| format!("error creating certificate: {m}");
        let mut ip_bytes = Vec::new();
        for ip in ips {
            match IpAddr::from_str(ip) {
                Ok(IpAddr::V4(a)) => ip_bytes.push(a.octets().to_vec()),
                Ok(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                    Some(v4) => ip_bytes.push(v4.octets().to_vec()),
                    None => ip_bytes.push(a.octets().to_vec()),
                },
                Err(_) => return Ok(Err("error parsing ip: not an IP address".into())),
            }
        }
        let subject = if cn.is_empty() {
            Name::default()
        } else {
            match Name::from_str(&format!("CN={}", escape_dn_value(cn))) {
                Ok(n) => n,
                Err(e) => return Ok(Err(fail(&e))),
            }
        };
        let (issuer, signing_key) = match signer {
            None => (subject.clone(), key),
            Some((cert_pem, k)) => {
                let Some((_, der)) = pem_decode(cert_pem) else {
                    return Ok(Err("unable to decode certificate".into()));
                };
                match x509_cert::Certificate::from_der(&der) {
                    Ok(c) => (c.tbs_certificate().subject().clone(), k),
                    Err(_) => {
                        return Ok(Err(
                            "error parsing certificate: decodedSignerCert.Bytes: invalid".into(),
                        ));
                    }
                }
            }
        };
        let mut serial = [0u8; 17];
        if let Some(tail) = serial.get_mut(1..) {
            self.random_fill(tail);
        }
        let serial = match SerialNumber::new(&serial) {
            Ok(s) => s,
            Err(e) => return Ok(Err(fail(&e))),
        };
        let (secs, nanos) = self.env.now_unix;
        let Some(not_before) = u64::try_from(secs)
            .ok()
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::new(s, nanos)))
        else {
            return Ok(Err(fail(&"clock before 1970")));
        };
        let span = Duration::from_secs(days.unsigned_abs().saturating_mul(86_400));
        let not_after = if days < 0 {
            not_before.checked_sub(span)
        } else {
            not_before.checked_add(span)
        };
        let validity = match not_after.map(|na| (Time::try_from(not_before), Time::try_from(na))) {
            Some((Ok(a), Ok(b))) => Validity::new(a, b),
            _ => return Ok(Err(fail(&"validity out of range"))),
        };
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .ok()
            .and_then(|d| SubjectPublicKeyInfoOwned::from_der(d.as_bytes()).ok());
        let Some(spki) = spki else {
            return Ok(Err(fail(&"public key")));
        };
        let profile = SprigProfile {
            subject,
            issuer,
            ca,
            signed: signer.is_some(),
            ips: ip_bytes,
            dns: dns.to_vec(),
        };
        let builder = match CertificateBuilder::new(profile, serial, validity, spki) {
            Ok(b) => b,
            Err(e) => return Ok(Err(fail(&e))),
        };
        let signing = rsa::pkcs1v15::SigningKey::<Sha256>::new(signing_key.clone());
        let der = builder
            .build::<_, rsa::pkcs1v15::Signature>(&signing)
            .map_err(|e| fail(&e))
            .and_then(|c| c.to_der().map_err(|e| fail(&e)));
        let der = match der {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let key_der = match key.to_pkcs1_der() {
            Ok(k) => k,
            Err(e) => return Ok(Err(format!("error pem-encoding key: {e}"))),
        };
        Ok(Ok(CertPair {
            cert: pem("CERTIFICATE", &der).to_string(),
            key: pem("RSA PRIVATE KEY", key_der.as_bytes()),
        }))
    }

    fn cert_arg(&self, v: &Value) -> XR<(String, Zeroizing<String>)> {
        if let Value::Obj(o) = v
            && let Obj::Cert(c) = &**o
        {
            return Ok((c.cert.clone(), c.key.clone()));
        }
        self.err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            v.type_name()
        ))
    }
}

fn cert_value(c: CertPair) -> Value {
    Value::Obj(Rc::new(Obj::Cert(c)))
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    // (cn, ips, dns, days, ca?, given key PEM, signer)
    let (cn, ips, dns, days, ca, given, signer) = match f {
        "genCA" | "genCAWithKey" => {
            let (cn, days, key) = if f == "genCA" {
                let [cn, d] = ex.fixed::<2>(f, args)?;
                (cn, d, None)
            } else {
                let [cn, d, k] = ex.fixed::<3>(f, args)?;
                (cn, d, Some(k))
            };
            (cn, Value::Nil, Value::Nil, days, true, key, None)
        }
        "genSelfSignedCert" | "genSelfSignedCertWithKey" => {
            let (cn, ips, dns, days, key) = if f == "genSelfSignedCert" {
                let [cn, i, d, days] = ex.fixed::<4>(f, args)?;
                (cn, i, d, days, None)
            } else {
                let [cn, i, d, days, k] = ex.fixed::<5>(f, args)?;
                (cn, i, d, days, Some(k))
            };
            (cn, ips, dns, days, false, key, None)
        }
        "genSignedCert" | "genSignedCertWithKey" => {
            let (cn, ips, dns, days, ca, key) = if f == "genSignedCert" {
                let [cn, i, d, days, ca] = ex.fixed::<5>(f, args)?;
                (cn, i, d, days, ca, None)
            } else {
                let [cn, i, d, days, ca, k] = ex.fixed::<6>(f, args)?;
                (cn, i, d, days, ca, Some(k))
            };
            (cn, ips, dns, days, false, key, Some(ca))
        }
        "buildCustomCert" => {
            let [c, k] = ex.fixed::<2>(f, args)?;
            let (c, k) = (ex.text(&c)?, ex.text(&k)?);
            let b64 = base64::engine::general_purpose::STANDARD;
            let Ok(cert) = b64.decode(c.as_bytes()) else {
                return ex.call_err(f, "unable to decode base64 certificate");
            };
            let Ok(key) = b64.decode(k.as_bytes()).map(Zeroizing::new) else {
                return ex.call_err(f, "unable to decode base64 private key");
            };
            let cert = String::from_utf8_lossy(&cert).into_owned();
            let key = Zeroizing::new(String::from_utf8_lossy(&key).into_owned());
            let Some((_, der)) = pem_decode(&cert) else {
                return ex.call_err(f, "unable to decode certificate");
            };
            if x509_cert::Certificate::from_der(&der).is_err() {
                return ex.call_err(f, "error parsing certificate");
            }
            if let Err(e) = parse_key(&key) {
                return ex.call_err(f, format!("error parsing private key: {e}"));
            }
            return Ok(Ok(cert_value(CertPair { cert, key })));
        }
        _ => return Ok(Err(args)),
    };
    let cn = ex.text(&cn)?;
    let ips = match ex.string_list(&ips, "ip")? {
        Ok(v) => v,
        Err(e) => return ex.call_err(f, e),
    };
    let dns = match ex.string_list(&dns, "alternate dns name")? {
        Ok(v) => v,
        Err(e) => return ex.call_err(f, e),
    };
    let days = ex.i(&days)?;
    let key = match given {
        Some(k) => {
            let k = ex.text(&k)?;
            parse_key(&k).map_err(|e| format!("parsing private key: {e}"))
        }
        None => ex.new_rsa2048()?,
    };
    let key = match key {
        Ok(k) => k,
        Err(e) => return ex.call_err(f, e),
    };
    let signer = match &signer {
        Some(ca) => {
            let (cert, k) = ex.cert_arg(ca)?;
            match parse_key(&k) {
                Ok(sk) => Some((cert, sk)),
                Err(e) => return ex.call_err(f, format!("error parsing private key: {e}")),
            }
        }
        None => None,
    };
    let made = ex.make_cert(
        &cn,
        &ips,
        &dns,
        days,
        ca,
        &key,
        signer.as_ref().map(|(c, k)| (c.as_str(), k)),
    )?;
    match made {
        Ok(c) => Ok(Ok(cert_value(c))),
        Err(e) => ex.call_err(f, e),
    }
}
