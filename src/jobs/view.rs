//! The Job as clients see it (API.md), built from its row.

use serde::Serialize;
use serde_json::Value;

use super::JobStatus;
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
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: String,
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
    /// Hex SHA-256 of the initial weights (safetensors bytes), once training has started.
    #[schema(required = true)]
    pub init_sha256: Option<String>,
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
            }),
            id: row.id,
            status: row.status,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            error: row.error,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            init_sha256: row.init_sha256,
        }
    }
}
