//! Every setting of the service: a flag with an environment twin and a default that runs
//! locally. The only place that reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "NNLAB_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// SQLite database (created if missing).
    #[arg(long, env = "NNLAB_DATABASE_URL", default_value = "sqlite://data/nnlab.db")]
    pub database_url: String,
    /// Training jobs that run at once.
    #[arg(long, env = "NNLAB_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Where datasets live (`mnist/`, `fashion-mnist/`).
    #[arg(long, env = "NNLAB_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The web page's files, served at `/`.
    #[arg(long, env = "NNLAB_STATIC_DIR", default_value = "static")]
    pub static_dir: PathBuf,
    /// Threads for one job's matrix products (default: all cores when one worker, else 1).
    #[arg(long, env = "NNLAB_TRAIN_THREADS")]
    pub train_threads: Option<usize>,
    /// Train a demo MNIST model at start-up when there is none (for the draw-a-digit page).
    #[arg(long, env = "NNLAB_DEMO_MODEL", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo_model: bool,
    /// Models kept loaded in memory for predictions.
    #[arg(long, env = "NNLAB_MODEL_CACHE", default_value_t = 16)]
    pub model_cache: usize,
}

impl Config {
    /// Defaults for tests and embedding: a given database, port 0, one worker, no demo model.
    pub fn for_database(database_url: &str) -> Config {
        Config {
            addr: "127.0.0.1:0".parse().expect("valid address"),
            database_url: database_url.to_string(),
            workers: 1,
            data_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
            train_threads: None,
            demo_model: false,
            model_cache: 16,
        }
    }

    /// Matrix-product threads per job: both cores for a lone worker, one each otherwise so
    /// concurrent jobs do not oversubscribe the machine.
    pub fn threads_per_job(&self) -> usize {
        self.train_threads.unwrap_or_else(|| {
            if self.workers > 1 {
                1
            } else {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            }
        })
    }
}
