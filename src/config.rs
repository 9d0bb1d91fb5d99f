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
    /// With a token, creating, cancelling and importing need `Authorization: Bearer <token>`;
    /// reads and predictions stay open.
    #[arg(long, env = "NNLAB_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Origins allowed by CORS, comma-separated (`*` for any); none by default.
    #[arg(long, env = "NNLAB_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    #[command(flatten)]
    pub limits: Limits,
}

/// Caps that keep one server within what it is for; over a cap is a 422 (or 429 for the
/// queue), never an out-of-memory.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    #[arg(long, env = "NNLAB_MAX_HIDDEN_LAYERS", default_value_t = crate::train::spec::MAX_HIDDEN_LAYERS)]
    pub max_hidden_layers: usize,
    #[arg(long, env = "NNLAB_MAX_UNITS", default_value_t = crate::train::spec::MAX_UNITS)]
    pub max_units: usize,
    /// Trainable parameters of one job's network.
    #[arg(long, env = "NNLAB_MAX_PARAMETERS", default_value_t = 5_000_000)]
    pub max_parameters: usize,
    #[arg(long, env = "NNLAB_MAX_EPOCHS", default_value_t = crate::train::spec::MAX_EPOCHS)]
    pub max_epochs: usize,
    #[arg(long, env = "NNLAB_MAX_TRAIN_SAMPLES", default_value_t = crate::train::spec::MAX_TRAIN_SAMPLES)]
    pub max_train_samples: usize,
    /// Jobs waiting in the queue; more get 429 with Retry-After.
    #[arg(long, env = "NNLAB_MAX_QUEUED_JOBS", default_value_t = 100)]
    pub max_queued_jobs: usize,
    /// Seconds a request may take (all routes but the event streams).
    #[arg(long, env = "NNLAB_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        use crate::train::spec::{MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_TRAIN_SAMPLES, MAX_UNITS};
        Limits {
            max_hidden_layers: MAX_HIDDEN_LAYERS,
            max_units: MAX_UNITS,
            max_parameters: 5_000_000,
            max_epochs: MAX_EPOCHS,
            max_train_samples: MAX_TRAIN_SAMPLES,
            max_queued_jobs: 100,
            request_timeout_secs: 30,
        }
    }
}

impl Limits {
    pub fn spec_limits(&self) -> crate::train::SpecLimits {
        crate::train::SpecLimits {
            max_hidden_layers: self.max_hidden_layers,
            max_units: self.max_units,
            max_epochs: self.max_epochs,
            max_train_samples: self.max_train_samples,
        }
    }
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
            api_token: None,
            cors_origins: Vec::new(),
            limits: Limits::default(),
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
