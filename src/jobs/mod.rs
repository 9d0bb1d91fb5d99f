//! The job queue: submitting, cancelling and deleting jobs, N worker tasks that claim jobs
//! under leases and train them on blocking threads, and live events for subscribers.
//!
//! The database is the truth about every job; this process only adds what is live: the stop
//! flags of the jobs its workers train (so a cancel stops one within a mini-batch) and the
//! channels that carry their events to open streams.

mod datasets;
pub mod demo;
mod lease;
mod live;
pub mod run;
mod status;
pub mod sweeps;
mod training;
pub mod view;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

pub use datasets::DatasetCache;
pub use live::JobEvent;
pub use status::{JobKind, JobStatus};
pub use view::Job;

use crate::store::jobs::{Cancel, Delete, ForkOf, JobRow, NewJob};
use crate::store::sweeps::{NewSweep, NewTrial, SweepInsert, SweepRow};
use crate::store::{Notice, Store};
use crate::train::ValidSpec;

/// How workers hold and keep their jobs.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Matrix-product threads of one job.
    pub threads_per_job: usize,
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// Claims a job may take before it ends `failed`.
    pub max_attempts: u32,
    /// Queued jobs at most; a submit beyond gets `QueueFull`.
    pub max_queued: usize,
    /// This replica's name on the leases it takes.
    pub replica: String,
    /// How often an idle worker looks at the queue without a notice (a job queued by
    /// another process sharing the database, or a notice lost on the way).
    pub poll: Duration,
}

impl QueueSettings {
    /// The idle workers' poll when nothing says otherwise.
    pub const POLL: Duration = Duration::from_secs(1);
}

/// Shared by the API (submit, cancel, delete, subscribe) and the workers.
pub struct Jobs {
    store: Arc<dyn Store>,
    wake: Notify,
    /// Wakes the sweep controller (a trial paused or ended here).
    sweep_wake: Notify,
    live: live::Live,
    datasets: DatasetCache,
    settings: QueueSettings,
    /// This process's name on the leases it takes.
    owner: String,
    /// Set at shutdown: a job stopped then is given back to the queue.
    shutting_down: AtomicBool,
}

/// Why a sweep was not created.
#[derive(Debug, thiserror::Error)]
pub enum SweepSubmitError {
    #[error("{0} sweeps are running already")]
    TooMany(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Why a submit did not queue the job.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{0} jobs are queued already")]
    QueueFull(usize),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Jobs {
    pub fn new(store: Arc<dyn Store>, datasets: DatasetCache, settings: QueueSettings) -> Arc<Jobs> {
        Arc::new(Jobs {
            store,
            wake: Notify::new(),
            sweep_wake: Notify::new(),
            live: live::Live::default(),
            datasets,
            owner: settings.replica.clone(),
            settings,
            shutting_down: AtomicBool::new(false),
        })
    }

    pub fn datasets(&self) -> &DatasetCache {
        &self.datasets
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Queues a validated job (the one path for the API and the demo model), unless the
    /// queue is full: the cap is checked in the same statement that inserts the row.
    pub async fn submit(&self, spec: &ValidSpec) -> Result<JobRow, SubmitError> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut rows = self.submit_all(&[(&id, spec, None)]).await?;
        Ok(rows.remove(0))
    }

    /// Queues several jobs, all or none (a fork's pairs): each with its id, spec and
    /// where it was forked from.
    pub async fn submit_all(
        &self,
        jobs: &[(&str, &ValidSpec, Option<ForkOf<'_>>)],
    ) -> Result<Vec<JobRow>, SubmitError> {
        let specs: Vec<String> = jobs
            .iter()
            .map(|(_, spec, _)| serde_json::to_string(spec).expect("a spec serialises"))
            .collect();
        let new: Vec<NewJob> = jobs
            .iter()
            .zip(&specs)
            .map(|((id, spec, fork), spec_json)| NewJob {
                kind: JobKind::Train,
                id,
                spec_json,
                dataset: &spec.dataset,
                epochs_total: (spec.epochs * spec.k_folds.unwrap_or(1)) as i64,
                max_attempts: self.settings.max_attempts as i64,
                fork: fork.clone(),
            })
            .collect();
        let rows = self
            .store
            .insert_jobs_if_room(&new, self.settings.max_queued as i64)
            .await?
            .ok_or(SubmitError::QueueFull(self.settings.max_queued))?;
        self.wake.notify_one();
        Ok(rows)
    }

    /// Creates a sweep with its trials (each a validated JobSpec with its configuration);
    /// the controller releases them under the sweep's `parallelism`.
    pub async fn create_sweep(
        &self,
        spec: &crate::sweep::SweepSpec,
        trials: &[(crate::sweep::Trial, ValidSpec)],
    ) -> Result<SweepRow, SweepSubmitError> {
        let id = uuid::Uuid::now_v7().to_string();
        let spec_json = serde_json::to_string(spec).expect("a sweep serialises");
        // Where trials first wait for the rule: ASHA's first rung; the median rule's first
        // epoch after the grace epochs (then every epoch).
        let epochs = trials.first().map_or(0, |(_, s)| s.epochs);
        let first_pause = match spec.early_stopping {
            Some(crate::sweep::EarlyStopping::Asha {
                grace_epochs,
                reduction_factor,
            }) => crate::sweep::rules::asha_rungs(grace_epochs, reduction_factor, epochs)
                .first()
                .map(|&e| e as i64),
            Some(crate::sweep::EarlyStopping::Median { grace_epochs, .. }) => {
                (grace_epochs < epochs).then_some(grace_epochs as i64)
            }
            None => None,
        };
        let ids: Vec<String> = trials.iter().map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let specs: Vec<String> = trials
            .iter()
            .map(|(_, spec)| serde_json::to_string(spec).expect("a spec serialises"))
            .collect();
        let params: Vec<String> = trials
            .iter()
            .map(|(trial, _)| serde_json::to_string(&trial.params).expect("values serialise"))
            .collect();
        let new: Vec<NewTrial> = trials
            .iter()
            .enumerate()
            .map(|(i, (trial, spec))| NewTrial {
                job: NewJob {
                    kind: JobKind::Train,
                    id: &ids[i],
                    spec_json: &specs[i],
                    dataset: &spec.dataset,
                    epochs_total: spec.epochs as i64,
                    max_attempts: self.settings.max_attempts as i64,
                    fork: None,
                },
                config: trial.config as i64,
                params_json: &params[i],
                pause_at: first_pause,
            })
            .collect();
        let sweep = NewSweep {
            id: &id,
            name: &spec.name,
            spec_json: &spec_json,
        };
        match self
            .store
            .insert_sweep(&sweep, &new, sweeps::MAX_RUNNING_SWEEPS)
            .await?
        {
            SweepInsert::Created(row) => {
                self.sweep_wake.notify_one();
                Ok(row)
            }
            SweepInsert::TooMany => Err(SweepSubmitError::TooMany(sweeps::MAX_RUNNING_SWEEPS)),
        }
    }

    /// Cancels a sweep and its unfinished trials (stopped within a mini-batch wherever
    /// they train).
    pub async fn cancel_sweep(&self, id: &str) -> sqlx::Result<Option<SweepRow>> {
        let Some((row, cancelled)) = self.store.cancel_sweep(id).await? else {
            return Ok(None);
        };
        for job_id in &cancelled {
            self.live.request_stop(job_id);
            if let Ok(Some(job)) = self.store.job(job_id).await {
                self.live.publish_final(job_id, &Job::from(job));
            }
        }
        Ok(Some(row))
    }

    /// Cancels a queued or running job. The running job's stop flag is raised first, so
    /// that once the transition is committed its trainer starts no further mini-batch;
    /// its worker's writes are refused from then on. Open event streams end.
    pub async fn cancel(&self, id: &str) -> sqlx::Result<Cancel> {
        self.live.request_stop(id);
        let outcome = self.store.cancel(id).await?;
        if let Cancel::Cancelled(row) = &outcome {
            self.live.publish_final(id, &Job::from(row.clone()));
        }
        Ok(outcome)
    }

    /// Deletes an ended job, its history and its model.
    pub async fn delete(&self, id: &str) -> sqlx::Result<Delete> {
        self.store.delete_job(id).await
    }

    /// Starts `workers` worker tasks and the lease reaper; they stop when `shutdown` is
    /// cancelled.
    pub fn start_workers(
        self: &Arc<Self>,
        workers: usize,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks: Vec<_> = (0..workers)
            .map(|i| tokio::spawn(worker::run(Arc::clone(self), i, shutdown.clone())))
            .collect();
        tasks.push(tokio::spawn(lease::reap_expired(Arc::clone(self), shutdown.clone())));
        tasks.push(tokio::spawn(sweeps::control(Arc::clone(self), shutdown.clone())));
        if let Some(notices) = self.store.notices() {
            tasks.push(tokio::spawn(follow_notices(Arc::clone(self), notices, shutdown)));
        }
        tasks
    }

    /// A receiver of the job's live events (the channel is created on first use).
    pub fn subscribe(&self, id: &str) -> tokio::sync::broadcast::Receiver<JobEvent> {
        self.live.subscribe(id)
    }

    /// Whether one of this process's workers trains the job now (its live events then carry
    /// everything the store would).
    pub fn trains_here(&self, id: &str) -> bool {
        self.live.trains(id)
    }

    /// Drops a job's channel if nobody listens (used when a job turned out to be finished).
    pub fn release_channel(&self, id: &str) {
        self.live.release_channel(id);
    }

    /// Training samples per second summed over the running jobs' latest epochs.
    pub fn training_samples_per_second(&self) -> f64 {
        self.live.training_samples_per_second()
    }

    /// Stops every job this process trains for a shutdown: each is given back to the queue
    /// without spending an attempt.
    pub fn stop_all_for_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.live.stop_all();
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// What other replicas tell through the database (PostgreSQL's NOTIFY): a job was queued
/// (wake the idle workers at once rather than at their next poll), or cancelled (stop it
/// within a mini-batch if a worker here trains it). Lost notices cost only latency: workers
/// poll, and a cancelled job's next fenced write fails anyway.
async fn follow_notices(jobs: Arc<Jobs>, mut notices: broadcast::Receiver<Notice>, shutdown: CancellationToken) {
    loop {
        let notice = tokio::select! {
            notice = notices.recv() => notice,
            _ = shutdown.cancelled() => return,
        };
        match notice {
            Ok(Notice::Queued) => jobs.wake.notify_waiters(),
            Ok(Notice::Cancelled(id)) => jobs.live.request_stop(&id),
            // Told on the store's progress channel, to event streams.
            Ok(Notice::Progress(_)) => {}
            // Missed some: wake the workers, who look at the queue themselves.
            Err(broadcast::error::RecvError::Lagged(_)) => jobs.wake.notify_waiters(),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
