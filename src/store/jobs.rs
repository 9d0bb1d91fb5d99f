//! Jobs as the store keeps them, and the leases under which workers train them.
//!
//! Every store function a worker calls about its job takes the job's [`Lease`] and changes
//! nothing (returning `false`) unless the job is still `running` under that lease's token: a
//! worker whose lease expired or whose job was cancelled is fenced off by the database itself.

use sqlx::FromRow;

use super::words::stored_words;
use crate::jobs::{JobKind, JobStatus};

#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub spec: String,
    pub dataset: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub epoch: i64,
    pub epochs_total: i64,
    pub error: Option<String>,
    pub model_id: Option<String>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub train_seconds: Option<f64>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub init_sha256: Option<String>,
    /// The weights it starts from instead of drawing them (a fork's), as a blob.
    pub start_sha256: Option<String>,
    pub parent_id: Option<String>,
    /// The JobSpec fields changed from the parent's (JSON array).
    pub changed: Option<String>,
    pub fork_id: Option<String>,
    pub fork_pair: Option<i64>,
    pub fork_role: Option<ForkRole>,
    pub sweep_id: Option<String>,
    /// Queued but not claimable: a sweep trial waiting for a slot or a decision.
    pub held: bool,
    /// A sweep trial stops after this epoch and waits for the early-stopping rule.
    pub pause_at_epoch: Option<i64>,
}

/// What a delete reads of a job first: its status, model id, and initial and start weights
/// (blobs it may hold the last reference to).
pub(crate) type DeleteTarget = (JobStatus, Option<String>, Option<String>, Option<String>);

/// Which jobs to list, newest first.
#[derive(Debug, Clone, Copy)]
pub struct JobQuery<'a> {
    pub status: Option<JobStatus>,
    /// Only the jobs forked from this one (every pair of every fork of it).
    pub parent_id: Option<&'a str>,
    /// At most this many.
    pub limit: i64,
}

/// A worker's claim on a running job: who holds it and the token its writes must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub token: String,
}

/// Milliseconds since the Unix epoch (lease expiries).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A job to queue.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub kind: JobKind,
    pub spec_json: &'a str,
    pub dataset: &'a str,
    pub epochs_total: i64,
    pub max_attempts: i64,
    pub fork: Option<ForkOf<'a>>,
}

/// Where a forked job comes from (`NewJob::fork`).
#[derive(Clone)]
pub struct ForkOf<'a> {
    pub parent_id: &'a str,
    /// The JobSpec fields changed from the parent's (JSON array).
    pub changed_json: &'a str,
    /// The first child's id: what `/jobs/{id}/pairs` is asked about.
    pub fork_id: &'a str,
    pub pair: i64,
    pub role: ForkRole,
    /// Its initial weights (safetensors bytes).
    pub start_weights: &'a [u8],
}

stored_words! {
    /// A forked job's side of its pair.
    pub enum ForkRole ("fork role") {
        /// The parent's spec with another seed: the other half of a pair k >= 1.
        Baseline => "baseline",
        /// The parent's spec with the change.
        Child => "child",
    }
}

/// Which running jobs a reclaim takes back (to the queue, or `failed` when out of attempts).
#[derive(Debug, Clone, Copy)]
pub enum Reclaim<'a> {
    /// Those whose lease expired before this time (ms since the epoch): the reaper.
    Expired(i64),
    /// Every one: a SQLite file at start, which only one server uses.
    All,
    /// Those expired before this time, and those leased by this replica name: a replica
    /// restarted under its name takes back at once what its earlier process held.
    ExpiredOrOwnedBy(i64, &'a str),
}

impl<'a> Reclaim<'a> {
    /// The expiry bound and the owner, as the queries bind them.
    pub(crate) fn bounds(self) -> (i64, Option<&'a str>) {
        match self {
            Reclaim::Expired(before_ms) => (before_ms, None),
            Reclaim::All => (i64::MAX, None),
            Reclaim::ExpiredOrOwnedBy(before_ms, owner) => (before_ms, Some(owner)),
        }
    }
}

/// What a cancel found.
#[derive(Debug)]
pub enum Cancel {
    /// The job was queued or running and is now `cancelled`.
    Cancelled(JobRow),
    /// The job had already ended; it is unchanged.
    AlreadyEnded(JobRow),
    NotFound,
}

/// What a delete found.
#[derive(Debug)]
pub enum Delete {
    /// The job, its metrics, checkpoint and model (if any) are gone; the model's id is given
    /// so that caches can drop it.
    Deleted {
        model_id: Option<String>,
    },
    /// Queued or running: only ended jobs can be deleted.
    NotEnded(JobStatus),
    NotFound,
}
