//! The neural-network engine: layers, losses, optimizers on [batch, features] f32 matrices.
//! Pure computation: no I/O, no async, no globals; randomness comes from an `Rng` passed in.

pub mod activation;
pub mod experiment;
pub mod init;
pub mod io;
pub mod kernels;
pub mod layer;
pub mod loss;
pub mod matmul;
pub mod matvec;
pub mod network;
pub mod optim;
pub mod perceptron;
pub mod spec;

#[cfg(test)]
mod gradcheck;
#[cfg(test)]
mod optim_tests;

pub use activation::Activation;
pub use init::Init;
pub use loss::Loss;
pub use matmul::MatMul;
pub use network::Network;
pub use optim::{LrSchedule, Optimizer, OptimizerConfig, OptimizerKind, Regularization};
pub use spec::{ActivationName, ModelSpec};
