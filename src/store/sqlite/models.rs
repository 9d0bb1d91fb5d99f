//! SQLite: trained and imported models.

use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{begin, blobs, metrics};
use crate::store::jobs::Lease;
use crate::store::models::{ModelRow, NewModel};
use crate::store::now;

const COLUMNS: &str =
    "id, job_id, dataset, spec, job_spec, weights_sha256, parameters, test_accuracy, test_loss, created_at";

async fn insert_in(tx: &mut Transaction<'_, Sqlite>, m: &NewModel<'_>) -> sqlx::Result<()> {
    let weights_sha256 = blobs::put(tx, m.weights).await?;
    sqlx::query(
        "INSERT INTO models (id, job_id, dataset, spec, job_spec, weights_sha256, parameters, test_accuracy, \
         test_loss, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(m.id)
    .bind(m.job_id)
    .bind(m.dataset)
    .bind(m.spec_json)
    .bind(m.job_spec_json)
    .bind(weights_sha256)
    .bind(m.parameters)
    .bind(m.test_accuracy)
    .bind(m.test_loss)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn insert(pool: &SqlitePool, m: &NewModel<'_>) -> sqlx::Result<()> {
    let mut tx = begin(pool).await?;
    insert_in(&mut tx, m).await?;
    tx.commit().await
}

/// Stores the model and marks its job succeeded in one transaction. Returns false (and
/// stores nothing) unless the job is still running under `lease` (e.g. it was cancelled).
pub async fn insert_for_job(
    pool: &SqlitePool,
    job_id: &str,
    lease: &Lease,
    m: &NewModel<'_>,
    train_seconds: f64,
) -> sqlx::Result<bool> {
    let mut tx = begin(pool).await?;
    let done = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = ?, model_id = ?, test_accuracy = ?, test_loss = ?, \
         train_seconds = ?, lease_token = NULL, lease_owner = NULL, lease_expires_ms = NULL \
         WHERE id = ? AND lease_token = ? AND status = 'running'",
    )
    .bind(now())
    .bind(m.id)
    .bind(m.test_accuracy)
    .bind(m.test_loss)
    .bind(train_seconds)
    .bind(job_id)
    .bind(&lease.token)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    insert_in(&mut tx, m).await?;
    metrics::delete_checkpoint(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn get(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<ModelRow>> {
    sqlx::query_as::<_, ModelRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE id = ?"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(pool: &SqlitePool, dataset: Option<&str>) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as::<_, ModelRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE (?1 IS NULL OR dataset = ?1) ORDER BY created_at DESC, id DESC"
    )))
    .bind(dataset)
    .fetch_all(pool)
    .await
}

pub async fn weights(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT b.bytes FROM models m JOIN blobs b ON b.sha256 = m.weights_sha256 WHERE m.id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Deletes a model (and its weights unless shared); false if there was none.
pub async fn delete(pool: &SqlitePool, id: &str) -> sqlx::Result<bool> {
    let mut tx = begin(pool).await?;
    let deleted: Option<Option<String>> =
        sqlx::query_scalar("DELETE FROM models WHERE id = ? RETURNING weights_sha256")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(sha256) = deleted else {
        return Ok(false);
    };
    blobs::release(&mut tx, &[sha256]).await?;
    tx.commit().await?;
    Ok(true)
}
