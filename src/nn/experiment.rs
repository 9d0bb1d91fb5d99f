//! The lecture's weight-initialisation experiment: push random inputs through a deep stack
//! of layers (no bias) and histogram each layer's activations.
//!
//! With sigmoid and N(0, 1) weights the activations pile up at 0 and 1 (saturation: vanishing
//! gradients); with N(0, 0.01) they crowd around 0.5 (every unit alike); Xavier spreads them.
//! For ReLU, std 0.01 collapses toward 0 layer by layer while He keeps the scale.

use ndarray::Array2;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use super::activation::Activation;
use super::init::Init;
use super::matmul::MatMul;
use crate::rng::rng_from_seed;

#[derive(Debug, Clone, PartialEq)]
pub struct HistogramExperiment {
    pub activation: Activation,
    pub init: Init,
    pub layers: usize,
    pub units: usize,
    pub samples: usize,
    pub bins: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LayerHistogram {
    pub layer: usize,
    /// bins + 1 bin edges, ascending.
    pub edges: Vec<f32>,
    pub counts: Vec<u64>,
    pub mean: f32,
    pub std: f32,
    pub rms: f32,
    /// Fraction of activations that are exactly 0 (dead ReLUs).
    pub zero_fraction: f32,
}

/// Runs the experiment: x ~ N(0, 1) [samples, units]; per layer z = act(z_prev W).
pub fn activation_histograms(exp: &HistogramExperiment, mm: &MatMul) -> Vec<LayerHistogram> {
    let mut rng = rng_from_seed(exp.seed);
    let mut z = Array2::from_shape_simple_fn((exp.samples, exp.units), || StandardNormal.sample(&mut rng));
    let mut out = Vec::with_capacity(exp.layers);
    for layer in 1..=exp.layers {
        let w = exp.init.weights(exp.units, exp.units, &mut rng);
        let mut a = Array2::zeros((exp.samples, exp.units));
        mm.gemm(z.view(), w.view(), a.view_mut(), false);
        z = a.mapv(|v| exp.activation.f(v));
        out.push(histogram(
            layer,
            z.as_slice().expect("owned"),
            exp.bins,
            exp.activation.output_range(),
        ));
    }
    out
}

fn histogram(layer: usize, values: &[f32], bins: usize, range: Option<(f32, f32)>) -> LayerHistogram {
    let n = values.len().max(1) as f64;
    let (lo, hi) = range.unwrap_or_else(|| {
        let min = values.iter().copied().fold(f32::INFINITY, f32::min).min(0.0);
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (min, if max > min { max } else { min + 1.0 })
    });
    let width = (hi - lo) / bins as f32;
    let mut counts = vec![0u64; bins];
    for &v in values {
        let bin = (((v - lo) / width) as isize).clamp(0, bins as isize - 1) as usize;
        counts[bin] += 1;
    }
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mean_sq = values.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / n;
    LayerHistogram {
        layer,
        edges: (0..=bins).map(|i| lo + width * i as f32).collect(),
        counts,
        mean: mean as f32,
        std: (mean_sq - mean * mean).max(0.0).sqrt() as f32,
        rms: mean_sq.sqrt() as f32,
        zero_fraction: (values.iter().filter(|&&v| v == 0.0).count() as f64 / n) as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(activation: Activation, init: Init) -> Vec<LayerHistogram> {
        let exp = HistogramExperiment {
            activation,
            init,
            layers: 5,
            units: 100,
            samples: 1000,
            bins: 30,
            seed: 0,
        };
        activation_histograms(&exp, &MatMul::single())
    }

    /// Fraction of layer `h`'s activations in the outer `k` bins on each side.
    fn tails(h: &LayerHistogram, k: usize) -> f32 {
        let total: u64 = h.counts.iter().sum();
        let n = h.counts.len();
        (h.counts[..k].iter().sum::<u64>() + h.counts[n - k..].iter().sum::<u64>()) as f32 / total as f32
    }

    #[test]
    fn sigmoid_with_unit_normal_weights_saturates_at_0_and_1() {
        let layers = run(Activation::Sigmoid, Init::Normal { std: 1.0 });
        assert_eq!(layers.len(), 5);
        assert!(
            layers
                .iter()
                .all(|h| h.counts.iter().sum::<u64>() == 100_000 && h.edges.len() == 31)
        );
        assert!(tails(&layers[4], 3) > 0.5, "most activations in the outer 10% of [0,1]");
    }

    #[test]
    fn sigmoid_with_tiny_weights_crowds_around_one_half_and_xavier_spreads_out() {
        let tiny = run(Activation::Sigmoid, Init::Normal { std: 0.01 });
        // a = sum of 100 terms ~0.5 * N(0, 0.01^2): std ~0.05, times sigmoid'(0) = 1/4 -> ~0.0125.
        assert!(
            tiny[4].std < 0.02 && (tiny[4].mean - 0.5).abs() < 0.01,
            "{:?}",
            tiny[4].std
        );
        let xavier = run(Activation::Sigmoid, Init::Xavier);
        assert!(xavier[4].std > 5.0 * tiny[4].std && tails(&xavier[4], 3) < 0.2);
    }

    #[test]
    fn relu_activations_vanish_with_tiny_weights_but_keep_their_scale_with_he() {
        let tiny = run(Activation::Relu, Init::Normal { std: 0.01 });
        let he = run(Activation::Relu, Init::He);
        assert!(tiny[4].rms < 1e-4, "shrinks ~0.07x per layer: {}", tiny[4].rms);
        assert!(
            he[4].rms > 0.3 * he[0].rms,
            "He keeps the scale: {} vs {}",
            he[4].rms,
            he[0].rms
        );
        assert!((he[0].zero_fraction - 0.5).abs() < 0.05, "half the ReLUs are off");
    }
}
