//! A feed-forward network: a sequence of layers ending in class logits.

use ndarray::{Array2, ArrayView2};

use super::init::Init;
use super::layer::{ActivationLayer, BatchNorm, Dense, Dropout, InferPath, Layer, Maxout, Mode, Param};
use super::loss::{Loss, argmax_rows, softmax};
use super::matmul::MatMul;
use super::matvec::matvec_sparse;
use super::spec::ModelSpec;
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct Network {
    pub spec: ModelSpec,
    pub layers: Vec<Layer>,
    probs: Array2<f32>,
    dlogits: Array2<f32>,
}

/// What one training step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchOutcome {
    pub loss: f32,
    pub correct: usize,
}

impl Network {
    /// Dense layers drawn by `init` (zero biases); per hidden layer:
    /// dense -> [batch norm] -> activation or maxout -> [dropout].
    pub fn build(spec: &ModelSpec, init: Init, rng: &mut Rng) -> Network {
        let shapes = spec.dense_shapes();
        let mut layers = Vec::new();
        for (i, &(n_in, n_out)) in shapes.iter().enumerate() {
            layers.push(Layer::Dense(Dense::new(
                init.weights(n_in, n_out, rng),
                ndarray::Array1::zeros(n_out),
            )));
            if i + 1 == shapes.len() {
                break;
            }
            if spec.batch_norm {
                let mut bn = BatchNorm::new(n_out);
                (bn.momentum, bn.eps) = (spec.bn_momentum, spec.bn_eps);
                layers.push(Layer::BatchNorm(bn));
            }
            match spec.activation.elementwise(spec.activation_alpha) {
                Some(act) => layers.push(Layer::Activation(ActivationLayer::new(act))),
                None => layers.push(Layer::Maxout(Maxout::new(spec.maxout_pieces))),
            }
            if spec.dropout > 0.0 {
                layers.push(Layer::Dropout(Dropout::new(spec.dropout)));
            }
        }
        Network::from_layers(spec.clone(), layers)
    }

    pub fn from_layers(spec: ModelSpec, layers: Vec<Layer>) -> Network {
        Network {
            spec,
            layers,
            probs: Array2::zeros((0, 0)),
            dlogits: Array2::zeros((0, 0)),
        }
    }

    /// Runs every layer on the batch; the logits are then `self.logits_buffer()`.
    pub fn forward(&mut self, x: ArrayView2<f32>, mode: &mut Mode, mm: &MatMul) {
        for i in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(i);
            let input = if i == 0 { x } else { before[i - 1].output() };
            rest[0].forward(input, mode, mm);
        }
    }

    pub fn logits_buffer(&self) -> ArrayView2<'_, f32> {
        self.layers.last().expect("a network has layers").output()
    }

    /// Back-propagates dL/dlogits through every layer, filling the parameter gradients.
    /// `x` must be the batch of the preceding `forward`.
    pub fn backward(&mut self, x: ArrayView2<f32>, dlogits: ArrayView2<f32>, mm: &MatMul) {
        let n = self.layers.len();
        for i in (0..n).rev() {
            let (before, rest) = self.layers.split_at_mut(i);
            let (layer, after) = rest.split_first_mut().expect("i < n");
            let input = if i == 0 { x } else { before[i - 1].output() };
            let grad_out = if i + 1 == n { dlogits } else { after[0].grad_in() };
            // The input layer's input gradient is never needed: skip its GEMM.
            layer.backward(input, grad_out, i > 0, mm);
        }
    }

    /// One forward + backward pass on a mini-batch; the gradients are left in the layers.
    pub fn train_batch(
        &mut self,
        x: ArrayView2<f32>,
        labels: &[u8],
        loss: Loss,
        rng: &mut Rng,
        mm: &MatMul,
    ) -> BatchOutcome {
        self.forward(x, &mut Mode::Train(rng), mm);
        let logits = self.layers.last().expect("a network has layers").output();
        let shape = logits.raw_dim();
        if self.probs.raw_dim() != shape {
            self.probs = Array2::zeros(shape);
            self.dlogits = Array2::zeros(shape);
        }
        let value = loss.forward_backward(logits, labels, &mut self.probs, &mut self.dlogits);
        let correct = argmax_rows(self.probs.view())
            .iter()
            .zip(labels)
            .filter(|(p, y)| **p == **y as usize)
            .count();
        let dlogits = std::mem::take(&mut self.dlogits);
        self.backward(x, dlogits.view(), mm);
        self.dlogits = dlogits;
        BatchOutcome { loss: value, correct }
    }

    /// Inference-mode logits, on `&self` so that many callers can share one network.
    pub fn logits(&self, x: ArrayView2<f32>, mm: &MatMul) -> Array2<f32> {
        self.logits_as(x, mm, InferPath::Auto)
    }

    /// [`logits`](Self::logits) with every dense layer on the given path (for the bench).
    pub fn logits_as(&self, x: ArrayView2<f32>, mm: &MatMul, path: InferPath) -> Array2<f32> {
        let infer = |layer: &Layer, h: ArrayView2<f32>| match layer {
            Layer::Dense(d) => d.infer_as(h, mm, path),
            other => other.infer(h, mm),
        };
        let mut h = infer(&self.layers[0], x);
        for layer in &self.layers[1..] {
            // Dropout is the identity at inference: skip it rather than copy the batch.
            if !matches!(layer, Layer::Dropout(_)) {
                h = infer(layer, h.view());
            }
        }
        h
    }

    pub fn predict_proba(&self, x: ArrayView2<f32>, mm: &MatMul) -> Array2<f32> {
        softmax(self.logits(x, mm).view())
    }

    /// Class probabilities of one input row: the batch-1 path, a sparse matrix-vector product
    /// per dense layer (most MNIST pixels are 0) instead of a GEMM with one row.
    pub fn predict_one(&self, x: &[f32]) -> Vec<f32> {
        // `None` while the values are still the caller's input: the first dense layer reads
        // it in place rather than from a copy.
        let mut h: Option<Vec<f32>> = None;
        for layer in &self.layers {
            let next = match layer {
                Layer::Dense(d) => {
                    let mut out = vec![0.0; d.n_out()];
                    let input = h.as_deref().unwrap_or(x);
                    matvec_sparse(input, d.w.view(), d.b.as_slice().expect("contiguous"), &mut out);
                    out
                }
                Layer::Dropout(_) => continue,
                Layer::Activation(a) => {
                    let mut v = h.take().unwrap_or_else(|| x.to_vec());
                    v.iter_mut().for_each(|v| *v = a.activation.f(*v));
                    v
                }
                other => {
                    let v = h.take().unwrap_or_else(|| x.to_vec());
                    let row = ArrayView2::from_shape((1, v.len()), &v).expect("one row");
                    other.infer(row, &MatMul::single()).into_raw_vec_and_offset().0
                }
            };
            h = Some(next);
        }
        let h = h.unwrap_or_else(|| x.to_vec());
        let row = ArrayView2::from_shape((1, h.len()), &h).expect("one row");
        softmax(row).into_raw_vec_and_offset().0
    }

    /// Visits every parameter tensor in a stable order (the optimizer's state follows it).
    pub fn visit_params(&mut self, f: &mut dyn FnMut(Param)) {
        for layer in &mut self.layers {
            layer.visit_params(f);
        }
    }

    pub fn dense_layers(&self) -> impl Iterator<Item = &Dense> {
        self.layers
            .iter()
            .filter_map(|l| if let Layer::Dense(d) = l { Some(d) } else { None })
    }

    pub fn batch_norm_layers(&self) -> impl Iterator<Item = &BatchNorm> {
        self.layers
            .iter()
            .filter_map(|l| if let Layer::BatchNorm(b) = l { Some(b) } else { None })
    }

    pub fn parameter_count(&self) -> usize {
        self.spec.parameter_count()
    }
}
