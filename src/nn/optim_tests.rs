//! Hand-computed first steps of the optimizers, schedules and regularisation conventions.

use ndarray::{Array1, Array2, array};

use super::layer::{Dense, Layer};
use super::optim::{LrSchedule, Optimizer, OptimizerConfig, OptimizerKind, Regularization};
use super::{ActivationName, MatMul, ModelSpec, Network};

/// A network whose only parameters are one weight w (= 1) and one bias (= 0).
fn one_weight() -> Network {
    let dense = Dense::new(Array2::from_elem((1, 1), 1.0), Array1::zeros(1));
    Network::from_layers(
        ModelSpec::mlp(1, &[], 1, ActivationName::Relu),
        vec![Layer::Dense(dense)],
    )
}

fn set_grad(net: &mut Network, g: f32) {
    if let Layer::Dense(d) = &mut net.layers[0] {
        d.dw.fill(g);
        d.db.fill(0.0);
    }
}

fn weight(net: &Network) -> f32 {
    net.dense_layers().next().expect("one dense layer").w[[0, 0]]
}

/// Runs gradients 0.5 then -1.0 with lr 0.1 and returns w after each step.
fn two_steps(kind: OptimizerKind) -> (f32, f32) {
    let mut net = one_weight();
    let mut opt = Optimizer::new(OptimizerConfig::new(kind));
    set_grad(&mut net, 0.5);
    opt.step(&mut net, 0.1, Regularization::default(), &MatMul::single());
    let w1 = weight(&net);
    set_grad(&mut net, -1.0);
    opt.step(&mut net, 0.1, Regularization::default(), &MatMul::single());
    (w1, weight(&net))
}

fn close(a: f32, b: f64) -> bool {
    (a as f64 - b).abs() < 1e-6
}

#[test]
fn momentum_first_two_steps_match_hand_computation() {
    // v1 = 0.9*0 - 0.1*0.5 = -0.05, w1 = 0.95; v2 = 0.9*(-0.05) + 0.1 = 0.055, w2 = 1.005.
    let (w1, w2) = two_steps(OptimizerKind::Momentum);
    assert!(close(w1, 0.95) && close(w2, 1.005), "{w1} {w2}");
}

#[test]
fn nag_first_two_steps_match_hand_computation() {
    // w1 = 1 + 0.9*(-0.05) - 0.05 = 0.905; w2 = 0.905 + 0.9*0.055 + 0.1 = 1.0545.
    let (w1, w2) = two_steps(OptimizerKind::Nag);
    assert!(close(w1, 0.905) && close(w2, 1.0545), "{w1} {w2}");
}

#[test]
fn adam_first_two_steps_match_hand_computation() {
    // t=1: m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25, w1 = 1 - 0.1*0.5/0.5 = 0.9.
    // t=2: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975,
    //      m_hat = -0.055/0.19 = -0.2894737, v_hat = 0.00124975/0.001999 = 0.6251876,
    //      w2 = 0.9 + 0.1*0.2894737/sqrt(0.6251876) = 0.9366104.
    let (w1, w2) = two_steps(OptimizerKind::Adam);
    assert!(close(w1, 0.9) && (w2 as f64 - 0.9366104).abs() < 2e-6, "{w1} {w2}");
}

#[test]
fn sgd_adagrad_and_rmsprop_first_steps_match_hand_computation() {
    // sgd: w1 = 1 - 0.05 = 0.95, w2 = 0.95 + 0.1 = 1.05.
    let (w1, w2) = two_steps(OptimizerKind::Sgd);
    assert!(close(w1, 0.95) && close(w2, 1.05));
    // adagrad: h1 = 0.25, w1 = 1 - 0.1*0.5/0.5 = 0.9; h2 = 1.25, w2 = 0.9 + 0.1/sqrt(1.25).
    let (w1, w2) = two_steps(OptimizerKind::Adagrad);
    assert!(close(w1, 0.9) && close(w2, 0.9 + 0.1 / 1.25f64.sqrt()), "{w1} {w2}");
    // rmsprop: h1 = 0.1*0.25 = 0.025, w1 = 1 - 0.1*0.5/sqrt(0.025).
    let (w1, _) = two_steps(OptimizerKind::Rmsprop);
    assert!(close(w1, 1.0 - 0.05 / 0.025f64.sqrt()), "{w1}");
}

#[test]
fn adadelta_first_step_matches_zeilers_formula() {
    // E[g^2] = 0.05*0.25 = 0.0125; dx = -sqrt(0 + 1e-6)/sqrt(0.0125 + 1e-6) * 0.5; lr 0.1.
    let (w1, _) = two_steps(OptimizerKind::Adadelta);
    let dx = -(1e-6f64).sqrt() / (0.0125f64 + 1e-6).sqrt() * 0.5;
    assert!((w1 as f64 - (1.0 + 0.1 * dx)).abs() < 1e-7, "{w1}");
}

#[test]
fn nadam_first_step_uses_the_nesterov_look_ahead() {
    // m = 0.05, v = 0.00025; m_hat = 0.9*0.05/(1-0.81) + 0.1*0.5/0.1 = 0.7368421,
    // v_hat = 0.25, w1 = 1 - 0.1*0.7368421/0.5 = 0.8526316.
    let (w1, _) = two_steps(OptimizerKind::Nadam);
    assert!((w1 as f64 - 0.8526316).abs() < 1e-6, "{w1}");
}

#[test]
fn l2_is_weight_decay_on_weights_only() {
    // With a zero data gradient, l2 gives w -> (1 - 2 lr l2) w on weights; biases untouched.
    let mut net = one_weight();
    if let Layer::Dense(d) = &mut net.layers[0] {
        d.b.fill(1.0);
    }
    set_grad(&mut net, 0.0);
    let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Sgd));
    opt.step(&mut net, 0.1, Regularization { l1: 0.0, l2: 0.5 }, &MatMul::single());
    assert!(close(weight(&net), 0.9));
    assert_eq!(net.dense_layers().next().unwrap().b[0], 1.0);
    let mut net2 = one_weight();
    set_grad(&mut net2, 0.0);
    opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Sgd));
    opt.step(&mut net2, 0.1, Regularization { l1: 0.5, l2: 0.0 }, &MatMul::single());
    assert!(close(weight(&net2), 0.95), "l1 moves w by lr * l1 toward 0");
}

#[test]
fn schedules_follow_their_formulas() {
    assert_eq!(LrSchedule::Constant.lr(0.1, 7, 10), 0.1);
    let step = LrSchedule::Step {
        every_epochs: 3,
        gamma: 0.5,
    };
    assert_eq!([0, 2, 3, 6].map(|e| step.lr(1.0, e, 10)), [1.0, 1.0, 0.5, 0.25]);
    assert!((LrSchedule::Exponential { gamma: 0.9 }.lr(1.0, 2, 10) - 0.81).abs() < 1e-6);
    let cos = LrSchedule::Cosine { min_lr: 0.0 };
    assert!((cos.lr(1.0, 0, 10) - 1.0).abs() < 1e-6);
    assert!((cos.lr(1.0, 5, 10) - 0.5).abs() < 1e-6);
    let _ = array![1.0f32];
}
