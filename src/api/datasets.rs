//! The datasets a job can train on, and the lookup of a dataset named in a job or an import.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use super::ApiRouter;
use super::error::ErrorBody;
use super::{AppError, AppState};
use crate::data::{DataError, DatasetInfo, list_datasets};
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(list_all)).routes(routes!(sample))
}

const MAX_SAMPLE: usize = 1000;

/// `GET /api/v1/datasets`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DatasetList {
    #[serde(serialize_with = "super::via_value")]
    pub datasets: Vec<DatasetInfo>,
}

/// The first training rows of a dataset and their labels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DatasetSample {
    /// One row of features per sample (pixels in [0, 1] for images).
    #[serde(serialize_with = "super::via_value")]
    pub inputs: Vec<Vec<f32>>,
    /// The class of each row.
    pub labels: Vec<u8>,
    pub name: String,
}

/// The first `n` training rows (and labels) of a dataset.
///
/// E.g. the points a decision boundary is drawn over. Generated sets depend on `seed`, as a
/// job's do.
#[utoipa::path(get, path = "/api/v1/datasets/{name}/sample", tag = "datasets",
    params(
        ("name" = String, Path, description = "Dataset name, e.g. `spiral`"),
        ("n" = Option<usize>, Query, description = "Rows, 1..=1000 (default 300)", minimum = 1, maximum = 1000),
        ("seed" = Option<u64>, Query, description = "Seed of generated sets (default 42)"),
    ),
    responses(
        (status = 200, description = "The first rows", body = DatasetSample),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "Bad `n` or `seed`, or the dataset does not load", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn sample(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<DatasetSample>, AppError> {
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
        Err((_, e)) => return Err(AppError::invalid("name", e.public_message())),
    };
    let train = &split.0;
    let n = n.min(train.len());
    let inputs: Vec<Vec<f32>> = (0..n).map(|i| train.row_f32(i)).collect();
    Ok(Json(DatasetSample {
        name: train.name.clone(),
        inputs,
        labels: train.labels[..n].to_vec(),
    }))
}

/// The datasets with shapes, sizes and whether they are installed.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets",
    responses((status = 200, description = "Every dataset this server knows", body = DatasetList)))]
pub(crate) async fn list_all(State(state): State<AppState>) -> Json<DatasetList> {
    let dir = state.data_dir.clone();
    // Reading IDX headers touches the disk: off the async runtime.
    let datasets = tokio::task::spawn_blocking(move || list_datasets(&dir))
        .await
        .unwrap_or_default();
    Json(DatasetList { datasets })
}

/// What a caller needs of a dataset it looks up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// Its shapes only: an import sizes a model by them, so the data need not be installed.
    /// An unknown name is quoted back.
    Shapes,
    /// Its data: a job trains on them, so they must be installed. An unknown name is
    /// answered with the names there are.
    Data,
}

/// The dataset `name` from `list_datasets`, or a 422 on `dataset` when it is unknown (or,
/// when its data are needed, not installed).
pub(super) async fn resolve_dataset(state: &AppState, name: &str, need: Need) -> Result<DatasetInfo, AppError> {
    let dir = state.data_dir.clone();
    // Reading IDX headers touches the disk: off the async runtime.
    let datasets = tokio::task::spawn_blocking(move || list_datasets(&dir))
        .await
        .unwrap_or_default();
    let Some(info) = datasets.iter().find(|d| d.name == name) else {
        let message = match need {
            Need::Shapes => format!("unknown dataset {name:?}"),
            Need::Data => {
                let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
                format!("unknown dataset; one of {}", names.join(", "))
            }
        };
        return Err(AppError::invalid("dataset", message));
    };
    if need == Need::Data && !info.available {
        return Err(AppError::invalid(
            "dataset",
            format!("dataset {name} is not installed here"),
        ));
    }
    Ok(info.clone())
}
