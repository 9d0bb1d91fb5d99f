//! Crash safety with the real binary: SIGKILL in the middle of a multi-epoch job, start
//! again on the same database, and the job finishes with every epoch exactly once — and
//! with the very history an uninterrupted run of the same spec has.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/server.rs"]
mod server;

use server::Server;

fn start(db: &Path) -> Server {
    start_with(db, &[])
}

fn start_with(db: &Path, extra: &[&str]) -> Server {
    server::start(&format!("sqlite://{}", db.display()), extra)
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    client
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

async fn wait_for(client: &reqwest::Client, job: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let j = get(client, job.to_string()).await;
        if done(&j) {
            return j;
        }
        assert!(Instant::now() < deadline, "timed out: {j}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn losses(metrics: &Value) -> Vec<(i64, f64)> {
    metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["epoch"].as_i64().unwrap(), e["train_loss"].as_f64().unwrap()))
        .collect()
}

// Long enough that the kill at epoch 3 lands mid-run on any machine (the rest of the run,
// ~50 epochs, scales with the machine too), short enough to run twice in seconds.
const EPOCHS: i64 = 60;

async fn run_to_end(client: &reqwest::Client, spec: &Value, kill_at: Option<i64>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nnlab.db");
    let mut server = start(&db);
    let id = submit(client, &server, spec).await;
    if let Some(epoch) = kill_at {
        let job_url = format!("{}/api/v1/jobs/{id}", server.url);
        wait_for(client, &job_url, |j| {
            j["progress"]["epoch"].as_i64().unwrap_or(0) >= epoch
        })
        .await;
        server.child.kill().expect("SIGKILL");
        server.child.wait().unwrap();
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let (status, epoch): (String, i64) = sqlx::query_as("SELECT status, epoch FROM jobs WHERE id = ?")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        assert_eq!(status, "running", "killed mid-run");
        assert!(epoch < EPOCHS, "killed before the end (epoch {epoch})");
        server = start(&db);
    }
    let job_url = format!("{}/api/v1/jobs/{id}", server.url);
    let job = wait_for(client, &job_url, |j| {
        j["status"] != "queued" && j["status"] != "running"
    })
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let metrics = get(client, format!("{job_url}/metrics")).await;
    server.child.kill().ok();
    server.child.wait().ok();
    metrics
}

#[tokio::test]
async fn a_job_killed_mid_run_resumes_from_its_checkpoint_with_every_epoch_exactly_once() {
    let client = reqwest::Client::new();
    let spec = json!({"dataset": "spiral", "hidden_layers": [64, 64], "batch_size": 1, "epochs": EPOCHS,
                      "dropout": 0.1, "seed": 11});
    let crashed = run_to_end(&client, &spec, Some(3)).await;
    let epochs: Vec<i64> = losses(&crashed).iter().map(|(e, _)| *e).collect();
    assert_eq!(epochs, (1..=EPOCHS).collect::<Vec<_>>(), "every epoch exactly once");
    let uninterrupted = run_to_end(&client, &spec, None).await;
    assert_eq!(
        losses(&crashed),
        losses(&uninterrupted),
        "resuming changes nothing in the history"
    );
}

async fn submit(client: &reqwest::Client, server: &Server, spec: &Value) -> String {
    let created: Value = client
        .post(format!("{}/api/v1/jobs", server.url))
        .json(spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().expect("job id").to_string()
}

fn long_job() -> Value {
    json!({"dataset": "spiral", "hidden_layers": [64, 64], "batch_size": 1, "epochs": 1000, "seed": 3})
}

async fn job_row(db: &Path, id: &str) -> (String, i64, Option<String>) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let row = sqlx::query_as("SELECT status, attempts, error FROM jobs WHERE id = ?")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    row
}

#[tokio::test]
async fn a_job_that_kills_its_server_every_time_ends_failed_after_max_attempts_instead_of_a_crash_loop() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nnlab.db");
    let args = ["--max-attempts", "2"];
    let mut server = start_with(&db, &args);
    let id = submit(&client, &server, &long_job()).await;
    // Each start claims the job again and is killed in the middle of it.
    for attempt in 1..=2 {
        let url = format!("{}/api/v1/jobs/{id}", server.url);
        let job = wait_for(&client, &url, |j| j["status"] == "running").await;
        assert_eq!(job["attempts"], attempt, "{job}");
        server.child.kill().expect("SIGKILL");
        server.child.wait().unwrap();
        server = start_with(&db, &args);
    }
    let job = get(&client, format!("{}/api/v1/jobs/{id}", server.url)).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("max_attempts 2"), "{error}");
    assert!(!error.contains('/'), "no server path in a job's error: {error}");
    server.child.kill().ok();
    server.child.wait().ok();
}

#[tokio::test]
async fn sigterm_with_an_open_event_stream_exits_promptly_and_gives_the_job_back_without_spending_an_attempt() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nnlab.db");
    let mut server = start(&db);
    let id = submit(&client, &server, &long_job()).await;
    let url = format!("{}/api/v1/jobs/{id}", server.url);
    wait_for(&client, &url, |j| j["progress"]["epoch"].as_i64().unwrap_or(0) >= 1).await;
    // A client that keeps its event stream open and never reads it to the end.
    let stream = client.get(format!("{url}/events")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let pid = server.child.id().to_string();
    let started = Instant::now();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    let deadline = started + Duration::from_secs(10);
    let exited = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    if exited.is_none() {
        server.child.kill().ok();
    }
    assert!(exited.is_some(), "still running 10 s after SIGTERM");
    assert!(exited.unwrap().success(), "a clean exit");
    eprintln!("SIGTERM to exit: {took:?}");
    drop(stream);
    let (status, attempts, _) = job_row(&db, &id).await;
    assert_eq!(
        (status.as_str(), attempts),
        ("queued", 0),
        "given back, attempt refunded"
    );
}
