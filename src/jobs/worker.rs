//! A worker task: claim the oldest queued job of any kind under a lease, hand it to its
//! kind's handler with a stop signal and a heartbeat, and record how the run ended (decided
//! once, by `run::decide`; every write fenced by the lease).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::run::{JobHandler, Run, RunEnd, RunError, StopReason, decide};
use super::training::TrainJob;
use super::view::Job;
use super::{JobKind, Jobs, lease};
use crate::store;
use crate::store::jobs::{JobRow, Lease};

pub(super) async fn run(jobs: Arc<Jobs>, index: usize, shutdown: CancellationToken) {
    tracing::info!(worker = index, "worker started");
    let lease_ms = jobs.settings.lease.as_millis() as i64;
    let claim = || async {
        match jobs.store.claim_next(&jobs.owner, lease_ms).await {
            Ok(claimed) => Ok(claimed),
            Err(e) => {
                tracing::error!(error = %e, "claiming a job failed");
                Err(())
            }
        }
    };
    while let Some((row, lease)) = next_claim(&jobs.wake, jobs.settings.poll, &shutdown, claim).await {
        run_job(&jobs, row, lease).await;
    }
    tracing::info!(worker = index, "worker stopped");
}

/// Claims until `claim` gives something, waiting between empty looks for the queue's notice
/// or the poll; `None` at shutdown. The wait is registered *before* each look: a job queued
/// (or a replica's notice, which wakes every waiter) between the look and the wait still
/// wakes this worker, instead of leaving the job for the next poll.
async fn next_claim<T, F, Fut>(wake: &Notify, poll: Duration, shutdown: &CancellationToken, mut claim: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ()>>,
{
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let wait = match claim().await {
            Ok(Some(claimed)) => return Some(claimed),
            Ok(None) => poll,
            // The database did not answer: look again after the poll, notice or not.
            Err(()) => {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => continue,
                    _ = shutdown.cancelled() => return None,
                }
            }
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// Hands the job to its kind's handler.
async fn run_job(jobs: &Arc<Jobs>, row: JobRow, lease: Lease) {
    match row.kind {
        JobKind::Train => execute(&TrainJob, jobs, row, lease).await,
    }
}

/// One run of a job: its stop signal and heartbeat, the handler's run on its typed payload,
/// and the end, decided once and written under the lease.
async fn execute<H: JobHandler>(handler: &H, jobs: &Arc<Jobs>, row: JobRow, lease: Lease) {
    let id = row.id.clone();
    tracing::info!(job = %id, kind = %H::KIND, dataset = %row.dataset, attempt = row.attempts, "job started");
    let stop = jobs.live.register(&id);
    // Claimed as the shutdown began: it goes back at once.
    if jobs.is_shutting_down() {
        stop.raise(StopReason::Shutdown);
    }
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
        beat_done.clone(),
    ));
    let sweep_trial = row.sweep_id.is_some();
    let run = Run {
        jobs: Arc::clone(jobs),
        row,
        lease,
        stop,
    };
    let result = match serde_json::from_str::<H::Payload>(&run.row.spec) {
        Ok(payload) => handler.run(&run, payload).await,
        Err(e) => {
            tracing::error!(job = %id, error = %e, "stored payload does not parse");
            Err(RunError::Failed("the stored job spec could not be read".into()))
        }
    };
    beat_done.cancel();
    let _ = beat.await;
    let end = decide(result, run.stop.reason());
    let recorded = record_end(handler, &run, end).await;
    jobs.live.unregister(&id);
    if sweep_trial {
        jobs.sweep_wake.notify_one();
    }
    match recorded {
        Ok(what) => tracing::info!(job = %id, what, "job ended"),
        Err(e) => tracing::error!(job = %id, error = %e, "recording the end of a job failed"),
    }
    // Only an ended job ends its streams. A job stopped by a cancel is ended by the cancel
    // (which may not have committed yet: the stop signal goes up first); one given back or
    // taken back keeps its streams for its next run.
    if let Ok(Some(row)) = jobs.store.job(&id).await
        && row.status.is_terminal()
    {
        jobs.live.publish_final(&id, &Job::from(row));
    }
}

/// Writes how the run ended, each under the lease (refused if it is no longer the job's).
async fn record_end<H: JobHandler>(handler: &H, run: &Run, end: RunEnd<H::Output>) -> store::Result<&'static str> {
    let (store, id, lease) = (&run.jobs.store, &run.row.id, &run.lease);
    Ok(match end {
        RunEnd::Succeeded(output) => {
            if handler.succeed(run, output).await? {
                "succeeded"
            } else {
                "no longer this worker's: result discarded"
            }
        }
        // Its transition already ended the job.
        RunEnd::Cancelled => "stopped by a cancel",
        RunEnd::Paused => {
            store.pause(id, lease).await?;
            "paused for the sweep's rule"
        }
        RunEnd::GivenBack => {
            store.give_back(id, lease).await?;
            "given back to the queue"
        }
        RunEnd::Failed(message) => {
            store.fail(id, lease, &message).await?;
            "failed"
        }
        RunEnd::LeaseLost => "lease lost: nothing more written",
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    /// The lost wake-up: a worker that found the queue empty is between its look and its
    /// wait when a job is queued and the notice (which wakes only registered waiters) goes
    /// out. With the poll an hour long, only a wait registered before the look takes the job
    /// at once.
    #[tokio::test]
    async fn a_notice_between_a_workers_look_and_its_wait_wakes_it_at_once() {
        let wake = Notify::new();
        let shutdown = CancellationToken::new();
        let looks = AtomicUsize::new(0);
        let queued_at = std::sync::Mutex::new(None::<Instant>);
        let claim = || async {
            match looks.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    // Empty when looked at; the job arrives before the wait starts.
                    *queued_at.lock().unwrap() = Some(Instant::now());
                    wake.notify_waiters();
                    Ok(None)
                }
                _ => Ok(Some("the job")),
            }
        };
        let claimed = tokio::time::timeout(
            Duration::from_secs(30),
            next_claim(&wake, Duration::from_secs(3600), &shutdown, claim),
        )
        .await
        .expect("woken by the notice, not left for the hour-long poll");
        let latency = queued_at.lock().unwrap().unwrap().elapsed();
        assert_eq!(claimed, Some("the job"));
        assert_eq!(looks.load(Ordering::SeqCst), 2);
        assert!(
            latency < Duration::from_secs(1),
            "claimed {latency:?} after it was queued"
        );
    }

    #[tokio::test]
    async fn a_shutdown_ends_the_wait_and_claims_nothing() {
        let wake = Notify::new();
        let shutdown = CancellationToken::new();
        let looks = AtomicUsize::new(0);
        let claim = || async {
            looks.fetch_add(1, Ordering::SeqCst);
            shutdown.cancel();
            Ok::<Option<()>, ()>(None)
        };
        let claimed = next_claim(&wake, Duration::from_secs(3600), &shutdown, claim).await;
        assert_eq!(claimed, None);
        assert_eq!(looks.load(Ordering::SeqCst), 1);
    }
}
