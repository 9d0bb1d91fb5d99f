//! PostgreSQL: the jobs table, which is also the queue, shared by every replica. Claims take
//! `FOR UPDATE SKIP LOCKED` in the statement that writes the lease, so replicas never wait
//! on, or double-claim, each other's jobs.

use sqlx::{PgPool, Postgres, Transaction};

use super::{blobs, metrics};
use crate::jobs::JobStatus;
use crate::store::Notice;
use crate::store::jobs::{Cancel, Delete, DeleteTarget, JobQuery, JobRow, Lease, NewJob, Reclaim, now_ms};
use crate::store::now;

pub(super) const COLUMNS: &str = "id, status, spec, dataset, created_at, started_at, finished_at, epoch, epochs_total, \
                       error, model_id, test_accuracy, test_loss, train_seconds, attempts, max_attempts, init_sha256, \
                       start_sha256, parent_id, changed, fork_id, fork_pair, fork_role, sweep_id, held, pause_at_epoch, kind";

/// The queue cap's lock (`pg_advisory_xact_lock`): concurrent submits on any replica take it
/// in turn, so the count and the insert cannot interleave.
const QUEUE_LOCK: i64 = 0x6e6e_6c61_6271_7565;

/// Queues the jobs, all or none (see the SQLite twin); the queue lock serialises the count
/// and the inserts across replicas.
pub async fn insert_if_room(pool: &PgPool, new: &[NewJob<'_>], max_queued: i64) -> sqlx::Result<Option<Vec<JobRow>>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(QUEUE_LOCK)
        .execute(&mut *tx)
        .await?;
    // Held sweep trials are not in the queue (bounded by the sweeps' own caps).
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND NOT held")
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
             VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLUMNS}"
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
    notify(&mut tx, &Notice::Queued).await?;
    tx.commit().await?;
    Ok(Some(rows))
}

/// Tells every replica (delivered when the transaction commits).
pub(super) async fn notify(tx: &mut Transaction<'_, Postgres>, notice: &Notice) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::CHANNEL)
        .bind(notice.payload())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn fork_members(pool: &PgPool, fork_id: &str) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE fork_id = $1 ORDER BY fork_pair, fork_role"
    )))
    .bind(fork_id)
    .fetch_all(pool)
    .await
}

pub async fn get(pool: &PgPool, id: &str) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn list(pool: &PgPool, q: JobQuery<'_>) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE ($1::text IS NULL OR status = $1::text) \
         AND ($2::text IS NULL OR parent_id = $2::text) ORDER BY created_at DESC, id DESC LIMIT $3"
    )))
    .bind(q.status)
    .bind(q.parent_id)
    .bind(q.limit)
    .fetch_all(pool)
    .await
}

pub async fn count_by_status(pool: &PgPool, status: JobStatus) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
}

pub async fn any_pending_for(pool: &PgPool, dataset: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE dataset = $1 AND status IN ('queued', 'running'))")
        .bind(dataset)
        .fetch_one(pool)
        .await
}

pub async fn claim_next(pool: &PgPool, owner: &str, lease_ms: i64) -> sqlx::Result<Option<(JobRow, Lease)>> {
    let token = uuid::Uuid::new_v4().to_string();
    let row = sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, $1), attempts = attempts + 1, \
         lease_owner = $2, lease_token = $3, lease_expires_ms = $4 \
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND NOT held ORDER BY created_at, id LIMIT 1 \
                     FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}"
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

pub async fn renew(pool: &PgPool, id: &str, lease: &Lease, lease_ms: i64) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE jobs SET lease_expires_ms = $3 WHERE id = $1 AND lease_token = $2 AND status = 'running'")
            .bind(id)
            .bind(&lease.token)
            .bind(now_ms() + lease_ms)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_init_weights(pool: &PgPool, id: &str, lease: &Lease, weights: &[u8]) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let previous: Option<Option<String>> = sqlx::query_scalar(
        "SELECT init_sha256 FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'running' FOR UPDATE",
    )
    .bind(id)
    .bind(&lease.token)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(previous) = previous else {
        return Ok(false);
    };
    let sha256 = blobs::put(&mut tx, weights).await?;
    sqlx::query("UPDATE jobs SET init_sha256 = $2 WHERE id = $1")
        .bind(id)
        .bind(&sha256)
        .execute(&mut *tx)
        .await?;
    blobs::release(&mut tx, &[previous.filter(|p| *p != sha256)]).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn init_weights(pool: &PgPool, id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT b.bytes FROM jobs j JOIN blobs b ON b.sha256 = j.init_sha256 WHERE j.id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn fail(pool: &PgPool, id: &str, lease: &Lease, error: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    // Fenced by the lease; the NOTIFY (at commit) tells the other replicas' event streams.
    let done = sqlx::query(
        "UPDATE jobs SET status = 'failed', error = $3, finished_at = $4, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL WHERE id = $1 AND lease_token = $2 AND status = 'running' \
         RETURNING pg_notify($5, $6 || id)",
    )
    .bind(id)
    .bind(&lease.token)
    .bind(error)
    .bind(now())
    .bind(super::CHANNEL)
    .bind(Notice::PROGRESS_PREFIX)
    .fetch_optional(&mut *tx)
    .await?;
    if done.is_none() {
        return Ok(false);
    }
    metrics::delete_checkpoint(&mut tx, id).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn cancel(pool: &PgPool, id: &str) -> sqlx::Result<Cancel> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET status = 'cancelled', finished_at = $2, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL WHERE id = $1 AND status IN ('queued', 'running') RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(now())
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
    notify(&mut tx, &Notice::Cancelled(id.to_string())).await?;
    tx.commit().await?;
    Ok(Cancel::Cancelled(row))
}

pub async fn delete(pool: &PgPool, id: &str) -> sqlx::Result<Delete> {
    let mut tx = pool.begin().await?;
    let found: Option<DeleteTarget> =
        sqlx::query_as("SELECT status, model_id, init_sha256, start_sha256 FROM jobs WHERE id = $1 FOR UPDATE")
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
        sqlx::query_scalar("DELETE FROM models WHERE job_id = $1 RETURNING weights_sha256")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    released.extend([init_sha256, start_sha256]);
    sqlx::query("DELETE FROM jobs WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    blobs::release(&mut tx, &released).await?;
    tx.commit().await?;
    Ok(Delete::Deleted { model_id })
}

pub async fn give_back(pool: &PgPool, id: &str, lease: &Lease) -> sqlx::Result<bool> {
    return_to_queue(pool, id, lease, false).await
}

/// [`give_back`], and for a sweep trial pausing for its rule (`held`).
pub(super) async fn return_to_queue(pool: &PgPool, id: &str, lease: &Lease, held: bool) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let refunded = sqlx::query(
        "UPDATE jobs SET attempts = GREATEST(attempts - 1, 0), held = $3 \
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(&lease.token)
    .bind(held)
    .execute(&mut *tx)
    .await?;
    if refunded.rows_affected() != 1 {
        return Ok(false);
    }
    requeue(&mut tx, id).await?;
    if !held {
        notify(&mut tx, &Notice::Queued).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Several replicas reap at once: each locks the rows it takes back (`SKIP LOCKED`), so a
/// job is taken back once and never after another worker has claimed it again.
pub async fn reclaim(pool: &PgPool, which: Reclaim<'_>) -> sqlx::Result<(u64, u64)> {
    let (before_ms, owner) = which.bounds();
    let mut tx = pool.begin().await?;
    let exhausted: Vec<String> = sqlx::query_scalar(
        "UPDATE jobs SET status = 'failed', finished_at = $1, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL, \
         error = 'started ' || attempts || ' times (max_attempts ' || max_attempts || ') and never finished: \
each time its worker stopped without ending it (the server was killed, or the job lost its lease)' \
         WHERE id IN (SELECT id FROM jobs WHERE status = 'running' \
                      AND (lease_expires_ms < $2 OR lease_owner = $3::text) \
                      AND attempts >= max_attempts FOR UPDATE SKIP LOCKED) RETURNING id",
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
        "SELECT id FROM jobs WHERE status = 'running' AND (lease_expires_ms < $1 OR lease_owner = $2::text) \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(before_ms)
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    for id in &expired {
        requeue(&mut tx, id).await?;
    }
    if !expired.is_empty() {
        notify(&mut tx, &Notice::Queued).await?;
    }
    tx.commit().await?;
    Ok((expired.len() as u64, exhausted.len() as u64))
}

/// Puts a running job back in the queue, its progress and history rolled back to its
/// checkpoint (everything, for a job without one), so that resuming repeats no epoch.
async fn requeue(tx: &mut Transaction<'_, Postgres>, id: &str) -> sqlx::Result<()> {
    let (epoch, step): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE((SELECT epoch FROM checkpoints WHERE job_id = $1), 0), \
                COALESCE((SELECT step FROM checkpoints WHERE job_id = $1), 0)",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM epochs WHERE job_id = $1 AND epochs_done > $2")
        .bind(id)
        .bind(epoch)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM step_losses WHERE job_id = $1 AND step > $2")
        .bind(id)
        .bind(step)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE jobs SET status = 'queued', epoch = $2, lease_token = NULL, lease_owner = NULL, \
         lease_expires_ms = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(epoch)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
