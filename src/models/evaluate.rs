//! A model's report on a labelled set: the test set of its dataset, or the saved drawings
//! (the domain gap between MNIST and real drawings), and the drawings leaderboard.

use std::sync::Arc;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{Models, ServeError};
use crate::data::{Dataset, Features};
use crate::nn::{MatMul, Network};
use crate::store::drawings::{DRAWING_PIXELS, DrawingQuery, DrawingRow};
use crate::store::models::ModelRow;
use crate::train::{ClassReport, classify};

/// MNIST models ranked by one leaderboard (the newest): each costs a pass over every drawing.
pub const MAX_LEADERBOARD_MODELS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvalSet {
    /// The test set of the model's dataset (image datasets).
    Test,
    /// The saved drawings (models of 784 inputs and 10 classes).
    Drawings,
}

/// An item the model gets wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvalItem {
    /// Position in the set (test-set order; drawings oldest first).
    pub index: usize,
    /// The drawing's id, for the drawings set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The true class.
    pub label: u8,
    pub predicted: usize,
    /// The probability of the predicted class.
    pub probability: f32,
    pub probabilities: Vec<f32>,
    /// The image, row-major, values in [0, 1].
    pub pixels: Vec<f32>,
}

/// Accuracy, confusion matrix and the first misclassified items of a model on a set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    pub model_id: String,
    /// The model's dataset.
    pub dataset: String,
    pub set: EvalSet,
    pub count: usize,
    pub accuracy: f64,
    /// Rows are true labels, columns predictions.
    pub confusion: Vec<Vec<u64>>,
    pub misclassified: Vec<EvalItem>,
}

/// A model's accuracy on the saved drawings beside its MNIST test accuracy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeaderboardEntry {
    pub model_id: String,
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// On the saved drawings; null when none are saved.
    #[schema(required = true)]
    pub accuracy: Option<f64>,
    pub correct: u64,
    #[schema(required = true)]
    pub test_accuracy: Option<f64>,
    pub parameters: i64,
    pub created_at: String,
}

impl Models {
    /// The model's report on `set`, with at most `max_misses` misclassified items.
    pub async fn evaluate(&self, id: &str, set: EvalSet, max_misses: usize) -> Result<Evaluation, ServeError> {
        let row = self
            .store
            .model(id)
            .await?
            .ok_or_else(|| ServeError::NotFound(id.to_string()))?;
        let net = self.load(id).await?;
        let drawings = match set {
            EvalSet::Drawings => {
                check_drawing_model(&net)?;
                let rows = self.saved_drawings().await?;
                if rows.is_empty() {
                    return Err(ServeError::invalid("set", "no drawings are saved yet"));
                }
                Some(rows)
            }
            EvalSet::Test => None,
        };
        let _permit = self.admit().await?;
        let jobs = Arc::clone(&self.jobs);
        tokio::task::spawn_blocking(move || match drawings {
            Some(rows) => {
                let data = drawings_dataset(&rows);
                let report = classify(&net, &data, &MatMul::single(), max_misses);
                Ok(evaluation(row, set, &data, report, Some(&rows)))
            }
            None => {
                let split = jobs
                    .datasets()
                    .get(&row.dataset, 0)
                    .map_err(|e| ServeError::invalid("dataset", e.public_message()))?;
                let test = &split.1;
                // The model's fault, not the request's: no field to name.
                let unfit = |message: &str| ServeError::Invalid {
                    field: None,
                    message: message.into(),
                };
                if test.image_shape.is_none() {
                    return Err(unfit("evaluation on a test set is for image datasets"));
                }
                if test.feature_count() != net.spec.input_size || test.classes > net.spec.classes {
                    return Err(unfit("the model does not fit its dataset"));
                }
                let report = classify(&net, test, &MatMul::single(), max_misses);
                Ok(evaluation(row, set, test, report, None))
            }
        })
        .await
        .map_err(anyhow::Error::from)?
    }

    /// The newest [`MAX_LEADERBOARD_MODELS`] MNIST models ranked by accuracy on the saved
    /// drawings (then by test accuracy), and the number of drawings.
    pub async fn drawings_leaderboard(&self) -> Result<(usize, Vec<LeaderboardEntry>), ServeError> {
        let rows = self.store.models(Some("mnist")).await?;
        let drawings = self.saved_drawings().await?;
        let mut models: Vec<(ModelRow, Arc<Network>)> = Vec::new();
        for row in rows {
            if models.len() == MAX_LEADERBOARD_MODELS {
                break;
            }
            let net = self.load_uncached(&row.id).await?;
            if check_drawing_model(&net).is_ok() {
                models.push((row, net));
            }
        }
        let _permit = self.admit().await?;
        let count = drawings.len();
        let mut entries = tokio::task::spawn_blocking(move || {
            let data = drawings_dataset(&drawings);
            models
                .into_iter()
                .map(|(row, net)| {
                    let (accuracy, correct) = if data.is_empty() {
                        (None, 0)
                    } else {
                        let report = classify(&net, &data, &MatMul::single(), 0);
                        (Some(report.accuracy), report.correct)
                    };
                    LeaderboardEntry {
                        model_id: row.id,
                        job_id: row.job_id,
                        accuracy,
                        correct,
                        test_accuracy: row.test_accuracy,
                        parameters: row.parameters,
                        created_at: row.created_at,
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(anyhow::Error::from)?;
        let key = |e: &LeaderboardEntry| (e.accuracy.unwrap_or(-1.0), e.test_accuracy.unwrap_or(-1.0));
        entries.sort_by(|a, b| key(b).partial_cmp(&key(a)).unwrap_or(std::cmp::Ordering::Equal));
        Ok((count, entries))
    }

    async fn saved_drawings(&self) -> Result<Vec<DrawingRow>, ServeError> {
        let query = DrawingQuery {
            label: None,
            limit: self.max_drawings as i64,
            newest_first: false,
        };
        Ok(self.store.drawings(query).await?)
    }
}

/// Drawings are 28x28 digits: a model must take 784 inputs and know the 10 digits.
fn check_drawing_model(net: &Network) -> Result<(), ServeError> {
    if net.spec.input_size != DRAWING_PIXELS || net.spec.classes < 10 {
        return Err(ServeError::invalid(
            "set",
            "drawings are 28x28 digits: the model must take 784 inputs and have 10 classes",
        ));
    }
    Ok(())
}

/// The drawings as a dataset (u8 pixels, as MNIST's), in the order given.
fn drawings_dataset(rows: &[DrawingRow]) -> Dataset {
    let pixels: Vec<u8> = rows.iter().flat_map(|r| r.pixels.iter().copied()).collect();
    Dataset {
        name: "drawings".into(),
        features: Features::U8(Array2::from_shape_vec((rows.len(), DRAWING_PIXELS), pixels).expect("784 bytes each")),
        labels: rows.iter().map(|r| r.label as u8).collect(),
        classes: 10,
        image_shape: Some((28, 28)),
    }
}

fn evaluation(
    row: ModelRow,
    set: EvalSet,
    data: &Dataset,
    report: ClassReport,
    drawings: Option<&[DrawingRow]>,
) -> Evaluation {
    let misclassified = report
        .misses
        .into_iter()
        .map(|m| EvalItem {
            index: m.index,
            id: drawings.map(|d| d[m.index].id.clone()),
            label: m.label,
            predicted: m.predicted,
            probability: m.probabilities[m.predicted],
            probabilities: m.probabilities,
            pixels: data.row_f32(m.index),
        })
        .collect();
    Evaluation {
        model_id: row.id,
        dataset: row.dataset,
        set,
        count: report.count,
        accuracy: report.accuracy,
        confusion: report.confusion,
        misclassified,
    }
}
