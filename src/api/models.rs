//! Models: list, get, weights download; and the cache that predictions load them through.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use super::{AppError, AppState};
use crate::nn::Network;
use crate::nn::io::from_safetensors;
use crate::store;
use crate::store::models::ModelRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/models", get(list_models))
        .route("/models/{id}", get(get_model))
        .route("/models/{id}/weights", get(get_weights))
}

#[derive(Debug, Serialize)]
pub struct Model {
    pub id: String,
    pub job_id: Option<String>,
    pub dataset: String,
    /// The architecture (input size, classes, layers, activation, ...).
    pub spec: Value,
    /// The JobSpec that trained it, when it was trained here.
    pub job_spec: Option<Value>,
    pub parameters: i64,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub created_at: String,
}

impl From<ModelRow> for Model {
    fn from(r: ModelRow) -> Model {
        Model {
            id: r.id,
            job_id: r.job_id,
            dataset: r.dataset,
            spec: serde_json::from_str(&r.spec).unwrap_or(Value::Null),
            job_spec: r.job_spec.and_then(|s| serde_json::from_str(&s).ok()),
            parameters: r.parameters,
            test_accuracy: r.test_accuracy,
            test_loss: r.test_loss,
            created_at: r.created_at,
        }
    }
}

async fn list_models(
    State(state): State<AppState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let rows = store::models::list(&state.pool, query.get("dataset").map(String::as_str)).await?;
    Ok(Json(
        json!({ "models": rows.into_iter().map(Model::from).collect::<Vec<_>>() }),
    ))
}

async fn get_model(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Model>, AppError> {
    let row = store::models::get(&state.pool, &id)
        .await?
        .ok_or_else(|| AppError::not_found("model", &id))?;
    Ok(Json(Model::from(row)))
}

async fn get_weights(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let bytes = store::models::weights(&state.pool, &id)
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

/// The loaded network of a model, from the cache or the database.
pub async fn load_network(state: &AppState, id: &str) -> Result<Arc<Network>, AppError> {
    if let Some(net) = state.models.lock().expect("model cache lock").get(id) {
        return Ok(Arc::clone(net));
    }
    let bytes = store::models::weights(&state.pool, id)
        .await?
        .ok_or_else(|| AppError::not_found("model", id))?;
    let net = tokio::task::spawn_blocking(move || from_safetensors(&bytes))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored model {id} does not load: {e}")))?;
    let net = Arc::new(net);
    state
        .models
        .lock()
        .expect("model cache lock")
        .put(id.to_string(), Arc::clone(&net));
    Ok(net)
}
