//! The stores the conformance suite runs against, each fresh and empty.

use std::sync::Arc;

use nnlab::store::{self, Store};

#[path = "../support/postgres.rs"]
mod postgres;

/// A fresh store and what keeps it alive.
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

/// Every backend available here, each with an empty database.
pub async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = store::connect(&format!("sqlite://{}", dir.path().join("db").display()))
        .await
        .unwrap();
    let mut all = vec![Backend {
        name: "sqlite",
        store: sqlite,
        _dir: Some(dir),
    }];
    if let Some(url) = postgres::fresh_database().await {
        all.push(Backend {
            name: "postgres",
            store: store::connect(&url).await.unwrap(),
            _dir: None,
        });
    }
    all
}
