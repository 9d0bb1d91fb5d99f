//! Bearer-token auth for the routes that change things. Reads and predictions stay open
//! (the public demo page uses them); without a configured token every route is open.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};

/// Creating and cancelling jobs, importing models, and any DELETE.
pub fn is_mutating(method: &Method, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    match *method {
        Method::DELETE => true,
        Method::POST => {
            path == "/api/v1/jobs"
                || path == "/api/v1/models"
                || (path.starts_with("/api/v1/jobs/") && path.ends_with("/cancel"))
        }
        _ => false,
    }
}

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.config.api_token
        && is_mutating(req.method(), req.uri().path())
    {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Constant-time comparison, so the token cannot be guessed byte by byte from timings.
        let ok = given.is_some_and(|g| {
            g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        });
        if !ok {
            return AppError::Unauthorized.into_response();
        }
    }
    next.run(req).await
}
