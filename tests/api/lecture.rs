//! The lecture corner's endpoints, the dataset samples behind decision boundaries, and the
//! demo model queued on a first start.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, start_url};

#[tokio::test]
async fn the_perceptron_endpoint_gives_the_lecture_gate_tables() {
    let app = spawn_app().await;
    for (weights, bias, outputs) in [
        (json!([2, 2]), -3.0, [0, 0, 0, 1]),
        (json!([2, 2]), -1.0, [0, 1, 1, 1]),
        (json!([-2, -2]), 3.0, [1, 1, 1, 0]),
        (json!([-2, -1]), 2.5, [1, 1, 1, 0]),
    ] {
        let (status, table) = app
            .post_json("/api/v1/perceptron", &json!({"weights": weights, "bias": bias}))
            .await;
        assert_eq!(status, 200, "{table}");
        let got: Vec<u64> = table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["output"].as_u64().unwrap())
            .collect();
        assert_eq!(got, outputs, "w={weights} b={bias}");
    }
}

#[tokio::test]
async fn the_activation_experiment_shows_sigmoid_saturating_with_unit_normal_weights() {
    let app = spawn_app().await;
    let (status, out) = app
        .post_json(
            "/api/v1/experiments/activations",
            &json!({"activation": "sigmoid", "init": "normal", "init_std": 1.0}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let layers = out["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    let counts: Vec<u64> = layers[4]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(counts.len(), 30);
    assert_eq!(counts.iter().sum::<u64>(), 100_000);
    let ends = counts[..3].iter().sum::<u64>() + counts[27..].iter().sum::<u64>();
    assert!(ends > 50_000, "most activations pile up near 0 and 1: {counts:?}");
}

#[tokio::test]
async fn dataset_samples_give_points_and_labels_for_decision_boundaries() {
    let app = spawn_app().await;
    let (status, sample) = app.get("/api/v1/datasets/spiral/sample?n=50&seed=3").await;
    assert_eq!(status, 200, "{sample}");
    assert_eq!(sample["inputs"].as_array().unwrap().len(), 50);
    assert!(
        sample["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.as_array().unwrap().len() == 2)
    );
    assert_eq!(sample["labels"].as_array().unwrap().len(), 50);
    let (_, again) = app.get("/api/v1/datasets/spiral/sample?n=50&seed=3").await;
    assert_eq!(sample, again, "the same seed, the same points");
    let (status, xor) = app.get("/api/v1/datasets/xor/sample").await;
    assert_eq!((status, xor["labels"].clone()), (200, json!([0, 1, 1, 0])));
}

#[tokio::test]
async fn a_first_start_queues_the_demo_model_once() {
    let mut app = spawn_app_with(|c| c.demo_model = true).await;
    let (_, jobs) = app.get("/api/v1/jobs").await;
    let jobs = jobs["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["spec"]["dataset"], "mnist");
    app.stop().await;
    // Still pending (interrupted or queued): a restart does not queue a second one.
    let mut again = start_url(&app.database_url, |c| c.demo_model = true).await;
    let (_, jobs) = again.get("/api/v1/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
    let id = jobs["jobs"][0]["id"].as_str().unwrap().to_string();
    again
        .post_json(&format!("/api/v1/jobs/{id}/cancel"), &serde_json::Value::Null)
        .await;
    again.stop().await;
    drop(app);
}

#[tokio::test]
async fn prometheus_metrics_count_jobs_by_status_and_time_predictions() {
    let app = spawn_app().await;
    let id = app.submit(&crate::helpers::xor_spec(20)).await;
    let job = app.wait_finished(&id).await;
    let model = job["result"]["model_id"].as_str().unwrap();
    for _ in 0..3 {
        app.predict(model, &json!({"inputs": [[1, 0]]})).await;
    }
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("nnlab_jobs{status=\"succeeded\"} 1"), "{text}");
    assert!(text.contains("nnlab_jobs{status=\"queued\"} 0"), "{text}");
    assert!(text.contains("nnlab_queue_depth 0"), "{text}");
    assert!(text.contains("nnlab_predict_seconds_count 3"), "{text}");
    assert!(text.contains("nnlab_training_samples_per_second"), "{text}");
}

#[tokio::test]
async fn the_page_is_served_at_the_root_and_a_missing_asset_is_a_404() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(
        r.text().await.unwrap().contains("#draw-canvas"),
        "the index page documents its hooks"
    );
    let r = app.client.get(app.url("/js/app.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/js/no-such-module.js")).send().await.unwrap();
    assert_eq!(r.status(), 404, "a typo in an asset path is not answered with the page");
}

/// The deck's backprop example, node by node; bad expressions point at their place.
#[tokio::test]
async fn backprop_gives_every_nodes_value_and_gradient_and_points_at_bad_input() {
    let app = spawn_app().await;
    let (status, r) = app
        .post_json(
            "/api/v1/experiments/backprop",
            &json!({"expression": "(x+y)*z", "values": {"x": -2, "y": 5, "z": -4}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["output"], -12.0);
    assert_eq!(r["gradients"], json!({"x": -4.0, "y": -4.0, "z": 3.0}));
    let add = r["nodes"].as_array().unwrap().iter().find(|n| n["op"] == "+").unwrap();
    assert_eq!((add["value"].as_f64(), add["grad"].as_f64()), (Some(3.0), Some(-4.0)));
    assert_eq!(r["nodes"][r["output_id"].as_u64().unwrap() as usize]["op"], "*");
    for (body, field, says) in [
        (
            json!({"expression": "x + * y", "values": {"x": 1, "y": 2}}),
            "expression",
            "position 4",
        ),
        (
            json!({"expression": "sin(x)", "values": {"x": 1}}),
            "expression",
            "'sin'",
        ),
        (
            json!({"expression": "x / (y - 5)", "values": {"x": 1, "y": 5}}),
            "expression",
            "division by zero",
        ),
        (
            json!({"expression": "log(x)", "values": {"x": -1}}),
            "expression",
            "non-finite",
        ),
        (
            json!({"expression": "x * y", "values": {"x": 1}}),
            "values.y",
            "no value",
        ),
    ] {
        let (status, err) = app.post_json("/api/v1/experiments/backprop", &body).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
        assert!(
            err["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {err}"
        );
    }
}

/// The book's optimizer figure: paths on x^2/20 + y^2 from (-7, 2), the first steps by hand.
#[tokio::test]
async fn optimizer_paths_take_the_engines_own_steps() {
    let app = spawn_app().await;
    let body = json!({"function": "bowl", "start": [-7, 2], "steps": 30, "optimizers": [
        {"name": "sgd", "learning_rate": 0.95}, {"name": "momentum", "learning_rate": 0.1},
        {"name": "adagrad", "learning_rate": 1.5}, {"name": "adam", "learning_rate": 0.3}]});
    let (status, r) = app.post_json("/api/v1/experiments/optimizers", &body).await;
    assert_eq!(status, 200, "{r}");
    let paths = r["paths"].as_array().unwrap();
    let point = |p: usize, k: usize| {
        (
            paths[p]["points"][k][0].as_f64().unwrap(),
            paths[p]["points"][k][1].as_f64().unwrap(),
        )
    };
    let near = |(x, y): (f64, f64), (ex, ey): (f64, f64)| (x - ex).abs() < 1e-5 && (y - ey).abs() < 1e-5;
    // Gradient (x/10, 2y) = (-0.7, 4) at the start.
    assert!(near(point(0, 1), (-6.335, -1.8)), "sgd: {:?}", point(0, 1));
    assert!(near(point(1, 1), (-6.93, 1.6)), "momentum step 1: {:?}", point(1, 1));
    // v = 0.9 v - 0.1 g at (-6.93, 1.6): (0.063 + 0.0693, -0.36 - 0.32).
    assert!(near(point(1, 2), (-6.7977, 0.92)), "momentum step 2: {:?}", point(1, 2));
    // AdaGrad's first step is lr * g / |g| per coordinate too: (-7 + 1.5, 2 - 1.5).
    assert!(near(point(2, 1), (-5.5, 0.5)), "adagrad: {:?}", point(2, 1));
    // Adam's first step is lr * sign(g).
    assert!(near(point(3, 1), (-6.7, 1.7)), "adam: {:?}", point(3, 1));
    for p in paths {
        assert_eq!(p["points"].as_array().unwrap().len(), 31);
        assert_eq!(p["values"].as_array().unwrap().len(), 31);
        let (first, last) = (p["values"][0].as_f64().unwrap(), p["values"][30].as_f64().unwrap());
        assert!(last < first, "{} went down the bowl: {first} -> {last}", p["optimizer"]);
    }
    // A path that leaves the finite range stops and says when.
    let (_, r) = app
        .post_json(
            "/api/v1/experiments/optimizers",
            &json!({"expression": "exp(x*y)", "start": [1, 1], "steps": 50,
            "optimizers": [{"name": "sgd", "learning_rate": 50}]}),
        )
        .await;
    assert!(
        r["paths"][0]["stopped"]
            .as_str()
            .unwrap()
            .starts_with("stopped after step"),
        "{r}"
    );
    for (body, field) in [
        (
            json!({"expression": "x + z", "start": [0, 0], "optimizers": [{"name": "sgd", "learning_rate": 0.1}]}),
            "expression",
        ),
        (
            json!({"function": "bowl", "start": [0, 0], "steps": 0, "optimizers": [{"name": "sgd", "learning_rate": 0.1}]}),
            "steps",
        ),
        (
            json!({"function": "bowl", "start": [0, 0], "optimizers": []}),
            "optimizers",
        ),
        (
            json!({"function": "bowl", "start": [0, 0], "optimizers": [{"name": "adam", "learning_rate": 0.1, "beta1": 1.5}]}),
            "optimizers[0].beta1",
        ),
        (
            json!({"start": [0, 0], "optimizers": [{"name": "sgd", "learning_rate": 0.1}]}),
            "expression",
        ),
    ] {
        let (status, err) = app.post_json("/api/v1/experiments/optimizers", &body).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
    }
}

/// The augmentation preview draws with the trainer's own augmentation: the identity leaves
/// the digit as it is, a warp changes it, the same seed gives the same draws, and a value
/// beyond a JobSpec's limits is a 422 naming it.
#[tokio::test]
async fn the_augmentation_preview_shows_a_digit_and_its_draws() {
    let app = spawn_app().await;
    let (status, plain) = app
        .post_json("/api/v1/experiments/augment", &json!({"index": 3, "count": 2}))
        .await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["original"].as_array().unwrap().len(), 28);
    assert_eq!(
        plain["augmented"][0], plain["original"],
        "no augmentation: the digit itself"
    );
    let body = json!({"index": 3, "count": 4, "seed": 9, "augment": {"max_rotation_deg": 20, "max_shift_px": 2}});
    let (_, warped) = app.post_json("/api/v1/experiments/augment", &body).await;
    assert_eq!(warped["augmented"].as_array().unwrap().len(), 4);
    assert_eq!(warped["label"], plain["label"]);
    assert_ne!(warped["augmented"][0], warped["original"]);
    assert_ne!(warped["augmented"][0], warped["augmented"][1], "each draw its own");
    assert_eq!(
        app.post_json("/api/v1/experiments/augment", &body).await.1,
        warped,
        "the same seed, the same draws"
    );
    for (body, field) in [
        (json!({"augment": {"max_scale": 1.5}}), "augment.max_scale"),
        (json!({"count": 0}), "count"),
        (json!({"index": 10_000_000}), "index"),
    ] {
        let (status, err) = app.post_json("/api/v1/experiments/augment", &body).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
    }
}
