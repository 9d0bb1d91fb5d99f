//! The Open Inference Protocol (KServe V2 / Triton HTTP), REST flavour, so that standard
//! clients (`tritonclient.http`, KServe's) can query nnlab models.
//!
//! A model is addressed by its id (the `models` table's) and has one version, "1". It takes
//! one FP32 input `input` of shape [N, input_size] and answers `probabilities` (FP32,
//! [N, classes]) and `label` (INT64, [N], the most probable class).
//!
//! Departures from the protocol: errors keep our shape `{"error":{"code","message","field"}}`
//! (the protocol's is `{"error":"message"}`; clients read the `error` member either way,
//! and the object also names the field at fault), with 422 for a bad request where the
//! protocol says 400 (a body that is not JSON is 400 as everywhere). Tensor data travel as
//! JSON only: the binary tensor data extension is refused with a 422, so `tritonclient`
//! callers pass `binary_data=False`.

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::{finite_f32s, parse_json};
use super::models::load_network;
use super::{AppError, AppState};
use crate::nn::{MatMul, Network};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2", get(get_server_metadata))
        .route("/v2/health/live", get(get_live))
        .route("/v2/health/ready", get(get_ready))
        .route("/v2/models/{name}", get(get_model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(get_model_version_metadata))
        .route("/v2/models/{name}/ready", get(get_model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(get_model_version_ready),
        )
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer_version))
}

/// The one version every model has.
const VERSION: &str = "1";
const INPUT: &str = "input";
const PROBABILITIES: &str = "probabilities";
const LABEL: &str = "label";
/// Rows per request, as for native predictions.
const MAX_ROWS: usize = 10_000;
/// Batches up to this size run inline; larger ones on the blocking pool.
const INLINE_ROWS: usize = 64;

async fn get_server_metadata() -> Json<Value> {
    Json(json!({"name": "nnlab", "version": env!("CARGO_PKG_VERSION"), "extensions": []}))
}

async fn get_live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// Ready when the database answers.
async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let answered: Result<i64, _> = sqlx::query_scalar("SELECT 1").fetch_one(&state.pool).await;
    match answered {
        Ok(_) => (StatusCode::OK, Json(json!({"ready": true}))),
        Err(e) => {
            tracing::warn!(error = %e, "database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"ready": false})))
        }
    }
}

/// 404 unless `version` is the one version models have.
fn check_version(name: &str, version: &str) -> Result<(), AppError> {
    if version == VERSION {
        Ok(())
    } else {
        Err(AppError::NotFound(format!(
            "model {name} has no version {version} (only {VERSION})"
        )))
    }
}

async fn get_model_metadata(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, AppError> {
    let net = load_network(&state, &name).await?;
    let (input_size, classes) = (net.spec.input_size, net.spec.classes);
    Ok(Json(json!({
        "name": name,
        "versions": [VERSION],
        "platform": "nnlab",
        "inputs": [{"name": INPUT, "datatype": "FP32", "shape": [-1, input_size]}],
        "outputs": [
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, classes]},
            {"name": LABEL, "datatype": "INT64", "shape": [-1]},
        ],
    })))
}

async fn get_model_version_metadata(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    check_version(&name, &version)?;
    get_model_metadata(state, Path(name)).await
}

/// A stored model that loads is ready; an unknown one is 404.
async fn get_model_ready(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, AppError> {
    load_network(&state, &name).await?;
    Ok(Json(json!({"name": name, "ready": true})))
}

async fn get_model_version_ready(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    check_version(&name, &version)?;
    get_model_ready(state, Path(name)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    id: Option<String>,
    inputs: Vec<InferInput>,
    outputs: Option<Vec<RequestedOutput>>,
    /// Any parameters are accepted and ignored.
    #[allow(dead_code)]
    parameters: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InferInput {
    name: String,
    shape: Vec<usize>,
    datatype: String,
    data: FlatData,
    #[allow(dead_code)]
    parameters: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestedOutput {
    name: String,
    #[allow(dead_code)]
    parameters: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize)]
pub struct InferResponse {
    model_name: String,
    model_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: Vec<OutputTensor>,
}

#[derive(Debug, Serialize)]
struct OutputTensor {
    name: &'static str,
    shape: Vec<usize>,
    datatype: &'static str,
    data: OutputData,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutputData {
    Fp32(Vec<f32>),
    Int64(Vec<i64>),
}

async fn infer_version(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>, AppError> {
    check_version(&name, &version)?;
    infer(state, Path(name), headers, body).await
}

async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>, AppError> {
    let started = std::time::Instant::now();
    // With the binary extension the JSON header is followed by raw tensor bytes, so the body
    // is not JSON: say why before parsing, rather than answer a bare 400.
    if headers.contains_key("inference-header-content-length") {
        return Err(AppError::invalid(
            "inputs",
            "binary tensor data is not supported: send data as JSON (tritonclient: binary_data=False)",
        ));
    }
    // As `AppJson` does, after the header check.
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge("request body too large".into())
        } else {
            AppError::Malformed(rejection.body_text())
        }
    })?;
    let req: InferRequest = parse_json(&body)?;
    let net = load_network(&state, &name).await?;
    let outputs = requested_outputs(req.outputs.as_deref())?;
    let (rows, x) = input_matrix(req.inputs, net.spec.input_size)?;
    let probabilities = if rows <= INLINE_ROWS {
        forward(&net, x)
    } else {
        let net = net.clone();
        tokio::task::spawn_blocking(move || forward(&net, x))
            .await
            .map_err(anyhow::Error::from)?
    };
    let classes = net.spec.classes;
    let outputs = outputs
        .into_iter()
        .map(|output| match output {
            PROBABILITIES => OutputTensor {
                name: PROBABILITIES,
                shape: vec![rows, classes],
                datatype: "FP32",
                data: OutputData::Fp32(probabilities.concat()),
            },
            _ => OutputTensor {
                name: LABEL,
                shape: vec![rows],
                datatype: "INT64",
                data: OutputData::Int64(probabilities.iter().map(|p| argmax(p) as i64).collect()),
            },
        })
        .collect();
    state.telemetry.predict_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(InferResponse {
        model_name: name,
        model_version: VERSION,
        id: req.id,
        outputs,
    }))
}

/// The outputs to answer, in the order asked; all of them when none are named.
fn requested_outputs(requested: Option<&[RequestedOutput]>) -> Result<Vec<&'static str>, AppError> {
    let Some(requested) = requested else {
        return Ok(vec![PROBABILITIES, LABEL]);
    };
    let mut names = Vec::new();
    for (i, output) in requested.iter().enumerate() {
        let name = match output.name.as_str() {
            PROBABILITIES => PROBABILITIES,
            LABEL => LABEL,
            other => {
                return Err(AppError::invalid(
                    format!("outputs[{i}].name"),
                    format!("unknown output {other:?}: the outputs are {PROBABILITIES:?} and {LABEL:?}"),
                ));
            }
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The one input tensor, checked, as an [N, input_size] matrix.
fn input_matrix(mut inputs: Vec<InferInput>, input_size: usize) -> Result<(usize, Array2<f32>), AppError> {
    if inputs.len() != 1 {
        return Err(AppError::invalid(
            "inputs",
            format!("give exactly one input tensor ({INPUT:?}), got {}", inputs.len()),
        ));
    }
    let input = inputs.remove(0);
    if input.name != INPUT {
        return Err(AppError::invalid(
            "inputs[0].name",
            format!("unknown input {:?}: the model's input is {INPUT:?}", input.name),
        ));
    }
    // FP64 is accepted for clients that do not convert; values are rounded to f32 either way.
    if input.datatype != "FP32" && input.datatype != "FP64" {
        return Err(AppError::invalid(
            "inputs[0].datatype",
            format!("must be FP32 (or FP64), got {:?}", input.datatype),
        ));
    }
    let [rows, width] = input.shape[..] else {
        return Err(AppError::invalid(
            "inputs[0].shape",
            format!("must be [N, {input_size}], got {:?}", input.shape),
        ));
    };
    if width != input_size {
        return Err(AppError::invalid(
            "inputs[0].shape",
            format!(
                "the model takes rows of {input_size} values, got shape {:?}",
                input.shape
            ),
        ));
    }
    if rows == 0 || rows > MAX_ROWS {
        return Err(AppError::invalid(
            "inputs[0].shape",
            format!("N must be 1..={MAX_ROWS}, got {rows}"),
        ));
    }
    let data = input.data.0;
    if data.len() != rows * width {
        return Err(AppError::invalid(
            "inputs[0].data",
            format!(
                "has {} values, shape {:?} needs {}",
                data.len(),
                input.shape,
                rows * width
            ),
        ));
    }
    let values = finite_f32s(&data, "inputs[0].data")?;
    let x = Array2::from_shape_vec((rows, width), values).map_err(anyhow::Error::from)?;
    Ok((rows, x))
}

/// Class probabilities, one row per input: the same paths as native predictions (the
/// batch-1 matrix-vector product for one row), so both APIs answer identically.
fn forward(net: &Network, x: Array2<f32>) -> Vec<Vec<f32>> {
    if x.nrows() == 1 {
        vec![net.predict_one(x.row(0).as_slice().expect("a standard-layout row"))]
    } else {
        net.predict_proba(x.view(), &MatMul::single())
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect()
    }
}

/// The first most probable class (ties go to the lower index, as in native predictions).
fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > p[best] { i } else { best })
}

/// A tensor's `data`, flat or nested arrays of numbers, flattened row-major while parsing
/// (8 bytes a value rather than a `serde_json::Value` tree). A non-number is a type error
/// at its own path, e.g. `inputs[0].data[3]` or `inputs[0].data[1][1]`.
#[derive(Debug, Default)]
struct FlatData(Vec<f64>);

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut values = Vec::new();
        deserializer.deserialize_seq(Collect(&mut values))?;
        Ok(FlatData(values))
    }
}

struct Collect<'a>(&'a mut Vec<f64>);

impl<'de> serde::de::DeserializeSeed<'de> for Collect<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Collect<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number or an array of numbers")
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(v as f64);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(v as f64);
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Collect(&mut *self.0))?.is_some() {}
        Ok(())
    }
}
