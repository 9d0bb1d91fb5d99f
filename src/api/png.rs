//! Drawn digits sent as PNG: decoded under size limits, then prepared as MNIST's digits
//! were (or as the draw page's preprocessing switch says).

use base64::Engine;

use super::AppError;
use crate::data::{Preprocess, preprocess_digit_as};

/// A drawn digit needs far less; 2048x2048 RGBA is 16 MiB decoded.
const MAX_PNG_SIDE: u32 = 2048;
/// What the decoder may allocate (16-bit RGBA at the largest size, with room to spare).
const MAX_PNG_DECODE_BYTES: u64 = 2048 * 2048 * 8 + (1 << 20);

/// Base64 PNG (a `data:` URL prefix is accepted) -> grey levels -> 28x28 prepared as `how`
/// says; errors name `field`.
pub fn decode_digit(png_base64: &str, how: Preprocess, field: &str) -> Result<Vec<f32>, AppError> {
    let b64 = png_base64
        .split_once("base64,")
        .map_or(png_base64, |(_, rest)| rest)
        .trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| AppError::invalid(field, format!("not valid base64: {e}")))?;
    let reader = || image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::Png);
    // The header first: a small file can declare a huge image (a 20000x20000 PNG of one
    // colour compresses to under 1 MB), which must be refused before anything is decoded.
    let (w, h) = reader()
        .into_dimensions()
        .map_err(|e| AppError::invalid(field, format!("not a PNG image: {e}")))?;
    if w == 0 || h == 0 || w > MAX_PNG_SIDE || h > MAX_PNG_SIDE {
        return Err(AppError::invalid(
            field,
            format!("image must be 1..={MAX_PNG_SIDE} pixels wide and high, got {w}x{h}"),
        ));
    }
    let mut decoder = reader();
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PNG_SIDE);
    limits.max_image_height = Some(MAX_PNG_SIDE);
    limits.max_alloc = Some(MAX_PNG_DECODE_BYTES);
    decoder.limits(limits);
    let img = decoder
        .decode()
        .map_err(|e| AppError::invalid(field, format!("not a PNG image: {e}")))?;
    // Transparent pixels (a canvas's untouched background) count as white paper.
    let rgba = img.to_rgba8();
    let gray: Vec<f32> = rgba
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0.map(|v| v as f32 / 255.0);
            let luma = 0.299 * r + 0.587 * g + 0.114 * b;
            a * luma + (1.0 - a)
        })
        .collect();
    preprocess_digit_as(&gray, w as usize, h as usize, how).map_err(|e| AppError::invalid(field, e.to_string()))
}
