//! Sans-IO core of sealed-secrets-rs, a drop-in replacement for bitnami-labs/sealed-secrets.
//!
//! Wire format ([`crypto`]), keys and certificates ([`keys`]), scopes ([`scope`]), the CRD types
//! ([`types`]), sealing and unsealing ([`sealing`]) and Go templates ([`template`]). No tokio, no
//! HTTP, no files, no clock reads: time and randomness come in as arguments.
#![warn(missing_docs)]

pub mod crypto;
pub mod documents;
pub mod keys;
pub mod scope;
pub mod sealing;
pub mod template;
pub mod types;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
pub(crate) mod test_support;
