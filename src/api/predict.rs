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
    ApiRouter::new().routes(routes!(predict))
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
    let width = net.spec.input_size;
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
    let predictions = predict_rows(&state, &net, x).await?;
    state.telemetry.predict_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(PredictResponse {
        predictions,
        input_image,
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
