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
use serde_json::{Map, Value};

use super::error::{ErrorBody, finite_f32s, parse_json};
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerMetadata {
    /// None: the binary tensor data extension is not supported.
    extensions: Vec<String>,
    #[schema(example = "nnlab")]
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerLive {
    live: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerReady {
    ready: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelMetadata {
    /// `input`: FP32 [-1, input_size].
    inputs: Vec<TensorMetadata>,
    /// The model id.
    name: String,
    /// `probabilities`: FP32 [-1, classes]; `label`: INT64 [-1].
    outputs: Vec<TensorMetadata>,
    #[schema(example = "nnlab")]
    platform: &'static str,
    /// Always `["1"]`.
    versions: Vec<&'static str>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TensorMetadata {
    #[schema(examples("FP32", "INT64"))]
    datatype: &'static str,
    name: &'static str,
    /// -1 = any number of rows.
    shape: Vec<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelReady {
    name: String,
    ready: bool,
}

/// Server metadata.
#[utoipa::path(get, path = "/v2", tag = "v2",
    responses((status = 200, description = "Name, version, extensions", body = ServerMetadata)))]
pub(crate) async fn get_server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: "nnlab",
        version: env!("CARGO_PKG_VERSION"),
        extensions: Vec::new(),
    })
}

/// Server liveness.
#[utoipa::path(get, path = "/v2/health/live", tag = "v2",
    responses((status = 200, description = "Alive", body = ServerLive)))]
pub(crate) async fn get_live() -> Json<ServerLive> {
    Json(ServerLive { live: true })
}

/// Ready when the database answers.
#[utoipa::path(get, path = "/v2/health/ready", tag = "v2", operation_id = "get_v2_ready",
    responses(
        (status = 200, description = "Ready", body = ServerReady, example = json!({"ready": true})),
        (status = 503, description = "The database does not answer (this body, not the error shape)",
            body = ServerReady, example = json!({"ready": false})),
    ))]
pub(crate) async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<ServerReady>) {
    let answered: Result<i64, _> = sqlx::query_scalar("SELECT 1").fetch_one(&state.pool).await;
    match answered {
        Ok(_) => (StatusCode::OK, Json(ServerReady { ready: true })),
        Err(e) => {
            tracing::warn!(error = %e, "database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, Json(ServerReady { ready: false }))
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

/// Model metadata: its input and output tensors.
#[utoipa::path(get, path = "/v2/models/{name}", tag = "v2",
    params(("name" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "The model's metadata", body = ModelMetadata),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_model_metadata(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelMetadata>, AppError> {
    let net = load_network(&state, &name).await?;
    let (input_size, classes) = (net.spec.input_size as i64, net.spec.classes as i64);
    let tensor = |name, datatype, shape| TensorMetadata { datatype, name, shape };
    Ok(Json(ModelMetadata {
        name,
        versions: vec![VERSION],
        platform: "nnlab",
        inputs: vec![tensor(INPUT, "FP32", vec![-1, input_size])],
        outputs: vec![
            tensor(PROBABILITIES, "FP32", vec![-1, classes]),
            tensor(LABEL, "INT64", vec![-1]),
        ],
    }))
}

/// Metadata of a model version (only version `1` exists).
#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}", tag = "v2",
    params(
        ("name" = String, Path, description = "Model id"),
        ("version" = String, Path, description = "Must be `1`"),
    ),
    responses(
        (status = 200, description = "The model's metadata", body = ModelMetadata),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_model_version_metadata(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>, AppError> {
    check_version(&name, &version)?;
    get_model_metadata(state, Path(name)).await
}

/// A stored model that loads is ready; an unknown one is 404.
#[utoipa::path(get, path = "/v2/models/{name}/ready", tag = "v2",
    params(("name" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "Ready", body = ModelReady),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 500, description = "Internal error (the stored model does not load)", body = ErrorBody),
    ))]
pub(crate) async fn get_model_ready(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelReady>, AppError> {
    load_network(&state, &name).await?;
    Ok(Json(ModelReady { name, ready: true }))
}

/// Readiness of a model version (only version `1` exists).
#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}/ready", tag = "v2",
    params(
        ("name" = String, Path, description = "Model id"),
        ("version" = String, Path, description = "Must be `1`"),
    ),
    responses(
        (status = 200, description = "Ready", body = ModelReady),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 500, description = "Internal error (the stored model does not load)", body = ErrorBody),
    ))]
pub(crate) async fn get_model_version_ready(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelReady>, AppError> {
    check_version(&name, &version)?;
    get_model_ready(state, Path(name)).await
}

/// An inference request: one input tensor `input`, FP32 (or FP64) of shape [N, input_size].
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]}]}))]
pub struct InferRequest {
    /// Echoed in the response.
    id: Option<String>,
    /// Exactly one tensor.
    inputs: Vec<InferInput>,
    /// The outputs to answer, in this order; all when omitted.
    outputs: Option<Vec<RequestedOutput>>,
    /// Any parameters are accepted and ignored.
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferInput {
    /// Must be `input`.
    name: String,
    /// [N, input_size], N in 1..=10000.
    shape: Vec<usize>,
    /// `FP32` or `FP64`.
    datatype: String,
    /// The values, row-major: flat or nested arrays of numbers.
    #[schema(value_type = TensorData)]
    data: FlatData,
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestedOutput {
    /// `probabilities` or `label`.
    name: String,
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<Map<String, Value>>,
}

/// Tensor data (documentation only): an array whose items are numbers or arrays of the same
/// kind, flattened row-major.
pub struct TensorData;

impl utoipa::PartialSchema for TensorData {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Type};
        ArrayBuilder::new()
            .items(
                OneOfBuilder::new()
                    .item(ObjectBuilder::new().schema_type(Type::Number))
                    .item(Ref::from_schema_name("TensorData")),
            )
            .description(Some("Numbers, or arrays of numbers nested to any depth (row-major)"))
            .into()
    }
}

impl utoipa::ToSchema for TensorData {}

/// The answer of an inference request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InferResponse {
    /// The model id.
    model_name: String,
    #[schema(example = "1")]
    model_version: &'static str,
    /// The request's `id`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: Vec<OutputTensor>,
}

/// `probabilities` (FP32, [N, classes]) or `label` (INT64, [N]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutputTensor {
    name: &'static str,
    shape: Vec<usize>,
    #[schema(examples("FP32", "INT64"))]
    datatype: &'static str,
    /// Flat, row-major values: probabilities for FP32, class indices for INT64.
    #[schema(value_type = Vec<f64>)]
    data: OutputData,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutputData {
    Fp32(Vec<f32>),
    Int64(Vec<i64>),
}

/// Inference on a model version (only version `1` exists).
#[utoipa::path(post, path = "/v2/models/{name}/versions/{version}/infer", tag = "v2",
    params(
        ("name" = String, Path, description = "Model id"),
        ("version" = String, Path, description = "Must be `1`"),
    ),
    request_body = InferRequest,
    responses(
        (status = 200, description = "The outputs", body = InferResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A bad request (the protocol's 400), or binary tensor data", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn infer_version(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>, AppError> {
    check_version(&name, &version)?;
    infer(state, Path(name), headers, body).await
}

/// Inference: class probabilities and labels for the rows of the `input` tensor.
///
/// Tensor data travel as JSON only: the binary tensor data extension (an
/// `Inference-Header-Content-Length` header) is refused with a 422.
#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = "v2",
    params(("name" = String, Path, description = "Model id")),
    request_body = InferRequest,
    responses(
        (status = 200, description = "The outputs", body = InferResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A bad request (the protocol's 400), or binary tensor data", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn infer(
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
