//! Loading an IDX image-classification dataset (MNIST, Fashion-MNIST, ...) from a directory.
//!
//! The four files use the MNIST names, raw or gzipped. Images must be u8 `[n, rows, cols]`,
//! labels u8 `[n]`; counts, shapes and classes are cross-checked so that a mixed-up
//! directory fails at load time rather than as nonsense accuracy later.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::DataError;
use super::dataset::{Dataset, Features};
use super::idx::{IdxData, read_idx};

pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
pub const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// The path of `base` or `base.gz` in `dir`, whichever exists (raw preferred).
pub fn find_file(dir: &Path, base: &str) -> Result<PathBuf, DataError> {
    [base.to_string(), format!("{base}.gz")]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            file: base.to_string(),
        })
}

/// Loads (train, test) from the four IDX files in `dir`; `name` becomes `Dataset::name`.
pub fn load_image_dataset(dir: &Path, name: &str) -> Result<(Dataset, Dataset), DataError> {
    let inconsistent = |reason: String| DataError::Inconsistent {
        dataset: name.to_string(),
        reason,
    };
    let (train_x, shape) = load_images(&find_file(dir, TRAIN_IMAGES)?)?;
    let train_y = load_labels(&find_file(dir, TRAIN_LABELS)?)?;
    let (test_x, test_shape) = load_images(&find_file(dir, TEST_IMAGES)?)?;
    let test_y = load_labels(&find_file(dir, TEST_LABELS)?)?;
    if shape != test_shape {
        return Err(inconsistent(format!(
            "train images are {}x{} but test images are {}x{}",
            shape.0, shape.1, test_shape.0, test_shape.1
        )));
    }
    for (split, x, y) in [("train", &train_x, &train_y), ("test", &test_x, &test_y)] {
        if x.nrows() != y.len() {
            return Err(inconsistent(format!(
                "{split} split has {} images but {} labels",
                x.nrows(),
                y.len()
            )));
        }
    }
    // One class count for both splits, so a class absent from the test set still has an
    // output unit.
    let classes = match train_y.iter().chain(&test_y).max() {
        Some(&m) => m as usize + 1,
        None => return Err(inconsistent("no labels in either split".into())),
    };
    let make = |features, labels| Dataset {
        name: name.to_string(),
        features: Features::U8(features),
        labels,
        classes,
        image_shape: Some(shape),
    };
    Ok((make(train_x, train_y), make(test_x, test_y)))
}

/// One labelled image set from an images file and a labels file (raw or gzipped IDX), as
/// written by the drawings export; classes are the largest label plus one.
pub fn load_image_set(images: &Path, labels: &Path, name: &str) -> Result<Dataset, DataError> {
    let (features, shape) = load_images(images)?;
    let labels = load_labels(labels)?;
    if features.nrows() != labels.len() {
        return Err(DataError::Inconsistent {
            dataset: name.to_string(),
            reason: format!("{} images but {} labels", features.nrows(), labels.len()),
        });
    }
    Ok(Dataset {
        name: name.to_string(),
        classes: labels.iter().max().map_or(0, |&m| m as usize + 1),
        features: Features::U8(features),
        labels,
        image_shape: Some(shape),
    })
}

fn wrong(path: &Path, reason: String) -> DataError {
    DataError::InvalidIdx {
        file: path.display().to_string(),
        reason,
    }
}

fn load_images(path: &Path) -> Result<(Array2<u8>, (usize, usize)), DataError> {
    let arr = read_idx(path)?;
    let (n, rows, cols) = match arr.dims[..] {
        [n, r, c] => (n, r, c),
        _ => return Err(wrong(path, format!("images need 3 dimensions, found {:?}", arr.dims))),
    };
    let IdxData::U8(pixels) = arr.data else {
        return Err(wrong(path, "images must be unsigned bytes (type 0x08)".into()));
    };
    let features = Array2::from_shape_vec((n, rows * cols), pixels)
        .map_err(|e| wrong(path, format!("cannot shape pixels as [{n}, {rows}x{cols}]: {e}")))?;
    Ok((features, (rows, cols)))
}

fn load_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let arr = read_idx(path)?;
    if arr.dims.len() != 1 {
        return Err(wrong(path, format!("labels need 1 dimension, found {:?}", arr.dims)));
    }
    match arr.data {
        IdxData::U8(labels) => Ok(labels),
        IdxData::F32(_) => Err(wrong(path, "labels must be unsigned bytes (type 0x08)".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::tests::{encode_idx, gzip, write_file};
    use sha2::{Digest, Sha256};

    fn mnist_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
    }

    /// Writes a tiny dataset: `n_train`/`n_test` 2x3 images, labels `i % 3`.
    fn write_tiny(dir: &Path, n_train: u32, n_test: u32, labels_train: u32, gz: bool) {
        let put = |base: &str, bytes: Vec<u8>| {
            let (name, bytes) = if gz {
                (format!("{base}.gz"), gzip(&bytes))
            } else {
                (base.to_string(), bytes)
            };
            write_file(&dir.join(name), &bytes);
        };
        let images = |n: u32| encode_idx(0x08, &[n, 2, 3], &(0..n * 6).map(|v| v as u8).collect::<Vec<_>>());
        let labels = |n: u32| encode_idx(0x08, &[n], &(0..n).map(|v| (v % 3) as u8).collect::<Vec<_>>());
        put(TRAIN_IMAGES, images(n_train));
        put(TRAIN_LABELS, labels(labels_train));
        put(TEST_IMAGES, images(n_test));
        put(TEST_LABELS, labels(n_test));
    }

    #[test]
    fn a_tiny_gzipped_dataset_loads_with_shapes_and_classes() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), 5, 2, 5, true);
        let (train, test) = load_image_dataset(dir.path(), "tiny").unwrap();
        assert_eq!((train.len(), test.len()), (5, 2));
        assert_eq!(train.image_shape, Some((2, 3)));
        assert_eq!(train.feature_count(), 6);
        assert_eq!(train.classes, 3);
        assert_eq!(test.classes, 3);
        assert_eq!(train.labels, vec![0, 1, 2, 0, 1]);
        assert!((train.row_f32(1)[0] - 6.0 / 255.0).abs() < 1e-7);
        assert_eq!(train.name, "tiny");
    }

    #[test]
    fn label_and_image_count_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), 5, 2, 4, false);
        let err = load_image_dataset(dir.path(), "tiny").unwrap_err();
        assert!(matches!(err, DataError::Inconsistent { .. }), "{err:?}");
        assert!(err.to_string().contains("5 images but 4 labels"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), 2, 2, 2, false);
        std::fs::remove_file(dir.path().join(TEST_LABELS)).unwrap();
        let err = load_image_dataset(dir.path(), "tiny").unwrap_err();
        assert!(matches!(err, DataError::MissingFile { .. }));
        assert!(err.to_string().contains(TEST_LABELS));
    }

    #[test]
    fn images_of_the_wrong_rank_or_type_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), 2, 2, 2, false);
        write_file(&dir.path().join(TEST_IMAGES), &encode_idx(0x08, &[2, 6], &[0; 12]));
        assert!(
            load_image_dataset(dir.path(), "t")
                .unwrap_err()
                .to_string()
                .contains("3 dimensions")
        );
        write_file(&dir.path().join(TEST_IMAGES), &encode_idx(0x0D, &[1, 1, 1], &[0; 4]));
        assert!(
            load_image_dataset(dir.path(), "t")
                .unwrap_err()
                .to_string()
                .contains("unsigned bytes")
        );
    }

    #[test]
    fn train_and_test_image_shapes_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), 2, 2, 2, false);
        write_file(&dir.path().join(TEST_IMAGES), &encode_idx(0x08, &[2, 3, 2], &[0; 12]));
        let err = load_image_dataset(dir.path(), "t").unwrap_err();
        assert!(
            err.to_string().contains("2x3") && err.to_string().contains("3x2"),
            "{err}"
        );
    }

    #[test]
    fn the_bundled_mnist_loads_with_the_published_sizes() {
        let (train, test) = load_image_dataset(&mnist_dir(), "mnist").unwrap();
        assert_eq!(train.len(), 60_000);
        assert_eq!(test.len(), 10_000);
        assert_eq!(train.image_shape, Some((28, 28)));
        assert_eq!(train.feature_count(), 784);
        assert_eq!(train.classes, 10);
        assert_eq!(train.labels[0], 5);
        assert_eq!(test.labels[0], 7);
        assert!(matches!(train.features, Features::U8(_)));
    }

    #[test]
    fn the_bundled_mnist_files_match_their_sha256sums() {
        let sums = std::fs::read_to_string(mnist_dir().join("SHA256SUMS")).unwrap();
        let mut checked = 0;
        for line in sums.lines().filter(|l| !l.trim().is_empty()) {
            let (hash, file) = line.split_once(char::is_whitespace).unwrap();
            let bytes = std::fs::read(mnist_dir().join(file.trim())).unwrap();
            let actual: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(actual, hash, "{file}");
            checked += 1;
        }
        assert_eq!(checked, 4);
    }
}
