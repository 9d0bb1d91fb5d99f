//! Maxout: the preceding dense layer computes k linear pieces per unit; this layer keeps the
//! largest, out[:, j] = max_t z[:, j k + t]. The gradient is routed to the winning piece only
//! (the lecture's "max gate").

use std::borrow::Cow;

use ndarray::{Array2, ArrayView2};

use super::ensure_shape;
use crate::nn::loss::argmax;

#[derive(Debug, Clone)]
pub struct Maxout {
    pub pieces: usize,
    pub(super) out: Array2<f32>,
    pub(super) grad_in: Array2<f32>,
}

impl Maxout {
    pub fn new(pieces: usize) -> Self {
        assert!(pieces >= 1);
        Maxout {
            pieces,
            out: Array2::zeros((0, 0)),
            grad_in: Array2::zeros((0, 0)),
        }
    }

    fn compute(&self, x: ArrayView2<f32>, out: &mut Array2<f32>) {
        let k = self.pieces;
        for (xr, mut or) in x.rows().into_iter().zip(out.rows_mut()) {
            // Rows of the layers' own buffers are contiguous: no copy on the training path.
            let xr = xr.as_slice().map_or_else(|| Cow::Owned(xr.to_vec()), Cow::Borrowed);
            for (j, o) in or.iter_mut().enumerate() {
                let group = &xr[j * k..(j + 1) * k];
                *o = group[argmax(group)];
            }
        }
    }

    pub fn forward(&mut self, x: ArrayView2<f32>) {
        assert_eq!(x.ncols() % self.pieces, 0, "input width is units x pieces");
        ensure_shape(&mut self.out, x.nrows(), x.ncols() / self.pieces);
        let mut out = std::mem::take(&mut self.out);
        self.compute(x, &mut out);
        self.out = out;
    }

    pub fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut out = Array2::zeros((x.nrows(), x.ncols() / self.pieces));
        self.compute(x, &mut out);
        out
    }

    pub fn backward(&mut self, x: ArrayView2<f32>, g: ArrayView2<f32>) {
        let k = self.pieces;
        ensure_shape(&mut self.grad_in, x.nrows(), x.ncols());
        self.grad_in.fill(0.0);
        for ((xr, gr), mut gir) in x.rows().into_iter().zip(g.rows()).zip(self.grad_in.rows_mut()) {
            let xr = xr.as_slice().map_or_else(|| Cow::Owned(xr.to_vec()), Cow::Borrowed);
            for (j, &gj) in gr.iter().enumerate() {
                let t = argmax(&xr[j * k..(j + 1) * k]);
                gir[j * k + t] = gj;
            }
        }
    }
}
