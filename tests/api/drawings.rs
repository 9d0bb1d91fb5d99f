//! Drawings as an evaluation set: save, list, delete, export (IDX read back by the dataset
//! loader, CSV), evaluation equal to `/predict` item by item, and the leaderboard.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::predictions::{render_png, test_digits};

/// Saves the first `n` MNIST test digits, drawn as a person would, with their true labels
/// (or `label_of(i)`); returns the answers.
async fn save_digits(app: &TestApp, n: usize, label_of: impl Fn(usize, u8) -> u8) -> Vec<Value> {
    let (rows, truth) = test_digits(n);
    let mut saved = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let body = json!({"png_base64": render_png(row), "label": label_of(i, truth[i])});
        let (status, drawing) = app.post_json("/api/v1/drawings", &body).await;
        assert_eq!(status, 201, "{drawing}");
        saved.push(drawing);
    }
    saved
}

async fn delete(app: &TestApp, path: &str) -> u16 {
    app.client.delete(app.url(path)).send().await.unwrap().status().as_u16()
}

async fn bytes(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    (status, kind, r.bytes().await.unwrap().to_vec())
}

/// A drawing's image as the bytes it is stored as.
fn image_bytes(drawing: &Value) -> Vec<u8> {
    drawing["image"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| (v.as_f64().unwrap() * 255.0).round() as u8)
        })
        .collect()
}

#[tokio::test]
async fn saved_drawings_are_listed_exported_as_idx_and_csv_read_back_by_the_loader_and_deleted() {
    let app = spawn_app().await;
    let saved = save_digits(&app, 6, |_, label| label).await;
    for d in &saved {
        assert_eq!(d["image"].as_array().unwrap().len(), 28);
        assert!(
            d["image"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.as_array().unwrap().len() == 28)
        );
        assert!(image_bytes(d).contains(&255), "MNIST preprocessing stretches ink to 1");
    }
    let (status, list) = app.get("/api/v1/drawings").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 6);
    let listed: Vec<&Value> = list["drawings"].as_array().unwrap().iter().collect();
    assert_eq!(
        listed.iter().map(|d| &d["id"]).collect::<Vec<_>>(),
        saved.iter().map(|d| &d["id"]).collect::<Vec<_>>(),
        "oldest first"
    );
    let label = saved[0]["label"].as_i64().unwrap();
    let (_, only) = app.get(&format!("/api/v1/drawings?label={label}")).await;
    let want = saved.iter().filter(|d| d["label"] == label).count();
    assert_eq!(only["drawings"].as_array().unwrap().len(), want);
    assert!(only["drawings"].as_array().unwrap().iter().all(|d| d["label"] == label));

    // IDX: a tar of the images+labels pair, which the engine's loader reads back as it was.
    let (status, kind, tar_bytes) = bytes(&app, "/api/v1/drawings/export?format=idx").await;
    assert_eq!((status, kind.as_str()), (200, "application/x-tar"));
    let dir = tempfile::tempdir().unwrap();
    tar::Archive::new(tar_bytes.as_slice()).unpack(dir.path()).unwrap();
    let set = nnlab::data::load_image_set(
        &dir.path().join("drawings-images-idx3-ubyte"),
        &dir.path().join("drawings-labels-idx1-ubyte"),
        "drawings",
    )
    .expect("the export loads as an IDX dataset");
    assert_eq!(set.len(), 6);
    assert_eq!(set.image_shape, Some((28, 28)));
    for (i, d) in saved.iter().enumerate() {
        assert_eq!(set.labels[i] as i64, d["label"].as_i64().unwrap());
        let row: Vec<u8> = set.row_f32(i).iter().map(|v| (v * 255.0).round() as u8).collect();
        assert_eq!(row, image_bytes(d), "drawing {i}");
    }

    // CSV: a header, then label,p0..p783 per drawing.
    let (status, kind, csv) = bytes(&app, "/api/v1/drawings/export?format=csv").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7);
    assert!(lines[0].starts_with("label,p0,p1,") && lines[0].ends_with(",p783"));
    for (line, d) in lines[1..].iter().zip(&saved) {
        let values: Vec<i64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(values.len(), 785);
        assert_eq!(values[0], d["label"].as_i64().unwrap());
        assert_eq!(values[1..].iter().map(|&v| v as u8).collect::<Vec<_>>(), image_bytes(d));
    }
    let (_, newest) = app.get("/api/v1/drawings?order=newest&limit=2").await;
    let newest: Vec<&Value> = newest["drawings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["id"])
        .collect();
    assert_eq!(newest, vec![&saved[5]["id"], &saved[4]["id"]]);
    let (status, err) = app.get("/api/v1/drawings/export?format=png").await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("format")));

    let first = saved[0]["id"].as_str().unwrap();
    assert_eq!(delete(&app, &format!("/api/v1/drawings/{first}")).await, 204);
    assert_eq!(delete(&app, &format!("/api/v1/drawings/{first}")).await, 404);
    let (_, list) = app.get("/api/v1/drawings").await;
    assert_eq!(list["total"], 5);
    assert!(list["drawings"].as_array().unwrap().iter().all(|d| d["id"] != first));
}

#[tokio::test]
async fn bad_drawings_are_422s_naming_the_field_a_full_set_is_a_409_and_nothing_is_written() {
    let app = spawn_app_with(|c| c.limits.max_drawings = 2).await;
    let (rows, _) = test_digits(1);
    let digit = render_png(&rows[0]);
    let blank = render_png(&[0.0; 784]);
    let before = app.table_counts().await;
    for (body, field) in [
        (json!({"png_base64": digit, "label": 10}), "label"),
        (json!({"png_base64": digit, "label": -1}), "label"),
        (json!({"png_base64": digit, "label": 2.5}), "label"),
        (json!({"png_base64": digit}), "label"),
        (json!({"png_base64": "", "label": 3}), "png_base64"),
        (json!({"png_base64": blank, "label": 3}), "png_base64"),
        (json!({"png_base64": "not base64!", "label": 3}), "png_base64"),
        (json!({"png_base64": digit, "label": 3, "colour": "red"}), "colour"),
    ] {
        let (status, err) = app.post_json("/api/v1/drawings", &body).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{err}");
    }
    assert_eq!(app.table_counts().await, before, "a refused drawing writes nothing");
    for (query, field) in [
        ("label=11", "label"),
        ("label=x", "label"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("order=random", "order"),
    ] {
        let (status, err) = app.get(&format!("/api/v1/drawings?{query}")).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{query}: {err}"
        );
    }
    for _ in 0..2 {
        let (status, _) = app
            .post_json("/api/v1/drawings", &json!({"png_base64": digit, "label": 7}))
            .await;
        assert_eq!(status, 201);
    }
    let (status, err) = app
        .post_json("/api/v1/drawings", &json!({"png_base64": digit, "label": 7}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("--max-drawings"),
        "{err}"
    );
    assert_eq!(app.get("/api/v1/drawings").await.1["total"], 2);
}

#[tokio::test]
async fn evaluation_on_drawings_equals_predict_item_by_item_and_the_leaderboard_ranks_by_it() {
    let app = spawn_app().await;
    let spec = json!({"dataset": "mnist", "hidden_layers": [32], "epochs": 2, "batch_size": 64,
                      "learning_rate": 0.002, "train_samples": 2000, "seed": 3});
    let job = app.submit(&spec).await;
    let job = app.wait_finished(&job).await;
    let model = job["result"]["model_id"].as_str().unwrap().to_string();
    // Every fourth drawing is mislabelled on purpose, so that misses certainly exist.
    let saved = save_digits(&app, 24, |i, label| if i % 4 == 3 { (label + 1) % 10 } else { label }).await;

    let (status, eval) = app
        .post_json(&format!("/api/v1/models/{model}/evaluate"), &json!({"set": "drawings"}))
        .await;
    assert_eq!(status, 200, "{eval}");
    assert_eq!(
        (eval["set"].as_str(), eval["count"].as_u64()),
        (Some("drawings"), Some(24))
    );

    // The same images through /predict, one request for all of them.
    let images: Vec<&Value> = saved.iter().map(|d| &d["image"]).collect();
    let (status, answers) = app.predict(&model, &json!({ "images": images })).await;
    assert_eq!(status, 200, "{answers}");
    let mut confusion = vec![vec![0u64; 10]; 10];
    let mut missed = HashMap::new();
    for (d, p) in saved.iter().zip(answers["predictions"].as_array().unwrap()) {
        let (label, predicted) = (
            d["label"].as_u64().unwrap() as usize,
            p["label"].as_u64().unwrap() as usize,
        );
        confusion[label][predicted] += 1;
        if label != predicted {
            missed.insert(
                d["id"].as_str().unwrap().to_string(),
                (predicted, p["probabilities"][predicted].as_f64().unwrap()),
            );
        }
    }
    assert_eq!(eval["confusion"], json!(confusion));
    let correct: u64 = (0..10).map(|c| confusion[c][c]).sum();
    assert!((eval["accuracy"].as_f64().unwrap() - correct as f64 / 24.0).abs() < 1e-12);
    assert!(
        missed.len() >= 5,
        "the six mislabelled drawings are mostly misses: {}",
        missed.len()
    );
    let items = eval["misclassified"].as_array().unwrap();
    assert_eq!(items.len(), missed.len());
    for item in items {
        let (predicted, probability) = missed[item["id"].as_str().unwrap()];
        assert_eq!(item["predicted"].as_u64().unwrap() as usize, predicted);
        assert!(
            (item["probability"].as_f64().unwrap() - probability).abs() < 1e-5,
            "{item}"
        );
        assert_eq!(item["pixels"].as_array().unwrap().len(), 784);
    }

    // The test set: the job's own test accuracy.
    let (status, test) = app
        .post_json(&format!("/api/v1/models/{model}/evaluate"), &json!({"set": "test"}))
        .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["count"], 10000);
    let job_accuracy = job["result"]["test_accuracy"].as_f64().unwrap();
    assert!(
        (test["accuracy"].as_f64().unwrap() - job_accuracy).abs() < 1e-6,
        "{} vs {job_accuracy}",
        test["accuracy"]
    );
    assert_eq!(test["misclassified"].as_array().unwrap().len(), 100);

    // The leaderboard: this model, scored as its evaluation says, beside its test accuracy.
    let xor = app.submit(&crate::helpers::xor_spec(5)).await;
    let xor = app.wait_finished(&xor).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, board) = app.get("/api/v1/drawings/leaderboard").await;
    assert_eq!(status, 200, "{board}");
    assert_eq!(board["drawings"], 24);
    let entries = board["models"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "only MNIST models: {board}");
    assert_eq!(entries[0]["model_id"], model.as_str());
    assert_eq!(entries[0]["accuracy"], eval["accuracy"]);
    assert_eq!(entries[0]["correct"], correct);
    assert!((entries[0]["test_accuracy"].as_f64().unwrap() - job_accuracy).abs() < 1e-9);

    // Refusals name what is wrong.
    for (id, body, status, field) in [
        (model.as_str(), json!({"set": "train"}), 422, Some("set")),
        (model.as_str(), json!({}), 422, Some("set")),
        (xor.as_str(), json!({"set": "drawings"}), 422, Some("set")),
        ("no-such-model", json!({"set": "test"}), 404, None),
    ] {
        let (got, err) = app.post_json(&format!("/api/v1/models/{id}/evaluate"), &body).await;
        assert_eq!((got, err["error"]["field"].as_str()), (status, field), "{body}: {err}");
    }
}

#[tokio::test]
async fn the_draw_pages_preprocessing_switch_changes_what_the_model_sees() {
    let app = spawn_app().await;
    let xor = app.submit(&crate::helpers::xor_spec(3)).await;
    app.wait_finished(&xor).await;
    let job = app
        .submit(&json!({"dataset": "mnist", "hidden_layers": [8], "epochs": 1, "train_samples": 500}))
        .await;
    let model = app.wait_finished(&job).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A small digit in the top-left corner of a large canvas.
    let (rows, _) = test_digits(1);
    let mut corner = vec![0.0f32; 56 * 56];
    for y in 0..28 {
        corner[y * 56..y * 56 + 28].copy_from_slice(&rows[0][y * 28..y * 28 + 28]);
    }
    let png = crate::predictions::render_png_sized(&corner, 56);
    let mut seen = HashMap::new();
    for how in ["raw", "box", "mnist"] {
        let (status, out) = app
            .post_json(
                "/api/v1/predict",
                &json!({"model_ids": [model], "png_base64": png, "preprocess": how}),
            )
            .await;
        assert_eq!(status, 200, "{how}: {out}");
        let image: Vec<f64> = out["input_image"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        seen.insert(how, image);
    }
    let ink_right_half = |img: &Vec<f64>| (0..784).filter(|i| i % 28 >= 14).map(|i| img[i]).sum::<f64>();
    assert!(
        ink_right_half(&seen["raw"]) < 1e-9,
        "raw keeps the digit in the top-left quarter"
    );
    assert!(ink_right_half(&seen["mnist"]) > 1.0, "MNIST preprocessing centres it");
    assert_ne!(seen["box"], seen["raw"]);
    let (status, err) = app
        .post_json(
            "/api/v1/predict",
            &json!({"model_ids": [model], "png_base64": png, "preprocess": "fancy"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("preprocess")),
        "{err}"
    );
}
