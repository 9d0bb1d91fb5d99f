//! PostgreSQL: labelled drawings.

use sqlx::PgPool;

use crate::store::drawings::{DrawingQuery, DrawingRow, NewDrawing};
use crate::store::now;

const COLUMNS: &str = "id, label, pixels, created_at";
/// Serialises inserts, so that replicas saving at once cannot pass the cap together.
const DRAWINGS_LOCK: i64 = 0x6e6e_6c61_6264_7277;

/// Stores the drawing unless `max` are stored already; the count and the insert are atomic.
pub async fn insert_if_room(pool: &PgPool, d: &NewDrawing<'_>, max: i64) -> sqlx::Result<Option<DrawingRow>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(DRAWINGS_LOCK)
        .execute(&mut *tx)
        .await?;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM drawings")
        .fetch_one(&mut *tx)
        .await?;
    if stored >= max {
        return Ok(None);
    }
    let row = sqlx::query_as::<_, DrawingRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO drawings (id, label, pixels, created_at) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    )))
    .bind(d.id)
    .bind(d.label)
    .bind(d.pixels)
    .bind(now())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

pub async fn list(pool: &PgPool, q: DrawingQuery) -> sqlx::Result<Vec<DrawingRow>> {
    let order = if q.newest_first {
        "created_at DESC, id DESC"
    } else {
        "created_at, id"
    };
    sqlx::query_as::<_, DrawingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM drawings WHERE ($1::BIGINT IS NULL OR label = $1) ORDER BY {order} LIMIT $2"
    )))
    .bind(q.label)
    .bind(q.limit)
    .fetch_all(pool)
    .await
}

pub async fn count(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM drawings")
        .fetch_one(pool)
        .await
}

pub async fn delete(pool: &PgPool, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM drawings WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
