//! An activation function applied element-wise as a layer.

use ndarray::{Array2, ArrayView2};

use super::ensure_shape;
use crate::nn::activation::Activation;

#[derive(Debug, Clone)]
pub struct ActivationLayer {
    pub activation: Activation,
    pub(super) out: Array2<f32>,
    pub(super) grad_in: Array2<f32>,
}

impl ActivationLayer {
    pub fn new(activation: Activation) -> Self {
        ActivationLayer {
            activation,
            out: Array2::zeros((0, 0)),
            grad_in: Array2::zeros((0, 0)),
        }
    }

    pub fn forward(&mut self, x: ArrayView2<f32>) {
        ensure_shape(&mut self.out, x.nrows(), x.ncols());
        let x = x.as_standard_layout();
        self.activation.apply(
            x.as_slice().expect("standard layout"),
            self.out.as_slice_mut().expect("owned"),
        );
    }

    pub fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        x.mapv(|v| self.activation.f(v))
    }

    pub fn backward(&mut self, x: ArrayView2<f32>, g: ArrayView2<f32>) {
        ensure_shape(&mut self.grad_in, g.nrows(), g.ncols());
        let x = x.as_standard_layout();
        let g = g.as_standard_layout();
        self.activation.backprop(
            x.as_slice().expect("standard layout"),
            self.out.as_slice().expect("owned"),
            g.as_slice().expect("standard layout"),
            self.grad_in.as_slice_mut().expect("owned"),
        );
    }
}
