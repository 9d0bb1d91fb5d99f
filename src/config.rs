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

/// The service's own limit defaults, each written once: the flags' defaults and
/// `Limits::default()` both read them (the JobSpec caps are `train::spec`'s), and a test checks
/// the README's and `docs/LIFECYCLE.md`'s tables against the flags.
pub mod defaults {
    pub const MAX_QUEUED_JOBS: usize = 100;
    pub const REQUEST_TIMEOUT_SECS: u64 = 30;
    pub const HEADER_TIMEOUT_SECS: u64 = 10;
    pub const MAX_ATTEMPTS: u32 = 3;
    pub const LEASE_SECS: u64 = 30;
    pub const MAX_EVENT_STREAMS: usize = 64;
    pub const MAX_HEAVY_REQUESTS: usize = 4;
    pub const MAX_CONNECTIONS: usize = 512;
    pub const MAX_DRAWINGS: usize = 10_000;
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
    #[arg(long, env = "NNLAB_MAX_QUEUED_JOBS", default_value_t = defaults::MAX_QUEUED_JOBS)]
    pub max_queued_jobs: usize,
    /// Seconds a request may take (all routes but the event streams).
    #[arg(long, env = "NNLAB_REQUEST_TIMEOUT_SECS", default_value_t = defaults::REQUEST_TIMEOUT_SECS)]
    pub request_timeout_secs: u64,
    /// Seconds a client may take to send a request's headers; slower connections are closed.
    #[arg(long, env = "NNLAB_HEADER_TIMEOUT_SECS", default_value_t = defaults::HEADER_TIMEOUT_SECS)]
    pub header_timeout_secs: u64,
    /// Times a job may be claimed by a worker before it ends `failed` (a job that kills its
    /// server is not retried for ever); a graceful shutdown gives its attempt back.
    #[arg(long, env = "NNLAB_MAX_ATTEMPTS", default_value_t = defaults::MAX_ATTEMPTS)]
    pub max_attempts: u32,
    /// Seconds a worker's lease on a job lasts without a heartbeat (renewed every third of it);
    /// a job whose lease expires goes back to the queue.
    #[arg(long, env = "NNLAB_LEASE_SECS", default_value_t = defaults::LEASE_SECS)]
    pub lease_secs: u64,
    /// Open event streams (`/events`) at once; more get 429.
    #[arg(long, env = "NNLAB_MAX_EVENT_STREAMS", default_value_t = defaults::MAX_EVENT_STREAMS)]
    pub max_event_streams: usize,
    /// CPU-heavy synchronous requests at once (large predictions, evaluations, experiments,
    /// imports); more get 503 with Retry-After.
    #[arg(long, env = "NNLAB_MAX_HEAVY_REQUESTS", default_value_t = defaults::MAX_HEAVY_REQUESTS)]
    pub max_heavy_requests: usize,
    /// Open connections at once; more wait to be accepted.
    #[arg(long, env = "NNLAB_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Labelled drawings stored (784 bytes each); a save past it is a 409. Evaluating a model
    /// on them reads them all, so this also bounds an evaluation's memory and time.
    #[arg(long, env = "NNLAB_MAX_DRAWINGS", default_value_t = defaults::MAX_DRAWINGS)]
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
            max_queued_jobs: defaults::MAX_QUEUED_JOBS,
            request_timeout_secs: defaults::REQUEST_TIMEOUT_SECS,
            header_timeout_secs: defaults::HEADER_TIMEOUT_SECS,
            max_attempts: defaults::MAX_ATTEMPTS,
            lease_secs: defaults::LEASE_SECS,
            max_event_streams: defaults::MAX_EVENT_STREAMS,
            max_heavy_requests: defaults::MAX_HEAVY_REQUESTS,
            max_connections: defaults::MAX_CONNECTIONS,
            max_drawings: defaults::MAX_DRAWINGS,
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    /// Every flag with a default, as `--name` and its default written as the docs write it
    /// (no thousands separators, no underscores).
    fn flag_defaults() -> Vec<(String, String)> {
        Flags::command()
            .get_arguments()
            .filter_map(|a| {
                let long = a.get_long()?;
                let value = a.get_default_values().first()?.to_str()?.to_string();
                Some((format!("--{long}"), value))
            })
            .collect()
    }

    fn doc(name: &str) -> String {
        std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn plain(number: &str) -> String {
        number.trim().trim_matches('`').replace([',', '_'], "")
    }

    #[test]
    fn the_readme_configuration_table_gives_each_flag_its_real_default() {
        let readme = doc("README.md");
        let defaults = flag_defaults();
        assert!(defaults.len() >= 20, "{defaults:?}");
        let mut checked = 0;
        for (flag, value) in &defaults {
            // A row names one flag or several (`--max-hidden-layers`, `--max-units`, ...)
            // with their defaults in the same order, separated by ", ".
            let row = readme
                .lines()
                .find(|l| l.starts_with("| `--") && l.split('|').nth(1).unwrap().contains(&format!("`{flag}`")))
                .unwrap_or_else(|| panic!("README's configuration table has no row for {flag}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let flags: Vec<&str> = cells[1].split(", ").map(|f| f.trim_matches('`')).collect();
            let written: Vec<String> = cells[3].split(", ").map(plain).collect();
            let at = flags.iter().position(|f| f == flag).unwrap();
            assert_eq!(
                written.get(at),
                Some(&plain(value)),
                "README's default of {flag}: {row}"
            );
            checked += 1;
        }
        assert_eq!(checked, defaults.len());
    }

    #[test]
    fn the_lifecycle_bounds_give_each_flag_its_real_default() {
        let text = doc("docs/LIFECYCLE.md");
        let defaults: std::collections::HashMap<String, String> = flag_defaults().into_iter().collect();
        let mut checked = 0;
        // Each "`--flag` N" or "`--flag`, N" in the text.
        for piece in text.split("`--").skip(1) {
            let Some((name, rest)) = piece.split_once('`') else {
                continue;
            };
            let number: String = rest
                .trim_start_matches(',')
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .collect();
            let number = number.trim_end_matches(',');
            if number.is_empty() {
                continue;
            }
            let flag = format!("--{name}");
            let value = defaults
                .get(&flag)
                .unwrap_or_else(|| panic!("LIFECYCLE names {flag}, which is no flag"));
            assert_eq!(plain(number), plain(value), "LIFECYCLE's figure for {flag}");
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} figures found");
    }

    #[test]
    fn limits_default_is_what_the_flags_give_without_arguments() {
        let parsed = Flags::try_parse_from(["nnlab"]).unwrap().config.limits;
        let default = Limits::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }
}
