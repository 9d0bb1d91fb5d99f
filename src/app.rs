//! The application: database, job workers and HTTP server, built once from a `Config` and
//! used by both `main` and the tests (port 0 works).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, router};
use crate::config::Config;
use crate::jobs::{DatasetCache, Jobs, QueueSettings};
use crate::server::{self, ServeLimits};
use crate::store;

/// How long a shutdown waits for workers to give their jobs back and for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

pub struct Application {
    listener: TcpListener,
    serve_limits: ServeLimits,
    router: axum::Router,
    jobs: Arc<Jobs>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = store::connect(&config.database_url).await?;
        let replica = config
            .replica_name
            .clone()
            .unwrap_or_else(|| format!("nnlab-{}", uuid::Uuid::new_v4()));
        // Jobs left `running` by an earlier process are void now and go back to the queue
        // at once, each having spent an attempt (a job that kills its server ends `failed`
        // after --max-attempts starts instead of crash-looping it). A SQLite file is one
        // server's, so that is every running job; on a shared database it is the jobs under
        // this replica's own name (a replica restarted under its `--replica-name`), while
        // other replicas' jobs wait for their leases to expire (the reaper).
        let reclaim = match store.reclaims_all_at_start() {
            true => store::jobs::Reclaim::All,
            false => store::jobs::Reclaim::ExpiredOrOwnedBy(store::jobs::now_ms(), &replica),
        };
        let (requeued, failed) = store.reclaim(reclaim).await?;
        if requeued + failed > 0 {
            tracing::info!(
                requeued,
                failed,
                "jobs left running by the last process were taken back"
            );
        }
        let settings = QueueSettings {
            threads_per_job: config.threads_per_job(),
            lease: Duration::from_secs(config.limits.lease_secs.max(1)),
            max_attempts: config.limits.max_attempts.max(1),
            max_queued: config.limits.max_queued_jobs,
            replica,
            poll: QueueSettings::POLL,
        };
        let jobs = Jobs::new(Arc::clone(&store), DatasetCache::new(config.data_dir.clone()), settings);
        if config.demo_model
            && let Some(id) = crate::jobs::demo::ensure_demo_job(&jobs, &config.limits.spec_limits()).await?
        {
            tracing::info!(job = %id, "no MNIST model yet: training the demo model");
        }
        let shutdown = CancellationToken::new();
        let workers = jobs.start_workers(config.workers.max(1), shutdown.clone());
        let state = AppState::new(store, Arc::clone(&jobs), &config, shutdown.clone());
        let listener = TcpListener::bind(config.addr).await?;
        let serve_limits = ServeLimits {
            header_timeout: Duration::from_secs(config.limits.header_timeout_secs.max(1)),
            max_connections: config.limits.max_connections,
        };
        Ok(Application {
            listener,
            serve_limits,
            router: router(state),
            jobs,
            workers,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// A handle that stops the application gracefully when cancelled.
    pub fn shutdown_handle(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until `shutdown_handle()` is cancelled (or SIGINT/SIGTERM with
    /// [`Application::run_until_signal`]). Then, at once: no new connections, every event
    /// stream ends, every running job stops after its mini-batch and is given back to the
    /// queue (no attempt spent); requests in flight may finish. All of it within
    /// [`SHUTDOWN_GRACE`], whatever the clients do.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let connections = server::serve(self.listener, self.router, self.serve_limits, shutdown.clone()).await;
        self.jobs.stop_all_for_shutdown();
        let drained = async {
            for w in self.workers {
                let _ = w.await;
            }
            connections.wait().await;
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
            tracing::warn!(
                "shutdown: gave up waiting after {SHUTDOWN_GRACE:?} (a job still running is taken back at the next start)"
            );
        }
        Ok(())
    }

    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        let token = self.shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            token.cancel();
        });
        self.run().await
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
