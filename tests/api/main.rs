//! HTTP API tests against the real application (port 0, a fresh database: temp-file
//! SQLite, or PostgreSQL with NNLAB_TEST_DATABASE=postgres).

mod helpers;

#[path = "../support/postgres.rs"]
mod cluster;

mod bad_requests;
mod concurrency;
mod drawings;
mod forks;
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
mod sweeps;
mod v2;
