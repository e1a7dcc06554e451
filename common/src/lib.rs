//! Sans-IO core of sealed-secrets-rs, a drop-in replacement for bitnami-labs/sealed-secrets.
//!
//! Wire format ([`crypto`]), keys and certificates ([`keys`]), scopes ([`scope`]), the CRD types
//! ([`types`]), sealing and unsealing ([`sealing`]) and Go templates ([`template`]). No tokio, no
//! HTTP, no files, no clock reads: time and randomness come in as arguments.
#![forbid(unsafe_code)]
// No panics on data paths: everything here parses input from users or the API server. Tests may
// unwrap. `string_slice` catches `&s[a..b]` on a `str`, which `indexing_slicing` does not.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod crypto;
pub mod documents;
pub mod go;
pub mod keys;
pub mod scope;
pub mod sealing;
pub mod template;
pub mod types;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
pub(crate) mod test_support;
