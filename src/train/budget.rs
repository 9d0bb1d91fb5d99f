//! What a job will hold in memory, estimated from its spec and data before it is queued, so
//! that a server can refuse a job that would not fit instead of running out of memory.
//!
//! The estimate is an upper bound on what the trainer allocates (it counts every buffer a
//! layer keeps for its backward pass), in bytes of f32:
//! - parameters: weights, gradients, up to two optimizer slots (Adam's m and v), and the
//!   copies a checkpoint and the final safetensors make: 7 values per parameter;
//! - activations of one mini-batch: the input rows, and per layer its output and the
//!   gradient it passes back (dense, activation, maxout pieces, batch norm's 3 and
//!   dropout's 3 buffers), the softmax and its gradient; evaluation runs in chunks of up to
//!   1000 rows, so the batch counted is at least that when there are as many rows;
//! - the dataset: its train and test rows (u8 pixels for images, f32 for the toy sets).

use super::spec::JobSpec;
use crate::nn::ActivationName;

/// What the estimate needs to know of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    pub input_size: usize,
    pub classes: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    /// Bytes per stored feature: 1 for image pixels, 4 for f32 features.
    pub bytes_per_feature: usize,
}

/// A job's estimated memory, by what drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub parameters: u64,
    pub activations: u64,
    pub dataset: u64,
}

/// Rows evaluated per forward pass (`trainer::EVAL_CHUNK`).
const EVAL_ROWS: usize = 1000;
/// f32 values held per trainable parameter (see the module comment).
const VALUES_PER_PARAMETER: u64 = 7;

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.parameters + self.activations + self.dataset
    }

    /// The JobSpec field that drives the largest part: what a user would change.
    pub fn driving_field(&self) -> &'static str {
        if self.activations >= self.parameters && self.activations >= self.dataset {
            "batch_size"
        } else if self.parameters >= self.dataset {
            "hidden_layers"
        } else {
            "train_samples"
        }
    }
}

/// Rows a job trains on per epoch: `train_samples` of the training set less the validation
/// split (a k-fold run trains on (k-1)/k of them).
pub fn training_rows(spec: &JobSpec, data: &DataShape) -> usize {
    let used = spec.train_samples.map_or(data.train_rows, |n| n.min(data.train_rows));
    let kept = match spec.k_folds {
        Some(k) => used - used / k.max(1),
        None => used - (used as f64 * spec.validation_split as f64).round() as usize,
    };
    kept.max(1)
}

pub fn estimate(spec: &JobSpec, data: &DataShape) -> MemoryEstimate {
    let parameters = spec.model_spec(data.input_size, data.classes).parameter_count() as u64;
    let batch = spec.batch_size.min(training_rows(spec, data)).max(1);
    let rows = batch.max(EVAL_ROWS.min(data.train_rows.max(data.test_rows)));
    let pieces = if spec.activation == ActivationName::Maxout {
        spec.maxout_pieces
    } else {
        1
    };
    // Values per row: the input, then each hidden layer, then the output layer.
    let mut per_row = data.input_size as u64;
    let mut width_in = data.input_size as u64;
    for &units in &spec.hidden_layers {
        let (u, w) = (units as u64, (units * pieces) as u64);
        // dense: out [w] + grad_in [in]; activation or maxout: out [u] + grad_in [w].
        per_row += w + width_in + u + w;
        if spec.batch_norm {
            per_row += 3 * w;
        }
        if spec.dropout > 0.0 {
            per_row += 3 * u;
        }
        width_in = u;
    }
    // Output dense (out + grad_in), softmax probabilities and their gradient.
    per_row += width_in + 3 * data.classes as u64;
    let f32_bytes = 4u64;
    let dataset_rows = (data.train_rows + data.test_rows) as u64;
    MemoryEstimate {
        parameters: parameters * VALUES_PER_PARAMETER * f32_bytes,
        activations: rows as u64 * per_row * f32_bytes,
        dataset: dataset_rows * (data.input_size * data.bytes_per_feature + 1) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mnist() -> DataShape {
        DataShape {
            input_size: 784,
            classes: 10,
            train_rows: 60_000,
            test_rows: 10_000,
            bytes_per_feature: 1,
        }
    }

    fn spec(json: serde_json::Value) -> JobSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn softmax_regression_is_counted_by_hand() {
        // 784*10 + 10 = 7850 parameters, 7 f32 values each.
        let s = spec(
            serde_json::json!({"dataset": "mnist", "hidden_layers": [], "batch_size": 100,
                                       "validation_split": 0}),
        );
        let e = estimate(&s, &mnist());
        assert_eq!(e.parameters, 7850 * 7 * 4);
        // Evaluation chunks of 1000 rows outnumber the batch of 100: 1000 rows of
        // 784 (input) + 784 (output dense grad_in) + 3*10 values.
        assert_eq!(e.activations, 1000 * (784 + 784 + 30) * 4);
        assert_eq!(e.dataset, 70_000 * 785);
    }

    #[test]
    fn a_billion_row_batch_is_capped_by_the_training_rows_and_blamed_on_batch_size() {
        let s = spec(serde_json::json!({"dataset": "mnist", "hidden_layers": [4096], "batch_size": 1_000_000_000u64}));
        let e = estimate(&s, &mnist());
        // 54,000 training rows after the 10% validation split.
        let per_row = 784 + (4096 + 784 + 4096 + 4096) + 4096 + 30;
        assert_eq!(e.activations, 54_000 * per_row * 4);
        assert!(e.total() > 2 << 30, "{e:?}");
        assert_eq!(e.driving_field(), "batch_size");
    }

    #[test]
    fn wide_layers_with_small_batches_are_blamed_on_hidden_layers() {
        let s = spec(serde_json::json!({"dataset": "mnist", "hidden_layers": [4096, 4096, 4096], "batch_size": 16}));
        assert_eq!(estimate(&s, &mnist()).driving_field(), "hidden_layers");
    }
}
