//! Batch normalisation over the batch axis (Ioffe & Szegedy 2015).
//!
//! Training: x_hat = (x - mu_B) / sqrt(var_B + eps), y = gamma x_hat + beta, with the batch's
//! own mean and (biased) variance, and the running statistics move toward them with
//! `momentum` (PyTorch's convention: running = (1 - momentum) running + momentum batch,
//! the running variance taking the unbiased batch variance). Inference uses only the running
//! statistics, so a sample's output never depends on the rest of its batch.

use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};

use super::{Mode, ensure_shape};

pub const DEFAULT_MOMENTUM: f32 = 0.1;
pub const DEFAULT_EPS: f32 = 1e-5;

#[derive(Debug, Clone)]
pub struct BatchNorm {
    pub gamma: Array1<f32>,
    pub beta: Array1<f32>,
    pub dgamma: Array1<f32>,
    pub dbeta: Array1<f32>,
    /// State, not parameters: not trained by the optimizer, but saved with the model.
    pub running_mean: Array1<f32>,
    pub running_var: Array1<f32>,
    pub momentum: f32,
    pub eps: f32,
    x_hat: Array2<f32>,
    inv_std: Array1<f32>,
    pub(super) out: Array2<f32>,
    pub(super) grad_in: Array2<f32>,
}

impl BatchNorm {
    pub fn new(units: usize) -> Self {
        BatchNorm {
            gamma: Array1::ones(units),
            beta: Array1::zeros(units),
            dgamma: Array1::zeros(units),
            dbeta: Array1::zeros(units),
            running_mean: Array1::zeros(units),
            running_var: Array1::ones(units),
            momentum: DEFAULT_MOMENTUM,
            eps: DEFAULT_EPS,
            x_hat: Array2::zeros((0, units)),
            inv_std: Array1::zeros(units),
            out: Array2::zeros((0, units)),
            grad_in: Array2::zeros((0, units)),
        }
    }

    pub fn units(&self) -> usize {
        self.gamma.len()
    }

    pub fn forward(&mut self, x: ArrayView2<f32>, mode: &mut Mode) {
        let (n, d) = x.dim();
        ensure_shape(&mut self.out, n, d);
        if !mode.is_train() {
            let y = self.infer(x);
            self.out.assign(&y);
            return;
        }
        ensure_shape(&mut self.x_hat, n, d);
        let mean = x.mean_axis(Axis(0)).expect("non-empty batch");
        let mut var = Array1::<f32>::zeros(d);
        for row in x.rows() {
            Zip::from(&mut var)
                .and(&row)
                .and(&mean)
                .for_each(|v, &x, &m| *v += (x - m) * (x - m));
        }
        var /= n as f32;
        Zip::from(&mut self.inv_std)
            .and(&var)
            .for_each(|s, &v| *s = 1.0 / (v + self.eps).sqrt());
        for ((xr, mut hr), mut yr) in x.rows().into_iter().zip(self.x_hat.rows_mut()).zip(self.out.rows_mut()) {
            Zip::from(&mut hr)
                .and(&xr)
                .and(&mean)
                .and(&self.inv_std)
                .for_each(|h, &x, &m, &s| *h = (x - m) * s);
            Zip::from(&mut yr)
                .and(&hr)
                .and(&self.gamma)
                .and(&self.beta)
                .for_each(|y, &h, &g, &b| *y = g * h + b);
        }
        let unbiased = if n > 1 { n as f32 / (n - 1) as f32 } else { 1.0 };
        let m = self.momentum;
        Zip::from(&mut self.running_mean)
            .and(&mean)
            .for_each(|r, &b| *r = (1.0 - m) * *r + m * b);
        Zip::from(&mut self.running_var)
            .and(&var)
            .for_each(|r, &b| *r = (1.0 - m) * *r + m * b * unbiased);
    }

    pub fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        // Fold the running statistics into one scale and shift per unit.
        let scale = Zip::from(&self.gamma)
            .and(&self.running_var)
            .map_collect(|&g, &v| g / (v + self.eps).sqrt());
        let shift = Zip::from(&self.beta)
            .and(&self.running_mean)
            .and(&scale)
            .map_collect(|&b, &m, &s| b - m * s);
        let mut y = x.to_owned();
        for mut row in y.rows_mut() {
            Zip::from(&mut row)
                .and(&scale)
                .and(&shift)
                .for_each(|y, &s, &t| *y = *y * s + t);
        }
        y
    }

    /// dx = inv_std / N (N dx_hat - sum dx_hat - x_hat sum(dx_hat x_hat)), dx_hat = g gamma.
    pub fn backward(&mut self, g: ArrayView2<f32>) {
        let (n, d) = g.dim();
        ensure_shape(&mut self.grad_in, n, d);
        self.dgamma.fill(0.0);
        self.dbeta.fill(0.0);
        for (gr, hr) in g.rows().into_iter().zip(self.x_hat.rows()) {
            Zip::from(&mut self.dgamma)
                .and(&mut self.dbeta)
                .and(&gr)
                .and(&hr)
                .for_each(|dg, db, &g, &h| {
                    *dg += g * h;
                    *db += g;
                });
        }
        // sum(dx_hat) = gamma dbeta and sum(dx_hat x_hat) = gamma dgamma.
        let a = Zip::from(&self.gamma)
            .and(&self.inv_std)
            .map_collect(|&gamma, &s| gamma * s / n as f32);
        let nf = n as f32;
        for ((gr, hr), mut gir) in g.rows().into_iter().zip(self.x_hat.rows()).zip(self.grad_in.rows_mut()) {
            Zip::from(&mut gir)
                .and(&gr)
                .and(&hr)
                .and(&a)
                .and(&self.dbeta)
                .and(&self.dgamma)
                .for_each(|gi, &g, &h, &a, &db, &dg| {
                    *gi = a * (nf * g - db - h * dg);
                });
        }
    }
}
