//! Small memory-bound loops of a training step, compiled for AVX-512 and AVX2 as well as the
//! baseline and picked at run time (`multiversion`), because the crate itself is built for
//! plain x86-64 so that the binary runs anywhere.
//!
//! Every kernel fixes its own summation order, so the result is bit-identical whichever
//! version runs (no fused multiply-adds: Rust never contracts a * b + c on its own).

use multiversion::multiversion;
use ndarray::ArrayView2;

const LANES: usize = 16;

/// Sum of squares, accumulated in 16 independent lanes (vectorises; far better conditioned
/// than one running sum).
#[multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
pub fn sum_squares(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i] * c[i];
        }
    }
    let mut total: f32 = acc.iter().sum();
    for &x in tail {
        total += x * x;
    }
    total
}

pub fn l2_norm(v: &[f32]) -> f32 {
    sum_squares(v).sqrt()
}

/// out[j] = sum_i g[i, j] (a bias gradient), for a row-major `g`.
#[multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
pub fn column_sums(g: ArrayView2<f32>, out: &mut [f32]) {
    out.fill(0.0);
    for row in g.rows() {
        match row.as_slice() {
            Some(row) => {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o += v;
                }
            }
            None => {
                for (o, &v) in out.iter_mut().zip(row.iter()) {
                    *o += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn sum_squares_matches_a_double_precision_sum_including_the_tail() {
        let v: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 * 0.01 - 0.5).collect();
        let exact: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
        assert!((sum_squares(&v) as f64 - exact).abs() < 1e-4 * exact);
        assert_eq!(sum_squares(&[3.0, 4.0]), 25.0);
        assert_eq!(l2_norm(&[]), 0.0);
    }

    #[test]
    fn column_sums_add_every_row_for_contiguous_and_transposed_views() {
        let g = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f32);
        let mut out = vec![9.0; 3];
        column_sums(g.view(), &mut out);
        assert_eq!(out, vec![30.0, 35.0, 40.0]);
        let gt = g.t().to_owned();
        column_sums(gt.t(), &mut out);
        assert_eq!(out, vec![30.0, 35.0, 40.0]);
    }
}

/// `acc[j] |= bits of x[i, j]` over the rows of a row-major `x` of `acc.len()` columns:
/// afterwards `acc[j] != 0` exactly when column j holds a value other than +0.0 (a -0.0
/// counts as used, which costs nothing but a column). Integer ORs vectorise at any width.
#[multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
pub fn or_columns(x: &[f32], acc: &mut [u32]) {
    for row in x.chunks_exact(acc.len()) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a |= v.to_bits();
        }
    }
}
