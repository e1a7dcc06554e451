//! Sans-IO core of sealed-secrets-rs, a drop-in replacement for bitnami-labs/sealed-secrets.
//!
//! Wire format ([`crypto`]), keys and certificates ([`keys`]), scopes ([`scope`]), annotations and
//! labels ([`annotations`]), the CRD types ([`crd`]), sealing, unsealing and re-sealing
//! ([`sealing`]), the break-glass recovery envelope ([`recovery`]), YAML/JSON documents ([`documents`]), Go templates ([`template`]) and Go's
//! duration, boolean and date formats ([`go`]). No tokio, no HTTP, no files, no clock reads: time
//! and randomness come in as arguments.
//!
//! The types and functions most callers need are re-exported here.
#![warn(missing_docs)]

pub mod annotations;
pub mod crd;
pub mod crypto;
pub mod documents;
pub mod edit;
pub mod fingerprint;
pub mod go;
pub mod keys;
pub mod recovery;
pub mod scope;
pub mod sealing;
pub mod template;

pub use crd::{SealedSecret, SealedSecretSpec, SealedSecretStatus, SecretTemplateSpec};
pub use documents::Format;
pub use keys::{Certificate, Fingerprint, PrivateKey, PublicKey};
pub use scope::SealingScope;
pub use sealing::{
    ResealError, ResealOptions, Resealed, UnsealError, UnsealOptions, UnsealStats, UnsealedSecret,
    reseal, seal_raw, seal_secret, unseal, verify,
};

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
pub(crate) mod test_support;
