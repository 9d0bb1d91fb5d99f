//! Persistence behind one trait, [`Store`]: what the service needs of a database (jobs and
//! their leases, histories, checkpoints, models). Two implementations: SQLite (`sqlite/`, the
//! default: one file, zero set-up) and PostgreSQL (`postgres/`, for several replicas).
//! Backend-neutral row types live in `jobs`, `metrics` and `models`; each backend has one
//! small function per query.

pub mod blobs;
pub mod drawings;
pub mod jobs;
pub mod metrics;
pub mod models;
pub mod notices;
pub mod postgres;
pub mod sqlite;
pub mod sweeps;
pub mod words;

use std::sync::Arc;

use async_trait::async_trait;

use crate::jobs::JobStatus;
use blobs::BlobUsage;
use drawings::{DrawingQuery, DrawingRow, NewDrawing};
use jobs::{Cancel, Delete, JobQuery, JobRow, Lease, NewJob};
use metrics::{EpochRecord, EpochRow, StepRow};
use models::{ModelRow, NewModel};
pub use notices::Notice;
use sweeps::{Decide, NewSweep, NewTrial, SweepChanges, SweepInsert, SweepRow, SweepState};

pub type Result<T> = sqlx::Result<T>;

/// What the service needs of a database. Every method a worker calls about its job takes
/// the job's [`Lease`] and changes nothing (returning `false`) unless the job is still
/// running under it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Queues the jobs, all or none: `None` if fewer than their number fit under
    /// `max_queued`; the count and the inserts are atomic.
    async fn insert_jobs_if_room(&self, jobs: &[NewJob<'_>], max_queued: i64) -> Result<Option<Vec<JobRow>>>;
    /// A blob by its SHA-256 (`store::blobs`).
    async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>>;
    async fn job(&self, id: &str) -> Result<Option<JobRow>>;
    /// Newest first, optionally only one status or the forks of one job.
    async fn jobs(&self, query: JobQuery<'_>) -> Result<Vec<JobRow>>;
    async fn count_jobs(&self, status: JobStatus) -> Result<i64>;
    /// The jobs of a fork (`fork_id`), by pair, baseline first.
    async fn fork_members(&self, fork_id: &str) -> Result<Vec<JobRow>>;
    /// Whether any job of this dataset is queued or running.
    async fn any_pending_for(&self, dataset: &str) -> Result<bool>;
    /// Moves the oldest queued job to `running` under a new lease and spends an attempt.
    async fn claim_next(&self, owner: &str, lease_ms: i64) -> Result<Option<(JobRow, Lease)>>;
    async fn renew(&self, id: &str, lease: &Lease, lease_ms: i64) -> Result<bool>;
    /// Stores the job's initial weights (safetensors bytes) and records their SHA-256.
    async fn set_init_weights(&self, id: &str, lease: &Lease, weights: &[u8]) -> Result<bool>;
    async fn init_weights(&self, id: &str) -> Result<Option<Vec<u8>>>;
    async fn fail(&self, id: &str, lease: &Lease, error: &str) -> Result<bool>;
    /// `queued | running -> cancelled`, clearing the lease.
    async fn cancel(&self, id: &str) -> Result<Cancel>;
    /// Deletes an ended job with its history, checkpoint and model.
    async fn delete_job(&self, id: &str) -> Result<Delete>;
    /// Back to the queue without spending an attempt (a graceful shutdown).
    async fn give_back(&self, id: &str, lease: &Lease) -> Result<bool>;
    /// Running jobs that `which` names go back to the queue (rolled back to their
    /// checkpoint), or end `failed` when out of attempts: (queued again, failed).
    async fn reclaim(&self, which: jobs::Reclaim<'_>) -> Result<(u64, u64)>;

    /// An epoch's row, its step samples and the checkpoint, in one transaction, renewing the
    /// lease.
    async fn record_epoch(&self, job_id: &str, lease: &Lease, lease_ms: i64, record: &EpochRecord<'_>) -> Result<bool>;
    async fn epochs_since(&self, job_id: &str, since: i64) -> Result<Vec<EpochRow>>;
    async fn steps_since(&self, job_id: &str, since: i64) -> Result<Vec<StepRow>>;
    /// The newest step sample's step (0 without any).
    async fn last_step(&self, job_id: &str) -> Result<i64>;
    async fn checkpoint(&self, job_id: &str) -> Result<Option<Vec<u8>>>;

    async fn insert_model(&self, model: &NewModel<'_>) -> Result<()>;
    /// Stores the model and marks its job succeeded, in one transaction.
    async fn finish_with_model(
        &self,
        job_id: &str,
        lease: &Lease,
        model: &NewModel<'_>,
        train_seconds: f64,
    ) -> Result<bool>;
    async fn model(&self, id: &str) -> Result<Option<ModelRow>>;
    /// Newest first, optionally of one dataset.
    async fn models(&self, dataset: Option<&str>) -> Result<Vec<ModelRow>>;
    async fn model_weights(&self, id: &str) -> Result<Option<Vec<u8>>>;
    async fn delete_model(&self, id: &str) -> Result<bool>;
    async fn blob_usage(&self) -> Result<BlobUsage>;

    /// Stores a drawing unless `max` are stored already (`None`); count and insert atomic.
    async fn insert_drawing_if_room(&self, drawing: &NewDrawing<'_>, max: i64) -> Result<Option<DrawingRow>>;
    /// Oldest first.
    async fn drawings(&self, query: DrawingQuery) -> Result<Vec<DrawingRow>>;
    async fn count_drawings(&self) -> Result<i64>;
    async fn delete_drawing(&self, id: &str) -> Result<bool>;

    /// Creates a sweep and its trials (queued, held: the controller releases them), unless
    /// `max_running` sweeps are running already.
    async fn insert_sweep(
        &self,
        sweep: &NewSweep<'_>,
        trials: &[NewTrial<'_>],
        max_running: i64,
    ) -> Result<SweepInsert>;
    async fn sweep(&self, id: &str) -> Result<Option<SweepRow>>;
    /// Newest first.
    async fn sweeps(&self, limit: i64) -> Result<Vec<SweepRow>>;
    async fn running_sweeps(&self) -> Result<Vec<String>>;
    /// Changes whenever one of the sweep's trials moves.
    async fn sweep_fingerprint(&self, id: &str) -> Result<String>;
    async fn sweep_state(&self, id: &str) -> Result<Option<SweepState>>;
    /// Reads a running sweep's state under its lock and applies what `decide` makes of it,
    /// in one transaction; `None` if the sweep is not running.
    async fn reconcile_sweep(&self, id: &str, decide: Decide) -> Result<Option<SweepChanges>>;
    /// Cancels a sweep and its unfinished trials: the sweep and the jobs cancelled.
    async fn cancel_sweep(&self, id: &str) -> Result<Option<(SweepRow, Vec<String>)>>;
    /// A sweep trial at its pause epoch waits, held, for its rule (checkpoint kept).
    async fn pause(&self, id: &str, lease: &Lease) -> Result<bool>;

    /// The database answers and every migration is applied.
    async fn ready(&self) -> Result<bool>;
    /// How this backend treats jobs left `running` at start: a SQLite file is one server's,
    /// so they were left by a process that died; on a shared database only the restarted
    /// replica's own are (`Reclaim::ExpiredOrOwnedBy`), the others wait for their leases.
    fn reclaims_all_at_start(&self) -> bool;
    /// Notices from other replicas, when the backend has them (PostgreSQL's LISTEN/NOTIFY;
    /// a SQLite file is one process's, which tells itself directly).
    fn notices(&self) -> Option<tokio::sync::broadcast::Receiver<Notice>> {
        None
    }
    /// Ids of jobs that recorded an epoch or ended, told by other replicas (PostgreSQL), so
    /// that event streams of them read the store at once rather than at their next poll. A
    /// channel of its own: a flood of epochs must not crowd out a cancel in [`Notice`]s.
    fn progress_notices(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }
}

/// The [`Store`] of a backend whose `blobs`, `drawings`, `jobs`, `metrics`, `models` and `sweeps` modules have one function
/// per method, each taking the pool first (`sqlite`, `postgres`; invoked inside the backend's
/// module, where those names resolve): the delegation is written once here, the backend adds
/// what differs (`$extra`).
macro_rules! store_over_queries {
    ($store:ty, { $($extra:item)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn insert_jobs_if_room(&self, new: &[NewJob<'_>], max_queued: i64) -> Result<Option<Vec<JobRow>>> {
                jobs::insert_if_room(&self.pool, new, max_queued).await
            }
            async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
                blobs::get(&self.pool, sha256).await
            }
            async fn job(&self, id: &str) -> Result<Option<JobRow>> {
                jobs::get(&self.pool, id).await
            }
            async fn jobs(&self, query: JobQuery<'_>) -> Result<Vec<JobRow>> {
                jobs::list(&self.pool, query).await
            }
            async fn count_jobs(&self, status: JobStatus) -> Result<i64> {
                jobs::count_by_status(&self.pool, status).await
            }
            async fn fork_members(&self, fork_id: &str) -> Result<Vec<JobRow>> {
                jobs::fork_members(&self.pool, fork_id).await
            }
            async fn any_pending_for(&self, dataset: &str) -> Result<bool> {
                jobs::any_pending_for(&self.pool, dataset).await
            }
            async fn claim_next(&self, owner: &str, lease_ms: i64) -> Result<Option<(JobRow, Lease)>> {
                jobs::claim_next(&self.pool, owner, lease_ms).await
            }
            async fn renew(&self, id: &str, lease: &Lease, lease_ms: i64) -> Result<bool> {
                jobs::renew(&self.pool, id, lease, lease_ms).await
            }
            async fn set_init_weights(&self, id: &str, lease: &Lease, weights: &[u8]) -> Result<bool> {
                jobs::set_init_weights(&self.pool, id, lease, weights).await
            }
            async fn init_weights(&self, id: &str) -> Result<Option<Vec<u8>>> {
                jobs::init_weights(&self.pool, id).await
            }
            async fn fail(&self, id: &str, lease: &Lease, error: &str) -> Result<bool> {
                jobs::fail(&self.pool, id, lease, error).await
            }
            async fn cancel(&self, id: &str) -> Result<Cancel> {
                jobs::cancel(&self.pool, id).await
            }
            async fn delete_job(&self, id: &str) -> Result<Delete> {
                jobs::delete(&self.pool, id).await
            }
            async fn give_back(&self, id: &str, lease: &Lease) -> Result<bool> {
                jobs::give_back(&self.pool, id, lease).await
            }
            async fn reclaim(&self, which: $crate::store::jobs::Reclaim<'_>) -> Result<(u64, u64)> {
                jobs::reclaim(&self.pool, which).await
            }
            async fn record_epoch(&self, job_id: &str, lease: &Lease, lease_ms: i64, record: &EpochRecord<'_>) -> Result<bool> {
                metrics::record_epoch(&self.pool, job_id, lease, lease_ms, record).await
            }
            async fn epochs_since(&self, job_id: &str, since: i64) -> Result<Vec<EpochRow>> {
                metrics::epochs_since(&self.pool, job_id, since).await
            }
            async fn steps_since(&self, job_id: &str, since: i64) -> Result<Vec<StepRow>> {
                metrics::steps_since(&self.pool, job_id, since).await
            }
            async fn last_step(&self, job_id: &str) -> Result<i64> {
                metrics::last_step(&self.pool, job_id).await
            }
            async fn checkpoint(&self, job_id: &str) -> Result<Option<Vec<u8>>> {
                metrics::checkpoint(&self.pool, job_id).await
            }
            async fn insert_model(&self, model: &NewModel<'_>) -> Result<()> {
                models::insert(&self.pool, model).await
            }
            async fn finish_with_model(
                &self,
                job_id: &str,
                lease: &Lease,
                model: &NewModel<'_>,
                train_seconds: f64,
            ) -> Result<bool> {
                models::insert_for_job(&self.pool, job_id, lease, model, train_seconds).await
            }
            async fn model(&self, id: &str) -> Result<Option<ModelRow>> {
                models::get(&self.pool, id).await
            }
            async fn models(&self, dataset: Option<&str>) -> Result<Vec<ModelRow>> {
                models::list(&self.pool, dataset).await
            }
            async fn model_weights(&self, id: &str) -> Result<Option<Vec<u8>>> {
                models::weights(&self.pool, id).await
            }
            async fn delete_model(&self, id: &str) -> Result<bool> {
                models::delete(&self.pool, id).await
            }
            async fn blob_usage(&self) -> Result<$crate::store::blobs::BlobUsage> {
                blobs::usage(&self.pool).await
            }
            async fn insert_drawing_if_room(
                &self,
                drawing: &$crate::store::drawings::NewDrawing<'_>,
                max: i64,
            ) -> Result<Option<$crate::store::drawings::DrawingRow>> {
                drawings::insert_if_room(&self.pool, drawing, max).await
            }
            async fn drawings(
                &self,
                query: $crate::store::drawings::DrawingQuery,
            ) -> Result<Vec<$crate::store::drawings::DrawingRow>> {
                drawings::list(&self.pool, query).await
            }
            async fn count_drawings(&self) -> Result<i64> {
                drawings::count(&self.pool).await
            }
            async fn delete_drawing(&self, id: &str) -> Result<bool> {
                drawings::delete(&self.pool, id).await
            }
            async fn insert_sweep(
                &self,
                sweep: &$crate::store::sweeps::NewSweep<'_>,
                trials: &[$crate::store::sweeps::NewTrial<'_>],
                max_running: i64,
            ) -> Result<$crate::store::sweeps::SweepInsert> {
                sweeps::insert(&self.pool, sweep, trials, max_running).await
            }
            async fn sweep(&self, id: &str) -> Result<Option<$crate::store::sweeps::SweepRow>> {
                sweeps::get(&self.pool, id).await
            }
            async fn sweeps(&self, limit: i64) -> Result<Vec<$crate::store::sweeps::SweepRow>> {
                sweeps::list(&self.pool, limit).await
            }
            async fn running_sweeps(&self) -> Result<Vec<String>> {
                sweeps::running(&self.pool).await
            }
            async fn sweep_fingerprint(&self, id: &str) -> Result<String> {
                sweeps::fingerprint(&self.pool, id).await
            }
            async fn sweep_state(&self, id: &str) -> Result<Option<$crate::store::sweeps::SweepState>> {
                sweeps::state(&self.pool, id).await
            }
            async fn reconcile_sweep(
                &self,
                id: &str,
                decide: $crate::store::sweeps::Decide,
            ) -> Result<Option<$crate::store::sweeps::SweepChanges>> {
                sweeps::reconcile(&self.pool, id, decide).await
            }
            async fn cancel_sweep(&self, id: &str) -> Result<Option<($crate::store::sweeps::SweepRow, Vec<String>)>> {
                sweeps::cancel(&self.pool, id).await
            }
            async fn pause(&self, id: &str, lease: &Lease) -> Result<bool> {
                sweeps::pause(&self.pool, id, lease).await
            }
            $($extra)*
        }
    };
}
pub(crate) use store_over_queries;

/// The store a `--database-url` names. A URL this server cannot use stops it with a message
/// saying why (never a file created under a name like `postgres:`).
pub async fn connect(database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let scheme = database_url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Arc::new(sqlite::SqliteStore::connect(database_url).await?)),
        Some("postgres" | "postgresql") => match postgres::PgStore::connect(database_url).await {
            Ok(store) => Ok(Arc::new(store)),
            Err(e) => anyhow::bail!("--database-url {}: {e:#}", redact(database_url)),
        },
        _ => anyhow::bail!(
            "--database-url {}: not a database URL this server can use; give sqlite://PATH (e.g. sqlite://data/nnlab.db) \
             or postgres://USER:PASSWORD@HOST/DATABASE",
            redact(database_url)
        ),
    }
}

/// Now as RFC 3339 UTC with milliseconds (sorts as text).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let credentials = &url[start + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_the_server_cannot_use_is_refused_with_a_message_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().display();
        for url in [
            // Nothing listens on port 1: the server must not start on it, and must say so.
            "postgres://nnlab:s3cret@127.0.0.1:1/nnlab".to_string(),
            format!("mysql://{cwd}/x"),
            format!("{cwd}/plain-path.db"),
        ] {
            let Err(err) = connect(&url).await else {
                panic!("{url} was accepted")
            };
            let err = err.to_string();
            assert!(err.contains("--database-url"), "{err}");
            assert!(!err.contains("s3cret"), "the password is not repeated: {err}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("sqlite://data/nnlab.db"), "sqlite://data/nnlab.db");
    }
}
