//! Layers: each owns its parameters, their gradients and the buffers of its forward and
//! backward passes, so a training step allocates nothing once shapes are stable.
//!
//! Every layer computes `forward(x) -> out` and `backward(x, grad_out) -> grad_in`, where `x`
//! is the same input the forward pass saw (the network keeps it: it is the previous layer's
//! output), so no layer copies its input.

pub mod batch_norm;
mod dense;
mod dropout;
mod elementwise;
mod maxout;

pub use batch_norm::BatchNorm;
pub use dense::{Dense, InferPath};
pub use dropout::Dropout;
pub use elementwise::ActivationLayer;
pub use maxout::Maxout;

use ndarray::{Array2, ArrayView2};

use crate::nn::matmul::MatMul;
use crate::rng::Rng;

/// Training draws dropout masks and uses batch statistics; inference is deterministic.
pub enum Mode<'a> {
    Train(&'a mut Rng),
    Infer,
}

impl Mode<'_> {
    pub fn is_train(&self) -> bool {
        matches!(self, Mode::Train(_))
    }
}

/// What a parameter is, which decides whether weight regularisation applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A dense layer's weight matrix: regularised, reported in gradient norms.
    Weight,
    Bias,
    /// Batch norm's gamma.
    Scale,
    /// Batch norm's beta.
    Shift,
}

/// One parameter tensor and its gradient, flattened, as the optimizer sees it.
pub struct Param<'a> {
    pub value: &'a mut [f32],
    pub grad: &'a mut [f32],
    pub role: Role,
}

#[derive(Debug, Clone)]
pub enum Layer {
    Dense(Dense),
    Activation(ActivationLayer),
    Maxout(Maxout),
    Dropout(Dropout),
    BatchNorm(BatchNorm),
}

impl Layer {
    pub fn forward(&mut self, x: ArrayView2<f32>, mode: &mut Mode, mm: &MatMul) {
        match self {
            Layer::Dense(l) => l.forward(x, mm),
            Layer::Activation(l) => l.forward(x),
            Layer::Maxout(l) => l.forward(x),
            Layer::Dropout(l) => l.forward(x, mode),
            Layer::BatchNorm(l) => l.forward(x, mode),
        }
    }

    /// Fills the parameter gradients and, when `need_grad_in`, the gradient for the input.
    pub fn backward(&mut self, x: ArrayView2<f32>, grad_out: ArrayView2<f32>, need_grad_in: bool, mm: &MatMul) {
        match self {
            Layer::Dense(l) => l.backward(x, grad_out, need_grad_in, mm),
            Layer::Activation(l) => l.backward(x, grad_out),
            Layer::Maxout(l) => l.backward(x, grad_out),
            Layer::Dropout(l) => l.backward(grad_out),
            Layer::BatchNorm(l) => l.backward(grad_out),
        }
    }

    /// Inference on `&self`, allocating its output: many requests can share one network.
    pub fn infer(&self, x: ArrayView2<f32>, mm: &MatMul) -> Array2<f32> {
        match self {
            Layer::Dense(l) => l.infer(x, mm),
            Layer::Activation(l) => l.infer(x),
            Layer::Maxout(l) => l.infer(x),
            Layer::Dropout(_) => x.to_owned(),
            Layer::BatchNorm(l) => l.infer(x),
        }
    }

    pub fn output(&self) -> ArrayView2<'_, f32> {
        match self {
            Layer::Dense(l) => l.out.view(),
            Layer::Activation(l) => l.out.view(),
            Layer::Maxout(l) => l.out.view(),
            Layer::Dropout(l) => l.out.view(),
            Layer::BatchNorm(l) => l.out.view(),
        }
    }

    pub fn grad_in(&self) -> ArrayView2<'_, f32> {
        match self {
            Layer::Dense(l) => l.grad_in.view(),
            Layer::Activation(l) => l.grad_in.view(),
            Layer::Maxout(l) => l.grad_in.view(),
            Layer::Dropout(l) => l.grad_in.view(),
            Layer::BatchNorm(l) => l.grad_in.view(),
        }
    }

    /// Visits parameters in a stable order (weights before biases, layers input side first).
    pub fn visit_params(&mut self, f: &mut dyn FnMut(Param)) {
        match self {
            Layer::Dense(l) => {
                f(Param {
                    value: as_slice_mut(&mut l.w),
                    grad: as_slice_mut(&mut l.dw),
                    role: Role::Weight,
                });
                f(Param {
                    value: l.b.as_slice_mut().expect("contiguous"),
                    grad: l.db.as_slice_mut().expect("contiguous"),
                    role: Role::Bias,
                });
            }
            Layer::BatchNorm(l) => {
                f(Param {
                    value: l.gamma.as_slice_mut().expect("contiguous"),
                    grad: l.dgamma.as_slice_mut().expect("contiguous"),
                    role: Role::Scale,
                });
                f(Param {
                    value: l.beta.as_slice_mut().expect("contiguous"),
                    grad: l.dbeta.as_slice_mut().expect("contiguous"),
                    role: Role::Shift,
                });
            }
            Layer::Activation(_) | Layer::Maxout(_) | Layer::Dropout(_) => {}
        }
    }
}

fn as_slice_mut(a: &mut Array2<f32>) -> &mut [f32] {
    a.as_slice_mut().expect("parameters are stored contiguously")
}

/// Reshapes a buffer only when the batch size changed (e.g. the last, shorter mini-batch).
pub(crate) fn ensure_shape(buf: &mut Array2<f32>, rows: usize, cols: usize) {
    if buf.dim() != (rows, cols) {
        *buf = Array2::zeros((rows, cols));
    }
}
