//! Jobs: submit, list, get, cancel, loss history, live events.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ApiRouter;
use super::datasets::{Need, resolve_dataset};
use super::error::ErrorBody;
use super::{AppError, AppJson, AppState};
use crate::jobs::view::KFoldResult;
use crate::jobs::{Job, JobStatus, SubmitError};
use crate::store::jobs::{Cancel, Delete, JobQuery};
use crate::store::metrics::EpochRow;
use crate::train::JobSpec;
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    let writes = ApiRouter::new()
        .routes(routes!(create_job))
        .routes(routes!(cancel_job))
        .routes(routes!(delete_job));
    ApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(get_metrics))
        .merge(super::writes(writes, super::Body::Json))
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

/// Mean mini-batch loss over the steps since the previous sample.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepPoint {
    pub epoch: i64,
    pub loss: f64,
    /// 1-based count of optimizer steps since the start of the run.
    pub step: i64,
}

/// Submit a training job.
///
/// The body is a JobSpec; every field but `dataset` has a default, unknown fields are refused.
/// A rejected request writes nothing.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs",
    request_body = JobSpec,
    responses(
        (status = 202, description = "Queued", body = Job,
            headers(("Location" = String, description = "`/api/v1/jobs/{id}`"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Unknown field or bad value (`field` names it), unknown or missing dataset, \
            or beyond this server's limits (size, estimated memory)", body = ErrorBody),
        (status = 429, description = "The queue is full", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn create_job(
    State(state): State<AppState>,
    AppJson(spec): AppJson<JobSpec>,
) -> Result<Response, AppError> {
    let limits = state.config.limits.spec_limits();
    // The fields first: a bad value is named even when the dataset is unknown too.
    spec.validate_with(&limits)
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let info = resolve_dataset(&state, &spec.dataset, Need::Data).await?;
    let spec = spec
        .validate_for(&limits, &info.shape())
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let row = state.jobs.submit(&spec).await.map_err(submit_error)?;
    let location = format!("/api/v1/jobs/{}", row.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(Job::from(row)),
    )
        .into_response())
}

/// A refused submit as the API answers it.
pub(super) fn submit_error(e: SubmitError) -> AppError {
    match e {
        SubmitError::QueueFull(n) => AppError::TooManyRequests {
            message: format!("the queue has no room (at most {n} jobs waiting); try again later"),
            retry_after: 30,
        },
        SubmitError::Database(e) => e.into(),
    }
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(
        ("status" = Option<crate::jobs::JobStatus>, Query, description = "Only jobs with this status"),
        ("parent_id" = Option<String>, Query, description = "Only the jobs forked from this one (every pair of every fork)"),
        ("limit" = Option<i64>, Query, description = "At most this many, 1..=1000 (default 50)", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The jobs", body = JobList),
        (status = 422, description = "Bad `status`, `parent_id` or `limit`", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<JobList>, AppError> {
    let status = match query.get("status") {
        None => None,
        Some(word) => Some(
            JobStatus::parse(word)
                .ok_or_else(|| AppError::invalid("status", format!("one of {}", JobStatus::words().join(", "))))?,
        ),
    };
    let limit = match query.get("limit") {
        None => 50,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(AppError::invalid("limit", "an integer in 1..=1000")),
        },
    };
    let parent_id = query.get("parent_id").map(String::as_str);
    if parent_id.is_some_and(|id| id.is_empty() || id.len() > 64) {
        return Err(AppError::invalid("parent_id", "a job id (1..=64 characters)"));
    }
    let rows = state
        .store
        .jobs(JobQuery {
            status,
            parent_id,
            limit,
        })
        .await?;
    Ok(Json(JobList {
        jobs: rows.into_iter().map(Job::from).collect(),
    }))
}

async fn find_job(state: &AppState, id: &str) -> Result<Job, AppError> {
    state
        .store
        .job(id)
        .await?
        .map(Job::from)
        .ok_or_else(|| AppError::not_found("job", id))
}

/// One job: status, spec with defaults filled in, progress, result (with `result.kfold` for
/// a k-fold job).
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, AppError> {
    let mut job = find_job(&state, &id).await?;
    // A k-fold job's folds, from each fold's last epoch row.
    if let Some(result) = job.result.as_mut()
        && job.spec.get("k_folds").is_some_and(|k| !k.is_null())
    {
        result.kfold = KFoldResult::from_epochs(&state.store.epochs_since(&id, 0).await?);
    }
    Ok(Json(job))
}

/// Cancel a queued or running job.
///
/// A 200 means the job is `cancelled`: it trains no further mini-batch and gets no model,
/// and its event streams end. A job that had already ended is a 409 (and is unchanged).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, now `cancelled`", body = Job),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job had already ended", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn cancel_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, AppError> {
    match state.jobs.cancel(&id).await? {
        Cancel::Cancelled(row) => Ok(Json(Job::from(row))),
        Cancel::AlreadyEnded(row) => Err(AppError::Conflict(format!(
            "job {id} had already ended: {}",
            row.status
        ))),
        Cancel::NotFound => Err(AppError::not_found("job", &id)),
    }
}

/// Delete an ended job with its loss history, checkpoint and model.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is queued or running: cancel it first", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn delete_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, AppError> {
    match state.jobs.delete(&id).await? {
        Delete::Deleted { model_id } => {
            if let Some(model_id) = model_id {
                state.models.forget(&model_id);
            }
            Ok(StatusCode::NO_CONTENT)
        }
        Delete::NotEnded(status) => Err(AppError::Conflict(format!(
            "job {id} is {status}: only ended jobs can be deleted (cancel it first)"
        ))),
        Delete::NotFound => Err(AppError::not_found("job", &id)),
    }
}

/// Which part of a history to send: what comes after what the caller has.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only the epochs after the first N of the run (`epochs_done > N`).
    #[param(minimum = 0)]
    since_epoch: Option<i64>,
    /// Only the step samples after step M.
    #[param(minimum = 0)]
    since_step: Option<i64>,
}

/// The loss history: one row per epoch (and fold), and the sampled step losses.
///
/// `since_epoch` and `since_step` return only what is new, so a poller downloads each row
/// once. Step samples are thinned as a run grows (at most 2,000 per job).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/metrics", tag = "jobs", operation_id = "get_job_metrics",
    params(("id" = String, Path, description = "Job id"), HistoryQuery),
    responses(
        (status = 200, description = "The history so far", body = MetricsHistory),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 422, description = "A bad `since_epoch` or `since_step`", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_metrics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<MetricsHistory>, AppError> {
    let Query(query) = query.map_err(|e| AppError::Invalid {
        field: ["since_epoch", "since_step"]
            .into_iter()
            .find(|f| e.body_text().contains(f))
            .map(str::to_string),
        message: format!(
            "since_epoch and since_step are non-negative integers: {}",
            e.body_text()
        ),
    })?;
    for (field, value) in [("since_epoch", query.since_epoch), ("since_step", query.since_step)] {
        if value.is_some_and(|v| v < 0) {
            return Err(AppError::invalid(field, "must be a non-negative integer"));
        }
    }
    find_job(&state, &id).await?;
    let epochs = state.store.epochs_since(&id, query.since_epoch.unwrap_or(0)).await?;
    let steps: Vec<StepPoint> = state
        .store
        .steps_since(&id, query.since_step.unwrap_or(0))
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
