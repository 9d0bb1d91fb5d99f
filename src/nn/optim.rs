//! Optimizers: the lecture's family chart from SGD to Nadam, with weight regularisation.
//!
//! State is kept per parameter tensor in the network's visiting order and is serialisable,
//! so a checkpoint can resume training exactly. Defaults (the literature's):
//!
//! | optimizer | update (g = gradient, lr = learning rate) | defaults |
//! |---|---|---|
//! | sgd | w -= lr g | |
//! | momentum | v = mu v - lr g; w += v | mu 0.9 |
//! | nag | v = mu v - lr g; w += mu v - lr g (Sutskever's form of Nesterov) | mu 0.9 |
//! | adagrad | h += g^2; w -= lr g / (sqrt(h) + eps) | eps 1e-8 |
//! | rmsprop | h = rho h + (1-rho) g^2; w -= lr g / (sqrt(h) + eps) | rho 0.9, eps 1e-8 |
//! | adadelta | Zeiler's step d = -sqrt(u + eps) / sqrt(h + eps) g; w += lr d | rho 0.95, eps 1e-6; lr 1.0 is the paper |
//! | adam | m, v moments, bias-corrected; w -= lr m_hat / (sqrt(v_hat) + eps) | beta1 0.9, beta2 0.999, eps 1e-8 |
//! | nadam | adam with the Nesterov look-ahead m_hat = beta1 m / (1 - beta1^(t+1)) + (1 - beta1) g / (1 - beta1^t) | as adam |

use multiversion::multiversion;
use serde::{Deserialize, Serialize};

use super::layer::Role;
use super::matmul::{DisjointSlice, MatMul};
use super::network::Network;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Sgd,
    Momentum,
    Nag,
    Adagrad,
    Rmsprop,
    Adadelta,
    Adam,
    Nadam,
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 8] = [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Nag,
        OptimizerKind::Adagrad,
        OptimizerKind::Rmsprop,
        OptimizerKind::Adadelta,
        OptimizerKind::Adam,
        OptimizerKind::Nadam,
    ];
}

/// Hyperparameters of the optimizers (each uses the ones its formula names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub momentum: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub rho: f32,
    pub eps: f32,
}

impl OptimizerConfig {
    pub fn new(kind: OptimizerKind) -> Self {
        let (rho, eps) = match kind {
            OptimizerKind::Adadelta => (0.95, 1e-6),
            _ => (0.9, 1e-8),
        };
        OptimizerConfig {
            kind,
            momentum: 0.9,
            beta1: 0.9,
            beta2: 0.999,
            rho,
            eps,
        }
    }
}

/// Weight penalty R(w) added to the loss, on dense weights only (never biases or batch-norm
/// parameters): l2 sum w^2 (gradient 2 l2 w, as the lecture) + l1 sum |w| (gradient l1 sign w).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Regularization {
    pub l1: f32,
    pub l2: f32,
}

impl Regularization {
    pub fn is_active(&self) -> bool {
        self.l1 != 0.0 || self.l2 != 0.0
    }

    /// The penalty l1 sum|w| + l2 sum w^2 over the network's weights.
    pub fn penalty(&self, net: &mut Network) -> f32 {
        let mut total = 0.0f64;
        net.visit_params(&mut |p| {
            if p.role == Role::Weight {
                for &w in p.value.iter() {
                    total += (self.l1 * w.abs() + self.l2 * w * w) as f64;
                }
            }
        });
        total as f32
    }

    /// Adds the penalty's gradient to a weight gradient in place.
    pub fn add_gradient(&self, w: &[f32], g: &mut [f32]) {
        let (l1, two_l2) = (self.l1, 2.0 * self.l2);
        for (g, &w) in g.iter_mut().zip(w) {
            // sign(0) = 0: the subgradient that leaves exact zeros alone.
            let sign = if w > 0.0 {
                1.0
            } else if w < 0.0 {
                -1.0
            } else {
                0.0
            };
            *g += two_l2 * w + l1 * sign;
        }
    }
}

/// Per-tensor state: up to two running buffers, named by the formula that uses them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SlotState {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Steps taken (Adam's t).
    pub t: u64,
    pub slots: Vec<SlotState>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            t: 0,
            slots: Vec::new(),
        }
    }

    /// Applies one update with the gradients currently in the network. Large tensors are
    /// split over the threads of `mm` (the update is memory-bound and element-wise).
    pub fn step(&mut self, net: &mut Network, lr: f32, reg: Regularization, mm: &MatMul) {
        self.t += 1;
        let mut index = 0;
        let (config, t, slots) = (self.config, self.t, &mut self.slots);
        net.visit_params(&mut |p| {
            if slots.len() <= index {
                slots.push(SlotState::default());
            }
            let slot = &mut slots[index];
            let len = p.value.len();
            if slot.a.len() != len {
                slot.a = vec![0.0; len];
                slot.b = vec![0.0; len];
            }
            let regularize = p.role == Role::Weight && reg.is_active();
            let (w, g) = (DisjointSlice::new(p.value), DisjointSlice::new(p.grad));
            let (a, b) = (DisjointSlice::new(&mut slot.a), DisjointSlice::new(&mut slot.b));
            mm.for_ranges(len, PARALLEL_MIN_LEN, &|lo, hi| {
                // SAFETY: for_ranges hands out disjoint ranges, one sub-slice of each per range.
                let (w, g, a, b) = unsafe { (w.range(lo, hi), g.range(lo, hi), a.range(lo, hi), b.range(lo, hi)) };
                if regularize {
                    reg.add_gradient(w, g);
                }
                update(&config, t, lr, w, g, a, b);
            });
            index += 1;
        });
    }
}

impl Optimizer {
    /// One update of a single parameter vector with its gradient: the same update as
    /// [`Optimizer::step`] gives a network's tensor (the optimizer-paths experiment moves a
    /// point (x, y) on a function with it).
    pub fn step_vector(&mut self, w: &mut [f32], g: &[f32], lr: f32) {
        self.t += 1;
        if self.slots.is_empty() {
            self.slots.push(SlotState {
                a: vec![0.0; w.len()],
                b: vec![0.0; w.len()],
            });
        }
        let slot = &mut self.slots[0];
        update(&self.config, self.t, lr, w, g, &mut slot.a, &mut slot.b);
    }
}

/// Tensors shorter than this are updated on one thread (a hand-off costs ~1-3 us).
const PARALLEL_MIN_LEN: usize = 16 * 1024;

/// One tensor's update; a loop per optimizer so each compiles to a tight vector loop, built
/// for AVX-512 and AVX2 too (see `nn::kernels`).
#[multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn update(c: &OptimizerConfig, t: u64, lr: f32, w: &mut [f32], g: &[f32], a: &mut [f32], b: &mut [f32]) {
    let n = w.len();
    let (w, g, a, b) = (&mut w[..n], &g[..n], &mut a[..n], &mut b[..n]);
    match c.kind {
        OptimizerKind::Sgd => {
            for i in 0..n {
                w[i] -= lr * g[i];
            }
        }
        OptimizerKind::Momentum => {
            for i in 0..n {
                a[i] = c.momentum * a[i] - lr * g[i];
                w[i] += a[i];
            }
        }
        OptimizerKind::Nag => {
            for i in 0..n {
                a[i] = c.momentum * a[i] - lr * g[i];
                w[i] += c.momentum * a[i] - lr * g[i];
            }
        }
        OptimizerKind::Adagrad => {
            for i in 0..n {
                a[i] += g[i] * g[i];
                w[i] -= lr * g[i] / (a[i].sqrt() + c.eps);
            }
        }
        OptimizerKind::Rmsprop => {
            for i in 0..n {
                a[i] = c.rho * a[i] + (1.0 - c.rho) * g[i] * g[i];
                w[i] -= lr * g[i] / (a[i].sqrt() + c.eps);
            }
        }
        OptimizerKind::Adadelta => {
            // a = E[g^2], b = E[dx^2].
            for i in 0..n {
                a[i] = c.rho * a[i] + (1.0 - c.rho) * g[i] * g[i];
                let dx = -((b[i] + c.eps).sqrt() / (a[i] + c.eps).sqrt()) * g[i];
                b[i] = c.rho * b[i] + (1.0 - c.rho) * dx * dx;
                w[i] += lr * dx;
            }
        }
        OptimizerKind::Adam | OptimizerKind::Nadam => {
            // a = m, b = v.
            let (b1, b2) = (c.beta1, c.beta2);
            let bc1 = 1.0 - b1.powi(t as i32);
            let bc2 = 1.0 - b2.powi(t as i32);
            if c.kind == OptimizerKind::Adam {
                // lr m_hat / (sqrt(v_hat) + eps) rewritten with the bias corrections folded
                // into two scalars: the same value, one division and one sqrt per element.
                let step = lr * bc2.sqrt() / bc1;
                let eps = c.eps * bc2.sqrt();
                for i in 0..n {
                    a[i] = b1 * a[i] + (1.0 - b1) * g[i];
                    b[i] = b2 * b[i] + (1.0 - b2) * g[i] * g[i];
                    w[i] -= step * a[i] / (b[i].sqrt() + eps);
                }
            } else {
                let bc1_next = 1.0 - b1.powi(t as i32 + 1);
                for i in 0..n {
                    a[i] = b1 * a[i] + (1.0 - b1) * g[i];
                    b[i] = b2 * b[i] + (1.0 - b2) * g[i] * g[i];
                    let m_hat = b1 * a[i] / bc1_next + (1.0 - b1) * g[i] / bc1;
                    w[i] -= lr * m_hat / ((b[i] / bc2).sqrt() + c.eps);
                }
            }
        }
    }
}

/// Learning rate as a function of the epoch (0-based), set at the start of each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum LrSchedule {
    #[default]
    Constant,
    /// lr * gamma^floor(epoch / every_epochs).
    Step { every_epochs: usize, gamma: f32 },
    /// lr * gamma^epoch.
    Exponential { gamma: f32 },
    /// min_lr + (lr - min_lr) (1 + cos(pi epoch / epochs)) / 2.
    Cosine { min_lr: f32 },
}

impl LrSchedule {
    pub fn lr(&self, base: f32, epoch: usize, epochs: usize) -> f32 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every_epochs, gamma } => base * gamma.powi((epoch / every_epochs.max(1)) as i32),
            LrSchedule::Exponential { gamma } => base * gamma.powi(epoch as i32),
            LrSchedule::Cosine { min_lr } => {
                let frac = epoch as f32 / epochs.max(1) as f32;
                min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f32::consts::PI * frac).cos())
            }
        }
    }
}
