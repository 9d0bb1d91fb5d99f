//! The jobs table, which is also the queue.

use sqlx::{FromRow, SqlitePool};

use super::now;

#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: String,
    pub status: String,
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
}

const COLUMNS: &str = "id, status, spec, dataset, created_at, started_at, finished_at, epoch, epochs_total, \
                       error, model_id, test_accuracy, test_loss, train_seconds";

pub async fn insert(
    pool: &SqlitePool,
    id: &str,
    spec_json: &str,
    dataset: &str,
    epochs_total: i64,
) -> sqlx::Result<JobRow> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO jobs (id, status, spec, dataset, created_at, epochs_total) VALUES (?, 'queued', ?, ?, ?, ?) \
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(spec_json)
    .bind(dataset)
    .bind(now())
    .bind(epochs_total)
    .fetch_one(pool)
    .await
}

pub async fn get(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM jobs WHERE id = ?")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Newest first, optionally only one status.
pub async fn list(pool: &SqlitePool, status: Option<&str>, limit: i64) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR status = ?1) ORDER BY created_at DESC, id DESC LIMIT ?2"
    )))
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn count_by_status(pool: &SqlitePool, status: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = ?")
        .bind(status)
        .fetch_one(pool)
        .await
}

/// Atomically moves the oldest queued job to `running` and returns it.
pub async fn claim_next(pool: &SqlitePool) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?) \
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1) \
         AND status = 'queued' RETURNING {COLUMNS}"
    )))
    .bind(now())
    .fetch_optional(pool)
    .await
}

/// Cancels a job that has not started; returns whether it was still queued.
pub async fn cancel_queued(pool: &SqlitePool, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'queued'")
        .bind(now())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a running job without a model (cancelled or failed); its checkpoint goes.
pub async fn finish_without_model(pool: &SqlitePool, id: &str, status: &str, error: Option<&str>) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status = 'running'")
        .bind(status)
        .bind(error)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM checkpoints WHERE job_id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Jobs that were running when the process stopped (shut down or killed) go back to the
/// queue. One with a checkpoint keeps its history up to the checkpoint's epoch and resumes
/// from there; one without (k-fold, or stopped in its first epoch) starts over from its seed.
pub async fn requeue_interrupted(pool: &SqlitePool) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    // Anything recorded after the checkpoint (nothing, as they share transactions; kept as
    // a guard), or everything for a job without one, is dropped.
    for table in ["epoch_metrics", "step_losses"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE job_id IN (SELECT id FROM jobs WHERE status = 'running') \
             AND epoch > COALESCE((SELECT c.epoch FROM checkpoints c WHERE c.job_id = {table}.job_id), 0)"
        )))
        .execute(&mut *tx)
        .await?;
    }
    let done = sqlx::query(
        "UPDATE jobs SET status = 'queued', \
         epoch = COALESCE((SELECT c.epoch FROM checkpoints c WHERE c.job_id = jobs.id), 0) \
         WHERE status = 'running'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
