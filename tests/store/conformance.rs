//! What every store must do: leases and fencing, attempts, cancel, the queue cap, histories,
//! models and deletion. Each test runs on every backend; a failure names the backend.

use std::sync::Arc;
use std::time::Duration;

use nnlab::jobs::{JobKind, JobStatus};
use nnlab::store::Store;
use nnlab::store::blobs::{BlobUsage, sha256_hex};
use nnlab::store::drawings::{DrawingQuery, NewDrawing};
use nnlab::store::jobs::{Cancel, Delete, ForkOf, ForkRole, JobQuery, Lease, NewJob, Reclaim, now_ms};
use nnlab::store::metrics::{EpochRecord, EpochRow, MAX_STEP_SAMPLES};
use nnlab::store::models::NewModel;
use nnlab::store::sweeps::{
    DecisionAction, DecisionRow, NewSweep, NewTrial, SweepChanges, SweepInsert, SweepState, SweepStatus,
};
use nnlab::train::{EpochMetrics, StepLoss};

use crate::backends::backends;

async fn queue(store: &dyn Store, id: &str, max_attempts: i64) {
    let job = NewJob {
        kind: JobKind::Train,
        id,
        spec_json: r#"{"dataset":"xor"}"#,
        dataset: "xor",
        epochs_total: 5,
        max_attempts,
        fork: None,
    };
    store.insert_jobs_if_room(&[job], 1000).await.unwrap().expect("room");
}

fn metrics(epoch: usize) -> EpochMetrics {
    EpochMetrics {
        epoch,
        fold: None,
        train_loss: 0.5 / epoch as f32,
        train_accuracy: 0.5,
        val_loss: None,
        val_accuracy: None,
        learning_rate: 0.1,
        grad_norms: vec![1.0, f32::NAN],
        weight_norms: vec![1.0, 2.0],
        samples: 4,
        seconds: 0.01,
        eval_train_accuracy: None,
        test: None,
    }
}

async fn record_with(store: &dyn Store, id: &str, lease: &Lease, epoch: usize, steps: &[StepLoss]) -> bool {
    let row = EpochRow::new(&metrics(epoch), epoch as i64);
    let record = EpochRecord {
        row: &row,
        steps,
        checkpoint: Some(&[epoch as u8; 16]),
    };
    store.record_epoch(id, lease, 30_000, &record).await.unwrap()
}

async fn record(store: &dyn Store, id: &str, lease: &Lease, epoch: usize) -> bool {
    record_with(store, id, lease, epoch, &[]).await
}

/// A replica restarted under its name takes back at once what its earlier process held
/// (leases not yet expired), and only that: another replica's live lease stays.
#[tokio::test]
async fn a_replica_restarted_under_its_name_takes_back_its_own_running_jobs_at_once() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        queue(store, "mine", 3).await;
        queue(store, "theirs", 3).await;
        let (row, old) = store.claim_next("replica-1", 60_000).await.unwrap().unwrap();
        assert_eq!((row.id.as_str(), row.kind), ("mine", JobKind::Train), "{name}");
        assert!(record(store, "mine", &old, 1).await, "{name}");
        let (theirs, their_lease) = store.claim_next("replica-2", 60_000).await.unwrap().unwrap();
        assert_eq!(theirs.id, "theirs", "{name}");
        assert_eq!(
            store
                .reclaim(Reclaim::ExpiredOrOwnedBy(now_ms(), "replica-1"))
                .await
                .unwrap(),
            (1, 0),
            "{name}: its own, though its lease has a minute left"
        );
        let mine = store.job("mine").await.unwrap().unwrap();
        assert_eq!(
            (mine.status, mine.epoch, mine.attempts),
            (JobStatus::Queued, 1, 1),
            "{name}"
        );
        assert_eq!(
            store.job("theirs").await.unwrap().unwrap().status,
            JobStatus::Running,
            "{name}"
        );
        assert!(
            store.renew("theirs", &their_lease, 60_000).await.unwrap(),
            "{name}: still replica 2's"
        );
        // The earlier process's lease is void: whatever it still writes is refused.
        assert!(!record(store, "mine", &old, 2).await, "{name}");
        let (again, _) = store.claim_next("replica-1", 60_000).await.unwrap().unwrap();
        assert_eq!((again.id.as_str(), again.attempts), ("mine", 2), "{name}");
    }
}

#[tokio::test]
async fn an_expired_lease_returns_the_job_to_the_queue_and_fences_off_its_old_worker() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        queue(store, "j", 3).await;
        let (row, old) = store.claim_next("worker-a", 1_000).await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (JobStatus::Running, 1), "{name}");
        assert!(record(store, "j", &old, 1).await, "{name}");
        assert_eq!(
            store.reclaim(Reclaim::Expired(now_ms())).await.unwrap(),
            (0, 0),
            "{name}: nothing expired yet"
        );
        // (Recording an epoch renewed the lease for 30 s.)
        assert_eq!(
            store.reclaim(Reclaim::Expired(now_ms() + 60_000)).await.unwrap(),
            (1, 0),
            "{name}"
        );
        let row = store.job("j").await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.epoch),
            (JobStatus::Queued, 1),
            "{name}: back with its checkpoint's progress"
        );
        // The old worker wakes up: every write is refused.
        assert!(!record(store, "j", &old, 2).await, "{name}");
        assert!(!store.renew("j", &old, 30_000).await.unwrap(), "{name}");
        assert!(!store.fail("j", &old, "late").await.unwrap(), "{name}");
        assert!(!store.give_back("j", &old).await.unwrap(), "{name}");
        let blobs_before = store.blob_usage().await.unwrap();
        assert!(!store.set_init_weights("j", &old, b"late").await.unwrap(), "{name}");
        assert_eq!(
            store.blob_usage().await.unwrap(),
            blobs_before,
            "{name}: a refused write stores no blob"
        );
        // Another worker resumes it under a new lease.
        let (row, new) = store.claim_next("worker-b", 30_000).await.unwrap().unwrap();
        assert_eq!((row.attempts, row.epoch), (2, 1), "{name}");
        assert_ne!(new.token, old.token, "{name}");
        assert_eq!(store.checkpoint("j").await.unwrap(), Some(vec![1u8; 16]), "{name}");
        assert!(record(store, "j", &new, 2).await, "{name}");
        assert!(
            !record(store, "j", &old, 3).await,
            "{name}: still fenced after the new claim"
        );
        let epochs: Vec<i64> = store
            .epochs_since("j", 0)
            .await
            .unwrap()
            .iter()
            .map(|e| e.epochs_done)
            .collect();
        assert_eq!(epochs, [1, 2], "{name}");
    }
}

#[tokio::test]
async fn a_job_that_never_finishes_ends_failed_when_its_attempts_are_spent() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        queue(store, "crashy", 2).await;
        for attempt in 1..=2 {
            let (row, _) = store.claim_next("w", 1).await.unwrap().expect("claimable");
            assert_eq!(row.attempts, attempt, "{name}");
            store.reclaim(Reclaim::Expired(now_ms() + 1_000)).await.unwrap();
        }
        let row = store.job("crashy").await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Failed, "{name}");
        let error = row.error.unwrap();
        assert!(error.contains("max_attempts 2"), "{name}: {error}");
        assert!(store.claim_next("w", 1).await.unwrap().is_none(), "{name}");
    }
}

#[tokio::test]
async fn a_job_given_back_at_shutdown_gets_its_attempt_back() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        queue(store, "j", 1).await;
        for _ in 0..3 {
            let (row, lease) = store.claim_next("w", 30_000).await.unwrap().unwrap();
            assert_eq!(row.attempts, 1, "{name}");
            assert!(store.give_back("j", &lease).await.unwrap(), "{name}");
            let row = store.job("j").await.unwrap().unwrap();
            assert_eq!((row.status, row.attempts), (JobStatus::Queued, 0), "{name}");
        }
    }
}

#[tokio::test]
async fn a_cancelled_job_is_never_claimed_again_and_its_worker_is_fenced_off() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        queue(store, "j", 3).await;
        let (_, lease) = store.claim_next("w", 30_000).await.unwrap().unwrap();
        assert!(
            matches!(store.cancel("j").await.unwrap(), Cancel::Cancelled(r) if r.status == JobStatus::Cancelled),
            "{name}"
        );
        assert!(!record(store, "j", &lease, 1).await, "{name}");
        assert!(!store.fail("j", &lease, "x").await.unwrap(), "{name}");
        let model = new_model("m", Some("j"));
        assert!(
            !store.finish_with_model("j", &lease, &model, 1.0).await.unwrap(),
            "{name}: no model after a cancel"
        );
        assert!(store.model("m").await.unwrap().is_none(), "{name}");
        assert_eq!(store.reclaim(Reclaim::All).await.unwrap(), (0, 0), "{name}");
        assert!(store.claim_next("w", 30_000).await.unwrap().is_none(), "{name}");
        assert!(
            matches!(store.cancel("j").await.unwrap(), Cancel::AlreadyEnded(_)),
            "{name}"
        );
        assert!(
            matches!(store.cancel("nope").await.unwrap(), Cancel::NotFound),
            "{name}"
        );
    }
}

#[tokio::test]
async fn concurrent_submits_never_queue_more_than_the_cap() {
    for b in backends().await {
        let name = b.name;
        let submits = (0..20).map(|i| {
            let store = Arc::clone(&b.store);
            async move {
                let id = format!("job-{i}");
                let job = NewJob {
                    kind: JobKind::Train,
                    id: &id,
                    spec_json: "{}",
                    dataset: "xor",
                    epochs_total: 1,
                    max_attempts: 3,
                    fork: None,
                };
                store.insert_jobs_if_room(&[job], 3).await.unwrap().is_some()
            }
        });
        let accepted = futures::future::join_all(submits)
            .await
            .into_iter()
            .filter(|a| *a)
            .count();
        assert_eq!(accepted, 3, "{name}");
        assert_eq!(b.store.count_jobs(JobStatus::Queued).await.unwrap(), 3, "{name}");
    }
}

#[tokio::test]
async fn histories_read_incrementally_keep_non_finite_values_as_null_and_thin_their_step_samples() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        queue(store, "j", 3).await;
        let (_, lease) = store.claim_next("w", 30_000).await.unwrap().unwrap();
        let per_epoch = 100usize;
        let epochs = 30;
        for epoch in 1..=epochs {
            let steps: Vec<StepLoss> = (1..=per_epoch)
                .map(|i| StepLoss {
                    step: (epoch - 1) * per_epoch + i,
                    epoch,
                    loss: 1.0,
                })
                .collect();
            assert!(record_with(store, "j", &lease, epoch, &steps).await, "{name}");
        }
        let all = store.epochs_since("j", 0).await.unwrap();
        assert_eq!(all.len(), epochs, "{name}");
        assert_eq!(all[0], EpochRow::new(&metrics(1), 1), "{name}: read back as written");
        assert_eq!(all[0].grad_norms, [Some(1.0), None], "{name}: NaN is null");
        let tail: Vec<i64> = store
            .epochs_since("j", 27)
            .await
            .unwrap()
            .iter()
            .map(|e| e.epochs_done)
            .collect();
        assert_eq!(tail, [28, 29, 30], "{name}");
        let steps = store.steps_since("j", 0).await.unwrap();
        assert!(
            steps.len() as i64 <= MAX_STEP_SAMPLES,
            "{name}: {} samples",
            steps.len()
        );
        assert_eq!(
            steps.last().unwrap().step,
            (epochs * per_epoch) as i64,
            "{name}: the newest stays"
        );
        assert!(steps.windows(2).all(|w| w[0].step < w[1].step), "{name}");
        let after: Vec<i64> = store
            .steps_since("j", 2990)
            .await
            .unwrap()
            .iter()
            .map(|s| s.step)
            .collect();
        assert!(
            after.iter().all(|&s| s > 2990) && after.contains(&3000),
            "{name}: {after:?}"
        );
        assert_eq!(store.last_step("j").await.unwrap(), 3000, "{name}");
        assert_eq!(store.last_step("no-such-job").await.unwrap(), 0, "{name}");
        assert_eq!(
            store.checkpoint("j").await.unwrap(),
            Some(vec![30u8; 16]),
            "{name}: the newest checkpoint"
        );
    }
}

fn new_model<'a>(id: &'a str, job_id: Option<&'a str>) -> NewModel<'a> {
    NewModel {
        id,
        job_id,
        dataset: "xor",
        spec_json: "{}",
        job_spec_json: None,
        weights: b"weights",
        parameters: 7,
        test_accuracy: Some(0.75),
        test_loss: None,
    }
}

/// Whether the id "j" is among the notices within `ms`.
async fn heard(told: &mut tokio::sync::broadcast::Receiver<String>, ms: u64) -> bool {
    let wait = async { while !told.recv().await.is_ok_and(|id| id == "j") {} };
    tokio::time::timeout(Duration::from_millis(ms), wait).await.is_ok()
}

/// On PostgreSQL every replica hears of each recorded epoch and of the end of a job (what
/// lets an event stream on another replica read at once); a SQLite file has one process,
/// which tells its streams directly.
#[tokio::test]
async fn a_jobs_epochs_and_end_are_told_to_every_replica_where_replicas_exist() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let Some(mut told) = store.progress_notices() else {
            assert_eq!(name, "sqlite", "only a single-process backend has no progress notices");
            continue;
        };
        queue(store, "j", 3).await;
        let (_, lease) = store.claim_next("w", 30_000).await.unwrap().unwrap();
        // The listener connects in the background: epochs until it hears one.
        let mut epoch = 0;
        loop {
            epoch += 1;
            assert!(record(store, "j", &lease, epoch).await, "{name}");
            if heard(&mut told, 200).await {
                break;
            }
            assert!(epoch < 50, "{name}: no epoch of the job was told in 50 tries");
        }
        assert!(record(store, "j", &lease, epoch + 1).await, "{name}");
        assert!(heard(&mut told, 5000).await, "{name}: the next epoch is told");
        assert!(
            store
                .finish_with_model("j", &lease, &new_model("m", Some("j")), 1.0)
                .await
                .unwrap(),
            "{name}"
        );
        assert!(heard(&mut told, 5000).await, "{name}: the end is told");
    }
}

#[tokio::test]
async fn a_finished_job_stores_its_model_and_deleting_it_removes_everything() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        queue(store, "j", 3).await;
        let (_, lease) = store.claim_next("w", 30_000).await.unwrap().unwrap();
        assert!(record(store, "j", &lease, 1).await, "{name}");
        assert!(
            matches!(
                store.delete_job("j").await.unwrap(),
                Delete::NotEnded(JobStatus::Running)
            ),
            "{name}"
        );
        assert!(
            store
                .finish_with_model("j", &lease, &new_model("m", Some("j")), 2.5)
                .await
                .unwrap(),
            "{name}"
        );
        let job = store.job("j").await.unwrap().unwrap();
        assert_eq!(
            (job.status, job.model_id.as_deref(), job.train_seconds),
            (JobStatus::Succeeded, Some("m"), Some(2.5)),
            "{name}"
        );
        assert!(
            store.checkpoint("j").await.unwrap().is_none(),
            "{name}: an ended job keeps no checkpoint"
        );
        assert_eq!(
            store.model_weights("m").await.unwrap().as_deref(),
            Some(&b"weights"[..]),
            "{name}"
        );
        assert_eq!(store.models(Some("xor")).await.unwrap().len(), 1, "{name}");
        assert!(store.models(Some("mnist")).await.unwrap().is_empty(), "{name}");
        // A second model on its own, then the job with its history and model.
        store.insert_model(&new_model("imported", None)).await.unwrap();
        assert!(
            matches!(store.delete_job("j").await.unwrap(), Delete::Deleted { model_id: Some(m) } if m == "m"),
            "{name}"
        );
        assert!(store.job("j").await.unwrap().is_none(), "{name}");
        assert!(store.epochs_since("j", 0).await.unwrap().is_empty(), "{name}");
        assert!(store.model("m").await.unwrap().is_none(), "{name}");
        assert!(
            matches!(store.delete_job("j").await.unwrap(), Delete::NotFound),
            "{name}"
        );
        assert!(store.delete_model("imported").await.unwrap(), "{name}");
        assert!(!store.delete_model("imported").await.unwrap(), "{name}");
        assert!(store.ready().await.unwrap(), "{name}");
    }
}

/// Equal bytes are stored once, whoever points at them, and a blob goes with the last row
/// pointing at it: initial weights shared by two jobs (as a fork shares its parent's),
/// checkpoints (only the newest kept), a trained and an imported model with equal weights.
#[tokio::test]
async fn blobs_are_stored_once_and_deleted_with_their_last_reference() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let usage = |count: i64, bytes: i64| BlobUsage { count, bytes };
        queue(store, "a", 3).await;
        queue(store, "b", 3).await;
        let (_, lease_a) = store.claim_next("w", 30_000).await.unwrap().unwrap();
        let (_, lease_b) = store.claim_next("w", 30_000).await.unwrap().unwrap();
        let init = [9u8; 100];
        assert!(store.set_init_weights("a", &lease_a, &init).await.unwrap(), "{name}");
        assert!(store.set_init_weights("b", &lease_b, &init).await.unwrap(), "{name}");
        assert_eq!(
            store.blob_usage().await.unwrap(),
            usage(1, 100),
            "{name}: one start, stored once"
        );
        assert_eq!(
            store.init_weights("b").await.unwrap().as_deref(),
            Some(&init[..]),
            "{name}"
        );
        assert_eq!(
            store.job("a").await.unwrap().unwrap().init_sha256,
            Some(sha256_hex(&init)),
            "{name}"
        );
        // Checkpoints of 16 bytes: a's epoch 1 is replaced by its epoch 2, which b shares.
        assert!(record(store, "a", &lease_a, 1).await, "{name}");
        assert_eq!(store.blob_usage().await.unwrap(), usage(2, 116), "{name}");
        assert!(record(store, "a", &lease_a, 2).await, "{name}");
        assert!(record(store, "b", &lease_b, 2).await, "{name}");
        assert_eq!(
            store.blob_usage().await.unwrap(),
            usage(2, 116),
            "{name}: only the newest checkpoint is kept, and b's equals a's"
        );
        let weights = new_model("trained", Some("a"));
        assert!(
            store.finish_with_model("a", &lease_a, &weights, 1.0).await.unwrap(),
            "{name}"
        );
        store.insert_model(&new_model("imported", None)).await.unwrap();
        let models = store.models(None).await.unwrap();
        assert!(
            models.iter().all(|m| m.weights_sha256 == sha256_hex(b"weights")),
            "{name}"
        );
        // init, b's checkpoint (a's went with its run), the models' weights once.
        assert_eq!(store.blob_usage().await.unwrap(), usage(3, 123), "{name}");
        assert!(store.delete_model("imported").await.unwrap(), "{name}");
        assert_eq!(
            store.model_weights("trained").await.unwrap().as_deref(),
            Some(&b"weights"[..]),
            "{name}: still pointed at by the trained model"
        );
        assert!(
            matches!(store.delete_job("a").await.unwrap(), Delete::Deleted { .. }),
            "{name}"
        );
        assert_eq!(
            store.blob_usage().await.unwrap(),
            usage(2, 116),
            "{name}: the weights went; the start stays, b points at it"
        );
        assert!(
            matches!(store.cancel("b").await.unwrap(), Cancel::Cancelled(_)),
            "{name}"
        );
        assert_eq!(
            store.blob_usage().await.unwrap(),
            usage(1, 100),
            "{name}: b's checkpoint went"
        );
        assert!(
            matches!(store.delete_job("b").await.unwrap(), Delete::Deleted { .. }),
            "{name}"
        );
        assert_eq!(store.blob_usage().await.unwrap(), usage(0, 0), "{name}");
    }
}

/// A fork's jobs are queued all or none under the cap, share their start weights as one
/// blob, and are listed by pair.
#[tokio::test]
async fn a_forks_jobs_are_queued_all_or_none_and_share_their_start() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let start = [5u8; 64];
        let job = |id: &'static str, pair: i64, role: ForkRole| NewJob {
            kind: JobKind::Train,
            id,
            spec_json: "{}",
            dataset: "xor",
            epochs_total: 1,
            max_attempts: 3,
            fork: Some(ForkOf {
                parent_id: "p",
                changed_json: r#"["seed"]"#,
                fork_id: "c0",
                pair,
                role,
                start_weights: &start,
            }),
        };
        let fork = || {
            [
                job("c0", 0, ForkRole::Child),
                job("c1", 1, ForkRole::Child),
                job("b1", 1, ForkRole::Baseline),
            ]
        };
        assert!(
            store.insert_jobs_if_room(&fork(), 2).await.unwrap().is_none(),
            "{name}: 3 do not fit under 2"
        );
        assert_eq!(
            store.count_jobs(JobStatus::Queued).await.unwrap(),
            0,
            "{name}: none was queued"
        );
        assert_eq!(store.blob_usage().await.unwrap(), BlobUsage::default(), "{name}");
        let rows = store.insert_jobs_if_room(&fork(), 3).await.unwrap().expect("room");
        assert!(
            rows.iter().all(|r| r.start_sha256 == Some(sha256_hex(&start))),
            "{name}"
        );
        assert_eq!(
            store.blob_usage().await.unwrap().count,
            1,
            "{name}: one start, stored once"
        );
        let members: Vec<String> = store
            .fork_members("c0")
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(members, ["c0", "b1", "c1"], "{name}: by pair, baseline first");
        let forks_of = |parent_id, limit| {
            store.jobs(JobQuery {
                status: None,
                parent_id: Some(parent_id),
                limit,
            })
        };
        let mut listed: Vec<String> = forks_of("p", 10).await.unwrap().into_iter().map(|r| r.id).collect();
        listed.sort();
        assert_eq!(listed, ["b1", "c0", "c1"], "{name}: every job forked from p");
        assert_eq!(forks_of("p", 2).await.unwrap().len(), 2, "{name}: at most the limit");
        assert!(forks_of("c0", 10).await.unwrap().is_empty(), "{name}: c0 has no forks");
        for id in ["c0", "c1", "b1"] {
            assert!(
                matches!(store.cancel(id).await.unwrap(), Cancel::Cancelled(_)),
                "{name}"
            );
        }
        for id in ["c0", "c1"] {
            assert!(
                matches!(store.delete_job(id).await.unwrap(), Delete::Deleted { .. }),
                "{name}"
            );
        }
        assert_eq!(
            store.blob(&sha256_hex(&start)).await.unwrap().as_deref(),
            Some(&start[..]),
            "{name}"
        );
        assert!(
            matches!(store.delete_job("b1").await.unwrap(), Delete::Deleted { .. }),
            "{name}"
        );
        assert_eq!(
            store.blob_usage().await.unwrap(),
            BlobUsage::default(),
            "{name}: gone with the last"
        );
    }
}

/// Releases one held trial, promotes a paused one and stops a third: what a controller asks.
fn release_promote_stop(state: &SweepState) -> SweepChanges {
    let id = |i: usize| state.trials[i].job.id.clone();
    SweepChanges {
        release: vec![id(0)],
        promote: vec![(id(1), Some(3))],
        stop: vec![(id(2), "stopped by the rule".into())],
        decisions: vec![DecisionRow {
            config: 2,
            rung_epoch: 1,
            action: DecisionAction::Stop,
            value: 0.5,
            cutoff: 0.4,
            rank: 3,
            of_count: 3,
            rule: "stopped by the rule".into(),
        }],
        finish: None,
    }
}

/// Sweep trials are held until released, pause with their checkpoint and attempt kept, and
/// a reconcile applies a controller's changes (guarded by each job's state) at once.
#[tokio::test]
async fn sweep_trials_wait_held_pause_for_their_rule_and_follow_its_decisions() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let job = |id: &'static str| NewJob {
            kind: JobKind::Train,
            id,
            spec_json: "{}",
            dataset: "xor",
            epochs_total: 9,
            max_attempts: 3,
            fork: None,
        };
        let trials: Vec<NewTrial> = ["t0", "t1", "t2"]
            .into_iter()
            .enumerate()
            .map(|(i, id)| NewTrial {
                job: job(id),
                config: i as i64,
                params_json: "{}",
                pause_at: Some(1),
            })
            .collect();
        let sweep = NewSweep {
            id: "s",
            name: "conformance",
            spec_json: "{}",
        };
        assert!(
            matches!(
                store.insert_sweep(&sweep, &trials, 1).await.unwrap(),
                SweepInsert::Created(_)
            ),
            "{name}"
        );
        let again = NewSweep {
            id: "s2",
            name: "",
            spec_json: "{}",
        };
        assert!(
            matches!(store.insert_sweep(&again, &[], 1).await.unwrap(), SweepInsert::TooMany),
            "{name}"
        );
        assert!(
            store.claim_next("w", 30_000).await.unwrap().is_none(),
            "{name}: held trials are not claimed"
        );
        // t1 and t2 are released, train their first epoch and pause there.
        let release_t1_t2: nnlab::store::sweeps::Decide = |s| SweepChanges {
            release: s
                .trials
                .iter()
                .filter(|t| t.job.id != "t0")
                .map(|t| t.job.id.clone())
                .collect(),
            ..SweepChanges::default()
        };
        store.reconcile_sweep("s", release_t1_t2).await.unwrap().unwrap();
        for _ in 0..2 {
            let (row, lease) = store.claim_next("w", 30_000).await.unwrap().expect("released");
            assert_eq!(row.pause_at_epoch, Some(1), "{name}");
            assert!(record(store, &row.id, &lease, 1).await, "{name}");
            assert!(store.pause(&row.id, &lease).await.unwrap(), "{name}");
            assert!(
                !store.pause(&row.id, &lease).await.unwrap(),
                "{name}: fenced like any worker write"
            );
            let paused = store.job(&row.id).await.unwrap().unwrap();
            assert_eq!(
                (paused.status, paused.held, paused.epoch, paused.attempts),
                (JobStatus::Queued, true, 1, 0),
                "{name}: held at its epoch, its attempt refunded"
            );
            assert_eq!(store.checkpoint(&row.id).await.unwrap(), Some(vec![1u8; 16]), "{name}");
        }
        assert!(
            store.claim_next("w", 30_000).await.unwrap().is_none(),
            "{name}: paused trials wait"
        );
        let state = store.sweep_state("s").await.unwrap().unwrap();
        assert_eq!(state.trials.len(), 3, "{name}");
        assert_eq!(state.epochs.len(), 2, "{name}: the trials' epoch rows");
        store.reconcile_sweep("s", release_promote_stop).await.unwrap().unwrap();
        let state = store.sweep_state("s").await.unwrap().unwrap();
        assert_eq!(state.decisions.len(), 1, "{name}");
        let by_id = |id: &str| state.trials.iter().find(|t| t.job.id == id).unwrap().job.clone();
        assert!(!by_id("t0").held, "{name}: released");
        assert_eq!(
            (by_id("t1").held, by_id("t1").pause_at_epoch),
            (true, Some(3)),
            "{name}: promoted, still held"
        );
        assert_eq!(by_id("t2").status, JobStatus::Cancelled, "{name}");
        assert_eq!(by_id("t2").error.as_deref(), Some("stopped by the rule"), "{name}");
        assert!(store.checkpoint("t2").await.unwrap().is_none(), "{name}");
        // The same decision again changes nothing (the first one stands).
        store.reconcile_sweep("s", release_promote_stop).await.unwrap().unwrap();
        assert_eq!(
            store.sweep_state("s").await.unwrap().unwrap().decisions.len(),
            1,
            "{name}"
        );
        let (row, cancelled) = store.cancel_sweep("s").await.unwrap().unwrap();
        assert_eq!(row.status, SweepStatus::Cancelled, "{name}");
        assert_eq!(cancelled.len(), 2, "{name}: t0 and t1");
        assert!(
            store
                .reconcile_sweep("s", release_promote_stop)
                .await
                .unwrap()
                .is_none(),
            "{name}: ended"
        );
    }
}

#[tokio::test]
async fn drawings_are_capped_under_concurrent_saves_listed_oldest_first_by_label_and_deleted() {
    for b in backends().await {
        let name = b.name;
        let saves = (0..12).map(|i| {
            let store = Arc::clone(&b.store);
            async move {
                let id = format!("d{i:02}");
                let pixels = vec![i as u8; 784];
                let new = NewDrawing {
                    id: &id,
                    label: i % 3,
                    pixels: &pixels,
                };
                store.insert_drawing_if_room(&new, 5).await.unwrap()
            }
        });
        let saved: Vec<_> = futures::future::join_all(saves).await.into_iter().flatten().collect();
        assert_eq!(saved.len(), 5, "{name}: the cap holds under concurrent saves");
        assert_eq!(b.store.count_drawings().await.unwrap(), 5, "{name}");
        let all = b
            .store
            .drawings(DrawingQuery {
                label: None,
                limit: 100,
                newest_first: false,
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 5, "{name}");
        assert!(
            all.windows(2)
                .all(|w| (&w[0].created_at, &w[0].id) <= (&w[1].created_at, &w[1].id)),
            "{name}: oldest first"
        );
        for d in &all {
            let i: u8 = d.id[1..].parse().unwrap();
            assert_eq!(
                (d.label, d.pixels.clone()),
                ((i % 3) as i64, vec![i; 784]),
                "{name}: {}",
                d.id
            );
        }
        let label = all[0].label;
        let of_label = b
            .store
            .drawings(DrawingQuery {
                label: Some(label),
                limit: 100,
                newest_first: false,
            })
            .await
            .unwrap();
        assert_eq!(
            of_label.len(),
            all.iter().filter(|d| d.label == label).count(),
            "{name}"
        );
        let first = |n: i64, newest_first: bool| {
            b.store.drawings(DrawingQuery {
                label: None,
                limit: n,
                newest_first,
            })
        };
        assert_eq!(
            first(2, false).await.unwrap(),
            all[..2].to_vec(),
            "{name}: the limit keeps the oldest"
        );
        assert_eq!(
            first(2, true).await.unwrap(),
            vec![all[4].clone(), all[3].clone()],
            "{name}: newest first"
        );
        assert!(b.store.delete_drawing(&all[0].id).await.unwrap(), "{name}");
        assert!(!b.store.delete_drawing(&all[0].id).await.unwrap(), "{name}");
        assert_eq!(b.store.count_drawings().await.unwrap(), 4, "{name}");
    }
}

#[tokio::test]
async fn every_installed_backend_is_tested() {
    let names: Vec<&str> = backends().await.iter().map(|b| b.name).collect();
    let postgres_installed = std::path::Path::new("/usr/lib/postgresql").exists();
    let expected: &[&str] = if postgres_installed {
        &["sqlite", "postgres"]
    } else {
        &["sqlite"]
    };
    assert_eq!(names, expected);
}
