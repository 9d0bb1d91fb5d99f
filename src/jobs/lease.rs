//! Leases: the heartbeat that keeps a running job's lease, and the reaper that returns jobs
//! whose lease expired (their worker died or hung) to the queue.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Jobs;
use super::run::{StopReason, StopSignal};
use crate::store::jobs::{Lease, Reclaim, now_ms};

/// Renews `lease` every third of its length until cancelled. When the lease is no longer
/// the job's (cancelled, or expired and taken back), raises [`StopReason::LeaseLost`]: the
/// worker stops at once and writes nothing more.
pub(super) async fn heartbeat(
    jobs: Arc<Jobs>,
    id: String,
    lease: Lease,
    stop: Arc<StopSignal>,
    done: CancellationToken,
) {
    let every = jobs.settings.lease / 3;
    let lease_ms = jobs.settings.lease.as_millis() as i64;
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match jobs.store.renew(&id, &lease, lease_ms).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %id, "lease lost: stopping without writing");
                stop.raise(StopReason::LeaseLost);
                return;
            }
            // The database did not answer: try again; if the lease expires meanwhile the
            // next renewal finds it gone.
            Err(e) => tracing::error!(job = %id, error = %e, "renewing a lease failed"),
        }
    }
}

/// Every third of a lease, returns jobs with expired leases to the queue (or fails those
/// out of attempts) and wakes a worker.
pub(super) async fn reap_expired(jobs: Arc<Jobs>, shutdown: CancellationToken) {
    let every = jobs.settings.lease / 3;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match jobs.store.reclaim(Reclaim::Expired(now_ms())).await {
            Ok((0, 0)) => {}
            Ok((queued, failed)) => {
                tracing::warn!(queued, failed, "jobs with expired leases were taken back");
                jobs.wake.notify_one();
            }
            Err(e) => tracing::error!(error = %e, "reclaiming expired leases failed"),
        }
    }
}
