//! What a training run reports while it runs, and how its observer can stop it.

use serde::Serialize;

/// One epoch's metrics: the rows of the API's loss history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// 1-based fold for k-fold cross-validation, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// Mean data loss (without the weight penalty) over the epoch's mini-batches.
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
    pub learning_rate: f32,
    /// Mean L2 norm of each dense layer's weight gradient, input side first.
    pub grad_norms: Vec<f32>,
    /// L2 norm of each dense layer's weights at the end of the epoch.
    pub weight_norms: Vec<f32>,
    /// Training samples seen in the epoch (samples / seconds = throughput).
    pub samples: usize,
    pub seconds: f32,
    /// The training rows' accuracy in eval mode (JobSpec `eval_train_accuracy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_train_accuracy: Option<f32>,
    /// The test set's loss and accuracy after the epoch (JobSpec `epoch_test_metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Evaluation>,
}

/// Mean mini-batch loss over the steps since the previous sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepLoss {
    /// 1-based count of optimizer steps since the start of the run.
    pub step: usize,
    pub epoch: usize,
    pub loss: f32,
}

/// Loss and accuracy on a held-out set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub loss: f32,
    pub accuracy: f32,
}

/// k-fold cross-validation: each fold's final validation metrics, their mean and std.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KFoldSummary {
    pub folds: Vec<Evaluation>,
    pub mean_accuracy: f32,
    pub std_accuracy: f32,
    pub mean_loss: f32,
    pub std_loss: f32,
    /// 1-based fold whose model is kept (the best validation accuracy).
    pub best_fold: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Step(StepLoss),
    Epoch(&'a EpochMetrics),
    KFold(&'a KFoldSummary),
}

/// Whether the run should go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Receives a run's events; asked between mini-batches whether to go on, so a cancel takes
/// effect within one mini-batch.
pub trait Observer {
    fn event(&mut self, event: Event) -> Control;
    fn keep_going(&mut self) -> bool {
        true
    }
    /// Whether to hand this observer a checkpoint after every epoch (before the epoch's
    /// event), so it can store both together.
    fn wants_checkpoints(&self) -> bool {
        false
    }
    /// A checkpoint (`train::checkpoint`) of the run as of the epoch about to be reported.
    fn checkpoint(&mut self, _bytes: Vec<u8>) {}
    /// The network as initialised, before its first mini-batch (not called on a resume).
    fn initial_weights(&mut self, _network: &crate::nn::Network) {}
}

/// An observer that ignores everything (benchmarks, tests).
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _: Event) -> Control {
        Control::Continue
    }
}

impl<F: FnMut(Event) -> Control> Observer for F {
    fn event(&mut self, event: Event) -> Control {
        self(event)
    }
}
