//! Checkpoints: everything a run needs to go on exactly where it stopped, as one
//! safetensors file: the network's tensors (as `nn::io` names them), the optimizer's state
//! (`optim.{i}.a`, `optim.{i}.b` per parameter tensor, in visiting order), the training and
//! validation row order (`train_idx`, `val_idx`, U64), and in the metadata the step counters
//! and the RNG state. A run resumed from the checkpoint of epoch e gives epochs e+1.. exactly
//! as the uninterrupted run would (`tests.rs` checks it).
//!
//! A k-fold run's checkpoint adds where it is among the folds: the fold under way, the
//! results of the folds done, and the best fold's network so far (as a nested safetensors
//! file in the U8 tensor `kfold.best_network`).

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::events::Evaluation;
use super::trainer::Run;
use crate::nn::io::{
    ModelIoError, OwnedTensor, from_safetensors, network_from_file, network_tensors, read_f32, serialize,
    to_safetensors,
};
use crate::nn::optim::SlotState;
use crate::nn::{ModelSpec, Network, Optimizer, OptimizerConfig};
use crate::rng::Rng;

const META_KEY: &str = "nnlab_checkpoint";

#[derive(Serialize, Deserialize)]
struct Meta {
    model_spec: ModelSpec,
    optimizer: OptimizerConfig,
    t: u64,
    slots: usize,
    epochs_done: usize,
    steps_done: usize,
    rng: Rng,
    #[serde(default)]
    kfold: Option<KFoldMeta>,
}

#[derive(Serialize, Deserialize)]
struct KFoldMeta {
    fold: usize,
    results: Vec<Evaluation>,
    /// Validation accuracy and 1-based fold of the best network so far.
    best: Option<(f32, usize)>,
}

const BEST_NETWORK: &str = "kfold.best_network";

/// Where a k-fold run is: the 0-based fold under way, the folds done, the best so far.
#[derive(Debug, Clone)]
pub struct KFoldProgress {
    pub fold: usize,
    pub results: Vec<Evaluation>,
    /// Validation accuracy, 1-based fold and network of the best fold so far.
    pub best: Option<(f32, usize, Network)>,
}

/// A run and the row order it was using.
pub struct Checkpoint {
    pub run: Run,
    pub train_idx: Vec<usize>,
    pub val_idx: Vec<usize>,
    pub kfold: Option<KFoldProgress>,
}

fn indices(name: &str, idx: &[usize]) -> OwnedTensor {
    OwnedTensor {
        name: name.to_string(),
        shape: vec![idx.len()],
        dtype: Dtype::U64,
        bytes: idx.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect(),
    }
}

pub fn encode(run: &Run, train_idx: &[usize], val_idx: &[usize], kfold: Option<&KFoldProgress>) -> Vec<u8> {
    let mut tensors = network_tensors(&run.network);
    for (i, slot) in run.optimizer.slots.iter().enumerate() {
        tensors.push(OwnedTensor::f32(
            format!("optim.{i}.a"),
            vec![slot.a.len()],
            slot.a.iter().copied(),
        ));
        tensors.push(OwnedTensor::f32(
            format!("optim.{i}.b"),
            vec![slot.b.len()],
            slot.b.iter().copied(),
        ));
    }
    tensors.push(indices("train_idx", train_idx));
    tensors.push(indices("val_idx", val_idx));
    if let Some((_, _, best)) = kfold.and_then(|k| k.best.as_ref()) {
        let bytes = to_safetensors(best);
        tensors.push(OwnedTensor {
            name: BEST_NETWORK.into(),
            shape: vec![bytes.len()],
            dtype: Dtype::U8,
            bytes,
        });
    }
    let meta = Meta {
        model_spec: run.network.spec.clone(),
        optimizer: run.optimizer.config,
        t: run.optimizer.t,
        slots: run.optimizer.slots.len(),
        epochs_done: run.epochs_done,
        steps_done: run.steps_done,
        rng: run.rng.clone(),
        kfold: kfold.map(|k| KFoldMeta {
            fold: k.fold,
            results: k.results.clone(),
            best: k.best.as_ref().map(|(accuracy, fold, _)| (*accuracy, *fold)),
        }),
    };
    let meta = serde_json::to_string(&meta).expect("checkpoint metadata serialises");
    serialize(&tensors, HashMap::from([(META_KEY.to_string(), meta)]))
}

fn read_indices(file: &SafeTensors, name: &str) -> Result<Vec<usize>, ModelIoError> {
    let t = file
        .tensor(name)
        .map_err(|_| ModelIoError::MissingTensor(name.into()))?;
    if t.dtype() != Dtype::U64 || t.shape().len() != 1 {
        return Err(ModelIoError::Invalid {
            tensor: name.into(),
            message: "expected a U64 vector".into(),
        });
    }
    Ok(t.data()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as usize)
        .collect())
}

pub fn decode(bytes: &[u8]) -> Result<Checkpoint, ModelIoError> {
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| ModelIoError::Format(e.to_string()))?;
    let meta = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or(ModelIoError::MissingSpec)?;
    let meta: Meta = serde_json::from_str(meta).map_err(|e| ModelIoError::BadSpec(e.to_string()))?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| ModelIoError::Format(e.to_string()))?;
    let network = network_from_file(&meta.model_spec, &file)?;
    let mut slots = Vec::with_capacity(meta.slots);
    for i in 0..meta.slots {
        let len = |name: &str| {
            file.tensor(name)
                .map(|t| t.shape().iter().product::<usize>())
                .unwrap_or(0)
        };
        let (a, b) = (format!("optim.{i}.a"), format!("optim.{i}.b"));
        let (la, lb) = (len(&a), len(&b));
        slots.push(SlotState {
            a: read_f32(&file, a, &[la])?,
            b: read_f32(&file, b, &[lb])?,
        });
    }
    let optimizer = Optimizer {
        config: meta.optimizer,
        t: meta.t,
        slots,
    };
    let run = Run {
        network,
        optimizer,
        rng: meta.rng,
        epochs_done: meta.epochs_done,
        steps_done: meta.steps_done,
    };
    let kfold = match meta.kfold {
        None => None,
        Some(k) => {
            let best = match k.best {
                None => None,
                Some((accuracy, fold)) => {
                    let t = file
                        .tensor(BEST_NETWORK)
                        .map_err(|_| ModelIoError::MissingTensor(BEST_NETWORK.into()))?;
                    Some((accuracy, fold, from_safetensors(t.data())?))
                }
            };
            Some(KFoldProgress {
                fold: k.fold,
                results: k.results,
                best,
            })
        }
    };
    Ok(Checkpoint {
        run,
        train_idx: read_indices(&file, "train_idx")?,
        val_idx: read_indices(&file, "val_idx")?,
        kfold,
    })
}
