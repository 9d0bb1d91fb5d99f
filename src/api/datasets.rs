//! The datasets a job can train on.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{AppError, AppState};
use crate::data::{DataError, list_datasets};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/datasets", get(list_all))
        .route("/datasets/{name}/sample", get(sample))
}

const MAX_SAMPLE: usize = 1000;

/// The first `n` training rows (and labels) of a dataset, e.g. the points a decision
/// boundary is drawn over. Generated sets depend on `seed`, as a job's do.
async fn sample(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let n = match query.get("n").map(|v| v.parse::<usize>()) {
        None => 300,
        Some(Ok(n)) if (1..=MAX_SAMPLE).contains(&n) => n,
        _ => return Err(AppError::invalid("n", format!("an integer in 1..={MAX_SAMPLE}"))),
    };
    let seed = match query.get("seed").map(|v| v.parse::<u64>()) {
        None => 42,
        Some(Ok(seed)) => seed,
        Some(Err(_)) => return Err(AppError::invalid("seed", "a non-negative integer")),
    };
    let jobs = state.jobs.clone();
    let split = tokio::task::spawn_blocking(move || jobs.datasets().get(&name, seed).map_err(|e| (name, e)))
        .await
        .map_err(anyhow::Error::from)?;
    let split = match split {
        Ok(split) => split,
        Err((name, DataError::UnknownDataset(_))) => return Err(AppError::not_found("dataset", &name)),
        Err((_, e)) => return Err(AppError::invalid("name", e.to_string())),
    };
    let train = &split.0;
    let n = n.min(train.len());
    let inputs: Vec<Vec<f32>> = (0..n).map(|i| train.row_f32(i)).collect();
    Ok(Json(
        json!({"name": train.name, "inputs": inputs, "labels": &train.labels[..n]}),
    ))
}

async fn list_all(State(state): State<AppState>) -> Json<Value> {
    let dir = state.data_dir.clone();
    // Reading IDX headers touches the disk: off the async runtime.
    let datasets = tokio::task::spawn_blocking(move || list_datasets(&dir))
        .await
        .unwrap_or_default();
    Json(json!({ "datasets": datasets }))
}
