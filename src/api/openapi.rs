//! The OpenAPI 3.1 document of the whole HTTP API, served at `GET /api/v1/openapi.json`.
//!
//! How it is built: every handler carries a `#[utoipa::path(...)]` attribute (method, full
//! path, parameters, request body, every response it can give with its schema) and every
//! request/response type derives `utoipa::ToSchema` — the types the handlers actually
//! serialize, so a schema cannot drift from the JSON sent. `ApiDoc` below lists the handlers
//! (`#[derive(OpenApi)]`); the modifiers add the bearer security scheme and the 408 answer of
//! the request timeout.
//!
//! Why a derived doc beside the plain axum routers rather than utoipa-axum's `OpenApiRouter`:
//! the router keeps its shape (two routers with different timeouts, a static-file fallback,
//! middleware), and the routes stay greppable `.route("/full/path", ...)` calls. That a
//! handler missing here cannot go unnoticed is the job of `tests/api/openapi.rs`: it reads
//! every `.route(` of `src/api/*.rs` and compares them with `routes()` (the document's
//! method and path pairs), and calls each documented operation on a live server to check
//! that the router answers it (neither 405 nor the static fallback page).
//!
//! Errors: every 4xx/5xx a handler can give is listed with the reusable `ErrorBody` schema
//! (`{"error":{"code","message","field"}}`, rendered by `AppError` from the same types). The
//! exceptions are documented as they are: `/readyz` and `/v2/health/ready` answer 503 with
//! their status body, and a request timeout is a 408 with an empty body.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{HttpMethod, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorCode, ErrorDetail};
use super::{AppState, datasets, evaluation, experiments, health, import, jobs, models, predict, telemetry, v2};
use crate::train::{EpochMetrics, StepLoss};

/// The path of this document.
pub const PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nnlab",
        description = "Train and serve small neural networks: submit training jobs, follow their \
            progress and loss history, and get predictions from the trained models (natively or \
            through the KServe V2 / Open Inference Protocol).\n\n\
            Errors are `{\"error\":{\"code\",\"message\",\"field\"}}` (`ErrorBody`): malformed JSON \
            400, unknown field or bad value 422 naming the `field`, unknown id 404, conflict 409, \
            body too large 413, queue full 429 with `Retry-After`, missing or bad token 401. \
            Creating and cancelling jobs and importing models need `Authorization: Bearer <token>` \
            when the server is configured with a token; every other route is open. Requests other \
            than event streams time out with an empty 408."
    ),
    paths(
        health::get_health,
        health::get_ready,
        telemetry::get_metrics,
        datasets::list_all,
        datasets::sample,
        jobs::create_job,
        jobs::list_jobs,
        jobs::get_job,
        jobs::cancel_job,
        jobs::delete_job,
        jobs::get_metrics,
        jobs::stream_events,
        models::list_models,
        import::import_model,
        models::get_model,
        models::delete_model,
        models::get_weights,
        evaluation::get_evaluation,
        predict::predict,
        experiments::truth_table,
        experiments::histograms,
        v2::get_server_metadata,
        v2::get_live,
        v2::get_ready,
        v2::get_model_metadata,
        v2::get_model_version_metadata,
        v2::get_model_ready,
        v2::get_model_version_ready,
        v2::infer,
        v2::infer_version,
        get_openapi,
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode, crate::jobs::JobStatus, EpochMetrics, StepLoss, v2::TensorData)),
    modifiers(&BearerScheme, &RequestTimeout, &CrossSiteGuard),
    tags(
        (name = "health", description = "Liveness, readiness, Prometheus metrics"),
        (name = "datasets", description = "What jobs can train on"),
        (name = "jobs", description = "Training jobs: submit, follow, cancel, loss history"),
        (name = "models", description = "Trained and imported models: weights, evaluation, predictions"),
        (name = "experiments", description = "The lecture's small synchronous experiments"),
        (name = "v2", description = "Open Inference Protocol (KServe V2), REST"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// `bearer`: the token of the routes that change things (when the server has one).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        http.description =
            Some("The server's API token (`--api-token`); needed only when the server is configured with one".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// Every route but the event stream runs under the request timeout: a 408 with no body.
struct RequestTimeout;

impl Modify for RequestTimeout {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path == "/api/v1/jobs/{id}/events" {
                continue;
            }
            for op in operations_mut(item) {
                op.responses.responses.insert(
                    "408".into(),
                    ResponseBuilder::new()
                        .description("The request took longer than the server's request timeout (empty body)")
                        .build()
                        .into(),
                );
            }
        }
    }
}

/// The routes that change things (those with bearer security) pass the cross-site guard
/// (`guard.rs`) first: a foreign `Origin` is a 403, a body that is not JSON (multipart for the
/// import) a 415.
struct CrossSiteGuard;

impl Modify for CrossSiteGuard {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for op in operations_mut(item) {
                let secured = op.security.as_ref().is_some_and(|reqs| !reqs.is_empty());
                if !secured {
                    continue;
                }
                let responses = &mut op.responses.responses;
                responses.insert("403".into(), error("A cross-site request (a foreign `Origin`)").into());
                responses.insert(
                    "415".into(),
                    error("A body that is not `application/json` (`multipart/form-data` for an import)").into(),
                );
            }
        }
    }
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);
    &DOC
}

/// The (METHOD, path) of every documented operation, e.g. `("POST", "/api/v1/jobs")`, sorted.
pub fn routes() -> Vec<(String, String)> {
    let methods = [
        (HttpMethod::Get, "GET"),
        (HttpMethod::Put, "PUT"),
        (HttpMethod::Post, "POST"),
        (HttpMethod::Delete, "DELETE"),
        (HttpMethod::Options, "OPTIONS"),
        (HttpMethod::Head, "HEAD"),
        (HttpMethod::Patch, "PATCH"),
        (HttpMethod::Trace, "TRACE"),
    ];
    let mut routes = Vec::new();
    for path in document().paths.paths.keys() {
        for (method, name) in &methods {
            if document().paths.get_path_operation(path, method.clone()).is_some() {
                routes.push((name.to_string(), path.clone()));
            }
        }
    }
    routes.sort();
    routes
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(get_openapi))
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub(crate) async fn get_openapi() -> Response {
    static JSON: LazyLock<String> =
        LazyLock::new(|| serde_json::to_string(document()).expect("the document serialises"));
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str()).into_response()
}
