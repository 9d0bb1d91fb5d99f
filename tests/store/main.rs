//! The storage conformance suite: the same tests, run against every backend (`backends.rs`):
//! SQLite always, PostgreSQL where a server can be started.

mod backends;
mod conformance;
