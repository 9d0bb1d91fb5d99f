//! The demo model: on a first start there is no MNIST model for the draw-a-digit page, so
//! one is trained right away, with augmentation so that it reads drawn digits well.

use serde_json::json;

use super::Jobs;
use crate::data::list_datasets;
use crate::train::{JobSpec, SpecLimits};

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
pub async fn ensure_demo_job(jobs: &Jobs, limits: &SpecLimits) -> anyhow::Result<Option<String>> {
    let store = jobs.store();
    if !store.models(Some("mnist")).await?.is_empty() || store.any_pending_for("mnist").await? {
        return Ok(None);
    }
    let data_dir = jobs.datasets().data_dir().to_path_buf();
    let info = tokio::task::spawn_blocking(move || list_datasets(&data_dir))
        .await?
        .into_iter()
        .find(|d| d.name == "mnist" && d.available)
        .ok_or_else(|| anyhow::anyhow!("the demo model needs MNIST, which is not installed"))?;
    let spec = demo_spec()
        .validate_for(limits, &info.shape())
        .map_err(|e| anyhow::anyhow!("demo spec: {e}"))?;
    let row = jobs.submit(&spec).await?;
    Ok(Some(row.id))
}
