//! Nothing is lost on restart: jobs, metrics and models are in the database, and a job
//! interrupted by a shutdown runs again at the next start.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Db, spawn_app, start_url, xor_spec};

#[tokio::test]
async fn jobs_metrics_and_models_survive_a_restart() {
    let mut app = spawn_app().await;
    let id = app.submit(&xor_spec(60)).await;
    let job = app.wait_finished(&id).await;
    let metrics = app.metrics(&id).await;
    let model_id = job["result"]["model_id"].as_str().unwrap().to_string();
    let (_, before) = app.predict(&model_id, &json!({"inputs": [[0, 1], [1, 1]]})).await;
    app.stop().await;

    let mut again = start_url(&app.database_url, |_| {}).await;
    assert_eq!(again.job(&id).await, job);
    assert_eq!(again.metrics(&id).await, metrics);
    let (_, after) = again.predict(&model_id, &json!({"inputs": [[0, 1], [1, 1]]})).await;
    assert_eq!(after, before);
    let (_, models) = again.get("/api/v1/models").await;
    assert_eq!(models["models"][0]["id"], model_id.as_str());
    again.stop().await;
    drop(app);
}

#[tokio::test]
async fn a_job_interrupted_by_shutdown_runs_again_and_succeeds_after_restart() {
    let mut app = spawn_app().await;
    // Long enough to be caught mid-run: 300 epochs of 900 single-sample steps.
    let spec = json!({"dataset": "circle", "hidden_layers": [32], "batch_size": 1, "epochs": 300, "seed": 5});
    let id = app.submit(&spec).await;
    app.wait_for(&id, Duration::from_secs(60), |j| {
        j["progress"]["epoch"].as_i64().unwrap_or(0) >= 1
    })
    .await;
    app.stop().await;
    let db = Db::open(&app.database_url).await;
    let (status, attempts, epoch) = db.job_state(&id).await;
    db.close().await;
    assert_eq!(status, "queued", "the shutdown gave the job back to the queue");
    assert_eq!(attempts, 0, "a graceful shutdown spends no attempt");
    assert!(
        (1..300).contains(&epoch),
        "it goes on from its checkpoint, epoch {epoch}"
    );

    let again = start_url(&app.database_url, |_| {}).await;
    let job = again.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let epochs: Vec<i64> = again.metrics(&id).await["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_i64().unwrap())
        .collect();
    assert_eq!(epochs, (1..=300).collect::<Vec<_>>(), "every epoch exactly once");
    drop(app);
}

#[tokio::test]
async fn a_k_fold_job_interrupted_by_shutdown_resumes_from_its_checkpoint_with_every_fold_epoch_once() {
    let mut app = spawn_app().await;
    // 3 folds of 40 epochs of single-sample steps: long enough to stop in fold 1 or 2.
    let spec = json!({"dataset": "circle", "hidden_layers": [16], "batch_size": 1, "epochs": 40,
                      "k_folds": 3, "seed": 9});
    let id = app.submit(&spec).await;
    app.wait_for(&id, Duration::from_secs(60), |j| {
        j["progress"]["epoch"].as_i64().unwrap_or(0) >= 5
    })
    .await;
    app.stop().await;
    let again = start_url(&app.database_url, |_| {}).await;
    let before = again.metrics(&id).await["epochs"].as_array().unwrap().clone();
    assert!(!before.is_empty());
    let job = again.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1, "the shutdown gave its attempt back");
    let after = again.metrics(&id).await["epochs"].as_array().unwrap().clone();
    let keys: Vec<(i64, i64)> = after
        .iter()
        .map(|e| (e["fold"].as_i64().unwrap(), e["epoch"].as_i64().unwrap()))
        .collect();
    let expected: Vec<(i64, i64)> = (1..=3).flat_map(|f| (1..=40).map(move |e| (f, e))).collect();
    assert_eq!(keys, expected, "every fold's epochs exactly once");
    // The epochs recorded before the shutdown were kept, not trained again.
    assert_eq!(&after[..before.len()], &before[..]);
    drop(app);
}
