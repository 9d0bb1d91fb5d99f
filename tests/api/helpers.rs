//! Spawning the real application on port 0 with a fresh temp-file database, and one typed
//! helper per endpoint. Tests wait by polling with a deadline, never by fixed sleeps.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nnlab::app::Application;
use nnlab::config::Config;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Kept alive for the app's lifetime: dropping it deletes the database.
    _dir: Option<tempfile::TempDir>,
}

/// A fresh app with one worker and its own database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("nnlab.db");
    let mut app = start(&db_path, adjust).await;
    app._dir = Some(dir);
    app
}

/// Starts an app on an existing database file (for restart tests).
pub async fn start(db_path: &std::path::Path, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut app = start_url(&format!("sqlite://{}", db_path.display()), adjust).await;
    app.db_path = db_path.to_path_buf();
    app
}

/// Starts an app on any database URL (a PostgreSQL one: `support/postgres.rs`).
pub async fn start_url(url: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::for_database(url);
    config.train_threads = Some(1);
    adjust(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run());
    TestApp {
        address,
        client: reqwest::Client::new(),
        db_path: std::path::PathBuf::new(),
        shutdown,
        server: Some(server),
        _dir: None,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops the server and its workers and waits until they are gone.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn submit(&self, spec: &Value) -> String {
        let (status, job) = self.post_json("/api/v1/jobs", spec).await;
        assert_eq!(status, 202, "{job}");
        job["id"].as_str().expect("job id").to_string()
    }

    pub async fn job(&self, id: &str) -> Value {
        let (status, job) = self.get(&format!("/api/v1/jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        job
    }

    /// Polls until the job's status satisfies `done`, or panics after `timeout`.
    pub async fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "timed out waiting for job {id}: {job}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_finished(&self, id: &str) -> Value {
        self.wait_for(id, Duration::from_secs(120), |j| {
            matches!(j["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
        })
        .await
    }

    pub async fn metrics(&self, id: &str) -> Value {
        let (status, m) = self.get(&format!("/api/v1/jobs/{id}/metrics")).await;
        assert_eq!(status, 200, "{m}");
        m
    }

    pub async fn predict(&self, model_id: &str, body: &Value) -> (u16, Value) {
        self.post_json(&format!("/api/v1/models/{model_id}/predict"), body)
            .await
    }

    /// Row counts of every table: what "the database is unchanged" compares.
    pub async fn table_counts(&self) -> Vec<(String, i64)> {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path.display()))
            .await
            .expect("db");
        let mut counts = Vec::new();
        for table in ["jobs", "epochs", "step_losses", "models"] {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .expect("count");
            counts.push((table.to_string(), n));
        }
        pool.close().await;
        counts
    }
}

/// The lecture's XOR problem, small enough to train in well under a second.
pub fn xor_spec(epochs: usize) -> Value {
    json!({"dataset": "xor", "hidden_layers": [8], "activation": "tanh", "init": "xavier",
           "learning_rate": 0.05, "batch_size": 4, "epochs": epochs, "validation_split": 0, "seed": 7})
}

/// A job that runs for a long while (many epochs of many mini-batches), to cancel or
/// restart in the middle.
pub fn long_spec() -> Value {
    json!({"dataset": "spiral", "hidden_layers": [64, 64], "batch_size": 1, "epochs": 1000, "seed": 3})
}
