//! The SQLite store: one file in WAL mode, the default. `jobs`, `metrics` and `models` hold
//! one small function per query; [`SqliteStore`] is the [`Store`] over them.

pub mod blobs;
pub mod drawings;
pub mod jobs;
pub mod metrics;
pub mod models;
pub mod sweeps;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::Result;
use super::jobs::{Cancel, Delete, JobQuery, JobRow, Lease, NewJob};
use super::metrics::{EpochRecord, EpochRow, StepRow};
use super::models::{ModelRow, NewModel};
use crate::jobs::JobStatus;

/// The SQLite schema, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating if missing) the database in WAL mode and applies the migrations.
pub async fn connect_pool(database_url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(database_url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL is durable across process crashes (only an OS crash may lose the
        // last transactions) and avoids an fsync per commit.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    if let Some(parent) = options.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    blobs::adopt_legacy(&pool).await?;
    Ok(pool)
}

/// A write transaction that holds SQLite's write lock from its start (`BEGIN IMMEDIATE`): a
/// deferred one that reads first fails at once with SQLITE_BUSY_SNAPSHOT when another
/// connection commits meanwhile, whatever the busy timeout; this one waits its turn.
pub(crate) async fn begin(pool: &SqlitePool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(database_url: &str) -> anyhow::Result<SqliteStore> {
        Ok(SqliteStore {
            pool: connect_pool(database_url).await?,
        })
    }
}

super::store_over_queries!(SqliteStore, {
    async fn ready(&self) -> Result<bool> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(applied == MIGRATOR.iter().count() as i64)
    }
    fn reclaims_all_at_start(&self) -> bool {
        true
    }
});
