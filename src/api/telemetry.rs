//! Prometheus text metrics at `/metrics`: jobs by status, queue depth, training throughput
//! and the latency of predictions.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::ApiRouter;
use super::error::ErrorBody;
use super::{AppError, AppState};
use crate::jobs::JobStatus;
use utoipa_axum::routes;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// The metrics the server keeps; gauges about jobs are refreshed at each scrape.
pub struct Telemetry {
    registry: Registry,
    jobs: Family<StatusLabel, Gauge>,
    queue_depth: Gauge,
    samples_per_second: Gauge<f64, AtomicU64>,
    blobs: Gauge,
    blob_bytes: Gauge,
    /// Seconds per prediction request (native and V2), from parsed body to answer.
    pub predict_seconds: Histogram,
}

impl Telemetry {
    pub fn new() -> Arc<Telemetry> {
        let mut registry = Registry::with_prefix("nnlab");
        let jobs = Family::<StatusLabel, Gauge>::default();
        registry.register("jobs", "Jobs by status", jobs.clone());
        let queue_depth = Gauge::default();
        registry.register("queue_depth", "Jobs waiting for a worker", queue_depth.clone());
        let samples_per_second = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "training_samples_per_second",
            "Training samples per second over the running jobs' latest epochs",
            samples_per_second.clone(),
        );
        let blobs = Gauge::default();
        registry.register("blobs", "Stored weight and checkpoint blobs (each once)", blobs.clone());
        let blob_bytes = Gauge::default();
        registry.register("blob_bytes", "Bytes of the stored blobs", blob_bytes.clone());
        // 50 us .. ~1.6 s.
        let predict_seconds = Histogram::new(exponential_buckets(5e-5, 2.0, 16));
        registry.register(
            "predict_seconds",
            "Latency of prediction requests",
            predict_seconds.clone(),
        );
        Arc::new(Telemetry {
            registry,
            jobs,
            queue_depth,
            samples_per_second,
            blobs,
            blob_bytes,
            predict_seconds,
        })
    }
}

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(get_metrics))
}

/// Prometheus metrics (OpenMetrics text).
///
/// `nnlab_jobs{status}`, `nnlab_queue_depth`, `nnlab_training_samples_per_second`,
/// `nnlab_blobs`, `nnlab_blob_bytes`, `nnlab_predict_seconds` (histogram).
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "get_prometheus_metrics",
    responses(
        (status = 200, description = "The metrics", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn get_metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let t = &state.telemetry;
    for &status in JobStatus::ALL {
        let n = state.store.count_jobs(status).await?;
        t.jobs
            .get_or_create(&StatusLabel {
                status: status.to_string(),
            })
            .set(n);
        if status == JobStatus::Queued {
            t.queue_depth.set(n);
        }
    }
    t.samples_per_second.set(state.jobs.training_samples_per_second());
    let usage = state.store.blob_usage().await?;
    t.blobs.set(usage.count);
    t.blob_bytes.set(usage.bytes);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &t.registry)
        .map_err(|e| anyhow::anyhow!("encoding metrics: {e}"))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
