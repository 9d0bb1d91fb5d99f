//! Turning a digit drawn in the browser into an MNIST-like 28x28 input.
//!
//! MNIST digits were size-normalised to fit a 20x20 box (aspect ratio kept) and then placed
//! in a 28x28 field with their centre of mass at the centre. A network trained on MNIST only
//! works on drawn digits prepared the same way, so this module repeats those steps.

use super::DataError;

pub const SIDE: usize = 28;
/// The longer side of the digit's bounding box after scaling, as in MNIST.
pub const BOX: usize = 20;
/// Below this (after background removal) a pixel is paper, not ink: it absorbs JPEG-like
/// noise and faint smudges that would otherwise stretch the bounding box.
const INK_THRESHOLD: f32 = 0.1;

/// How a drawing becomes 28x28. The draw page offers all three so that a user sees why the
/// MNIST steps matter: a network trained on MNIST misreads a digit that is not prepared as
/// MNIST's were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preprocess {
    /// The whole canvas shrunk to 28x28: the digit keeps its size and place on the canvas.
    Raw,
    /// Cropped to the ink, longest side scaled to 20 px, the box centred in 28x28.
    Box,
    /// As `Box`, then placed by its centre of mass, as MNIST was made.
    #[default]
    Mnist,
}

/// Preprocesses a `width` x `height` grayscale image (row-major, values in [0, 1], either
/// polarity) into 784 values in [0, 1] as MNIST was made: ink high, longest side 20 px,
/// centre of mass at (14, 14) in pixel-centre coordinates.
pub fn preprocess_digit(gray: &[f32], width: usize, height: usize) -> Result<Vec<f32>, DataError> {
    preprocess_digit_as(gray, width, height, Preprocess::Mnist)
}

/// [`preprocess_digit`] with a choice of steps ([`Preprocess`]).
pub fn preprocess_digit_as(gray: &[f32], width: usize, height: usize, how: Preprocess) -> Result<Vec<f32>, DataError> {
    if width == 0 || height == 0 || width.checked_mul(height) != Some(gray.len()) {
        return Err(DataError::ImageSize {
            width,
            height,
            len: gray.len(),
        });
    }
    let ink = ink_map(gray, width, height);
    let (x0, y0, x1, y1) = bounding_box(&ink, width).ok_or(DataError::BlankImage)?;
    if how == Preprocess::Raw {
        return resample(&ink, width, (0, 0, width, height), (SIDE, SIDE));
    }
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = BOX as f32 / w.max(h) as f32;
    let nw = ((w as f32 * scale).round() as usize).clamp(1, BOX);
    let nh = ((h as f32 * scale).round() as usize).clamp(1, BOX);
    let small = resample(&ink, width, (x0, y0, w, h), (nw, nh))?;

    let (ox, oy) = if how == Preprocess::Box {
        ((SIDE - nw) / 2, (SIDE - nh) / 2)
    } else {
        let (cx, cy) = centre_of_mass(&small, nw);
        // Integer placement, as in MNIST; clamped so no ink is ever cut off at the border.
        (
            ((SIDE as f32 / 2.0 - cx).round().max(0.0) as usize).min(SIDE - nw),
            ((SIDE as f32 / 2.0 - cy).round().max(0.0) as usize).min(SIDE - nh),
        )
    };
    let mut out = vec![0.0f32; SIDE * SIDE];
    for y in 0..nh {
        out[(oy + y) * SIDE + ox..][..nw].copy_from_slice(&small[y * nw..][..nw]);
    }
    Ok(out)
}

/// The `(x0, y0, w, h)` window of `ink` (rows of `width`) resampled to `nw` x `nh`, its peak
/// stretched to 1.
fn resample(
    ink: &[f32],
    width: usize,
    (x0, y0, w, h): (usize, usize, usize, usize),
    (nw, nh): (usize, usize),
) -> Result<Vec<f32>, DataError> {
    // Separable resampling: columns first, then rows.
    let wx = axis_weights(w, nw);
    let wy = axis_weights(h, nh);
    let mut wide = vec![0.0f32; h * nw];
    for y in 0..h {
        let row = &ink[(y0 + y) * width + x0..][..w];
        for (ox, taps) in wx.iter().enumerate() {
            wide[y * nw + ox] = taps.iter().map(|&(i, k)| row[i] * k).sum();
        }
    }
    let mut small = vec![0.0f32; nh * nw];
    for (oy, taps) in wy.iter().enumerate() {
        for ox in 0..nw {
            small[oy * nw + ox] = taps.iter().map(|&(i, k)| wide[i * nw + ox] * k).sum();
        }
    }
    // Shrinking a 280 px canvas averages a thin pen stroke down to a faint line; MNIST
    // strokes peak at full intensity, so stretch the peak back to 1.
    let peak = small.iter().cloned().fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return Err(DataError::BlankImage);
    }
    small.iter_mut().for_each(|v| *v = (*v / peak).clamp(0.0, 1.0));
    Ok(small)
}

/// Ink intensity per pixel: polarity fixed so ink is high, paper level removed, faint
/// values zeroed. The border decides the polarity: a drawing rarely touches all edges.
fn ink_map(gray: &[f32], width: usize, height: usize) -> Vec<f32> {
    let clean = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let mut border: Vec<f32> = (0..gray.len())
        .filter(|&i| {
            let (x, y) = (i % width, i / width);
            x == 0 || y == 0 || x + 1 == width || y + 1 == height
        })
        .map(|i| clean(gray[i]))
        .collect();
    border.sort_by(f32::total_cmp);
    let median = border[border.len() / 2];
    let invert = median > 0.5;
    let paper = if invert { 1.0 - median } else { median };
    // paper <= 0.5, so the division below cannot blow up.
    gray.iter()
        .map(|&v| {
            let v = clean(v);
            let v = if invert { 1.0 - v } else { v };
            let v = ((v - paper) / (1.0 - paper)).clamp(0.0, 1.0);
            if v < INK_THRESHOLD { 0.0 } else { v }
        })
        .collect()
}

/// (x0, y0, x1, y1) inclusive, or None if there is no ink.
fn bounding_box(ink: &[f32], width: usize) -> Option<(usize, usize, usize, usize)> {
    let mut bbox: Option<(usize, usize, usize, usize)> = None;
    for (i, _) in ink.iter().enumerate().filter(|(_, v)| **v > 0.0) {
        let (x, y) = (i % width, i / width);
        bbox = Some(match bbox {
            None => (x, y, x, y),
            Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
        });
    }
    bbox
}

/// For each of `dst` output positions, the (source index, weight) taps along one axis:
/// area averaging when shrinking (every source pixel contributes, so thin strokes survive),
/// bilinear when enlarging or keeping the size.
fn axis_weights(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    let ratio = src as f32 / dst as f32;
    (0..dst)
        .map(|o| {
            if dst < src {
                let (lo, hi) = (o as f32 * ratio, (o + 1) as f32 * ratio);
                let first = lo.floor() as usize;
                let last = (hi.ceil() as usize).min(src);
                (first..last)
                    .map(|i| {
                        let overlap = hi.min(i as f32 + 1.0) - lo.max(i as f32);
                        (i, overlap.max(0.0) / ratio)
                    })
                    .collect()
            } else {
                let p = ((o as f32 + 0.5) * ratio - 0.5).clamp(0.0, (src - 1) as f32);
                let i0 = p.floor() as usize;
                let f = p - i0 as f32;
                vec![(i0, 1.0 - f), ((i0 + 1).min(src - 1), f)]
            }
        })
        .collect()
}

/// Intensity-weighted mean position, in pixel-centre coordinates (pixel i spans [i, i+1]).
fn centre_of_mass(img: &[f32], width: usize) -> (f32, f32) {
    let (mut sx, mut sy, mut total) = (0.0f32, 0.0f32, 0.0f32);
    for (i, &v) in img.iter().enumerate() {
        sx += ((i % width) as f32 + 0.5) * v;
        sy += ((i / width) as f32 + 0.5) * v;
        total += v;
    }
    (sx / total, sy / total)
}

#[cfg(test)]
#[path = "digit_tests.rs"]
mod tests;
