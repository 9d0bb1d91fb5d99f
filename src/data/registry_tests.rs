//! Tests of the dataset registry.

use super::*;
use crate::data::idx::tests::{encode_idx, gzip, write_file};

fn repo_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn info<'a>(list: &'a [DatasetInfo], name: &str) -> &'a DatasetInfo {
    list.iter().find(|d| d.name == name).expect("listed")
}

/// A tiny Fashion-MNIST look-alike: 3 train / 2 test images of 4x5, gzipped.
fn write_tiny_fashion(data_dir: &Path) -> PathBuf {
    let dir = data_dir.join("fashion-mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let put = |base: &str, bytes: Vec<u8>| write_file(&dir.join(format!("{base}.gz")), &gzip(&bytes));
    put(TRAIN_IMAGES, encode_idx(0x08, &[3, 4, 5], &[9; 60]));
    put(TRAIN_LABELS, encode_idx(0x08, &[3], &[0, 9, 4]));
    put(TEST_IMAGES, encode_idx(0x08, &[2, 4, 5], &[1; 40]));
    put(TEST_LABELS, encode_idx(0x08, &[2], &[3, 3]));
    dir
}

#[test]
fn every_api_name_is_listed_once_in_order() {
    let list = list_datasets(&repo_data());
    let names: Vec<&str> = list.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, DATASET_NAMES);
}

#[test]
fn the_bundled_mnist_is_listed_as_available_with_header_sizes() {
    let list = list_datasets(&repo_data());
    let mnist = info(&list, "mnist");
    assert!(mnist.available);
    assert_eq!(mnist.kind, DatasetKind::Image);
    assert_eq!((mnist.train_size, mnist.test_size, mnist.classes), (60_000, 10_000, 10));
    assert_eq!(mnist.input_shape, vec![28, 28]);
}

#[test]
fn image_sets_without_files_are_listed_as_unavailable() {
    let empty = tempfile::tempdir().unwrap();
    let list = list_datasets(empty.path());
    assert!(!info(&list, "mnist").available);
    if !Path::new(SYSTEM_FASHION_MNIST).exists() {
        assert!(!info(&list, "fashion-mnist").available);
    }
    assert!(info(&list, "xor").available && info(&list, "spiral").available);
}

#[test]
fn a_broken_header_makes_a_dataset_unavailable() {
    let data = tempfile::tempdir().unwrap();
    let dir = write_tiny_fashion(data.path());
    write_file(
        &dir.join(format!("{TEST_LABELS}.gz")),
        &gzip(&encode_idx(0x08, &[5], &[0; 5])),
    );
    assert!(!info(&list_datasets(data.path()), "fashion-mnist").available);
}

#[test]
fn fashion_mnist_in_the_data_dir_is_listed_and_loaded() {
    let data = tempfile::tempdir().unwrap();
    write_tiny_fashion(data.path());
    let list = list_datasets(data.path());
    let fashion = info(&list, "fashion-mnist");
    assert!(fashion.available);
    assert_eq!((fashion.train_size, fashion.test_size), (3, 2));
    assert_eq!(fashion.input_shape, vec![4, 5]);
    let (train, test) = load_dataset("fashion-mnist", data.path(), 0).unwrap();
    assert_eq!((train.len(), test.len(), train.classes), (3, 2, 10));
    assert_eq!(train.name, "fashion-mnist");
    assert_eq!(test.image_shape, Some((4, 5)));
}

#[test]
fn loading_a_missing_image_set_names_the_missing_file() {
    let empty = tempfile::tempdir().unwrap();
    let err = load_dataset("mnist", empty.path(), 0).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { .. }), "{err:?}");
}

#[test]
fn gates_and_toys_load_with_their_listed_sizes() {
    let list = list_datasets(&repo_data());
    for name in ["and", "or", "nand", "xor", "xor-cloud", "circle", "spiral", "gaussian"] {
        let (train, test) = load_dataset(name, &repo_data(), 1).unwrap();
        let i = info(&list, name);
        assert_eq!((train.len(), test.len()), (i.train_size, i.test_size), "{name}");
        assert_eq!((train.feature_count(), train.classes), (i.input_shape[0], i.classes));
        assert_eq!(train.name, name);
    }
    let (train, test) = load_dataset("xor", &repo_data(), 1).unwrap();
    assert_eq!(train, test, "a truth table is its own test set");
    assert_eq!(info(&list, "xor").kind, DatasetKind::Table);
    assert_eq!(info(&list, "circle").kind, DatasetKind::Toy);
}

#[test]
fn toy_splits_are_seeded_and_use_separate_streams() {
    let (a_train, a_test) = load_dataset("spiral", &repo_data(), 5).unwrap();
    let (b_train, b_test) = load_dataset("spiral", &repo_data(), 5).unwrap();
    assert_eq!((&a_train, &a_test), (&b_train, &b_test));
    let (c_train, _) = load_dataset("spiral", &repo_data(), 6).unwrap();
    assert_ne!(a_train.features, c_train.features);
    assert_ne!(
        a_train.take_first(500).features,
        a_test.features,
        "test is not a copy of train"
    );
    let trainer_stream = toy_dataset(Toy::Spiral, TOY_TRAIN_SIZE, &mut rng_from_seed(5));
    assert_ne!(a_train.features, trainer_stream.features);
}

#[test]
fn an_unknown_name_is_an_unknown_dataset_error() {
    let err = load_dataset("cifar-10", &repo_data(), 0).unwrap_err();
    assert!(matches!(&err, DataError::UnknownDataset(n) if n == "cifar-10"));
    assert!(err.to_string().contains("cifar-10"));
}

#[test]
fn info_serialises_with_the_api_field_names() {
    let list = list_datasets(&repo_data());
    let json = serde_json::to_value(info(&list, "circle")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"name": "circle", "kind": "toy", "input_shape": [2], "classes": 2,
            "train_size": 1000, "test_size": 500, "available": true})
    );
}
