//! Element-wise activation functions, each with its derivative beside it.
//!
//! Derivatives are written in terms of the input `x` and the output `y = f(x)` so a layer can
//! use whichever is cheaper (sigmoid's is `y (1 - y)`, no exponential needed).

use serde::{Deserialize, Serialize};

/// The activations of the lecture (maxout is a layer, see `layer::maxout`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Activation {
    /// Heaviside: 1 if x > 0 else 0. Its derivative is 0 everywhere it exists, so a network
    /// of step units cannot learn by gradient descent (the perceptron rule is its learner).
    Step,
    Sigmoid,
    Tanh,
    Relu,
    /// max(alpha x, x) for 0 <= alpha < 1.
    LeakyRelu {
        alpha: f32,
    },
    /// x if x >= 0, else alpha (e^x - 1).
    Elu {
        alpha: f32,
    },
}

impl Activation {
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Step => "step",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
        }
    }

    #[inline]
    pub fn f(&self, x: f32) -> f32 {
        match *self {
            Activation::Step => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Elu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
        }
    }

    /// f'(x), given x and y = f(x).
    #[inline]
    pub fn df(&self, x: f32, y: f32) -> f32 {
        match *self {
            Activation::Step => 0.0,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Elu { alpha } => {
                if x >= 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
        }
    }

    /// y = f(x) over a slice; the ReLU case is kept as a plain `max` loop so it vectorises.
    pub fn apply(&self, x: &[f32], y: &mut [f32]) {
        debug_assert_eq!(x.len(), y.len());
        match *self {
            Activation::Relu => {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = x.max(0.0);
                }
            }
            act => {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = act.f(x);
                }
            }
        }
    }

    /// grad_in = grad_out * f'(x), with y = f(x) from the forward pass.
    pub fn backprop(&self, x: &[f32], y: &[f32], grad_out: &[f32], grad_in: &mut [f32]) {
        debug_assert!(x.len() == y.len() && y.len() == grad_out.len() && grad_out.len() == grad_in.len());
        match *self {
            Activation::Relu => {
                for ((gi, &g), &x) in grad_in.iter_mut().zip(grad_out).zip(x) {
                    *gi = if x > 0.0 { g } else { 0.0 };
                }
            }
            act => {
                for (((gi, &g), &x), &y) in grad_in.iter_mut().zip(grad_out).zip(x).zip(y) {
                    *gi = g * act.df(x, y);
                }
            }
        }
    }

    /// The range histograms of this activation's outputs use (the weight-init experiment).
    pub fn output_range(&self) -> Option<(f32, f32)> {
        match self {
            Activation::Sigmoid | Activation::Step => Some((0.0, 1.0)),
            Activation::Tanh => Some((-1.0, 1.0)),
            _ => None,
        }
    }
}

/// 1 / (1 + e^-x), written to avoid overflow of e^-x for very negative x.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 6] = [
        Activation::Step,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Elu { alpha: 1.0 },
    ];

    #[test]
    fn derivatives_match_central_differences_away_from_kinks() {
        // f64 differences of the f32 functions would be dominated by f32 rounding, so the
        // check evaluates f in f32 with h = 1e-2 and compares to 1e-3 absolute: the truncation
        // error of a central difference is h^2/6 f''' ~ 2e-5 for these functions.
        let h = 1e-2f32;
        for act in ALL {
            for i in -40..=40 {
                let x = i as f32 * 0.1 + 0.05; // never exactly at the kink x = 0
                let numeric = (act.f(x + h) - act.f(x - h)) / (2.0 * h);
                let analytic = act.df(x, act.f(x));
                assert!(
                    (numeric - analytic).abs() < 1e-3,
                    "{act:?} at {x}: numeric {numeric} vs analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn values_follow_the_lecture_formulas() {
        assert_eq!(Activation::Step.f(0.0), 0.0, "strict step: 0 at the threshold");
        assert_eq!(Activation::Step.f(1e-6), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(Activation::LeakyRelu { alpha: 0.01 }.f(-2.0), -0.02);
        assert!((Activation::Elu { alpha: 1.0 }.f(-1.0) - ((-1.0f32).exp() - 1.0)).abs() < 1e-7);
        assert_eq!(Activation::Relu.f(-3.0), 0.0);
        assert_eq!(Activation::Relu.f(3.0), 3.0);
    }

    #[test]
    fn slice_kernels_agree_with_the_scalar_definitions() {
        let x: Vec<f32> = (-20..20).map(|i| i as f32 * 0.37).collect();
        let g: Vec<f32> = (0..40).map(|i| 1.0 + i as f32 * 0.01).collect();
        for act in ALL {
            let mut y = vec![0.0; x.len()];
            act.apply(&x, &mut y);
            let mut gi = vec![0.0; x.len()];
            act.backprop(&x, &y, &g, &mut gi);
            for i in 0..x.len() {
                assert_eq!(y[i], act.f(x[i]));
                assert_eq!(gi[i], g[i] * act.df(x[i], y[i]));
            }
        }
    }
}
