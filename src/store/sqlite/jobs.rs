//! SQLite: the jobs table, which is also the queue (fenced by leases, see `store::jobs`).

use sqlx::SqlitePool;

use super::{begin, blobs, metrics};
use crate::jobs::JobStatus;
use crate::store::jobs::{Cancel, Delete, DeleteTarget, JobQuery, JobRow, Lease, NewJob, Reclaim, now_ms};
use crate::store::now;

pub(super) const COLUMNS: &str = "id, status, spec, dataset, created_at, started_at, finished_at, epoch, epochs_total, \
                       error, model_id, test_accuracy, test_loss, train_seconds, attempts, max_attempts, init_sha256, \
                       start_sha256, parent_id, changed, fork_id, fork_pair, fork_role, sweep_id, held, pause_at_epoch, kind";

/// Queues the jobs, all or none: none if fewer than their number fit under `max_queued`.
/// The count and the inserts are one transaction holding the write lock, so concurrent
/// submits cannot overshoot the cap.
pub async fn insert_if_room(
    pool: &SqlitePool,
    new: &[NewJob<'_>],
    max_queued: i64,
) -> sqlx::Result<Option<Vec<JobRow>>> {
    let mut tx = begin(pool).await?;
    // Held sweep trials are not in the queue (bounded by the sweeps' own caps).
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND held = 0")
        .fetch_one(&mut *tx)
        .await?;
    if queued + new.len() as i64 > max_queued {
        return Ok(None);
    }
    let mut rows = Vec::with_capacity(new.len());
    for job in new {
        let start_sha256 = match &job.fork {
            Some(fork) => Some(blobs::put(&mut tx, fork.start_weights).await?),
            None => None,
        };
        let fork = job.fork.as_ref();
        let row = sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO jobs (id, status, spec, dataset, created_at, epochs_total, max_attempts, start_sha256, \
             parent_id, changed, fork_id, fork_pair, fork_role, kind) \
             VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        )))
        .bind(job.id)
        .bind(job.spec_json)
        .bind(job.dataset)
        .bind(now())
        .bind(job.epochs_total)
        .bind(job.max_attempts)
        .bind(start_sha256)
        .bind(fork.map(|f| f.parent_id))
        .bind(fork.map(|f| f.changed_json))
        .bind(fork.map(|f| f.fork_id))
        .bind(fork.map(|f| f.pair))
        .bind(fork.map(|f| f.role))
        .bind(job.kind)
        .fetch_one(&mut *tx)
        .await?;
        rows.push(row);
    }
    tx.commit().await?;
    Ok(Some(rows))
}

pub async fn fork_members(pool: &SqlitePool, fork_id: &str) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE fork_id = ? ORDER BY fork_pair, fork_role"
    )))
    .bind(fork_id)
    .fetch_all(pool)
    .await
}

pub async fn get(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM jobs WHERE id = ?")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Newest first, optionally only one status or the forks of one job.
pub async fn list(pool: &SqlitePool, q: JobQuery<'_>) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR parent_id = ?2) \
         ORDER BY created_at DESC, id DESC LIMIT ?3"
    )))
    .bind(q.status)
    .bind(q.parent_id)
    .bind(q.limit)
    .fetch_all(pool)
    .await
}

pub async fn count_by_status(pool: &SqlitePool, status: JobStatus) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = ?")
        .bind(status)
        .fetch_one(pool)
        .await
}

/// Whether any job of this dataset is queued or running.
pub async fn any_pending_for(pool: &SqlitePool, dataset: &str) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE dataset = ? AND status IN ('queued', 'running')")
        .bind(dataset)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// Atomically moves the oldest queued job to `running` under a new lease of `lease_ms`, and
/// spends one of its attempts.
pub async fn claim_next(pool: &SqlitePool, owner: &str, lease_ms: i64) -> sqlx::Result<Option<(JobRow, Lease)>> {
    let token = uuid::Uuid::new_v4().to_string();
    let row = sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?1), attempts = attempts + 1, \
         lease_owner = ?2, lease_token = ?3, lease_expires_ms = ?4 \
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND held = 0 ORDER BY created_at, id LIMIT 1) \
         AND status = 'queued' RETURNING {COLUMNS}"
    )))
    .bind(now())
    .bind(owner)
    .bind(&token)
    .bind(now_ms() + lease_ms)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        (
            row,
            Lease {
                owner: owner.to_string(),
                token,
            },
        )
    }))
}

/// Extends the lease by `lease_ms` from now; false if it is no longer the job's.
pub async fn renew(pool: &SqlitePool, id: &str, lease: &Lease, lease_ms: i64) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE jobs SET lease_expires_ms = ? WHERE id = ? AND lease_token = ? AND status = 'running'")
            .bind(now_ms() + lease_ms)
            .bind(id)
            .bind(&lease.token)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the job's initial weights and their SHA-256; false (and nothing stored) if the
/// lease is gone.
pub async fn set_init_weights(pool: &SqlitePool, id: &str, lease: &Lease, weights: &[u8]) -> sqlx::Result<bool> {
    let mut tx = begin(pool).await?;
    let previous: Option<Option<String>> =
        sqlx::query_scalar("SELECT init_sha256 FROM jobs WHERE id = ? AND lease_token = ? AND status = 'running'")
            .bind(id)
            .bind(&lease.token)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(previous) = previous else {
        return Ok(false);
    };
    let sha256 = blobs::put(&mut tx, weights).await?;
    sqlx::query("UPDATE jobs SET init_sha256 = ? WHERE id = ?")
        .bind(&sha256)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    blobs::release(&mut tx, &[previous.filter(|p| *p != sha256)]).await?;
    tx.commit().await?;
    Ok(true)
}

/// A job's stored initial weights.
pub async fn init_weights(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT b.bytes FROM jobs j JOIN blobs b ON b.sha256 = j.init_sha256 WHERE j.id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Ends a running job as `failed` with a message for users; false if the lease is gone.
pub async fn fail(pool: &SqlitePool, id: &str, lease: &Lease, error: &str) -> sqlx::Result<bool> {
    let mut tx = begin(pool).await?;
    let done = sqlx::query(
        "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL WHERE id = ? AND lease_token = ? AND status = 'running'",
    )
    .bind(error)
    .bind(now())
    .bind(id)
    .bind(&lease.token)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    metrics::delete_checkpoint(&mut tx, id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Cancels a queued or running job: one transition, after which no worker's write about it
/// is accepted (its lease token is cleared), so it trains no further and gets no model.
pub async fn cancel(pool: &SqlitePool, id: &str) -> sqlx::Result<Cancel> {
    let mut tx = begin(pool).await?;
    let row = sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL WHERE id = ? AND status IN ('queued', 'running') RETURNING {COLUMNS}"
    )))
    .bind(now())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(match get(pool, id).await? {
            Some(row) => Cancel::AlreadyEnded(row),
            None => Cancel::NotFound,
        });
    };
    metrics::delete_checkpoint(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Cancel::Cancelled(row))
}

/// Deletes an ended job with its history (the tables cascade) and its model.
pub async fn delete(pool: &SqlitePool, id: &str) -> sqlx::Result<Delete> {
    let mut tx = begin(pool).await?;
    let found: Option<DeleteTarget> =
        sqlx::query_as("SELECT status, model_id, init_sha256, start_sha256 FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, model_id, init_sha256, start_sha256)) = found else {
        return Ok(Delete::NotFound);
    };
    if !status.is_terminal() {
        return Ok(Delete::NotEnded(status));
    }
    // Its model and initial weights may be shared (a fork's start, an equal model).
    metrics::delete_checkpoint(&mut tx, id).await?;
    let mut released: Vec<Option<String>> =
        sqlx::query_scalar("DELETE FROM models WHERE job_id = ? RETURNING weights_sha256")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    released.extend([init_sha256, start_sha256]);
    sqlx::query("DELETE FROM jobs WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    blobs::release(&mut tx, &released).await?;
    tx.commit().await?;
    Ok(Delete::Deleted { model_id })
}

/// Gives a running job back to the queue without spending an attempt (a graceful shutdown):
/// it resumes from its checkpoint on the next claim. False if the lease is gone.
pub async fn give_back(pool: &SqlitePool, id: &str, lease: &Lease) -> sqlx::Result<bool> {
    return_to_queue(pool, id, lease, false).await
}

/// [`give_back`], and for a sweep trial pausing for its rule (`held`: not claimable until
/// the controller releases it).
pub(super) async fn return_to_queue(pool: &SqlitePool, id: &str, lease: &Lease, held: bool) -> sqlx::Result<bool> {
    let mut tx = begin(pool).await?;
    let refunded = sqlx::query(
        "UPDATE jobs SET attempts = MAX(attempts - 1, 0), held = ? WHERE id = ? AND lease_token = ? AND status = 'running'",
    )
    .bind(held)
    .bind(id)
    .bind(&lease.token)
    .execute(&mut *tx)
    .await?;
    if refunded.rows_affected() != 1 {
        return Ok(false);
    }
    requeue(&mut tx, id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Running jobs whose lease expired before `before_ms` go back to the queue to resume from
/// their checkpoint, or end `failed` when they have spent their attempts (a job that kills
/// its server every time must not crash-loop it). Returns (queued again, failed).
pub async fn reclaim(pool: &SqlitePool, which: Reclaim<'_>) -> sqlx::Result<(u64, u64)> {
    let (before_ms, owner) = which.bounds();
    let mut tx = begin(pool).await?;
    let exhausted: Vec<String> = sqlx::query_scalar(
        "UPDATE jobs SET status = 'failed', finished_at = ?1, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL, \
         error = 'started ' || attempts || ' times (max_attempts ' || max_attempts || ') and never finished: \
each time its worker stopped without ending it (the server was killed, or the job lost its lease)' \
         WHERE status = 'running' AND (lease_expires_ms < ?2 OR lease_owner = ?3) AND attempts >= max_attempts \
         RETURNING id",
    )
    .bind(now())
    .bind(before_ms)
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    for id in &exhausted {
        metrics::delete_checkpoint(&mut tx, id).await?;
    }
    let expired: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE status = 'running' AND (lease_expires_ms < ?1 OR lease_owner = ?2)",
    )
    .bind(before_ms)
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    for id in &expired {
        requeue(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok((expired.len() as u64, exhausted.len() as u64))
}

/// Puts a running job back in the queue, its progress and history rolled back to its
/// checkpoint (everything, for a job without one), so that resuming repeats no epoch.
async fn requeue(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, id: &str) -> sqlx::Result<()> {
    let checkpoint_epoch: i64 =
        sqlx::query_scalar("SELECT COALESCE((SELECT epoch FROM checkpoints WHERE job_id = ?), 0)")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
    // With the newest checkpoint only (`worker.rs`), an epoch may be recorded without one;
    // such epochs are trained again, so their rows go.
    sqlx::query("DELETE FROM epochs WHERE job_id = ? AND epochs_done > ?")
        .bind(id)
        .bind(checkpoint_epoch)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "DELETE FROM step_losses WHERE job_id = ?1 AND \
         step > COALESCE((SELECT step FROM checkpoints WHERE job_id = ?1), 0)",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE jobs SET status = 'queued', epoch = ?, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL WHERE id = ?",
    )
    .bind(checkpoint_epoch)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
