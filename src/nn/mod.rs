//! The neural-network engine: layers, losses, optimizers on [batch, features] f32 matrices.

pub mod matmul;
pub mod matvec;
