//! The job lifecycle: cancel as a transition, the queue cap, leases and attempts, deletes,
//! and limits that the trainer honours as the handler checked them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, long_spec, spawn_app, spawn_app_with, xor_spec};

async fn cancel(app: &TestApp, id: &str) -> (u16, Value) {
    app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await
}

async fn delete(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.client.delete(app.url(path)).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn epoch_count(metrics: &Value) -> usize {
    metrics["epochs"].as_array().map_or(0, Vec::len)
}

/// Polls until no job is queued or running.
async fn wait_idle(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, queued) = app.get("/api/v1/jobs?status=queued").await;
        let (_, running) = app.get("/api/v1/jobs?status=running").await;
        if queued["jobs"].as_array().unwrap().is_empty() && running["jobs"].as_array().unwrap().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "jobs still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cancel_that_answers_200_means_cancelled_with_no_further_epoch_and_no_model() {
    let app = spawn_app_with(|c| c.workers = 2).await;
    // Jobs of a few milliseconds, so that cancels land before, during and after training.
    let spec = json!({"dataset": "xor", "hidden_layers": [8], "batch_size": 1, "epochs": 30,
                      "validation_split": 0, "seed": 1});
    let mut cancelled = Vec::new();
    let mut conflicts = 0;
    for _ in 0..60 {
        let id = app.submit(&spec).await;
        let (status, body) = cancel(&app, &id).await;
        match status {
            200 => {
                assert_eq!(body["status"], "cancelled", "{body}");
                assert!(body["result"].is_null(), "{body}");
                let seen = epoch_count(&app.metrics(&id).await);
                cancelled.push((id, seen));
            }
            409 => {
                assert_eq!(app.job(&id).await["status"], "succeeded");
                assert!(body["error"]["field"].is_null(), "{body}");
                conflicts += 1;
            }
            other => panic!("cancel answered {other}: {body}"),
        }
    }
    assert!(
        !cancelled.is_empty(),
        "some cancels must win ({conflicts} came too late)"
    );
    wait_idle(&app).await;
    let (_, models) = app.get("/api/v1/models").await;
    for (id, seen) in &cancelled {
        let job = app.job(id).await;
        assert_eq!(job["status"], "cancelled", "{job}");
        assert!(job["result"].is_null(), "{job}");
        let metrics = app.metrics(id).await;
        assert_eq!(
            epoch_count(&metrics),
            *seen,
            "job {id}: no epoch recorded after its cancel answered 200"
        );
        // `seen` may be all 30: a cancel that lands after the last epoch but before the
        // model is stored still wins, and then no model may appear.
        assert!(
            models["models"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["job_id"] != json!(id)),
            "job {id} was cancelled but has a model"
        );
    }
}

#[tokio::test]
async fn cancelling_an_ended_job_is_a_409_that_changes_nothing() {
    let app = spawn_app().await;
    let id = app.submit(&xor_spec(5)).await;
    let done = app.wait_finished(&id).await;
    let (status, body) = cancel(&app, &id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(app.job(&id).await, done);
    let (status, _) = cancel(&app, "no-such-job").await;
    assert_eq!(status, 404);
}

/// Reads an event stream to its end (or panics after the timeout); returns the event names
/// and data.
async fn read_stream(app: &TestApp, id: &str, until: impl std::future::Future<Output = ()>) -> Vec<(String, Value)> {
    let mut r = app
        .client
        .get(app.url(&format!("/api/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = r.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let (_, done) = tokio::join!(until, tokio::time::timeout(Duration::from_secs(20), read));
    assert!(done.is_ok(), "the stream did not end: {text}");
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_string(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn the_event_streams_of_a_cancelled_job_end_at_once_whether_it_was_queued_or_running() {
    let app = spawn_app().await;
    let running = app.submit(&long_spec()).await;
    app.wait_for(&running, Duration::from_secs(30), |j| j["status"] == "running")
        .await;
    let queued = app.submit(&long_spec()).await;
    for id in [&queued, &running] {
        let cancel_soon = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(cancel(&app, id).await.0, 200);
        };
        let events = read_stream(&app, id, cancel_soon).await;
        let statuses: Vec<(&str, &Value, &Value)> = events
            .iter()
            .filter(|(name, _)| name == "status")
            .map(|(_, e)| (e["status"].as_str().unwrap(), &e["progress"]["epoch"], &e["attempts"]))
            .collect();
        let (name, last) = events.last().expect("some events");
        assert_eq!(name, "status", "{statuses:?}");
        assert_eq!(last["status"], "cancelled", "{statuses:?}");
    }
}

#[tokio::test]
async fn concurrent_submits_queue_no_more_than_the_cap() {
    let app = spawn_app_with(|c| c.limits.max_queued_jobs = 3).await;
    // The one worker is busy, so every accepted job stays queued.
    let busy = app.submit(&long_spec()).await;
    app.wait_for(&busy, Duration::from_secs(30), |j| j["status"] == "running")
        .await;
    let submits = (0..20).map(|_| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/jobs"));
        async move {
            let r = client.post(url).json(&long_spec()).send().await.unwrap();
            let retry = r.headers().get("retry-after").is_some();
            (r.status().as_u16(), retry)
        }
    });
    let answers = futures::future::join_all(submits).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 202).count();
    let refused = answers.iter().filter(|(s, retry)| *s == 429 && *retry).count();
    assert_eq!((accepted, refused), (3, 17), "{answers:?}");
    let (_, queued) = app.get("/api/v1/jobs?status=queued").await;
    assert_eq!(queued["jobs"].as_array().unwrap().len(), 3);
    for job in queued["jobs"].as_array().unwrap() {
        cancel(&app, job["id"].as_str().unwrap()).await;
    }
    cancel(&app, &busy).await;
}

#[tokio::test]
async fn deleting_an_ended_job_removes_it_with_its_history_and_model_and_a_running_one_is_a_409() {
    let app = spawn_app().await;
    let id = app.submit(&xor_spec(20)).await;
    let job = app.wait_finished(&id).await;
    let model = job["result"]["model_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.predict(&model, &json!({"inputs": [[0, 1]]})).await.0,
        200,
        "the model is cached"
    );
    let running = app.submit(&long_spec()).await;
    app.wait_for(&running, Duration::from_secs(30), |j| j["status"] == "running")
        .await;
    let (status, body) = delete(&app, &format!("/api/v1/jobs/{running}")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(app.job(&running).await["status"], "running");

    assert_eq!(delete(&app, &format!("/api/v1/jobs/{id}")).await.0, 204);
    assert_eq!(app.get(&format!("/api/v1/jobs/{id}")).await.0, 404);
    assert_eq!(app.get(&format!("/api/v1/models/{model}")).await.0, 404);
    assert_eq!(
        app.predict(&model, &json!({"inputs": [[0, 1]]})).await.0,
        404,
        "a deleted model no longer predicts (not even from the cache)"
    );
    let db = Db::open(&app.database_url).await;
    for table in ["epochs", "step_losses", "checkpoints"] {
        let n = db
            .count(&format!("SELECT COUNT(*) FROM {table} WHERE job_id = $1"), Some(&id))
            .await;
        assert_eq!(n, 0, "{table} rows of the deleted job");
    }
    db.close().await;
    assert_eq!(delete(&app, &format!("/api/v1/jobs/{id}")).await.0, 404);
    cancel(&app, &running).await;
}

#[tokio::test]
async fn deleting_a_model_removes_it_and_its_job_keeps_its_numbers() {
    let app = spawn_app().await;
    let id = app.submit(&xor_spec(20)).await;
    let job = app.wait_finished(&id).await;
    let model = job["result"]["model_id"].as_str().unwrap().to_string();
    assert_eq!(delete(&app, &format!("/api/v1/models/{model}")).await.0, 204);
    assert_eq!(app.get(&format!("/api/v1/models/{model}")).await.0, 404);
    assert_eq!(app.get(&format!("/api/v1/models/{model}/weights")).await.0, 404);
    assert_eq!(delete(&app, &format!("/api/v1/models/{model}")).await.0, 404);
    assert_eq!(
        app.job(&id).await["result"]["test_accuracy"],
        job["result"]["test_accuracy"]
    );
}

#[tokio::test]
async fn a_job_accepted_under_limits_raised_above_the_defaults_trains_to_the_end() {
    // The compiled default allows 1000 epochs; this server allows more.
    let app = spawn_app_with(|c| c.limits.max_epochs = 5000).await;
    let id = app.submit(&xor_spec(1001)).await;
    let job = app.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["epoch"], 1001);
}

#[tokio::test]
async fn a_job_that_would_not_fit_in_memory_is_refused_naming_the_field_that_drives_it() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"dataset": "mnist", "hidden_layers": [4096], "batch_size": 1_000_000_000u64}),
            "batch_size",
        ),
        (
            json!({"dataset": "mnist", "hidden_layers": [4096], "batch_size": 60000}),
            "batch_size",
        ),
        (
            json!({"dataset": "mnist", "hidden_layers": [2048, 2048, 2048], "batch_size": 32}),
            "hidden_layers",
        ),
    ];
    for (spec, field) in cases {
        let (status, body) = app.post_json("/api/v1/jobs", &spec).await;
        assert_eq!(status, 422, "{spec}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    assert_eq!(app.table_counts().await.iter().map(|(_, n)| n).sum::<i64>(), 0);
    // A server given more memory per job takes the same job.
    let big = spawn_app_with(|c| c.limits.max_job_memory_mib = 16 << 10).await;
    let (status, body) = big
        .post_json(
            "/api/v1/jobs",
            &json!({"dataset": "mnist", "hidden_layers": [4096], "batch_size": 60000}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    cancel(&big, body["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn a_job_records_the_sha256_of_its_initial_weights_and_the_same_seed_gives_the_same_one() {
    let app = spawn_app().await;
    let a = app.submit(&xor_spec(3)).await;
    let b = app.submit(&xor_spec(3)).await;
    let mut other = xor_spec(3);
    other["seed"] = json!(8);
    let c = app.submit(&other).await;
    let sha = |j: Value| j["init_sha256"].as_str().expect("init_sha256").to_string();
    let (a, b, c) = (
        sha(app.wait_finished(&a).await),
        sha(app.wait_finished(&b).await),
        sha(app.wait_finished(&c).await),
    );
    assert_eq!(a.len(), 64);
    assert_eq!(a, b);
    assert_ne!(a, c);
}
