//! SQLite: labelled drawings.

use sqlx::SqlitePool;

use crate::store::drawings::{DrawingQuery, DrawingRow, NewDrawing};
use crate::store::now;

const COLUMNS: &str = "id, label, pixels, created_at";

/// Stores the drawing unless `max` are stored already (one statement: SQLite has one
/// writer, so the count and the insert cannot interleave with another insert).
pub async fn insert_if_room(pool: &SqlitePool, d: &NewDrawing<'_>, max: i64) -> sqlx::Result<Option<DrawingRow>> {
    sqlx::query_as::<_, DrawingRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO drawings (id, label, pixels, created_at) SELECT ?, ?, ?, ? \
         WHERE (SELECT COUNT(*) FROM drawings) < ? RETURNING {COLUMNS}"
    )))
    .bind(d.id)
    .bind(d.label)
    .bind(d.pixels)
    .bind(now())
    .bind(max)
    .fetch_optional(pool)
    .await
}

pub async fn list(pool: &SqlitePool, q: DrawingQuery) -> sqlx::Result<Vec<DrawingRow>> {
    let order = if q.newest_first {
        "created_at DESC, id DESC"
    } else {
        "created_at, id"
    };
    sqlx::query_as::<_, DrawingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM drawings WHERE (? IS NULL OR label = ?) ORDER BY {order} LIMIT ?"
    )))
    .bind(q.label)
    .bind(q.label)
    .bind(q.limit)
    .fetch_all(pool)
    .await
}

pub async fn count(pool: &SqlitePool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM drawings")
        .fetch_one(pool)
        .await
}

pub async fn delete(pool: &SqlitePool, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM drawings WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
