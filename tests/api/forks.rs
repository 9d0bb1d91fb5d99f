//! Forks: same start, one change. A fork starts from its parent's stored initial weights
//! with the parent's seed; `{}` reproduces the parent exactly; pairs are summarised.

use serde_json::{Value, json};

use crate::helpers::{TestApp, long_spec, spawn_app, spawn_app_with};

/// Dropout, a validation split and mini-batches: everything the seed draws after the
/// weights must come out the same for a reproduction.
fn parent_spec() -> Value {
    json!({"dataset": "circle", "hidden_layers": [16, 8], "dropout": 0.2, "batch_norm": true,
           "batch_size": 32, "epochs": 5, "validation_split": 0.2, "learning_rate": 0.01, "seed": 3})
}

async fn fork(app: &TestApp, id: &str, body: &Value) -> (u16, Value) {
    app.post_json(&format!("/api/v1/jobs/{id}/fork"), body).await
}

/// The epoch rows without their wall-clock seconds.
async fn history(app: &TestApp, id: &str) -> (Vec<Value>, Value) {
    let mut m = app.metrics(id).await;
    let mut epochs = m["epochs"].as_array().unwrap().clone();
    for e in &mut epochs {
        e.as_object_mut().unwrap().remove("seconds");
    }
    (epochs, m["steps"].take())
}

/// The ids that `GET /jobs?parent_id=` lists.
async fn forks_of(app: &TestApp, id: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/api/v1/jobs?parent_id={id}")).await;
    assert_eq!(status, 200, "{body}");
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

async fn trained_parent(app: &TestApp) -> (String, Value) {
    let id = app.submit(&parent_spec()).await;
    let job = app.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    (id, job)
}

#[tokio::test]
async fn a_fork_without_a_change_reproduces_its_parent_bit_for_bit() {
    let app = spawn_app().await;
    let (parent, parent_job) = trained_parent(&app).await;
    let (status, body) = fork(&app, &parent, &json!({"change": {}})).await;
    assert_eq!(status, 202, "{body}");
    let child = body["child"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(body["child"]["parent_id"], parent.as_str());
    assert_eq!(body["child"]["changed"], json!([]));
    assert_eq!(body["child"]["fork"], json!({"id": child, "pair": 0, "role": "child"}));
    let child_job = app.wait_finished(&child).await;
    assert_eq!(child_job["status"], "succeeded", "{child_job}");
    assert_eq!(child_job["init_sha256"], parent_job["init_sha256"], "the same start");
    assert_eq!(
        history(&app, &child).await,
        history(&app, &parent).await,
        "every epoch and step sample"
    );
    assert_eq!(child_job["result"]["test_loss"], parent_job["result"]["test_loss"]);
    assert_eq!(child_job["spec"], parent_job["spec"]);
    let weights = |job: &Value| job["result"]["model_id"].as_str().unwrap().to_string();
    let (_, a) = app.get(&format!("/api/v1/models/{}", weights(&parent_job))).await;
    let (_, b) = app.get(&format!("/api/v1/models/{}", weights(&child_job))).await;
    assert_eq!(a["weights_sha256"], b["weights_sha256"], "the same trained weights");
}

#[tokio::test]
async fn a_one_change_fork_starts_from_the_same_weights_and_differs_by_its_change() {
    let app = spawn_app().await;
    let (parent, parent_job) = trained_parent(&app).await;
    let (status, body) = fork(&app, &parent, &json!({"change": {"learning_rate": 0.05}})).await;
    assert_eq!(status, 202, "{body}");
    let child = body["child"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["child"]["changed"], json!(["learning_rate"]));
    let child_job = app.wait_finished(&child).await;
    assert_eq!(child_job["init_sha256"], parent_job["init_sha256"]);
    assert_eq!(child_job["spec"]["learning_rate"], 0.05);
    assert_eq!(child_job["spec"]["seed"], 3);
    let (child_epochs, _) = history(&app, &child).await;
    let (parent_epochs, _) = history(&app, &parent).await;
    assert_ne!(child_epochs[0]["train_loss"], parent_epochs[0]["train_loss"]);
    // The parent's page finds its forks; the child has none; other jobs are not listed.
    let other = app.submit(&parent_spec()).await;
    assert_eq!(forks_of(&app, &parent).await, std::slice::from_ref(&child));
    assert!(forks_of(&app, &child).await.is_empty());
    assert!(forks_of(&app, &other).await.is_empty());
    let (status, body) = app.get("/api/v1/jobs?parent_id=").await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("parent_id")), "{body}");
    // Deleting the parent keeps the child's start: the blob is shared, not copied.
    let (status, _) = app
        .client
        .delete(app.url(&format!("/api/v1/jobs/{parent}")))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 204);
    let (status, again) = fork(&app, &child, &json!({"change": {}})).await;
    assert_eq!(status, 202, "{again}");
}

#[tokio::test]
async fn a_fork_that_would_not_keep_the_start_is_refused_naming_the_field_and_queues_nothing() {
    let app = spawn_app().await;
    let (parent, _) = trained_parent(&app).await;
    let before = app.table_counts().await;
    for (body, field) in [
        (json!({"change": {"hidden_layers": [32, 8]}}), "change.hidden_layers"),
        (json!({"change": {"activation": "maxout"}}), "change.activation"),
        (json!({"change": {"dataset": "mnist"}}), "change.dataset"),
        (json!({"change": {"dataset": "no-such-set"}}), "change.dataset"),
        (json!({"change": {"init": "xavier"}}), "change.init"),
        (json!({"change": {"k_folds": 3}}), "change.k_folds"),
        (json!({"change": {"learning_rate": -1}}), "change.learning_rate"),
        (json!({"change": {"dropout": "lots"}}), "change.dropout"),
        (json!({"change": {"no_such_field": 1}}), "change.no_such_field"),
        (json!({"change": {}, "pairs": 0}), "pairs"),
        (json!({"change": {}, "pairs": 9}), "pairs"),
        (json!({"chnage": {}}), "chnage"),
    ] {
        let (status, err) = fork(&app, &parent, &body).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
    }
    assert_eq!(fork(&app, "no-such-job", &json!({})).await.0, 404);
    assert_eq!(app.table_counts().await, before, "nothing was written");
}

#[tokio::test]
async fn a_job_that_has_not_started_or_draws_per_fold_starts_cannot_be_forked() {
    let app = spawn_app_with(|c| c.workers = 1).await;
    let running = app.submit(&long_spec()).await;
    let queued = app.submit(&parent_spec()).await;
    let (status, err) = fork(&app, &queued, &json!({})).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("has not started"),
        "{err}"
    );
    for id in [&running, &queued] {
        app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
    }
    let mut kfold = parent_spec();
    kfold["k_folds"] = json!(2);
    let kfold = app.submit(&kfold).await;
    app.wait_finished(&kfold).await;
    let (status, err) = fork(&app, &kfold, &json!({})).await;
    assert_eq!(status, 409, "{err}");
}

#[tokio::test]
async fn pairs_share_a_start_each_and_their_differences_are_summarised_per_epoch() {
    let app = spawn_app().await;
    let (parent, parent_job) = trained_parent(&app).await;
    let (status, body) = fork(&app, &parent, &json!({"change": {"dropout": 0.0}, "pairs": 3})).await;
    assert_eq!(status, 202, "{body}");
    let jobs = body["jobs"].as_array().unwrap().clone();
    let places: Vec<(i64, &str)> = jobs
        .iter()
        .map(|j| (j["fork"]["pair"].as_i64().unwrap(), j["fork"]["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        places,
        [
            (0, "child"),
            (1, "baseline"),
            (1, "child"),
            (2, "baseline"),
            (2, "child")
        ]
    );
    let mut finished = Vec::new();
    for j in &jobs {
        let job = app.wait_finished(j["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        finished.push(job);
    }
    for k in [1, 2] {
        let (baseline, child) = (&finished[2 * k - 1], &finished[2 * k]);
        assert_eq!(baseline["spec"]["seed"], 3 + k, "pair {k} runs with seed + {k}");
        assert_eq!(child["spec"]["seed"], 3 + k);
        assert_eq!(baseline["spec"]["dropout"], parent_job["spec"]["dropout"]);
        assert_eq!(child["spec"]["dropout"], 0.0);
        assert_eq!(baseline["init_sha256"], child["init_sha256"], "pair {k} shares a start");
        assert_ne!(
            baseline["init_sha256"], parent_job["init_sha256"],
            "a start of its own seed"
        );
        assert_eq!(baseline["changed"], json!(["seed"]));
        assert_eq!(child["changed"], json!(["dropout", "seed"]));
    }
    assert_eq!(finished[0]["init_sha256"], parent_job["init_sha256"]);

    let child = jobs[0]["id"].as_str().unwrap();
    let (status, summary) = app.get(&format!("/api/v1/jobs/{child}/pairs")).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["changed"], json!(["dropout"]));
    assert_eq!(summary["pairs"].as_array().unwrap().len(), 3);
    assert_eq!(summary["pairs"][0]["baseline_id"], parent.as_str());
    let epochs = summary["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 5);
    // The last epoch's validation loss, recomputed from each pair's own history (the
    // history's JSON numbers round-trip to within 1e-9 of the server's).
    let mut differences = Vec::new();
    for pair in summary["pairs"].as_array().unwrap() {
        let last = |id: &str| {
            let id = id.to_string();
            let app = &app;
            async move { history(app, &id).await.0.last().unwrap()["val_loss"].as_f64().unwrap() }
        };
        let b = last(pair["baseline_id"].as_str().unwrap()).await;
        let c = last(pair["child_id"].as_str().unwrap()).await;
        differences.push(c - b);
    }
    let stat = &epochs[4]["metrics"]["val_loss"];
    let mean = differences.iter().sum::<f64>() / 3.0;
    assert!(
        (stat["mean_difference"].as_f64().unwrap() - mean).abs() < 1e-9,
        "{stat} vs {differences:?}"
    );
    assert_eq!(stat["pairs"], 3);
    assert_eq!(stat["improved"], differences.iter().filter(|d| **d < 0.0).count());
    let (lo, hi) = (stat["ci95"][0].as_f64().unwrap(), stat["ci95"][1].as_f64().unwrap());
    let (min, max) = differences
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &d| (a.min(d), b.max(d)));
    let tol = 1e-9;
    assert!(
        min - tol <= lo && lo <= mean && mean <= hi && hi <= max + tol,
        "{stat} vs {differences:?}"
    );
    // Any job of the fork answers; a job that is no fork does not.
    let baseline = jobs[1]["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/jobs/{baseline}/pairs")).await.1["fork_id"],
        child
    );
    assert_eq!(app.get(&format!("/api/v1/jobs/{parent}/pairs")).await.0, 404);
}

/// The activation's parameter belongs to it: a fork that changes only the activation takes
/// the new one's standard value (ELU: alpha 1), not the parent's leaky slope; likewise the
/// optimizer's constants.
#[tokio::test]
async fn a_fork_to_another_activation_takes_its_standard_parameter() {
    let app = spawn_app().await;
    let (parent, parent_job) = trained_parent(&app).await;
    assert_eq!(
        parent_job["spec"]["activation_alpha"], 0.01,
        "relu carries the leaky default"
    );
    let (status, body) = fork(&app, &parent, &json!({"change": {"activation": "elu"}})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["child"]["spec"]["activation_alpha"], 1.0);
    let (_, body) = fork(
        &app,
        &parent,
        &json!({"change": {"activation": "elu", "activation_alpha": 0.3}}),
    )
    .await;
    assert!(
        (body["child"]["spec"]["activation_alpha"].as_f64().unwrap() - 0.3).abs() < 1e-6,
        "{body}"
    );
    // Likewise the optimizer's constants: AdaDelta's own rho and eps, not Adam's.
    let (_, body) = fork(&app, &parent, &json!({"change": {"optimizer": "adadelta"}})).await;
    assert_eq!(body["child"]["spec"]["rho"], 0.95, "{body}");
    assert_eq!(body["child"]["spec"]["eps"], 1e-6);
}
