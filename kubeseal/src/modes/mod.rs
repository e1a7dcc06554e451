//! One module per [`Mode`](crate::config::Mode) family.

pub mod controller;
pub mod diff;
pub mod edit;
pub mod envelope;
pub mod fingerprint;
pub mod fleet;
pub mod keep;
pub mod keys;
pub mod proof;
pub mod recover;
pub mod recovery;
pub mod reencrypt;
pub mod seal;
pub mod set;
