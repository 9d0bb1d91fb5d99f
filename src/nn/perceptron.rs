//! Rosenblatt's perceptron: y = step(w · x + b), the lecture's logic gates, the two-layer
//! XOR network, and the perceptron learning rule.

use serde::Serialize;

/// A single step unit with a strict threshold: output 1 only when w · x + b > 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Perceptron {
    pub weights: Vec<f32>,
    pub bias: f32,
}

/// One row of a truth table.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TruthRow {
    pub inputs: Vec<u8>,
    pub sum: f32,
    pub output: u8,
}

impl Perceptron {
    pub fn new(weights: &[f32], bias: f32) -> Self {
        Perceptron {
            weights: weights.to_vec(),
            bias,
        }
    }

    pub fn sum(&self, x: &[f32]) -> f32 {
        self.weights.iter().zip(x).map(|(w, x)| w * x).sum::<f32>() + self.bias
    }

    pub fn output(&self, x: &[f32]) -> u8 {
        u8::from(self.sum(x) > 0.0)
    }

    /// The outputs over {0,1}^n, inputs counting up in binary from (0, ..., 0).
    pub fn truth_table(&self) -> Vec<TruthRow> {
        let n = self.weights.len();
        (0..1usize << n)
            .map(|code| {
                let inputs: Vec<u8> = (0..n).map(|i| ((code >> (n - 1 - i)) & 1) as u8).collect();
                let x: Vec<f32> = inputs.iter().map(|&v| v as f32).collect();
                TruthRow {
                    sum: self.sum(&x),
                    output: self.output(&x),
                    inputs,
                }
            })
            .collect()
    }
}

/// The lecture's gate weights.
pub mod gates {
    use super::Perceptron;

    pub fn and() -> Perceptron {
        Perceptron::new(&[2.0, 2.0], -3.0)
    }
    pub fn or() -> Perceptron {
        Perceptron::new(&[2.0, 2.0], -1.0)
    }
    pub fn nand() -> Perceptron {
        Perceptron::new(&[-2.0, -2.0], 3.0)
    }
    /// The deck's second NAND solution.
    pub fn nand_alt() -> Perceptron {
        Perceptron::new(&[-2.0, -1.0], 2.5)
    }
}

/// XOR from two layers of step units: s1 = NAND(x), s2 = OR(x), y = AND(s1, s2).
pub fn xor_two_layer(x1: u8, x2: u8) -> u8 {
    let x = [x1 as f32, x2 as f32];
    let s = [gates::nand().output(&x) as f32, gates::or().output(&x) as f32];
    gates::and().output(&s)
}

/// How the perceptron rule ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RosenblattOutcome {
    pub perceptron: Perceptron,
    pub converged: bool,
    pub epochs: usize,
    /// Misclassified samples in each epoch.
    pub errors_per_epoch: Vec<usize>,
}

/// Rosenblatt's rule: for each misclassified sample, w += lr (t - y) x and b += lr (t - y).
/// Converges in finitely many epochs exactly when the data is linearly separable; reports
/// `converged: false` after `max_epochs` otherwise (as for XOR).
pub fn rosenblatt(samples: &[(Vec<f32>, u8)], lr: f32, max_epochs: usize) -> RosenblattOutcome {
    let n = samples.first().map_or(0, |(x, _)| x.len());
    let mut p = Perceptron::new(&vec![0.0; n], 0.0);
    let mut errors_per_epoch = Vec::new();
    for epoch in 1..=max_epochs {
        let mut errors = 0;
        for (x, t) in samples {
            let delta = *t as f32 - p.output(x) as f32;
            if delta != 0.0 {
                errors += 1;
                for (w, xi) in p.weights.iter_mut().zip(x) {
                    *w += lr * delta * xi;
                }
                p.bias += lr * delta;
            }
        }
        errors_per_epoch.push(errors);
        if errors == 0 {
            return RosenblattOutcome {
                perceptron: p,
                converged: true,
                epochs: epoch,
                errors_per_epoch,
            };
        }
    }
    RosenblattOutcome {
        perceptron: p,
        converged: false,
        epochs: max_epochs,
        errors_per_epoch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(p: &Perceptron) -> Vec<u8> {
        p.truth_table().iter().map(|r| r.output).collect()
    }

    #[test]
    fn the_lecture_gate_weights_give_their_truth_tables_exactly() {
        assert_eq!(outputs(&gates::and()), [0, 0, 0, 1]);
        assert_eq!(outputs(&gates::or()), [0, 1, 1, 1]);
        assert_eq!(outputs(&gates::nand()), [1, 1, 1, 0]);
        assert_eq!(outputs(&gates::nand_alt()), [1, 1, 1, 0]);
        let and = gates::and().truth_table();
        assert_eq!(and[0].inputs, [0, 0]);
        assert_eq!(and[0].sum, -3.0);
        assert_eq!(and[3].inputs, [1, 1]);
        assert_eq!(and[3].sum, 1.0);
    }

    #[test]
    fn the_step_is_strict_at_the_threshold() {
        // w = (1, 1), b = -1: (0,1) sums to exactly 0 and must output 0.
        assert_eq!(outputs(&Perceptron::new(&[1.0, 1.0], -1.0)), [0, 0, 0, 1]);
    }

    #[test]
    fn the_two_layer_network_computes_xor() {
        let table: Vec<u8> = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .map(|&(a, b)| xor_two_layer(a, b))
            .collect();
        assert_eq!(table, [0, 1, 1, 0]);
    }

    fn gate_samples(targets: [u8; 4]) -> Vec<(Vec<f32>, u8)> {
        [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
            .iter()
            .zip(targets)
            .map(|(x, t)| (x.to_vec(), t))
            .collect()
    }

    #[test]
    fn the_perceptron_rule_learns_and_or_nand() {
        for targets in [[0, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 0]] {
            let out = rosenblatt(&gate_samples(targets), 0.1, 100);
            assert!(out.converged, "{targets:?}");
            assert_eq!(outputs(&out.perceptron), targets);
        }
    }

    #[test]
    fn the_perceptron_rule_never_converges_on_xor() {
        let out = rosenblatt(&gate_samples([0, 1, 1, 0]), 0.1, 1000);
        assert!(!out.converged);
        assert_eq!(out.epochs, 1000);
        assert!(
            out.errors_per_epoch.iter().all(|&e| e > 0),
            "every epoch misclassifies something"
        );
    }
}
