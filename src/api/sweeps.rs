//! Sweeps: `POST /api/v1/sweeps` (and `/preview`), list, get, cancel. A sweep's trials are
//! ordinary jobs; `jobs::sweeps` runs them under the sweep's parallelism and early stopping.
//! Every trial's JobSpec is checked before anything runs: a bad value is a 422 naming
//! `space.<field>` (or `base.<field>`).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::routes;

use super::datasets::{Need, resolve_dataset};
use super::error::{ErrorBody, parse_json};
use super::{ApiRouter, AppError, AppJson, AppState};
use crate::jobs::{JobStatus, SweepSubmitError};
use crate::store::sweeps::{DecisionAction, SweepState, SweepStatus, TrialRow};
use crate::sweep::{Goal, Preview, SweepSpec, Trial, preview, trials};
use crate::train::{DataShape, JobSpec, SpecError, ValidSpec};

pub fn router() -> ApiRouter {
    let writes = ApiRouter::new()
        .routes(routes!(create_sweep))
        .routes(routes!(cancel_sweep));
    ApiRouter::new()
        .routes(routes!(preview_sweep))
        .routes(routes!(list_sweeps))
        .routes(routes!(get_sweep))
        .merge(super::writes(writes, super::Body::Json))
}

/// The trials of a request, each JobSpec checked against this server's limits and data.
async fn checked_trials(state: &AppState, spec: &SweepSpec) -> Result<Vec<(Trial, ValidSpec)>, AppError> {
    let planned = trials(spec).map_err(|e| AppError::invalid(e.field, e.message))?;
    let limits = state.config.limits.spec_limits();
    let at = |e: SpecError| {
        let root = e.field.split(['.', '[']).next().unwrap_or_default();
        let prefix = if spec.space.contains_key(root) { "space" } else { "base" };
        AppError::invalid(format!("{prefix}.{}", e.field), e.message)
    };
    let mut shapes: HashMap<String, DataShape> = HashMap::new();
    let mut checked = Vec::with_capacity(planned.len());
    for trial in planned {
        let bytes = serde_json::to_vec(&trial.job_spec).expect("JSON serialises");
        let job: JobSpec = parse_json(&bytes).map_err(|e| match e {
            AppError::Invalid {
                field: Some(field),
                message,
            } => at(SpecError { field, message }),
            e => e,
        })?;
        job.validate_with(&limits).map_err(at)?;
        if !shapes.contains_key(&job.dataset) {
            let info = resolve_dataset(state, &job.dataset, Need::Data)
                .await
                .map_err(|e| match e {
                    AppError::Invalid { message, .. } => at(SpecError {
                        field: "dataset".into(),
                        message,
                    }),
                    e => e,
                })?;
            shapes.insert(job.dataset.clone(), info.shape());
        }
        let valid = job.validate_for(&limits, &shapes[&job.dataset]).map_err(at)?;
        if spec.metric.name().starts_with("val_") && valid.validation_split <= 0.0 {
            return Err(AppError::invalid(
                "metric",
                format!(
                    "{} needs a validation split: set base.validation_split above 0",
                    spec.metric.name()
                ),
            ));
        }
        checked.push((trial, valid));
    }
    Ok(checked)
}

fn cost(spec: &SweepSpec, checked: &[(Trial, ValidSpec)]) -> Preview {
    let configurations = checked.last().map_or(0, |(t, _)| t.config + 1);
    let epochs = checked.first().map_or(0, |(_, s)| s.epochs);
    preview(configurations, spec.seeds, epochs, spec.early_stopping)
}

/// What a sweep would cost: its trials, ASHA's rungs and an upper bound on the epochs it
/// trains (exact without early stopping). Runs nothing, writes nothing.
#[utoipa::path(post, path = "/api/v1/sweeps/preview", tag = "sweeps",
    request_body = SweepSpec,
    responses(
        (status = 200, description = "The cost", body = Preview),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A bad request field or trial (`field` names it, e.g. `space.learning_rate`)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn preview_sweep(
    State(state): State<AppState>,
    AppJson(spec): AppJson<SweepSpec>,
) -> Result<Json<Preview>, AppError> {
    let checked = checked_trials(&state, &spec).await?;
    Ok(Json(cost(&spec, &checked)))
}

/// Start a sweep.
///
/// Its trials are ordinary jobs (`sweep_id`), queued on the same queue for any replica's
/// workers; at most `parallelism` train at once. With `early_stopping`, a trial pauses at
/// each rung and goes on from its checkpoint when promoted, or is stopped saying why.
#[utoipa::path(post, path = "/api/v1/sweeps", tag = "sweeps",
    request_body = SweepSpec,
    responses(
        (status = 202, description = "Started", body = Sweep,
            headers(("Location" = String, description = "`/api/v1/sweeps/{id}`"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A bad request field or trial (`field` names it)", body = ErrorBody),
        (status = 429, description = "Too many sweeps are running", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn create_sweep(
    State(state): State<AppState>,
    AppJson(spec): AppJson<SweepSpec>,
) -> Result<Response, AppError> {
    let checked = checked_trials(&state, &spec).await?;
    let row = state.jobs.create_sweep(&spec, &checked).await.map_err(|e| match e {
        SweepSubmitError::TooMany(n) => AppError::TooManyRequests {
            message: format!("{n} sweeps are running, this server's limit; try again when one has ended"),
            retry_after: 30,
        },
        SweepSubmitError::Database(e) => e.into(),
    })?;
    let sweep = find_sweep(&state, &row.id).await?;
    let location = format!("/api/v1/sweeps/{}", row.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(sweep)).into_response())
}

/// `GET /api/v1/sweeps`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SweepList {
    pub sweeps: Vec<SweepSummary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SweepSummary {
    pub id: String,
    pub name: String,
    pub status: String,
    pub created_at: String,
    #[schema(required = true)]
    pub finished_at: Option<String>,
}

/// Sweeps, newest first (at most 100).
#[utoipa::path(get, path = "/api/v1/sweeps", tag = "sweeps",
    responses(
        (status = 200, description = "The sweeps", body = SweepList),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn list_sweeps(State(state): State<AppState>) -> Result<Json<SweepList>, AppError> {
    let rows = state.store.sweeps(100).await?;
    Ok(Json(SweepList {
        sweeps: rows
            .into_iter()
            .map(|r| SweepSummary {
                id: r.id,
                name: r.name,
                status: r.status.to_string(),
                created_at: r.created_at,
                finished_at: r.finished_at,
            })
            .collect(),
    }))
}

/// One sweep: its trials with their states, values and decisions, the best trial and the
/// leaderboard of configurations.
#[utoipa::path(get, path = "/api/v1/sweeps/{id}", tag = "sweeps",
    params(("id" = String, Path, description = "Sweep id")),
    responses(
        (status = 200, description = "The sweep", body = Sweep),
        (status = 404, description = "No such sweep", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_sweep(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Sweep>, AppError> {
    Ok(Json(find_sweep(&state, &id).await?))
}

/// Cancel a sweep: its unfinished trials are cancelled (each stops within a mini-batch).
#[utoipa::path(post, path = "/api/v1/sweeps/{id}/cancel", tag = "sweeps",
    params(("id" = String, Path, description = "Sweep id")),
    responses(
        (status = 200, description = "The sweep, now `cancelled`", body = Sweep),
        (status = 404, description = "No such sweep", body = ErrorBody),
        (status = 409, description = "The sweep had already ended", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn cancel_sweep(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Sweep>, AppError> {
    let before = state
        .store
        .sweep(&id)
        .await?
        .ok_or_else(|| AppError::not_found("sweep", &id))?;
    if before.status != SweepStatus::Running {
        return Err(AppError::Conflict(format!(
            "sweep {id} had already ended: {}",
            before.status
        )));
    }
    state.jobs.cancel_sweep(&id).await?;
    Ok(Json(find_sweep(&state, &id).await?))
}

async fn find_sweep(state: &AppState, id: &str) -> Result<Sweep, AppError> {
    let s = state
        .store
        .sweep_state(id)
        .await?
        .ok_or_else(|| AppError::not_found("sweep", id))?;
    Ok(Sweep::from_state(&s))
}

/// A sweep as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sweep {
    pub id: String,
    pub name: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// The request, with its defaults.
    #[schema(value_type = SweepSpec)]
    pub spec: Value,
    pub created_at: String,
    #[schema(required = true)]
    pub finished_at: Option<String>,
    pub trials: Vec<SweepTrial>,
    /// The trial with the best value at any epoch.
    #[schema(required = true)]
    pub best_trial: Option<SweepTrial>,
    /// Configurations ranked by their trials' mean best value (the mean over seeds).
    pub leaderboard: Vec<ConfigRank>,
    /// Epochs trained by all trials.
    pub epochs_trained: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SweepTrial {
    pub job_id: String,
    pub config: i64,
    #[schema(value_type = Object)]
    pub params: Value,
    pub seed: u64,
    /// `queued`, `running`, `paused` (at a rung, waiting for the rule), `stopped` (by the
    /// rule: see `decisions`), `completed`, `failed` or `cancelled`.
    pub state: String,
    pub epochs_trained: i64,
    #[schema(required = true)]
    pub best: Option<Best>,
    /// The rule's decisions about this trial's configuration, with their evidence.
    pub decisions: Vec<DecisionView>,
    #[schema(required = true)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Best {
    pub epoch: i64,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionView {
    pub rung_epoch: i64,
    /// `promote` or `stop`.
    pub action: String,
    pub value: f64,
    pub cutoff: f64,
    pub rank: i64,
    pub of: i64,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigRank {
    pub config: i64,
    #[schema(value_type = Object)]
    pub params: Value,
    /// The mean over its trials of each one's best value.
    pub value: f64,
    pub trials: usize,
}

impl Sweep {
    fn from_state(s: &SweepState) -> Sweep {
        let spec: Option<SweepSpec> = serde_json::from_str(&s.sweep.spec).ok();
        let (metric, goal) = spec
            .as_ref()
            .map_or(("val_accuracy", Goal::Maximize), |sp| (sp.metric.name(), sp.goal()));
        let mut curves: HashMap<&str, Vec<(i64, f64)>> = HashMap::new();
        for e in &s.epochs {
            if let Some(v) = e.metric(metric) {
                curves.entry(e.job_id.as_str()).or_default().push((e.epochs_done, v));
            }
        }
        let best_of = |points: &[(i64, f64)]| {
            points.iter().fold(None::<Best>, |best, &(epoch, value)| match best {
                Some(b) if !goal.better(value, b.value) => Some(b),
                _ => Some(Best { epoch, value }),
            })
        };
        let trials: Vec<SweepTrial> = s
            .trials
            .iter()
            .map(|t| {
                let decisions: Vec<DecisionView> = s
                    .decisions
                    .iter()
                    .filter(|d| d.config == t.config)
                    .map(|d| DecisionView {
                        rung_epoch: d.rung_epoch,
                        action: d.action.to_string(),
                        value: d.value,
                        cutoff: d.cutoff,
                        rank: d.rank,
                        of: d.of_count,
                        rule: d.rule.clone(),
                    })
                    .collect();
                let stopped = s
                    .decisions
                    .iter()
                    .any(|d| d.config == t.config && d.action == DecisionAction::Stop);
                SweepTrial {
                    job_id: t.job.id.clone(),
                    config: t.config,
                    params: serde_json::from_str(&t.params).unwrap_or(Value::Null),
                    seed: seed_of(t),
                    state: trial_state(t, stopped).into(),
                    epochs_trained: t.job.epoch,
                    best: best_of(curves.get(t.job.id.as_str()).map_or(&[][..], |c| c)),
                    decisions,
                    error: t.job.error.clone(),
                }
            })
            .collect();
        let best_trial = trials
            .iter()
            .filter(|t| t.best.is_some())
            .fold(None::<&SweepTrial>, |best, t| match best {
                Some(b) if !goal.better(t.best.unwrap().value, b.best.unwrap().value) => Some(b),
                _ => Some(t),
            })
            .cloned();
        let mut by_config: BTreeMap<i64, (Value, Vec<f64>)> = BTreeMap::new();
        for t in &trials {
            let entry = by_config
                .entry(t.config)
                .or_insert_with(|| (t.params.clone(), Vec::new()));
            if let Some(b) = t.best {
                entry.1.push(b.value);
            }
        }
        let mut leaderboard: Vec<ConfigRank> = by_config
            .into_iter()
            .filter(|(_, (_, values))| !values.is_empty())
            .map(|(config, (params, values))| ConfigRank {
                config,
                params,
                value: values.iter().sum::<f64>() / values.len() as f64,
                trials: values.len(),
            })
            .collect();
        leaderboard.sort_by(|a, b| match goal {
            Goal::Maximize => b.value.total_cmp(&a.value),
            Goal::Minimize => a.value.total_cmp(&b.value),
        });
        Sweep {
            id: s.sweep.id.clone(),
            name: s.sweep.name.clone(),
            status: s.sweep.status.to_string(),
            spec: serde_json::from_str(&s.sweep.spec).unwrap_or(Value::Null),
            created_at: s.sweep.created_at.clone(),
            finished_at: s.sweep.finished_at.clone(),
            epochs_trained: s.trials.iter().map(|t| t.job.epoch).sum(),
            trials,
            best_trial,
            leaderboard,
        }
    }
}

fn seed_of(t: &TrialRow) -> u64 {
    serde_json::from_str::<JobSpec>(&t.job.spec).map_or(0, |s| s.seed)
}

fn trial_state(t: &TrialRow, stopped: bool) -> &'static str {
    match t.job.status {
        JobStatus::Succeeded => "completed",
        JobStatus::Failed => "failed",
        JobStatus::Cancelled if stopped => "stopped",
        JobStatus::Cancelled => "cancelled",
        JobStatus::Running => "running",
        JobStatus::Queued if t.job.held && t.job.pause_at_epoch == Some(t.job.epoch) && t.job.epoch > 0 => "paused",
        JobStatus::Queued => "queued",
    }
}
