//! Maxout: the preceding dense layer computes k linear pieces per unit; this layer keeps the
//! largest, out[:, j] = max_t z[:, j k + t]. The gradient is routed to the winning piece only
//! (the lecture's "max gate").

use ndarray::{Array2, ArrayView2};

use super::ensure_shape;

#[derive(Debug, Clone)]
pub struct Maxout {
    pub pieces: usize,
    pub(super) out: Array2<f32>,
    pub(super) grad_in: Array2<f32>,
}

/// Index of the largest of a unit's pieces; ties go to the first.
#[inline]
fn winner(pieces: &[f32]) -> usize {
    let mut best = 0;
    for (t, &v) in pieces.iter().enumerate().skip(1) {
        if v > pieces[best] {
            best = t;
        }
    }
    best
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
            let xr = xr.to_vec();
            for (j, o) in or.iter_mut().enumerate() {
                let group = &xr[j * k..(j + 1) * k];
                *o = group[winner(group)];
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
            let xr = xr.to_vec();
            for (j, &gj) in gr.iter().enumerate() {
                let t = winner(&xr[j * k..(j + 1) * k]);
                gir[j * k + t] = gj;
            }
        }
    }
}
