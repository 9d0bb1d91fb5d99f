//! A model's report on a labelled set (`crate::models`): its dataset's test set, or the saved
//! drawings; accuracy, confusion matrix and the items it gets wrong.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::ApiRouter;
use super::error::ErrorBody;
use super::{AppError, AppJson, AppState};
use crate::models::{EvalSet, Evaluation};
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(get_evaluation))
        .routes(routes!(evaluate))
}

/// Misclassified items on the job page's test-set picture.
const PAGE_MISCLASSIFIED: usize = 36;
/// Misclassified items one evaluation returns at most (each carries its 784 pixels).
const MAX_MISCLASSIFIED: usize = 100;

/// The confusion matrix on the test set and the first misclassified test images (at most 36).
///
/// For models of image datasets; `POST .../evaluate {"set":"test"}` with more items.
#[utoipa::path(get, path = "/api/v1/models/{id}/evaluation", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "The evaluation", body = Evaluation),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 422, description = "Not an image dataset, the dataset does not load, or the model does not fit it",
            body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn get_evaluation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Evaluation>, AppError> {
    Ok(Json(
        state.models.evaluate(&id, EvalSet::Test, PAGE_MISCLASSIFIED).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"set": "drawings"}))]
pub struct EvaluateRequest {
    /// `test` (the model's dataset's test set) or `drawings` (the saved drawings).
    set: EvalSet,
}

/// A model's accuracy, confusion matrix and first misclassified items (at most 100, each
/// with its image) on its test set or on the saved drawings.
#[utoipa::path(post, path = "/api/v1/models/{id}/evaluate", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    request_body = EvaluateRequest,
    responses(
        (status = 200, description = "The evaluation", body = Evaluation),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "An unknown set; no drawings saved; a model that is not a 28x28 digit \
            classifier (drawings) or not of an image dataset (test)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn evaluate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(req): AppJson<EvaluateRequest>,
) -> Result<Json<Evaluation>, AppError> {
    Ok(Json(state.models.evaluate(&id, req.set, MAX_MISCLASSIFIED).await?))
}
