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
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;

use super::{AppError, AppJson, AppState};
use crate::data::list_datasets;
use crate::jobs::Job;
use crate::jobs::view::TERMINAL;
use crate::store;
use crate::train::JobSpec;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs", post(create_job).get(list_jobs))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route("/jobs/{id}/metrics", get(get_metrics))
}

/// The live event stream, apart because it must not get the request timeout.
pub fn stream_router() -> Router<AppState> {
    Router::new().route("/jobs/{id}/events", get(stream_events))
}

const STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

async fn create_job(State(state): State<AppState>, AppJson(spec): AppJson<JobSpec>) -> Result<Response, AppError> {
    let limits = &state.config.limits;
    spec.validate_with(&limits.spec_limits())
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let dir = state.data_dir.clone();
    let datasets = tokio::task::spawn_blocking(move || list_datasets(&dir))
        .await
        .unwrap_or_default();
    match datasets.iter().find(|d| d.name == spec.dataset) {
        Some(d) if d.available => {}
        Some(_) => {
            return Err(AppError::invalid(
                "dataset",
                format!("dataset {} is not installed here", spec.dataset),
            ));
        }
        None => {
            let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
            return Err(AppError::invalid(
                "dataset",
                format!("unknown dataset; one of {}", names.join(", ")),
            ));
        }
    }
    let info = datasets.iter().find(|d| d.name == spec.dataset).expect("found above");
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

async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
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
    Ok(Json(
        json!({ "jobs": rows.into_iter().map(Job::from).collect::<Vec<_>>() }),
    ))
}

async fn find_job(state: &AppState, id: &str) -> Result<Job, AppError> {
    store::jobs::get(&state.pool, id)
        .await?
        .map(Job::from)
        .ok_or_else(|| AppError::not_found("job", id))
}

async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, AppError> {
    Ok(Json(find_job(&state, &id).await?))
}

/// How long a cancel waits for the worker to stop before answering (it stops within one
/// mini-batch, usually milliseconds).
const CANCEL_WAIT: Duration = Duration::from_secs(5);

async fn cancel_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, AppError> {
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
async fn get_metrics(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    find_job(&state, &id).await?;
    let points = store::metrics::epoch_points(&state.pool, &id).await?;
    let mut rows: BTreeMap<(i64, i64), BTreeMap<String, f64>> = BTreeMap::new();
    for p in points {
        rows.entry((p.fold, p.epoch)).or_default().insert(p.name, p.value);
    }
    let epochs: Vec<Value> = rows
        .into_iter()
        .map(|((fold, epoch), values)| {
            let series = |prefix: &str| -> Vec<f64> {
                (0..)
                    .map_while(|i| values.get(&format!("{prefix}.{i}")).copied())
                    .collect()
            };
            let mut row = json!({
                "epoch": epoch,
                "train_loss": values.get("train_loss"),
                "train_accuracy": values.get("train_accuracy"),
                "val_loss": values.get("val_loss"),
                "val_accuracy": values.get("val_accuracy"),
                "learning_rate": values.get("learning_rate"),
                "grad_norms": series("grad_norm"),
                "weight_norms": series("weight_norm"),
                "seconds": values.get("seconds"),
            });
            if fold > 0 {
                row["fold"] = json!(fold);
            }
            row
        })
        .collect();
    let steps: Vec<Value> = store::metrics::steps(&state.pool, &id)
        .await?
        .into_iter()
        .map(|s| json!({"step": s.step, "epoch": s.epoch, "loss": s.loss}))
        .collect();
    Ok(Json(json!({"job_id": id, "epochs": epochs, "steps": steps})))
}

/// Server-sent events: the job's current state (`status`), then `step` and `epoch` events as
/// they happen, and a last `status` when it ends; then the stream closes.
async fn stream_events(
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
