//! Spawning the real application on port 0 with a fresh database, and one typed helper
//! per endpoint. Tests wait by polling with a deadline, never by fixed sleeps.
//!
//! The database is a temp-file SQLite one, or with `NNLAB_TEST_DATABASE=postgres` a fresh
//! database on the throwaway PostgreSQL cluster (`support/postgres.rs`): `.ci/run` runs
//! this whole suite on both.

use std::time::{Duration, Instant};

use nnlab::app::Application;
use nnlab::config::Config;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The app's `--database-url`: a restart starts on it again.
    pub database_url: String,
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
    if std::env::var("NNLAB_TEST_DATABASE").as_deref() == Ok("postgres") {
        let url = crate::cluster::fresh_database()
            .await
            .expect("NNLAB_TEST_DATABASE=postgres needs PostgreSQL: apt-get install postgresql");
        return start_url(&url, adjust).await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nnlab.db").display());
    let mut app = start_url(&url, adjust).await;
    app._dir = Some(dir);
    app
}

/// Starts an app on a database URL: an existing one (restart tests), or a PostgreSQL one
/// shared by several replicas.
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
        database_url: url.to_string(),
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
        let db = Db::open(&self.database_url).await;
        let mut counts = Vec::new();
        for table in [
            "jobs",
            "epochs",
            "step_losses",
            "checkpoints",
            "models",
            "blobs",
            "drawings",
        ] {
            let n = db.count(&format!("SELECT COUNT(*) FROM {table}"), None).await;
            counts.push((table.to_string(), n));
        }
        db.close().await;
        counts
    }
}

/// The test's own connection to an app's database, for what the API does not show. The
/// SQL is written once for both backends (`$1` is a placeholder for both).
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// `$body` once per backend, with `$pool` bound to the pool.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    pub async fn open(url: &str) -> Db {
        if url.starts_with("postgres") {
            Db::Postgres(sqlx::PgPool::connect(url).await.expect("db"))
        } else {
            Db::Sqlite(sqlx::SqlitePool::connect(url).await.expect("db"))
        }
    }

    /// A `SELECT COUNT(*) ...`, with `$1` bound to `arg` if given.
    pub async fn count(&self, sql: &str, arg: Option<&str>) -> i64 {
        on_pool!(self, pool => {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()));
            if let Some(arg) = arg {
                query = query.bind(arg.to_string());
            }
            query.fetch_one(pool).await.expect("count")
        })
    }

    /// A job's (status, attempts, epoch) as stored.
    pub async fn job_state(&self, id: &str) -> (String, i64, i64) {
        on_pool!(self, pool => {
            sqlx::query_as("SELECT status, attempts, epoch FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .expect("job row")
        })
    }

    pub async fn close(self) {
        on_pool!(self, pool => pool.close().await)
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
