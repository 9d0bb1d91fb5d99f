//! The architecture of a network: what `Network::build` builds and what a saved model
//! carries beside its weights. Field names are those of the HTTP API's JobSpec.

use serde::{Deserialize, Serialize};

use super::activation::Activation;

/// The hidden-layer nonlinearity as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivationName {
    Step,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu,
    Elu,
    Maxout,
}

impl ActivationName {
    pub const ALL: [ActivationName; 7] = [
        ActivationName::Step,
        ActivationName::Sigmoid,
        ActivationName::Tanh,
        ActivationName::Relu,
        ActivationName::LeakyRelu,
        ActivationName::Elu,
        ActivationName::Maxout,
    ];

    /// The standard value of the activation's parameter: leaky ReLU's slope 0.01 (Maas et
    /// al.), ELU's alpha 1 (Clevert et al., and Keras). Others have none; 0.01 is carried.
    pub fn default_alpha(self) -> f32 {
        match self {
            ActivationName::Elu => 1.0,
            _ => 0.01,
        }
    }

    /// The element-wise function, or `None` for maxout (a layer of its own).
    pub fn elementwise(self, alpha: f32) -> Option<Activation> {
        Some(match self {
            ActivationName::Step => Activation::Step,
            ActivationName::Sigmoid => Activation::Sigmoid,
            ActivationName::Tanh => Activation::Tanh,
            ActivationName::Relu => Activation::Relu,
            ActivationName::LeakyRelu => Activation::LeakyRelu { alpha },
            ActivationName::Elu => Activation::Elu { alpha },
            ActivationName::Maxout => return None,
        })
    }
}

/// Layer sizes and the choices that change the network's structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelSpec {
    pub input_size: usize,
    pub classes: usize,
    /// Units per hidden layer, input side first; empty = softmax regression.
    pub hidden_layers: Vec<usize>,
    pub activation: ActivationName,
    /// Slope of leaky_relu for x < 0, alpha of elu.
    pub activation_alpha: f32,
    /// Linear pieces per maxout unit.
    pub maxout_pieces: usize,
    /// Batch norm between each hidden dense layer and its activation.
    pub batch_norm: bool,
    /// Dropout probability after each hidden activation (training only).
    pub dropout: f32,
    /// Batch norm's running-statistics momentum (PyTorch's convention) and the epsilon in
    /// its variance (used at inference too, so a model carries it). Models saved before
    /// these were settable read back with the defaults they were trained with.
    #[serde(default = "default_bn_momentum")]
    pub bn_momentum: f32,
    #[serde(default = "default_bn_eps")]
    pub bn_eps: f32,
}

fn default_bn_momentum() -> f32 {
    super::layer::batch_norm::DEFAULT_MOMENTUM
}

fn default_bn_eps() -> f32 {
    super::layer::batch_norm::DEFAULT_EPS
}

impl ModelSpec {
    /// A plain MLP: the given hidden sizes and activation, no batch norm or dropout.
    pub fn mlp(input_size: usize, hidden_layers: &[usize], classes: usize, activation: ActivationName) -> Self {
        ModelSpec {
            input_size,
            classes,
            hidden_layers: hidden_layers.to_vec(),
            activation,
            activation_alpha: 0.01,
            maxout_pieces: 2,
            batch_norm: false,
            dropout: 0.0,
            bn_momentum: default_bn_momentum(),
            bn_eps: default_bn_eps(),
        }
    }

    /// Output width of each dense layer, input side first (maxout layers compute k pieces
    /// per unit).
    pub fn dense_shapes(&self) -> Vec<(usize, usize)> {
        let pieces = if self.activation == ActivationName::Maxout {
            self.maxout_pieces
        } else {
            1
        };
        let mut shapes = Vec::new();
        let mut n_in = self.input_size;
        for &units in &self.hidden_layers {
            shapes.push((n_in, units * pieces));
            n_in = units;
        }
        shapes.push((n_in, self.classes));
        shapes
    }

    /// Number of trainable parameters (weights, biases, batch-norm gamma and beta).
    pub fn parameter_count(&self) -> usize {
        let shapes = self.dense_shapes();
        let dense: usize = shapes.iter().map(|(i, o)| i * o + o).sum();
        let bn: usize = if self.batch_norm {
            shapes[..shapes.len() - 1].iter().map(|(_, o)| 2 * o).sum()
        } else {
            0
        };
        dense + bn
    }
}
