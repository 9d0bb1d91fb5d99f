//! Datasets loaded once and shared by every job that trains on them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::data::{DataError, Dataset, load_dataset};

/// Train and test sets.
pub type Split = Arc<(Dataset, Dataset)>;

/// Image datasets (MNIST: ~55 MB as u8) are cached by name; the small generated sets depend
/// on the job's seed and are made per job.
pub struct DatasetCache {
    data_dir: PathBuf,
    loaded: Mutex<HashMap<String, Split>>,
}

impl DatasetCache {
    pub fn new(data_dir: PathBuf) -> Self {
        DatasetCache {
            data_dir,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Loads (blocking: call from a blocking thread) or returns the cached split.
    pub fn get(&self, name: &str, seed: u64) -> Result<Split, DataError> {
        if let Some(hit) = self.loaded.lock().expect("cache lock").get(name) {
            return Ok(Arc::clone(hit));
        }
        let (train, test) = load_dataset(name, &self.data_dir, seed)?;
        let split = Arc::new((train, test));
        if split.0.image_shape.is_some() {
            self.loaded
                .lock()
                .expect("cache lock")
                .insert(name.to_string(), Arc::clone(&split));
        }
        Ok(split)
    }
}
