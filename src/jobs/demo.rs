//! The demo model: on a first start there is no MNIST model for the draw-a-digit page, so
//! one is trained right away, with augmentation so that it reads drawn digits well.

use serde_json::json;
use sqlx::SqlitePool;

use crate::store;
use crate::train::JobSpec;

/// A W1-sized network with mild augmentation: ~98% on MNIST in well under a minute on
/// two cores, and robust to the shifts and slants of digits drawn with a mouse.
pub fn demo_spec() -> JobSpec {
    serde_json::from_value(json!({
        "dataset": "mnist",
        "hidden_layers": [256, 128],
        "dropout": 0.1,
        "learning_rate": 0.002,
        "lr_schedule": {"kind": "cosine", "min_lr": 0.0},
        "epochs": 8,
        "augment": {"max_shift_px": 2, "max_rotation_deg": 12, "max_scale": 0.12, "max_shear_deg": 8},
        "validation_split": 0.05,
        "seed": 1
    }))
    .expect("the demo spec is a valid JobSpec")
}

/// Queues the demo job unless an MNIST model exists or an MNIST job is already under way.
/// Returns the job id when one was queued.
pub async fn ensure_demo_job(pool: &SqlitePool) -> anyhow::Result<Option<String>> {
    let models: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM models WHERE dataset = 'mnist'")
        .fetch_one(pool)
        .await?;
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE dataset = 'mnist' AND status IN ('queued', 'running')")
            .fetch_one(pool)
            .await?;
    if models > 0 || pending > 0 {
        return Ok(None);
    }
    let spec = demo_spec();
    spec.validate().map_err(|e| anyhow::anyhow!("demo spec: {e}"))?;
    let id = uuid::Uuid::now_v7().to_string();
    store::jobs::insert(
        pool,
        &id,
        &serde_json::to_string(&spec)?,
        &spec.dataset,
        spec.epochs as i64,
    )
    .await?;
    Ok(Some(id))
}
