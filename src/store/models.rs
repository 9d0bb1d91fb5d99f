//! Trained and imported models as the store keeps them.

use sqlx::FromRow;

/// A model's metadata (everything but the weights).
#[derive(Debug, Clone, FromRow)]
pub struct ModelRow {
    pub id: String,
    pub job_id: Option<String>,
    pub dataset: String,
    pub spec: String,
    pub job_spec: Option<String>,
    /// The key of the weights' blob (`store::blobs`): equal weights, equal digest.
    pub weights_sha256: String,
    pub parameters: i64,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub created_at: String,
}

/// What a finished training job produced.
pub struct NewModel<'a> {
    pub id: &'a str,
    pub job_id: Option<&'a str>,
    pub dataset: &'a str,
    pub spec_json: &'a str,
    pub job_spec_json: Option<&'a str>,
    pub weights: &'a [u8],
    pub parameters: i64,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
}
