//! The Open Inference Protocol (KServe V2) endpoints: health, metadata, and inference that
//! agrees with the native predictions.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, xor_spec};

/// Trains the XOR model through the native API and returns its id.
async fn xor_model(app: &TestApp) -> String {
    let job = app.submit(&xor_spec(300)).await;
    let job = app.wait_finished(&job).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    job["result"]["model_id"].as_str().expect("model id").to_string()
}

fn infer_body(shape: Value, data: Value) -> Value {
    json!({"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]})
}

/// The output tensor called `name`.
fn output<'a>(response: &'a Value, name: &str) -> &'a Value {
    response["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name} in {response}"))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

const XOR_ROWS: [[f64; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];

#[tokio::test]
async fn liveness_readiness_and_server_and_model_metadata_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v2/health/live").await, (200, json!({"live": true})));
    assert_eq!(app.get("/v2/health/ready").await, (200, json!({"ready": true})));
    let (status, server) = app.get("/v2").await;
    assert_eq!(status, 200);
    assert_eq!(server["name"], "nnlab");
    assert_eq!(server["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(server["extensions"], json!([]));

    let id = xor_model(&app).await;
    for path in [format!("/v2/models/{id}"), format!("/v2/models/{id}/versions/1")] {
        let (status, meta) = app.get(&path).await;
        assert_eq!(status, 200, "{meta}");
        assert_eq!(meta["name"], id.as_str());
        assert_eq!(meta["versions"], json!(["1"]));
        assert_eq!(meta["platform"], "nnlab");
        assert_eq!(
            meta["inputs"],
            json!([{"name": "input", "datatype": "FP32", "shape": [-1, 2]}])
        );
        assert_eq!(
            meta["outputs"][0],
            json!({"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]})
        );
    }
    for path in [
        format!("/v2/models/{id}/ready"),
        format!("/v2/models/{id}/versions/1/ready"),
    ] {
        assert_eq!(app.get(&path).await, (200, json!({"name": id, "ready": true})));
    }
}

#[tokio::test]
async fn infer_with_flat_data_gives_xor_labels_and_the_native_probabilities() {
    let app = spawn_app().await;
    let id = xor_model(&app).await;
    let (status, out) = app
        .post_json(
            &format!("/v2/models/{id}/infer"),
            &infer_body(json!([4, 2]), json!([0, 0, 0, 1, 1, 0, 1, 1])),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["model_name"], id.as_str());
    assert_eq!(out["model_version"], "1");
    assert!(out.get("id").is_none(), "no id asked, none echoed: {out}");
    let labels = output(&out, "label");
    assert_eq!(labels["datatype"], "INT64");
    assert_eq!(labels["shape"], json!([4]));
    assert_eq!(labels["data"], json!([0, 1, 1, 0]));
    let probabilities = output(&out, "probabilities");
    assert_eq!(probabilities["datatype"], "FP32");
    assert_eq!(probabilities["shape"], json!([4, 2]));

    let (status, native) = app.predict(&id, &json!({ "inputs": XOR_ROWS })).await;
    assert_eq!(status, 200, "{native}");
    let native: Vec<f64> = native["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| floats(&p["probabilities"]))
        .collect();
    let v2 = floats(&probabilities["data"]);
    assert_eq!(v2.len(), 8);
    for (a, b) in v2.iter().zip(&native) {
        assert!((a - b).abs() <= 1e-6, "v2 {v2:?} vs native {native:?}");
    }
}

#[tokio::test]
async fn nested_fp64_data_on_the_versioned_path_answers_as_flat_data_does_and_echoes_the_id() {
    let app = spawn_app().await;
    let id = xor_model(&app).await;
    let (_, flat) = app
        .post_json(
            &format!("/v2/models/{id}/infer"),
            &infer_body(json!([4, 2]), json!([0, 0, 0, 1, 1, 0, 1, 1])),
        )
        .await;
    let mut nested = infer_body(json!([4, 2]), json!(XOR_ROWS));
    nested["inputs"][0]["datatype"] = json!("FP64");
    nested["id"] = json!("req-7");
    let (status, out) = app
        .post_json(&format!("/v2/models/{id}/versions/1/infer"), &nested)
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["id"], "req-7");
    assert_eq!(out["outputs"], flat["outputs"]);

    // One row takes the batch-1 path, as a one-row native prediction does.
    let (status, one) = app
        .post_json(
            &format!("/v2/models/{id}/infer"),
            &infer_body(json!([1, 2]), json!([[1, 0]])),
        )
        .await;
    assert_eq!(status, 200, "{one}");
    let (_, native) = app.predict(&id, &json!({"inputs": [[1, 0]]})).await;
    assert_eq!(
        output(&one, "probabilities")["data"],
        native["predictions"][0]["probabilities"]
    );
    assert_eq!(output(&one, "label")["data"], json!([1]));
}

#[tokio::test]
async fn requesting_only_the_label_output_returns_only_it() {
    let app = spawn_app().await;
    let id = xor_model(&app).await;
    let mut body = infer_body(json!([4, 2]), json!([0, 0, 0, 1, 1, 0, 1, 1]));
    body["outputs"] = json!([{"name": "label", "parameters": {"binary_data": false}}]);
    let (status, out) = app.post_json(&format!("/v2/models/{id}/infer"), &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["outputs"],
        json!([{"name": "label", "shape": [4], "datatype": "INT64", "data": [0, 1, 1, 0]}])
    );
}

#[tokio::test]
async fn unknown_parameters_keys_are_ignored() {
    let app = spawn_app().await;
    let id = xor_model(&app).await;
    let plain = infer_body(json!([4, 2]), json!([0, 0, 0, 1, 1, 0, 1, 1]));
    let mut with_parameters = plain.clone();
    with_parameters["parameters"] = json!({"sequence_id": 3, "whatever": {"nested": [1, "x"]}});
    with_parameters["inputs"][0]["parameters"] = json!({"binary_data_size": null, "shiny": true});
    let (_, expected) = app.post_json(&format!("/v2/models/{id}/infer"), &plain).await;
    let (status, out) = app.post_json(&format!("/v2/models/{id}/infer"), &with_parameters).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out, expected);
}

#[tokio::test]
async fn bad_infer_requests_are_4xx_with_our_error_shape_and_never_5xx() {
    let app = spawn_app().await;
    let id = xor_model(&app).await;
    let good = infer_body(json!([4, 2]), json!([0, 0, 0, 1, 1, 0, 1, 1]));
    let input = |key: &str, value: Value| {
        let mut body = good.clone();
        body["inputs"][0][key] = value;
        body
    };
    let second = good["inputs"][0].clone();
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        ("no inputs", json!({}), 422, Some("inputs")),
        ("empty inputs", json!({"inputs": []}), 422, Some("inputs")),
        (
            "two inputs",
            json!({"inputs": [second.clone(), second]}),
            422,
            Some("inputs"),
        ),
        (
            "unknown input name",
            input("name", json!("x")),
            422,
            Some("inputs[0].name"),
        ),
        (
            "INT32 datatype",
            input("datatype", json!("INT32")),
            422,
            Some("inputs[0].datatype"),
        ),
        (
            "BYTES datatype",
            input("datatype", json!("BYTES")),
            422,
            Some("inputs[0].datatype"),
        ),
        (
            "one-dimensional shape",
            input("shape", json!([8])),
            422,
            Some("inputs[0].shape"),
        ),
        (
            "three-dimensional shape",
            input("shape", json!([2, 2, 2])),
            422,
            Some("inputs[0].shape"),
        ),
        (
            "wrong width",
            input("shape", json!([2, 4])),
            422,
            Some("inputs[0].shape"),
        ),
        ("no rows", input("shape", json!([0, 2])), 422, Some("inputs[0].shape")),
        (
            "too many rows",
            input("shape", json!([10_001, 2])),
            422,
            Some("inputs[0].shape"),
        ),
        (
            "negative dimension",
            input("shape", json!([-1, 2])),
            422,
            Some("inputs[0].shape[0]"),
        ),
        (
            "too few values",
            input("data", json!([0, 0, 0, 1, 1, 0])),
            422,
            Some("inputs[0].data"),
        ),
        (
            "ragged nested data",
            input("data", json!([[0, 0], [0], [1, 0], [1, 1]])),
            422,
            Some("inputs[0].data"),
        ),
        (
            "NaN as a string",
            input("data", json!([0, "NaN", 0, 1, 1, 0, 1, 1])),
            422,
            Some("inputs[0].data[1]"),
        ),
        (
            "nested string",
            input("data", json!([[0, 0], [0, "1"], [1, 0], [1, 1]])),
            422,
            Some("inputs[0].data[1][1]"),
        ),
        (
            "beyond f32",
            input("data", json!([0, 0, 0, 1, 1e39, 0, 1, 1])),
            422,
            Some("inputs[0].data[4]"),
        ),
        (
            "data not an array",
            input("data", json!("0,0,0,1")),
            422,
            Some("inputs[0].data"),
        ),
        (
            "unknown output",
            {
                let mut b = good.clone();
                b["outputs"] = json!([{"name": "logits"}]);
                b
            },
            422,
            Some("outputs[0].name"),
        ),
        (
            "unknown top-level field",
            {
                let mut b = good.clone();
                b["priority"] = json!(1);
                b
            },
            422,
            Some("priority"),
        ),
        (
            "parameters not an object",
            {
                let mut b = good.clone();
                b["parameters"] = json!(3);
                b
            },
            422,
            Some("parameters"),
        ),
        ("body an array", json!([good.clone()]), 422, None),
    ];
    for (what, body, status, field) in cases {
        let (got, out) = app.post_json(&format!("/v2/models/{id}/infer"), &body).await;
        assert_eq!(got, status, "{what}: {out}");
        assert!(
            out["error"]["code"].is_string() && out["error"]["message"].is_string(),
            "{what}: {out}"
        );
        assert_eq!(out["error"]["field"].as_str(), field, "{what}: {out}");
    }

    let (status, out) = app.post_raw(&format!("/v2/models/{id}/infer"), "{\"inputs\": [").await;
    assert_eq!(status, 400, "malformed JSON: {out}");
    assert_eq!(out["error"]["code"], "malformed_json");

    let binary = app
        .client
        .post(app.url(&format!("/v2/models/{id}/infer")))
        .header("inference-header-content-length", "120")
        .body([good.to_string().into_bytes(), vec![0u8; 32]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status(), 422, "the binary extension is refused");
    let out: Value = binary.json().await.unwrap();
    assert!(out["error"]["message"].as_str().unwrap().contains("binary"), "{out}");
}

#[tokio::test]
async fn an_unknown_model_or_version_is_404_with_our_error_shape() {
    let app = spawn_app().await;
    let id = xor_model(&app).await;
    let body = infer_body(json!([4, 2]), json!([0, 0, 0, 1, 1, 0, 1, 1]));
    for path in [
        "/v2/models/nope".to_string(),
        "/v2/models/nope/ready".to_string(),
        "/v2/models/nope/versions/1".to_string(),
        format!("/v2/models/{id}/versions/2"),
        format!("/v2/models/{id}/versions/2/ready"),
    ] {
        let (status, out) = app.get(&path).await;
        assert_eq!(status, 404, "{path}: {out}");
        assert_eq!(out["error"]["code"], "not_found", "{path}: {out}");
    }
    for path in [
        "/v2/models/nope/infer".to_string(),
        format!("/v2/models/{id}/versions/0/infer"),
    ] {
        let (status, out) = app.post_json(&path, &body).await;
        assert_eq!(status, 404, "{path}: {out}");
        assert_eq!(out["error"]["code"], "not_found", "{path}: {out}");
    }
}
