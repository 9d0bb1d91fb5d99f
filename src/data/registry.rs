//! The datasets the service offers, by the names the HTTP API uses.
//!
//! `list_datasets` is cheap (it reads only IDX headers) so the API can call it per request;
//! `load_dataset` does the real work.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::DataError;
use super::dataset::Dataset;
use super::idx::{IdxHeader, IdxType, read_idx_header};
use super::images::{FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, find_file, load_image_dataset};
use super::toy::{Gate, Toy, gate_dataset, toy_dataset};
use crate::rng::{Rng, rng_from_seed};

/// Where a Debian-style package would install Fashion-MNIST.
pub const SYSTEM_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";
pub const TOY_TRAIN_SIZE: usize = 1000;
pub const TOY_TEST_SIZE: usize = 500;
/// Every name `load_dataset` accepts, in listing order.
pub const DATASET_NAMES: [&str; 10] = [
    "mnist",
    "fashion-mnist",
    "and",
    "or",
    "nand",
    "xor",
    "xor-cloud",
    "circle",
    "spiral",
    "gaussian",
];

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// IDX image files.
    Image,
    /// A fixed truth table.
    Table,
    /// Points generated from the seed.
    Toy,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq, utoipa::ToSchema)]
pub struct DatasetInfo {
    pub name: String,
    pub kind: DatasetKind,
    /// Per-sample shape: [rows, cols] for images, [features] otherwise.
    pub input_shape: Vec<usize>,
    pub classes: usize,
    pub train_size: usize,
    pub test_size: usize,
    /// False when the files are missing or broken; sizes are then the published ones.
    pub available: bool,
}

impl DatasetInfo {
    /// What a job's validation needs to know of the data (`train::budget`).
    pub fn shape(&self) -> crate::train::DataShape {
        crate::train::DataShape {
            input_size: self.input_shape.iter().product(),
            classes: self.classes,
            train_rows: self.train_size,
            test_rows: self.test_size,
            bytes_per_feature: if self.kind == DatasetKind::Image { 1 } else { 4 },
        }
    }
}

/// Directories searched for an image dataset, in order of preference.
fn image_dirs(name: &str, data_dir: &Path) -> Option<Vec<PathBuf>> {
    match name {
        "mnist" => Some(vec![data_dir.join("mnist")]),
        "fashion-mnist" => Some(vec![
            data_dir.join("fashion-mnist"),
            PathBuf::from(SYSTEM_FASHION_MNIST),
        ]),
        _ => None,
    }
}

/// The first directory holding all four files (raw or gzipped).
fn first_complete(dirs: &[PathBuf]) -> Option<&PathBuf> {
    dirs.iter().find(|d| FILES.iter().all(|f| find_file(d, f).is_ok()))
}

/// (train size, test size, [rows, cols]) from the headers, with the same checks as loading.
fn inspect_headers(dir: &Path) -> Result<(usize, usize, Vec<usize>), DataError> {
    let header = |base: &str| read_idx_header(&find_file(dir, base)?);
    let images = |h: IdxHeader| (h.elem == IdxType::U8 && h.dims.len() == 3).then_some(h.dims);
    let labels = |h: IdxHeader| (h.elem == IdxType::U8 && h.dims.len() == 1).then_some(h.dims[0]);
    let problem = |reason: &str| DataError::Inconsistent {
        dataset: dir.display().to_string(),
        reason: reason.to_string(),
    };
    let train = images(header(TRAIN_IMAGES)?).ok_or_else(|| problem("train images are not u8 [n, rows, cols]"))?;
    let test = images(header(TEST_IMAGES)?).ok_or_else(|| problem("test images are not u8 [n, rows, cols]"))?;
    let train_labels = labels(header(TRAIN_LABELS)?).ok_or_else(|| problem("train labels are not u8 [n]"))?;
    let test_labels = labels(header(TEST_LABELS)?).ok_or_else(|| problem("test labels are not u8 [n]"))?;
    if train[1..] != test[1..] {
        return Err(problem("train and test image shapes differ"));
    }
    if train[0] != train_labels || test[0] != test_labels {
        return Err(problem("image and label counts differ"));
    }
    Ok((train[0], test[0], train[1..].to_vec()))
}

fn image_info(name: &str, dirs: &[PathBuf]) -> DatasetInfo {
    let found = first_complete(dirs).and_then(|d| inspect_headers(d).ok());
    let available = found.is_some();
    // Both known image sets are 10-class 28x28 with 60k/10k samples; the class count is not
    // in the headers, and reading all labels would make listing slow.
    let (train_size, test_size, input_shape) = found.unwrap_or((60_000, 10_000, vec![28, 28]));
    DatasetInfo {
        name: name.to_string(),
        kind: DatasetKind::Image,
        input_shape,
        classes: 10,
        train_size,
        test_size,
        available,
    }
}

/// Every dataset the service knows, with availability and sizes.
pub fn list_datasets(data_dir: &Path) -> Vec<DatasetInfo> {
    DATASET_NAMES
        .iter()
        .map(|&name| {
            if let Some(dirs) = image_dirs(name, data_dir) {
                return image_info(name, &dirs);
            }
            let (kind, train_size, test_size) = if Gate::from_name(name).is_some() {
                (DatasetKind::Table, 4, 4)
            } else {
                (DatasetKind::Toy, TOY_TRAIN_SIZE, TOY_TEST_SIZE)
            };
            DatasetInfo {
                name: name.to_string(),
                kind,
                input_shape: vec![2],
                classes: 2,
                train_size,
                test_size,
                available: true,
            }
        })
        .collect()
}

/// Train and test generators for toy sets. They are far-apart sub-streams of the seed's
/// generator (Xoshiro jumps), so the two splits never share points, and the data do not
/// repeat the stream a trainer seeded with the same number would use for initialisation.
fn toy_streams(seed: u64) -> (Rng, Rng) {
    let mut rng = rng_from_seed(seed);
    rng.long_jump();
    let train = rng.clone();
    rng.jump();
    (train, rng)
}

/// Loads (train, test) for a dataset name from `list_datasets`.
pub fn load_dataset(name: &str, data_dir: &Path, seed: u64) -> Result<(Dataset, Dataset), DataError> {
    if let Some(dirs) = image_dirs(name, data_dir) {
        // With no complete directory, loading the preferred one reports what is missing.
        let dir = first_complete(&dirs).unwrap_or(&dirs[0]);
        return load_image_dataset(dir, name);
    }
    if let Some(gate) = Gate::from_name(name) {
        let table = gate_dataset(gate);
        return Ok((table.clone(), table));
    }
    if let Some(toy) = Toy::from_name(name) {
        let (mut train_rng, mut test_rng) = toy_streams(seed);
        return Ok((
            toy_dataset(toy, TOY_TRAIN_SIZE, &mut train_rng),
            toy_dataset(toy, TOY_TEST_SIZE, &mut test_rng),
        ));
    }
    Err(DataError::UnknownDataset(name.to_string()))
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
