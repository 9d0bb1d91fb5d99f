//! Epoch metrics (one row per metric point) and sampled step losses.

use sqlx::{FromRow, Sqlite, SqlitePool, Transaction};

use super::jobs::{Lease, now_ms};
use crate::train::{EpochMetrics, StepLoss};

#[derive(Debug, Clone, FromRow)]
pub struct MetricRow {
    pub fold: i64,
    pub epoch: i64,
    pub name: String,
    pub value: f64,
}

#[derive(Debug, Clone, FromRow)]
pub struct StepRow {
    pub step: i64,
    pub epoch: i64,
    pub loss: f64,
}

/// The metric points of one epoch, named as the migration documents.
pub fn points(m: &EpochMetrics) -> Vec<(String, f64)> {
    let mut points = vec![
        ("train_loss".to_string(), m.train_loss as f64),
        ("train_accuracy".to_string(), m.train_accuracy as f64),
        ("learning_rate".to_string(), m.learning_rate as f64),
        ("seconds".to_string(), m.seconds as f64),
    ];
    if let (Some(l), Some(a)) = (m.val_loss, m.val_accuracy) {
        points.push(("val_loss".to_string(), l as f64));
        points.push(("val_accuracy".to_string(), a as f64));
    }
    for (i, g) in m.grad_norms.iter().enumerate() {
        points.push((format!("grad_norm.{i}"), *g as f64));
    }
    for (i, w) in m.weight_norms.iter().enumerate() {
        points.push((format!("weight_norm.{i}"), *w as f64));
    }
    points
}

/// What a worker records at the end of an epoch.
pub struct EpochRecord<'a> {
    pub metrics: &'a EpochMetrics,
    /// The step losses sampled since the previous record.
    pub steps: &'a [StepLoss],
    /// Epochs done in all (k-fold runs count every fold's).
    pub epochs_done: i64,
    /// The run's checkpoint as of this epoch, when the trainer's newest one is this epoch's.
    pub checkpoint: Option<&'a [u8]>,
}

/// Writes an epoch's points, the step losses sampled during it, the job's progress and the
/// run's checkpoint in one transaction, so a reader (or a restart) never sees one without
/// the others; and renews the lease by `lease_ms`. Writes nothing and returns false unless
/// the job is still running under `lease`.
pub async fn record_epoch(
    pool: &SqlitePool,
    job_id: &str,
    lease: &Lease,
    lease_ms: i64,
    record: &EpochRecord<'_>,
) -> sqlx::Result<bool> {
    let EpochRecord {
        metrics,
        steps,
        epochs_done,
        checkpoint,
    } = *record;
    let mut tx: Transaction<'_, Sqlite> = pool.begin().await?;
    // The fence first: nothing below is written for a job that is no longer this worker's.
    let owned = sqlx::query(
        "UPDATE jobs SET epoch = ?, lease_expires_ms = ? WHERE id = ? AND lease_token = ? AND status = 'running'",
    )
    .bind(epochs_done)
    .bind(now_ms() + lease_ms)
    .bind(job_id)
    .bind(&lease.token)
    .execute(&mut *tx)
    .await?;
    if owned.rows_affected() != 1 {
        return Ok(false);
    }
    let fold = metrics.fold.unwrap_or(0) as i64;
    for (name, value) in points(metrics) {
        // SQLite stores NaN as NULL, which the NOT NULL column refuses: a diverged run's
        // non-finite points are skipped, and the history shows the gap.
        if !value.is_finite() {
            continue;
        }
        sqlx::query("INSERT OR REPLACE INTO epoch_metrics (job_id, fold, epoch, name, value) VALUES (?, ?, ?, ?, ?)")
            .bind(job_id)
            .bind(fold)
            .bind(metrics.epoch as i64)
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    insert_steps(&mut tx, job_id, steps).await?;
    if let Some(blob) = checkpoint {
        sqlx::query(
            "INSERT OR REPLACE INTO checkpoints (job_id, epoch, step, blob) \
             VALUES (?1, ?2, (SELECT COALESCE(MAX(step), 0) FROM step_losses WHERE job_id = ?1), ?3)",
        )
        .bind(job_id)
        .bind(epochs_done)
        .bind(blob)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

async fn insert_steps(tx: &mut Transaction<'_, Sqlite>, job_id: &str, steps: &[StepLoss]) -> sqlx::Result<()> {
    for s in steps.iter().filter(|s| s.loss.is_finite()) {
        sqlx::query("INSERT OR REPLACE INTO step_losses (job_id, step, epoch, loss) VALUES (?, ?, ?, ?)")
            .bind(job_id)
            .bind(s.step as i64)
            .bind(s.epoch as i64)
            .bind(s.loss as f64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn epoch_points(pool: &SqlitePool, job_id: &str) -> sqlx::Result<Vec<MetricRow>> {
    sqlx::query_as::<_, MetricRow>(
        "SELECT fold, epoch, name, value FROM epoch_metrics WHERE job_id = ? ORDER BY fold, epoch, name",
    )
    .bind(job_id)
    .fetch_all(pool)
    .await
}

pub async fn steps(pool: &SqlitePool, job_id: &str) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as::<_, StepRow>("SELECT step, epoch, loss FROM step_losses WHERE job_id = ? ORDER BY step")
        .bind(job_id)
        .fetch_all(pool)
        .await
}

/// The newest checkpoint of a job.
pub async fn checkpoint(pool: &SqlitePool, job_id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT blob FROM checkpoints WHERE job_id = ?")
        .bind(job_id)
        .fetch_optional(pool)
        .await
}
