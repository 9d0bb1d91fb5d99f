//! The PostgreSQL store, for several replicas sharing one database: `jobs`, `metrics` and
//! `models` hold one small function per query; [`PgStore`] is the [`Store`] over them.

pub mod jobs;
pub mod metrics;
pub mod models;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::broadcast;

use super::jobs::{Cancel, Delete, JobRow, Lease, NewJob};
use super::metrics::{EpochRecord, EpochRow, StepRow};
use super::models::{ModelRow, NewModel};
use super::{Notice, Result, Store};
use crate::jobs::JobStatus;

/// The PostgreSQL schema, embedded in the binary. sqlx takes an advisory lock while it
/// migrates, so replicas starting together apply each migration once.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a session may sit inside a transaction doing nothing before PostgreSQL ends it.
const IDLE_IN_TRANSACTION: &str = "10s";

pub struct PgStore {
    pool: PgPool,
    notices: broadcast::Sender<Notice>,
}

/// The channel replicas NOTIFY on: `queued`, or `cancel:<job id>`.
pub(crate) const CHANNEL: &str = "nnlab_jobs";

/// Listens on [`CHANNEL`] for as long as the process runs. sqlx's listener reconnects by
/// itself after a lost connection; what was sent meanwhile is lost, which the workers'
/// polling covers.
async fn listen(pool: PgPool, notices: broadcast::Sender<Notice>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN: cannot connect; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; polling meanwhile");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(n) => {
                    let notice = match n.payload().strip_prefix("cancel:") {
                        Some(id) => Notice::Cancelled(id.to_string()),
                        None => Notice::Queued,
                    };
                    // Nobody listening yet is fine.
                    let _ = notices.send(notice);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                    // Something may have been missed: the workers look at the queue.
                    let _ = notices.send(Notice::Queued);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

impl PgStore {
    /// Connects and applies the migrations. One direct connection first, so that a server
    /// whose database is unreachable at start says so at once instead of retrying.
    pub async fn connect(database_url: &str) -> anyhow::Result<PgStore> {
        // A replica paused (or hung) inside a transaction would hold its job's row lock for
        // ever, and the other replicas' reapers skip locked rows: PostgreSQL ends such a
        // session after IDLE_IN_TRANSACTION, which releases the lock (our transactions last
        // milliseconds).
        let options = PgConnectOptions::from_str(database_url)?
            .application_name("nnlab")
            .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)]);
        sqlx::Connection::close(<sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?).await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let (notices, _) = broadcast::channel(256);
        tokio::spawn(listen(pool.clone(), notices.clone()));
        Ok(PgStore { pool, notices })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PgStore {
    async fn insert_job_if_room(&self, job: &NewJob<'_>, max_queued: i64) -> Result<Option<JobRow>> {
        jobs::insert_if_room(&self.pool, job, max_queued).await
    }
    async fn job(&self, id: &str) -> Result<Option<JobRow>> {
        jobs::get(&self.pool, id).await
    }
    async fn jobs(&self, status: Option<JobStatus>, limit: i64) -> Result<Vec<JobRow>> {
        jobs::list(&self.pool, status, limit).await
    }
    async fn count_jobs(&self, status: JobStatus) -> Result<i64> {
        jobs::count_by_status(&self.pool, status).await
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
    async fn set_init_sha256(&self, id: &str, lease: &Lease, sha256: &str) -> Result<bool> {
        jobs::set_init_sha256(&self.pool, id, lease, sha256).await
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
    async fn reclaim_expired(&self, before_ms: i64) -> Result<(u64, u64)> {
        jobs::reclaim_expired(&self.pool, before_ms).await
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
    async fn ready(&self) -> Result<bool> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await?;
        Ok(applied == MIGRATOR.iter().count() as i64)
    }
    fn reclaims_all_at_start(&self) -> bool {
        false
    }
    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        Some(self.notices.subscribe())
    }
}
