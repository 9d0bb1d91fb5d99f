//! Predictions keep answering while two jobs train (training runs on blocking threads, never
//! on the async runtime).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, long_spec, spawn_app_with, xor_spec};

#[tokio::test]
async fn predictions_keep_answering_while_two_jobs_train() {
    let app = spawn_app_with(|c| c.workers = 2).await;
    let xor = app.submit(&xor_spec(200)).await;
    let model = app.wait_finished(&xor).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let training = [app.submit(&long_spec()).await, app.submit(&long_spec()).await];
    for id in &training {
        app.wait_for(id, Duration::from_secs(60), |j| j["status"] == "running")
            .await;
    }
    let before = epochs(&app, &training).await;
    // Rounds of concurrent predictions, all answered correctly, until both jobs have trained
    // two more epochs meanwhile and at least one round was answered while an epoch passed
    // (predictions interleaved with training, not only between epochs). Each round has a
    // limit: a trainer that held the async runtime would stall it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut straddled = 0;
    loop {
        let at_start = epochs(&app, &training).await;
        let requests = (0..8).map(|_| {
            let client = app.client.clone();
            let url = app.url(&format!("/api/v1/models/{model}/predict"));
            tokio::spawn(async move {
                for _ in 0..5 {
                    let r = client
                        .post(&url)
                        .json(&json!({"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]]}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let out: Value = r.json().await.unwrap();
                    let labels: Vec<u64> = out["predictions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["label"].as_u64().unwrap())
                        .collect();
                    assert_eq!(labels, vec![0, 1, 1, 0]);
                }
            })
        });
        let answered = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(requests))
            .await
            .expect("a round of 40 predictions answered within 30 s while two jobs train");
        for r in answered {
            r.expect("a client task");
        }
        let now = epochs(&app, &training).await;
        if now.iter().zip(&at_start).any(|(n, s)| n > s) {
            straddled += 1;
        }
        if straddled >= 1 && now.iter().zip(&before).all(|(n, b)| *n >= b + 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "training stalled or never overlapped the predictions: {before:?} -> {now:?}, {straddled} overlapping round(s)"
        );
    }
    for id in &training {
        let job = app.job(id).await;
        assert_eq!(job["status"], "running", "{job}");
        app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
    }
}

async fn epochs(app: &TestApp, ids: &[String]) -> Vec<i64> {
    let mut v = Vec::new();
    for id in ids {
        v.push(app.job(id).await["progress"]["epoch"].as_i64().unwrap());
    }
    v
}
