//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(get_health))
        .route("/readyz", get(get_ready))
}

async fn get_health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers and the migrations are applied.
async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let applied: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
        .fetch_one(&state.pool)
        .await;
    let expected = sqlx::migrate!("./migrations").iter().count() as i64;
    match applied {
        Ok(n) if n >= expected => (StatusCode::OK, Json(json!({"status": "ready"}))),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready"}))),
    }
}
