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

impl DataError {
    /// The message for clients of the service: the same, but with no server path in it
    /// (a file is named by its file name only). The full message is for the log.
    pub fn public_message(&self) -> String {
        let name = |p: &std::path::Path| {
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        match self {
            DataError::Io { path, source } => format!("cannot read {}: {}", name(path), source.kind()),
            DataError::InvalidIdx { file, reason } => {
                format!("{}: not a valid IDX file: {reason}", name(std::path::Path::new(file)))
            }
            DataError::MissingFile { file, .. } => format!("missing {file} (looked for {file} and {file}.gz)"),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod public_message_tests {
    use super::*;

    #[test]
    fn public_messages_name_files_without_their_directories() {
        let errors = [
            DataError::Io {
                path: "/srv/secret/data/mnist/train-images-idx3-ubyte.gz".into(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            },
            DataError::MissingFile {
                dir: "/srv/secret/data/mnist".into(),
                file: "t10k-labels-idx1-ubyte".into(),
            },
            DataError::InvalidIdx {
                file: "/srv/secret/data/mnist/t10k-images-idx3-ubyte.gz".into(),
                reason: "truncated".into(),
            },
        ];
        for e in errors {
            let public = e.public_message();
            assert!(!public.contains("/srv/secret"), "{public}");
            assert!(e.to_string().contains("/srv/secret"), "the log keeps the path");
        }
    }
}
