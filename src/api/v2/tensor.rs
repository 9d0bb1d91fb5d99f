//! The tensors of a V2 inference: the request and response bodies (with the `TensorData`
//! schema), the checks that turn the request's one input tensor into a matrix, and the
//! row-major flattening of tensor data while it is parsed.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{INPUT, LABEL, PROBABILITIES};
use crate::api::AppError;
use crate::api::predict::Prediction;
use crate::api::rows::{MAX_VALUES, check_finite, check_row_count};

/// An inference request: one input tensor `input`, FP32 (or FP64) of shape [N, input_size].
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]}]}))]
pub struct InferRequest {
    /// Echoed in the response.
    pub(super) id: Option<String>,
    /// Exactly one tensor.
    pub(super) inputs: Vec<InferInput>,
    /// The outputs to answer, in this order; all when omitted.
    pub(super) outputs: Option<Vec<RequestedOutput>>,
    /// Any parameters are accepted and ignored: skipped while parsing, never stored.
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<IgnoredObject>,
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
    parameters: Option<IgnoredObject>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestedOutput {
    /// `probabilities` or `label`.
    name: String,
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<IgnoredObject>,
}

/// A JSON object whose entries are skipped as they are parsed, never stored: the protocol's
/// `parameters`, which this server ignores (15 MiB of them cost nothing but the parse).
#[derive(Debug)]
struct IgnoredObject;

impl<'de> Deserialize<'de> for IgnoredObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Skip;
        impl<'de> serde::de::Visitor<'de> for Skip {
            type Value = IgnoredObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<IgnoredObject, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IgnoredObject)
            }
        }
        d.deserialize_map(Skip)
    }
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
    pub(super) model_name: String,
    #[schema(example = "1")]
    pub(super) model_version: &'static str,
    /// The request's `id`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<String>,
    pub(super) outputs: Vec<OutputTensor>,
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

/// The outputs to answer, in the order asked; all of them when none are named.
pub(super) fn requested_outputs(requested: Option<&[RequestedOutput]>) -> Result<Vec<&'static str>, AppError> {
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
pub(super) fn input_matrix(mut inputs: Vec<InferInput>, input_size: usize) -> Result<Array2<f32>, AppError> {
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
    check_row_count("inputs[0].shape", rows)?;
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
    check_finite(&data, "inputs[0].data")?;
    let x = Array2::from_shape_vec((rows, width), data).map_err(anyhow::Error::from)?;
    Ok(x)
}

/// The answer's tensors, in the order asked, from one prediction per input row.
pub(super) fn output_tensors(names: &[&'static str], predictions: &[Prediction], classes: usize) -> Vec<OutputTensor> {
    let rows = predictions.len();
    names
        .iter()
        .map(|&name| match name {
            PROBABILITIES => OutputTensor {
                name: PROBABILITIES,
                shape: vec![rows, classes],
                datatype: "FP32",
                data: OutputData::Fp32(
                    predictions
                        .iter()
                        .flat_map(|p| p.probabilities.iter().copied())
                        .collect(),
                ),
            },
            _ => OutputTensor {
                name: LABEL,
                shape: vec![rows],
                datatype: "INT64",
                data: OutputData::Int64(predictions.iter().map(|p| p.label as i64).collect()),
            },
        })
        .collect()
}

/// A tensor's `data`, flat or nested arrays of numbers, flattened row-major while parsing
/// into f32 (4 bytes a value rather than a `serde_json::Value` tree; a value beyond f32's
/// range becomes infinite and is refused as not finite), at most `MAX_VALUES` of them. A
/// non-number is a type error at its own path, e.g. `inputs[0].data[3]`.
#[derive(Debug, Default)]
struct FlatData(Vec<f32>);

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut values = Vec::new();
        deserializer.deserialize_seq(Collect(&mut values))?;
        Ok(FlatData(values))
    }
}

struct Collect<'a>(&'a mut Vec<f32>);

impl Collect<'_> {
    fn push<E: serde::de::Error>(&mut self, v: f64) -> Result<(), E> {
        if self.0.len() == MAX_VALUES {
            return Err(E::custom(format!("at most {MAX_VALUES} values")));
        }
        self.0.push(v as f32);
        Ok(())
    }
}

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

    fn visit_f64<E: serde::de::Error>(mut self, v: f64) -> Result<(), E> {
        self.push(v)
    }

    fn visit_i64<E: serde::de::Error>(mut self, v: i64) -> Result<(), E> {
        self.push(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(mut self, v: u64) -> Result<(), E> {
        self.push(v as f64)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Collect(&mut *self.0))?.is_some() {}
        Ok(())
    }
}
