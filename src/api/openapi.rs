//! The OpenAPI 3.1 document of the whole HTTP API, served at `GET /api/v1/openapi.json`.
//!
//! How it is built: every handler carries a `#[utoipa::path(...)]` attribute (method, full
//! path, parameters, request body, every response it can give with its schema) and every
//! request/response type derives `utoipa::ToSchema`: the types the handlers actually
//! serialize, so a schema cannot drift from the JSON sent. Each resource's router is a
//! utoipa-axum `OpenApiRouter` that registers a handler by that attribute (`routes!`), so a
//! route is declared once and the document is collected from the very routers the server
//! runs (`api::routes`). `api::writes` marks the routes that change something: their guard
//! and their documentation (bearer security, 401, 403, 415, see `document_writes`) come
//! from that one call. `ApiDoc` adds the info, tags, shared schemas and the bearer scheme;
//! the 408 of the request timeout is added to every route but the event stream.
//!
//! Errors: every 4xx/5xx a handler can give is listed with the reusable `ErrorBody` schema
//! (`{"error":{"code","message","field"}}`, rendered by `AppError` from the same types). The
//! exceptions are documented as they are: `/readyz` and `/v2/health/ready` answer 503 with
//! their status body, and a request timeout is a 408 with an empty body.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{HttpMethod, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Header, Object, Type};
use utoipa_axum::router::OpenApiRouter;

use super::ApiRouter;
use super::error::{ErrorBody, ErrorCode, ErrorDetail};
use super::v2;
use utoipa_axum::routes;

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
    components(schemas(ErrorBody, ErrorDetail, ErrorCode, crate::jobs::JobStatus, v2::TensorData)),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness, readiness, Prometheus metrics"),
        (name = "datasets", description = "What jobs can train on"),
        (name = "jobs", description = "Training jobs: submit, follow, cancel, loss history"),
        (name = "models", description = "Trained and imported models: weights, evaluation, predictions"),
        (name = "drawings", description = "Labelled drawings: an evaluation set of real handwriting, its export and leaderboard"),
        (name = "sweeps", description = "Hyperparameter sweeps: trials as jobs, early stopping with its evidence"),
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
        // Applied before the event stream's route joins the document (it has no timeout).
        for item in openapi.paths.paths.values_mut() {
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

/// Documents routes that change something (`api::writes`): bearer security when the server
/// has a token, and the guard's answers: 401 without it, 403 for a foreign `Origin`, 415 for
/// a body of another type.
pub fn document_writes(openapi: &mut utoipa::openapi::OpenApi, body: super::Body) {
    let error = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
    };
    let media = match body {
        super::Body::Json => "`application/json`",
        super::Body::Multipart => "`multipart/form-data`",
    };
    for item in openapi.paths.paths.values_mut() {
        for op in operations_mut(item) {
            op.security = Some(vec![
                SecurityRequirement::new("bearer", Vec::<String>::new()),
                SecurityRequirement::default(),
            ]);
            let responses = &mut op.responses.responses;
            let www_authenticate = Header::new(Object::with_type(Type::String));
            responses.insert(
                "401".into(),
                error("The server has a token and the request does not carry it")
                    .header("WWW-Authenticate", www_authenticate)
                    .build()
                    .into(),
            );
            responses.insert(
                "403".into(),
                error("A cross-site request (a foreign `Origin`)").build().into(),
            );
            responses.insert(
                "415".into(),
                error(&format!("A body that is not {media}")).build().into(),
            );
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
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let (timed, streams) = super::routes();
        let mut doc = OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(timed)
            .into_openapi();
        RequestTimeout.modify(&mut doc);
        // The event stream has no request timeout.
        doc.merge(streams.into_openapi());
        doc
    });
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

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(get_openapi))
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub(crate) async fn get_openapi() -> Response {
    static JSON: LazyLock<String> =
        LazyLock::new(|| serde_json::to_string(document()).expect("the document serialises"));
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str()).into_response()
}
