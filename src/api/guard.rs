//! What guards the routes that change something (submit, cancel, delete, import): the
//! bearer token when the server has one, and no cross-site writes. A web page elsewhere can
//! make a browser send "simple" requests to this server (a form post or a `text/plain`
//! fetch, no preflight) with the user's network position; so these routes take only
//! `application/json` (or `multipart/form-data` where documented) and refuse a foreign
//! `Origin`. All of it runs before the handler (a route layer that `api::writes` puts on
//! exactly these routes), so a refused request writes nothing.

use std::sync::Arc;

use axum::Extension;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::check_token;
use super::{AppError, Body};
use crate::config::Config;

/// What the guard needs of the configuration (an extension on every request).
#[derive(Debug, Clone)]
pub struct WritePolicy {
    pub api_token: Option<String>,
    pub cors_origins: Vec<String>,
}

impl WritePolicy {
    pub fn new(config: &Config) -> Self {
        WritePolicy {
            // An empty token (an unset variable passed through) is no token.
            api_token: config.api_token.clone().filter(|t| !t.trim().is_empty()),
            cors_origins: config.cors_origins.clone(),
        }
    }
}

/// The token (401), then the origin (403), then the body's type (415).
pub async fn protect(Extension(policy): Extension<Arc<WritePolicy>>, body: Body, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let checked = check_token(headers, policy.api_token.as_deref())
        .and_then(|()| check_origin(headers, &policy.cors_origins))
        .and_then(|()| check_content_type(headers, body == Body::Multipart));
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
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
