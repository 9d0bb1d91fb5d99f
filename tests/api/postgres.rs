//! The service on PostgreSQL: the same API, and several replicas sharing one database. Each
//! test is skipped (loudly) when PostgreSQL is not installed, unless NNLAB_REQUIRE_POSTGRES=1.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster;
use crate::helpers::{TestApp, long_spec, start_url, xor_spec};

async fn replicas(n: usize) -> Option<(Vec<TestApp>, String)> {
    let url = cluster::fresh_database().await?;
    let mut apps = Vec::new();
    for i in 0..n {
        apps.push(
            start_url(&url, |c| {
                c.limits.lease_secs = 3;
                c.replica_name = Some(format!("replica-{i}"));
            })
            .await,
        );
    }
    Some((apps, url))
}

#[tokio::test]
async fn an_xor_job_trains_predicts_and_is_deleted_on_postgres() {
    let Some((apps, _)) = replicas(1).await else { return };
    let app = &apps[0];
    let id = app.submit(&xor_spec(300)).await;
    let job = app.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["init_sha256"].as_str().unwrap().len(), 64);
    let model = job["result"]["model_id"].as_str().unwrap();
    let (status, out) = app
        .predict(model, &json!({"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]]}))
        .await;
    assert_eq!(status, 200, "{out}");
    let labels: Vec<u64> = out["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_u64().unwrap())
        .collect();
    assert_eq!(labels, [0, 1, 1, 0]);
    let history = app.metrics(&id).await;
    assert_eq!(history["epochs"].as_array().unwrap().len(), 300);
    let (status, ready) = app.get("/readyz").await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.get(&format!("/api/v1/models/{model}")).await.0, 404);
}

#[tokio::test]
async fn replicas_share_the_queue_and_any_replica_answers_for_any_job() {
    let Some((apps, _)) = replicas(2).await else { return };
    // Submitted to replica 0 and 1 alternately; either replica's workers train them.
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(apps[i % 2].submit(&xor_spec(40)).await);
    }
    for id in &ids {
        let job = apps[1].wait_finished(id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["attempts"], 1, "claimed once: {job}");
        assert_eq!(apps[0].job(id).await, job, "both replicas tell the same");
        let epochs: Vec<i64> = apps[0].metrics(id).await["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["epochs_done"].as_i64().unwrap())
            .collect();
        assert_eq!(epochs, (1..=40).collect::<Vec<_>>(), "every epoch once");
    }
}

#[tokio::test]
async fn a_cancel_on_one_replica_ends_a_job_running_on_another() {
    let Some((apps, _)) = replicas(2).await else { return };
    let id = apps[0].submit(&long_spec()).await;
    let job = apps[0]
        .wait_for(&id, Duration::from_secs(30), |j| j["status"] == "running")
        .await;
    assert_eq!(job["status"], "running");
    // Whichever replica trains it, cancel through both in turn: the first 200 wins.
    let (status, body) = apps[1]
        .post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null)
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")), "{body}");
    let seen = apps[0].metrics(&id).await["epochs"].as_array().unwrap().len();
    // The worker, wherever it is, finds its lease gone at its next write or heartbeat
    // (a third of the 3 s lease) and stops without writing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = apps[0].metrics(&id).await["epochs"].as_array().unwrap().len();
    assert_eq!(later, seen, "no epoch recorded after the cancel");
    assert_eq!(apps[0].job(&id).await["status"], "cancelled");
}

/// Reads an event stream to its end: each event's name, data and arrival time.
async fn read_events(app: &TestApp, id: &str) -> Vec<(String, Value, std::time::Instant)> {
    let mut r = app
        .client
        .get(app.url(&format!("/api/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut events = Vec::new();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = r.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                let name = block.lines().find_map(|l| l.strip_prefix("event: "));
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(name), Some(data)) = (name, data) {
                    events.push((
                        name.to_string(),
                        serde_json::from_str(data).unwrap(),
                        std::time::Instant::now(),
                    ));
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the stream ends with the job");
    events
}

#[tokio::test]
async fn every_replica_streams_every_epoch_of_a_job_trained_on_any_of_them_within_a_second() {
    let Some((apps, url)) = replicas(2).await else { return };
    // ~30 ms epochs: the streams open while it trains.
    let spec = json!({"dataset": "circle", "hidden_layers": [16], "batch_size": 1, "epochs": 60, "seed": 2});
    let id = apps[0].submit(&spec).await;
    // One stream per replica: whichever trains the job, the other streams it from the store.
    let (a, b) = tokio::join!(read_events(&apps[0], &id), read_events(&apps[1], &id));
    let history = apps[0].metrics(&id).await;
    let rows = history["epochs"].as_array().unwrap();
    let mut arrivals = Vec::new();
    for events in [&a, &b] {
        let epochs: Vec<(&Value, std::time::Instant)> = events
            .iter()
            .filter(|(n, _, _)| n == "epoch")
            .map(|(_, d, t)| (d, *t))
            .collect();
        assert!(!epochs.is_empty(), "the stream opened while the job trained");
        let first = epochs[0].0["epochs_done"].as_i64().unwrap();
        let numbers: Vec<i64> = epochs.iter().map(|(e, _)| e["epochs_done"].as_i64().unwrap()).collect();
        assert_eq!(
            numbers,
            (first..=60).collect::<Vec<_>>(),
            "every epoch from the first sent, once, in order"
        );
        for (e, _) in &epochs {
            let n = e["epochs_done"].as_i64().unwrap() as usize;
            assert_eq!(*e, &rows[n - 1], "the same row as /metrics");
        }
        let (last, data, _) = events.last().unwrap();
        assert_eq!((last.as_str(), data["status"].as_str()), ("status", Some("succeeded")));
        arrivals.push(
            epochs
                .iter()
                .map(|(e, t)| (e["epochs_done"].as_i64().unwrap(), *t))
                .collect::<Vec<_>>(),
        );
    }
    // How much later an epoch arrives on the replica that does not train the job.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let trained_by: Option<String> = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(trained_by.is_none(), "the lease is cleared once the job ends");
    let lags: Vec<f64> = arrivals[0]
        .iter()
        .filter_map(|(n, t0)| {
            let t1 = arrivals[1].iter().find(|(m, _)| m == n)?.1;
            Some(if t1 > *t0 {
                (t1 - *t0).as_secs_f64()
            } else {
                (*t0 - t1).as_secs_f64()
            })
        })
        .collect();
    let max = lags.iter().cloned().fold(0.0, f64::max);
    let mean = lags.iter().sum::<f64>() / lags.len().max(1) as f64;
    eprintln!(
        "epoch arrival, one replica vs the other: mean {mean:.3} s, max {max:.3} s over {} epochs",
        lags.len()
    );
    assert!(
        max < 1.0,
        "an epoch reached the other replica's stream {max:.3} s later"
    );
}

#[tokio::test]
async fn a_cancel_sent_to_one_replica_stops_the_job_training_on_another_within_a_second() {
    let Some(url) = cluster::fresh_database().await else {
        return;
    };
    let a = start_url(&url, |c| c.replica_name = Some("replica-a".into())).await;
    let b = start_url(&url, |c| c.replica_name = Some("replica-b".into())).await;
    // One long job per replica (each has one worker): 30,000 single-row mini-batches.
    let slow = json!({"dataset": "mnist", "hidden_layers": [64], "batch_size": 1, "epochs": 1,
                      "train_samples": 30000, "validation_split": 0});
    let jobs = [a.submit(&slow).await, a.submit(&slow).await];
    for id in &jobs {
        // Training has started once the initial weights are recorded.
        a.wait_for(id, Duration::from_secs(60), |j| j["init_sha256"].is_string())
            .await;
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let owner: String = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1")
        .bind(&jobs[0])
        .fetch_one(&pool)
        .await
        .unwrap();
    let other = if owner == "replica-a" { &b } else { &a };
    // Cancelled through the replica that does not train it.
    let started = std::time::Instant::now();
    let (status, body) = other
        .post_json(&format!("/api/v1/jobs/{}/cancel", jobs[0]), &Value::Null)
        .await;
    assert_eq!(status, 200, "{body}");
    // The only worker that can take a new job is the one training the cancelled job: the
    // new job starts as soon as that worker has stopped.
    let quick = other.submit(&xor_spec(5)).await;
    other
        .wait_for(&quick, Duration::from_secs(30), |j| j["status"] != "queued")
        .await;
    let took = started.elapsed();
    eprintln!("cross-replica cancel: the owner's worker was free again after {took:?}");
    assert!(took < Duration::from_millis(2500), "the worker stopped after {took:?}");
    let owner_of_quick: String = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1")
        .bind(&quick)
        .fetch_one(&pool)
        .await
        .unwrap_or_default();
    assert!(owner_of_quick.is_empty() || owner_of_quick == owner, "{owner_of_quick}");
    a.post_json(&format!("/api/v1/jobs/{}/cancel", jobs[1]), &Value::Null)
        .await;
}

/// `NNLAB_TEST_DATABASE=postgres` (as `.ci/run` sets for its second pass) runs every API
/// test on PostgreSQL: the apps this suite spawns are on the backend it asked for.
#[tokio::test]
async fn the_suite_runs_on_the_database_it_was_asked_for() {
    let app = crate::helpers::spawn_app().await;
    let on_postgres = std::env::var("NNLAB_TEST_DATABASE").as_deref() == Ok("postgres");
    assert_eq!(
        app.database_url.starts_with("postgres://"),
        on_postgres,
        "{}",
        app.database_url
    );
    assert_eq!(
        app.database_url.starts_with("sqlite://"),
        !on_postgres,
        "{}",
        app.database_url
    );
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
}
