//! A finished image model's test-set picture: its confusion matrix and the test images it
//! gets wrong (for the job page).

use axum::Json;
use axum::extract::{Path, State};
use ndarray::{Array2, s};
use serde::Serialize;

use super::ApiRouter;
use super::error::ErrorBody;
use super::models::load_network;
use super::{AppError, AppState};
use crate::nn::MatMul;
use crate::nn::loss::argmax;
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(get_evaluation))
}

/// Misclassified images returned (the first ones in test-set order).
const MAX_MISCLASSIFIED: usize = 36;
const CHUNK: usize = 1000;

/// A test image the model gets wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Misclassified {
    /// Index in the test set.
    index: usize,
    /// The true class.
    label: u8,
    predicted: usize,
    probabilities: Vec<f32>,
    /// The image, row-major, values in [0, 1].
    pixels: Vec<f32>,
}

/// A model's test-set picture.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    model_id: String,
    dataset: String,
    accuracy: f64,
    /// Rows are true labels, columns predictions.
    confusion: Vec<Vec<u64>>,
    misclassified: Vec<Misclassified>,
}

/// The confusion matrix on the test set and the first misclassified test images (at most 36).
///
/// For models of image datasets.
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
    let row = state
        .store
        .model(&id)
        .await?
        .ok_or_else(|| AppError::not_found("model", &id))?;
    let net = load_network(&state, &id).await?;
    let _permit = state.admit_heavy()?;
    let jobs = state.jobs.clone();
    let dataset = row.dataset.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Evaluation, AppError> {
        let split = jobs
            .datasets()
            .get(&dataset, 0)
            .map_err(|e| AppError::invalid("dataset", e.public_message()))?;
        let test = &split.1;
        if test.image_shape.is_none() {
            return Err(AppError::Invalid {
                field: None,
                message: "evaluation is for image datasets".into(),
            });
        }
        if test.feature_count() != net.spec.input_size || test.classes > net.spec.classes {
            return Err(AppError::Invalid {
                field: None,
                message: "the model does not fit its dataset".into(),
            });
        }
        let classes = net.spec.classes;
        let mm = MatMul::single();
        let mut confusion = vec![vec![0u64; classes]; classes];
        let mut misclassified = Vec::new();
        let mut x = Array2::<f32>::zeros((CHUNK, test.feature_count()));
        let mut labels = Vec::new();
        let all: Vec<usize> = (0..test.len()).collect();
        for chunk in all.chunks(CHUNK) {
            test.gather_into(chunk, &mut x.slice_mut(s![..chunk.len(), ..]), &mut labels);
            let p = net.predict_proba(x.slice(s![..chunk.len(), ..]), &mm);
            for ((row, &label), &index) in p.rows().into_iter().zip(&labels).zip(chunk) {
                let predicted = argmax(row.as_slice().expect("an owned row"));
                confusion[label as usize][predicted] += 1;
                if predicted != label as usize && misclassified.len() < MAX_MISCLASSIFIED {
                    misclassified.push(Misclassified {
                        index,
                        label,
                        predicted,
                        probabilities: row.to_vec(),
                        pixels: test.row_f32(index),
                    });
                }
            }
        }
        let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
        Ok(Evaluation {
            model_id: id,
            dataset,
            accuracy: correct as f64 / test.len().max(1) as f64,
            confusion,
            misclassified,
        })
    })
    .await
    .map_err(anyhow::Error::from)??;
    Ok(Json(result))
}
