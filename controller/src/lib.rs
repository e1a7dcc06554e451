//! The Sealed Secrets controller: unseals SealedSecrets into Secrets.
//!
//! The flow (details in `docs/architecture.md`):
//!
//! 1. `main` parses [`config::Config`] and calls [`run`], which builds one `Context` (client,
//!    config, key registry, metrics, recorder, readiness, per-object memo, unsealer).
//! 2. The key watcher keeps the registry equal to the key Secrets ([`keys`]); the HTTP and
//!    metrics servers serve from it ([`http`]).
//! 3. As leader: key generation, and one kube-runtime controller per watched namespace
//!    (`watch`), which calls `reconcile` for each SealedSecret: in sync? → failed before? →
//!    unseal → write the Secret → write the status.

pub mod config;
mod context;
mod events;
pub mod http;
pub mod keys;
mod leader;
mod list_watch;
pub mod logging;
pub mod metrics;
mod ratelimit;
mod reconcile;
mod run;
pub mod ui;
mod watch;

pub use context::Readiness;
pub use run::run;

/// The version printed by `--version` and exported as `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
