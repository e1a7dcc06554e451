//! Why a reconcile failed: decides the retry policy and the status message.

use common::sealing::UnsealError;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SealedSecret cannot be unsealed (wrong key or scope, bad base64, template error).
    #[error(transparent)]
    Unseal(#[from] UnsealError),
    /// A Secret of that name exists and is not ours to change.
    #[error("failed update: Resource \"{0}\" already exists and is not managed by SealedSecret")]
    Unmanaged(String),
    /// The existing Secret is immutable.
    #[error("the target Secret is immutable")]
    Immutable,
    /// The API call failed (transient).
    #[error("{}", api_message(.0))]
    Kube(#[from] kube::Error),
    /// No key loaded yet.
    #[error("sealing keys not loaded yet")]
    KeysNotLoaded,
    /// The decryption task did not finish (it panicked or the runtime is shutting down).
    #[error("the unsealing task failed")]
    TaskFailed,
}

/// What an update of an immutable Secret says (upstream's words).
pub const IMMUTABLE_MESSAGE: &str = "the target Secret is immutable. Once a Secret is marked as immutable, it is not possible to revert this change nor to mutate the contents of the data field. You can only delete and recreate the Secret.";

/// The apiserver's own message for an API error (what upstream puts in status and events), not
/// kube-rs's debug dump of the whole Status object.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("{} {}", status.code, status.reason),
        other => other.to_string(),
    }
}
