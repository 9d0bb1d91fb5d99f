//! The OpenAPI document: it is OpenAPI 3, every operation in it is served, auth is where it
//! says, and real answers fit its schemas.
//!
//! Routes and the document come from the same declarations (utoipa-axum's `routes!` on each
//! handler's `#[utoipa::path]`), so a route cannot be served undocumented. What is checked
//! here is that the declarations hold on a live server:
//! - each documented operation is answered by a handler: not 405 and not the static index
//!   page of the fallback (the detector is itself checked on a path that does not exist);
//! - auth: with a token configured, the operations documented with the bearer scheme answer
//!   401 without it and the others never do.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with, xor_spec};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

async fn fetch_doc(app: &TestApp) -> Value {
    let r = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        r.headers()["content-type"]
    );
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).expect("the document is JSON")
}

/// (METHOD, path) of every operation in the document.
fn doc_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The schema a `$ref` points to (only local `#/components/...` refs are used).
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference.strip_prefix('#').expect("a local $ref");
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("$ref {reference} points nowhere"))
}

/// Every `$ref` anywhere under `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().expect("$ref is a string").to_string());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_with_the_error_shape_and_bearer_auth() {
    let app = spawn_app().await;
    let doc = fetch_doc(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(doc["info"]["title"], "nnlab");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["description"].as_str().is_some_and(|d| d.len() > 50));

    // The same document as the library's own.
    let served = doc_routes(&doc);
    let library: BTreeSet<(String, String)> = nnlab::api::openapi::routes().into_iter().collect();
    assert_eq!(served, library);

    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    for r in &all_refs {
        resolve(&doc, r);
    }

    let detail = resolve(&doc, "#/components/schemas/ErrorDetail");
    for field in ["code", "message", "field"] {
        assert!(detail["properties"].get(field).is_some(), "ErrorDetail.{field}");
    }
    assert_eq!(
        resolve(&doc, "#/components/schemas/ErrorBody")["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");

    let mut operation_ids = BTreeSet::new();
    for (method, path) in &served {
        let op = &doc["paths"][path][method.to_lowercase()];
        let id = op["operationId"].as_str().expect("operationId");
        assert!(operation_ids.insert(id.to_string()), "operationId {id} twice");
        assert!(op["summary"].as_str().is_some(), "{method} {path} has a summary");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} has a 2xx"
        );
        for (status, response) in responses {
            let code: u16 = status.parse().expect("numeric status");
            // The documented exceptions: readiness answers 503 with its status body, and a
            // request timeout is a 408 without a body.
            let exception = code == 408 || (code == 503 && (path == "/readyz" || path == "/v2/health/ready"));
            if code >= 400 && !exception {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
        // Bodies that can be malformed JSON or too large say so.
        let json_body = op["requestBody"]["content"].get("application/json").is_some();
        if json_body {
            for status in ["400", "413", "422"] {
                assert!(responses.contains_key(status), "{method} {path} lacks {status}");
            }
        }
        for (var, _) in path.match_indices('{') {
            let name = &path[var + 1..path[var..].find('}').unwrap() + var];
            let params = op["parameters"].as_array().expect("parameters");
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                "{method} {path}: path parameter {name}"
            );
            assert!(responses.contains_key("404"), "{method} {path} can be 404");
        }
    }

    let submit = &doc["paths"]["/api/v1/jobs"]["post"];
    assert_eq!(
        submit["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/JobSpec"
    );
    assert!(submit["responses"]["202"]["headers"].get("Location").is_some());
    assert!(submit["responses"]["429"]["headers"].get("Retry-After").is_some());
    let import = &doc["paths"]["/api/v1/models"]["post"];
    assert!(import["requestBody"]["content"].get("multipart/form-data").is_some());

    // Schemas follow serde's representations.
    let schedule = resolve(&doc, "#/components/schemas/LrSchedule");
    let kinds: BTreeSet<&str> = schedule["oneOf"]
        .as_array()
        .expect("LrSchedule is a oneOf")
        .iter()
        .map(|v| v["properties"]["kind"]["enum"][0].as_str().expect("tagged by kind"))
        .collect();
    assert_eq!(kinds, BTreeSet::from(["constant", "step", "exponential", "cosine"]));
    assert_eq!(
        resolve(&doc, "#/components/schemas/ActivationName")["enum"],
        json!(["step", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout"])
    );
    assert_eq!(
        resolve(&doc, "#/components/schemas/OptimizerKind")["enum"],
        json!([
            "sgd", "momentum", "nag", "adagrad", "rmsprop", "adadelta", "adam", "nadam"
        ])
    );
    let spec = resolve(&doc, "#/components/schemas/JobSpec");
    assert_eq!(
        spec["additionalProperties"], false,
        "unknown JobSpec fields are refused"
    );
    assert_eq!(spec["required"], json!(["dataset"]));
}

/// A concrete path for a templated one: unknown ids, the one model version.
fn concrete(path: &str) -> String {
    path.replace("{id}", "no-such-id")
        .replace("{name}", "no-such-name")
        .replace("{version}", "1")
}

/// Whether the answer came from the static-file fallback rather than a handler.
async fn answered_by_router(r: reqwest::Response) -> Result<u16, String> {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.text().await.unwrap_or_default();
    if status == 405 {
        return Err("405 Method Not Allowed".into());
    }
    if content_type.starts_with("text/html") || body.trim_start().starts_with("<!") {
        return Err(format!("{status} {content_type}: the static fallback"));
    }
    if status == 404 {
        // A handler's 404 has our error shape; the fallback's would not.
        let error: Value = serde_json::from_str(&body).map_err(|_| format!("404 without JSON: {body:.80}"))?;
        if error["error"]["code"] != "not_found" {
            return Err(format!("404 {error}"));
        }
    }
    Ok(status)
}

#[tokio::test]
async fn every_documented_operation_is_answered_by_the_router_and_auth_matches_the_document() {
    let token = "t0ken";
    let app = spawn_app_with(|c| c.api_token = Some(token.into())).await;
    let doc = fetch_doc(&app).await;
    let send = |method: &str, path: &str, token: Option<&str>| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = app.client.request(method.clone(), app.url(path));
        if method == reqwest::Method::POST {
            // Valid JSON that every body type refuses or accepts harmlessly (422 for a job
            // without a dataset, the default experiment for the histograms).
            req = req.header("content-type", "application/json").body("{}");
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    // The detector tells a missing route from a served one.
    let missing = send("GET", "/api/v1/no-such-route", None).await.unwrap();
    assert!(
        answered_by_router(missing).await.is_err(),
        "a missing GET route looks served"
    );
    let missing = send("POST", "/api/v1/no-such-route", None).await.unwrap();
    assert!(
        answered_by_router(missing).await.is_err(),
        "a missing POST route looks served"
    );
    let wrong_method = send("POST", "/api/v1/datasets", None).await.unwrap();
    assert!(
        answered_by_router(wrong_method).await.is_err(),
        "a wrong method looks served"
    );

    let routes = doc_routes(&doc);
    assert!(routes.len() >= 30, "only {} operations: {routes:?}", routes.len());
    let secured: BTreeSet<(String, String)> = routes
        .iter()
        .filter(|(m, p)| {
            doc["paths"][p][m.to_lowercase()]["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()))
        })
        .cloned()
        .collect();
    let writes: BTreeSet<(String, String)> = [
        ("POST", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs/{id}/cancel"),
        ("POST", "/api/v1/jobs/{id}/fork"),
        ("DELETE", "/api/v1/jobs/{id}"),
        ("POST", "/api/v1/sweeps"),
        ("POST", "/api/v1/sweeps/{id}/cancel"),
        ("POST", "/api/v1/models"),
        ("DELETE", "/api/v1/models/{id}"),
        ("POST", "/api/v1/drawings"),
        ("DELETE", "/api/v1/drawings/{id}"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(
        secured, writes,
        "the routes that change something, and only they, need the token"
    );
    for (method, path) in routes {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let url_path = concrete(&path);
        let r = send(&method, &url_path, None).await.unwrap();
        if secured {
            assert_eq!(r.status(), 401, "{method} {path} without the token");
            assert!(
                op["responses"].get("401").is_some(),
                "{method} {path} documents its 401"
            );
            let r = send(&method, &url_path, Some(token)).await.unwrap();
            let status = answered_by_router(r)
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert!(
                op["responses"].get(status.to_string()).is_some(),
                "{method} {path} answered {status}, which is not documented"
            );
        } else {
            assert!(op["responses"].get("401").is_none(), "{method} {path} is open");
            assert_ne!(r.status(), 401, "{method} {path} is documented open");
            let status = answered_by_router(r)
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert!(
                op["responses"].get(status.to_string()).is_some(),
                "{method} {path} answered {status}, which is not documented"
            );
        }
    }
}

/// A small JSON Schema check for the keywords the document uses: `$ref`, `type` (one or a
/// list), `enum`, `properties`, `required`, `additionalProperties: false`, `items`, `oneOf`.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return validate(doc, resolve(doc, r), value, at, errors);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                validate(doc, s, value, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{at}: {matching} of oneOf match {value}"));
        }
        return;
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        errors.push(format!("{at}: {value} not in {values:?}"));
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !types.iter().any(|t| fits(t)) {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                errors.push(format!("{at}: required {name} missing"));
            }
        }
        for (name, v) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(s) => validate(doc, s, v, &format!("{at}.{name}"), errors),
                None if properties.is_some() => errors.push(format!("{at}: {name} is not in the schema")),
                None => {}
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            validate(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn assert_fits(doc: &Value, schema: &Value, value: &Value, what: &str) {
    let mut errors = Vec::new();
    validate(doc, schema, value, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{what} does not fit its schema: {errors:#?}\n{value}"
    );
}

fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "{method} {path} {status} has no JSON schema");
    schema
}

#[tokio::test]
async fn real_requests_and_answers_fit_their_schemas() {
    let app = spawn_app().await;
    let doc = fetch_doc(&app).await;
    let request_schema = |method: &str, path: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    let check = |method: &str, path: &str, status: u16, value: &Value| {
        assert_fits(
            &doc,
            response_schema(&doc, method, path, status),
            value,
            &format!("{method} {path} {status}"),
        );
    };

    // Requests: the README's and the tests' bodies are valid.
    let spec = xor_spec(20);
    for body in [
        spec.clone(),
        json!({"dataset": "mnist", "hidden_layers": [128], "epochs": 3, "train_samples": 10000}),
        json!({"dataset": "x", "lr_schedule": {"kind": "step", "every_epochs": 2, "gamma": 0.5},
               "augment": {"max_shift_px": 2, "max_rotation_deg": 10}, "k_folds": 3}),
    ] {
        assert_fits(&doc, &request_schema("post", "/api/v1/jobs"), &body, "a JobSpec");
    }
    let mut errors = Vec::new();
    let unknown = json!({"dataset": "xor", "learning_rat": 0.1});
    validate(
        &doc,
        &request_schema("post", "/api/v1/jobs"),
        &unknown,
        "$",
        &mut errors,
    );
    assert!(
        !errors.is_empty(),
        "the schema refuses unknown fields as the server does"
    );

    let (status, datasets) = app.get("/api/v1/datasets").await;
    check("get", "/api/v1/datasets", status, &datasets);
    let (status, sample) = app.get("/api/v1/datasets/spiral/sample?n=5").await;
    check("get", "/api/v1/datasets/{name}/sample", status, &sample);
    let (status, health) = app.get("/healthz").await;
    check("get", "/healthz", status, &health);

    let perceptron = json!({"weights": [2, 2], "bias": -3});
    assert_fits(
        &doc,
        &request_schema("post", "/api/v1/perceptron"),
        &perceptron,
        "a perceptron",
    );
    let (status, table) = app.post_json("/api/v1/perceptron", &perceptron).await;
    check("post", "/api/v1/perceptron", status, &table);
    let (status, histograms) = app
        .post_json(
            "/api/v1/experiments/activations",
            &json!({"layers": 2, "units": 10, "samples": 50}),
        )
        .await;
    check("post", "/api/v1/experiments/activations", status, &histograms);

    // Errors of each kind have the ErrorBody shape.
    let (status, error) = app.post_raw("/api/v1/jobs", "{not json").await;
    assert_eq!(status, 400);
    check("post", "/api/v1/jobs", status, &error);
    let (status, error) = app.post_json("/api/v1/jobs", &unknown).await;
    assert_eq!(status, 422);
    check("post", "/api/v1/jobs", status, &error);
    let (status, error) = app.get("/api/v1/jobs/nope").await;
    assert_eq!(status, 404);
    check("get", "/api/v1/jobs/{id}", status, &error);

    // A job from submission to its model, predictions and V2 answers.
    let (status, job) = app.post_json("/api/v1/jobs", &spec).await;
    check("post", "/api/v1/jobs", status, &job);
    let id = job["id"].as_str().unwrap();
    let job = app.wait_finished(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    check("get", "/api/v1/jobs/{id}", 200, &job);
    let (status, error) = app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 409);
    check("post", "/api/v1/jobs/{id}/cancel", status, &error);
    let (status, jobs) = app.get("/api/v1/jobs").await;
    check("get", "/api/v1/jobs", status, &jobs);
    let (status, metrics) = app.get(&format!("/api/v1/jobs/{id}/metrics")).await;
    assert!(!metrics["epochs"].as_array().unwrap().is_empty());
    check("get", "/api/v1/jobs/{id}/metrics", status, &metrics);

    let model_id = job["result"]["model_id"].as_str().unwrap();
    let (status, model) = app.get(&format!("/api/v1/models/{model_id}")).await;
    check("get", "/api/v1/models/{id}", status, &model);
    let (status, models) = app.get("/api/v1/models").await;
    check("get", "/api/v1/models", status, &models);
    let predict = json!({"inputs": [[0, 1], [1, 1]]});
    assert_fits(
        &doc,
        &request_schema("post", "/api/v1/models/{id}/predict"),
        &predict,
        "a prediction request",
    );
    let (status, predictions) = app.predict(model_id, &predict).await;
    check("post", "/api/v1/models/{id}/predict", status, &predictions);

    let (status, metadata) = app.get(&format!("/v2/models/{model_id}")).await;
    check("get", "/v2/models/{name}", status, &metadata);
    let (status, server) = app.get("/v2").await;
    check("get", "/v2", status, &server);
    let infer = json!({"id": "a", "inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32",
                                             "data": [[0, 1], [1, 1]]}]});
    assert_fits(
        &doc,
        &request_schema("post", "/v2/models/{name}/infer"),
        &infer,
        "an infer request",
    );
    let (status, answer) = app.post_json(&format!("/v2/models/{model_id}/infer"), &infer).await;
    check("post", "/v2/models/{name}/infer", status, &answer);
}
