//! The one error type of the HTTP boundary and the JSON extractor that produces it.
//!
//! Every error renders as `{"error":{"code","message","field"}}`; this is the only place
//! status codes are chosen. Internal causes are logged, never sent.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The body of every 4xx/5xx answer: `{"error":{"code","message","field"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// The field at fault, when one is (its path, e.g. `augment.max_scale` or `inputs[0][3]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What went wrong, for people.
    pub message: String,
}

/// The machine-readable kind of an error; each goes with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    MalformedJson,
    /// 422: a field is missing, unknown or has a bad value.
    InvalidRequest,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 413.
    PayloadTooLarge,
    /// 401.
    Unauthorized,
    /// 429.
    TooManyRequests,
    /// 403: a cross-site write.
    Forbidden,
    /// 415: a body that is not JSON (or multipart where documented).
    UnsupportedMediaType,
    /// 503: the server is busy; try again after `Retry-After`.
    Busy,
    /// 500.
    Internal,
}

fn error_body(code: ErrorCode, message: String, field: Option<String>) -> axum::Json<ErrorBody> {
    axum::Json(ErrorBody {
        error: ErrorDetail { code, message, field },
    })
}

#[derive(Debug)]
pub enum AppError {
    /// 400: the body is not JSON.
    Malformed(String),
    /// 422: a field is missing, unknown or has a bad value.
    Invalid { field: Option<String>, message: String },
    /// 404.
    NotFound(String),
    /// 409: e.g. cancelling a finished job.
    Conflict(String),
    /// 413.
    TooLarge(String),
    /// 401: a mutating route without the server's bearer token.
    Unauthorized,
    /// 429 with `Retry-After` seconds.
    TooManyRequests { message: String, retry_after: u64 },
    /// 503 with `Retry-After` seconds: an admission limit is full.
    Busy { message: String, retry_after: u64 },
    /// 403: a mutating request from a foreign origin.
    Forbidden(String),
    /// 415.
    UnsupportedMediaType(String),
    /// 500: logged, reported without details.
    Internal(anyhow::Error),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        AppError::NotFound(format!("no {what} with id {id}"))
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<crate::models::ServeError> for AppError {
    fn from(e: crate::models::ServeError) -> Self {
        use crate::models::ServeError;
        match e {
            ServeError::NotFound(id) => AppError::not_found("model", &id),
            ServeError::Invalid { field, message } => AppError::Invalid { field, message },
            ServeError::Busy => AppError::Busy {
                message: ServeError::Busy.to_string(),
                retry_after: 1,
            },
            ServeError::Internal(e) => AppError::Internal(e),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = match self {
            AppError::Malformed(m) => (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, m, None),
            AppError::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                message,
                field,
            ),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, ErrorCode::NotFound, m, None),
            AppError::Conflict(m) => (StatusCode::CONFLICT, ErrorCode::Conflict, m, None),
            AppError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, m, None),
            AppError::Unauthorized => {
                let body = error_body(
                    ErrorCode::Unauthorized,
                    "this route needs Authorization: Bearer <token>".into(),
                    None,
                );
                return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
            }
            AppError::TooManyRequests { message, retry_after } => {
                let body = error_body(ErrorCode::TooManyRequests, message, None);
                let retry = [(header::RETRY_AFTER, retry_after.to_string())];
                return (StatusCode::TOO_MANY_REQUESTS, retry, body).into_response();
            }
            AppError::Busy { message, retry_after } => {
                let body = error_body(ErrorCode::Busy, message, None);
                let retry = [(header::RETRY_AFTER, retry_after.to_string())];
                return (StatusCode::SERVICE_UNAVAILABLE, retry, body).into_response();
            }
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden, m, None),
            AppError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                m,
                None,
            ),
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal server error".to_string(),
                    None,
                )
            }
        };
        (status, error_body(code, message, field)).into_response()
    }
}

/// A JSON body parsed so that every failure has our error shape: syntax errors are 400,
/// type errors and unknown fields 422 naming the field (its path, e.g. `augment.max_scale`
/// or `inputs[0][3]`).
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json(&body_bytes(req, state).await?).map(AppJson)
    }
}

/// A request's body, with our error shape for one too large or cut short.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge("request body too large".into())
        } else {
            AppError::Malformed(rejection.body_text())
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Every body is an object: serde would otherwise fill a struct from an array, field by
    // field in order, and accept `["xor"]` as a JobSpec.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => AppError::Invalid {
                field: None,
                message: "the body must be a JSON object".into(),
            },
            Err(e) => AppError::Malformed(format!("malformed JSON: {e}")),
        });
    }
    // The fast path: most bodies are valid, and tracking the path of every element costs
    // (a 784-pixel predict body parses ~2x slower with it). Only a failure is parsed again
    // with path tracking, to name the field at fault.
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                // For an unknown field the path already ends with its name; for a missing
                // one it is the enclosing object's path.
                let field = match (unknown_field(&message), missing_field(&message)) {
                    (Some(name), _) if path == "." => name.to_string(),
                    (_, Some(name)) if path == "." => name.to_string(),
                    (_, Some(name)) => format!("{path}.{name}"),
                    _ if path == "." => String::new(),
                    _ => path,
                };
                AppError::Invalid {
                    field: (!field.is_empty()).then_some(field),
                    message: strip_position(&message),
                }
            }
            _ => AppError::Malformed(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| AppError::Malformed(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// JSON numbers as f32, each finite (a value beyond f32's range becomes infinite and is
/// refused), or a 422 naming the element, e.g. `inputs[0][3]`.
pub fn finite_f32s(values: &[f64], field: &str) -> Result<Vec<f32>, AppError> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = v as f32;
            if f.is_finite() {
                Ok(f)
            } else {
                Err(AppError::invalid(format!("{field}[{i}]"), "must be a finite number"))
            }
        })
        .collect()
}

/// The name in serde's "unknown field `name`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The name in serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
