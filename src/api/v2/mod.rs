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

mod metadata;
mod tensor;

pub use metadata::{ModelMetadata, ModelReady, ServerLive, ServerMetadata, ServerReady, TensorMetadata};
pub use tensor::{InferInput, InferRequest, InferResponse, OutputTensor, RequestedOutput, TensorData};

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;

use super::error::{ErrorBody, parse_json};
use super::{AppError, AppState};
use crate::api::ApiRouter;
use tensor::{input_matrix, output_tensors, requested_outputs};
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(get_server_metadata))
        .routes(routes!(get_live))
        .routes(routes!(get_ready))
        .routes(routes!(get_model_metadata))
        .routes(routes!(get_model_version_metadata))
        .routes(routes!(get_model_ready))
        .routes(routes!(get_model_version_ready))
        .routes(routes!(infer))
        .routes(routes!(infer_version))
}

/// The one version every model has.
const VERSION: &str = "1";
const INPUT: &str = "input";
const PROBABILITIES: &str = "probabilities";
const LABEL: &str = "label";

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
    if state.database_ready().await {
        (StatusCode::OK, Json(ServerReady { ready: true }))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(ServerReady { ready: false }))
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
    let net = state.models.load(&name).await?;
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
    state.models.load(&name).await?;
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
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
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
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
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
    let net = state.models.load(&name).await?;
    let outputs = requested_outputs(req.outputs.as_deref())?;
    let x = input_matrix(req.inputs, net.spec.input_size)?;
    // The native API's forward pass, so that both answer the same probabilities and labels.
    let predictions = state.models.predict(&[std::sync::Arc::clone(&net)], x).await?.remove(0);
    let outputs = output_tensors(&outputs, &predictions, net.spec.classes);
    state.telemetry.predict_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(InferResponse {
        model_name: name,
        model_version: VERSION,
        id: req.id,
        outputs,
    }))
}
