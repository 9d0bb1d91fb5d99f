//! The PostgreSQL store, for several replicas sharing one database: `jobs`, `metrics` and
//! `models` hold one small function per query; [`PgStore`] is the [`Store`] over them.

pub mod blobs;
pub mod drawings;
pub mod jobs;
pub mod metrics;
pub mod models;
pub mod sweeps;

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::broadcast;

use super::jobs::{Cancel, Delete, JobQuery, JobRow, Lease, NewJob};
use super::metrics::{EpochRecord, EpochRow, StepRow};
use super::models::{ModelRow, NewModel};
use super::{Notice, Result};
use crate::jobs::JobStatus;

/// The PostgreSQL schema, embedded in the binary. sqlx takes an advisory lock while it
/// migrates, so replicas starting together apply each migration once.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a session may sit inside a transaction doing nothing before PostgreSQL ends it.
const IDLE_IN_TRANSACTION: &str = "10s";

pub struct PgStore {
    pool: PgPool,
    notices: broadcast::Sender<Notice>,
    progress: broadcast::Sender<String>,
}

/// The channel replicas NOTIFY on (payloads: [`Notice::payload`]).
pub(crate) const CHANNEL: &str = "nnlab_jobs";

/// Listens on [`CHANNEL`] for as long as the process runs. sqlx's listener reconnects by
/// itself after a lost connection; what was sent meanwhile is lost, which the workers'
/// polling covers.
async fn listen(pool: PgPool, notices: broadcast::Sender<Notice>, progress: broadcast::Sender<String>) {
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
                // Nobody listening yet is fine.
                Ok(n) => match Notice::parse(n.payload()) {
                    Some(Notice::Progress(id)) => {
                        let _ = progress.send(id);
                    }
                    Some(notice) => {
                        let _ = notices.send(notice);
                    }
                    // A newer replica's notice: whatever it says, the queue may have changed.
                    None => {
                        let _ = notices.send(Notice::Queued);
                    }
                },
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
        let (progress, _) = broadcast::channel(1024);
        tokio::spawn(listen(pool.clone(), notices.clone(), progress.clone()));
        Ok(PgStore {
            pool,
            notices,
            progress,
        })
    }
}

super::store_over_queries!(PgStore, {
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
    fn progress_notices(&self) -> Option<broadcast::Receiver<String>> {
        Some(self.progress.subscribe())
    }
});
