//! SQLite: epoch rows, step samples and checkpoints.

use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{begin, blobs};
use crate::store::jobs::{Lease, now_ms};
use crate::store::metrics::{EpochRecord, EpochRow, MAX_STEP_SAMPLES, StepRow, StoredEpoch};
use crate::train::StepLoss;

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
    let mut tx: Transaction<'_, Sqlite> = begin(pool).await?;
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
         val_accuracy, learning_rate, seconds, samples, grad_norms, weight_norms, eval_train_accuracy, test_loss, \
         test_accuracy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .bind(row.eval_train_accuracy)
    .bind(row.test_loss)
    .bind(row.test_accuracy)
    .execute(&mut *tx)
    .await?;
    insert_steps(&mut tx, job_id, steps).await?;
    if let Some(blob) = checkpoint {
        let previous = checkpoint_sha256(&mut tx, job_id).await?;
        let sha256 = blobs::put(&mut tx, blob).await?;
        sqlx::query(
            "INSERT OR REPLACE INTO checkpoints (job_id, epoch, step, blob_sha256) \
             VALUES (?1, ?2, (SELECT COALESCE(MAX(step), 0) FROM step_losses WHERE job_id = ?1), ?3)",
        )
        .bind(job_id)
        .bind(row.epochs_done)
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
        // Only the newest checkpoint is kept.
        blobs::release(&mut tx, &[previous]).await?;
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
         seconds, samples, grad_norms, weight_norms, eval_train_accuracy, test_loss, test_accuracy \
         FROM epochs WHERE job_id = ? AND epochs_done > ? \
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

pub async fn last_step(pool: &SqlitePool, job_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(step), 0) FROM step_losses WHERE job_id = ?")
        .bind(job_id)
        .fetch_one(pool)
        .await
}

/// The newest checkpoint of a job.
pub async fn checkpoint(pool: &SqlitePool, job_id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT b.bytes FROM checkpoints c JOIN blobs b ON b.sha256 = c.blob_sha256 WHERE c.job_id = ?")
        .bind(job_id)
        .fetch_optional(pool)
        .await
}

async fn checkpoint_sha256(tx: &mut Transaction<'_, Sqlite>, job_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT blob_sha256 FROM checkpoints WHERE job_id = ?")
        .bind(job_id)
        .fetch_optional(&mut **tx)
        .await
        .map(Option::flatten)
}

/// Deletes a job's checkpoint (its run ended) and the blob, unless shared.
pub async fn delete_checkpoint(tx: &mut Transaction<'_, Sqlite>, job_id: &str) -> sqlx::Result<()> {
    let sha256 = checkpoint_sha256(tx, job_id).await?;
    sqlx::query("DELETE FROM checkpoints WHERE job_id = ?")
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
    blobs::release(tx, &[sha256]).await
}
