//! A job's event stream (`GET /api/v1/jobs/{id}/events`), on any replica.
//!
//! Two sources feed it, each event sent once and in order:
//! - this process's live channel, when one of its workers trains the job: step and epoch
//!   events the moment they happen;
//! - the store, read every [`POLL`]: epoch rows and step samples recorded since the last
//!   one sent, and the job's status. This is what makes the stream work for a job trained by
//!   another replica (no sticky sessions), and what fills any gap the live channel left.
//!   On PostgreSQL the replica that trains the job also NOTIFYs each epoch and the end, and
//!   the store is read at once (at most every [`NOTICE_GAP`]) instead of at the next tick.
//!   While this process trains the job, the store is read only every [`SAFETY_POLLS`]th
//!   tick, and at once after the live channel dropped events.
//!
//! The stream ends after the job's final status, or at shutdown.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiRouter, AppError, AppState};
use crate::jobs::{Job, JobEvent, JobStatus};

/// How often the store is read for what another replica recorded.
const POLL: Duration = Duration::from_millis(500);

/// While a job trains in this process, the store is read at one tick in this many (5 s).
const SAFETY_POLLS: u32 = 10;

/// Reads prompted by another replica's notices are at least this far apart: a toy job's
/// thousand epochs a second cost a stream 20 reads, not a thousand.
const NOTICE_GAP: Duration = Duration::from_millis(50);

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(stream_events))
}

/// Server-sent events: the job's current state (`status`), then `step` and `epoch` events as
/// they happen, and a last `status` when it ends; then the stream closes.
///
/// Each event's `data` is one JSON object: a `status` event carries a Job, a `step` event a
/// StepPoint and an `epoch` event an EpochRow, the same rows `/metrics` lists. Any replica
/// streams any job: events of a job trained elsewhere arrive within a second. Comment lines
/// keep the connection alive. This route has no request timeout.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The event stream; it closes when the job ends", body = String,
            content_type = "text/event-stream"),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 429, description = "Too many event streams are open", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn stream_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, AppError> {
    // Held by the stream for as long as it is open.
    let permit = Arc::clone(&state.streams)
        .try_acquire_owned()
        .map_err(|_| AppError::TooManyRequests {
            message: format!(
                "{} event streams are open, this server's limit; poll GET /api/v1/jobs/{{id}} instead",
                state.config.limits.max_event_streams
            ),
            retry_after: 5,
        })?;
    // Subscribe before reading the state, so that no live event falls between the two.
    let live = state.jobs.subscribe(&id);
    let Some(row) = state.store.job(&id).await? else {
        state.jobs.release_channel(&id);
        return Err(AppError::not_found("job", &id));
    };
    let job = Job::from(row);
    if job.is_finished() {
        state.jobs.release_channel(&id);
    }
    let last_step = state.store.last_step(&id).await?;
    let follow = Follow {
        last_epoch: job.progress.epoch,
        last_step,
        last_status: job.status,
        done: job.is_finished(),
        pending: VecDeque::from([event("status", &job)]),
        live: (!job.is_finished()).then_some(live),
        progress: state.store.progress_notices(),
        told: false,
        last_read: tokio::time::Instant::now(),
        tick: poll_timer(),
        ticks: 0,
        behind: false,
        state: state.clone(),
        id,
    };
    let events = stream::unfold(follow, |mut f| async move { f.next().await.map(|e| (Ok(e), f)) });
    // A shutdown ends every stream, so that the server can exit whatever the clients do.
    let shutdown = state.shutdown.clone().cancelled_owned();
    let events = events.take_until(shutdown).map(move |e| {
        let _held = &permit;
        e
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn poll_timer() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

fn event(name: &str, data: &impl serde::Serialize) -> SseEvent {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    SseEvent::default().event(name).data(data)
}

/// What a stream has sent so far, and where its next events come from.
struct Follow {
    state: AppState,
    id: String,
    live: Option<broadcast::Receiver<JobEvent>>,
    /// Ids of jobs another replica says progressed (PostgreSQL), and whether this one did
    /// since the last read.
    progress: Option<broadcast::Receiver<String>>,
    told: bool,
    last_read: tokio::time::Instant,
    tick: tokio::time::Interval,
    ticks: u32,
    /// The live channel dropped events: read the store at the next tick.
    behind: bool,
    /// The last epoch (`epochs_done`) and step sent.
    last_epoch: i64,
    last_step: i64,
    last_status: JobStatus,
    pending: VecDeque<SseEvent>,
    done: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            let live = async {
                match self.live.as_mut() {
                    Some(rx) => Some(rx.recv().await),
                    None => std::future::pending().await,
                }
            };
            let told = async {
                match self.progress.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let read_told = tokio::time::sleep_until(self.last_read + NOTICE_GAP);
            tokio::select! {
                received = live => match received {
                    Some(Ok(e)) => self.accept_live(e),
                    // Skipped some: the store has them.
                    Some(Err(RecvError::Lagged(_))) => self.behind = true,
                    // The job's channel is gone (it ended, or its worker stopped): the store tells.
                    _ => self.live = None,
                },
                notice = told => match notice {
                    Ok(id) => self.told |= id == self.id && !self.live_here(),
                    Err(RecvError::Lagged(_)) => self.told = true,
                    Err(RecvError::Closed) => self.progress = None,
                },
                _ = read_told, if self.told => self.read().await,
                _ = self.tick.tick() => {
                    self.ticks = self.ticks.wrapping_add(1);
                    if !self.live_here() || self.behind || self.ticks.is_multiple_of(SAFETY_POLLS) {
                        self.read().await;
                    }
                }
            }
        }
    }

    /// Whether this process trains the job and its live channel carries the events.
    fn live_here(&self) -> bool {
        self.live.is_some() && self.state.jobs.trains_here(&self.id)
    }

    async fn read(&mut self) {
        self.last_read = tokio::time::Instant::now();
        self.told = false;
        match self.poll().await {
            Ok(()) => self.behind = false,
            Err(e) => tracing::warn!(job = %self.id, error = %e, "reading a job's progress for its stream failed"),
        }
    }

    /// A live event is sent if it is the next one; anything out of order waits for the store.
    fn accept_live(&mut self, e: JobEvent) {
        let number = |key: &str| e.data.get(key).and_then(Value::as_i64).unwrap_or(0);
        match e.name {
            "epoch" if number("epochs_done") == self.last_epoch + 1 => {
                self.last_epoch += 1;
                self.pending.push_back(event("epoch", &e.data));
            }
            "step" if number("step") > self.last_step && number("epoch") <= self.last_epoch + 1 => {
                self.last_step = number("step");
                self.pending.push_back(event("step", &e.data));
            }
            "status" => {
                if let Some(status) = e.data.get("status").and_then(Value::as_str).and_then(JobStatus::parse) {
                    self.last_status = status;
                    self.done = status.is_terminal();
                    self.pending.push_back(event("status", &e.data));
                }
            }
            _ => {}
        }
    }

    /// What the store has that this stream has not sent, then the status if it changed.
    async fn poll(&mut self) -> crate::store::Result<()> {
        let store = &self.state.store;
        for row in store.epochs_since(&self.id, self.last_epoch).await? {
            self.last_epoch = row.epochs_done;
            self.pending.push_back(event("epoch", &row));
        }
        for s in store.steps_since(&self.id, self.last_step).await? {
            self.last_step = s.step;
            let point = super::jobs::StepPoint {
                step: s.step,
                epoch: s.epoch,
                loss: s.loss,
            };
            self.pending.push_back(event("step", &point));
        }
        let Some(row) = store.job(&self.id).await? else {
            self.done = true;
            return Ok(());
        };
        if row.status != self.last_status || row.status.is_terminal() {
            self.last_status = row.status;
            self.done = row.status.is_terminal();
            self.pending.push_back(event("status", &Job::from(row)));
        }
        Ok(())
    }
}
