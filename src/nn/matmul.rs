//! Matrix products for the engine, on the pure-Rust `gemm` crate.
//!
//! Why not ndarray's `dot`: its default kernel runs at ~98 GFLOP/s here against ~185 for
//! `gemm` with the AVX-512 (`x86-v4`) kernels (measurements in ../shared/docs/DEPENDENCIES.md),
//! and `gemm` needs no system BLAS. Every product in the engine goes through [`MatMul`], so
//! the threading strategy lives in one place.

use ndarray::{ArrayView2, ArrayViewMut2};

/// Runs matrix products; owns whatever threads it uses.
#[derive(Debug)]
pub struct MatMul {
    threads: usize,
}

impl MatMul {
    /// Products on the calling thread only.
    pub fn single() -> Self {
        MatMul { threads: 1 }
    }

    /// Products split over `threads` threads (1 = the calling thread only).
    pub fn with_threads(threads: usize) -> Self {
        MatMul {
            threads: threads.max(1),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// `c = a · b`, or `c += a · b` when `accumulate`. Views may be transposed or strided.
    pub fn gemm(&self, a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>, accumulate: bool) {
        let (m, k) = a.dim();
        let (k2, n) = b.dim();
        assert_eq!(k, k2, "inner dimensions differ");
        assert_eq!(c.dim(), (m, n), "output shape");
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                c.fill(0.0);
            }
            return;
        }
        let (sa, sb) = (a.strides(), b.strides());
        let sc = [c.strides()[0], c.strides()[1]];
        // SAFETY: the pointers come from live ndarray views whose shapes were checked above;
        // strides are in elements, as gemm expects (column stride first).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                sc[1],
                sc[0],
                accumulate,
                a.as_ptr(),
                sa[1],
                sa[0],
                b.as_ptr(),
                sb[1],
                sb[0],
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|t| a[[i, t]] * b[[t, j]]).sum())
    }

    #[test]
    fn gemm_matches_naive_product_including_transposed_views_and_accumulation() {
        let a = Array2::from_shape_fn((37, 53), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((53, 29), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.5 - 3.0);
        let mm = MatMul::single();
        let mut c = Array2::zeros((37, 29));
        mm.gemm(a.view(), b.view(), c.view_mut(), false);
        assert_eq!(c, naive(&a, &b));
        // a^T^T: pass transposed copies as transposed views.
        let at = a.t().to_owned();
        let bt = b.t().to_owned();
        let mut c2 = Array2::ones((37, 29));
        mm.gemm(at.t(), bt.t(), c2.view_mut(), true);
        assert_eq!(c2, naive(&a, &b) + 1.0);
    }
}
