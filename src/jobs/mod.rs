//! The job queue: the jobs table, N worker tasks that claim jobs and train them on blocking
//! threads, cancellation flags, and live events for subscribers.

mod datasets;
pub mod demo;
pub mod view;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sqlx::SqlitePool;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

pub use datasets::DatasetCache;
pub use view::Job;

/// What subscribers of a job's events receive: an SSE event name and its JSON data.
#[derive(Debug, Clone)]
pub struct JobEvent {
    pub name: &'static str,
    pub data: Value,
}

/// Shared by the API (submit, cancel, subscribe) and the workers.
pub struct Jobs {
    pool: SqlitePool,
    wake: Notify,
    cancel_flags: Mutex<HashMap<String, Arc<AtomicBool>>>,
    channels: Mutex<HashMap<String, broadcast::Sender<JobEvent>>>,
    datasets: DatasetCache,
    threads_per_job: usize,
    /// Set at shutdown: a job stopped then is left `running`, to be queued again at start.
    shutting_down: AtomicBool,
    /// Samples per second of each running job's latest epoch (for `/metrics`).
    throughput: Mutex<HashMap<String, f64>>,
}

impl Jobs {
    pub fn new(pool: SqlitePool, datasets: DatasetCache, threads_per_job: usize) -> Arc<Jobs> {
        Arc::new(Jobs {
            pool,
            wake: Notify::new(),
            cancel_flags: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            datasets,
            threads_per_job,
            shutting_down: AtomicBool::new(false),
            throughput: Mutex::new(HashMap::new()),
        })
    }

    pub fn datasets(&self) -> &DatasetCache {
        &self.datasets
    }

    /// Tells an idle worker that a job was queued.
    pub fn notify_queued(&self) {
        self.wake.notify_one();
    }

    /// Starts `workers` worker tasks; they stop when `shutdown` is cancelled.
    pub fn start_workers(
        self: &Arc<Self>,
        workers: usize,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..workers)
            .map(|i| tokio::spawn(worker::run(Arc::clone(self), i, shutdown.clone())))
            .collect()
    }

    /// Asks a running job to stop (it does within one mini-batch); returns false if the job
    /// is not running in this process.
    pub fn request_stop(&self, id: &str) -> bool {
        match self.cancel_flags.lock().expect("flags lock").get(id) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Training samples per second summed over the running jobs' latest epochs.
    pub fn training_samples_per_second(&self) -> f64 {
        self.throughput.lock().expect("throughput lock").values().sum()
    }

    fn record_throughput(&self, id: &str, samples_per_second: Option<f64>) {
        let mut map = self.throughput.lock().expect("throughput lock");
        match samples_per_second {
            Some(rate) => map.insert(id.to_string(), rate),
            None => map.remove(id),
        };
    }

    /// Stops every running job for a shutdown (they are not marked cancelled).
    pub fn stop_all_for_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for flag in self.cancel_flags.lock().expect("flags lock").values() {
            flag.store(true, Ordering::Relaxed);
        }
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// A receiver of the job's live events (the channel is created on first use).
    pub fn subscribe(&self, id: &str) -> broadcast::Receiver<JobEvent> {
        let mut channels = self.channels.lock().expect("channels lock");
        channels
            .entry(id.to_string())
            .or_insert_with(|| broadcast::channel(256).0)
            .subscribe()
    }

    /// Drops a job's channel if nobody listens (used when a job turned out to be finished).
    pub fn release_channel(&self, id: &str) {
        let mut channels = self.channels.lock().expect("channels lock");
        if channels.get(id).is_some_and(|tx| tx.receiver_count() <= 1) {
            channels.remove(id);
        }
    }

    fn publish(&self, id: &str, event: JobEvent) {
        if let Some(tx) = self.channels.lock().expect("channels lock").get(id) {
            // No subscriber is not an error.
            let _ = tx.send(event);
        }
    }

    /// Publishes the job's final state and drops its channel (ending every stream).
    fn publish_final(&self, id: &str, job: Value) {
        if let Some(tx) = self.channels.lock().expect("channels lock").remove(id) {
            let _ = tx.send(JobEvent {
                name: "status",
                data: job,
            });
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
