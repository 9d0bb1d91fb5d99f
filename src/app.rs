//! The application: database, job workers and HTTP server, built once from a `Config` and
//! used by both `main` and the tests (port 0 works).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, router};
use crate::config::Config;
use crate::jobs::{DatasetCache, Jobs};
use crate::store;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    jobs: Arc<Jobs>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let pool = store::connect(&config.database_url).await?;
        let requeued = store::jobs::requeue_interrupted(&pool).await?;
        if requeued > 0 {
            tracing::info!(requeued, "jobs interrupted by the last shutdown are queued again");
        }
        if config.demo_model
            && let Some(id) = crate::jobs::demo::ensure_demo_job(&pool).await?
        {
            tracing::info!(job = %id, "no MNIST model yet: training the demo model");
        }
        let jobs = Jobs::new(
            pool.clone(),
            DatasetCache::new(config.data_dir.clone()),
            config.threads_per_job(),
        );
        let shutdown = CancellationToken::new();
        let workers = jobs.start_workers(config.workers.max(1), shutdown.clone());
        let state = AppState::new(pool, Arc::clone(&jobs), &config);
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Application {
            listener,
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
    /// [`Application::run_until_signal`]); running jobs are stopped and stay `running` in the
    /// database, so the next start queues them again.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let result = serve.await;
        self.jobs.stop_all_for_shutdown();
        shutdown.cancel();
        for w in self.workers {
            let _ = w.await;
        }
        Ok(result?)
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
