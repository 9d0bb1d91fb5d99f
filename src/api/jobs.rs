//! Jobs: submit, list, get, cancel, loss history, live events.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use tokio_stream::wrappers::BroadcastStream;

use super::datasets::{Need, resolve_dataset};
use super::error::ErrorBody;
use super::{AppError, AppJson, AppState};
use crate::jobs::Job;
use crate::jobs::view::TERMINAL;
use crate::store;
use crate::train::JobSpec;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs", post(create_job).get(list_jobs))
        .route("/api/v1/jobs/{id}", get(get_job))
        .route("/api/v1/jobs/{id}/cancel", post(cancel_job))
        .route("/api/v1/jobs/{id}/metrics", get(get_metrics))
}

/// The live event stream, apart because it must not get the request timeout.
pub fn stream_router() -> Router<AppState> {
    Router::new().route("/api/v1/jobs/{id}/events", get(stream_events))
}

/// `GET /api/v1/jobs`: newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobList {
    #[serde(serialize_with = "super::via_value")]
    pub jobs: Vec<Job>,
}

/// The loss history of a job.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricsHistory {
    /// One row per epoch (and fold), in order.
    pub epochs: Vec<EpochRow>,
    pub job_id: String,
    /// Sampled mini-batch losses.
    pub steps: Vec<StepPoint>,
}

/// One epoch's metrics as stored; a value the run did not record (e.g. `val_loss` without a
/// validation split) is null.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EpochRow {
    pub epoch: i64,
    /// 1-based fold for k-fold cross-validation, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<i64>,
    /// Mean L2 norm of each dense layer's weight gradient over the epoch, input side first.
    pub grad_norms: Vec<f64>,
    #[schema(required = true)]
    pub learning_rate: Option<f64>,
    #[schema(required = true)]
    pub seconds: Option<f64>,
    #[schema(required = true)]
    pub train_accuracy: Option<f64>,
    #[schema(required = true)]
    pub train_loss: Option<f64>,
    #[schema(required = true)]
    pub val_accuracy: Option<f64>,
    #[schema(required = true)]
    pub val_loss: Option<f64>,
    /// L2 norm of each dense layer's weights at the end of the epoch, input side first.
    pub weight_norms: Vec<f64>,
}

/// Mean mini-batch loss over the steps since the previous sample.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepPoint {
    pub epoch: i64,
    pub loss: f64,
    /// 1-based count of optimizer steps since the start of the run.
    pub step: i64,
}

const STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

/// Submit a training job.
///
/// The body is a JobSpec; every field but `dataset` has a default, unknown fields are refused.
/// A rejected request writes nothing.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs",
    request_body = JobSpec,
    security(("bearer" = []), ()),
    responses(
        (status = 202, description = "Queued", body = Job,
            headers(("Location" = String, description = "`/api/v1/jobs/{id}`"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "The server has a token and the request does not carry it", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Unknown field or bad value (`field` names it), unknown or missing dataset, \
            or beyond this server's limits", body = ErrorBody),
        (status = 429, description = "The queue is full", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn create_job(
    State(state): State<AppState>,
    AppJson(spec): AppJson<JobSpec>,
) -> Result<Response, AppError> {
    let limits = &state.config.limits;
    spec.validate_with(&limits.spec_limits())
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let info = resolve_dataset(&state, &spec.dataset, Need::Data).await?;
    let input_size: usize = info.input_shape.iter().product();
    let parameters = spec.model_spec(input_size, info.classes).parameter_count();
    if parameters > limits.max_parameters {
        return Err(AppError::invalid(
            "hidden_layers",
            format!(
                "{parameters} parameters; this server trains at most {}",
                limits.max_parameters
            ),
        ));
    }
    let queued = store::jobs::count_by_status(&state.pool, "queued").await?;
    if queued >= limits.max_queued_jobs as i64 {
        return Err(AppError::TooManyRequests {
            message: format!("{queued} jobs are queued already"),
            retry_after: 30,
        });
    }
    let id = uuid::Uuid::now_v7().to_string();
    let spec_json = serde_json::to_string(&spec).map_err(anyhow::Error::from)?;
    let epochs_total = (spec.epochs * spec.k_folds.unwrap_or(1)) as i64;
    let row = store::jobs::insert(&state.pool, &id, &spec_json, &spec.dataset, epochs_total).await?;
    state.jobs.notify_queued();
    let location = format!("/api/v1/jobs/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(Job::from(row)),
    )
        .into_response())
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(
        ("status" = Option<crate::api::openapi::JobStatus>, Query, description = "Only jobs with this status"),
        ("limit" = Option<i64>, Query, description = "At most this many, 1..=1000 (default 50)", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The jobs", body = JobList),
        (status = 422, description = "Bad `status` or `limit`", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<JobList>, AppError> {
    let status = query.get("status").map(String::as_str);
    if let Some(s) = status
        && !STATUSES.contains(&s)
    {
        return Err(AppError::invalid("status", format!("one of {}", STATUSES.join(", "))));
    }
    let limit = match query.get("limit") {
        None => 50,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(AppError::invalid("limit", "an integer in 1..=1000")),
        },
    };
    let rows = store::jobs::list(&state.pool, status, limit).await?;
    Ok(Json(JobList {
        jobs: rows.into_iter().map(Job::from).collect(),
    }))
}

async fn find_job(state: &AppState, id: &str) -> Result<Job, AppError> {
    store::jobs::get(&state.pool, id)
        .await?
        .map(Job::from)
        .ok_or_else(|| AppError::not_found("job", id))
}

/// One job: status, spec with defaults filled in, progress, result.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, AppError> {
    Ok(Json(find_job(&state, &id).await?))
}

/// How long a cancel waits for the worker to stop before answering (it stops within one
/// mini-batch, usually milliseconds).
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Stop a queued or running job.
///
/// Takes effect within one mini-batch; the answer waits up to 5 s for the worker to stop, so
/// its status is usually `cancelled` already.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = []), ()),
    responses(
        (status = 200, description = "The job after the cancel", body = Job),
        (status = 401, description = "The server has a token and the request does not carry it", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job has already finished", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn cancel_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, AppError> {
    let job = find_job(&state, &id).await?;
    if job.is_finished() {
        return Err(AppError::Conflict(format!("job {id} already {}", job.status)));
    }
    if !store::jobs::cancel_queued(&state.pool, &id).await? && !state.jobs.request_stop(&id) {
        // Claimed but not yet registered by its worker, or left over by another process:
        // end it in the database; its worker cannot store a model for a job not running.
        store::jobs::finish_without_model(&state.pool, &id, "cancelled", None).await?;
    }
    let deadline = Instant::now() + CANCEL_WAIT;
    loop {
        let job = find_job(&state, &id).await?;
        if job.is_finished() || Instant::now() >= deadline {
            return Ok(Json(job));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The loss history: one row per epoch (and fold), and the sampled step losses.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/metrics", tag = "jobs", operation_id = "get_job_metrics",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The history so far", body = MetricsHistory),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_metrics(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MetricsHistory>, AppError> {
    find_job(&state, &id).await?;
    let points = store::metrics::epoch_points(&state.pool, &id).await?;
    let mut rows: BTreeMap<(i64, i64), BTreeMap<String, f64>> = BTreeMap::new();
    for p in points {
        rows.entry((p.fold, p.epoch)).or_default().insert(p.name, p.value);
    }
    let epochs: Vec<EpochRow> = rows
        .into_iter()
        .map(|((fold, epoch), values)| {
            let series = |prefix: &str| -> Vec<f64> {
                (0..)
                    .map_while(|i| values.get(&format!("{prefix}.{i}")).copied())
                    .collect()
            };
            EpochRow {
                epoch,
                fold: (fold > 0).then_some(fold),
                train_loss: values.get("train_loss").copied(),
                train_accuracy: values.get("train_accuracy").copied(),
                val_loss: values.get("val_loss").copied(),
                val_accuracy: values.get("val_accuracy").copied(),
                learning_rate: values.get("learning_rate").copied(),
                grad_norms: series("grad_norm"),
                weight_norms: series("weight_norm"),
                seconds: values.get("seconds").copied(),
            }
        })
        .collect();
    let steps: Vec<StepPoint> = store::metrics::steps(&state.pool, &id)
        .await?
        .into_iter()
        .map(|s| StepPoint {
            step: s.step,
            epoch: s.epoch,
            loss: s.loss,
        })
        .collect();
    Ok(Json(MetricsHistory {
        job_id: id,
        epochs,
        steps,
    }))
}

/// Server-sent events: the job's current state (`status`), then `step` and `epoch` events as
/// they happen, and a last `status` when it ends; then the stream closes.
///
/// Each event's `data` is one JSON object: a `status` event carries a Job, a `step` event a
/// StepLoss, an `epoch` event an EpochMetrics plus `epochs_done` and `epochs_total`. Comment
/// lines keep the connection alive. This route has no request timeout.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The event stream; it closes when the job ends", body = String,
            content_type = "text/event-stream"),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn stream_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, AppError> {
    let before = find_job(&state, &id).await?;
    // Subscribe before reading the state again, so no event falls between the two.
    let rx = (!before.is_finished()).then(|| state.jobs.subscribe(&id));
    let job = find_job(&state, &id).await?;
    let finished = TERMINAL.contains(&job.status.as_str());
    if finished {
        // Ended meanwhile: nothing more will be published on a channel we may have created.
        state.jobs.release_channel(&id);
    }
    let first = stream::once(async move { Ok(sse_event("status", &serde_json::to_value(&job).unwrap_or_default())) });
    let live = match rx {
        Some(rx) if !finished => BroadcastStream::new(rx)
            .filter_map(|item| async move { item.ok().map(|e| Ok(sse_event(e.name, &e.data))) })
            .boxed(),
        _ => stream::empty().boxed(),
    };
    Ok(Sse::new(first.chain(live)).keep_alive(KeepAlive::default()))
}

fn sse_event(name: &str, data: &Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}
