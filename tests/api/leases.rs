//! Leases and attempts at the store, where the fencing lives: a worker whose lease is gone
//! writes nothing; an expired lease puts the job back in the queue; attempts run out.

use nnlab::jobs::JobStatus;
use nnlab::store;
use nnlab::store::jobs::{Lease, NewJob, now_ms};
use nnlab::store::metrics::{EpochRecord, EpochRow};
use nnlab::train::EpochMetrics;

async fn pool() -> (sqlx::SqlitePool, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pool = store::connect(&format!("sqlite://{}", dir.path().join("db").display()))
        .await
        .unwrap();
    (pool, dir)
}

async fn queue(pool: &sqlx::SqlitePool, id: &str, max_attempts: i64) {
    let job = NewJob {
        id,
        spec_json: r#"{"dataset":"xor"}"#,
        dataset: "xor",
        epochs_total: 5,
        max_attempts,
    };
    store::jobs::insert_if_room(pool, &job, 10)
        .await
        .unwrap()
        .expect("room");
}

fn metrics(epoch: usize) -> EpochMetrics {
    EpochMetrics {
        epoch,
        fold: None,
        train_loss: 0.5,
        train_accuracy: 0.5,
        val_loss: None,
        val_accuracy: None,
        learning_rate: 0.1,
        grad_norms: vec![1.0],
        weight_norms: vec![1.0],
        samples: 4,
        seconds: 0.01,
    }
}

async fn record(pool: &sqlx::SqlitePool, id: &str, lease: &Lease, epoch: usize) -> bool {
    let row = EpochRow::new(&metrics(epoch), epoch as i64);
    let record = EpochRecord {
        row: &row,
        steps: &[],
        checkpoint: Some(b"checkpoint"),
    };
    store::metrics::record_epoch(pool, id, lease, 30_000, &record)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_expired_lease_returns_the_job_to_the_queue_and_fences_off_its_old_worker() {
    let (pool, _dir) = pool().await;
    queue(&pool, "j", 3).await;
    let (row, old) = store::jobs::claim_next(&pool, "worker-a", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.status, row.attempts), (JobStatus::Running, 1));
    assert!(record(&pool, "j", &old, 1).await);
    // Nothing expired yet.
    assert_eq!(store::jobs::reclaim_expired(&pool, now_ms()).await.unwrap(), (0, 0));
    // Later than the lease: it is taken back, with its checkpoint's progress.
    // (Recording an epoch renewed the lease for 30 s.)
    assert_eq!(
        store::jobs::reclaim_expired(&pool, now_ms() + 60_000).await.unwrap(),
        (1, 0)
    );
    let row = store::jobs::get(&pool, "j").await.unwrap().unwrap();
    assert_eq!((row.status, row.epoch), (JobStatus::Queued, 1));
    // The old worker wakes up: every write is refused.
    assert!(!record(&pool, "j", &old, 2).await);
    assert!(!store::jobs::renew(&pool, "j", &old, 30_000).await.unwrap());
    assert!(!store::jobs::fail(&pool, "j", &old, "late").await.unwrap());
    assert!(!store::jobs::give_back(&pool, "j", &old).await.unwrap());
    // Another worker resumes it under a new lease.
    let (row, new) = store::jobs::claim_next(&pool, "worker-b", 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.attempts, row.epoch), (2, 1));
    assert_ne!(new.token, old.token);
    assert!(record(&pool, "j", &new, 2).await);
    assert!(!record(&pool, "j", &old, 3).await, "still fenced after the new claim");
    let epochs: i64 = sqlx::query_scalar("SELECT MAX(epochs_done) FROM epochs WHERE job_id = 'j'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(epochs, 2);
}

#[tokio::test]
async fn a_job_that_never_finishes_ends_failed_when_its_attempts_are_spent() {
    let (pool, _dir) = pool().await;
    queue(&pool, "crashy", 2).await;
    for attempt in 1..=2 {
        let (row, _) = store::jobs::claim_next(&pool, "w", 1)
            .await
            .unwrap()
            .expect("claimable");
        assert_eq!(row.attempts, attempt);
        store::jobs::reclaim_expired(&pool, now_ms() + 1_000).await.unwrap();
    }
    let row = store::jobs::get(&pool, "crashy").await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Failed);
    let error = row.error.unwrap();
    assert!(error.contains("max_attempts 2"), "{error}");
    assert!(store::jobs::claim_next(&pool, "w", 1).await.unwrap().is_none());
}

#[tokio::test]
async fn a_job_given_back_at_shutdown_gets_its_attempt_back() {
    let (pool, _dir) = pool().await;
    queue(&pool, "j", 1).await;
    for _ in 0..3 {
        let (row, lease) = store::jobs::claim_next(&pool, "w", 30_000).await.unwrap().unwrap();
        assert_eq!(row.attempts, 1);
        assert!(store::jobs::give_back(&pool, "j", &lease).await.unwrap());
        let row = store::jobs::get(&pool, "j").await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (JobStatus::Queued, 0));
    }
}

#[tokio::test]
async fn a_cancelled_job_is_never_claimed_again_and_its_worker_is_fenced_off() {
    let (pool, _dir) = pool().await;
    queue(&pool, "j", 3).await;
    let (_, lease) = store::jobs::claim_next(&pool, "w", 30_000).await.unwrap().unwrap();
    assert!(matches!(
        store::jobs::cancel(&pool, "j").await.unwrap(),
        store::jobs::Cancel::Cancelled(_)
    ));
    assert!(!record(&pool, "j", &lease, 1).await);
    assert!(!store::jobs::fail(&pool, "j", &lease, "x").await.unwrap());
    assert_eq!(store::jobs::reclaim_expired(&pool, i64::MAX).await.unwrap(), (0, 0));
    assert!(store::jobs::claim_next(&pool, "w", 30_000).await.unwrap().is_none());
    assert!(matches!(
        store::jobs::cancel(&pool, "j").await.unwrap(),
        store::jobs::Cancel::AlreadyEnded(_)
    ));
}
