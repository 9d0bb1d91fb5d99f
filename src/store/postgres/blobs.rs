//! PostgreSQL: the content-addressed blob table (`store::blobs`). Replicas write and
//! release blobs concurrently, so both sides lock the blob's row: a writer that points a
//! new row at an existing blob holds its lock until commit, and a releaser locks the blob
//! before it counts the rows pointing at it (in a later statement, whose snapshot sees
//! what the writer committed). A blob is therefore never deleted under a new reference.

use sqlx::{PgPool, Postgres, Transaction};

use crate::store::blobs::{BlobUsage, sha256_hex};

/// Stores `bytes` unless a blob with their digest exists, and locks that blob's row until
/// the transaction ends; returns the digest.
pub async fn put(tx: &mut Transaction<'_, Postgres>, bytes: &[u8]) -> sqlx::Result<String> {
    let sha256 = sha256_hex(bytes);
    // `DO UPDATE ... WHERE false` updates nothing but locks the existing row (which `DO
    // NOTHING` would not); if a releaser deleted it meanwhile, the insert goes ahead.
    sqlx::query(
        "INSERT INTO blobs (sha256, bytes, size) VALUES ($1, $2, $3) \
         ON CONFLICT (sha256) DO UPDATE SET size = EXCLUDED.size WHERE false",
    )
    .bind(&sha256)
    .bind(bytes)
    .bind(bytes.len() as i64)
    .execute(&mut **tx)
    .await?;
    Ok(sha256)
}

/// Deletes the blobs among `digests` that no model, checkpoint or job (initial or start
/// weights) points at any more.
pub async fn release(tx: &mut Transaction<'_, Postgres>, digests: &[Option<String>]) -> sqlx::Result<()> {
    let mut digests: Vec<&str> = digests.iter().flatten().map(String::as_str).collect();
    if digests.is_empty() {
        return Ok(());
    }
    // One lock order for every releaser.
    digests.sort_unstable();
    digests.dedup();
    sqlx::query("SELECT sha256 FROM blobs WHERE sha256 = ANY($1) ORDER BY sha256 FOR UPDATE")
        .bind(&digests)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "DELETE FROM blobs b WHERE b.sha256 = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM models WHERE weights_sha256 = b.sha256) \
         AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE blob_sha256 = b.sha256) \
         AND NOT EXISTS (SELECT 1 FROM jobs WHERE init_sha256 = b.sha256) \
         AND NOT EXISTS (SELECT 1 FROM jobs WHERE start_sha256 = b.sha256)",
    )
    .bind(&digests)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get(pool: &PgPool, sha256: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT bytes FROM blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(pool)
        .await
}

pub async fn usage(pool: &PgPool) -> sqlx::Result<BlobUsage> {
    let (count, bytes): (i64, i64) = sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM blobs")
        .fetch_one(pool)
        .await?;
    Ok(BlobUsage { count, bytes })
}
