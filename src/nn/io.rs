//! Saving and loading networks as safetensors, with PyTorch's tensor names and layouts so
//! that a state dict converts directly:
//!
//! | tensor | shape | what |
//! |---|---|---|
//! | `dense.{i}.weight` | [out, in] | dense layer i (0 = input side); `nn.Linear.weight` |
//! | `dense.{i}.bias` | [out] | |
//! | `bn.{i}.weight`, `bn.{i}.bias` | [units] | gamma, beta of the batch norm after dense i |
//! | `bn.{i}.running_mean`, `bn.{i}.running_var` | [units] | inference statistics |
//!
//! All tensors are little-endian F32. The file's metadata holds the architecture
//! (`nnlab_spec`, a `ModelSpec` as JSON), so a saved file is self-describing.

use std::collections::HashMap;

use ndarray::{Array1, Array2};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::init::Init;
use super::layer::Layer;
use super::network::Network;
use super::spec::ModelSpec;
use crate::rng::rng_from_seed;

pub const SPEC_METADATA_KEY: &str = "nnlab_spec";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelIoError {
    #[error("not a safetensors file: {0}")]
    Format(String),
    #[error("the file carries no architecture (metadata key {SPEC_METADATA_KEY})")]
    MissingSpec,
    #[error("bad architecture: {0}")]
    BadSpec(String),
    #[error("missing tensor {0}")]
    MissingTensor(String),
    #[error("tensor {tensor} has shape {got:?}, expected {expected:?}")]
    Shape {
        tensor: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    #[error("tensor {tensor} has dtype {got}, expected F32")]
    Dtype { tensor: String, got: String },
    #[error("tensor {0} holds NaN or infinite values")]
    NonFinite(String),
    #[error("tensor {tensor}: {message}")]
    Invalid { tensor: String, message: String },
}

impl ModelIoError {
    /// The tensor at fault, if one is.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            ModelIoError::MissingTensor(t) | ModelIoError::NonFinite(t) => Some(t),
            ModelIoError::Shape { tensor, .. }
            | ModelIoError::Dtype { tensor, .. }
            | ModelIoError::Invalid { tensor, .. } => Some(tensor),
            _ => None,
        }
    }
}

fn bytes_of(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(f32::to_le_bytes).collect()
}

/// One tensor to be written: name, shape, dtype and little-endian bytes.
pub struct OwnedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    pub bytes: Vec<u8>,
}

impl OwnedTensor {
    pub fn f32(name: String, shape: Vec<usize>, values: impl Iterator<Item = f32>) -> Self {
        OwnedTensor {
            name,
            shape,
            dtype: Dtype::F32,
            bytes: bytes_of(values),
        }
    }
}

/// The network's parameters and batch-norm statistics under their PyTorch names.
pub fn network_tensors(net: &Network) -> Vec<OwnedTensor> {
    let mut tensors = Vec::new();
    let mut dense_index = 0;
    for layer in &net.layers {
        match layer {
            Layer::Dense(d) => {
                // [in, out] in memory -> PyTorch's [out, in].
                let name = format!("dense.{dense_index}.weight");
                tensors.push(OwnedTensor::f32(
                    name,
                    vec![d.n_out(), d.n_in()],
                    d.w.t().iter().copied(),
                ));
                let name = format!("dense.{dense_index}.bias");
                tensors.push(OwnedTensor::f32(name, vec![d.n_out()], d.b.iter().copied()));
                dense_index += 1;
            }
            Layer::BatchNorm(b) => {
                // The batch norm follows dense layer `dense_index - 1`.
                let i = dense_index - 1;
                for (name, values) in [
                    ("weight", &b.gamma),
                    ("bias", &b.beta),
                    ("running_mean", &b.running_mean),
                    ("running_var", &b.running_var),
                ] {
                    tensors.push(OwnedTensor::f32(
                        format!("bn.{i}.{name}"),
                        vec![b.units()],
                        values.iter().copied(),
                    ));
                }
            }
            _ => {}
        }
    }
    tensors
}

/// Writes tensors and string metadata as one safetensors file.
pub fn serialize(tensors: &[OwnedTensor], metadata: HashMap<String, String>) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|t| {
            let view = TensorView::new(t.dtype, t.shape.clone(), &t.bytes).expect("shape matches byte length");
            (t.name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(metadata)).expect("tensors are consistent");
    with_sorted_header(bytes)
}

/// The same file with its JSON header's keys in sorted order. safetensors writes the
/// metadata from a `HashMap`, whose order changes from one call to the next; sorted, equal
/// weights give equal bytes (and one SHA-256: a job's `init_sha256`, stored blobs). The
/// header keeps its length (same content, padded with spaces as safetensors pads it), so
/// the tensor data and their offsets are untouched.
fn with_sorted_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors wrote JSON");
    // serde_json's map is a BTreeMap (no preserve_order feature): keys come out sorted.
    let sorted = serde_json::to_vec(&header).expect("JSON serialises");
    if sorted.len() <= n {
        bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
        bytes[8 + sorted.len()..8 + n].fill(b' ');
    }
    bytes
}

/// The network's parameters and batch-norm statistics as a safetensors file.
pub fn to_safetensors(net: &Network) -> Vec<u8> {
    let spec = serde_json::to_string(&net.spec).expect("a spec serialises");
    let metadata = HashMap::from([
        (SPEC_METADATA_KEY.to_string(), spec),
        ("format".to_string(), "pt".to_string()),
    ]);
    serialize(&network_tensors(net), metadata)
}

/// The weights alone, without the architecture in the metadata: what `init_sha256` hashes,
/// so that networks with equal tensors have equal bytes whatever their dropout or
/// activation (a fork that changes those starts from its parent's very bytes).
pub fn weights_to_safetensors(net: &Network) -> Vec<u8> {
    serialize(&network_tensors(net), HashMap::new())
}

/// Reads a file written by [`to_safetensors`] (the architecture comes from its metadata).
pub fn from_safetensors(bytes: &[u8]) -> Result<Network, ModelIoError> {
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| ModelIoError::Format(e.to_string()))?;
    let spec_json = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(SPEC_METADATA_KEY))
        .ok_or(ModelIoError::MissingSpec)?;
    let spec: ModelSpec = serde_json::from_str(spec_json).map_err(|e| ModelIoError::BadSpec(e.to_string()))?;
    from_safetensors_with_spec(&spec, bytes)
}

/// Fills a network of the given architecture from safetensors weights trained anywhere.
/// Every expected tensor must be present with its exact shape; extra tensors are ignored.
pub fn from_safetensors_with_spec(spec: &ModelSpec, bytes: &[u8]) -> Result<Network, ModelIoError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| ModelIoError::Format(e.to_string()))?;
    network_from_file(spec, &file)
}

/// A tensor's F32 values, checked against the expected shape.
pub fn read_f32(file: &SafeTensors, name: String, shape: &[usize]) -> Result<Vec<f32>, ModelIoError> {
    let t = file
        .tensor(&name)
        .map_err(|_| ModelIoError::MissingTensor(name.clone()))?;
    if t.dtype() != Dtype::F32 {
        return Err(ModelIoError::Dtype {
            tensor: name,
            got: format!("{:?}", t.dtype()),
        });
    }
    if t.shape() != shape {
        return Err(ModelIoError::Shape {
            tensor: name,
            expected: shape.to_vec(),
            got: t.shape().to_vec(),
        });
    }
    let values: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(ModelIoError::NonFinite(name));
    }
    Ok(values)
}

/// Builds a network of the given architecture from the tensors of an open file.
pub fn network_from_file(spec: &ModelSpec, file: &SafeTensors) -> Result<Network, ModelIoError> {
    let read = |name: String, shape: &[usize]| read_f32(file, name, shape);
    let mut net = Network::build(spec, Init::Zeros, &mut rng_from_seed(0));
    let mut dense_index = 0;
    for layer in &mut net.layers {
        match layer {
            Layer::Dense(d) => {
                let (n_in, n_out) = (d.n_in(), d.n_out());
                let w = read(format!("dense.{dense_index}.weight"), &[n_out, n_in])?;
                let w_out_in = Array2::from_shape_vec((n_out, n_in), w).expect("length checked");
                d.w.assign(&w_out_in.t());
                d.b = Array1::from(read(format!("dense.{dense_index}.bias"), &[n_out])?);
                dense_index += 1;
            }
            Layer::BatchNorm(b) => {
                let (i, units) = (dense_index - 1, b.units());
                b.gamma = Array1::from(read(format!("bn.{i}.weight"), &[units])?);
                b.beta = Array1::from(read(format!("bn.{i}.bias"), &[units])?);
                b.running_mean = Array1::from(read(format!("bn.{i}.running_mean"), &[units])?);
                let var = read(format!("bn.{i}.running_var"), &[units])?;
                if var.iter().any(|&v| v < 0.0) {
                    return Err(ModelIoError::Invalid {
                        tensor: format!("bn.{i}.running_var"),
                        message: "negative variance".into(),
                    });
                }
                b.running_var = Array1::from(var);
            }
            _ => {}
        }
    }
    Ok(net)
}

#[cfg(test)]
mod determinism_tests {
    use super::*;

    #[test]
    fn the_same_network_serialises_to_the_same_bytes_every_time_and_still_loads() {
        let spec = ModelSpec {
            input_size: 4,
            classes: 3,
            hidden_layers: vec![5],
            activation: crate::nn::ActivationName::Relu,
            activation_alpha: 0.01,
            maxout_pieces: 2,
            batch_norm: true,
            ..ModelSpec::mlp(4, &[5], 3, crate::nn::ActivationName::Relu)
        };
        let net = Network::build(&spec, Init::He, &mut rng_from_seed(3));
        let first = to_safetensors(&net);
        // Each call builds a new metadata HashMap with its own random order.
        for _ in 0..20 {
            assert_eq!(to_safetensors(&net), first);
        }
        let loaded = from_safetensors(&first).unwrap();
        assert_eq!(to_safetensors(&loaded), first);
    }
}
