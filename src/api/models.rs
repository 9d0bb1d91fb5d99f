//! Models: list, get, delete, weights download.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::ApiRouter;
use super::error::ErrorBody;
use super::{AppError, AppState};
use crate::nn::ModelSpec;
use crate::store::models::ModelRow;
use crate::train::JobSpec;
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_models))
        .routes(routes!(get_model))
        .routes(routes!(get_weights))
        .merge(super::writes(
            ApiRouter::new().routes(routes!(delete_model)),
            super::Body::Json,
        ))
}

/// A trained (or imported) model.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Model {
    pub id: String,
    /// The job that trained it; null for an imported model.
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// The dataset it was trained on, or `custom` for an imported model without one.
    pub dataset: String,
    /// The architecture (input size, classes, layers, activation, ...).
    #[schema(value_type = ModelSpec)]
    pub spec: Value,
    /// The JobSpec that trained it, when it was trained here.
    #[schema(value_type = Option<JobSpec>, required = true)]
    pub job_spec: Option<Value>,
    /// SHA-256 of the weights file (`/weights.safetensors`): equal weights, equal digest.
    pub weights_sha256: String,
    pub parameters: i64,
    #[schema(required = true)]
    pub test_accuracy: Option<f64>,
    #[schema(required = true)]
    pub test_loss: Option<f64>,
    pub created_at: String,
}

/// `GET /api/v1/models`: newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    #[serde(serialize_with = "super::via_value")]
    pub models: Vec<Model>,
}

impl From<ModelRow> for Model {
    fn from(r: ModelRow) -> Model {
        Model {
            id: r.id,
            job_id: r.job_id,
            dataset: r.dataset,
            spec: serde_json::from_str(&r.spec).unwrap_or(Value::Null),
            job_spec: r.job_spec.and_then(|s| serde_json::from_str(&s).ok()),
            weights_sha256: r.weights_sha256,
            parameters: r.parameters,
            test_accuracy: r.test_accuracy,
            test_loss: r.test_loss,
            created_at: r.created_at,
        }
    }
}

/// The trained and imported models.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    params(("dataset" = Option<String>, Query, description = "Only models of this dataset")),
    responses(
        (status = 200, description = "The models", body = ModelList),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn list_models(
    State(state): State<AppState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<ModelList>, AppError> {
    let rows = state.store.models(query.get("dataset").map(String::as_str)).await?;
    Ok(Json(ModelList {
        models: rows.into_iter().map(Model::from).collect(),
    }))
}

/// One model.
#[utoipa::path(get, path = "/api/v1/models/{id}", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "The model", body = Model),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_model(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Model>, AppError> {
    let row = state
        .store
        .model(&id)
        .await?
        .ok_or_else(|| AppError::not_found("model", &id))?;
    Ok(Json(Model::from(row)))
}

/// Delete a model (its job, if any, keeps its result's numbers; the weights are gone).
#[utoipa::path(delete, path = "/api/v1/models/{id}", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn delete_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    if !state.store.delete_model(&id).await? {
        return Err(AppError::not_found("model", &id));
    }
    state.models.forget(&id);
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The weights as a safetensors file.
///
/// Tensor names follow PyTorch's `nn.Linear`: `dense.{i}.weight` [out, in], `dense.{i}.bias`
/// [out], and for batch norm `bn.{i}.weight`, `bn.{i}.bias`, `bn.{i}.running_mean`,
/// `bn.{i}.running_var`; the architecture is in the file's metadata.
#[utoipa::path(get, path = "/api/v1/models/{id}/weights", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "The safetensors file", body = Vec<u8>, content_type = "application/octet-stream",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"{id}.safetensors\"`"))),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_weights(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let bytes = state
        .store
        .model_weights(&id)
        .await?
        .ok_or_else(|| AppError::not_found("model", &id))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.safetensors\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
