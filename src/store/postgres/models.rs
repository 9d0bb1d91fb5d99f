//! PostgreSQL: trained and imported models (weights as `bytea`).

use sqlx::PgPool;

use crate::store::jobs::Lease;
use crate::store::models::{ModelRow, NewModel};
use crate::store::now;

const COLUMNS: &str = "id, job_id, dataset, spec, job_spec, parameters, test_accuracy, test_loss, created_at";

async fn insert_in<'e, E: sqlx::Executor<'e, Database = sqlx::Postgres>>(
    executor: E,
    m: &NewModel<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO models (id, job_id, dataset, spec, job_spec, weights, parameters, test_accuracy, test_loss, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(m.id)
    .bind(m.job_id)
    .bind(m.dataset)
    .bind(m.spec_json)
    .bind(m.job_spec_json)
    .bind(m.weights)
    .bind(m.parameters)
    .bind(m.test_accuracy)
    .bind(m.test_loss)
    .bind(now())
    .execute(executor)
    .await?;
    Ok(())
}

pub async fn insert(pool: &PgPool, m: &NewModel<'_>) -> sqlx::Result<()> {
    insert_in(pool, m).await
}

pub async fn insert_for_job(
    pool: &PgPool,
    job_id: &str,
    lease: &Lease,
    m: &NewModel<'_>,
    train_seconds: f64,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = $1, model_id = $2, test_accuracy = $3, test_loss = $4, \
         train_seconds = $5, lease_token = NULL, lease_owner = NULL, lease_expires_ms = NULL \
         WHERE id = $6 AND lease_token = $7 AND status = 'running'",
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
    insert_in(&mut *tx, m).await?;
    sqlx::query("DELETE FROM checkpoints WHERE job_id = $1")
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
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
    sqlx::query_scalar("SELECT weights FROM models WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn delete(pool: &PgPool, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM models WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
