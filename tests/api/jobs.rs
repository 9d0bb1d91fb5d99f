//! The job lifecycle: training to success, cancelling, concurrency, live events.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{long_spec, spawn_app, spawn_app_with, xor_spec};

#[tokio::test]
async fn an_xor_job_succeeds_with_falling_loss_and_its_model_predicts_xor() {
    let app = spawn_app().await;
    let id = app.submit(&xor_spec(300)).await;
    let job = app.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["epoch"], 300);
    assert_eq!(job["result"]["test_accuracy"], 1.0);

    let metrics = app.metrics(&id).await;
    let epochs = metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 300);
    let first = epochs[0]["train_loss"].as_f64().unwrap();
    let last = epochs[299]["train_loss"].as_f64().unwrap();
    assert!(last < first / 10.0, "loss falls: {first} -> {last}");
    assert_eq!(epochs[0]["grad_norms"].as_array().unwrap().len(), 2);
    assert!(!metrics["steps"].as_array().unwrap().is_empty());

    let model_id = job["result"]["model_id"].as_str().unwrap();
    let (status, out) = app
        .predict(model_id, &serde_json::json!({"inputs": [[0,0],[0,1],[1,0],[1,1]]}))
        .await;
    assert_eq!(status, 200, "{out}");
    let labels: Vec<u64> = out["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_u64().unwrap())
        .collect();
    assert_eq!(labels, vec![0, 1, 1, 0]);
    let (_, model) = app.get(&format!("/api/v1/models/{model_id}")).await;
    assert_eq!(model["job_id"], id.as_str());
    assert_eq!(model["parameters"], 2 * 8 + 8 + 8 * 2 + 2);
}

#[tokio::test]
async fn cancel_stops_a_running_job_and_writes_no_model() {
    let app = spawn_app().await;
    let id = app.submit(&long_spec()).await;
    app.wait_for(&id, Duration::from_secs(60), |j| j["status"] == "running")
        .await;
    let (status, job) = app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "cancelled", "the worker stops within one mini-batch");
    assert!(job["result"].is_null());
    let (_, models) = app.get("/api/v1/models").await;
    assert_eq!(models["models"].as_array().unwrap().len(), 0);
    let (status, again) = app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
    assert_eq!(status, 409, "{again}");
}

#[tokio::test]
async fn two_workers_run_two_jobs_at_once_while_a_third_waits_queued() {
    let app = spawn_app_with(|c| c.workers = 2).await;
    let ids = [
        app.submit(&long_spec()).await,
        app.submit(&long_spec()).await,
        app.submit(&long_spec()).await,
    ];
    for id in &ids[..2] {
        app.wait_for(id, Duration::from_secs(60), |j| j["status"] == "running")
            .await;
    }
    // Both workers are busy: the third stays queued at every look while the two running
    // jobs train three more epochs each (a wait for progress, not for a time).
    let epoch = async |id: &str| app.job(id).await["progress"]["epoch"].as_i64().unwrap();
    let start = [epoch(&ids[0]).await, epoch(&ids[1]).await];
    let mut looks = 0;
    loop {
        let (_, running) = app.get("/api/v1/jobs?status=running").await;
        assert_eq!(running["jobs"].as_array().unwrap().len(), 2, "{running}");
        let third = app.job(&ids[2]).await;
        assert_eq!(third["status"], "queued", "look {looks}: {third}");
        looks += 1;
        if epoch(&ids[0]).await >= start[0] + 3 && epoch(&ids[1]).await >= start[1] + 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(looks >= 2, "looked {looks} time(s)");
    let (_, queued) = app.get("/api/v1/jobs?status=queued").await;
    assert_eq!(queued["jobs"][0]["id"], ids[2].as_str());

    // Cancelling a queued job never lets it start.
    let (_, third) = app
        .post_json(&format!("/api/v1/jobs/{}/cancel", ids[2]), &Value::Null)
        .await;
    assert_eq!(third["status"], "cancelled");
    assert!(third["started_at"].is_null());
    for id in &ids[..2] {
        app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
    }
    let (_, all) = app.get("/api/v1/jobs").await;
    let listed: Vec<&str> = all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![ids[2].as_str(), ids[1].as_str(), ids[0].as_str()],
        "newest first"
    );
}

#[tokio::test]
async fn the_event_stream_delivers_epochs_and_ends_with_the_job() {
    let app = spawn_app().await;
    let id = app.submit(&xor_spec(40)).await;
    let response = app
        .client
        .get(app.url(&format!("/api/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // The stream must end by itself once the job ends; the timeout only guards the test.
    let mut response = response;
    let body = tokio::time::timeout(Duration::from_secs(60), async {
        let mut text = String::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("the stream ends when the job ends");
    let events: Vec<(&str, Value)> = body
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name, serde_json::from_str(data).unwrap()))
        })
        .collect();
    let epochs: Vec<u64> = events
        .iter()
        .filter(|(n, _)| *n == "epoch")
        .map(|(_, d)| d["epoch"].as_u64().unwrap())
        .collect();
    let (last_name, last) = events.last().expect("events");
    assert_eq!(*last_name, "status");
    assert_eq!(last["status"], "succeeded");
    // Subscribing raced the worker: the stream has every epoch from its start to the end.
    assert!(!epochs.is_empty(), "{body}");
    assert_eq!(*epochs.last().unwrap(), 40);
    assert!(
        epochs.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none missing: {epochs:?}"
    );
    // One shape: each epoch event is the very row `/metrics` lists for that epoch, and each
    // step event one of its step samples.
    let history = app.metrics(&id).await;
    let rows = history["epochs"].as_array().unwrap();
    for (_, event) in events.iter().filter(|(n, _)| *n == "epoch") {
        let n = event["epochs_done"].as_u64().unwrap() as usize;
        assert_eq!(event, &rows[n - 1], "epoch {n}");
    }
    let steps = history["steps"].as_array().unwrap();
    for (_, event) in events.iter().filter(|(n, _)| *n == "step") {
        assert!(steps.contains(event), "step event {event} not in the history");
    }
}

#[tokio::test]
async fn the_history_reads_incrementally_and_its_step_samples_stay_bounded() {
    let app = spawn_app().await;
    // 1000 epochs of 4 single-row mini-batches: 4000 steps, each sampled.
    let mut spec = xor_spec(1000);
    spec["batch_size"] = json!(1);
    let id = app.submit(&spec).await;
    app.wait_finished(&id).await;
    let all = app.metrics(&id).await;
    let epochs = all["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 1000);
    let steps: Vec<i64> = all["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_i64().unwrap())
        .collect();
    assert!(steps.len() <= 2000 && steps.len() >= 1000, "{} samples", steps.len());
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(*steps.last().unwrap(), 4000, "the newest sample is kept");
    assert!(steps[0] < 100, "the run's start is still there, thinned: {}", steps[0]);

    let (status, tail) = app
        .get(&format!("/api/v1/jobs/{id}/metrics?since_epoch=990&since_step=3990"))
        .await;
    assert_eq!(status, 200, "{tail}");
    let tail_epochs: Vec<i64> = tail["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epochs_done"].as_i64().unwrap())
        .collect();
    assert_eq!(tail_epochs, (991..=1000).collect::<Vec<_>>());
    assert_eq!(tail["epochs"].as_array().unwrap()[..], epochs[990..]);
    assert!(
        tail["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["step"].as_i64().unwrap() > 3990)
    );
    let (_, nothing) = app
        .get(&format!("/api/v1/jobs/{id}/metrics?since_epoch=1000&since_step=4000"))
        .await;
    assert_eq!(
        (
            nothing["epochs"].as_array().unwrap().len(),
            nothing["steps"].as_array().unwrap().len()
        ),
        (0, 0)
    );
    for bad in ["since_epoch=-1", "since_epoch=x", "since_step=1.5", "since=3"] {
        let (status, body) = app.get(&format!("/api/v1/jobs/{id}/metrics?{bad}")).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

#[tokio::test]
async fn the_events_of_a_finished_job_are_its_final_state_then_the_end() {
    let app = spawn_app().await;
    let id = app.submit(&xor_spec(5)).await;
    app.wait_finished(&id).await;
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        app.client
            .get(app.url(&format!("/api/v1/jobs/{id}/events")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
    .await
    .expect("closes at once");
    assert!(text.starts_with("event: status"), "{text}");
    assert!(text.contains("\"succeeded\""));
}

/// The deck's k-fold slide: each fold's validation values (its last epoch), their mean and
/// population standard deviation, and the fold whose model is kept.
#[tokio::test]
async fn a_k_fold_job_reports_each_fold_and_their_mean_and_std() {
    let app = spawn_app().await;
    let id = app
        .submit(
            &json!({"dataset": "circle", "hidden_layers": [8], "epochs": 3, "k_folds": 3, "batch_size": 32, "seed": 4}),
        )
        .await;
    let job = app.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, job) = app.get(&format!("/api/v1/jobs/{id}")).await;
    let kfold = &job["result"]["kfold"];
    let rows = app.metrics(&id).await["epochs"].as_array().unwrap().clone();
    let last = |fold: i64| rows.iter().rfind(|r| r["fold"] == fold).unwrap().clone();
    let mut accuracies = Vec::new();
    for (i, f) in kfold["folds"].as_array().unwrap().iter().enumerate() {
        let fold = i as i64 + 1;
        assert_eq!(f["fold"], fold);
        assert_eq!(f["val_accuracy"], last(fold)["val_accuracy"], "{f}");
        assert_eq!(f["val_loss"], last(fold)["val_loss"], "{f}");
        accuracies.push(f["val_accuracy"].as_f64().unwrap());
    }
    assert_eq!(accuracies.len(), 3);
    let mean = accuracies.iter().sum::<f64>() / 3.0;
    let std = (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    assert!(
        (kfold["mean_val_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12,
        "{kfold}"
    );
    assert!(
        (kfold["std_val_accuracy"].as_f64().unwrap() - std).abs() < 1e-12,
        "{kfold}"
    );
    let best = accuracies.iter().cloned().fold(f64::MIN, f64::max);
    let best_fold = accuracies.iter().position(|a| *a == best).unwrap() as i64 + 1;
    assert_eq!(kfold["best_fold"], best_fold);
    // A plain job has none.
    let plain = app.submit(&crate::helpers::xor_spec(3)).await;
    app.wait_finished(&plain).await;
    assert!(app.job(&plain).await["result"].get("kfold").is_none());
}

/// `eval_train_accuracy` and `epoch_test_metrics` put the book's train/test curves in the
/// history; without them the rows carry neither.
#[tokio::test]
async fn per_epoch_test_metrics_and_eval_mode_training_accuracy_are_in_the_history_when_asked() {
    let app = spawn_app().await;
    let mut spec = xor_spec(4);
    spec["eval_train_accuracy"] = json!(true);
    spec["epoch_test_metrics"] = json!(true);
    let id = app.submit(&spec).await;
    let job = app.wait_finished(&id).await;
    let rows = app.metrics(&id).await["epochs"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        for key in ["eval_train_accuracy", "test_loss", "test_accuracy"] {
            assert!(r[key].is_number(), "{key} in {r}");
        }
    }
    assert_eq!(
        rows[3]["test_accuracy"], job["result"]["test_accuracy"],
        "the last epoch's is the final test"
    );
    let plain = app.submit(&xor_spec(2)).await;
    app.wait_finished(&plain).await;
    let row = app.metrics(&plain).await["epochs"][0].clone();
    assert!(
        row.get("test_loss").is_none() && row.get("eval_train_accuracy").is_none(),
        "{row}"
    );
}
