//! The lecture's small synchronous experiments: a perceptron's truth table and the
//! weight-initialisation activation histograms.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::ApiRouter;
use super::error::{ErrorBody, finite_f32s};
use super::{AppError, AppJson, AppState};
use crate::nn::experiment::{HistogramExperiment, LayerHistogram, activation_histograms};
use crate::nn::perceptron::{Perceptron, TruthRow};
use crate::nn::{ActivationName, MatMul};
use crate::train::InitName;
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(truth_table))
        .routes(routes!(histograms))
}

/// A step unit: output 1 only when weights · x + bias > 0.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"weights": [2, 2], "bias": -3}))]
pub struct PerceptronRequest {
    /// 1..=8 weights, one per input.
    #[schema(min_items = 1, max_items = 8)]
    weights: Vec<f64>,
    bias: f64,
}

/// The truth table over {0,1}^n, inputs counting up in binary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TruthTable {
    #[serde(serialize_with = "super::via_value")]
    pub bias: f32,
    #[serde(serialize_with = "super::via_value")]
    pub rows: Vec<TruthRow>,
    /// The weights as used (f32).
    #[serde(serialize_with = "super::via_value")]
    pub weights: Vec<f32>,
}

/// One activation histogram per layer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Histograms {
    #[serde(serialize_with = "super::via_value")]
    pub layers: Vec<LayerHistogram>,
}

/// Inputs per perceptron (2^n rows in the table).
const MAX_INPUTS: usize = 8;

/// The truth table of a perceptron (a strict step unit).
#[utoipa::path(post, path = "/api/v1/perceptron", tag = "experiments",
    request_body = PerceptronRequest,
    responses(
        (status = 200, description = "The truth table", body = TruthTable),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Unknown field or bad value", body = ErrorBody),
    ))]
pub(crate) async fn truth_table(AppJson(req): AppJson<PerceptronRequest>) -> Result<Json<TruthTable>, AppError> {
    if req.weights.is_empty() || req.weights.len() > MAX_INPUTS {
        return Err(AppError::invalid("weights", format!("give 1..={MAX_INPUTS} weights")));
    }
    let weights = finite_f32s(&req.weights, "weights")?;
    let bias = finite_f32s(&[req.bias], "bias")?[0];
    let p = Perceptron::new(&weights, bias);
    Ok(Json(TruthTable {
        rows: p.truth_table(),
        weights,
        bias,
    }))
}

/// The weight-init experiment: x ~ N(0, 1) of shape [samples, units] through `layers` layers
/// of z = act(z_prev W) (no bias), W drawn by `init`. Every field has a default.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(default)]
pub struct HistogramRequest {
    /// Any activation but maxout.
    activation: ActivationName,
    /// leaky_relu slope, elu alpha: [0, 10]; null (default): 0.01 for leaky_relu, 1 for elu.
    #[schema(minimum = 0, maximum = 10)]
    activation_alpha: Option<f32>,
    init: InitName,
    /// Standard deviation of `normal`: (0, 100].
    #[schema(exclusive_minimum = 0, maximum = 100)]
    init_std: f32,
    #[schema(minimum = 1, maximum = 20)]
    layers: usize,
    #[schema(minimum = 1, maximum = 1000)]
    units: usize,
    #[schema(minimum = 1, maximum = 10000)]
    samples: usize,
    #[schema(minimum = 1, maximum = 200)]
    bins: usize,
    seed: u64,
}

impl Default for HistogramRequest {
    fn default() -> Self {
        HistogramRequest {
            activation: ActivationName::Sigmoid,
            activation_alpha: None,
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

/// The weight-init experiment: per-layer activation histograms and statistics.
///
/// Histogram range: [0, 1] for sigmoid and step, [-1, 1] for tanh, [0, max] otherwise.
#[utoipa::path(post, path = "/api/v1/experiments/activations", tag = "experiments",
    request_body = HistogramRequest,
    responses(
        (status = 200, description = "One histogram per layer", body = Histograms),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Unknown field or bad value", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn histograms(
    State(state): State<AppState>,
    AppJson(req): AppJson<HistogramRequest>,
) -> Result<Json<Histograms>, AppError> {
    let _permit = state.admit_heavy().await?;
    let alpha = req.activation_alpha.unwrap_or(req.activation.default_alpha());
    let activation = req
        .activation
        .elementwise(alpha)
        .ok_or_else(|| AppError::invalid("activation", "maxout has no place in this experiment (no pieces)"))?;
    if !(req.init_std.is_finite() && req.init_std > 0.0 && req.init_std <= 100.0) {
        return Err(AppError::invalid("init_std", "a finite number in (0, 100]"));
    }
    if !(alpha.is_finite() && (0.0..=10.0).contains(&alpha)) {
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
    Ok(Json(Histograms { layers }))
}
