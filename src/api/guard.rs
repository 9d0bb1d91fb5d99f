//! No cross-site writes. A web page elsewhere can make a browser send "simple" requests to
//! this server (a form post or a `text/plain` fetch, no preflight) with the user's network
//! position; so every route that changes something takes only `application/json` (or
//! `multipart/form-data` where documented) and refuses a foreign `Origin`. Both checks run
//! before the handler, so a refused request writes nothing.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::is_mutating;
use super::{AppError, AppState};

/// The routes that take a multipart body (a model import).
fn takes_multipart(method: &Method, path: &str) -> bool {
    method == Method::POST && path.trim_end_matches('/') == "/api/v1/models"
}

pub async fn refuse_cross_site_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method(), req.uri().path());
    if is_mutating(method, path) {
        if let Err(e) = check_origin(req.headers(), &state.config.cors_origins) {
            return e.into_response();
        }
        if let Err(e) = check_content_type(req.headers(), takes_multipart(method, path)) {
            return e.into_response();
        }
    }
    next.run(req).await
}

/// An `Origin` header, when present, must be this server's own (same host as `Host`) or a
/// configured CORS origin. Clients that are not browsers send none.
fn check_origin(headers: &HeaderMap, cors_origins: &[String]) -> Result<(), AppError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let own = !host.is_empty()
        && origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host));
    let configured = cors_origins
        .iter()
        .any(|o| o == "*" || o.trim().trim_end_matches('/').eq_ignore_ascii_case(origin));
    if own || configured {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "a cross-site request: this origin may not change anything here (see --cors-origins)".into(),
        ))
    }
}

/// A body must be declared JSON (or multipart where the route takes it); a request without a
/// body (a cancel, a delete) may omit the type.
fn check_content_type(headers: &HeaderMap, multipart: bool) -> Result<(), AppError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|n| n.trim() != "0");
    let expected = if multipart {
        "multipart/form-data"
    } else {
        "application/json"
    };
    match media_type.as_deref() {
        None if !has_body => Ok(()),
        Some(t) if t == expected => Ok(()),
        other => Err(AppError::UnsupportedMediaType(format!(
            "this route takes {expected}, not {}",
            other.unwrap_or("a body without a Content-Type")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_servers_own_origin_and_configured_ones_pass_and_others_are_refused() {
        let own = headers(&[("host", "localhost:8080"), ("origin", "http://localhost:8080")]);
        assert!(check_origin(&own, &[]).is_ok());
        let foreign = headers(&[("host", "localhost:8080"), ("origin", "http://evil.example")]);
        assert!(matches!(check_origin(&foreign, &[]), Err(AppError::Forbidden(_))));
        assert!(check_origin(&foreign, &["http://evil.example".into()]).is_ok());
        assert!(check_origin(&foreign, &["*".into()]).is_ok());
        // A look-alike host on another port is another origin.
        let port = headers(&[("host", "localhost:8080"), ("origin", "http://localhost:9999")]);
        assert!(check_origin(&port, &[]).is_err());
        assert!(
            check_origin(&headers(&[("host", "localhost:8080")]), &[]).is_ok(),
            "no Origin: not a browser"
        );
    }

    #[test]
    fn only_json_bodies_pass_and_a_bodiless_request_may_omit_the_type() {
        let json = headers(&[
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "2"),
        ]);
        assert!(check_content_type(&json, false).is_ok());
        let text = headers(&[("content-type", "text/plain"), ("content-length", "2")]);
        assert!(matches!(
            check_content_type(&text, false),
            Err(AppError::UnsupportedMediaType(_))
        ));
        let form = headers(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "2"),
        ]);
        assert!(check_content_type(&form, false).is_err());
        let untyped = headers(&[("content-length", "2")]);
        assert!(check_content_type(&untyped, false).is_err());
        assert!(check_content_type(&headers(&[("content-length", "0")]), false).is_ok());
        assert!(check_content_type(&HeaderMap::new(), false).is_ok());
        let multipart = headers(&[
            ("content-type", "multipart/form-data; boundary=x"),
            ("content-length", "9"),
        ]);
        assert!(check_content_type(&multipart, true).is_ok());
        assert!(check_content_type(&multipart, false).is_err());
    }
}
