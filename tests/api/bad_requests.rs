//! Bad requests across every route: each gets its documented status and the one error shape
//! `{"error":{"code","message","field"?}}`, never a 5xx, and none of them writes to the database.

use serde_json::Value;

use crate::helpers::{spawn_app, xor_spec};

/// One bad request and the error it must get.
struct Row {
    method: &'static str,
    path: String,
    /// Sent as is (POST only), so that malformed JSON can be sent.
    body: String,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies can be megabytes long: show their start only.
        let body: String = self.body.chars().take(100).collect();
        let more = if self.body.chars().nth(100).is_some() {
            "..."
        } else {
            ""
        };
        write!(
            f,
            "{} {} {body}{more} (expecting {} {} {:?})",
            self.method, self.path, self.status, self.code, self.field
        )
    }
}

const GET: &str = "GET";
const POST: &str = "POST";
const MALFORMED: (u16, &str) = (400, "malformed_json");
const INVALID: (u16, &str) = (422, "invalid_request");
const NOT_FOUND: (u16, &str) = (404, "not_found");

fn row(
    method: &'static str,
    path: &str,
    body: &str,
    (status, code): (u16, &'static str),
    field: Option<&'static str>,
) -> Row {
    Row {
        method,
        path: path.to_string(),
        body: body.to_string(),
        status,
        code,
        field,
    }
}

/// A JobSpec for the (available) `xor` dataset with `extra` fields added.
fn spec(extra: &str) -> String {
    format!(r#"{{"dataset":"xor",{extra}}}"#)
}

/// `{"error":{"code":<string>,"message":<string>}}` plus an optional string `field`, nothing else.
fn has_error_shape(body: &Value) -> bool {
    let Some(top) = body.as_object() else { return false };
    let Some(error) = top.get("error").and_then(Value::as_object) else {
        return false;
    };
    top.len() == 1
        && error.get("code").is_some_and(Value::is_string)
        && error.get("message").is_some_and(Value::is_string)
        && error.get("field").is_none_or(Value::is_string)
        && error.keys().all(|k| ["code", "message", "field"].contains(&k.as_str()))
}

#[tokio::test]
async fn every_bad_request_gets_its_documented_status_and_error_shape_and_changes_nothing() {
    let app = spawn_app().await;
    // A real model (2 inputs, 2 classes) for the predict rows, and a finished job to cancel.
    let job_id = app.submit(&xor_spec(50)).await;
    let job = app.wait_finished(&job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let model_id = job["result"]["model_id"].as_str().expect("model id").to_string();
    let predict = format!("/api/v1/models/{model_id}/predict");
    let before = app.table_counts().await;

    let jobs = "/api/v1/jobs";
    let unknown = "0190f5d2-7c1e-7000-8000-000000000000";
    let some_inputs = r#"{"inputs":[[0,1]]}"#;
    // Just over the 16 MiB limit, so that little of it is left unread when the server answers.
    let too_large = format!(r#"{{"dataset":"{}"}}"#, "a".repeat(16 * 1024 * 1024));
    // Deep nesting: typed fields refuse it at the first wrong type (422 naming where), and a
    // deep top-level array is valid JSON but not an object (422). Never a stack overflow.
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_spec = format!(
        r#"{{"dataset":"xor","hidden_layers":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_inputs = format!(r#"{{"inputs":{}{}}}"#, "[".repeat(5_000), "]".repeat(5_000));
    #[rustfmt::skip]
    let rows = vec![
        // Not JSON at all -> 400.
        row(POST, jobs, r#"{"dataset":"xor","epochs":"#, MALFORMED, None),
        row(POST, jobs, "", MALFORMED, None),
        row(POST, jobs, r#"{"dataset":"xor"} garbage"#, MALFORMED, None),
        row(POST, jobs, r#"{"dataset":"xor",}"#, MALFORMED, None),
        row(POST, "/api/v1/perceptron", "{weights:[1,1],bias:0}", MALFORMED, None),
        // Valid JSON that is not an object is a bad value of the whole body (422), not
        // malformed JSON; no single field is at fault.
        // serde would read an array as the struct's fields in order: `["xor"]` must not be a spec.
        row(POST, jobs, r#"["xor"]"#, INVALID, None),
        row(POST, jobs, "[1,2,3]", INVALID, None),
        row(POST, jobs, "\"xor\"", INVALID, None),
        row(POST, jobs, "null", INVALID, None),
        // Unknown fields name themselves, nested ones with their path.
        row(POST, jobs, &spec(r#""learning_rat":0.1"#), INVALID, Some("learning_rat")),
        row(POST, jobs, &spec(r#""augment":{"max_shift":1}"#), INVALID, Some("augment.max_shift")),
        // Wrong types.
        row(POST, jobs, &spec(r#""epochs":"ten""#), INVALID, Some("epochs")),
        row(POST, jobs, &spec(r#""hidden_layers":"256""#), INVALID, Some("hidden_layers")),
        row(POST, jobs, &spec(r#""hidden_layers":[8,-1]"#), INVALID, Some("hidden_layers[1]")),
        row(POST, jobs, &spec(r#""batch_norm":"yes""#), INVALID, Some("batch_norm")),
        // Unknown enum variants (serde errors) name the enum's field.
        row(POST, jobs, &spec(r#""activation":"softmax""#), INVALID, Some("activation")),
        row(POST, jobs, &spec(r#""optimizer":"adamw""#), INVALID, Some("optimizer")),
        row(POST, jobs, &spec(r#""init":"glorot""#), INVALID, Some("init")),
        row(POST, jobs, &spec(r#""loss":"hinge""#), INVALID, Some("loss")),
        // Values out of range (JobSpec::validate).
        row(POST, jobs, &spec(r#""learning_rate":-0.1"#), INVALID, Some("learning_rate")),
        row(POST, jobs, &spec(r#""learning_rate":0"#), INVALID, Some("learning_rate")),
        row(POST, jobs, &spec(r#""batch_size":0"#), INVALID, Some("batch_size")),
        row(POST, jobs, &spec(r#""epochs":0"#), INVALID, Some("epochs")),
        row(POST, jobs, &spec(r#""dropout":1.0"#), INVALID, Some("dropout")),
        row(POST, jobs, &spec(r#""l2":-0.5"#), INVALID, Some("l2")),
        row(POST, jobs, &spec(r#""validation_split":1"#), INVALID, Some("validation_split")),
        row(POST, jobs, &spec(r#""k_folds":1"#), INVALID, Some("k_folds")),
        row(POST, jobs, &spec(r#""hidden_layers":[0]"#), INVALID, Some("hidden_layers")),
        row(POST, jobs, &spec(r#""hidden_layers":[100000]"#), INVALID, Some("hidden_layers")),
        row(POST, jobs, &spec(r#""maxout_pieces":1"#), INVALID, Some("maxout_pieces")),
        row(POST, jobs, &spec(r#""augment":{"max_scale":1.0}"#), INVALID, Some("augment.max_scale")),
        // The dataset: missing, empty, unknown, or an injection attempt (just an unknown name).
        row(POST, jobs, "{}", INVALID, Some("dataset")),
        row(POST, jobs, r#"{"dataset":""}"#, INVALID, Some("dataset")),
        row(POST, jobs, r#"{"dataset":"imagenet"}"#, INVALID, Some("dataset")),
        row(POST, jobs, r#"{"dataset":"mnist'; DROP TABLE jobs;--"}"#, INVALID, Some("dataset")),
        // The job list's query.
        row(GET, "/api/v1/jobs?status=done", "", INVALID, Some("status")),
        row(GET, "/api/v1/jobs?limit=0", "", INVALID, Some("limit")),
        row(GET, "/api/v1/jobs?limit=ten", "", INVALID, Some("limit")),
        row(GET, "/api/v1/jobs?limit=100000", "", INVALID, Some("limit")),
        // Unknown ids.
        row(GET, &format!("{jobs}/{unknown}"), "", NOT_FOUND, None),
        row(GET, &format!("{jobs}/1'%20OR%20'1'='1"), "", NOT_FOUND, None),
        row(GET, &format!("{jobs}/{unknown}/metrics"), "", NOT_FOUND, None),
        row(GET, &format!("{jobs}/{unknown}/events"), "", NOT_FOUND, None),
        row(POST, &format!("{jobs}/{unknown}/cancel"), "", NOT_FOUND, None),
        row(GET, &format!("/api/v1/models/{unknown}"), "", NOT_FOUND, None),
        row(GET, &format!("/api/v1/models/{unknown}/weights"), "", NOT_FOUND, None),
        row(POST, &format!("/api/v1/models/{unknown}/predict"), some_inputs, NOT_FOUND, None),
        // A finished job cannot be cancelled.
        row(POST, &format!("{jobs}/{job_id}/cancel"), "", (409, "conflict"), None),
        // The perceptron.
        row(POST, "/api/v1/perceptron", r#"{"weights":[],"bias":0}"#, INVALID, Some("weights")),
        row(POST, "/api/v1/perceptron", r#"{"weights":[1,1,1,1,1,1,1,1,1],"bias":0}"#, INVALID, Some("weights")),
        row(POST, "/api/v1/perceptron", r#"{"weights":[1,"two"],"bias":0}"#, INVALID, Some("weights[1]")),
        row(POST, "/api/v1/perceptron", r#"{"weights":[1,1e39],"bias":0}"#, INVALID, Some("weights[1]")),
        // A missing required field is the fault of that one field.
        row(POST, "/api/v1/perceptron", r#"{"bias":0}"#, INVALID, Some("weights")),
        // The activation-histogram experiment.
        row(POST, "/api/v1/experiments/activations", r#"{"layers":0}"#, INVALID, Some("layers")),
        row(POST, "/api/v1/experiments/activations", r#"{"units":100000}"#, INVALID, Some("units")),
        row(POST, "/api/v1/experiments/activations", r#"{"activation":"maxout"}"#, INVALID, Some("activation")),
        // Dataset samples and evaluations.
        row(GET, "/api/v1/datasets/spiral/sample?n=0", "", INVALID, Some("n")),
        row(GET, "/api/v1/datasets/spiral/sample?n=5000", "", INVALID, Some("n")),
        row(GET, "/api/v1/datasets/spiral/sample?seed=-1", "", INVALID, Some("seed")),
        row(GET, "/api/v1/datasets/imagenet/sample", "", NOT_FOUND, None),
        row(GET, &format!("/api/v1/models/{model_id}/evaluation"), "", INVALID, None),
        row(GET, "/api/v1/models/nope/evaluation", "", NOT_FOUND, None),
        row(POST, &format!("/api/v1/models/{model_id}/evaluate"), r#"{"set":"test"}"#, INVALID, None),
        row(POST, &format!("/api/v1/models/{model_id}/evaluate"), r#"{"set":"drawings"}"#, INVALID, Some("set")),
        row(POST, &format!("/api/v1/models/{model_id}/evaluate"), r#"{"set":"all"}"#, INVALID, Some("set")),
        row(POST, &format!("/api/v1/models/{model_id}/evaluate"), "{", MALFORMED, None),
        row(POST, "/api/v1/models/nope/evaluate", r#"{"set":"test"}"#, NOT_FOUND, None),
        // Drawings.
        row(POST, "/api/v1/drawings", r#"{"png_base64":"iVBORw0KGgo=","label":12}"#, INVALID, Some("label")),
        row(POST, "/api/v1/drawings", r#"{"png_base64":"iVBORw0KGgo=","label":3}"#, INVALID, Some("png_base64")),
        row(POST, "/api/v1/drawings", r#"{"label":3}"#, INVALID, Some("png_base64")),
        row(GET, "/api/v1/drawings?limit=-3", "", INVALID, Some("limit")),
        row(GET, "/api/v1/drawings/export?format=zip", "", INVALID, Some("format")),
        // Predictions from the 2-input XOR model.
        row(POST, &predict, r#"{"inputs":[[0,1,1]]}"#, INVALID, Some("inputs[0]")),
        row(POST, &predict, r#"{"inputs":[[0,1]],"png_base64":"iVBORw0KGgo="}"#, INVALID, Some("inputs")),
        row(POST, &predict, "{}", INVALID, Some("inputs")),
        row(POST, &predict, r#"{"inputs":[]}"#, INVALID, Some("inputs")),
        row(POST, &predict, r#"{"inputs":[[0,"1"]]}"#, INVALID, Some("inputs[0][1]")),
        // Fits f64 but not f32: it would become infinity inside the network.
        row(POST, &predict, r#"{"inputs":[[1e39,0]]}"#, INVALID, Some("inputs[0][0]")),
        row(POST, &predict, r#"{"inputs":[[0,1]],"input":[[0,1]]}"#, INVALID, Some("input")),
        // Invalid base64, and base64 of bytes that are not a PNG. (For this 2-input model the
        // server rejects any PNG before decoding it: it does not take 28x28 images.)
        row(POST, &predict, r#"{"png_base64":"not base64!"}"#, INVALID, Some("png_base64")),
        row(POST, &predict, r#"{"png_base64":"aGVsbG8gd29ybGQ="}"#, INVALID, Some("png_base64")),
        row(POST, &predict, r#"{"images":[[[0,1],[1,0]]]}"#, INVALID, Some("images")),
        // Over the body limit.
        row(POST, jobs, &too_large, (413, "payload_too_large"), None),
        row(POST, jobs, &deep_spec, INVALID, Some("hidden_layers[0]")),
        row(POST, &predict, &deep_inputs, INVALID, Some("inputs[0][0]")),
        row(POST, jobs, &deep_array, INVALID, None),
    ];
    assert!(rows.len() >= 30, "{} rows", rows.len());

    // Every row runs; the mismatches are reported together, each with its row.
    let mut failures = Vec::new();
    for row in &rows {
        let (status, body) = match row.method {
            GET => app.get(&row.path).await,
            _ => app.post_raw(&row.path, row.body.clone()).await,
        };
        let got = (status, body["error"]["code"].as_str(), body["error"]["field"].as_str());
        if status >= 500 || !has_error_shape(&body) || got != (row.status, Some(row.code), row.field) {
            failures.push(format!("{row}\n    got {status} {body}"));
        }
    }
    // Nothing was queued, stored or recorded by any of them.
    let after = app.table_counts().await;
    if after != before {
        failures.push(format!("the database changed: {before:?} -> {after:?}"));
    }
    let (_, list) = app.get("/api/v1/jobs").await;
    if list["jobs"].as_array().map(Vec::len) != Some(1) {
        failures.push(format!("jobs other than the XOR one are listed: {list}"));
    }
    assert!(
        failures.is_empty(),
        "{} failures of {} rows:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
