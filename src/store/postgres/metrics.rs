//! PostgreSQL: epoch rows, step samples and checkpoints (`bytea`).

use sqlx::{PgPool, Postgres, Transaction};

use super::blobs;
use crate::store::Notice;
use crate::store::jobs::{Lease, now_ms};
use crate::store::metrics::{EpochRecord, EpochRow, MAX_STEP_SAMPLES, StepRow, StoredEpoch};
use crate::train::StepLoss;

pub async fn record_epoch(
    pool: &PgPool,
    job_id: &str,
    lease: &Lease,
    lease_ms: i64,
    record: &EpochRecord<'_>,
) -> sqlx::Result<bool> {
    let EpochRecord { row, steps, checkpoint } = *record;
    let mut tx = pool.begin().await?;
    // The fence first: nothing below is written for a job that is no longer this worker's.
    // It also tells the other replicas' event streams (a NOTIFY, sent at commit, none if the
    // transaction rolls back), in the same statement to save a round trip per epoch.
    let owned = sqlx::query(
        "UPDATE jobs SET epoch = $1, lease_expires_ms = $2 WHERE id = $3 AND lease_token = $4 AND status = 'running' \
         RETURNING pg_notify($5, $6 || id)",
    )
    .bind(row.epochs_done)
    .bind(now_ms() + lease_ms)
    .bind(job_id)
    .bind(&lease.token)
    .bind(super::CHANNEL)
    .bind(Notice::PROGRESS_PREFIX)
    .fetch_optional(&mut *tx)
    .await?;
    if owned.is_none() {
        return Ok(false);
    }
    let json = |values: &[Option<f64>]| serde_json::to_string(values).expect("numbers serialise");
    sqlx::query(
        "INSERT INTO epochs (job_id, epochs_done, fold, epoch, train_loss, train_accuracy, val_loss, val_accuracy, \
         learning_rate, seconds, samples, grad_norms, weight_norms, eval_train_accuracy, test_loss, test_accuracy) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (job_id, epochs_done) DO UPDATE SET fold = EXCLUDED.fold, epoch = EXCLUDED.epoch, \
         train_loss = EXCLUDED.train_loss, train_accuracy = EXCLUDED.train_accuracy, val_loss = EXCLUDED.val_loss, \
         val_accuracy = EXCLUDED.val_accuracy, learning_rate = EXCLUDED.learning_rate, seconds = EXCLUDED.seconds, \
         samples = EXCLUDED.samples, grad_norms = EXCLUDED.grad_norms, weight_norms = EXCLUDED.weight_norms, \
         eval_train_accuracy = EXCLUDED.eval_train_accuracy, test_loss = EXCLUDED.test_loss, \
         test_accuracy = EXCLUDED.test_accuracy",
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
            "INSERT INTO checkpoints (job_id, epoch, step, blob_sha256) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(step), 0) FROM step_losses WHERE job_id = $1), $3) \
             ON CONFLICT (job_id) DO UPDATE SET epoch = EXCLUDED.epoch, step = EXCLUDED.step, \
             blob_sha256 = EXCLUDED.blob_sha256",
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

async fn insert_steps(tx: &mut Transaction<'_, Postgres>, job_id: &str, steps: &[StepLoss]) -> sqlx::Result<()> {
    let finite: Vec<&StepLoss> = steps.iter().filter(|s| s.loss.is_finite()).collect();
    if !finite.is_empty() {
        // One statement for the epoch's samples.
        let step: Vec<i64> = finite.iter().map(|s| s.step as i64).collect();
        let epoch: Vec<i64> = finite.iter().map(|s| s.epoch as i64).collect();
        let loss: Vec<f64> = finite.iter().map(|s| s.loss as f64).collect();
        sqlx::query(
            "INSERT INTO step_losses (job_id, step, epoch, loss) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::float8[]) \
             ON CONFLICT (job_id, step) DO UPDATE SET epoch = EXCLUDED.epoch, loss = EXCLUDED.loss",
        )
        .bind(job_id)
        .bind(step)
        .bind(epoch)
        .bind(loss)
        .execute(&mut **tx)
        .await?;
    }
    loop {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM step_losses WHERE job_id = $1")
            .bind(job_id)
            .fetch_one(&mut **tx)
            .await?;
        if count <= MAX_STEP_SAMPLES {
            return Ok(());
        }
        sqlx::query(
            "DELETE FROM step_losses WHERE job_id = $1 AND step IN (SELECT step FROM \
             (SELECT step, ROW_NUMBER() OVER (ORDER BY step DESC) AS n FROM step_losses WHERE job_id = $1) AS numbered \
             WHERE n % 2 = 0)",
        )
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
    }
}

pub async fn epochs_since(pool: &PgPool, job_id: &str, since: i64) -> sqlx::Result<Vec<EpochRow>> {
    let rows = sqlx::query_as::<_, StoredEpoch>(
        "SELECT epochs_done, fold, epoch, train_loss, train_accuracy, val_loss, val_accuracy, learning_rate, \
         seconds, samples, grad_norms, weight_norms, eval_train_accuracy, test_loss, test_accuracy \
         FROM epochs WHERE job_id = $1 AND epochs_done > $2 \
         ORDER BY epochs_done",
    )
    .bind(job_id)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(EpochRow::from).collect())
}

pub async fn steps_since(pool: &PgPool, job_id: &str, since: i64) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as::<_, StepRow>(
        "SELECT step, epoch, loss FROM step_losses WHERE job_id = $1 AND step > $2 ORDER BY step",
    )
    .bind(job_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

pub async fn last_step(pool: &PgPool, job_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(step), 0) FROM step_losses WHERE job_id = $1")
        .bind(job_id)
        .fetch_one(pool)
        .await
}

pub async fn checkpoint(pool: &PgPool, job_id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT b.bytes FROM checkpoints c JOIN blobs b ON b.sha256 = c.blob_sha256 WHERE c.job_id = $1")
        .bind(job_id)
        .fetch_optional(pool)
        .await
}

async fn checkpoint_sha256(tx: &mut Transaction<'_, Postgres>, job_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT blob_sha256 FROM checkpoints WHERE job_id = $1")
        .bind(job_id)
        .fetch_optional(&mut **tx)
        .await
}

/// Deletes a job's checkpoint (its run ended) and the blob, unless shared.
pub async fn delete_checkpoint(tx: &mut Transaction<'_, Postgres>, job_id: &str) -> sqlx::Result<()> {
    let sha256: Option<String> = sqlx::query_scalar("DELETE FROM checkpoints WHERE job_id = $1 RETURNING blob_sha256")
        .bind(job_id)
        .fetch_optional(&mut **tx)
        .await?;
    blobs::release(tx, &[sha256]).await
}
