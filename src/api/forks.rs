//! Forks, "same start, one change": `POST /api/v1/jobs/{id}/fork` queues a child that starts
//! from its parent's stored initial weights with the parent's seed (so data order, splits and
//! dropout masks are the same) and differs only by `change`; with `pairs: N`, N-1 further
//! (baseline, child) pairs with seeds seed+1.. share a start each. `GET /api/v1/jobs/{id}/pairs`
//! compares the children with their baselines epoch by epoch.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::routes;

use super::datasets::{Need, resolve_dataset};
use super::error::{ErrorBody, parse_json};
use super::jobs::submit_error;
use super::{ApiRouter, AppError, AppJson, AppState};
use crate::jobs::Job;
use crate::nn::io::{from_safetensors_with_spec, weights_to_safetensors};
use crate::store::jobs::{ForkOf, ForkRole, JobRow};
use crate::train::paired::{self, PairedDifference};
use crate::train::{JobSpec, ValidSpec, initial_network};

/// Pairs one fork may ask for: 2N-1 jobs at most.
pub const MAX_PAIRS: usize = 8;

/// Fields a fork cannot change: it starts from its parent's weights, so the initialisation
/// would change nothing, and a k-fold run draws each fold's start itself.
const FIXED: [(&str, &str); 3] = [
    (
        "init",
        "a fork starts from its parent's initial weights, so the initialisation would change nothing",
    ),
    (
        "init_std",
        "a fork starts from its parent's initial weights, so the initialisation would change nothing",
    ),
    (
        "k_folds",
        "a k-fold run draws each fold's start weights itself; fork a single run",
    ),
];

/// Fields that can change the weight shapes, in the order a 422 names them.
const STRUCTURAL: [&str; 5] = ["dataset", "hidden_layers", "activation", "maxout_pieces", "batch_norm"];

/// Fields whose standard values depend on another field's choice.
const DEPENDENT: [(&str, &[&str]); 2] = [
    ("activation", &["activation_alpha"]),
    ("optimizer", &["momentum", "rho", "beta1", "beta2", "eps"]),
];

/// The metrics compared by `/pairs`, and whether higher is better.
const COMPARED: [(&str, bool); 4] = [
    ("train_loss", false),
    ("train_accuracy", true),
    ("val_loss", false),
    ("val_accuracy", true),
];

pub fn router() -> ApiRouter {
    let writes = ApiRouter::new().routes(routes!(fork_job));
    ApiRouter::new()
        .routes(routes!(get_pairs))
        .merge(super::writes(writes, super::Body::Json))
}

fn one() -> usize {
    1
}

/// `POST /api/v1/jobs/{id}/fork`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkRequest {
    /// JobSpec fields to change (any that keep the weight shapes); `{}` reproduces the parent.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub change: Map<String, Value>,
    /// Pairs to run, 1..=8: the parent and the child, plus N-1 (baseline, child) pairs with
    /// seeds seed+1...
    #[serde(default = "one")]
    pub pairs: usize,
}

/// The jobs a fork queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ForkCreated {
    /// The first child (pair 0), whose `/pairs` compares them all.
    pub child: Job,
    /// Every job queued: the child, then each further pair's baseline and child.
    pub jobs: Vec<Job>,
}

/// Fork a job: same start, one change.
///
/// The child is the parent's spec with `change` applied. It starts from the parent's stored
/// initial weights (equal `init_sha256`) with the parent's seed, so data order, splits and
/// dropout masks are the same; `{"change": {}}` reproduces the parent's metrics exactly.
/// Nothing is queued unless all the jobs fit in the queue.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/fork", tag = "jobs",
    params(("id" = String, Path, description = "The parent job's id")),
    request_body = ForkRequest,
    responses(
        (status = 202, description = "Queued", body = ForkCreated,
            headers(("Location" = String, description = "`/api/v1/jobs/{child id}`"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The parent has not started (its initial weights are stored when it starts) \
            or is a k-fold job", body = ErrorBody),
        (status = 422, description = "A bad `change` (`field` names it, e.g. `change.hidden_layers` for a change \
            of the weight shapes) or `pairs`", body = ErrorBody),
        (status = 429, description = "The queue has no room for the fork's jobs", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn fork_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(request): AppJson<ForkRequest>,
) -> Result<Response, AppError> {
    if !(1..=MAX_PAIRS).contains(&request.pairs) {
        return Err(AppError::invalid("pairs", format!("an integer in 1..={MAX_PAIRS}")));
    }
    for (field, why) in FIXED {
        if request.change.contains_key(field) {
            return Err(AppError::invalid(format!("change.{field}"), why));
        }
    }
    let parent = state
        .store
        .job(&id)
        .await?
        .ok_or_else(|| AppError::not_found("job", &id))?;
    let parent_spec: JobSpec = serde_json::from_str(&parent.spec)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored spec of job {id}: {e}")))?;
    if parent_spec.k_folds.is_some() {
        return Err(AppError::Conflict(format!(
            "job {id} is a k-fold job, which draws each fold's start weights itself; fork a single run"
        )));
    }
    let child_spec = changed_spec(&parent_spec, &request.change)?;
    let limits = state.config.limits.spec_limits();
    let in_change = |e: crate::train::SpecError| {
        let field = if request.change.contains_key(&e.field) {
            format!("change.{}", e.field)
        } else {
            e.field
        };
        AppError::invalid(field, e.message)
    };
    child_spec.validate_with(&limits).map_err(in_change)?;
    let info = resolve_dataset(&state, &child_spec.dataset, Need::Data)
        .await
        .map_err(|e| match e {
            AppError::Invalid { message, .. } => AppError::invalid("change.dataset", message),
            e => e,
        })?;
    let child_spec = child_spec.validate_for(&limits, &info.shape()).map_err(in_change)?;
    let parent_spec = ValidSpec::trusted(parent_spec);
    let changed = changed_fields(&parent_spec, &child_spec);
    let start = state.store.init_weights(&id).await?.ok_or_else(|| {
        AppError::Conflict(format!(
            "job {id} has not started training: its initial weights are stored when it starts; fork it then"
        ))
    })?;

    // Checking the shapes and drawing the further pairs' starts is CPU work.
    let _permit = state.admit_heavy().await?;
    let datasets = std::sync::Arc::clone(&state.jobs);
    let (child, pairs) = (child_spec.clone(), request.pairs);
    let changed_for_check = changed.clone();
    let plan = tokio::task::spawn_blocking(move || {
        plan_pairs(&datasets, &parent_spec, &child, &changed_for_check, start, pairs)
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))??;

    let fork_id = uuid::Uuid::now_v7().to_string();
    let changed_json = serde_json::to_string(&changed).expect("names serialise");
    let mut with_seed = changed.clone();
    if !with_seed.iter().any(|f| f == "seed") {
        with_seed.push("seed".into());
    }
    let with_seed_json = serde_json::to_string(&with_seed).expect("names serialise");
    let baseline_json = r#"["seed"]"#;
    let ids: Vec<String> = (0..plan.len())
        .map(|i| {
            if i == 0 {
                fork_id.clone()
            } else {
                uuid::Uuid::now_v7().to_string()
            }
        })
        .collect();
    let jobs: Vec<(&str, &ValidSpec, Option<ForkOf>)> = plan
        .iter()
        .zip(&ids)
        .map(|(planned, job_id)| {
            let changed_json = match (planned.pair, planned.role) {
                (0, _) => changed_json.as_str(),
                (_, ForkRole::Baseline) => baseline_json,
                (_, ForkRole::Child) => with_seed_json.as_str(),
            };
            let fork = ForkOf {
                parent_id: &id,
                changed_json,
                fork_id: &fork_id,
                pair: planned.pair,
                role: planned.role,
                start_weights: &planned.start,
            };
            (job_id.as_str(), &planned.spec, Some(fork))
        })
        .collect();
    let rows = state.jobs.submit_all(&jobs).await.map_err(submit_error)?;
    let jobs: Vec<Job> = rows.into_iter().map(Job::from).collect();
    let location = format!("/api/v1/jobs/{fork_id}");
    let body = ForkCreated {
        child: jobs[0].clone(),
        jobs,
    };
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(body)).into_response())
}

/// The parent's spec with `change` applied, parsed as a JobSpec (a bad value is a 422
/// naming `change.<field>`).
fn changed_spec(parent: &JobSpec, change: &Map<String, Value>) -> Result<JobSpec, AppError> {
    let Value::Object(mut merged) = serde_json::to_value(parent).expect("a spec serialises") else {
        unreachable!("a JobSpec is an object")
    };
    // Some values belong to another field (the parent's spec shows the ones it used): a
    // change of that field alone takes the new choice's standard values.
    for (field, dependents) in DEPENDENT {
        if change.contains_key(field) {
            for d in dependents.iter().filter(|d| !change.contains_key(**d)) {
                merged.insert(d.to_string(), Value::Null);
            }
        }
    }
    for (field, value) in change {
        merged.insert(field.clone(), value.clone());
    }
    let bytes = serde_json::to_vec(&merged).expect("JSON serialises");
    parse_json::<JobSpec>(&bytes).map_err(|e| match e {
        AppError::Invalid {
            field: Some(field),
            message,
        } => AppError::invalid(format!("change.{field}"), message),
        e => e,
    })
}

/// The JobSpec fields whose values differ, in the spec's order.
fn changed_fields(parent: &JobSpec, child: &JobSpec) -> Vec<String> {
    let (Value::Object(a), Value::Object(b)) = (
        serde_json::to_value(parent).expect("a spec serialises"),
        serde_json::to_value(child).expect("a spec serialises"),
    ) else {
        unreachable!("a JobSpec is an object")
    };
    a.iter()
        .filter(|(field, value)| b.get(*field) != Some(value))
        .map(|(field, _)| field.clone())
        .collect()
}

/// One job of a fork: its spec, its place and the weights it starts from.
struct Planned {
    spec: ValidSpec,
    pair: i64,
    role: ForkRole,
    start: Vec<u8>,
}

/// The child from the parent's start, and for each further pair k a baseline (the parent's
/// spec, seed + k) and a child (seed + k) sharing the start that baseline would draw.
/// Refuses a change of the weight shapes, naming the field.
fn plan_pairs(
    jobs: &crate::jobs::Jobs,
    parent: &ValidSpec,
    child: &ValidSpec,
    changed: &[String],
    start: Vec<u8>,
    pairs: usize,
) -> Result<Vec<Planned>, AppError> {
    let data = |spec: &ValidSpec| {
        jobs.datasets()
            .get(&spec.dataset, spec.seed)
            .map_err(|e| AppError::invalid("change.dataset", e.public_message()))
    };
    let split = data(child)?;
    let model = child.model_spec(split.0.feature_count(), split.0.classes);
    if let Err(e) = from_safetensors_with_spec(&model, &start) {
        let field = STRUCTURAL
            .iter()
            .find(|f| changed.iter().any(|c| c == *f))
            .map_or("change".to_string(), |f| format!("change.{f}"));
        return Err(AppError::invalid(
            field,
            format!("changes the weight shapes ({e}); a fork keeps its parent's, to start from its weights"),
        ));
    }
    let mut plan = vec![Planned {
        spec: child.clone(),
        pair: 0,
        role: ForkRole::Child,
        start,
    }];
    for k in 1..pairs as u64 {
        let reseeded = |spec: &ValidSpec| {
            let mut spec = spec.clone().into_inner();
            spec.seed = spec.seed.wrapping_add(k);
            ValidSpec::trusted(spec)
        };
        let (baseline, child) = (reseeded(parent), reseeded(child));
        let start = weights_to_safetensors(&initial_network(&baseline, &data(&baseline)?.0));
        plan.push(Planned {
            spec: baseline,
            pair: k as i64,
            role: ForkRole::Baseline,
            start: start.clone(),
        });
        plan.push(Planned {
            spec: child,
            pair: k as i64,
            role: ForkRole::Child,
            start,
        });
    }
    Ok(plan)
}

/// One pair of a fork.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pair {
    pub pair: i64,
    pub baseline_id: String,
    pub child_id: String,
    pub baseline_status: crate::jobs::JobStatus,
    pub child_status: crate::jobs::JobStatus,
}

/// The paired differences (child - baseline) at one epoch, over the pairs that reached it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EpochDifferences {
    /// 1-based epoch of the run.
    pub epoch: i64,
    /// Per metric (`train_loss`, `train_accuracy`, `val_loss`, `val_accuracy`), when both
    /// sides of at least one pair have it.
    pub metrics: BTreeMap<String, PairedDifference>,
}

/// `GET /api/v1/jobs/{id}/pairs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PairsSummary {
    pub fork_id: String,
    pub parent_id: String,
    /// The fields the child changed.
    pub changed: Vec<String>,
    pub pairs: Vec<Pair>,
    pub epochs: Vec<EpochDifferences>,
}

/// A fork's pairs compared epoch by epoch: for each metric the mean paired difference
/// (child - baseline), a 95% bootstrap interval over the pairs, and how many pairs improved.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/pairs", tag = "jobs",
    params(("id" = String, Path, description = "Any job of the fork (its first child, usually)")),
    responses(
        (status = 200, description = "The comparison", body = PairsSummary),
        (status = 404, description = "No such job, or the job is not a fork", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_pairs(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PairsSummary>, AppError> {
    let row = state
        .store
        .job(&id)
        .await?
        .ok_or_else(|| AppError::not_found("job", &id))?;
    let (Some(fork_id), Some(parent_id)) = (row.fork_id, row.parent_id) else {
        return Err(AppError::NotFound(format!(
            "job {id} is not a fork: fork it with POST /api/v1/jobs/{id}/fork"
        )));
    };
    let members = state.store.fork_members(&fork_id).await?;
    let parent = state.store.job(&parent_id).await?;
    let first_child = members.iter().find(|m| m.fork_pair == Some(0));
    let mut pairs: Vec<(JobRow, JobRow)> = Vec::new();
    if let (Some(parent), Some(child)) = (parent, first_child) {
        pairs.push((parent, child.clone()));
    }
    for k in 1..=MAX_PAIRS as i64 {
        let of = |role: ForkRole| {
            members
                .iter()
                .find(|m| m.fork_pair == Some(k) && m.fork_role == Some(role))
                .cloned()
        };
        if let (Some(b), Some(c)) = (of(ForkRole::Baseline), of(ForkRole::Child)) {
            pairs.push((b, c));
        }
    }
    // epoch -> metric -> differences over the pairs
    let mut differences: BTreeMap<i64, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    for (baseline, child) in &pairs {
        let b = state.store.epochs_since(&baseline.id, 0).await?;
        let c = state.store.epochs_since(&child.id, 0).await?;
        for (b, c) in b.iter().zip(&c) {
            let by_name = |row: &crate::store::metrics::EpochRow, name: &str| match name {
                "train_loss" => row.train_loss,
                "train_accuracy" => row.train_accuracy,
                "val_loss" => row.val_loss,
                _ => row.val_accuracy,
            };
            for (name, _) in COMPARED {
                if let (Some(x), Some(y)) = (by_name(b, name), by_name(c, name)) {
                    differences
                        .entry(b.epochs_done)
                        .or_default()
                        .entry(name)
                        .or_default()
                        .push(y - x);
                }
            }
        }
    }
    let epochs = differences
        .into_iter()
        .map(|(epoch, by_metric)| EpochDifferences {
            epoch,
            metrics: by_metric
                .into_iter()
                .filter_map(|(name, d)| {
                    let higher = COMPARED.iter().any(|(n, h)| *n == name && *h);
                    paired::summarise(&d, higher).map(|s| (name.to_string(), s))
                })
                .collect(),
        })
        .collect();
    let changed = first_child
        .and_then(|c| c.changed.as_deref())
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    Ok(Json(PairsSummary {
        fork_id,
        parent_id,
        changed,
        pairs: pairs
            .iter()
            .map(|(b, c)| Pair {
                pair: c.fork_pair.unwrap_or(0),
                baseline_id: b.id.clone(),
                child_id: c.id.clone(),
                baseline_status: b.status,
                child_status: c.status,
            })
            .collect(),
        epochs,
    }))
}
