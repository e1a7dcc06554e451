//! The real-cluster tests, one binary (`cargo test -p sealed-secrets-tests --test cluster`):
//! they run in parallel against one control plane, each in its own namespace with its own
//! controller process. The fault tests are the separate `faults` binary (they stop the
//! apiserver and etcd). See docs/testing.md.

mod controller;
mod harness;
mod hostile;
mod kubeseal_online;
