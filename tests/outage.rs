//! The database goes away and comes back: the server says it is not ready meanwhile, carries
//! on without a restart, and the job in progress resumes from its checkpoint with every
//! epoch exactly once. PostgreSQL (its own throwaway cluster, stopped and started by the
//! test); skipped, loudly, without it unless NNLAB_REQUIRE_POSTGRES=1.

use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/server.rs"]
mod server;

use server::wait_until;

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    match client.get(url).timeout(Duration::from_secs(5)).send().await {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}

#[tokio::test]
async fn a_database_outage_makes_the_server_unready_and_the_job_in_progress_resumes_after_it() {
    let Some(url) = postgres::fresh_database().await else {
        return;
    };
    let cluster = postgres::cluster().expect("a cluster");
    let client = reqwest::Client::new();
    let app = server::start(&url, &["--lease-secs", "3"]);
    let spec = json!({"dataset": "circle", "hidden_layers": [16], "batch_size": 1, "epochs": 150, "seed": 6});
    let created: Value = client
        .post(format!("{}/api/v1/jobs", app.url))
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let job_url = format!("{}/api/v1/jobs/{id}", app.url);
    wait_until("a few epochs", Duration::from_secs(60), async || {
        get(&client, &job_url).await.1["progress"]["epoch"]
            .as_i64()
            .unwrap_or(0)
            >= 3
    })
    .await;

    cluster.stop();
    let ready = format!("{}/readyz", app.url);
    wait_until("/readyz to say 503", Duration::from_secs(20), async || {
        get(&client, &ready).await.0 == 503
    })
    .await;
    assert_eq!(
        get(&client, &format!("{}/healthz", app.url)).await.0,
        200,
        "alive all along"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.start();
    wait_until("/readyz to say 200 again", Duration::from_secs(30), async || {
        get(&client, &ready).await.0 == 200
    })
    .await;

    wait_until("the job to end", Duration::from_secs(120), async || {
        let (_, job) = get(&client, &job_url).await;
        matches!(job["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
    })
    .await;
    let (_, job) = get(&client, &job_url).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, history) = get(&client, &format!("{job_url}/metrics")).await;
    let epochs: Vec<i64> = history["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epochs_done"].as_i64().unwrap())
        .collect();
    assert_eq!(epochs, (1..=150).collect::<Vec<_>>(), "every epoch exactly once");
}
