//! Datasets: IDX files, the lecture toy sets, splits, augmentation, drawn digits.

pub mod augment;
pub mod dataset;
pub mod digit;
pub mod error;
pub mod idx;
pub mod images;
pub mod registry;
pub mod split;
pub mod toy;

pub use augment::{AugmentConfig, augment_batch, augment_image};
pub use dataset::{Dataset, Features};
pub use digit::{Preprocess, preprocess_digit, preprocess_digit_as};
pub use error::DataError;
pub use idx::{IdxArray, IdxData, encode_idx, read_idx, read_idx_bytes};
pub use images::{load_image_dataset, load_image_set};
pub use registry::{DatasetInfo, DatasetKind, list_datasets, load_dataset};
pub use split::{k_fold, train_validation_split};
pub use toy::{Gate, Toy, gate_dataset, toy_dataset};
