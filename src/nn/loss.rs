//! Losses on the network's logits, fused with the softmax that turns them into probabilities.
//!
//! Labels are class indices; the one-hot target y of the lecture's formulas is implicit.

use ndarray::{Array2, ArrayView2, Axis, Zip};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// L = -1/N sum_i log softmax(z_i)[y_i], computed as logsumexp(z_i) - z_i[y_i] so that
    /// no probability is ever rounded to 0 before its logarithm.
    CrossEntropy,
    /// L = 1/(2N) sum_i ||softmax(z_i) - onehot(y_i)||^2, the lecture's MSE on the
    /// probabilities.
    Mse,
}

/// Row-wise softmax of `z` into `p`, shifted by each row's maximum so `exp` cannot overflow.
pub fn softmax_into(z: ArrayView2<f32>, p: &mut Array2<f32>) {
    p.zip_mut_with(&z, |p, &z| *p = z);
    for mut row in p.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        row.mapv_inplace(|v| {
            let e = (v - max).exp();
            sum += e;
            e
        });
        let inv = 1.0 / sum;
        row.mapv_inplace(|v| v * inv);
    }
}

pub fn softmax(z: ArrayView2<f32>) -> Array2<f32> {
    let mut p = Array2::zeros(z.raw_dim());
    softmax_into(z, &mut p);
    p
}

impl Loss {
    pub fn name(&self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross_entropy",
            Loss::Mse => "mse",
        }
    }

    /// The mean loss of the batch; fills `probs` with softmax(z) and `grad` with dL/dz.
    pub fn forward_backward(
        &self,
        z: ArrayView2<f32>,
        labels: &[u8],
        probs: &mut Array2<f32>,
        grad: &mut Array2<f32>,
    ) -> f32 {
        let n = z.nrows();
        assert_eq!(labels.len(), n, "one label per row");
        softmax_into(z, probs);
        let inv_n = 1.0 / n as f32;
        match self {
            Loss::CrossEntropy => {
                let mut total = 0.0f64;
                for ((zr, &y), pr) in z.rows().into_iter().zip(labels).zip(probs.rows()) {
                    let max = zr.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let sum_exp: f32 = zr.iter().map(|&v| (v - max).exp()).sum();
                    total += (max + sum_exp.ln() - zr[y as usize]) as f64;
                    debug_assert!(pr.len() > y as usize);
                }
                grad.zip_mut_with(probs, |g, &p| *g = p * inv_n);
                for (mut gr, &y) in grad.rows_mut().into_iter().zip(labels) {
                    gr[y as usize] -= inv_n;
                }
                (total / n as f64) as f32
            }
            Loss::Mse => {
                let mut total = 0.0f64;
                // dL/dp = (p - y) / N, then back through the softmax Jacobian:
                // dL/dz_i = p_i (g_i - sum_j g_j p_j).
                Zip::from(grad.rows_mut())
                    .and(probs.rows())
                    .and(labels)
                    .for_each(|mut gr, pr, &y| {
                        let mut dot = 0.0;
                        for (k, (&p, g)) in pr.iter().zip(gr.iter_mut()).enumerate() {
                            let d = if k == y as usize { p - 1.0 } else { p };
                            total += (d * d) as f64;
                            *g = d * inv_n;
                            dot += *g * p;
                        }
                        for (&p, g) in pr.iter().zip(gr.iter_mut()) {
                            *g = p * (*g - dot);
                        }
                    });
                (total * 0.5 / n as f64) as f32
            }
        }
    }

    /// The mean loss only, for evaluation.
    pub fn value(&self, z: ArrayView2<f32>, labels: &[u8]) -> f32 {
        let mut probs = Array2::zeros(z.raw_dim());
        let mut grad = Array2::zeros(z.raw_dim());
        self.forward_backward(z, labels, &mut probs, &mut grad)
    }
}

/// Index of the largest value; ties go to the first (the predicted class of a row, the
/// winning piece of a maxout unit).
#[inline]
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate().skip(1) {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Index of each row's largest value (the predicted class).
pub fn argmax_rows(z: ArrayView2<f32>) -> Vec<usize> {
    z.axis_iter(Axis(0))
        .map(|row| row.as_slice().map_or_else(|| argmax(&row.to_vec()), argmax))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn loss_f64(loss: Loss, z: &Array2<f32>, labels: &[u8]) -> f64 {
        // Reference in f64 straight from the lecture's formulas.
        let n = z.nrows() as f64;
        let mut total = 0.0;
        for (row, &y) in z.rows().into_iter().zip(labels) {
            let e: Vec<f64> = row.iter().map(|&v| (v as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            for (k, ek) in e.iter().enumerate() {
                let p = ek / s;
                let t = if k == y as usize { 1.0 } else { 0.0 };
                total += match loss {
                    Loss::CrossEntropy => -t * p.ln(),
                    Loss::Mse => 0.5 * (p - t) * (p - t),
                };
            }
        }
        total / n
    }

    #[test]
    fn both_losses_match_the_lecture_formulas_and_their_finite_difference_gradients() {
        let z = array![[0.2f32, -1.0, 0.5], [1.5, 0.3, -0.7], [0.0, 0.1, 0.2], [-2.0, 2.0, 0.4]];
        let labels = [2u8, 0, 1, 1];
        for loss in [Loss::CrossEntropy, Loss::Mse] {
            let mut probs = Array2::zeros(z.raw_dim());
            let mut grad = Array2::zeros(z.raw_dim());
            let l = loss.forward_backward(z.view(), &labels, &mut probs, &mut grad);
            assert!((l as f64 - loss_f64(loss, &z, &labels)).abs() < 1e-6, "{loss:?} value");
            // Central differences of the f64 reference: no f32 rounding in the check itself.
            let h = 1e-3f32;
            for idx in [(0, 0), (0, 2), (1, 1), (2, 0), (3, 1), (3, 2)] {
                let mut plus = z.clone();
                plus[idx] += h;
                let mut minus = z.clone();
                minus[idx] -= h;
                let numeric = (loss_f64(loss, &plus, &labels) - loss_f64(loss, &minus, &labels)) / (2.0 * h as f64);
                assert!(
                    (numeric - grad[idx] as f64).abs() < 1e-5,
                    "{loss:?} {idx:?}: {numeric} vs {}",
                    grad[idx]
                );
            }
        }
    }

    #[test]
    fn cross_entropy_is_finite_for_huge_logits() {
        let z = array![[1000.0f32, -1000.0], [-1000.0, 1000.0]];
        let l = Loss::CrossEntropy.value(z.view(), &[1, 1]);
        assert!((l - 1000.0).abs() < 1e-3, "log-sum-exp keeps it exact: {l}");
        let p = softmax(z.view());
        assert!(p.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn argmax_picks_the_first_largest_value() {
        let z = array![[0.1f32, 0.9, 0.3], [5.0, 5.0, 1.0]];
        assert_eq!(argmax_rows(z.view()), vec![1, 0]);
    }
}
