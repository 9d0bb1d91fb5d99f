//! One run of a job by a worker: the handler trait every job kind implements, the stop
//! signal its run watches, and the one place where how the run ended is decided.
//!
//! The shape is crates_io_worker's `BackgroundJob`: a kind names the job, its payload is
//! typed (parsed from the row before the handler sees it), and `run` gets the lease, the stop
//! signal and the store through [`Run`]. Unlike there, the end of a run is not the handler's
//! to record: it returns what it made, and [`decide`] turns that and the strongest reason the
//! run was asked to stop into one [`RunEnd`], which the worker writes (fenced by the lease).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use super::{JobKind, Jobs};
use crate::store::jobs::{JobRow, Lease};

/// Why a run was asked to stop, weakest first: when several apply, the strongest decides
/// (a lost lease over a cancel over a failed write over a shutdown over a pause), whatever
/// order they were raised in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum StopReason {
    /// A sweep trial reached the epoch where it waits for the early-stopping rule.
    Pause = 1,
    /// The server is shutting down: the job goes back to the queue.
    Shutdown = 2,
    /// The database refused a write (it did not answer): going on would leave a gap.
    StoreFailed = 3,
    /// A user cancelled the job; the cancel's own transition ends it.
    Cancel = 4,
    /// The lease is no longer the job's (cancelled elsewhere, or expired and taken back):
    /// nothing more may be written.
    LeaseLost = 5,
}

impl StopReason {
    /// Strongest first.
    const STRONGEST_FIRST: [StopReason; 5] = [
        StopReason::LeaseLost,
        StopReason::Cancel,
        StopReason::StoreFailed,
        StopReason::Shutdown,
        StopReason::Pause,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The stop signal of one run, shared by its worker, heartbeat, handler and trainer thread
/// and raised from anywhere (a cancel, a shutdown, a notice from another replica).
#[derive(Debug, Default)]
pub struct StopSignal {
    /// One bit per [`StopReason`] raised so far.
    raised: AtomicU8,
}

impl StopSignal {
    pub fn raise(&self, reason: StopReason) {
        self.raised.fetch_or(reason.bit(), Ordering::SeqCst);
    }

    /// The strongest reason raised so far.
    pub fn reason(&self) -> Option<StopReason> {
        let raised = self.raised.load(Ordering::SeqCst);
        StopReason::STRONGEST_FIRST.into_iter().find(|r| raised & r.bit() != 0)
    }

    /// Whether the run should stop at its next chance (a mini-batch, a file).
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst) != 0
    }

    /// After a failed or refused write nothing more is written for this run: a later
    /// epoch stored after a missing one would leave a gap in the history.
    pub fn writes_refused(&self) -> bool {
        let raised = self.raised.load(Ordering::SeqCst);
        raised & (StopReason::StoreFailed.bit() | StopReason::LeaseLost.bit()) != 0
    }
}

/// What a worker hands a job's handler: the claimed row, its lease, the stop signal, and
/// the service (store, live events, settings).
pub struct Run {
    pub jobs: Arc<Jobs>,
    pub row: JobRow,
    pub lease: Lease,
    pub stop: Arc<StopSignal>,
}

impl Run {
    /// Logs a store error and stops the run: it is given back (or taken back when its lease
    /// expires) and resumes from what was stored.
    pub fn store_failed(&self, what: &str, error: &dyn std::fmt::Display) -> RunError {
        tracing::error!(job = %self.row.id, %error, "{what} failed: stopping the job");
        self.stop.raise(StopReason::StoreFailed);
        RunError::Stopped
    }
}

/// How a handler's run did not produce its result.
#[derive(Debug)]
pub enum RunError {
    /// It stopped because its stop signal was raised (the reason says why).
    Stopped,
    /// It cannot succeed, with a message for users (never a server path).
    Failed(String),
}

/// One kind of job: its payload, what its run makes, and how that is recorded.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    const KIND: JobKind;
    /// Parsed from the row's payload column before the run (`jobs.spec`).
    type Payload: DeserializeOwned + Send;
    /// What a successful run made (a trained model, an imported data set).
    type Output: Send;

    /// Does the work, watching `run.stop` between steps; every write it makes about the job
    /// takes `run.lease`.
    async fn run(&self, run: &Run, payload: Self::Payload) -> Result<Self::Output, RunError>;

    /// Records the result and ends the job `succeeded`, in one fenced transaction: `false`
    /// (and nothing stored) if the lease is no longer the job's.
    async fn succeed(&self, run: &Run, output: Self::Output) -> crate::store::Result<bool>;
}

/// How a run ended: decided once, by [`decide`], and written by the worker.
#[derive(Debug, PartialEq)]
pub enum RunEnd<T> {
    Succeeded(T),
    /// Stopped by a cancel, whose transition ends the job (nothing to write).
    Cancelled,
    /// A sweep trial waits, held, for its rule.
    Paused,
    /// Back to the queue without spending an attempt (a shutdown, or a write the database
    /// did not take); it resumes from its checkpoint.
    GivenBack,
    Failed(String),
    /// The lease is gone: nothing more is written.
    LeaseLost,
}

/// The one decision of how a run ended, from what the handler returned and the strongest
/// reason it was asked to stop. A result beats a shutdown or a pause (the work is done), but
/// not a cancel, a failed write (the history would have a gap) or a lost lease.
pub fn decide<T>(result: Result<T, RunError>, stop: Option<StopReason>) -> RunEnd<T> {
    use StopReason::*;
    match (stop, result) {
        (Some(LeaseLost), _) => RunEnd::LeaseLost,
        (Some(Cancel), _) => RunEnd::Cancelled,
        (Some(StoreFailed), _) => RunEnd::GivenBack,
        (_, Ok(output)) => RunEnd::Succeeded(output),
        (_, Err(RunError::Failed(message))) => RunEnd::Failed(message),
        (Some(Pause), Err(RunError::Stopped)) => RunEnd::Paused,
        // A shutdown, or a stop nobody asked for (the worker's channel closed): back to the
        // queue rather than left `running` until its lease expires.
        (Some(Shutdown) | None, Err(RunError::Stopped)) => RunEnd::GivenBack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_reason_wins_whatever_order_they_were_raised_in() {
        let orders = [
            [StopReason::Pause, StopReason::Cancel, StopReason::Shutdown],
            [StopReason::Cancel, StopReason::Shutdown, StopReason::Pause],
            [StopReason::Shutdown, StopReason::Pause, StopReason::Cancel],
        ];
        for order in orders {
            let stop = StopSignal::default();
            assert!(!stop.is_raised());
            for reason in order {
                stop.raise(reason);
            }
            assert_eq!(stop.reason(), Some(StopReason::Cancel), "{order:?}");
            stop.raise(StopReason::LeaseLost);
            stop.raise(StopReason::Pause);
            assert_eq!(stop.reason(), Some(StopReason::LeaseLost));
        }
    }

    #[test]
    fn writes_stop_after_a_failed_or_refused_write_only() {
        let stop = StopSignal::default();
        for (reason, refused) in [
            (StopReason::Pause, false),
            (StopReason::Shutdown, false),
            (StopReason::Cancel, false),
            (StopReason::LeaseLost, true),
        ] {
            stop.raise(reason);
            assert_eq!(stop.writes_refused(), refused, "{reason:?}");
        }
        let failed = StopSignal::default();
        failed.raise(StopReason::StoreFailed);
        failed.raise(StopReason::Cancel);
        assert!(
            failed.writes_refused(),
            "a cancel after a failed write does not undo it"
        );
    }

    #[test]
    fn each_combination_of_result_and_stop_reason_ends_one_way() {
        use RunEnd::*;
        use StopReason::*;
        let ok = || Ok::<_, RunError>(7);
        let stopped = || Err::<i32, _>(RunError::Stopped);
        let failed = || Err::<i32, _>(RunError::Failed("no".into()));
        type Case = (Result<i32, RunError>, Option<StopReason>, RunEnd<i32>);
        let table: Vec<Case> = vec![
            (ok(), None, Succeeded(7)),
            (ok(), Some(Pause), Succeeded(7)),
            (ok(), Some(Shutdown), Succeeded(7)),
            (ok(), Some(StoreFailed), GivenBack),
            (ok(), Some(Cancel), Cancelled),
            (ok(), Some(StopReason::LeaseLost), RunEnd::LeaseLost),
            (stopped(), None, GivenBack),
            (stopped(), Some(Pause), Paused),
            (stopped(), Some(Shutdown), GivenBack),
            (stopped(), Some(StoreFailed), GivenBack),
            (stopped(), Some(Cancel), Cancelled),
            (stopped(), Some(StopReason::LeaseLost), RunEnd::LeaseLost),
            (failed(), None, Failed("no".into())),
            (failed(), Some(Shutdown), Failed("no".into())),
            (failed(), Some(StoreFailed), GivenBack),
            (failed(), Some(Cancel), Cancelled),
            (failed(), Some(StopReason::LeaseLost), RunEnd::LeaseLost),
        ];
        for (result, stop, want) in table {
            let shown = format!("{result:?} {stop:?}");
            assert_eq!(decide(result, stop), want, "{shown}");
        }
    }
}
