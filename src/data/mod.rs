//! Datasets: IDX files, the lecture toy sets, splits, augmentation, drawn digits.
