//! Predictions from stored models: `inputs` (rows), `images` (28x28 grids) or `png_base64`
//! (a drawn digit, preprocessed as MNIST was), for one model or several at once. The work is
//! the models service's (`crate::models`); this parses and answers.

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::ApiRouter;
use super::error::{ErrorBody, body_bytes, parse_json};
use super::png::decode_digit;
use super::rows::{Images, Rows, check_row, check_row_count, parse_inputs_only};
use super::{AppError, AppJson, AppState};
use crate::data::Preprocess;
pub use crate::models::Prediction;
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(predict)).routes(routes!(predict_many))
}

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
    /// How `png_base64` becomes 28x28: `mnist` (default: cropped, 20 px box, centre of mass),
    /// `box` (cropped, 20 px box, centred box) or `raw` (the whole canvas shrunk).
    // A string checked by hand: inside the multi-model request (flattened) serde's own
    // error for an unknown variant would not name the field.
    #[schema(value_type = Option<Preprocess>)]
    preprocess: Option<String>,
}

/// A [`PredictRequest`] body, read through the fast path for the common `{"inputs": ...}`
/// form (`rows::parse_inputs_only`), else as [`AppJson`] reads any body.
pub struct PredictBody(PredictRequest);

impl<S: Send + Sync> FromRequest<S> for PredictBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = body_bytes(req, state).await?;
        if let Some(inputs) = parse_inputs_only(&bytes) {
            return Ok(PredictBody(PredictRequest {
                inputs: Some(inputs),
                images: None,
                png_base64: None,
                preprocess: None,
            }));
        }
        parse_json(&bytes).map(PredictBody)
    }
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
    PredictBody(req): PredictBody,
) -> Result<Json<PredictResponse>, AppError> {
    let started = std::time::Instant::now();
    let net = state.models.load(&id).await?;
    let (x, input_image) = input_rows(&state, req, net.spec.input_size).await?;
    let predictions = state.models.predict(&[net], x).await?.remove(0);
    state.telemetry.predict_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(PredictResponse {
        predictions,
        input_image,
    }))
}

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
    let nets = state.models.load_several(&req.model_ids).await?;
    let (x, input_image) = input_rows(&state, req.input, nets[0].spec.input_size).await?;
    let answers = state.models.predict(&nets, x).await?;
    state.telemetry.predict_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(MultiPredictResponse {
        input_image: input_image.map(|pixels| pixels.chunks(28).map(<[f32]>::to_vec).collect()),
        results: req
            .model_ids
            .into_iter()
            .zip(answers)
            .map(|(model_id, predictions)| ModelPredictions { model_id, predictions })
            .collect(),
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
        check_row_count("inputs", inputs.len())?;
        for (i, row) in inputs.iter().enumerate() {
            check_row(row, width, format_args!("inputs[{i}]"))?;
        }
        // Every row has the model's width: the parsed storage is the matrix, row-major.
        Array2::from_shape_vec((inputs.len(), width), inputs.into_values())
    } else if let Some(images) = req.images {
        check_row_count("images", images.len())?;
        let side =
            image_side(width).ok_or_else(|| AppError::invalid("images", "this model does not take square images"))?;
        let mut data = Vec::with_capacity(images.len() * width);
        for i in 0..images.len() {
            let shape_error =
                || AppError::invalid(format!("images[{i}]"), format!("must be {side} rows of {side} values"));
            let mut rows = 0;
            for row in images.image(i) {
                rows += 1;
                if rows > side || row.len() != side {
                    return Err(shape_error());
                }
                data.extend_from_slice(check_row(row, side, format_args!("images[{i}]"))?);
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
        let how = match req.preprocess.as_deref() {
            None => Preprocess::Mnist,
            Some(name) => serde_json::from_value(serde_json::Value::from(name))
                .map_err(|_| AppError::invalid("preprocess", "one of raw, box, mnist"))?,
        };
        let pixels = png_digit(state, req.png_base64.unwrap_or_default(), how).await?;
        input_image = Some(pixels.clone());
        Array2::from_shape_vec((1, width), pixels)
    }
    .expect("rows have the model's width");
    Ok((x, input_image))
}

/// A drawn digit's 28x28 pixels, decoded on the blocking pool under a heavy-request permit.
pub(super) async fn png_digit(state: &AppState, png: String, how: Preprocess) -> Result<Vec<f32>, AppError> {
    let _permit = state.admit_heavy().await?;
    tokio::task::spawn_blocking(move || decode_digit(&png, how, "png_base64"))
        .await
        .map_err(anyhow::Error::from)?
}

fn image_side(width: usize) -> Option<usize> {
    let side = (width as f64).sqrt().round() as usize;
    (side * side == width).then_some(side)
}
