//! Data augmentation for grayscale images in [0, 1]: a random affine warp, then brightness,
//! contrast and noise.
//!
//! Runs once per image per epoch (60k MNIST images), so it allocates nothing per image: the
//! warp is an inverse mapping with bilinear sampling, written straight into the output.

use ndarray::ArrayViewMut2;
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Maximum strength of each random perturbation; 0 switches it off. All zeros (the default)
/// is exactly the identity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(default)]
pub struct AugmentConfig {
    /// Shift drawn from U(-m, m) pixels, per axis.
    pub max_shift_px: f32,
    /// Rotation drawn from U(-m, m) degrees.
    pub max_rotation_deg: f32,
    /// Scale factor drawn from U(1 - m, 1 + m).
    pub max_scale: f32,
    /// Horizontal shear angle drawn from U(-m, m) degrees.
    pub max_shear_deg: f32,
    /// Added to every pixel: U(-m, m).
    pub brightness: f32,
    /// Deviation from the image mean multiplied by U(1 - m, 1 + m).
    pub contrast: f32,
    /// Standard deviation of per-pixel gaussian noise.
    pub noise_std: f32,
}

impl AugmentConfig {
    pub fn is_identity(&self) -> bool {
        *self == AugmentConfig::default()
    }

    fn has_warp(&self) -> bool {
        [
            self.max_shift_px,
            self.max_rotation_deg,
            self.max_scale,
            self.max_shear_deg,
        ]
        .iter()
        .any(|&m| m > 0.0)
    }
}

/// U(-m, m), or exactly 0 without touching the RNG when `m` is 0, negative or NaN.
fn symmetric(rng: &mut Rng, m: f32) -> f32 {
    if m > 0.0 {
        (rng.random::<f32>() * 2.0 - 1.0) * m
    } else {
        0.0
    }
}

/// Augments the `rows` x `cols` image `src` into `dst` (both row-major, length rows*cols).
///
/// Panics if the slice lengths do not match `rows * cols` (a caller bug).
pub fn augment_image(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, cfg: &AugmentConfig, rng: &mut Rng) {
    assert_eq!(src.len(), rows * cols, "augment_image: src is not rows * cols");
    assert_eq!(dst.len(), rows * cols, "augment_image: dst is not rows * cols");
    if cfg.is_identity() {
        dst.copy_from_slice(src);
        return;
    }
    if cfg.has_warp() {
        warp(src, dst, rows, cols, cfg, rng);
    } else {
        dst.copy_from_slice(src);
    }
    let shift = symmetric(rng, cfg.brightness);
    let gain = 1.0 + symmetric(rng, cfg.contrast);
    let mean = if gain != 1.0 {
        dst.iter().sum::<f32>() / dst.len().max(1) as f32
    } else {
        0.0
    };
    let noise = cfg.noise_std > 0.0;
    for v in dst.iter_mut() {
        let mut x = (*v - mean) * gain + mean + shift;
        if noise {
            x += cfg.noise_std * rng.sample::<f32, _>(StandardNormal);
        }
        // A NaN input pixel must not leak into training.
        *v = if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
    }
}

/// One random affine map about the image centre, applied by inverse mapping: each output
/// pixel reads the input at the preimage of its position (bilinear, outside = 0), so there
/// are no holes.
fn warp(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, cfg: &AugmentConfig, rng: &mut Rng) {
    let tx = symmetric(rng, cfg.max_shift_px);
    let ty = symmetric(rng, cfg.max_shift_px);
    let theta = symmetric(rng, cfg.max_rotation_deg).to_radians();
    let scale = 1.0 + symmetric(rng, cfg.max_scale);
    let shear = symmetric(rng, cfg.max_shear_deg).to_radians().tan();
    // Forward map A = scale * R(theta) * [[1, shear], [0, 1]] in (x = column, y = row).
    let (s, c) = theta.sin_cos();
    let (a, b, cc, d) = (scale * c, scale * (c * shear - s), scale * s, scale * (s * shear + c));
    let det = a * d - b * cc;
    if !det.is_finite() || det.abs() < 1e-6 {
        // A degenerate map (scale ~ 0) would squash everything to one point.
        dst.fill(0.0);
        return;
    }
    let (ia, ib, ic, id) = (d / det, -b / det, -cc / det, a / det);
    let cx = (cols as f32 - 1.0) * 0.5;
    let cy = (rows as f32 - 1.0) * 0.5;
    for y in 0..rows {
        let dy = y as f32 - cy - ty;
        let out = &mut dst[y * cols..(y + 1) * cols];
        for (x, o) in out.iter_mut().enumerate() {
            let dx = x as f32 - cx - tx;
            *o = bilinear(src, rows, cols, ia * dx + ib * dy + cx, ic * dx + id * dy + cy);
        }
    }
}

#[inline]
fn bilinear(src: &[f32], rows: usize, cols: usize, sx: f32, sy: f32) -> f32 {
    // Also rejects NaN: comparisons with NaN are false.
    if !(sx > -1.0 && sy > -1.0 && sx < cols as f32 && sy < rows as f32) {
        return 0.0;
    }
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let at = |x: isize, y: isize| {
        if x >= 0 && y >= 0 && (x as usize) < cols && (y as usize) < rows {
            src[y as usize * cols + x as usize]
        } else {
            0.0
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Augments every row of `batch` (each a `rows` x `cols` image) in place.
///
/// Panics if the batch width is not `rows * cols`.
pub fn augment_batch(batch: &mut ArrayViewMut2<f32>, rows: usize, cols: usize, cfg: &AugmentConfig, rng: &mut Rng) {
    assert_eq!(
        batch.ncols(),
        rows * cols,
        "augment_batch: batch width is not rows * cols"
    );
    if cfg.is_identity() {
        return;
    }
    // One scratch image per batch; the second only for non-contiguous rows.
    let mut scratch = vec![0.0f32; rows * cols];
    let mut out = Vec::new();
    for mut row in batch.rows_mut() {
        match row.as_slice_mut() {
            Some(r) => {
                scratch.copy_from_slice(r);
                augment_image(&scratch, r, rows, cols, cfg, rng);
            }
            None => {
                scratch.iter_mut().zip(row.iter()).for_each(|(s, &v)| *s = v);
                out.resize(rows * cols, 0.0);
                augment_image(&scratch, &mut out, rows, cols, cfg, rng);
                row.iter_mut().zip(&out).for_each(|(r, &v)| *r = v);
            }
        }
    }
}

#[cfg(test)]
#[path = "augment_tests.rs"]
mod tests;
