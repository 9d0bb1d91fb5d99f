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
    /// This replica's name, on the leases it takes (default: `nnlab-` and a random id). Give
    /// each replica its own, stable across restarts: a replica restarted under its name takes
    /// back at once the jobs its earlier process was running (instead of waiting out their
    /// leases). Two live replicas must never share a name.
    #[arg(long, env = "NNLAB_REPLICA_NAME")]
    pub replica_name: Option<String>,
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
    #[arg(long, env = "NNLAB_MAX_PARAMETERS", default_value_t = crate::train::spec::MAX_PARAMETERS)]
    pub max_parameters: usize,
    #[arg(long, env = "NNLAB_MAX_BATCH_SIZE", default_value_t = crate::train::spec::MAX_BATCH_SIZE)]
    pub max_batch_size: usize,
    /// A job's estimated memory in MiB (parameters with optimizer state and checkpoints, one
    /// batch's activations, its dataset); a job over it gets a 422 naming the field to change.
    #[arg(long, env = "NNLAB_MAX_JOB_MEMORY_MIB", default_value_t = crate::train::spec::MAX_JOB_MEMORY_BYTES >> 20)]
    pub max_job_memory_mib: u64,
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
    /// Seconds a client may take to send a request's headers; slower connections are closed.
    #[arg(long, env = "NNLAB_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Times a job may be claimed by a worker before it ends `failed` (a job that kills its
    /// server is not retried for ever); a graceful shutdown gives its attempt back.
    #[arg(long, env = "NNLAB_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: u32,
    /// Seconds a worker's lease on a job lasts without a heartbeat (renewed every third of it);
    /// a job whose lease expires goes back to the queue.
    #[arg(long, env = "NNLAB_LEASE_SECS", default_value_t = 30)]
    pub lease_secs: u64,
    /// Open event streams (`/events`) at once; more get 429.
    #[arg(long, env = "NNLAB_MAX_EVENT_STREAMS", default_value_t = 64)]
    pub max_event_streams: usize,
    /// CPU-heavy synchronous requests at once (large predictions, evaluations, experiments,
    /// imports); more get 503 with Retry-After.
    #[arg(long, env = "NNLAB_MAX_HEAVY_REQUESTS", default_value_t = 4)]
    pub max_heavy_requests: usize,
    /// Open connections at once; more wait to be accepted.
    #[arg(long, env = "NNLAB_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
    /// Labelled drawings stored (784 bytes each); a save past it is a 409. Evaluating a model
    /// on them reads them all, so this also bounds an evaluation's memory and time.
    #[arg(long, env = "NNLAB_MAX_DRAWINGS", default_value_t = 10_000)]
    pub max_drawings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let spec = crate::train::SpecLimits::default();
        Limits {
            max_hidden_layers: spec.max_hidden_layers,
            max_units: spec.max_units,
            max_parameters: spec.max_parameters,
            max_batch_size: spec.max_batch_size,
            max_job_memory_mib: spec.max_job_memory_bytes >> 20,
            max_epochs: spec.max_epochs,
            max_train_samples: spec.max_train_samples,
            max_queued_jobs: 100,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            max_attempts: 3,
            lease_secs: 30,
            max_event_streams: 64,
            max_heavy_requests: 4,
            max_connections: 512,
            max_drawings: 10_000,
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
            max_batch_size: self.max_batch_size,
            max_parameters: self.max_parameters,
            max_job_memory_bytes: self.max_job_memory_mib << 20,
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
            replica_name: None,
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
