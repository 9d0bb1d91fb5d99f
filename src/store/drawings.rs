//! Labelled drawings (the draw page's "save as a 7") as the store keeps them.

use sqlx::FromRow;

/// Pixels of a stored drawing: the 28x28 image the models saw, one byte per pixel.
pub const DRAWING_PIXELS: usize = 784;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DrawingRow {
    pub id: String,
    pub label: i64,
    /// Row-major, 0 (paper) ..= 255 (ink); `DRAWING_PIXELS` bytes.
    pub pixels: Vec<u8>,
    pub created_at: String,
}

pub struct NewDrawing<'a> {
    pub id: &'a str,
    pub label: i64,
    pub pixels: &'a [u8],
}

/// Which drawings to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrawingQuery {
    pub label: Option<i64>,
    /// At most this many.
    pub limit: i64,
    /// Newest first (else oldest first).
    pub newest_first: bool,
}
