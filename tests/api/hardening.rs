//! What a hostile client or a hostile web page cannot do: cross-site writes, half-sent
//! requests, decompression bombs; and the headers every response carries.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, spawn_app_with, xor_spec};

fn total_rows(counts: &[(String, i64)]) -> i64 {
    counts.iter().map(|(_, n)| n).sum()
}

#[tokio::test]
async fn a_cross_site_write_is_refused_before_anything_is_written() {
    let app = spawn_app().await;
    let spec = xor_spec(5).to_string();
    let post = |content_type: Option<&'static str>, origin: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/v1/jobs")).body(spec.clone());
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    // A form or a text/plain fetch from any page needs no preflight: refused by type.
    for t in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
        None,
    ] {
        let r = post(t, None).await.unwrap();
        assert_eq!(r.status(), 415, "{t:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unsupported_media_type");
    }
    // JSON from a foreign page: refused by origin.
    let r = post(Some("application/json"), Some("http://evil.example"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(app.url("/api/v1/jobs/anything/cancel"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a bodiless cross-site cancel");
    assert_eq!(total_rows(&app.table_counts().await), 0, "nothing was written");
    // The page itself (same origin) and non-browser clients (no Origin) are served.
    let own = app.address.clone();
    let r = app
        .client
        .post(app.url("/api/v1/jobs"))
        .header("content-type", "application/json")
        .header("origin", own)
        .body(spec.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(post(Some("application/json"), None).await.unwrap().status(), 202);
}

#[tokio::test]
async fn a_configured_cors_origin_may_write() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["http://lab.example".into()]).await;
    let r = app
        .client
        .post(app.url("/api/v1/jobs"))
        .header("origin", "http://lab.example")
        .json(&xor_spec(2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_large_ones_are_compressed() {
    let app = spawn_app().await;
    for path in ["/", "/js/app.js", "/api/v1/datasets", "/api/v1/jobs/nope"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
    }
    let r = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let compressed = r.bytes().await.unwrap().len();
    let plain = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap().len();
    assert!(compressed * 3 < plain, "gzip {compressed} bytes vs {plain}");
}

#[tokio::test]
async fn a_half_sent_request_is_dropped_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.limits.header_timeout_secs = 1).await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut conns = Vec::new();
    for _ in 0..5 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        conns.push(s);
    }
    let started = Instant::now();
    for mut s in conns {
        let mut buf = Vec::new();
        // The server answers 408 or just closes; either way the read ends.
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the half-sent request was still open after 10 s");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // The server still answers whole requests.
    assert_eq!(app.get("/healthz").await.0, 200);
}

/// A PNG whose header declares `w` x `h` pixels with almost no pixel data: the header alone
/// must be enough to refuse it.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend(kind);
        png.extend(data);
        png.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(b"IHDR", &ihdr);
    // The first row of pixels only (a decoder reads the header up to the first IDAT).
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &[0u8; 64]).unwrap();
    chunk(b"IDAT", &z.finish().unwrap());
    chunk(b"IEND", &[]);
    png
}

#[tokio::test]
async fn a_png_declaring_a_huge_image_is_refused_from_its_header() {
    use base64::Engine;
    let app = spawn_app().await;
    let id = app
        .submit(&json!({"dataset": "mnist", "hidden_layers": [8], "epochs": 1, "train_samples": 500}))
        .await;
    let model = app.wait_finished(&id).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let png = base64::engine::general_purpose::STANDARD.encode(png_header_only(20_000, 20_000));
    let (status, body) = app.predict(&model, &json!({"png_base64": png})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "png_base64");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("20000x20000"),
        "{body}"
    );
}

#[tokio::test]
async fn huge_bodies_of_tiny_rows_are_refused_at_the_row_cap_and_ignored_parameters_cost_nothing() {
    let app = spawn_app().await;
    let id = app.submit(&xor_spec(20)).await;
    let model = app.wait_finished(&id).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    // ~15 MiB of one-value rows: refused when the 10,001st row starts, with the field named.
    let body = format!("{{\"inputs\":[{}[0]]}}", "[0],".repeat(15 << 18));
    let (status, out) = app.post_raw(&format!("/api/v1/models/{model}/predict"), body).await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["error"]["field"], "inputs", "{out}");
    assert!(
        out["error"]["message"].as_str().unwrap().contains("at most 10000 rows"),
        "{out}"
    );
    let body = format!("{{\"images\":[[{}[0]]]}}", "[0],".repeat(4096));
    let (status, out) = app.post_raw(&format!("/api/v1/models/{model}/predict"), body).await;
    assert_eq!(status, 422, "{out}");
    assert!(out["error"]["field"].as_str().unwrap().starts_with("images"), "{out}");
    // ~15 MiB of V2 parameters: skipped while parsing, the inference is answered.
    let filler = "x".repeat(1 << 20);
    let parameters: serde_json::Map<String, Value> = (0..15).map(|i| (format!("k{i}"), json!(filler))).collect();
    let body = json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]}],
                      "parameters": parameters});
    let (status, out) = app.post_json(&format!("/v2/models/{model}/infer"), &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outputs"][1]["data"], json!([1]));
}

#[tokio::test]
async fn event_streams_past_the_cap_get_429_and_a_closed_one_frees_its_place() {
    let app = spawn_app_with(|c| c.limits.max_event_streams = 2).await;
    let id = app.submit(&crate::helpers::long_spec()).await;
    let open = || app.client.get(app.url(&format!("/api/v1/jobs/{id}/events"))).send();
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let third = open().await.unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    drop(first);
    // The server notices the closed stream when it next writes to it (an event or a keep-alive).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let again = open().await.unwrap();
        if again.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the closed stream's place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &Value::Null).await;
}

#[tokio::test]
async fn heavy_requests_past_the_admission_limit_get_503_with_retry_after_and_run_again_after() {
    let app = spawn_app_with(|c| c.limits.max_heavy_requests = 1).await;
    // A wide layer, so that each evaluation holds the permit for a while (~16 GFLOP).
    let id = app
        .submit(&json!({"dataset": "mnist", "hidden_layers": [1024], "epochs": 1, "train_samples": 500}))
        .await;
    let model = app.wait_finished(&id).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Each evaluates the 10,000 test images, holding the one permit meanwhile.
    let url = app.url(&format!("/api/v1/models/{model}/evaluation"));
    let calls = (0..8).map(|_| {
        let (client, url) = (app.client.clone(), url.clone());
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.headers().contains_key("retry-after"))
        }
    });
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 503), "{answers:?}");
    assert!(answers.iter().any(|(s, _)| *s == 200), "{answers:?}");
    assert!(answers.iter().any(|(s, retry)| *s == 503 && *retry), "{answers:?}");
    assert_eq!(
        app.get(&format!("/api/v1/models/{model}/evaluation")).await.0,
        200,
        "the permit came back"
    );
}

/// A short burst of heavy requests (drawn digits) waits its turn for the one permit rather
/// than being refused: the line holds four per permit.
#[tokio::test]
async fn a_short_burst_of_drawings_waits_for_the_permit_instead_of_being_refused() {
    let app = spawn_app_with(|c| c.limits.max_heavy_requests = 1).await;
    let id = app
        .submit(&json!({"dataset": "mnist", "hidden_layers": [16], "epochs": 1, "train_samples": 500}))
        .await;
    let model = app.wait_finished(&id).await["result"]["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (rows, _) = crate::predictions::test_digits(1);
    let png = crate::predictions::render_png(&rows[0]);
    let url = app.url(&format!("/api/v1/models/{model}/predict"));
    for _ in 0..3 {
        let calls = (0..4).map(|_| {
            let (client, url, png) = (app.client.clone(), url.clone(), png.clone());
            async move {
                client
                    .post(url)
                    .json(&json!({ "png_base64": png }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        });
        let answers = futures::future::join_all(calls).await;
        assert_eq!(answers, vec![200; 4]);
    }
}
