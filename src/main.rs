//! The `nnlab` command: parses the command line and runs a subcommand; nothing else.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use nnlab::app::Application;
use nnlab::cli::{bench, bench_store, train};
use nnlab::config::Config;

#[derive(Parser)]
#[command(
    name = "nnlab",
    version,
    about = "Train and serve small neural networks",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `nnlab` serves (these are `serve`'s flags).
    #[command(flatten)]
    serve: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve(Box<Config>),
    /// Train a JobSpec; print one JSON line per epoch and a final "done" line.
    Train {
        /// The JobSpec (JSON), as POST /api/v1/jobs takes it.
        #[arg(long)]
        spec: PathBuf,
        /// Write the trained model here (safetensors, architecture in its metadata).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, env = "NNLAB_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// Threads for matrix products.
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
    },
    /// Run the reference workloads W1 (training) and W2 (inference) on MNIST.
    Bench {
        #[arg(long, env = "NNLAB_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long, default_value_t = 5)]
        epochs: usize,
        /// Batch-1 calls for the latency median.
        #[arg(long, default_value_t = 10_000)]
        latency_calls: usize,
    },
    /// Time storing and reading back checkpoints of growing size in a database (creates and
    /// deletes its own jobs).
    BenchStore {
        #[arg(long, env = "NNLAB_DATABASE_URL", default_value = "sqlite://data/bench-store.db")]
        database_url: String,
        /// Checkpoint sizes in MiB.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16,64,256")]
        sizes_mib: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(config)) => serve(*config),
        Some(Command::Train {
            spec,
            out,
            data_dir,
            threads,
        }) => train::run(&train::TrainArgs {
            spec,
            out,
            data_dir,
            threads,
        }),
        Some(Command::Bench {
            data_dir,
            threads,
            epochs,
            latency_calls,
        }) => bench::run(&bench::BenchArgs {
            data_dir,
            threads,
            epochs,
            latency_calls,
        }),
        Some(Command::BenchStore {
            database_url,
            sizes_mib,
            rounds,
        }) => bench_store::run(&bench_store::BenchStoreArgs {
            database_url,
            sizes_mib,
            rounds,
        }),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Application::build(config).await?;
        tracing::info!(addr = %app.local_addr(), "nnlab listening");
        app.run_until_signal().await
    })
}
