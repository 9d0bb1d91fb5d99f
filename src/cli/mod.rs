//! Command-line subcommands other than the server: `train`, `bench` and `bench-store`.

pub mod bench;
pub mod bench_store;
pub mod train;
