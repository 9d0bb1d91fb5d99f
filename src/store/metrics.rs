//! A job's history as the store keeps it: one row per epoch ([`EpochRow`], served as it is
//! by `/metrics` and the event stream), sampled step losses (thinned to at most
//! [`MAX_STEP_SAMPLES`] per job), and the newest checkpoint.

use serde::Serialize;
use sqlx::FromRow;

use crate::train::{EpochMetrics, StepLoss};

/// Step samples kept per job: when a run has recorded more, every other one is dropped, so a
/// history's size does not grow with its length (recent epochs are the most detailed).
pub const MAX_STEP_SAMPLES: i64 = 2000;

/// One epoch's metrics, as `/metrics` lists them and the event stream sends them. A value
/// that was not measured (`val_loss` without a validation split) or not finite (a diverged
/// run) is null.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EpochRow {
    /// The epoch's place in the run, 1-based (k-fold runs count every fold's epochs): what
    /// `?since_epoch=` and a job's `progress.epoch` count.
    pub epochs_done: i64,
    /// The epoch within its fold, 1-based.
    pub epoch: i64,
    /// 1-based fold for k-fold cross-validation, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<i64>,
    /// Mean L2 norm of each dense layer's weight gradient over the epoch, input side first.
    pub grad_norms: Vec<Option<f64>>,
    #[schema(required = true)]
    pub learning_rate: Option<f64>,
    /// Training samples seen in the epoch.
    #[schema(required = true)]
    pub samples: Option<i64>,
    #[schema(required = true)]
    pub seconds: Option<f64>,
    #[schema(required = true)]
    pub train_accuracy: Option<f64>,
    /// Mean data loss (without the weight penalty) over the epoch's mini-batches.
    #[schema(required = true)]
    pub train_loss: Option<f64>,
    #[schema(required = true)]
    pub val_accuracy: Option<f64>,
    #[schema(required = true)]
    pub val_loss: Option<f64>,
    /// L2 norm of each dense layer's weights at the end of the epoch, input side first.
    pub weight_norms: Vec<Option<f64>>,
    /// The training rows' accuracy in eval mode (no dropout, running batch-norm statistics),
    /// when the spec asks for it (`eval_train_accuracy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_train_accuracy: Option<f64>,
    /// The test set's loss and accuracy after the epoch, when asked (`epoch_test_metrics`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

fn finite(v: f32) -> Option<f64> {
    v.is_finite().then_some(v as f64)
}

impl EpochRow {
    /// The row of an epoch the trainer reported, `epochs_done` into the run.
    pub fn new(m: &EpochMetrics, epochs_done: i64) -> EpochRow {
        let series = |values: &[f32]| values.iter().map(|&v| finite(v)).collect();
        EpochRow {
            epochs_done,
            epoch: m.epoch as i64,
            fold: m.fold.map(|f| f as i64),
            train_loss: finite(m.train_loss),
            train_accuracy: finite(m.train_accuracy),
            val_loss: m.val_loss.and_then(finite),
            val_accuracy: m.val_accuracy.and_then(finite),
            learning_rate: finite(m.learning_rate),
            seconds: finite(m.seconds),
            samples: Some(m.samples as i64),
            grad_norms: series(&m.grad_norms),
            weight_norms: series(&m.weight_norms),
            eval_train_accuracy: m.eval_train_accuracy.and_then(finite),
            test_loss: m.test.and_then(|t| finite(t.loss)),
            test_accuracy: m.test.and_then(|t| finite(t.accuracy)),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct StepRow {
    pub step: i64,
    pub epoch: i64,
    pub loss: f64,
}

/// What a worker records at the end of an epoch.
pub struct EpochRecord<'a> {
    pub row: &'a EpochRow,
    /// The step losses sampled since the previous record.
    pub steps: &'a [StepLoss],
    /// The run's checkpoint as of this epoch, when the trainer's newest one is this epoch's.
    pub checkpoint: Option<&'a [u8]>,
}

/// The table's row: the norms are JSON text there.
#[derive(FromRow)]
pub(crate) struct StoredEpoch {
    pub epochs_done: i64,
    pub fold: i64,
    pub epoch: i64,
    pub train_loss: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub learning_rate: Option<f64>,
    pub seconds: Option<f64>,
    pub samples: Option<i64>,
    pub grad_norms: String,
    pub weight_norms: String,
    pub eval_train_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

impl From<StoredEpoch> for EpochRow {
    fn from(r: StoredEpoch) -> EpochRow {
        let series = |json: &str| serde_json::from_str(json).unwrap_or_default();
        EpochRow {
            epochs_done: r.epochs_done,
            epoch: r.epoch,
            fold: (r.fold > 0).then_some(r.fold),
            train_loss: r.train_loss,
            train_accuracy: r.train_accuracy,
            val_loss: r.val_loss,
            val_accuracy: r.val_accuracy,
            learning_rate: r.learning_rate,
            seconds: r.seconds,
            samples: r.samples,
            grad_norms: series(&r.grad_norms),
            weight_norms: series(&r.weight_norms),
            eval_train_accuracy: r.eval_train_accuracy,
            test_loss: r.test_loss,
            test_accuracy: r.test_accuracy,
        }
    }
}
