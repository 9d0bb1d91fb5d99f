//! The training job kind: trains a network on its JobSpec on a thread of its own while the
//! async side records each epoch (fenced by the lease), and stores the model at the end.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::JobKind;
use super::run::{JobHandler, Run, RunError, StopReason, StopSignal};
use crate::nn::io::{from_safetensors_with_spec, to_safetensors, weights_to_safetensors};
use crate::nn::{MatMul, Network};
use crate::store;
use crate::store::metrics::{EpochRecord, EpochRow};
use crate::train::{
    Begin, Control, EpochMetrics, Event, JobSpec, Observer, Outcome, StepLoss, TrainError, ValidSpec, train_resumable,
};

/// Messages in flight from the training thread; when the recorder falls behind, the trainer
/// waits (steps and epochs are small; checkpoints do not travel here).
const PROGRESS_CAPACITY: usize = 256;

/// Trains a network on a JobSpec (`kind: train`).
pub struct TrainJob;

/// A finished training: what the trainer returned and the network as safetensors bytes.
pub struct Trained {
    outcome: Box<Outcome>,
    weights: Vec<u8>,
}

#[async_trait]
impl JobHandler for TrainJob {
    const KIND: JobKind = JobKind::Train;
    type Payload = JobSpec;
    type Output = Trained;

    async fn run(&self, run: &Run, spec: JobSpec) -> Result<Trained, RunError> {
        train(run, spec).await
    }

    async fn succeed(&self, run: &Run, trained: Trained) -> store::Result<bool> {
        let (row, outcome) = (&run.row, &trained.outcome);
        let model_id = uuid::Uuid::now_v7().to_string();
        let spec_json = serde_json::to_string(&outcome.network.spec).expect("a spec serialises");
        let model = store::models::NewModel {
            id: &model_id,
            job_id: Some(&row.id),
            dataset: &row.dataset,
            spec_json: &spec_json,
            job_spec_json: Some(&row.spec),
            weights: &trained.weights,
            parameters: outcome.network.parameter_count() as i64,
            test_accuracy: finite(outcome.test.accuracy),
            test_loss: finite(outcome.test.loss),
        };
        run.jobs
            .store
            .finish_with_model(&row.id, &run.lease, &model, outcome.train_seconds as f64)
            .await
    }
}

fn finite(v: f32) -> Option<f64> {
    v.is_finite().then_some(v as f64)
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

/// Forwards the trainer's events to the async side and reads the stop signal.
struct ChannelObserver {
    tx: mpsc::Sender<Progress>,
    stop: Arc<StopSignal>,
    slot: CheckpointSlot,
    epochs_done: i64,
    /// A sweep trial stops after this epoch to wait for its rule.
    pause_at: Option<i64>,
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
                    self.stop.raise(StopReason::Pause);
                    return Control::Stop;
                }
                sent
            }
            Event::KFold(_) => Control::Continue,
        }
    }

    fn keep_going(&mut self) -> bool {
        !self.stop.is_raised()
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

/// Runs the trainer on a blocking thread while this task records its progress.
async fn train(run: &Run, spec: JobSpec) -> Result<Trained, RunError> {
    let (jobs, row, lease) = (&run.jobs, &run.row, &run.lease);
    // Validated against this server's limits when it was submitted.
    let spec = ValidSpec::trusted(spec);
    // A job interrupted by a shutdown, a crash or a lost lease goes on from its checkpoint.
    let resume = jobs
        .store
        .checkpoint(&row.id)
        .await
        .map_err(|e| run.store_failed("reading the checkpoint", &e))?;
    if resume.is_some() {
        tracing::info!(job = %row.id, epoch = row.epoch, "resuming from checkpoint");
    }
    // A fork starts from given weights (read only when there is no checkpoint to go on from).
    let start = match (&resume, &row.start_sha256) {
        (None, Some(sha256)) => match jobs.store.blob(sha256).await {
            Ok(Some(bytes)) => Some(bytes),
            Ok(None) => {
                return Err(RunError::Failed(
                    "the weights this job starts from are no longer stored".into(),
                ));
            }
            Err(e) => return Err(run.store_failed("reading the start weights", &e)),
        },
        _ => None,
    };
    let (tx, mut rx) = mpsc::channel(PROGRESS_CAPACITY);
    let slot: CheckpointSlot = Arc::default();
    let mut observer = ChannelObserver {
        tx,
        stop: Arc::clone(&run.stop),
        slot: Arc::clone(&slot),
        epochs_done: row.epoch,
        pause_at: row.pause_at_epoch.filter(|&p| p > row.epoch),
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
        // After a refused or failed write, what the trainer sent meanwhile is dropped.
        if run.stop.writes_refused() {
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
            // Cancelled, or the lease expired and the job was taken back.
            Ok(false) => run.stop.raise(StopReason::LeaseLost),
            // The database did not take the epoch: going on would leave a gap in the
            // history. Stop; the job resumes from its last stored checkpoint (given back if
            // the database answers again, else when its lease expires).
            Err(e) => {
                run.store_failed("recording progress", &e);
            }
        }
    }
    match handle.await {
        Ok(Ok((outcome, weights))) => Ok(Trained {
            outcome: Box::new(outcome),
            weights,
        }),
        Ok(Err(TrainError::Stopped)) => Err(RunError::Stopped),
        Ok(Err(e)) => Err(RunError::Failed(e.to_string())),
        Err(error) => {
            tracing::error!(job = %row.id, %error, "the training thread failed");
            Err(RunError::Failed("internal error while training".into()))
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
