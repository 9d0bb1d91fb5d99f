//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::ApiRouter;
use super::AppState;
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(get_health)).routes(routes!(get_ready))
}

/// `{"status": ...}`: `ok` (alive), `ready` or `not ready`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    #[schema(examples("ok", "ready", "not ready"))]
    pub status: &'static str,
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive", body = HealthStatus, example = json!({"status": "ok"}))))]
pub(crate) async fn get_health() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// Ready when the database answers and the migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "The database answers and every migration is applied", body = HealthStatus,
        example = json!({"status": "ready"})),
    (status = 503, description = "Not ready (this body, not the error shape)", body = HealthStatus,
        example = json!({"status": "not ready"})),
))]
pub(crate) async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<HealthStatus>) {
    if state.database_ready().await {
        (StatusCode::OK, Json(HealthStatus { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthStatus { status: "not ready" }),
        )
    }
}
