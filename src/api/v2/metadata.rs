//! The bodies of the V2 metadata and health answers (server, model, readiness). Their fields
//! are listed alphabetically, as the JSON keys were before the bodies were typed.

use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerMetadata {
    /// None: the binary tensor data extension is not supported.
    pub(super) extensions: Vec<String>,
    #[schema(example = "nnlab")]
    pub(super) name: &'static str,
    pub(super) version: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerLive {
    pub(super) live: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerReady {
    pub(super) ready: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelMetadata {
    /// `input`: FP32 [-1, input_size].
    pub(super) inputs: Vec<TensorMetadata>,
    /// The model id.
    pub(super) name: String,
    /// `probabilities`: FP32 [-1, classes]; `label`: INT64 [-1].
    pub(super) outputs: Vec<TensorMetadata>,
    #[schema(example = "nnlab")]
    pub(super) platform: &'static str,
    /// Always `["1"]`.
    pub(super) versions: Vec<&'static str>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TensorMetadata {
    #[schema(examples("FP32", "INT64"))]
    pub(super) datatype: &'static str,
    pub(super) name: &'static str,
    /// -1 = any number of rows.
    pub(super) shape: Vec<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelReady {
    pub(super) name: String,
    pub(super) ready: bool,
}
