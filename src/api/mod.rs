//! The HTTP API (see README / API.md): one module per resource, each with its `router()`.

pub mod datasets;
pub mod error;
pub mod evaluation;
pub mod experiments;
pub mod health;
pub mod import;
pub mod jobs;
pub mod models;
pub mod predict;
pub mod v2;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use lru::LruCache;
use sqlx::SqlitePool;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::jobs::Jobs;
use crate::nn::Network;

pub use error::{AppError, AppJson};

/// Largest request body: a drawn digit as PNG or a batch of ~1000 MNIST rows fits.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub jobs: Arc<Jobs>,
    pub data_dir: PathBuf,
    /// Loaded models for predictions, least recently used evicted first.
    pub models: Arc<Mutex<LruCache<String, Arc<Network>>>>,
}

impl AppState {
    pub fn new(pool: SqlitePool, jobs: Arc<Jobs>, data_dir: PathBuf, model_cache: usize) -> Self {
        let capacity = NonZeroUsize::new(model_cache.max(1)).expect("at least one");
        AppState {
            pool,
            jobs,
            data_dir,
            models: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }
}

pub fn router(state: AppState, static_dir: PathBuf) -> Router {
    let index = static_dir.join("index.html");
    let api = Router::new()
        .merge(datasets::router())
        .merge(jobs::router())
        .merge(models::router())
        .merge(evaluation::router())
        .merge(predict::router())
        .merge(experiments::router())
        .merge(import::router());
    Router::new()
        .merge(health::router())
        .merge(v2::router())
        .nest("/api/v1", api)
        .fallback_service(ServeDir::new(static_dir).fallback(ServeFile::new(index)))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
