//! Predictions from a stored model: `inputs` (rows), `images` (28x28 grids) or
//! `png_base64` (a drawn digit, preprocessed as MNIST was). Also the forward pass that the
//! V2 inference protocol shares (`predict_rows`), so that both APIs answer identically.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::ApiRouter;
use super::error::ErrorBody;
use super::models::load_network;
use super::rows::{Images, Rows, check_finite};
use super::{AppError, AppJson, AppState};
use crate::data::preprocess_digit;
use crate::nn::loss::argmax;
use crate::nn::{MatMul, Network};
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(predict)).routes(routes!(predict_many))
}

pub(super) use super::rows::MAX_ROWS;
/// A drawn digit needs far less; 2048x2048 RGBA is 16 MiB decoded.
const MAX_PNG_SIDE: u32 = 2048;
/// What the decoder may allocate (16-bit RGBA at the largest size, with room to spare).
const MAX_PNG_DECODE_BYTES: u64 = 2048 * 2048 * 8 + (1 << 20);
/// Batches up to this size run inline; larger ones on the blocking pool.
const INLINE_ROWS: usize = 64;

/// Exactly one of `inputs`, `images`, `png_base64`; at most 10000 rows.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"inputs": [[0, 1], [1, 1]]}))]
pub struct PredictRequest {
    /// Rows of the model's input size (784 for MNIST, pixel values in [0, 1]; 2 for gates).
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    inputs: Option<Rows>,
    /// Square images (28 rows of 28 values for MNIST), for models whose input size is a square.
    #[schema(value_type = Option<Vec<Vec<Vec<f64>>>>)]
    images: Option<Images>,
    /// A PNG of a digit (any size, dark on light or light on dark; a `data:` URL prefix is
    /// accepted), preprocessed as MNIST was; for models of 784 inputs.
    png_base64: Option<String>,
}

/// The most probable class and every class's probability.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Prediction {
    pub label: usize,
    pub probabilities: Vec<f32>,
}

/// One prediction per row, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PredictResponse {
    pub predictions: Vec<Prediction>,
    /// For `png_base64`: the 28x28 image the model received (row-major, 0..1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_image: Option<Vec<f32>>,
}

/// Predictions of a stored model.
#[utoipa::path(post, path = "/api/v1/models/{id}/predict", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    request_body = PredictRequest,
    responses(
        (status = 200, description = "The predictions", body = PredictResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Unknown field or bad value (`field` names it, e.g. `inputs[0][3]`)",
            body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn predict(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(req): AppJson<PredictRequest>,
) -> Result<Json<PredictResponse>, AppError> {
    let started = std::time::Instant::now();
    let net = load_network(&state, &id).await?;
    let (x, input_image) = input_rows(&state, req, net.spec.input_size).await?;
    let predictions = predict_rows(&state, &net, x).await?;
    state.telemetry.predict_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(PredictResponse {
        predictions,
        input_image,
    }))
}

/// The request's rows for a model of `width` inputs (checked once, whatever the number of
/// models), and for a PNG the 28x28 image the model(s) receive.
async fn input_rows(
    state: &AppState,
    req: PredictRequest,
    width: usize,
) -> Result<(Array2<f32>, Option<Vec<f32>>), AppError> {
    let given = [req.inputs.is_some(), req.images.is_some(), req.png_base64.is_some()]
        .iter()
        .filter(|&&b| b)
        .count();
    if given != 1 {
        return Err(AppError::invalid(
            "inputs",
            "give exactly one of inputs, images, png_base64",
        ));
    }
    let mut input_image = None;
    let x = if let Some(inputs) = req.inputs {
        check_count("inputs", inputs.len())?;
        let mut data = Vec::with_capacity(inputs.len() * width);
        for (i, row) in inputs.iter().enumerate() {
            data.extend_from_slice(to_row(row, width, &format!("inputs[{i}]"))?);
        }
        Array2::from_shape_vec((inputs.len(), width), data)
    } else if let Some(images) = req.images {
        check_count("images", images.len())?;
        let side =
            image_side(width).ok_or_else(|| AppError::invalid("images", "this model does not take square images"))?;
        let mut data = Vec::with_capacity(images.len() * width);
        for i in 0..images.len() {
            let field = format!("images[{i}]");
            let shape_error = || AppError::invalid(&field, format!("must be {side} rows of {side} values"));
            let mut rows = 0;
            for row in images.image(i) {
                rows += 1;
                if rows > side || row.len() != side {
                    return Err(shape_error());
                }
                data.extend_from_slice(to_row(row, side, &field)?);
            }
            if rows != side {
                return Err(shape_error());
            }
        }
        Array2::from_shape_vec((images.len(), width), data)
    } else {
        if width != 784 {
            return Err(AppError::invalid("png_base64", "this model does not take 28x28 images"));
        }
        let png = req.png_base64.unwrap_or_default();
        let _permit = state.admit_heavy()?;
        let pixels = tokio::task::spawn_blocking(move || decode_digit(&png))
            .await
            .map_err(anyhow::Error::from)??;
        input_image = Some(pixels.clone());
        Array2::from_shape_vec((1, width), pixels)
    }
    .expect("rows have the model's width");
    Ok((x, input_image))
}

/// Models one multi-model prediction may ask.
pub const MAX_MODELS: usize = 8;

/// `POST /api/v1/predict`: the rows (or image) of [`PredictRequest`] and the models.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiPredictRequest {
    /// 1..=8 models of the same input size.
    model_ids: Vec<String>,
    #[serde(flatten)]
    input: PredictRequest,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelPredictions {
    pub model_id: String,
    pub predictions: Vec<Prediction>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MultiPredictResponse {
    /// For `png_base64`: the 28x28 image every model received, as 28 rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_image: Option<Vec<Vec<f32>>>,
    /// In the order of `model_ids`.
    pub results: Vec<ModelPredictions>,
}

/// One input, several models: the input is checked and preprocessed once, and every model
/// answers for the same rows (a drawn digit: the same 28x28 image).
#[utoipa::path(post, path = "/api/v1/predict", tag = "models",
    request_body = MultiPredictRequest,
    responses(
        (status = 200, description = "Each model's predictions", body = MultiPredictResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "An unknown model (`model_ids[i]`), models of different input sizes, \
            or a bad input (`field` names it)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn predict_many(
    State(state): State<AppState>,
    AppJson(req): AppJson<MultiPredictRequest>,
) -> Result<Json<MultiPredictResponse>, AppError> {
    let started = std::time::Instant::now();
    if !(1..=MAX_MODELS).contains(&req.model_ids.len()) {
        return Err(AppError::invalid(
            "model_ids",
            format!("give 1..={MAX_MODELS} model ids"),
        ));
    }
    let mut nets = Vec::with_capacity(req.model_ids.len());
    for (i, id) in req.model_ids.iter().enumerate() {
        let net = load_network(&state, id).await.map_err(|e| match e {
            AppError::NotFound(_) => AppError::invalid(format!("model_ids[{i}]"), format!("no model with id {id}")),
            e => e,
        })?;
        if let Some(first) = nets.first().map(|n: &Arc<Network>| n.spec.input_size)
            && net.spec.input_size != first
        {
            return Err(AppError::invalid(
                format!("model_ids[{i}]"),
                format!(
                    "takes {} inputs, model_ids[0] takes {first}: one input cannot suit both",
                    net.spec.input_size
                ),
            ));
        }
        nets.push(net);
    }
    let (x, input_image) = input_rows(&state, req.input, nets[0].spec.input_size).await?;
    let mut results = Vec::with_capacity(nets.len());
    for (id, net) in req.model_ids.iter().zip(&nets) {
        results.push(ModelPredictions {
            model_id: id.clone(),
            predictions: predict_rows(&state, net, x.clone()).await?,
        });
    }
    state.telemetry.predict_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(MultiPredictResponse {
        input_image: input_image.map(|pixels| pixels.chunks(28).map(<[f32]>::to_vec).collect()),
        results,
    }))
}

fn check_count(field: &str, n: usize) -> Result<(), AppError> {
    if n == 0 || n > MAX_ROWS {
        return Err(AppError::invalid(field, format!("give 1..={MAX_ROWS} rows")));
    }
    Ok(())
}

fn image_side(width: usize) -> Option<usize> {
    let side = (width as f64).sqrt().round() as usize;
    (side * side == width).then_some(side)
}

/// A row of exactly `width` finite values (a value beyond f32's range parsed as infinite).
fn to_row<'a>(values: &'a [f32], width: usize, field: &str) -> Result<&'a [f32], AppError> {
    if values.len() != width {
        return Err(AppError::invalid(
            field,
            format!("has {} values, the model takes {width}", values.len()),
        ));
    }
    check_finite(values, field)?;
    Ok(values)
}

/// One prediction per row of `x` ([N, input_size]), for native and V2 requests alike.
/// Small batches run inline (cheaper than a hop to the blocking pool); larger ones on the
/// blocking pool, so as not to stall the async runtime.
pub(super) async fn predict_rows(
    state: &AppState,
    net: &Arc<Network>,
    x: Array2<f32>,
) -> Result<Vec<Prediction>, AppError> {
    if x.nrows() <= INLINE_ROWS {
        return Ok(run(net, x));
    }
    let _permit = state.admit_heavy()?;
    let net = Arc::clone(net);
    let predictions = tokio::task::spawn_blocking(move || run(&net, x))
        .await
        .map_err(anyhow::Error::from)?;
    Ok(predictions)
}

/// One row takes the batch-1 matrix-vector path, more rows the batched one.
fn run(net: &Network, x: Array2<f32>) -> Vec<Prediction> {
    let probabilities: Vec<Vec<f32>> = if x.nrows() == 1 {
        vec![net.predict_one(x.row(0).as_slice().expect("a standard-layout row"))]
    } else {
        net.predict_proba(x.view(), &MatMul::single())
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect()
    };
    probabilities
        .into_iter()
        .map(|p| {
            // The first most probable class: ties go to the lower index.
            Prediction {
                label: argmax(&p),
                probabilities: p,
            }
        })
        .collect()
}

/// Base64 PNG (a `data:` URL prefix is accepted) -> grey levels -> MNIST-style 28x28.
fn decode_digit(png_base64: &str) -> Result<Vec<f32>, AppError> {
    let field = "png_base64";
    let b64 = png_base64
        .split_once("base64,")
        .map_or(png_base64, |(_, rest)| rest)
        .trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| AppError::invalid(field, format!("not valid base64: {e}")))?;
    let reader = || image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::Png);
    // The header first: a small file can declare a huge image (a 20000x20000 PNG of one
    // colour compresses to under 1 MB), which must be refused before anything is decoded.
    let (w, h) = reader()
        .into_dimensions()
        .map_err(|e| AppError::invalid(field, format!("not a PNG image: {e}")))?;
    if w == 0 || h == 0 || w > MAX_PNG_SIDE || h > MAX_PNG_SIDE {
        return Err(AppError::invalid(
            field,
            format!("image must be 1..={MAX_PNG_SIDE} pixels wide and high, got {w}x{h}"),
        ));
    }
    let mut decoder = reader();
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PNG_SIDE);
    limits.max_image_height = Some(MAX_PNG_SIDE);
    limits.max_alloc = Some(MAX_PNG_DECODE_BYTES);
    decoder.limits(limits);
    let img = decoder
        .decode()
        .map_err(|e| AppError::invalid(field, format!("not a PNG image: {e}")))?;
    // Transparent pixels (a canvas's untouched background) count as white paper.
    let rgba = img.to_rgba8();
    let gray: Vec<f32> = rgba
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0.map(|v| v as f32 / 255.0);
            let luma = 0.299 * r + 0.587 * g + 0.114 * b;
            a * luma + (1.0 - a)
        })
        .collect();
    preprocess_digit(&gray, w as usize, h as usize).map_err(|e| AppError::invalid(field, e.to_string()))
}
