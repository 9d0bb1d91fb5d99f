//! Command-line subcommands other than the server: `train` and `bench`.

pub mod bench;
pub mod train;
