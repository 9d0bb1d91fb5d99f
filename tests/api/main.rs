//! HTTP API tests against the real application (port 0, temp-file SQLite).

mod helpers;

mod bad_requests;
mod concurrency;
mod hardening;
mod import;
mod jobs;
mod lecture;
mod lifecycle;
mod limits;
mod openapi;
mod postgres;
mod predictions;
mod restart;
mod v2;
