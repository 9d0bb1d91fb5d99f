//! Finite-difference gradient checks for every layer, activation, loss and regulariser.
//!
//! The engine works in f32, so the check uses central differences with h = 1e-2 on a small
//! network whose weights and inputs are O(1): the f32 rounding error of a difference is then
//! ~ eps_f32 |L| / h ~ 1e-5, the truncation error h^2/6 |L'''| ~ 1e-4, and the tolerance
//! 2e-3 + 2e-2 |g| sits an order of magnitude above both while a wrong formula (a missing
//! factor, a dropped term) is off by far more. A difference whose two sides fall on different
//! pieces of a piecewise function (ReLU-family kinks, a change of maxout winner, |w| of L1
//! crossing 0) measures no derivative at all: those few elements are skipped, and the test
//! fails if more than 15% of a network's elements had to be (one unit near its kink on one
//! sample makes all of its incoming weights straddle).

use ndarray::Array2;

use super::layer::{Layer, Mode, Role};
use super::loss::argmax;
use super::{Activation, ActivationName, Init, Loss, MatMul, ModelSpec, Network, Regularization};
use crate::rng::rng_from_seed;

const H: f32 = 1e-2;
const DROPOUT_SEED: u64 = 77;

fn batch() -> (Array2<f32>, Vec<u8>) {
    let x = Array2::from_shape_fn((6, 4), |(i, j)| {
        (((i * 7 + j * 3) % 11) as f32 - 5.0) * 0.23 + 0.05 * j as f32
    });
    (x, vec![0, 2, 1, 2, 0, 1])
}

/// The loss, and which piece of every piecewise function the evaluation landed on.
fn loss_of(net: &Network, x: &Array2<f32>, labels: &[u8], loss: Loss, reg: Regularization) -> (f32, Vec<bool>) {
    let mut net = net.clone();
    let mm = MatMul::single();
    // Training mode with the same dropout seed as the analytic pass: the same mask.
    net.forward(x.view(), &mut Mode::Train(&mut rng_from_seed(DROPOUT_SEED)), &mm);
    let mut pieces = Vec::new();
    for i in 1..net.layers.len() {
        let input = net.layers[i - 1].output();
        match &net.layers[i] {
            Layer::Activation(a) if !matches!(a.activation, Activation::Sigmoid | Activation::Tanh) => {
                pieces.extend(input.iter().map(|&v| v > 0.0))
            }
            Layer::Maxout(m) => {
                for row in input.rows() {
                    for group in row.to_vec().chunks(m.pieces) {
                        let best = argmax(group);
                        pieces.extend((0..m.pieces).map(|t| t == best));
                    }
                }
            }
            _ => {}
        }
    }
    if reg.l1 != 0.0 {
        net.visit_params(&mut |p| {
            if p.role == Role::Weight {
                pieces.extend(p.value.iter().map(|&w| w > 0.0));
            }
        });
    }
    (loss.value(net.logits_buffer(), labels) + reg.penalty(&mut net), pieces)
}

fn param_len(net: &mut Network, index: usize) -> usize {
    let mut len = 0;
    let mut i = 0;
    net.visit_params(&mut |p| {
        if i == index {
            len = p.value.len();
        }
        i += 1;
    });
    len
}

fn nudge(net: &mut Network, index: usize, elem: usize, delta: f32) {
    let mut i = 0;
    net.visit_params(&mut |p| {
        if i == index {
            p.value[elem] += delta;
        }
        i += 1;
    });
}

/// Checks dL/dtheta for every element of every parameter tensor of the network built by `spec`.
fn check(spec: ModelSpec, loss: Loss, reg: Regularization, seed: u64) {
    let mm = MatMul::single();
    let mut net = Network::build(&spec, Init::Normal { std: 0.6 }, &mut rng_from_seed(seed));
    let (x, labels) = batch();
    net.train_batch(x.view(), &labels, loss, &mut rng_from_seed(DROPOUT_SEED), &mm);
    let mut analytic: Vec<Vec<f32>> = Vec::new();
    net.visit_params(&mut |p| {
        let mut g = p.grad.to_vec();
        if p.role == Role::Weight {
            reg.add_gradient(p.value, &mut g);
        }
        analytic.push(g);
    });
    let (mut checked, mut skipped) = (0, 0);
    for (index, grads) in analytic.iter().enumerate() {
        assert_eq!(param_len(&mut net, index), grads.len());
        for (elem, &g) in grads.iter().enumerate() {
            let mut plus = net.clone();
            nudge(&mut plus, index, elem, H);
            let mut minus = net.clone();
            nudge(&mut minus, index, elem, -H);
            let (l_plus, pieces_plus) = loss_of(&plus, &x, &labels, loss, reg);
            let (l_minus, pieces_minus) = loss_of(&minus, &x, &labels, loss, reg);
            if pieces_plus != pieces_minus {
                skipped += 1;
                continue;
            }
            let numeric = (l_plus - l_minus) / (2.0 * H);
            assert!(
                (numeric - g).abs() <= 2e-3 + 2e-2 * g.abs(),
                "{spec:?} {loss:?} {reg:?}: param {index} elem {elem}: numeric {numeric} vs analytic {g}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked + skipped, spec.parameter_count());
    assert!(
        skipped * 100 <= 15 * (checked + skipped),
        "{spec:?}: {skipped} of {} elements straddled a kink",
        checked + skipped
    );
}

fn spec(activation: ActivationName) -> ModelSpec {
    ModelSpec::mlp(4, &[5, 3], 3, activation)
}

#[test]
fn dense_and_each_activation_pass_the_gradient_check_with_cross_entropy() {
    for act in [
        ActivationName::Sigmoid,
        ActivationName::Tanh,
        ActivationName::Relu,
        ActivationName::LeakyRelu,
        ActivationName::Elu,
    ] {
        let mut s = spec(act);
        s.activation_alpha = 0.1;
        check(s, Loss::CrossEntropy, Regularization::default(), 1);
    }
}

#[test]
fn mse_on_softmax_passes_the_gradient_check() {
    check(spec(ActivationName::Tanh), Loss::Mse, Regularization::default(), 2);
    check(spec(ActivationName::Sigmoid), Loss::Mse, Regularization::default(), 3);
}

#[test]
fn softmax_regression_without_hidden_layers_passes_the_gradient_check() {
    check(
        ModelSpec::mlp(4, &[], 3, ActivationName::Relu),
        Loss::CrossEntropy,
        Regularization::default(),
        4,
    );
}

#[test]
fn maxout_passes_the_gradient_check() {
    let mut s = spec(ActivationName::Maxout);
    s.maxout_pieces = 3;
    check(s, Loss::CrossEntropy, Regularization::default(), 5);
}

#[test]
fn batch_norm_passes_the_gradient_check_through_its_batch_statistics() {
    let mut s = spec(ActivationName::Tanh);
    s.batch_norm = true;
    check(s.clone(), Loss::CrossEntropy, Regularization::default(), 6);
    s.activation = ActivationName::Sigmoid;
    check(s, Loss::Mse, Regularization::default(), 7);
}

#[test]
fn dropout_passes_the_gradient_check_with_its_mask_held_fixed() {
    let mut s = spec(ActivationName::Tanh);
    s.dropout = 0.3;
    check(s, Loss::CrossEntropy, Regularization::default(), 8);
}

#[test]
fn l1_l2_and_elastic_net_penalties_pass_the_gradient_check() {
    for reg in [
        Regularization { l1: 0.0, l2: 0.05 },
        Regularization { l1: 0.03, l2: 0.0 },
        Regularization { l1: 0.02, l2: 0.04 },
    ] {
        check(spec(ActivationName::Tanh), Loss::CrossEntropy, reg, 9);
    }
}

#[test]
fn everything_at_once_passes_the_gradient_check() {
    let mut s = spec(ActivationName::Elu);
    s.activation_alpha = 1.0;
    s.batch_norm = true;
    s.dropout = 0.2;
    check(s, Loss::CrossEntropy, Regularization { l1: 0.01, l2: 0.01 }, 10);
}
