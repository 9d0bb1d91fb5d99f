//! Sweeps: trials as ordinary jobs under the sweep's parallelism; ASHA and the median rule
//! in real sweeps, with their evidence checked against the trials' own histories; the
//! preview; 422s for bad spaces; cancel.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn base(epochs: usize) -> Value {
    json!({"dataset": "circle", "hidden_layers": [8], "batch_size": 32, "epochs": epochs,
           "validation_split": 0.2, "optimizer": "sgd", "seed": 5})
}

async fn start(app: &TestApp, body: &Value) -> Value {
    let (status, sweep) = app.post_json("/api/v1/sweeps", body).await;
    assert_eq!(status, 202, "{sweep}");
    sweep
}

async fn sweep(app: &TestApp, id: &str) -> Value {
    let (status, s) = app.get(&format!("/api/v1/sweeps/{id}")).await;
    assert_eq!(status, 200, "{s}");
    s
}

async fn wait_ended(app: &TestApp, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let s = sweep(app, id).await;
        if s["status"] != "running" {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "sweep {id} did not end: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A trial's metric per epoch, from its own history.
async fn curve(app: &TestApp, job: &str, metric: &str) -> Vec<(i64, f64)> {
    app.metrics(job).await["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["epochs_done"].as_i64().unwrap(), e[metric].as_f64().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_grid_sweeps_trials_are_jobs_that_train_at_most_parallelism_at_once() {
    let app = spawn_app_with(|c| c.workers = 3).await;
    let mut slow = base(4);
    slow["batch_size"] = json!(2);
    let body = json!({"name": "lr x width", "base": slow, "method": "grid", "metric": "val_loss", "parallelism": 2,
        "space": {"learning_rate": {"values": [0.05, 0.2]}, "hidden_layers": {"values": [[4], [8]]}}});
    let (status, preview) = app.post_json("/api/v1/sweeps/preview", &body).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        (preview["trials"].as_i64(), preview["max_total_epochs"].as_i64()),
        (Some(4), Some(16))
    );
    assert_eq!(preview["exact"], true);
    let created = start(&app, &body).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["trials"].as_array().unwrap().len(), 4);
    let s = wait_ended(&app, &id).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    let mut spans = Vec::new();
    for t in s["trials"].as_array().unwrap() {
        assert_eq!(t["state"], "completed", "{t}");
        let job = app.job(t["job_id"].as_str().unwrap()).await;
        assert_eq!(job["sweep_id"], id.as_str());
        assert_eq!(job["spec"]["learning_rate"], t["params"]["learning_rate"]);
        assert_eq!(job["spec"]["hidden_layers"], t["params"]["hidden_layers"]);
        spans.push((
            job["started_at"].as_str().unwrap().to_string(),
            job["finished_at"].as_str().unwrap().to_string(),
        ));
    }
    // Three workers, parallelism 2: counted from the store's own start and end times (no
    // sample can miss an overshoot), two trials trained at once and never more.
    assert_eq!(most_at_once(&spans), 2, "{spans:?}");
    assert_eq!(s["epochs_trained"], 16, "exactly the preview without early stopping");
    let board: Vec<f64> = s["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_f64().unwrap())
        .collect();
    assert_eq!(board.len(), 4);
    assert!(board.windows(2).all(|w| w[0] <= w[1]), "lowest loss first: {board:?}");
    assert_eq!(s["best_trial"]["best"]["value"].as_f64(), Some(board[0]));
    let (_, list) = app.get("/api/v1/sweeps").await;
    assert_eq!(list["sweeps"][0]["id"], id.as_str());
}

#[tokio::test]
async fn asha_promotes_within_its_quota_resumes_promoted_trials_and_stops_the_rest_saying_why() {
    let app = spawn_app_with(|c| c.workers = 2).await;
    let body = json!({"base": base(9), "method": "grid", "metric": "val_loss", "parallelism": 3,
        "early_stopping": {"kind": "asha", "grace_epochs": 1, "reduction_factor": 3},
        "space": {"learning_rate": {"values": [0.0001, 0.001, 0.01, 0.1, 0.3, 1.0]}}});
    let (_, preview) = app.post_json("/api/v1/sweeps/preview", &body).await;
    let rungs: Vec<(i64, i64)> = preview["rungs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["epoch"].as_i64().unwrap(), r["max_trials"].as_i64().unwrap()))
        .collect();
    assert_eq!(rungs, [(1, 6), (3, 2), (9, 1)]);
    assert_eq!(preview["max_total_epochs"], 16, "6*1 + 2*2 + 1*6");
    let id = start(&app, &body).await["id"].as_str().unwrap().to_string();
    let s = wait_ended(&app, &id).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    let trials = s["trials"].as_array().unwrap().clone();
    let mut trained = 0;
    for t in &trials {
        let job = t["job_id"].as_str().unwrap();
        let history = curve(&app, job, "val_loss").await;
        let epochs: Vec<i64> = history.iter().map(|(e, _)| *e).collect();
        let last = *epochs.last().unwrap();
        assert_eq!(
            epochs,
            (1..=last).collect::<Vec<_>>(),
            "every epoch once, resumed after each rung: {t}"
        );
        assert!([1, 3, 9].contains(&last), "stops only at a rung or the end: {t}");
        assert_eq!(t["epochs_trained"], last);
        trained += last;
        for d in t["decisions"].as_array().unwrap() {
            let rung = d["rung_epoch"].as_i64().unwrap();
            let value = history.iter().find(|(e, _)| *e == rung).unwrap().1;
            assert!(
                (d["value"].as_f64().unwrap() - value).abs() < 1e-9,
                "the evidence is the trial's value: {d}"
            );
            let quota = (d["of"].as_i64().unwrap() / 3).max(1);
            match d["action"].as_str().unwrap() {
                "promote" => assert!(d["rank"].as_i64().unwrap() <= quota, "{d}"),
                _ => {
                    assert!(d["rule"].as_str().unwrap().contains("top 1/3"), "{d}");
                    assert_eq!(t["state"], "stopped");
                    assert!(t["error"].as_str().unwrap().contains("asha"), "{t}");
                    assert_eq!(last, rung, "stopped where it was decided");
                }
            }
        }
        if t["state"] == "completed" {
            assert_eq!(last, 9);
        }
    }
    let completed = trials.iter().filter(|t| t["state"] == "completed").count();
    assert_eq!(completed, 1, "one configuration trains to the end: {s}");
    let promoted_at = |rung: i64| {
        trials
            .iter()
            .flat_map(|t| t["decisions"].as_array().unwrap().clone())
            .filter(|d| d["rung_epoch"] == rung && d["action"] == "promote")
            .count()
    };
    assert_eq!(
        (promoted_at(1), promoted_at(3)),
        (2, 1),
        "the top third of 6, then of 2"
    );
    assert_eq!(s["epochs_trained"], trained);
    assert!(trained <= 16, "within the preview's bound: {trained}");
}

#[tokio::test]
async fn the_median_rule_stops_a_trial_worse_than_the_median_of_the_others_at_its_epoch() {
    let app = spawn_app().await;
    // One worker and parallelism 1: the good rates finish first, then the hopeless one is
    // compared with them epoch by epoch.
    let body = json!({"base": base(4), "method": "grid", "metric": "val_loss", "parallelism": 1,
        "early_stopping": {"kind": "median", "grace_epochs": 2, "min_trials": 2},
        "space": {"learning_rate": {"values": [0.3, 0.5, 1.0, 0.000001]}}});
    let id = start(&app, &body).await["id"].as_str().unwrap().to_string();
    let s = wait_ended(&app, &id).await;
    let trials = s["trials"].as_array().unwrap().clone();
    let hopeless = trials
        .iter()
        .find(|t| t["params"]["learning_rate"] == 0.000001)
        .unwrap();
    assert_eq!(hopeless["state"], "stopped", "{s}");
    let d = &hopeless["decisions"][0];
    let epoch = d["rung_epoch"].as_i64().unwrap();
    assert!(epoch >= 2, "not within the grace epochs: {d}");
    assert_eq!(
        hopeless["epochs_trained"], epoch,
        "judged before it went on: stopped there"
    );
    // The cutoff is the median of the other trials' values at that epoch.
    let mut others = Vec::new();
    for t in trials.iter().filter(|t| t["job_id"] != hopeless["job_id"]) {
        let c = curve(&app, t["job_id"].as_str().unwrap(), "val_loss").await;
        others.push(c.iter().find(|(e, _)| *e == epoch).unwrap().1);
    }
    others.sort_by(f64::total_cmp);
    assert!(
        (d["cutoff"].as_f64().unwrap() - others[1]).abs() < 1e-9,
        "{d} vs {others:?}"
    );
    assert!(d["value"].as_f64().unwrap() > d["cutoff"].as_f64().unwrap());
    assert_eq!(d["of"], 4);
    assert!(d["rule"].as_str().unwrap().contains("worse than the median"), "{d}");
}

#[tokio::test]
async fn a_bad_space_is_a_422_naming_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    let before = app.table_counts().await;
    let grid = |space: Value| json!({"base": base(2), "method": "grid", "metric": "val_loss", "space": space});
    let random =
        |space: Value| json!({"base": base(2), "method": "random", "trials": 3, "metric": "val_loss", "space": space});
    let mut no_split = grid(json!({"l2": {"values": [0.0]}}));
    no_split["base"]["validation_split"] = json!(0);
    let mut unknown = grid(json!({"l2": {"values": [0.0]}}));
    unknown["base"]["dataset"] = json!("no-such-set");
    for (body, field) in [
        (
            grid(json!({"learning_rate": {"values": ["fast"]}})),
            "space.learning_rate",
        ),
        (grid(json!({"learning_rate": {"values": [-1]}})), "space.learning_rate"),
        (grid(json!({"no_such_field": {"values": [1]}})), "space.no_such_field"),
        (grid(json!({"dropout": {"uniform": [0, 0.5]}})), "space.dropout"),
        (
            random(json!({"hidden_layers": {"uniform": [1, 2]}})),
            "space.hidden_layers",
        ),
        (
            random(json!({"batch_size": {"int_uniform": [0, 4]}})),
            "space.batch_size",
        ),
        (grid(json!({"epochs": {"values": [1, 2]}})), "space.epochs"),
        (grid(json!({})), "space"),
        (no_split, "metric"),
        (unknown, "base.dataset"),
    ] {
        for path in ["/api/v1/sweeps/preview", "/api/v1/sweeps"] {
            let (status, err) = app.post_json(path, &body).await;
            assert_eq!(
                (status, err["error"]["field"].as_str()),
                (422, Some(field)),
                "{path} {body}: {err}"
            );
        }
    }
    assert_eq!(app.table_counts().await, before, "nothing was written");
    assert_eq!(app.get("/api/v1/sweeps/nope").await.0, 404);
}

#[tokio::test]
async fn cancelling_a_sweep_cancels_its_running_and_waiting_trials() {
    let app = spawn_app().await;
    // Long enough to be caught running on any machine (minutes, not seconds): the cancel
    // must find a trial training and others waiting.
    let mut long = base(1000);
    long["batch_size"] = json!(1);
    long["dataset"] = json!("spiral");
    long["hidden_layers"] = json!([64, 64]);
    let body = json!({"base": long, "method": "grid", "metric": "val_loss", "parallelism": 1,
        "space": {"learning_rate": {"values": [0.01, 0.02, 0.03]}}});
    let id = start(&app, &body).await["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !sweep(&app, &id).await["trials"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["state"] == "running")
    {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, cancelled) = app
        .post_json(&format!("/api/v1/sweeps/{id}/cancel"), &Value::Null)
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    for t in cancelled["trials"].as_array().unwrap() {
        assert_eq!(t["state"], "cancelled", "{t}");
        assert_eq!(app.job(t["job_id"].as_str().unwrap()).await["status"], "cancelled");
    }
    assert_eq!(
        app.post_json(&format!("/api/v1/sweeps/{id}/cancel"), &Value::Null)
            .await
            .0,
        409
    );
    // Nothing of it trains any more: the queue is free for another job.
    let other = app.submit(&crate::helpers::xor_spec(5)).await;
    assert_eq!(app.wait_finished(&other).await["status"], "succeeded");
}

/// The most spans (start, end as RFC 3339 text, which sorts as time) open at one instant; a
/// span ending when another starts does not overlap it.
fn most_at_once(spans: &[(String, String)]) -> usize {
    let mut edges: Vec<(&str, i32)> = spans
        .iter()
        .flat_map(|(start, end)| [(start.as_str(), 1), (end.as_str(), -1)])
        .collect();
    edges.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        open += step;
        most = most.max(open);
    }
    most as usize
}
