//! A worker task: claim the oldest queued job under a lease, train it on a blocking thread,
//! record its epochs (each write fenced by the lease), and store the model.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::view::Job;
use super::{Jobs, lease};
use crate::nn::io::{from_safetensors_with_spec, to_safetensors, weights_to_safetensors};
use crate::nn::{MatMul, Network};
use crate::store;
use crate::store::jobs::{JobRow, Lease};
use crate::store::metrics::{EpochRecord, EpochRow};
use crate::train::{
    Begin, Control, EpochMetrics, Event, JobSpec, Observer, Outcome, StepLoss, TrainError, ValidSpec, train_resumable,
};

/// How often an idle worker looks at the queue even without a notification (a job queued
/// by another process sharing the database, or a missed wake-up).
const POLL: Duration = Duration::from_secs(1);
/// Messages in flight from the training thread; when the recorder falls behind, the trainer
/// waits (steps and epochs are small; checkpoints do not travel here).
const PROGRESS_CAPACITY: usize = 256;

pub(super) async fn run(jobs: Arc<Jobs>, index: usize, shutdown: CancellationToken) {
    tracing::info!(worker = index, "worker started");
    let lease_ms = jobs.settings.lease.as_millis() as i64;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match jobs.store.claim_next(&jobs.owner, lease_ms).await {
            Ok(Some((row, lease))) => run_job(&jobs, row, lease).await,
            Ok(None) => {
                tokio::select! {
                    _ = jobs.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a job failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
    tracing::info!(worker = index, "worker stopped");
}

/// Messages from the training thread.
enum Progress {
    /// The initial weights as safetensors bytes.
    Started(Vec<u8>),
    Step(StepLoss),
    Epoch(EpochMetrics),
}

/// The newest checkpoint the trainer made and the epoch (in all) it is of. Only the newest
/// is kept: a slow database costs skipped checkpoints, never a queue of them in memory.
type CheckpointSlot = Arc<Mutex<Option<(i64, Vec<u8>)>>>;

/// Forwards the trainer's events to the async side and reads the stop flag.
struct ChannelObserver {
    tx: mpsc::Sender<Progress>,
    stop: Arc<AtomicBool>,
    slot: CheckpointSlot,
    epochs_done: i64,
    /// A sweep trial stops after this epoch to wait for its rule.
    pause_at: Option<i64>,
    /// Set when it stopped there.
    paused: Arc<AtomicBool>,
}

impl ChannelObserver {
    fn send(&self, msg: Progress) -> Control {
        // The receiver only goes away if the worker task ended; stop training then.
        match self.tx.blocking_send(msg) {
            Ok(()) => Control::Continue,
            Err(_) => Control::Stop,
        }
    }
}

impl Observer for ChannelObserver {
    fn event(&mut self, event: Event) -> Control {
        match event {
            Event::Step(s) => self.send(Progress::Step(s)),
            Event::Epoch(m) => {
                self.epochs_done += 1;
                let sent = self.send(Progress::Epoch(m.clone()));
                if sent == Control::Continue && self.pause_at == Some(self.epochs_done) {
                    // The epoch's checkpoint is made; the trial waits for its rule here.
                    self.paused.store(true, Ordering::SeqCst);
                    return Control::Stop;
                }
                sent
            }
            Event::KFold(_) => Control::Continue,
        }
    }

    fn keep_going(&mut self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }

    fn wants_checkpoints(&self) -> bool {
        true
    }

    fn checkpoint(&mut self, bytes: Vec<u8>) {
        // Made before the epoch it belongs to is reported.
        *self.slot.lock().expect("slot lock") = Some((self.epochs_done + 1, bytes));
    }

    fn initial_weights(&mut self, network: &Network) {
        self.send(Progress::Started(weights_to_safetensors(network)));
    }
}

/// How a job's run ended, as far as this worker is concerned.
enum Ending {
    Trained(Box<Outcome>, Vec<u8>),
    Failed(String),
    /// Stopped by its flag: a cancel, a shutdown, or a lost lease.
    Stopped,
}

async fn run_job(jobs: &Arc<Jobs>, row: JobRow, lease: Lease) {
    let id = row.id.clone();
    tracing::info!(job = %id, dataset = %row.dataset, attempt = row.attempts, "job started");
    let stop = jobs.live.register(&id);
    let lost = Arc::new(AtomicBool::new(false));
    jobs.live.publish(
        &id,
        "status",
        serde_json::to_value(Job::from(row.clone())).unwrap_or_default(),
    );
    let beat_done = CancellationToken::new();
    let beat = tokio::spawn(lease::heartbeat(
        Arc::clone(jobs),
        id.clone(),
        lease.clone(),
        Arc::clone(&stop),
        Arc::clone(&lost),
        beat_done.clone(),
    ));

    let store_failed = AtomicBool::new(false);
    let paused = Arc::new(AtomicBool::new(false));
    let ending = train_job(jobs, &row, &lease, Arc::clone(&stop), &lost, &store_failed, &paused).await;
    beat_done.cancel();
    let _ = beat.await;
    let recorded = match ending {
        _ if lost.load(Ordering::SeqCst) => Ok("lease lost: nothing more written"),
        Ending::Trained(outcome, weights) => finish_succeeded(jobs, &row, &lease, &outcome, &weights).await,
        Ending::Stopped if paused.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) => jobs
            .store
            .pause(&id, &lease)
            .await
            .map(|_| "paused for the sweep's rule"),
        Ending::Stopped if jobs.is_shutting_down() || store_failed.load(Ordering::SeqCst) => jobs
            .store
            .give_back(&id, &lease)
            .await
            .map(|_| "given back to the queue"),
        // A cancel: its transition already ended the job.
        Ending::Stopped => Ok("stopped"),
        Ending::Failed(message) => jobs.store.fail(&id, &lease, &message).await.map(|_| "failed"),
    };
    jobs.live.unregister(&id);
    if row.sweep_id.is_some() {
        jobs.sweep_wake.notify_one();
    }
    match recorded {
        Ok(what) => tracing::info!(job = %id, what, "job ended"),
        Err(e) => tracing::error!(job = %id, error = %e, "recording the end of a job failed"),
    }
    // Only an ended job ends its streams. A job stopped by a cancel is ended by the cancel
    // (which may not have committed yet: the stop flag goes up first); one given back or
    // taken back keeps its streams for its next run.
    if let Ok(Some(row)) = jobs.store.job(&id).await
        && row.status.is_terminal()
    {
        jobs.live.publish_final(&id, &Job::from(row));
    }
}

/// Runs the trainer on a blocking thread while this task records its progress.
/// `lost`: the lease is no longer the job's; `store_failed`: the store refused a write.
async fn train_job(
    jobs: &Arc<Jobs>,
    row: &JobRow,
    lease: &Lease,
    stop: Arc<AtomicBool>,
    lost: &AtomicBool,
    store_failed: &AtomicBool,
    paused: &Arc<AtomicBool>,
) -> Ending {
    let spec: JobSpec = match serde_json::from_str(&row.spec) {
        Ok(spec) => spec,
        Err(e) => {
            tracing::error!(job = %row.id, error = %e, "stored spec does not parse");
            return Ending::Failed("the stored job spec could not be read".into());
        }
    };
    // Validated against this server's limits when it was submitted.
    let spec = ValidSpec::trusted(spec);
    // A job interrupted by a shutdown, a crash or a lost lease goes on from its checkpoint.
    let resume = match jobs.store.checkpoint(&row.id).await {
        Ok(resume) => resume,
        Err(e) => {
            tracing::error!(job = %row.id, error = %e, "reading the checkpoint failed");
            return Ending::Stopped;
        }
    };
    if resume.is_some() {
        tracing::info!(job = %row.id, epoch = row.epoch, "resuming from checkpoint");
    }
    // A fork starts from given weights (read only when there is no checkpoint to go on from).
    let start = match (&resume, &row.start_sha256) {
        (None, Some(sha256)) => match jobs.store.blob(sha256).await {
            Ok(Some(bytes)) => Some(bytes),
            Ok(None) => return Ending::Failed("the weights this job starts from are no longer stored".into()),
            Err(e) => {
                tracing::error!(job = %row.id, error = %e, "reading the start weights failed");
                return Ending::Stopped;
            }
        },
        _ => None,
    };
    let (tx, mut rx) = mpsc::channel(PROGRESS_CAPACITY);
    let slot: CheckpointSlot = Arc::default();
    let mut observer = ChannelObserver {
        tx,
        stop: Arc::clone(&stop),
        slot: Arc::clone(&slot),
        epochs_done: row.epoch,
        pause_at: row.pause_at_epoch.filter(|&p| p > row.epoch),
        paused: Arc::clone(paused),
    };
    let threads = jobs.settings.threads_per_job;
    let datasets = Arc::clone(jobs);
    let handle = spawn_training(move || {
        let split = datasets.datasets().get(&spec.dataset, spec.seed).map_err(|e| {
            tracing::error!(dataset = %spec.dataset, error = %e, "loading a dataset failed");
            TrainError::Data(e.public_message())
        })?;
        let mm = MatMul::with_threads(threads);
        let start = match &start {
            Some(bytes) => {
                let model = spec.model_spec(split.0.feature_count(), split.0.classes);
                Some(from_safetensors_with_spec(&model, bytes).map_err(|e| {
                    TrainError::Data(format!("the weights this job starts from do not fit its spec: {e}"))
                })?)
            }
            None => None,
        };
        let begin = match (&resume, &start) {
            (Some(bytes), _) => Begin::Resume(bytes),
            (None, Some(network)) => Begin::From(network),
            (None, None) => Begin::Fresh,
        };
        let outcome = train_resumable(&spec, &split.0, &split.1, &mm, &mut observer, begin)?;
        // Serialised here, still on the blocking thread.
        let weights = to_safetensors(&outcome.network);
        Ok::<_, TrainError>((outcome, weights))
    });
    let lease_ms = jobs.settings.lease.as_millis() as i64;
    let mut steps: Vec<StepLoss> = Vec::new();
    let mut epochs_done = row.epoch;
    while let Some(msg) = rx.recv().await {
        // After a refused or failed write, what the trainer sent meanwhile is dropped: a
        // later epoch stored after a missing one would leave a gap in the history.
        if lost.load(Ordering::SeqCst) || store_failed.load(Ordering::SeqCst) {
            continue;
        }
        let owned = match msg {
            Progress::Started(weights) => jobs.store.set_init_weights(&row.id, lease, &weights).await,
            Progress::Step(s) => {
                jobs.live
                    .publish(&row.id, "step", serde_json::to_value(s).unwrap_or_default());
                steps.push(s);
                Ok(true)
            }
            Progress::Epoch(m) => {
                epochs_done += 1;
                jobs.live
                    .record_throughput(&row.id, m.samples as f64 / (m.seconds as f64).max(1e-9));
                let checkpoint = take_checkpoint_of(&slot, epochs_done);
                // The row as it is stored, served by `/metrics` and sent on the stream.
                let epoch_row = EpochRow::new(&m, epochs_done);
                let record = EpochRecord {
                    row: &epoch_row,
                    steps: &steps,
                    checkpoint: checkpoint.as_deref(),
                };
                let owned = jobs.store.record_epoch(&row.id, lease, lease_ms, &record).await;
                steps.clear();
                if matches!(owned, Ok(true)) {
                    jobs.live
                        .publish(&row.id, "epoch", serde_json::to_value(&epoch_row).unwrap_or_default());
                }
                owned
            }
        };
        match owned {
            Ok(true) => {}
            Ok(false) => {
                // Cancelled, or the lease expired and the job was taken back.
                lost.store(true, Ordering::SeqCst);
                stop.store(true, Ordering::SeqCst);
            }
            Err(e) => {
                // The database did not take the epoch: going on would leave a gap in the
                // history. Stop; the job resumes from its last stored checkpoint (given back
                // below if the database answers again, else when its lease expires).
                tracing::error!(job = %row.id, error = %e, "recording progress failed: stopping the job");
                store_failed.store(true, Ordering::SeqCst);
                stop.store(true, Ordering::SeqCst);
            }
        }
    }
    match handle.await {
        Ok(Ok((outcome, weights))) => Ending::Trained(Box::new(outcome), weights),
        Ok(Err(TrainError::Stopped)) => Ending::Stopped,
        Ok(Err(e)) => Ending::Failed(e.to_string()),
        Err(error) => {
            tracing::error!(job = %row.id, %error, "the training thread failed");
            Ending::Failed("internal error while training".into())
        }
    }
}

/// How much lower than the server's threads a training thread is scheduled (`nice`).
const TRAINING_NICENESS: i32 = 10;

/// Runs a training on a thread of its own, scheduled below the server's threads: while a job
/// trains, the API and predictions come first (their p99 latency is what users feel), and
/// the job gets the cycles they leave. The matrix-product helper threads it starts inherit
/// the priority. A thread of its own, not the blocking pool: a pool thread would keep the
/// lower priority for later requests, and an unprivileged process cannot raise it again.
fn spawn_training<T: Send + 'static>(
    train: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, String>> {
    let (done, result) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("nnlab-train".into()).spawn(move || {
        // SAFETY: setpriority only reads its arguments; on Linux, `who = 0` with
        // PRIO_PROCESS is the calling thread. Failure (e.g. a seccomp filter) only
        // leaves the thread at the normal priority.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, TRAINING_NICENESS);
        }
        let _ = done.send(train());
    });
    async move {
        spawned.map_err(|e| format!("no training thread: {e}"))?;
        result.await.map_err(|_| "the training thread panicked".to_string())
    }
}

/// The slot's checkpoint if it is of `epochs_done` (a newer one waits for its own epoch).
fn take_checkpoint_of(slot: &CheckpointSlot, epochs_done: i64) -> Option<Vec<u8>> {
    let mut slot = slot.lock().expect("slot lock");
    match slot.as_ref() {
        Some((epoch, _)) if *epoch == epochs_done => slot.take().map(|(_, bytes)| bytes),
        _ => None,
    }
}

async fn finish_succeeded(
    jobs: &Arc<Jobs>,
    row: &JobRow,
    lease: &Lease,
    outcome: &Outcome,
    weights: &[u8],
) -> sqlx::Result<&'static str> {
    let model_id = uuid::Uuid::now_v7().to_string();
    let spec_json = serde_json::to_string(&outcome.network.spec).expect("a spec serialises");
    let model = store::models::NewModel {
        id: &model_id,
        job_id: Some(&row.id),
        dataset: &row.dataset,
        spec_json: &spec_json,
        job_spec_json: Some(&row.spec),
        weights,
        parameters: outcome.network.parameter_count() as i64,
        test_accuracy: finite(outcome.test.accuracy),
        test_loss: finite(outcome.test.loss),
    };
    let stored = jobs
        .store
        .finish_with_model(&row.id, lease, &model, outcome.train_seconds as f64)
        .await?;
    Ok(if stored {
        "succeeded"
    } else {
        "no longer this worker's: model discarded"
    })
}

fn finite(v: f32) -> Option<f64> {
    v.is_finite().then_some(v as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_slot_keeps_only_the_newest_and_gives_it_to_its_own_epoch_only() {
        let (tx, _rx) = mpsc::channel(1);
        let slot: CheckpointSlot = Arc::default();
        let mut observer = ChannelObserver {
            tx,
            stop: Arc::default(),
            slot: Arc::clone(&slot),
            epochs_done: 4,
            pause_at: None,
            paused: Arc::default(),
        };
        // The trainer runs ahead of a slow recorder: epochs 5, 6 and 7 are checkpointed
        // before the recorder looks; only the newest is held.
        for epoch in 5..=7 {
            observer.checkpoint(vec![epoch as u8; 1 << 20]);
            observer.epochs_done += 1;
        }
        assert_eq!(slot.lock().unwrap().as_ref().map(|(e, b)| (*e, b[0])), Some((7, 7)));
        // Epochs 5 and 6 are recorded without a checkpoint, epoch 7 with its own.
        assert_eq!(take_checkpoint_of(&slot, 5), None);
        assert_eq!(take_checkpoint_of(&slot, 6), None);
        assert_eq!(take_checkpoint_of(&slot, 7).map(|b| b[0]), Some(7));
        assert!(slot.lock().unwrap().is_none());
    }
}
