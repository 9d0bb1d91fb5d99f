//! The lecture's small synchronous experiments: a perceptron's truth table and the
//! weight-initialisation activation histograms.

use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::finite_f32s;
use super::{AppError, AppJson, AppState};
use crate::nn::experiment::{HistogramExperiment, activation_histograms};
use crate::nn::perceptron::Perceptron;
use crate::nn::{ActivationName, MatMul};
use crate::train::InitName;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/perceptron", post(truth_table))
        .route("/experiments/activations", post(histograms))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerceptronRequest {
    weights: Vec<f64>,
    bias: f64,
}

/// Inputs per perceptron (2^n rows in the table).
const MAX_INPUTS: usize = 8;

async fn truth_table(AppJson(req): AppJson<PerceptronRequest>) -> Result<Json<Value>, AppError> {
    if req.weights.is_empty() || req.weights.len() > MAX_INPUTS {
        return Err(AppError::invalid("weights", format!("give 1..={MAX_INPUTS} weights")));
    }
    let weights = finite_f32s(&req.weights, "weights")?;
    let bias = finite_f32s(&[req.bias], "bias")?[0];
    let p = Perceptron::new(&weights, bias);
    Ok(Json(json!({"weights": weights, "bias": bias, "rows": p.truth_table()})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HistogramRequest {
    activation: ActivationName,
    activation_alpha: f32,
    init: InitName,
    init_std: f32,
    layers: usize,
    units: usize,
    samples: usize,
    bins: usize,
    seed: u64,
}

impl Default for HistogramRequest {
    fn default() -> Self {
        HistogramRequest {
            activation: ActivationName::Sigmoid,
            activation_alpha: 0.01,
            init: InitName::Normal,
            init_std: 1.0,
            layers: 5,
            units: 100,
            samples: 1000,
            bins: 30,
            seed: 0,
        }
    }
}

async fn histograms(AppJson(req): AppJson<HistogramRequest>) -> Result<Json<Value>, AppError> {
    let activation = req
        .activation
        .elementwise(req.activation_alpha)
        .ok_or_else(|| AppError::invalid("activation", "maxout has no place in this experiment (no pieces)"))?;
    if !(req.init_std.is_finite() && req.init_std > 0.0 && req.init_std <= 100.0) {
        return Err(AppError::invalid("init_std", "a finite number in (0, 100]"));
    }
    if !(req.activation_alpha.is_finite() && (0.0..=10.0).contains(&req.activation_alpha)) {
        return Err(AppError::invalid("activation_alpha", "a finite number in [0, 10]"));
    }
    for (field, value, max) in [
        ("layers", req.layers, 20),
        ("units", req.units, 1000),
        ("samples", req.samples, 10_000),
        ("bins", req.bins, 200),
    ] {
        if value == 0 || value > max {
            return Err(AppError::invalid(field, format!("an integer in 1..={max}")));
        }
    }
    let spec = crate::train::JobSpec {
        init: req.init,
        init_std: req.init_std,
        ..Default::default()
    };
    let exp = HistogramExperiment {
        activation,
        init: spec.init(),
        layers: req.layers,
        units: req.units,
        samples: req.samples,
        bins: req.bins,
        seed: req.seed,
    };
    let layers = tokio::task::spawn_blocking(move || activation_histograms(&exp, &MatMul::single()))
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Json(json!({ "layers": layers })))
}
