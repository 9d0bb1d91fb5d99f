//! The Job as clients see it (API.md), built from its row.

use serde::Serialize;
use serde_json::Value;

use super::{JobKind, JobStatus};
use crate::store::jobs::JobRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub epoch: i64,
    pub epochs: i64,
    pub fraction: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobResult {
    pub model_id: String,
    #[schema(required = true)]
    pub test_accuracy: Option<f64>,
    #[schema(required = true)]
    pub test_loss: Option<f64>,
    #[schema(required = true)]
    pub train_seconds: Option<f64>,
    /// A k-fold job's folds (`GET /api/v1/jobs/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kfold: Option<KFoldResult>,
}

/// k-fold cross-validation: each fold's validation loss and accuracy at its last epoch,
/// their mean and population standard deviation, and the fold whose model was kept.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KFoldResult {
    pub folds: Vec<FoldResult>,
    pub mean_val_accuracy: f64,
    pub std_val_accuracy: f64,
    pub mean_val_loss: f64,
    pub std_val_loss: f64,
    /// 1-based: the best validation accuracy (the first of equals), whose model is kept.
    pub best_fold: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FoldResult {
    pub fold: i64,
    pub val_loss: f64,
    pub val_accuracy: f64,
}

impl KFoldResult {
    /// From a finished k-fold job's epoch rows: each fold's last row. `None` without folds
    /// or with a fold lacking its validation values.
    pub fn from_epochs(rows: &[crate::store::metrics::EpochRow]) -> Option<KFoldResult> {
        let mut folds: Vec<FoldResult> = Vec::new();
        for row in rows {
            let fold = row.fold?;
            let result = FoldResult {
                fold,
                val_loss: row.val_loss?,
                val_accuracy: row.val_accuracy?,
            };
            match folds.last_mut() {
                Some(last) if last.fold == fold => *last = result,
                _ => folds.push(result),
            }
        }
        if folds.is_empty() {
            return None;
        }
        let mean_std = |values: Vec<f64>| {
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            (
                mean,
                (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt(),
            )
        };
        let (mean_val_accuracy, std_val_accuracy) = mean_std(folds.iter().map(|f| f.val_accuracy).collect());
        let (mean_val_loss, std_val_loss) = mean_std(folds.iter().map(|f| f.val_loss).collect());
        let best_fold = folds
            .iter()
            .fold(None::<&FoldResult>, |best, f| match best {
                Some(b) if b.val_accuracy >= f.val_accuracy => Some(b),
                _ => Some(f),
            })
            .map_or(1, |f| f.fold);
        Some(KFoldResult {
            folds,
            mean_val_accuracy,
            std_val_accuracy,
            mean_val_loss,
            std_val_loss,
            best_fold,
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: String,
    /// What the job does: `train` (the datasets issue adds `dataset_import`).
    pub kind: JobKind,
    pub status: JobStatus,
    /// The JobSpec with every default filled in.
    #[schema(value_type = crate::train::JobSpec)]
    pub spec: Value,
    pub progress: Progress,
    pub created_at: String,
    #[schema(required = true)]
    pub started_at: Option<String>,
    #[schema(required = true)]
    pub finished_at: Option<String>,
    /// Why the job failed, for people (never a server path).
    #[schema(required = true)]
    pub error: Option<String>,
    #[schema(required = true)]
    pub result: Option<JobResult>,
    /// Claims spent: each start by a worker spends one; a graceful shutdown gives it back.
    pub attempts: i64,
    /// Past this many attempts the job ends `failed`.
    pub max_attempts: i64,
    /// Hex SHA-256 of the initial weights (a safetensors file of the tensors alone, without
    /// the architecture in its metadata), once training has started.
    #[schema(required = true)]
    pub init_sha256: Option<String>,
    /// The job this one was forked from (`POST /api/v1/jobs/{id}/fork`).
    #[schema(required = true)]
    pub parent_id: Option<String>,
    /// The JobSpec fields whose values differ from the parent's (empty without a parent).
    pub changed: Vec<String>,
    /// Its place among its fork's pairs, for a forked job.
    #[schema(required = true)]
    pub fork: Option<ForkPlace>,
    /// The sweep it is a trial of (`GET /api/v1/sweeps/{id}`).
    #[schema(required = true)]
    pub sweep_id: Option<String>,
    /// Queued but waiting for its sweep (a free slot under its parallelism, or the early
    /// stopping rule's decision): no worker takes it until the sweep releases it.
    pub held: bool,
}

/// A forked job's place among its fork's pairs (`GET /api/v1/jobs/{fork id}/pairs`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForkPlace {
    /// The fork's first child, which the pairs are asked about.
    pub id: String,
    /// 0: the parent and the first child; k >= 1: a baseline and a child with seed + k.
    pub pair: i64,
    /// `baseline` (the parent's spec) or `child` (with the change).
    pub role: String,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        self.status.is_terminal()
    }
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Job {
        let epochs = row.epochs_total.max(1);
        let fraction = if row.status == JobStatus::Succeeded {
            1.0
        } else {
            row.epoch as f64 / epochs as f64
        };
        Job {
            spec: serde_json::from_str(&row.spec).unwrap_or(Value::Null),
            progress: Progress {
                epoch: row.epoch,
                epochs: row.epochs_total,
                fraction,
            },
            result: row.model_id.map(|model_id| JobResult {
                model_id,
                test_accuracy: row.test_accuracy,
                test_loss: row.test_loss,
                train_seconds: row.train_seconds,
                kfold: None,
            }),
            id: row.id,
            kind: row.kind,
            status: row.status,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            error: row.error,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            init_sha256: row.init_sha256,
            parent_id: row.parent_id,
            changed: row
                .changed
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default(),
            fork: match (row.fork_id, row.fork_pair, row.fork_role) {
                (Some(id), Some(pair), Some(role)) => Some(ForkPlace {
                    id,
                    pair,
                    role: role.to_string(),
                }),
                _ => None,
            },
            sweep_id: row.sweep_id,
            held: row.held,
        }
    }
}
