//! Importing models trained elsewhere: `POST /api/v1/models` with a `spec` and a `weights`
//! (safetensors) part.

use reqwest::multipart::{Form, Part};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, xor_spec};

/// Sends the parts (name, bytes) as multipart/form-data; returns status, Location, body.
async fn import(app: &TestApp, parts: Parts) -> (u16, Option<String>, Value) {
    let form = parts.into_iter().fold(Form::new(), |form, (name, bytes)| {
        form.part(name.to_string(), Part::bytes(bytes).file_name(name.to_string()))
    });
    let r = app
        .client
        .post(app.url("/api/v1/models"))
        .multipart(form)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    (status, location, r.json().await.unwrap_or(Value::Null))
}

async fn trained_model(app: &TestApp, spec: &Value) -> String {
    let job = app.submit(spec).await;
    let job = app.wait_finished(&job).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    job["result"]["model_id"].as_str().expect("model id").to_string()
}

async fn weights(app: &TestApp, model: &str) -> Vec<u8> {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/models/{model}/weights")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// A safetensors file of F32 tensors (values 0.1, 0.2, ...), no metadata: what a
/// converted PyTorch state dict looks like.
fn safetensors_file(tensors: &[(&str, &[usize])]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, shape)| {
            (0..shape.iter().product::<usize>())
                .flat_map(|i| (0.1 * (i + 1) as f32).to_le_bytes())
                .collect()
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, shape), bytes)| {
            (
                name.to_string(),
                TensorView::new(Dtype::F32, shape.to_vec(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// 2 -> 3 -> 2 relu network's tensors.
const SMALL: [(&str, &[usize]); 4] = [
    ("dense.0.weight", &[3, 2]),
    ("dense.0.bias", &[3]),
    ("dense.1.weight", &[2, 3]),
    ("dense.1.bias", &[2]),
];

fn small_spec() -> Vec<u8> {
    json!({"input_size": 2, "classes": 2, "hidden_layers": [3], "activation": "relu"})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn a_downloaded_model_imported_with_its_architecture_predicts_identically() {
    let app = spawn_app().await;
    let original = trained_model(&app, &xor_spec(300)).await;
    let spec = json!({"dataset": "xor", "hidden_layers": [8], "activation": "tanh"});
    let (status, location, model) = import(
        &app,
        vec![
            ("spec", spec.to_string().into_bytes()),
            ("weights", weights(&app, &original).await),
        ],
    )
    .await;
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().unwrap();
    assert_ne!(id, original);
    assert_eq!(location.as_deref(), Some(format!("/api/v1/models/{id}").as_str()));
    assert_eq!(app.get(&format!("/api/v1/models/{id}")).await, (200, model.clone()));
    let (_, trained) = app.get(&format!("/api/v1/models/{original}")).await;
    assert_eq!(model["spec"], trained["spec"]);
    assert_eq!(model["parameters"], trained["parameters"]);
    assert_eq!(model["dataset"], "xor");
    assert!(model["job_id"].is_null() && model["job_spec"].is_null() && model["test_accuracy"].is_null());

    for inputs in [
        json!([[0, 0], [0, 1], [1, 0], [1, 1]]),
        json!([[0.25, 0.75]]),
        json!([[-3.5, 2.0], [0.5, 0.5], [10, -10]]),
    ] {
        let body = json!({ "inputs": inputs });
        let (status, expected) = app.predict(&original, &body).await;
        assert_eq!(status, 200, "{expected}");
        assert_eq!(app.predict(id, &body).await, (200, expected), "{inputs}");
    }
    // The stored file is self-describing again: its metadata carries the architecture.
    let stored = weights(&app, id).await;
    let (_, header) = safetensors::SafeTensors::read_metadata(&stored).unwrap();
    let carried: Value = serde_json::from_str(&header.metadata().as_ref().unwrap()["nnlab_spec"]).unwrap();
    assert_eq!(carried, trained["spec"]);
}

#[tokio::test]
async fn a_batch_norm_model_imported_with_explicit_sizes_predicts_identically() {
    let app = spawn_app().await;
    let mut job_spec = xor_spec(200);
    job_spec["batch_norm"] = json!(true);
    job_spec["activation"] = json!("relu");
    let original = trained_model(&app, &job_spec).await;
    let spec = json!({"input_size": 2, "classes": 2, "hidden_layers": [8], "activation": "relu", "batch_norm": true});
    let (status, _, model) = import(
        &app,
        vec![
            ("weights", weights(&app, &original).await),
            ("spec", spec.to_string().into_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 201, "{model}");
    assert_eq!(model["dataset"], "custom");
    let body = json!({"inputs": [[0, 0], [0, 1], [1, 0], [1, 1], [0.3, -0.2]]});
    let (_, expected) = app.predict(&original, &body).await;
    assert_eq!(app.predict(model["id"].as_str().unwrap(), &body).await, (200, expected));
}

#[tokio::test]
async fn weights_missing_a_tensor_are_422_naming_it() {
    let app = spawn_app().await;
    let before = app.table_counts().await;
    let file = safetensors_file(&SMALL[..3]);
    let (status, _, out) = import(&app, vec![("spec", small_spec()), ("weights", file)]).await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["error"]["field"], "dense.1.bias", "{out}");
    assert_eq!(app.table_counts().await, before, "a rejected import writes nothing");

    // The complete file imports, and its extra tensors do not matter.
    let mut complete = SMALL.to_vec();
    complete.push(("optimizer.step", &[1]));
    let (status, _, out) = import(
        &app,
        vec![("spec", small_spec()), ("weights", safetensors_file(&complete))],
    )
    .await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["parameters"], 3 * 2 + 3 + 2 * 3 + 2);
}

#[tokio::test]
async fn a_tensor_of_the_wrong_shape_is_422_naming_it() {
    let app = spawn_app().await;
    // dense.0.weight as [in, out] instead of PyTorch's [out, in].
    let mut tensors = SMALL.to_vec();
    tensors[0] = ("dense.0.weight", &[2, 3]);
    let (status, _, out) = import(
        &app,
        vec![("spec", small_spec()), ("weights", safetensors_file(&tensors))],
    )
    .await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["error"]["field"], "dense.0.weight", "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("[3, 2]"), "{out}");

    // A spec that does not match the file: one hidden layer more.
    let spec = json!({"input_size": 2, "classes": 2, "hidden_layers": [3, 3], "activation": "relu"});
    let (status, _, out) = import(
        &app,
        vec![
            ("spec", spec.to_string().into_bytes()),
            ("weights", safetensors_file(&SMALL)),
        ],
    )
    .await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["error"]["field"], "dense.1.weight", "{out}");
}

/// Multipart parts: (name, bytes), in order.
type Parts = Vec<(&'static str, Vec<u8>)>;

#[tokio::test]
async fn bad_imports_are_422_naming_the_part_or_field_and_write_nothing() {
    let app = spawn_app().await;
    let before = app.table_counts().await;
    let good = safetensors_file(&SMALL);
    // A spec part (with these fields over the small relu net's) and good weights.
    let with_spec = |fields: Value| -> Parts {
        let mut spec = json!({"input_size": 2, "classes": 2, "hidden_layers": [3], "activation": "relu"});
        for (k, v) in fields.as_object().unwrap() {
            if v.is_null() {
                spec.as_object_mut().unwrap().remove(k);
            } else {
                spec[k] = v.clone();
            }
        }
        vec![("spec", spec.to_string().into_bytes()), ("weights", good.clone())]
    };
    let garbage: Parts = vec![("spec", small_spec()), ("weights", b"not a safetensors file".to_vec())];
    let cases: Vec<(&str, Parts, &str)> = vec![
        ("garbage weights", garbage, "weights"),
        (
            "empty weights",
            vec![("spec", small_spec()), ("weights", Vec::new())],
            "weights",
        ),
        ("no spec part", vec![("weights", good.clone())], "spec"),
        ("no weights part", vec![("spec", small_spec())], "weights"),
        (
            "unknown part",
            [with_spec(json!({})), vec![("notes", b"hi".to_vec())]].concat(),
            "notes",
        ),
        (
            "spec twice",
            [vec![("spec", small_spec())], with_spec(json!({}))].concat(),
            "spec",
        ),
        (
            "unknown dataset",
            with_spec(json!({"dataset": "cifar", "input_size": null, "classes": null})),
            "dataset",
        ),
        (
            "dataset size disagrees",
            with_spec(json!({"dataset": "xor", "input_size": 3, "classes": null})),
            "input_size",
        ),
        (
            "no sizes",
            with_spec(json!({"input_size": null, "classes": null})),
            "input_size",
        ),
        ("no classes", with_spec(json!({"classes": null})), "classes"),
        ("unknown spec field", with_spec(json!({"epochs": 3})), "epochs"),
        ("no activation", with_spec(json!({"activation": null})), "activation"),
        (
            "no hidden layers",
            with_spec(json!({"hidden_layers": null})),
            "hidden_layers",
        ),
        (
            "unknown activation",
            with_spec(json!({"activation": "gelu"})),
            "activation",
        ),
        ("zero units", with_spec(json!({"hidden_layers": [0]})), "hidden_layers"),
        ("one class", with_spec(json!({"classes": 1})), "classes"),
        ("dropout 1", with_spec(json!({"dropout": 1.0})), "dropout"),
        (
            "one maxout piece",
            with_spec(json!({"activation": "maxout", "maxout_pieces": 1})),
            "maxout_pieces",
        ),
        (
            "too many parameters",
            with_spec(json!({"input_size": 1_000_000, "hidden_layers": [4096]})),
            "hidden_layers",
        ),
        (
            "spec not JSON",
            vec![("spec", b"{hidden".to_vec()), ("weights", good.clone())],
            "",
        ),
    ];
    for (what, parts, field) in cases {
        let (status, _, out) = import(&app, parts).await;
        if field.is_empty() {
            assert_eq!(status, 400, "{what}: {out}");
        } else {
            assert_eq!(status, 422, "{what}: {out}");
            assert_eq!(out["error"]["field"], field, "{what}: {out}");
        }
    }
    let (status, out) = app.post_json("/api/v1/models", &json!({"spec": {}})).await;
    assert_eq!(status, 415, "a JSON body is not multipart: {out}");
    assert!(out["error"]["message"].is_string());
    assert_eq!(app.table_counts().await, before, "rejected imports write nothing");
}
