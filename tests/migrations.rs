//! Upgrading keeps the data: a database written before the one-row-per-epoch history
//! (migration 6) reads back, after the upgrade, exactly as its name/value rows said; weights
//! and checkpoints written before blobs keep their bytes.

use std::borrow::Cow;

use serde_json::json;
use sqlx::SqlitePool;

#[path = "support/postgres.rs"]
mod postgres;

async fn migrate(pool: &SqlitePool, up_to: usize) {
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite"
    )))
    .await
    .unwrap();
    migrator.migrations = Cow::Owned(migrator.migrations[..up_to].to_vec());
    migrator.run(pool).await.unwrap();
}

#[tokio::test]
async fn name_value_metrics_become_one_row_per_epoch_with_their_fold_and_layer_order() {
    let dir = tempfile::tempdir().unwrap();
    let pool = SqlitePool::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("db").display()))
        .await
        .unwrap();
    migrate(&pool, 5).await;
    for (id, spec) in [
        ("plain", json!({"epochs": 2})),
        ("kfold", json!({"epochs": 2, "k_folds": 2})),
    ] {
        sqlx::query("INSERT INTO jobs (id, status, spec, dataset, created_at, epochs_total) VALUES (?, 'succeeded', ?, 'xor', 'x', 4)")
            .bind(id)
            .bind(spec.to_string())
            .execute(&pool)
            .await
            .unwrap();
    }
    let point = |job: &str, fold: i64, epoch: i64, name: String, value: f64| {
        sqlx::query("INSERT INTO epoch_metrics (job_id, fold, epoch, name, value) VALUES (?, ?, ?, ?, ?)")
            .bind(job.to_string())
            .bind(fold)
            .bind(epoch)
            .bind(name)
            .bind(value)
    };
    for epoch in 1..=2 {
        point("plain", 0, epoch, "train_loss".into(), 1.0 / epoch as f64)
            .execute(&pool)
            .await
            .unwrap();
        // Twelve layers: "grad_norm.10" must come after "grad_norm.9".
        for layer in 0..12 {
            point("plain", 0, epoch, format!("grad_norm.{layer}"), layer as f64)
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    for fold in 1..=2 {
        for epoch in 1..=2 {
            point("kfold", fold, epoch, "val_accuracy".into(), (fold * 10 + epoch) as f64)
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    migrate(&pool, nnlab::store::sqlite::MIGRATOR.iter().count()).await;

    let plain = nnlab::store::sqlite::metrics::epochs_since(&pool, "plain", 0)
        .await
        .unwrap();
    assert_eq!(plain.len(), 2);
    assert_eq!(plain[1].epochs_done, 2);
    assert_eq!(plain[1].train_loss, Some(0.5));
    assert_eq!(plain[1].val_loss, None);
    let layers: Vec<Option<f64>> = (0..12).map(|l| Some(l as f64)).collect();
    assert_eq!(plain[0].grad_norms, layers);
    let kfold = nnlab::store::sqlite::metrics::epochs_since(&pool, "kfold", 0)
        .await
        .unwrap();
    let keys: Vec<(i64, Option<i64>, i64, Option<f64>)> = kfold
        .iter()
        .map(|r| (r.epochs_done, r.fold, r.epoch, r.val_accuracy))
        .collect();
    assert_eq!(
        keys,
        [
            (1, Some(1), 1, Some(11.0)),
            (2, Some(1), 2, Some(12.0)),
            (3, Some(2), 1, Some(21.0)),
            (4, Some(2), 2, Some(22.0))
        ]
    );
}

/// A model and a checkpoint written before blobs (migration 7) keep their bytes: moved into
/// the blob table under their SHA-256 when the server opens the database.
#[tokio::test]
async fn sqlite_weights_and_checkpoints_move_into_blobs_keyed_by_their_digest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let pool = SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    migrate(&pool, 6).await;
    insert_before_blobs(&pool).await;
    pool.close().await;

    let store = nnlab::store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_kept(&*store).await;
}

/// The same upgrade on PostgreSQL, where the migration computes the digests itself.
#[tokio::test]
async fn postgres_weights_and_checkpoints_move_into_blobs_keyed_by_their_digest() {
    let Some(url) = postgres::fresh_database().await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/postgres"
    )))
    .await
    .unwrap();
    migrator.migrations = Cow::Owned(migrator.migrations[..1].to_vec());
    migrator.run(&pool).await.unwrap();
    insert_before_blobs(&pool).await;
    pool.close().await;

    let store = nnlab::store::connect(&url).await.unwrap();
    assert_kept(&*store).await;
}

const MODEL_BYTES: &[u8] = b"weights written by an older server";
const CHECKPOINT_BYTES: &[u8] = b"a checkpoint written by an older server";

/// One running job with a checkpoint, and a model, in the schema before blobs (`$1` is a
/// placeholder for both databases).
async fn insert_before_blobs<DB: sqlx::Database>(pool: &sqlx::Pool<DB>)
where
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO jobs (id, status, spec, dataset, created_at, epochs_total) \
         VALUES ('j', 'running', '{}', 'xor', 'x', 4)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO checkpoints (job_id, epoch, step, blob) VALUES ('j', 1, 3, $1)")
        .bind(CHECKPOINT_BYTES)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO models (id, job_id, dataset, spec, weights, parameters, created_at) \
         VALUES ('m', NULL, 'xor', '{}', $1, 7, 'x')",
    )
    .bind(MODEL_BYTES)
    .execute(pool)
    .await
    .unwrap();
}

async fn assert_kept(store: &dyn nnlab::store::Store) {
    use nnlab::store::blobs::sha256_hex;
    assert_eq!(store.model_weights("m").await.unwrap().as_deref(), Some(MODEL_BYTES));
    assert_eq!(
        store.model("m").await.unwrap().unwrap().weights_sha256,
        sha256_hex(MODEL_BYTES)
    );
    assert_eq!(store.checkpoint("j").await.unwrap().as_deref(), Some(CHECKPOINT_BYTES));
    assert_eq!(store.blob_usage().await.unwrap().count, 2);
}
