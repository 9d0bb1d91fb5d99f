//! nnlab: train and serve small neural networks.
//!
//! The engine (`nn`, `data`, `train`) is pure computation: no async, no I/O beyond reading
//! dataset files, deterministic given a seed. The service (`api`, `jobs`, `models`, `store`, `app`) is
//! a thin layer over it.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod data;
pub mod expr;
pub mod jobs;
pub mod models;
pub mod nn;
pub mod rng;
pub mod server;
pub mod store;
pub mod sweep;
pub mod train;
