//! The one error type of the data module.
//!
//! Every message names the file (or dataset, or image) and says what is wrong with it, so
//! an operator reading a log line can fix the problem without a debugger.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read at the OS level.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not a well-formed IDX file (or its gzip wrapper is corrupt).
    #[error("{file}: not a valid IDX file: {reason}")]
    InvalidIdx { file: String, reason: String },

    /// A required dataset file is absent (neither raw nor `.gz`).
    #[error("{}: missing {file} (looked for {file} and {file}.gz)", dir.display())]
    MissingFile { dir: PathBuf, file: String },

    /// The files are individually valid but do not fit together.
    #[error("dataset {dataset}: {reason}")]
    Inconsistent { dataset: String, reason: String },

    #[error("unknown dataset {0:?}")]
    UnknownDataset(String),

    /// A drawn digit contains no ink, so there is nothing to classify.
    #[error("drawn image is blank: no ink found")]
    BlankImage,

    /// The pixel buffer does not match the stated width and height.
    #[error("drawn image: {len} pixel values do not match {width}x{height}")]
    ImageSize { width: usize, height: usize, len: usize },
}
