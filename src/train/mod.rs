//! Training: job specs, the epoch loop and the events it reports.

pub mod budget;
pub mod checkpoint;
pub mod classify;
pub mod events;
pub mod paired;
pub mod spec;
pub mod trainer;

#[cfg(test)]
mod tests;

pub use budget::{DataShape, MemoryEstimate};
pub use classify::{ClassReport, Miss, classify};
pub use events::{Control, EpochMetrics, Evaluation, Event, KFoldSummary, Observer, Quiet, StepLoss};
pub use spec::{InitName, JobSpec, SpecError, SpecLimits, ValidSpec};
pub use trainer::{Begin, EpochPlan, Outcome, Run, TrainError, evaluate, initial_network, train, train_resumable};
