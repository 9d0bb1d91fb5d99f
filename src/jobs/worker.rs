//! A worker task: claim the oldest queued job, train it on a blocking thread, stream its
//! events into SQLite and to subscribers, and store the model.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::view::Job;
use super::{JobEvent, Jobs};
use crate::nn::MatMul;
use crate::nn::io::to_safetensors;
use crate::store;
use crate::store::jobs::JobRow;
use crate::train::{Control, EpochMetrics, Event, JobSpec, Observer, Outcome, StepLoss, TrainError, train_resumable};

/// How often an idle worker looks at the queue even without a notification (a job queued
/// by another process sharing the database, or a missed wake-up).
const POLL: Duration = Duration::from_secs(1);

pub(super) async fn run(jobs: Arc<Jobs>, index: usize, shutdown: CancellationToken) {
    tracing::info!(worker = index, "worker started");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match store::jobs::claim_next(jobs.pool()).await {
            Ok(Some(row)) => run_job(&jobs, row).await,
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
    Step(StepLoss),
    /// An epoch's metrics and the checkpoint to store with them.
    Epoch(EpochMetrics, Option<Vec<u8>>),
}

/// Forwards the trainer's events to the async side and reads the cancel flag.
struct ChannelObserver {
    tx: mpsc::UnboundedSender<Progress>,
    stop: Arc<AtomicBool>,
    checkpoint: Option<Vec<u8>>,
}

impl Observer for ChannelObserver {
    fn event(&mut self, event: Event) -> Control {
        let msg = match event {
            Event::Step(s) => Progress::Step(s),
            Event::Epoch(m) => Progress::Epoch(m.clone(), self.checkpoint.take()),
            Event::KFold(_) => return Control::Continue,
        };
        // The receiver only goes away if the worker task died; stop training then.
        if self.tx.send(msg).is_err() {
            Control::Stop
        } else {
            Control::Continue
        }
    }

    fn keep_going(&mut self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn wants_checkpoints(&self) -> bool {
        true
    }

    fn checkpoint(&mut self, bytes: Vec<u8>) {
        self.checkpoint = Some(bytes);
    }
}

async fn run_job(jobs: &Arc<Jobs>, row: JobRow) {
    let id = row.id.clone();
    tracing::info!(job = %id, dataset = %row.dataset, "job started");
    let stop = Arc::new(AtomicBool::new(false));
    jobs.cancel_flags
        .lock()
        .expect("flags lock")
        .insert(id.clone(), Arc::clone(&stop));
    jobs.publish(
        &id,
        JobEvent {
            name: "status",
            data: serde_json::to_value(Job::from(row.clone())).unwrap_or_default(),
        },
    );

    let result = train_job(jobs, &row, stop).await;
    let outcome = match result {
        Ok((outcome, weights)) => finish_succeeded(jobs, &row, outcome, weights).await,
        Err(TrainError::Stopped) if jobs.is_shutting_down() => Ok("left running for the next start"),
        Err(TrainError::Stopped) => store::jobs::finish_without_model(jobs.pool(), &id, "cancelled", None)
            .await
            .map(|_| "cancelled"),
        Err(e) => {
            let message = e.to_string();
            store::jobs::finish_without_model(jobs.pool(), &id, "failed", Some(&message))
                .await
                .map(|_| "failed")
        }
    };
    jobs.cancel_flags.lock().expect("flags lock").remove(&id);
    jobs.record_throughput(&id, None);
    match outcome {
        Ok(status) => tracing::info!(job = %id, status, "job ended"),
        Err(e) => tracing::error!(job = %id, error = %e, "recording the end of a job failed"),
    }
    let final_state = store::jobs::get(jobs.pool(), &id).await.ok().flatten().map(Job::from);
    jobs.publish_final(&id, serde_json::to_value(final_state).unwrap_or_default());
}

/// Runs the trainer on a blocking thread while this task records its progress.
async fn train_job(jobs: &Arc<Jobs>, row: &JobRow, stop: Arc<AtomicBool>) -> Result<(Outcome, Vec<u8>), TrainError> {
    let spec: JobSpec = serde_json::from_str(&row.spec).map_err(|e| TrainError::Data(format!("stored spec: {e}")))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let threads = jobs.threads_per_job;
    // A job interrupted by a shutdown or crash goes on from its last checkpoint.
    let resume = store::metrics::checkpoint(jobs.pool(), &row.id)
        .await
        .map_err(|e| TrainError::Data(e.to_string()))?;
    if resume.is_some() {
        tracing::info!(job = %row.id, epoch = row.epoch, "resuming from checkpoint");
    }
    let jobs_for_thread = Arc::clone(jobs);
    let handle = tokio::task::spawn_blocking(move || {
        let split = jobs_for_thread
            .datasets()
            .get(&spec.dataset, spec.seed)
            .map_err(|e| TrainError::Data(e.to_string()))?;
        let mm = MatMul::with_threads(threads);
        let mut observer = ChannelObserver {
            tx,
            stop,
            checkpoint: None,
        };
        let outcome = train_resumable(&spec, &split.0, &split.1, &mm, &mut observer, resume.as_deref())?;
        // Serialised here, still on the blocking thread.
        let weights = to_safetensors(&outcome.network);
        Ok((outcome, weights))
    });
    let mut steps: Vec<StepLoss> = Vec::new();
    let mut epochs_done = row.epoch;
    while let Some(msg) = rx.recv().await {
        match msg {
            Progress::Step(s) => {
                jobs.publish(
                    &row.id,
                    JobEvent {
                        name: "step",
                        data: serde_json::to_value(s).unwrap_or_default(),
                    },
                );
                steps.push(s);
            }
            Progress::Epoch(m, checkpoint) => {
                epochs_done += 1;
                jobs.record_throughput(&row.id, Some(m.samples as f64 / (m.seconds as f64).max(1e-9)));
                let recorded =
                    store::metrics::record_epoch(jobs.pool(), &row.id, &m, &steps, epochs_done, checkpoint.as_deref());
                if let Err(e) = recorded.await {
                    tracing::error!(job = %row.id, error = %e, "recording an epoch failed");
                }
                steps.clear();
                let mut data = serde_json::to_value(&m).unwrap_or_default();
                data["epochs_done"] = epochs_done.into();
                data["epochs_total"] = row.epochs_total.into();
                jobs.publish(&row.id, JobEvent { name: "epoch", data });
            }
        }
    }
    match handle.await {
        Ok(result) => result,
        Err(join_error) => {
            tracing::error!(job = %row.id, error = %join_error, "training thread panicked");
            Err(TrainError::Data("internal error while training".into()))
        }
    }
}

async fn finish_succeeded(
    jobs: &Arc<Jobs>,
    row: &JobRow,
    outcome: Outcome,
    weights: Vec<u8>,
) -> sqlx::Result<&'static str> {
    let model_id = uuid::Uuid::now_v7().to_string();
    let spec_json = serde_json::to_string(&outcome.network.spec).expect("a spec serialises");
    let model = store::models::NewModel {
        id: &model_id,
        job_id: Some(&row.id),
        dataset: &row.dataset,
        spec_json: &spec_json,
        job_spec_json: Some(&row.spec),
        weights: &weights,
        parameters: outcome.network.parameter_count() as i64,
        test_accuracy: finite(outcome.test.accuracy),
        test_loss: finite(outcome.test.loss),
    };
    if store::models::insert_for_job(jobs.pool(), &model, outcome.train_seconds as f64).await? {
        Ok("succeeded")
    } else {
        Ok("no longer running")
    }
}

fn finite(v: f32) -> Option<f64> {
    v.is_finite().then_some(v as f64)
}
