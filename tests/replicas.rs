//! Several replicas of the real binary on one PostgreSQL: a replica killed with -9 loses its
//! jobs only until their leases expire, and they resume elsewhere from their checkpoints; a
//! paused replica finds its writes refused when it wakes. Skipped (loudly) without
//! PostgreSQL unless NNLAB_REQUIRE_POSTGRES=1.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/server.rs"]
mod server;

use server::wait_until;

/// Two-second leases: a dead replica's jobs come back within about three seconds.
const REPLICA_ARGS: &[&str] = &["--lease-secs", "2", "--max-queued-jobs", "1000"];

async fn get(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn submit(client: &reqwest::Client, base: &str, spec: &Value) -> String {
    let job: Value = client
        .post(format!("{base}/api/v1/jobs"))
        .json(spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    job["id"].as_str().unwrap_or_else(|| panic!("{job}")).to_string()
}

/// The train losses of a job's epochs, in order, with their numbers.
async fn losses(client: &reqwest::Client, base: &str, id: &str) -> Vec<(i64, f64)> {
    get(client, &format!("{base}/api/v1/jobs/{id}/metrics")).await["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["epochs_done"].as_i64().unwrap(), e["train_loss"].as_f64().unwrap()))
        .collect()
}

/// Short jobs of a few hundred milliseconds, long enough to be killed in the middle of.
fn job_spec() -> Value {
    json!({"dataset": "circle", "hidden_layers": [16], "batch_size": 4, "epochs": 8, "seed": 21})
}

#[tokio::test]
async fn three_replicas_one_killed_mid_way_every_job_succeeds_once_with_the_single_replica_history() {
    let Some(url) = postgres::fresh_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    let start = |i: usize| {
        let name = format!("replica-{i}");
        let args: Vec<&str> = REPLICA_ARGS.iter().copied().chain(["--replica-name", &name]).collect();
        server::start(&url, &args)
    };
    let mut replicas: Vec<server::Server> = (0..3).map(start).collect();
    let base = replicas[0].url.clone();
    // The reference: the same spec on one replica alone.
    let reference_id = submit(&client, &base, &job_spec()).await;
    wait_until("the reference job", Duration::from_secs(60), async || {
        get(&client, &format!("{base}/api/v1/jobs/{reference_id}")).await["status"] == "succeeded"
    })
    .await;
    let reference = losses(&client, &base, &reference_id).await;
    assert_eq!(reference.len(), 8);

    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(submit(&client, &replicas[i % 3].url, &job_spec()).await);
    }
    // Mid-way, replica 2 dies with whatever it was training; it comes back later.
    let count_done = async |client: &reqwest::Client| {
        let jobs = get(client, &format!("{base}/api/v1/jobs?status=succeeded&limit=1000")).await;
        jobs["jobs"].as_array().unwrap().len()
    };
    wait_until("a third of the jobs", Duration::from_secs(120), async || {
        count_done(&client).await >= 35
    })
    .await;
    // The job replica 2 trains when it dies. Frozen first (SIGSTOP), so that the job found
    // running under its lease cannot finish between the look and the kill (these jobs take
    // about 0.1 s); if it is between jobs, it is thawed and looked at again.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let pid = replicas[2].child.id().to_string();
    let signal = |sig: &str| assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
    let mut victim: Option<(String, i64)> = None;
    wait_until(
        "replica 2 to be caught training a job",
        Duration::from_secs(60),
        async || {
            signal("-STOP");
            victim =
                sqlx::query_as("SELECT id, attempts FROM jobs WHERE lease_owner = 'replica-2' AND status = 'running'")
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            if victim.is_none() {
                signal("-CONT");
            }
            victim.is_some()
        },
    )
    .await;
    let (victim, attempts_before) = victim.unwrap();
    let killed_at = Instant::now();
    replicas[2].child.kill().unwrap();
    replicas[2].child.wait().unwrap();
    // Taken back when its 2 s lease expires, and claimed again by another replica.
    wait_until(
        "the killed replica's job to run again elsewhere",
        Duration::from_secs(30),
        async || {
            let (status, attempts): (String, i64) = sqlx::query_as("SELECT status, attempts FROM jobs WHERE id = $1")
                .bind(&victim)
                .fetch_one(&pool)
                .await
                .unwrap();
            attempts == attempts_before + 1 && status != "queued"
        },
    )
    .await;
    eprintln!(
        "kill -9 to the job running again on another replica: {:?} (lease 2 s)",
        killed_at.elapsed()
    );
    replicas[2] = start(2);
    wait_until("every job", Duration::from_secs(300), async || {
        count_done(&client).await >= 101
    })
    .await;
    eprintln!(
        "100 jobs on 3 replicas, one killed: all done {:?} after the kill",
        killed_at.elapsed()
    );

    let mut resumed = 0;
    assert_eq!(
        get(&client, &format!("{base}/api/v1/jobs/{victim}")).await["attempts"],
        attempts_before + 1
    );
    for id in &ids {
        let job = get(&client, &format!("{}/api/v1/jobs/{id}", replicas[1].url)).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        resumed += usize::from(job["attempts"].as_i64().unwrap() > 1);
        assert_eq!(
            losses(&client, &replicas[0].url, id).await,
            reference,
            "job {id}: the single-replica history"
        );
    }
    eprintln!("{resumed} job(s) were taken back from the killed replica and resumed");
}

#[tokio::test]
async fn a_paused_replica_is_fenced_out_when_it_wakes_and_the_job_ends_once_elsewhere() {
    let Some(url) = postgres::fresh_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    let paused = server::start(&url, REPLICA_ARGS);
    let spec = json!({"dataset": "circle", "hidden_layers": [16], "batch_size": 1, "epochs": 60, "seed": 4});
    let id = submit(&client, &paused.url, &spec).await;
    let job_url = format!("{}/api/v1/jobs/{id}", paused.url);
    wait_until(
        "the job to train on the first replica",
        Duration::from_secs(60),
        async || get(&client, &job_url).await["progress"]["epoch"].as_i64().unwrap_or(0) >= 2,
    )
    .await;
    // Paused past its lease: a second replica takes the job back and trains it.
    let pid = paused.child.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let other = server::start(&url, REPLICA_ARGS);
    let other_job = format!("{}/api/v1/jobs/{id}", other.url);
    wait_until(
        "the second replica to take the job",
        Duration::from_secs(30),
        async || get(&client, &other_job).await["attempts"] == 2,
    )
    .await;
    // The paused replica wakes up in the middle of its epoch: its writes are refused.
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    wait_until("the job to end", Duration::from_secs(120), async || {
        get(&client, &other_job).await["status"] == "succeeded"
    })
    .await;
    let epochs: Vec<i64> = losses(&client, &other.url, &id).await.iter().map(|(e, _)| *e).collect();
    assert_eq!(epochs, (1..=60).collect::<Vec<_>>(), "every epoch exactly once");
    let models = get(&client, &format!("{}/api/v1/models", other.url)).await;
    assert_eq!(
        models["models"].as_array().unwrap().len(),
        1,
        "one model, stored by the replica that held the lease"
    );
    // Run alone, the same spec has the same history.
    let alone = submit(&client, &other.url, &spec).await;
    wait_until("the reference job", Duration::from_secs(120), async || {
        get(&client, &format!("{}/api/v1/jobs/{alone}", other.url)).await["status"] == "succeeded"
    })
    .await;
    assert_eq!(
        losses(&client, &other.url, &id).await,
        losses(&client, &other.url, &alone).await
    );
}

/// A replica killed and restarted under its `--replica-name` takes back at once the job its
/// earlier process was running, instead of leaving it "running" with no progress until its
/// lease expires (a minute here, longer than the test waits).
#[tokio::test]
async fn a_replica_restarted_under_its_name_takes_back_its_own_job_before_the_lease_expires() {
    let Some(url) = postgres::fresh_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    let args = ["--lease-secs", "60", "--replica-name", "steady"];
    let mut first = server::start(&url, &args);
    let spec = json!({"dataset": "circle", "hidden_layers": [16], "batch_size": 1, "epochs": 40, "seed": 9});
    let id = submit(&client, &first.url, &spec).await;
    wait_until("the job to train", Duration::from_secs(60), async || {
        get(&client, &format!("{}/api/v1/jobs/{id}", first.url)).await["progress"]["epoch"]
            .as_i64()
            .unwrap_or(0)
            >= 2
    })
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let killed_at = Instant::now();
    let again = server::start(&url, &args);
    let job_url = format!("{}/api/v1/jobs/{id}", again.url);
    wait_until(
        "the restarted replica to take its job back",
        Duration::from_secs(30),
        async || {
            let job = get(&client, &job_url).await;
            job["attempts"] == 2 && job["status"] == "running"
        },
    )
    .await;
    eprintln!(
        "kill -9 to the job running again on the restarted replica: {:?} (lease 60 s)",
        killed_at.elapsed()
    );
    wait_until("the job to end", Duration::from_secs(120), async || {
        get(&client, &job_url).await["status"] == "succeeded"
    })
    .await;
    let epochs: Vec<i64> = losses(&client, &again.url, &id).await.iter().map(|(e, _)| *e).collect();
    assert_eq!(epochs, (1..=40).collect::<Vec<_>>(), "every epoch exactly once");
}
