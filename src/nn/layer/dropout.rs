//! Inverted dropout: while training each unit is kept with probability 1 - p and scaled by
//! 1 / (1 - p), so inference is the identity and needs no rescaling.

use ndarray::{Array2, ArrayView2};
use rand::RngExt;

use super::{Mode, ensure_shape};

#[derive(Debug, Clone)]
pub struct Dropout {
    /// Probability of dropping a unit.
    pub p: f32,
    mask: Array2<f32>,
    pub(super) out: Array2<f32>,
    pub(super) grad_in: Array2<f32>,
}

impl Dropout {
    pub fn new(p: f32) -> Self {
        assert!((0.0..1.0).contains(&p), "dropout probability in [0, 1)");
        Dropout {
            p,
            mask: Array2::zeros((0, 0)),
            out: Array2::zeros((0, 0)),
            grad_in: Array2::zeros((0, 0)),
        }
    }

    pub fn forward(&mut self, x: ArrayView2<f32>, mode: &mut Mode) {
        ensure_shape(&mut self.out, x.nrows(), x.ncols());
        ensure_shape(&mut self.mask, x.nrows(), x.ncols());
        match mode {
            Mode::Train(rng) => {
                let keep = 1.0 / (1.0 - self.p);
                let p = self.p;
                self.mask
                    .mapv_inplace(|_| if rng.random::<f32>() < p { 0.0 } else { keep });
            }
            Mode::Infer => self.mask.fill(1.0),
        }
        ndarray::Zip::from(&mut self.out)
            .and(&x)
            .and(&self.mask)
            .for_each(|o, &x, &m| *o = x * m);
    }

    pub fn backward(&mut self, g: ArrayView2<f32>) {
        ensure_shape(&mut self.grad_in, g.nrows(), g.ncols());
        ndarray::Zip::from(&mut self.grad_in)
            .and(&g)
            .and(&self.mask)
            .for_each(|gi, &g, &m| *gi = g * m);
    }
}
