//! SQLite: the content-addressed blob table (`store::blobs`). SQLite has one writer at a
//! time, so a blob's references are counted and it is deleted in the same transaction
//! without further locking.

use sqlx::{Sqlite, SqlitePool, Transaction};

use super::begin;
use crate::store::blobs::{BlobUsage, sha256_hex};

/// Stores `bytes` unless a blob with their digest exists; returns the digest.
pub async fn put(tx: &mut Transaction<'_, Sqlite>, bytes: &[u8]) -> sqlx::Result<String> {
    let sha256 = sha256_hex(bytes);
    sqlx::query("INSERT OR IGNORE INTO blobs (sha256, bytes, size) VALUES (?, ?, ?)")
        .bind(&sha256)
        .bind(bytes)
        .bind(bytes.len() as i64)
        .execute(&mut **tx)
        .await?;
    Ok(sha256)
}

/// Deletes the blobs among `digests` that no model, checkpoint or job (initial or start
/// weights) points at any more.
pub async fn release(tx: &mut Transaction<'_, Sqlite>, digests: &[Option<String>]) -> sqlx::Result<()> {
    for sha256 in digests.iter().flatten() {
        sqlx::query(
            "DELETE FROM blobs WHERE sha256 = ?1 \
             AND NOT EXISTS (SELECT 1 FROM models WHERE weights_sha256 = ?1) \
             AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE blob_sha256 = ?1) \
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE init_sha256 = ?1) \
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE start_sha256 = ?1)",
        )
        .bind(sha256)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub async fn get(pool: &SqlitePool, sha256: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT bytes FROM blobs WHERE sha256 = ?")
        .bind(sha256)
        .fetch_optional(pool)
        .await
}

pub async fn usage(pool: &SqlitePool) -> sqlx::Result<BlobUsage> {
    let (count, bytes): (i64, i64) = sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs")
        .fetch_one(pool)
        .await?;
    Ok(BlobUsage { count, bytes })
}

/// Moves the bytes that migration 0007 left in `legacy_*` columns into blobs (SQLite has
/// no SHA-256 function for the migration to do it), one row per transaction. Runs at
/// connect, before anything reads; a no-op once done.
pub async fn adopt_legacy(pool: &SqlitePool) -> sqlx::Result<()> {
    for (table, key, legacy, digest) in [
        ("models", "id", "legacy_weights", "weights_sha256"),
        ("checkpoints", "job_id", "legacy_blob", "blob_sha256"),
    ] {
        loop {
            let mut tx = begin(pool).await?;
            let row: Option<(String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {key}, {legacy} FROM {table} WHERE {legacy} IS NOT NULL LIMIT 1"
            )))
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id, bytes)) = row else { break };
            let sha256 = put(&mut tx, &bytes).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET {digest} = ?, {legacy} = NULL WHERE {key} = ?"
            )))
            .bind(sha256)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}
