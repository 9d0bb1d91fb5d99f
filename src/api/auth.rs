//! Bearer-token auth for the routes that change things (those built with `api::writes`).
//! Reads and predictions stay open (the public demo page uses them); without a configured
//! token every route is open.

use axum::http::{HeaderMap, header};

use super::AppError;

/// Ok when the server has no token, or the request carries it.
pub fn check_token(headers: &HeaderMap, token: Option<&str>) -> Result<(), AppError> {
    let Some(token) = token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time comparison, so the token cannot be guessed byte by byte from timings.
    let ok = given.is_some_and(|g| {
        g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if ok { Ok(()) } else { Err(AppError::Unauthorized) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes_when_the_server_has_one() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            h
        };
        assert!(check_token(&HeaderMap::new(), None).is_ok());
        assert!(check_token(&with("Bearer s3cret"), Some("s3cret")).is_ok());
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "s3cret", "Basic s3cret"] {
            assert!(check_token(&with(wrong), Some("s3cret")).is_err(), "{wrong}");
        }
        assert!(check_token(&HeaderMap::new(), Some("s3cret")).is_err());
    }
}
