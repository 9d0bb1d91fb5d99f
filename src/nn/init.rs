//! Weight initialisation (biases always start at zero).

use ndarray::Array2;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// How a dense layer's weights are drawn. The lecture labels Xavier and He "Var(W)", but the
/// square roots make them standard deviations, which is what is used here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Init {
    /// All zeros: every unit of a layer stays identical (the symmetry is never broken).
    Zeros,
    /// N(0, std^2).
    Normal { std: f32 },
    /// N(0, 2 / (n_in + n_out)).
    Xavier,
    /// N(0, 2 / n_in).
    He,
}

impl Init {
    /// The standard deviation used for a layer with these fan-in and fan-out.
    pub fn std(&self, n_in: usize, n_out: usize) -> f32 {
        match *self {
            Init::Zeros => 0.0,
            Init::Normal { std } => std,
            Init::Xavier => (2.0 / (n_in + n_out) as f32).sqrt(),
            Init::He => (2.0 / n_in as f32).sqrt(),
        }
    }

    /// A weight matrix of shape [n_in, n_out] (the engine computes x · W).
    pub fn weights(&self, n_in: usize, n_out: usize, rng: &mut Rng) -> Array2<f32> {
        let std = self.std(n_in, n_out);
        if std == 0.0 {
            return Array2::zeros((n_in, n_out));
        }
        let normal = Normal::new(0.0f32, std).expect("std is finite and positive");
        Array2::from_shape_simple_fn((n_in, n_out), || normal.sample(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    fn sample_std(w: &Array2<f32>) -> f32 {
        let n = w.len() as f32;
        let mean = w.sum() / n;
        (w.mapv(|v| (v - mean).powi(2)).sum() / n).sqrt()
    }

    #[test]
    fn xavier_and_he_have_the_lecture_standard_deviations() {
        let mut rng = rng_from_seed(1);
        let xavier = Init::Xavier.weights(400, 200, &mut rng);
        let he = Init::He.weights(400, 200, &mut rng);
        let expect_xavier = (2.0f32 / 600.0).sqrt();
        let expect_he = (2.0f32 / 400.0).sqrt();
        assert!((sample_std(&xavier) / expect_xavier - 1.0).abs() < 0.02);
        assert!((sample_std(&he) / expect_he - 1.0).abs() < 0.02);
        let normal = Init::Normal { std: 0.01 }.weights(400, 200, &mut rng);
        assert!((sample_std(&normal) / 0.01 - 1.0).abs() < 0.02);
        assert!(Init::Zeros.weights(3, 4, &mut rng).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn the_same_seed_draws_the_same_weights() {
        let a = Init::He.weights(5, 7, &mut rng_from_seed(9));
        let b = Init::He.weights(5, 7, &mut rng_from_seed(9));
        assert_eq!(a, b);
    }
}
