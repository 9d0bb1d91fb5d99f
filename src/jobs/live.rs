//! What this process knows live about jobs beyond the database: the stop flags of the jobs
//! its workers train, the event channels of open streams, and recent throughput.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

use super::run::{StopReason, StopSignal};
use super::view::Job;

/// What subscribers of a job's events receive: an SSE event name and its JSON data.
#[derive(Debug, Clone)]
pub struct JobEvent {
    pub name: &'static str,
    pub data: Value,
}

/// Events buffered per job for slow subscribers (a lagging one skips the oldest).
const CHANNEL_CAPACITY: usize = 256;

#[derive(Default)]
pub(super) struct Live {
    stop_flags: Mutex<HashMap<String, Arc<StopSignal>>>,
    channels: Mutex<HashMap<String, broadcast::Sender<JobEvent>>>,
    /// Samples per second of each running job's latest epoch (for `/metrics`).
    throughput: Mutex<HashMap<String, f64>>,
}

impl Live {
    /// Registers a job that a worker of this process starts; returns its stop signal.
    pub fn register(&self, id: &str) -> Arc<StopSignal> {
        let flag = Arc::new(StopSignal::default());
        self.stop_flags
            .lock()
            .expect("flags lock")
            .insert(id.to_string(), Arc::clone(&flag));
        flag
    }

    pub fn unregister(&self, id: &str) {
        self.stop_flags.lock().expect("flags lock").remove(id);
        self.throughput.lock().expect("throughput lock").remove(id);
    }

    /// Whether a worker of this process trains the job now.
    pub fn trains(&self, id: &str) -> bool {
        self.stop_flags.lock().expect("flags lock").contains_key(id)
    }

    /// Stops a job run here for a cancel (no-op for any other job).
    pub fn request_stop(&self, id: &str) {
        if let Some(flag) = self.stop_flags.lock().expect("flags lock").get(id) {
            flag.raise(StopReason::Cancel);
        }
    }

    /// Stops every job run here for a shutdown.
    pub fn stop_all(&self) {
        for flag in self.stop_flags.lock().expect("flags lock").values() {
            flag.raise(StopReason::Shutdown);
        }
    }

    pub fn subscribe(&self, id: &str) -> broadcast::Receiver<JobEvent> {
        let mut channels = self.channels.lock().expect("channels lock");
        channels
            .entry(id.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    pub fn release_channel(&self, id: &str) {
        let mut channels = self.channels.lock().expect("channels lock");
        if channels.get(id).is_some_and(|tx| tx.receiver_count() <= 1) {
            channels.remove(id);
        }
    }

    pub fn publish(&self, id: &str, name: &'static str, data: Value) {
        if let Some(tx) = self.channels.lock().expect("channels lock").get(id) {
            // No subscriber is not an error.
            let _ = tx.send(JobEvent { name, data });
        }
    }

    /// Publishes the job's final state and drops its channel, which ends every stream.
    pub fn publish_final(&self, id: &str, job: &Job) {
        if let Some(tx) = self.channels.lock().expect("channels lock").remove(id) {
            let _ = tx.send(JobEvent {
                name: "status",
                data: serde_json::to_value(job).unwrap_or_default(),
            });
        }
    }

    pub fn record_throughput(&self, id: &str, samples_per_second: f64) {
        self.throughput
            .lock()
            .expect("throughput lock")
            .insert(id.to_string(), samples_per_second);
    }

    pub fn training_samples_per_second(&self) -> f64 {
        self.throughput.lock().expect("throughput lock").values().sum()
    }
}
