//! PostgreSQL: sweeps, their trials and decisions (as the SQLite twin). A reconcile locks
//! the sweep's row (`FOR UPDATE`), so replicas take turns deciding about one sweep; stops
//! and releases are NOTIFYed like any cancel or queued job.

use sqlx::{PgPool, Postgres, Transaction};

use super::jobs::{COLUMNS, notify, return_to_queue};
use super::metrics;
use crate::store::Notice;
use crate::store::jobs::Lease;
use crate::store::now;
use crate::store::sweeps::{
    Decide, DecisionRow, NewSweep, NewTrial, SweepChanges, SweepInsert, SweepRow, SweepState, TrialEpoch, TrialRow,
};

const SWEEP_COLUMNS: &str = "id, name, spec, status, created_at, finished_at";

/// Running sweeps are counted under this lock, so replicas cannot overshoot the cap.
const SWEEPS_LOCK: i64 = 0x6e6e_6c61_6273_7770;

fn job_columns() -> String {
    COLUMNS
        .split(',')
        .map(|c| format!("j.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn insert(
    pool: &PgPool,
    sweep: &NewSweep<'_>,
    trials: &[NewTrial<'_>],
    max_running: i64,
) -> sqlx::Result<SweepInsert> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SWEEPS_LOCK)
        .execute(&mut *tx)
        .await?;
    let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sweeps WHERE status = 'running'")
        .fetch_one(&mut *tx)
        .await?;
    if running >= max_running {
        return Ok(SweepInsert::TooMany);
    }
    let row = sqlx::query_as::<_, SweepRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sweeps (id, name, spec, status, created_at) VALUES ($1, $2, $3, 'running', $4) RETURNING {SWEEP_COLUMNS}"
    )))
    .bind(sweep.id)
    .bind(sweep.name)
    .bind(sweep.spec_json)
    .bind(now())
    .fetch_one(&mut *tx)
    .await?;
    for trial in trials {
        let job = &trial.job;
        sqlx::query(
            "INSERT INTO jobs (id, status, spec, dataset, created_at, epochs_total, max_attempts, sweep_id, held, \
             pause_at_epoch, kind) VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, TRUE, $8, $9)",
        )
        .bind(job.id)
        .bind(job.spec_json)
        .bind(job.dataset)
        .bind(now())
        .bind(job.epochs_total)
        .bind(job.max_attempts)
        .bind(sweep.id)
        .bind(trial.pause_at)
        .bind(job.kind)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO sweep_trials (job_id, sweep_id, config, params) VALUES ($1, $2, $3, $4)")
            .bind(job.id)
            .bind(sweep.id)
            .bind(trial.config)
            .bind(trial.params_json)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(SweepInsert::Created(row))
}

pub async fn get(pool: &PgPool, id: &str) -> sqlx::Result<Option<SweepRow>> {
    sqlx::query_as::<_, SweepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SWEEP_COLUMNS} FROM sweeps WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<SweepRow>> {
    sqlx::query_as::<_, SweepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SWEEP_COLUMNS} FROM sweeps ORDER BY created_at DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn running(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM sweeps WHERE status = 'running' ORDER BY created_at")
        .fetch_all(pool)
        .await
}

pub async fn fingerprint(pool: &PgPool, id: &str) -> sqlx::Result<String> {
    let (n, epochs, held, ended, running): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(epoch), 0)::BIGINT, COUNT(*) FILTER (WHERE held), \
         COUNT(*) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled')), COUNT(*) FILTER (WHERE status = 'running') \
         FROM jobs WHERE sweep_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(format!("{n}/{epochs}/{held}/{ended}/{running}"))
}

async fn read_state(conn: &mut sqlx::PgConnection, sweep: SweepRow) -> sqlx::Result<SweepState> {
    let trials = sqlx::query_as::<_, TrialRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {}, t.config, t.params FROM sweep_trials t JOIN jobs j ON j.id = t.job_id \
         WHERE t.sweep_id = $1 ORDER BY t.config, j.created_at, j.id",
        job_columns()
    )))
    .bind(&sweep.id)
    .fetch_all(&mut *conn)
    .await?;
    let decisions = sqlx::query_as::<_, DecisionRow>(
        "SELECT config, rung_epoch, action, value, cutoff, rank, of_count, rule FROM sweep_decisions \
         WHERE sweep_id = $1 ORDER BY rung_epoch, config",
    )
    .bind(&sweep.id)
    .fetch_all(&mut *conn)
    .await?;
    let epochs = sqlx::query_as::<_, TrialEpoch>(
        "SELECT e.job_id, e.epochs_done, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy \
         FROM epochs e JOIN sweep_trials t ON t.job_id = e.job_id WHERE t.sweep_id = $1 ORDER BY e.job_id, e.epochs_done",
    )
    .bind(&sweep.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(SweepState {
        sweep,
        trials,
        decisions,
        epochs,
    })
}

pub async fn state(pool: &PgPool, id: &str) -> sqlx::Result<Option<SweepState>> {
    let Some(sweep) = get(pool, id).await? else {
        return Ok(None);
    };
    let mut conn = pool.acquire().await?;
    read_state(&mut conn, sweep).await.map(Some)
}

pub async fn reconcile(pool: &PgPool, id: &str, decide: Decide) -> sqlx::Result<Option<SweepChanges>> {
    let mut tx = pool.begin().await?;
    let sweep = sqlx::query_as::<_, SweepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SWEEP_COLUMNS} FROM sweeps WHERE id = $1 AND status = 'running' FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(sweep) = sweep else {
        return Ok(None);
    };
    let state = read_state(&mut tx, sweep).await?;
    let changes = decide(&state);
    if !changes.is_empty() {
        apply(&mut tx, id, &changes).await?;
    }
    tx.commit().await?;
    Ok(Some(changes))
}

async fn apply(tx: &mut Transaction<'_, Postgres>, id: &str, changes: &SweepChanges) -> sqlx::Result<()> {
    for d in &changes.decisions {
        sqlx::query(
            "INSERT INTO sweep_decisions (sweep_id, config, rung_epoch, action, value, cutoff, rank, of_count, rule, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(d.config)
        .bind(d.rung_epoch)
        .bind(d.action)
        .bind(d.value)
        .bind(d.cutoff)
        .bind(d.rank)
        .bind(d.of_count)
        .bind(&d.rule)
        .bind(now())
        .execute(&mut **tx)
        .await?;
    }
    for (job_id, pause_at) in &changes.promote {
        sqlx::query("UPDATE jobs SET pause_at_epoch = $1 WHERE id = $2 AND status = 'queued' AND held")
            .bind(pause_at)
            .bind(job_id)
            .execute(&mut **tx)
            .await?;
    }
    for (job_id, message) in &changes.stop {
        let stopped = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', error = $1, finished_at = $2, held = FALSE, lease_token = NULL, \
             lease_owner = NULL, lease_expires_ms = NULL WHERE id = $3 AND status IN ('queued', 'running')",
        )
        .bind(message)
        .bind(now())
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
        if stopped.rows_affected() == 1 {
            metrics::delete_checkpoint(tx, job_id).await?;
            notify(tx, &Notice::Cancelled(job_id.to_string())).await?;
        }
    }
    for job_id in &changes.release {
        sqlx::query("UPDATE jobs SET held = FALSE WHERE id = $1 AND status = 'queued' AND held")
            .bind(job_id)
            .execute(&mut **tx)
            .await?;
    }
    if !changes.release.is_empty() {
        notify(tx, &Notice::Queued).await?;
    }
    if let Some(status) = &changes.finish {
        sqlx::query("UPDATE sweeps SET status = $1, finished_at = $2 WHERE id = $3 AND status = 'running'")
            .bind(status)
            .bind(now())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn cancel(pool: &PgPool, id: &str) -> sqlx::Result<Option<(SweepRow, Vec<String>)>> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE sweeps SET status = 'cancelled', finished_at = $1 WHERE id = $2 AND status = 'running'")
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let Some(row) = sqlx::query_as::<_, SweepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SWEEP_COLUMNS} FROM sweeps WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let cancelled: Vec<String> = sqlx::query_scalar(
        "UPDATE jobs SET status = 'cancelled', error = 'the sweep was cancelled', finished_at = $1, held = FALSE, \
         lease_token = NULL, lease_owner = NULL, lease_expires_ms = NULL \
         WHERE sweep_id = $2 AND status IN ('queued', 'running') RETURNING id",
    )
    .bind(now())
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    for job_id in &cancelled {
        metrics::delete_checkpoint(&mut tx, job_id).await?;
        notify(&mut tx, &Notice::Cancelled(job_id.to_string())).await?;
    }
    tx.commit().await?;
    Ok(Some((row, cancelled)))
}

pub async fn pause(pool: &PgPool, id: &str, lease: &Lease) -> sqlx::Result<bool> {
    return_to_queue(pool, id, lease, true).await
}
