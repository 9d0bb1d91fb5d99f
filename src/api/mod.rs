//! The HTTP API (see README / API.md): one module per resource, each with its `router()`
//! of full paths (`/api/v1/...`, `/v2/...`), and `openapi` documenting them all.

pub mod augment;
pub mod auth;
pub mod datasets;
pub mod drawings;
pub mod error;
pub mod evaluation;
pub mod events;
pub mod experiments;
pub mod forks;
pub mod graphs;
pub mod guard;
pub mod health;
pub mod import;
pub mod jobs;
pub mod models;
pub mod openapi;
pub mod png;
pub mod predict;
pub mod rows;
pub mod sweeps;
pub mod telemetry;
pub mod v2;

use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::{Extension, Router};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::jobs::Jobs;
use crate::models::Models;
use crate::store::Store;

pub use error::{AppError, AppJson};

/// Largest request body: a drawn digit as PNG or a batch of ~1000 MNIST rows fits.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Serializes a field through `serde_json::Value`, as the handlers' `json!` bodies did before
/// they were typed, so the bytes sent stay the same: f32 values widened to f64 (0.1f32 as
/// 0.10000000149011612) and object keys sorted. (The typed response structs list their own
/// fields in alphabetical order for the same reason.)
pub(crate) fn via_value<T: serde::Serialize, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    serde_json::to_value(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// What every handler can reach: one `Arc`, so that each request's extractor clones one
/// pointer rather than ten (the per-request atomic traffic showed in profiles).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub jobs: Arc<Jobs>,
    pub data_dir: PathBuf,
    pub config: Arc<Config>,
    pub telemetry: Arc<telemetry::Telemetry>,
    /// Model serving: load, cache, predict, evaluate.
    pub models: Arc<Models>,
    /// Permits for open event streams (`--max-event-streams`).
    pub streams: Arc<Semaphore>,
    /// Cancelled when the server shuts down: event streams end then.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, jobs: Arc<Jobs>, config: &Config, shutdown: CancellationToken) -> Self {
        let heavy = Arc::new(Semaphore::new(config.limits.max_heavy_requests.max(1)));
        AppState(Arc::new(Shared {
            store: Arc::clone(&store),
            jobs: Arc::clone(&jobs),
            data_dir: config.data_dir.clone(),
            config: Arc::new(config.clone()),
            telemetry: telemetry::Telemetry::new(),
            models: Arc::new(Models::new(
                store,
                jobs,
                config.model_cache,
                heavy,
                config.limits.max_drawings,
            )),
            streams: Arc::new(Semaphore::new(config.limits.max_event_streams)),
            shutdown,
        }))
    }

    /// Whether the database answers and its migrations are applied, within 2 s: a database
    /// that is down must make readiness say so, not hang it.
    pub async fn database_ready(&self) -> bool {
        match tokio::time::timeout(Duration::from_secs(2), self.store.ready()).await {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the database does not answer");
                false
            }
            Err(_) => {
                tracing::warn!("the database did not answer within 2 s");
                false
            }
        }
    }

    /// A permit to run a CPU-heavy request (`Models::admit`: a short, bounded wait), or a
    /// 503 with Retry-After.
    pub async fn admit_heavy(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        Ok(self.models.admit().await?)
    }
}

/// A resource's routes with their OpenAPI operations: each route is declared once, by its
/// handler's `#[utoipa::path]` (method, path, docs), and `writes` marks those that change
/// something.
pub type ApiRouter = OpenApiRouter<AppState>;

/// How the body of a route that changes something must be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Json,
    Multipart,
}

/// Marks these routes as changing something, in one place: the token and cross-site checks
/// (`guard`) run before them as a route layer (so on exactly these routes), and their
/// operations say so in the document (bearer security, 401, 403, 415).
pub fn writes(router: ApiRouter, body: Body) -> ApiRouter {
    let mut router = router.route_layer(axum::middleware::from_fn(
        move |policy: Extension<Arc<guard::WritePolicy>>, req: axum::extract::Request, next: axum::middleware::Next| {
            guard::protect(policy, body, req, next)
        },
    ));
    openapi::document_writes(router.get_openapi_mut(), body);
    router
}

/// Every route: those under the request timeout, and the event streams.
pub fn routes() -> (ApiRouter, ApiRouter) {
    let timed = ApiRouter::new()
        .merge(health::router())
        .merge(telemetry::router())
        .merge(v2::router())
        .merge(datasets::router())
        .merge(jobs::router())
        .merge(forks::router())
        .merge(sweeps::router())
        .merge(models::router())
        .merge(drawings::router())
        .merge(evaluation::router())
        .merge(predict::router())
        .merge(experiments::router())
        .merge(graphs::router())
        .merge(augment::router())
        .merge(import::router())
        .merge(openapi::router());
    // Event streams last as long as their job: no request timeout.
    (timed, events::router())
}

pub fn router(state: AppState) -> Router {
    let static_dir = state.config.static_dir.clone();
    let timeout = Duration::from_secs(state.config.limits.request_timeout_secs.max(1));
    let (timed, streams) = routes();
    let timed = Router::from(timed)
        .fallback_service(ServeDir::new(static_dir))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout));
    // Event streams last as long as their job: no timeout there.
    let app = timed
        .merge(Router::from(streams))
        .layer(Extension(Arc::new(guard::WritePolicy::new(&state.config))))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Event streams are not compressed (the predicate skips text/event-stream).
        .layer(CompressionLayer::new())
        .layer(security_headers())
        .layer(TraceLayer::new_for_http());
    let app = match cors_layer(&state.config.cors_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.with_state(state)
}

/// The page is a public demo: it loads nothing from elsewhere and may not be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The usual security headers, on every response.
fn security_headers() -> tower::layer::util::Stack<
    SetResponseHeaderLayer<HeaderValue>,
    tower::layer::util::Stack<SetResponseHeaderLayer<HeaderValue>, SetResponseHeaderLayer<HeaderValue>>,
> {
    let set = |name: header::HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    tower::layer::util::Stack::new(
        set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        tower::layer::util::Stack::new(
            set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            set(header::REFERRER_POLICY, "no-referrer"),
        ),
    )
}

/// CORS for the configured origins (`*` = any); none configured, no CORS headers.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]);
    if origins.iter().any(|o| o == "*") {
        return Some(layer.allow_origin(AllowOrigin::any()));
    }
    let parsed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    Some(layer.allow_origin(parsed))
}
