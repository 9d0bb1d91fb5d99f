//! nnlab: train and serve small neural networks.
//!
//! The engine (`nn`, `data`, `train`) is pure computation: no async, no I/O beyond reading
//! dataset files, deterministic given a seed.

pub mod cli;
pub mod data;
pub mod nn;
pub mod rng;
pub mod train;
