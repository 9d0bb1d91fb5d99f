//! Auth, caps and CORS: configuration that keeps a shared server safe.

use serde_json::{Value, json};

use crate::helpers::{long_spec, spawn_app_with, xor_spec};

#[tokio::test]
async fn with_a_token_mutating_routes_need_it_while_reads_and_predictions_stay_open() {
    let app = spawn_app_with(|c| c.api_token = Some("s3cret".into())).await;
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut req = app.client.post(app.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for token in [None, Some("wrong"), Some("s3cre")] {
        let r = post("/api/v1/jobs", token, xor_spec(5)).await.unwrap();
        assert_eq!(r.status(), 401, "token {token:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(
        app.table_counts().await.iter().map(|(_, n)| n).sum::<i64>(),
        0,
        "a refused request writes nothing"
    );
    let r = post("/api/v1/jobs", Some("s3cret"), xor_spec(5)).await.unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let job = app.wait_finished(&id).await;
    assert_eq!(
        post(&format!("/api/v1/jobs/{id}/cancel"), None, Value::Null)
            .await
            .unwrap()
            .status(),
        401
    );
    // Reads and predictions need no token.
    assert_eq!(app.get("/api/v1/jobs").await.0, 200);
    let model = job["result"]["model_id"].as_str().unwrap();
    let (status, _) = app.predict(model, &json!({"inputs": [[0, 1]]})).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post_json("/api/v1/perceptron", &json!({"weights": [2, 2], "bias": -3}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after_and_writes_nothing() {
    let app = spawn_app_with(|c| c.limits.max_queued_jobs = 2).await;
    // One job runs, two wait: the queue is full.
    let running = app.submit(&long_spec()).await;
    app.wait_for(&running, std::time::Duration::from_secs(60), |j| {
        j["status"] == "running"
    })
    .await;
    let queued = [app.submit(&long_spec()).await, app.submit(&long_spec()).await];
    let jobs_before = app.table_counts().await[0].clone();
    let r = app
        .client
        .post(app.url("/api/v1/jobs"))
        .json(&xor_spec(5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "too_many_requests");
    // (The running job keeps writing metrics; the jobs table is what a refusal must not touch.)
    assert_eq!(app.table_counts().await[0], jobs_before);
    for id in queued.iter().chain([&running]) {
        app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
    }
}

#[tokio::test]
async fn configured_caps_on_size_epochs_and_samples_are_422s_naming_the_field() {
    let app = spawn_app_with(|c| {
        c.limits.max_parameters = 10_000;
        c.limits.max_epochs = 20;
        c.limits.max_units = 64;
        c.limits.max_hidden_layers = 2;
        c.limits.max_train_samples = 500;
    })
    .await;
    for (spec, field) in [
        (json!({"dataset": "mnist", "hidden_layers": [32]}), "hidden_layers"), // 25,450 parameters
        (json!({"dataset": "xor", "hidden_layers": [128]}), "hidden_layers"),
        (json!({"dataset": "xor", "hidden_layers": [8, 8, 8]}), "hidden_layers"),
        (json!({"dataset": "xor", "hidden_layers": [8], "epochs": 21}), "epochs"),
        (
            json!({"dataset": "mnist", "hidden_layers": [], "train_samples": 501}),
            "train_samples",
        ),
    ] {
        let (status, body) = app.post_json("/api/v1/jobs", &spec).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some(field)),
            "{spec}: {body}"
        );
    }
    let (status, _) = app
        .post_json(
            "/api/v1/jobs",
            &json!({"dataset": "mnist", "hidden_layers": [], "epochs": 1, "train_samples": 500}),
        )
        .await;
    assert_eq!(status, 202, "7,850 parameters fit");
}

#[tokio::test]
async fn cors_headers_are_sent_only_for_configured_origins() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://lab.example".into()]).await;
    let r = app
        .client
        .get(app.url("/api/v1/datasets"))
        .header("origin", "https://lab.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://lab.example");
    let r = app
        .client
        .get(app.url("/api/v1/datasets"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
