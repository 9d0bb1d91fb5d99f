//! Content-addressed blobs: model weights, checkpoints and initial weights live in one
//! table keyed by the SHA-256 of their bytes, so equal weights are stored once (a fork
//! shares its parent's start; re-importing a model adds no bytes). A row points at its blob
//! by digest, and a blob is deleted in the transaction that drops the last row pointing at
//! it. README ("Where the bytes live") says up to what model size this is the right place.

use sha2::{Digest, Sha256};

/// The lower-case hex SHA-256 of `bytes`: a blob's key.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// How many blobs the database holds and their total size (exported as metrics, so an
/// operator sees when the weights outgrow the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlobUsage {
    pub count: i64,
    pub bytes: i64,
}
