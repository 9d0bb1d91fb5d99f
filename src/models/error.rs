//! What model serving can answer besides a result.

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no model with id {0}")]
    NotFound(String),
    /// A request that cannot be served as asked; `field` names the part at fault.
    #[error("{message}")]
    Invalid { field: Option<String>, message: String },
    /// `--max-heavy-requests` CPU-heavy requests are running.
    #[error("the server is busy with other heavy requests; try again shortly")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ServeError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServeError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for ServeError {
    fn from(e: sqlx::Error) -> Self {
        ServeError::Internal(e.into())
    }
}
