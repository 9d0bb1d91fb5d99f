//! A job's history: one row per epoch ([`EpochRow`], served as it is by `/metrics` and the
//! event stream), sampled step losses (thinned to at most [`MAX_STEP_SAMPLES`] per job), and
//! the newest checkpoint.

use serde::Serialize;
use sqlx::{FromRow, Sqlite, SqlitePool, Transaction};

use super::jobs::{Lease, now_ms};
use crate::train::{EpochMetrics, StepLoss};

/// Step samples kept per job: when a run has recorded more, every other one is dropped, so a
/// history's size does not grow with its length (recent epochs are the most detailed).
pub const MAX_STEP_SAMPLES: i64 = 2000;

/// One epoch's metrics, as `/metrics` lists them and the event stream sends them. A value
/// that was not measured (`val_loss` without a validation split) or not finite (a diverged
/// run) is null.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EpochRow {
    /// The epoch's place in the run, 1-based (k-fold runs count every fold's epochs): what
    /// `?since_epoch=` and a job's `progress.epoch` count.
    pub epochs_done: i64,
    /// The epoch within its fold, 1-based.
    pub epoch: i64,
    /// 1-based fold for k-fold cross-validation, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<i64>,
    /// Mean L2 norm of each dense layer's weight gradient over the epoch, input side first.
    pub grad_norms: Vec<Option<f64>>,
    #[schema(required = true)]
    pub learning_rate: Option<f64>,
    /// Training samples seen in the epoch.
    #[schema(required = true)]
    pub samples: Option<i64>,
    #[schema(required = true)]
    pub seconds: Option<f64>,
    #[schema(required = true)]
    pub train_accuracy: Option<f64>,
    /// Mean data loss (without the weight penalty) over the epoch's mini-batches.
    #[schema(required = true)]
    pub train_loss: Option<f64>,
    #[schema(required = true)]
    pub val_accuracy: Option<f64>,
    #[schema(required = true)]
    pub val_loss: Option<f64>,
    /// L2 norm of each dense layer's weights at the end of the epoch, input side first.
    pub weight_norms: Vec<Option<f64>>,
}

fn finite(v: f32) -> Option<f64> {
    v.is_finite().then_some(v as f64)
}

impl EpochRow {
    /// The row of an epoch the trainer reported, `epochs_done` into the run.
    pub fn new(m: &EpochMetrics, epochs_done: i64) -> EpochRow {
        let series = |values: &[f32]| values.iter().map(|&v| finite(v)).collect();
        EpochRow {
            epochs_done,
            epoch: m.epoch as i64,
            fold: m.fold.map(|f| f as i64),
            train_loss: finite(m.train_loss),
            train_accuracy: finite(m.train_accuracy),
            val_loss: m.val_loss.and_then(finite),
            val_accuracy: m.val_accuracy.and_then(finite),
            learning_rate: finite(m.learning_rate),
            seconds: finite(m.seconds),
            samples: Some(m.samples as i64),
            grad_norms: series(&m.grad_norms),
            weight_norms: series(&m.weight_norms),
        }
    }
}

/// The table's row: the norms are JSON text there.
#[derive(FromRow)]
struct StoredEpoch {
    epochs_done: i64,
    fold: i64,
    epoch: i64,
    train_loss: Option<f64>,
    train_accuracy: Option<f64>,
    val_loss: Option<f64>,
    val_accuracy: Option<f64>,
    learning_rate: Option<f64>,
    seconds: Option<f64>,
    samples: Option<i64>,
    grad_norms: String,
    weight_norms: String,
}

impl From<StoredEpoch> for EpochRow {
    fn from(r: StoredEpoch) -> EpochRow {
        let series = |json: &str| serde_json::from_str(json).unwrap_or_default();
        EpochRow {
            epochs_done: r.epochs_done,
            epoch: r.epoch,
            fold: (r.fold > 0).then_some(r.fold),
            train_loss: r.train_loss,
            train_accuracy: r.train_accuracy,
            val_loss: r.val_loss,
            val_accuracy: r.val_accuracy,
            learning_rate: r.learning_rate,
            seconds: r.seconds,
            samples: r.samples,
            grad_norms: series(&r.grad_norms),
            weight_norms: series(&r.weight_norms),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct StepRow {
    pub step: i64,
    pub epoch: i64,
    pub loss: f64,
}

/// What a worker records at the end of an epoch.
pub struct EpochRecord<'a> {
    pub row: &'a EpochRow,
    /// The step losses sampled since the previous record.
    pub steps: &'a [StepLoss],
    /// The run's checkpoint as of this epoch, when the trainer's newest one is this epoch's.
    pub checkpoint: Option<&'a [u8]>,
}

/// Writes an epoch's row, the step losses sampled during it, the job's progress and the
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
    let EpochRecord { row, steps, checkpoint } = *record;
    let mut tx: Transaction<'_, Sqlite> = pool.begin().await?;
    // The fence first: nothing below is written for a job that is no longer this worker's.
    let owned = sqlx::query(
        "UPDATE jobs SET epoch = ?, lease_expires_ms = ? WHERE id = ? AND lease_token = ? AND status = 'running'",
    )
    .bind(row.epochs_done)
    .bind(now_ms() + lease_ms)
    .bind(job_id)
    .bind(&lease.token)
    .execute(&mut *tx)
    .await?;
    if owned.rows_affected() != 1 {
        return Ok(false);
    }
    let json = |values: &[Option<f64>]| serde_json::to_string(values).expect("numbers serialise");
    sqlx::query(
        "INSERT OR REPLACE INTO epochs (job_id, epochs_done, fold, epoch, train_loss, train_accuracy, val_loss, \
         val_accuracy, learning_rate, seconds, samples, grad_norms, weight_norms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(job_id)
    .bind(row.epochs_done)
    .bind(row.fold.unwrap_or(0))
    .bind(row.epoch)
    .bind(row.train_loss)
    .bind(row.train_accuracy)
    .bind(row.val_loss)
    .bind(row.val_accuracy)
    .bind(row.learning_rate)
    .bind(row.seconds)
    .bind(row.samples)
    .bind(json(&row.grad_norms))
    .bind(json(&row.weight_norms))
    .execute(&mut *tx)
    .await?;
    insert_steps(&mut tx, job_id, steps).await?;
    if let Some(blob) = checkpoint {
        sqlx::query(
            "INSERT OR REPLACE INTO checkpoints (job_id, epoch, step, blob) \
             VALUES (?1, ?2, (SELECT COALESCE(MAX(step), 0) FROM step_losses WHERE job_id = ?1), ?3)",
        )
        .bind(job_id)
        .bind(row.epochs_done)
        .bind(blob)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Inserts the samples, then thins the job's samples to every other one while there are
/// more than [`MAX_STEP_SAMPLES`].
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
    loop {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM step_losses WHERE job_id = ?")
            .bind(job_id)
            .fetch_one(&mut **tx)
            .await?;
        if count <= MAX_STEP_SAMPLES {
            return Ok(());
        }
        // The 2nd, 4th, ... oldest go; the newest sample always stays.
        sqlx::query(
            "DELETE FROM step_losses WHERE job_id = ?1 AND step IN (SELECT step FROM \
             (SELECT step, ROW_NUMBER() OVER (ORDER BY step DESC) AS n FROM step_losses WHERE job_id = ?1) \
             WHERE n % 2 = 0)",
        )
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
    }
}

/// The epochs after the first `since` of the run, in order.
pub async fn epochs_since(pool: &SqlitePool, job_id: &str, since: i64) -> sqlx::Result<Vec<EpochRow>> {
    let rows = sqlx::query_as::<_, StoredEpoch>(
        "SELECT epochs_done, fold, epoch, train_loss, train_accuracy, val_loss, val_accuracy, learning_rate, \
         seconds, samples, grad_norms, weight_norms FROM epochs WHERE job_id = ? AND epochs_done > ? \
         ORDER BY epochs_done",
    )
    .bind(job_id)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(EpochRow::from).collect())
}

/// The step samples after step `since`, in order.
pub async fn steps_since(pool: &SqlitePool, job_id: &str, since: i64) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as::<_, StepRow>(
        "SELECT step, epoch, loss FROM step_losses WHERE job_id = ? AND step > ? ORDER BY step",
    )
    .bind(job_id)
    .bind(since)
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
