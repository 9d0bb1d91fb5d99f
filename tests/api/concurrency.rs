//! Predictions keep answering while two jobs train (training runs on blocking threads, never
//! on the async runtime).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{long_spec, spawn_app_with, xor_spec};

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
    let epochs_before: Vec<i64> = {
        let mut v = Vec::new();
        for id in &training {
            v.push(app.job(id).await["progress"]["epoch"].as_i64().unwrap());
        }
        v
    };
    // Many predictions from concurrent clients, all answered correctly while both train.
    let requests = (0..8).map(|_| {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/models/{model}/predict"));
        tokio::spawn(async move {
            for _ in 0..25 {
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
    for r in futures::future::join_all(requests).await {
        r.expect("a client task");
    }
    // Both jobs were training all along and still are.
    for (id, before) in training.iter().zip(epochs_before) {
        let job = app.job(id).await;
        assert_eq!(job["status"], "running", "{job}");
        assert!(job["progress"]["epoch"].as_i64().unwrap() >= before);
        app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
    }
}
