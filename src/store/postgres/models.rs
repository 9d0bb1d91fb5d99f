//! PostgreSQL: trained and imported models (weights as `bytea`).

use sqlx::{PgPool, Postgres, Transaction};

use super::{blobs, metrics};
use crate::store::Notice;
use crate::store::jobs::Lease;
use crate::store::models::{ModelRow, NewModel};
use crate::store::now;

const COLUMNS: &str =
    "id, job_id, dataset, spec, job_spec, weights_sha256, parameters, test_accuracy, test_loss, created_at";

async fn insert_in(tx: &mut Transaction<'_, Postgres>, m: &NewModel<'_>) -> sqlx::Result<()> {
    let weights_sha256 = blobs::put(tx, m.weights).await?;
    sqlx::query(
        "INSERT INTO models (id, job_id, dataset, spec, job_spec, weights_sha256, parameters, test_accuracy, \
         test_loss, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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

pub async fn insert(pool: &PgPool, m: &NewModel<'_>) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    insert_in(&mut tx, m).await?;
    tx.commit().await
}

pub async fn insert_for_job(
    pool: &PgPool,
    job_id: &str,
    lease: &Lease,
    m: &NewModel<'_>,
    train_seconds: f64,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    // Fenced by the lease; the NOTIFY (at commit) tells the other replicas' event streams.
    let done = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = $1, model_id = $2, test_accuracy = $3, test_loss = $4, \
         train_seconds = $5, lease_token = NULL, lease_owner = NULL, lease_expires_ms = NULL \
         WHERE id = $6 AND lease_token = $7 AND status = 'running' RETURNING pg_notify($8, $9 || id)",
    )
    .bind(now())
    .bind(m.id)
    .bind(m.test_accuracy)
    .bind(m.test_loss)
    .bind(train_seconds)
    .bind(job_id)
    .bind(&lease.token)
    .bind(super::CHANNEL)
    .bind(Notice::PROGRESS_PREFIX)
    .fetch_optional(&mut *tx)
    .await?;
    if done.is_none() {
        return Ok(false);
    }
    insert_in(&mut tx, m).await?;
    metrics::delete_checkpoint(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn get(pool: &PgPool, id: &str) -> sqlx::Result<Option<ModelRow>> {
    sqlx::query_as::<_, ModelRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(pool: &PgPool, dataset: Option<&str>) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as::<_, ModelRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE ($1::text IS NULL OR dataset = $1::text) ORDER BY created_at DESC, id DESC"
    )))
    .bind(dataset)
    .fetch_all(pool)
    .await
}

pub async fn weights(pool: &PgPool, id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT b.bytes FROM models m JOIN blobs b ON b.sha256 = m.weights_sha256 WHERE m.id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn delete(pool: &PgPool, id: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let deleted: Option<String> = sqlx::query_scalar("DELETE FROM models WHERE id = $1 RETURNING weights_sha256")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(sha256) = deleted else {
        return Ok(false);
    };
    blobs::release(&mut tx, &[Some(sha256)]).await?;
    tx.commit().await?;
    Ok(true)
}
