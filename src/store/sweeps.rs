//! Sweeps as the store keeps them: the sweep, its trials (jobs with a configuration), the
//! early-stopping decisions, and the state the controller (`jobs::sweeps`) decides from and
//! the changes it asks for, applied in one transaction under the sweep's lock.

use sqlx::FromRow;

use super::jobs::{JobRow, NewJob};
use super::words::stored_words;

stored_words! {
    /// Where a sweep is: `running` until its controller ends it `succeeded` (or `failed`,
    /// when every trial failed), or a user cancels it.
    pub enum SweepStatus ("sweep status") {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

stored_words! {
    /// What an early-stopping rule decided for a configuration at a rung.
    pub enum DecisionAction ("decision action") {
        /// It goes on to the next rung (or to the end).
        Promote => "promote",
        /// Its unfinished trials end `cancelled`, with the rule's reason.
        Stop => "stop",
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct SweepRow {
    pub id: String,
    pub name: String,
    /// The request (SweepSpec JSON).
    pub spec: String,
    pub status: SweepStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// A trial: its job, and its configuration (index and swept values, JSON).
#[derive(Debug, Clone, FromRow)]
pub struct TrialRow {
    #[sqlx(flatten)]
    pub job: JobRow,
    pub config: i64,
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct DecisionRow {
    pub config: i64,
    pub rung_epoch: i64,
    pub action: DecisionAction,
    pub value: f64,
    pub cutoff: f64,
    pub rank: i64,
    pub of_count: i64,
    pub rule: String,
}

/// One epoch row of a trial, the metrics a sweep can rank by.
#[derive(Debug, Clone, FromRow)]
pub struct TrialEpoch {
    pub job_id: String,
    pub epochs_done: i64,
    pub train_loss: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
}

impl TrialEpoch {
    /// The value of a metric by its name (`val_accuracy`, `val_loss`, `train_accuracy`,
    /// `train_loss`: a sweep's `metric`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "val_accuracy" => self.val_accuracy,
            "val_loss" => self.val_loss,
            "train_accuracy" => self.train_accuracy,
            _ => self.train_loss,
        }
    }
}

/// Everything the controller decides from.
#[derive(Debug, Clone)]
pub struct SweepState {
    pub sweep: SweepRow,
    pub trials: Vec<TrialRow>,
    pub decisions: Vec<DecisionRow>,
    pub epochs: Vec<TrialEpoch>,
}

/// The controller's decision function (a plain function: the store calls it inside the
/// sweep's transaction).
pub type Decide = for<'a> fn(&'a SweepState) -> SweepChanges;

/// What the controller decided; the store applies it atomically, each job change guarded by
/// the job's state (a finished or cancelled job is left alone).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepChanges {
    /// Held jobs that may now be claimed (a free slot under `parallelism`).
    pub release: Vec<String>,
    /// Paused jobs that go on (promoted by ASHA, or judged by the median rule), with their
    /// next pause epoch (`None`: to the end). They stay held until released.
    pub promote: Vec<(String, Option<i64>)>,
    /// Jobs that end `cancelled` with this message (a rule stopped their configuration).
    pub stop: Vec<(String, String)>,
    pub decisions: Vec<DecisionRow>,
    /// The sweep ends with this status (`succeeded` or `failed`: how it ended).
    pub finish: Option<SweepStatus>,
}

impl SweepChanges {
    pub fn is_empty(&self) -> bool {
        *self == SweepChanges::default()
    }
}

pub struct NewSweep<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub spec_json: &'a str,
}

/// A trial to create: its job (queued and held: the controller releases it) and its
/// configuration.
pub struct NewTrial<'a> {
    pub job: NewJob<'a>,
    pub config: i64,
    pub params_json: &'a str,
    /// Where it first stops for a decision (ASHA's first rung).
    pub pause_at: Option<i64>,
}

/// What creating a sweep found.
pub enum SweepInsert {
    Created(SweepRow),
    /// `max_running` sweeps are running already.
    TooMany,
}
