//! The augmentation preview: an MNIST test digit and augmented draws of it, made by the
//! trainer's own `augment_batch` with a JobSpec's `augment` settings (and their checks).

use axum::Json;
use axum::extract::State;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiRouter, AppError, AppJson, AppState};
use crate::data::{AugmentConfig, augment_batch};
use crate::rng::rng_from_seed;
use crate::train::JobSpec;

/// Augmented draws one request may ask for.
pub const MAX_COUNT: usize = 32;

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(augment_preview))
}

fn default_count() -> usize {
    8
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"index": 0, "count": 8, "seed": 0,
    "augment": {"max_shift_px": 2, "max_rotation_deg": 15, "max_scale": 0.1}}))]
pub struct AugmentRequest {
    /// Which MNIST test image.
    #[serde(default)]
    pub index: usize,
    /// 1..=32 draws.
    #[serde(default = "default_count")]
    pub count: usize,
    #[serde(default)]
    pub seed: u64,
    /// As a JobSpec's `augment` (same limits).
    #[serde(default)]
    pub augment: AugmentConfig,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AugmentPreview {
    pub label: u8,
    /// 28 rows of 28 values in [0, 1].
    pub original: Vec<Vec<f32>>,
    pub augmented: Vec<Vec<Vec<f32>>>,
}

/// What data augmentation does to a digit: the image and `count` augmented draws of it.
#[utoipa::path(post, path = "/api/v1/experiments/augment", tag = "experiments",
    request_body = AugmentRequest,
    responses(
        (status = 200, description = "The digit and its draws", body = AugmentPreview),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A bad `augment` value, `count` or `index`, or MNIST is not installed", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody),
    ))]
pub(crate) async fn augment_preview(
    State(state): State<AppState>,
    AppJson(req): AppJson<AugmentRequest>,
) -> Result<Json<AugmentPreview>, AppError> {
    if !(1..=MAX_COUNT).contains(&req.count) {
        return Err(AppError::invalid("count", format!("an integer in 1..={MAX_COUNT}")));
    }
    let spec = JobSpec {
        dataset: "mnist".into(),
        augment: Some(req.augment.clone()),
        ..JobSpec::default()
    };
    spec.validate().map_err(|e| AppError::invalid(e.field, e.message))?;
    let _permit = state.admit_heavy().await?;
    let jobs = std::sync::Arc::clone(&state.jobs);
    tokio::task::spawn_blocking(move || {
        let split = jobs
            .datasets()
            .get("mnist", 0)
            .map_err(|e| AppError::invalid("dataset", e.public_message()))?;
        let test = &split.1;
        if req.index >= test.len() {
            return Err(AppError::invalid("index", format!("an index in 0..{}", test.len())));
        }
        let (rows, cols) = test.image_shape.unwrap_or((28, 28));
        let pixels = test.row_f32(req.index);
        let mut batch = Array2::from_shape_fn((req.count, rows * cols), |(_, j)| pixels[j]);
        augment_batch(
            &mut batch.view_mut(),
            rows,
            cols,
            &req.augment,
            &mut rng_from_seed(req.seed),
        );
        let image = |flat: &[f32]| flat.chunks(cols).map(<[f32]>::to_vec).collect::<Vec<_>>();
        Ok(Json(AugmentPreview {
            label: test.labels[req.index],
            original: image(&pixels),
            augmented: batch.rows().into_iter().map(|r| image(&r.to_vec())).collect(),
        }))
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?
}
