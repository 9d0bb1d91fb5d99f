//! Predictions from a model trained on MNIST: rows, 28x28 images and drawn-digit PNGs.

use std::io::Cursor;
use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// The first `n` MNIST test images as 0..1 rows, with their labels.
pub fn test_digits(n: usize) -> (Vec<Vec<f32>>, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let (_, test) = nnlab::data::load_dataset("mnist", &dir, 0).expect("bundled MNIST");
    ((0..n).map(|i| test.row_f32(i)).collect(), test.labels[..n].to_vec())
}

/// A digit drawn the way a person at the demo page would: dark ink on white paper, ten
/// times the size of MNIST's 28x28.
pub fn render_png(row: &[f32]) -> String {
    render_png_sized(row, 28)
}

/// A `side` x `side` image (values 0..1, ink high) drawn ten times larger, dark on white.
pub fn render_png_sized(pixels: &[f32], side: u32) -> String {
    let img = image::GrayImage::from_fn(side * 10, side * 10, |x, y| {
        let v = pixels[(y / 10 * side + x / 10) as usize];
        image::Luma([255 - (v * 255.0).round() as u8])
    });
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(png)
}

fn labels(out: &Value) -> Vec<u64> {
    out["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_small_mnist_model_classifies_rows_images_and_drawn_digits() {
    let app = spawn_app().await;
    let spec = json!({"dataset": "mnist", "hidden_layers": [64], "epochs": 3, "batch_size": 64,
                      "learning_rate": 0.002, "train_samples": 3000, "validation_split": 0.1, "seed": 1});
    let id = app.submit(&spec).await;
    let job = app.wait_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let accuracy = job["result"]["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "3000 samples are enough for 80%: {accuracy}");
    let model_id = job["result"]["model_id"].as_str().unwrap();

    let (rows, truth) = test_digits(20);
    let images: Vec<Vec<Vec<f32>>> = rows
        .iter()
        .map(|r| r.chunks(28).map(|c| c.to_vec()).collect())
        .collect();
    let (status, by_rows) = app.predict(model_id, &json!({ "inputs": rows })).await;
    assert_eq!(status, 200, "{by_rows}");
    let (status, by_images) = app.predict(model_id, &json!({ "images": images })).await;
    assert_eq!(status, 200, "{by_images}");
    assert_eq!(
        by_rows, by_images,
        "the same pixels give the same predictions either way"
    );
    for p in by_rows["predictions"].as_array().unwrap() {
        let probabilities: Vec<f64> = p["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(probabilities.len(), 10);
        assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    }

    // Drawn digits go through crop / 20x20 / centre of mass; they should mostly still be
    // read right by a model that reads the originals right.
    let mut right = 0;
    for (row, &label) in rows.iter().zip(&truth) {
        let (status, out) = app.predict(model_id, &json!({ "png_base64": render_png(row) })).await;
        assert_eq!(status, 200, "{out}");
        let seen: Vec<f64> = out["input_image"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(seen.len(), 784);
        right += usize::from(labels(&out)[0] == label as u64);
    }
    let rows_right = labels(&by_rows)
        .iter()
        .zip(&truth)
        .filter(|(p, t)| **p == **t as u64)
        .count();
    assert!(
        right + 3 >= rows_right && right >= 14,
        "png {right}/20 vs rows {rows_right}/20"
    );

    // What is not base64, or not a PNG, is refused naming the field.
    for (body, says) in [("%%%not base64%%%", "base64"), ("aGVsbG8gd29ybGQ=", "PNG")] {
        let (status, out) = app.predict(model_id, &json!({ "png_base64": body })).await;
        assert_eq!(status, 422, "{out}");
        assert_eq!(out["error"]["field"], "png_base64");
        assert!(out["error"]["message"].as_str().unwrap().contains(says), "{out}");
    }
    // A blank drawing has no digit in it.
    let blank = render_png(&[0.0; 784]);
    let (status, out) = app.predict(model_id, &json!({ "png_base64": blank })).await;
    assert_eq!((status, &out["error"]["field"]), (422, &json!("png_base64")), "{out}");

    // The job page's picture of the model: a confusion matrix over the whole test set that
    // agrees with the job's accuracy, and the images it gets wrong.
    let (status, eval) = app.get(&format!("/api/v1/models/{model_id}/evaluation")).await;
    assert_eq!(status, 200, "{eval}");
    let confusion: Vec<Vec<u64>> = serde_json::from_value(eval["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 10_000);
    let diagonal: u64 = (0..10).map(|c| confusion[c][c]).sum();
    assert!((diagonal as f64 / 10_000.0 - accuracy).abs() < 1e-6);
    let wrong = eval["misclassified"].as_array().unwrap();
    assert_eq!(wrong.len(), 36);
    for w in wrong {
        assert_ne!(w["label"], w["predicted"]);
        assert_eq!(w["pixels"].as_array().unwrap().len(), 784);
    }

    // A data: URL as a browser's canvas.toDataURL() gives it is accepted too.
    let url = format!("data:image/png;base64,{}", render_png(&rows[0]));
    let (status, _) = app.predict(model_id, &json!({ "png_base64": url })).await;
    assert_eq!(status, 200);
}

/// One input, several models: each model's answer equals its own `/predict`; an unknown
/// model or models of different input sizes are 422s naming the model, and a bad input is
/// named as for one model.
#[tokio::test]
async fn several_models_answer_one_input_as_each_does_alone() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for seed in [1, 2] {
        let mut spec = crate::helpers::xor_spec(40);
        spec["seed"] = json!(seed);
        let job = app.submit(&spec).await;
        let job = app.wait_finished(&job).await;
        ids.push(job["result"]["model_id"].as_str().unwrap().to_string());
    }
    let inputs = json!([[0, 0], [0, 1], [1, 0], [1, 1]]);
    let (status, both) = app
        .post_json("/api/v1/predict", &json!({"model_ids": ids, "inputs": inputs}))
        .await;
    assert_eq!(status, 200, "{both}");
    for (i, id) in ids.iter().enumerate() {
        let (_, alone) = app.predict(id, &json!({"inputs": inputs})).await;
        assert_eq!(both["results"][i]["model_id"], id.as_str());
        assert_eq!(both["results"][i]["predictions"], alone["predictions"], "model {i}");
    }
    let mnist = app
        .submit(&json!({"dataset": "mnist", "hidden_layers": [8], "epochs": 1, "train_samples": 500}))
        .await;
    let mnist = app.wait_finished(&mnist).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (body, field) in [
        (
            json!({"model_ids": [ids[0], "no-such-model"], "inputs": inputs}),
            "model_ids[1]",
        ),
        (json!({"model_ids": [ids[0], mnist], "inputs": inputs}), "model_ids[1]"),
        (json!({"model_ids": [], "inputs": inputs}), "model_ids"),
        (
            json!({"model_ids": vec![ids[0].clone(); 9], "inputs": inputs}),
            "model_ids",
        ),
        (json!({"model_ids": ids, "inputs": [[0, 1, 2]]}), "inputs[0]"),
        (json!({"model_ids": ids, "inputs": inputs, "extra": 1}), "extra"),
    ] {
        let (status, err) = app.post_json("/api/v1/predict", &body).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
    }
}
