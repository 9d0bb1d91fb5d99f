//! The datasets a job can train on.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use crate::data::list_datasets;

pub fn router() -> Router<AppState> {
    Router::new().route("/datasets", get(list_all))
}

async fn list_all(State(state): State<AppState>) -> Json<Value> {
    let dir = state.data_dir.clone();
    // Reading IDX headers touches the disk: off the async runtime.
    let datasets = tokio::task::spawn_blocking(move || list_datasets(&dir))
        .await
        .unwrap_or_default();
    Json(json!({ "datasets": datasets }))
}
