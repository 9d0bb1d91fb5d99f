//! Batch-1 inference: [`matvec_sparse`], one dense layer applied to one input vector,
//! skipping the input's zero entries.
//!
//! Why not `MatMul::gemm` with m = 1: gemm's matrix-vector path ran the 784x256 MNIST layer
//! in ~11 us here, while accumulating rows of W (an axpy per non-zero input) took ~5 us,
//! because ~80% of MNIST pixels are zero and their rows of W need not be read at all
//! (`docs/GEMM.md`). The inner loop is plain Rust written so LLVM vectorises
//! it; it is compiled three times (AVX-512, AVX2, baseline SSE2) and the widest one the CPU
//! supports is picked at run time, because the crate is built without `target-cpu` flags.

use ndarray::ArrayView2;

/// `out = b + x · w` for `w` of shape `[x.len(), out.len()]`, skipping rows of `w` whose
/// `x` entry is zero (so a non-finite weight in a skipped row does not propagate).
///
/// Fast when `w` is C-contiguous (standard row-major layout); other layouts work, slowly.
pub fn matvec_sparse(x: &[f32], w: ArrayView2<f32>, b: &[f32], out: &mut [f32]) {
    matvec_with(x, w, b, out, Isa::detect());
}

/// [`matvec_sparse`] restricted to the baseline (SSE2) kernel; for benchmarks and tests.
#[doc(hidden)]
pub fn matvec_sparse_portable(x: &[f32], w: ArrayView2<f32>, b: &[f32], out: &mut [f32]) {
    matvec_with(x, w, b, out, Isa::Baseline);
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    fn detect() -> Isa {
        // std caches the CPUID result; each check is a load and a bit test.
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }
}

fn matvec_with(x: &[f32], w: ArrayView2<f32>, b: &[f32], out: &mut [f32], isa: Isa) {
    let (n_in, n_out) = w.dim();
    assert_eq!(x.len(), n_in, "x length vs rows of w");
    assert_eq!(b.len(), n_out, "bias length vs columns of w");
    assert_eq!(out.len(), n_out, "output length vs columns of w");
    out.copy_from_slice(b);
    let Some(ws) = w.as_slice() else {
        // Not row-major contiguous: correct but unvectorised; the engine never does this.
        for (i, &xi) in x.iter().enumerate() {
            if xi != 0.0 {
                for (o, &wv) in out.iter_mut().zip(w.row(i)) {
                    *o += xi * wv;
                }
            }
        }
        return;
    };
    match isa {
        Isa::Baseline => accumulate_rows(x, ws, out),
        // SAFETY: `detect` (or the caller) checked that the CPU has these features.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { accumulate_rows_avx2(x, ws, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { accumulate_rows_avx512(x, ws, out) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn accumulate_rows_avx2(x: &[f32], w: &[f32], out: &mut [f32]) {
    accumulate_rows(x, w, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn accumulate_rows_avx512(x: &[f32], w: &[f32], out: &mut [f32]) {
    accumulate_rows(x, w, out)
}

/// `out += x · w` with `w` row-major `[x.len(), out.len()]`. Inlined into each
/// `target_feature` wrapper so that LLVM vectorises it at that width.
///
/// Non-zero inputs are gathered four at a time and their rows added in one pass, so `out`
/// is loaded and stored once per four rows of `w` instead of once per row.
#[inline(always)]
fn accumulate_rows(x: &[f32], w: &[f32], out: &mut [f32]) {
    let n = out.len();
    debug_assert_eq!(w.len(), x.len() * n);
    let row = |i: usize| &w[i * n..(i + 1) * n];
    let mut idx = [0usize; 4];
    let mut val = [0f32; 4];
    let mut pending = 0;
    for (i, &xi) in x.iter().enumerate() {
        if xi == 0.0 {
            continue;
        }
        idx[pending] = i;
        val[pending] = xi;
        pending += 1;
        if pending == 4 {
            pending = 0;
            let (r0, r1, r2, r3) = (row(idx[0]), row(idx[1]), row(idx[2]), row(idx[3]));
            let [v0, v1, v2, v3] = val;
            for ((((o, &a), &b), &c), &d) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
                *o += (v0 * a + v1 * b) + (v2 * c + v3 * d);
            }
        }
    }
    for t in 0..pending {
        let v = val[t];
        for (o, &a) in out.iter_mut().zip(row(idx[t])) {
            *o += v * a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A vector where about `zero_frac` of the entries are exactly zero.
    fn sparse_input(len: usize, zero_frac: f32, seed: &mut u64) -> Vec<f32> {
        (0..len)
            .map(|_| if lcg(seed) < zero_frac { 0.0 } else { lcg(seed) })
            .collect()
    }

    fn naive(x: &[f32], w: &Array2<f32>, b: &[f32]) -> Vec<f32> {
        (0..w.ncols())
            .map(|j| b[j] + (0..x.len()).map(|i| x[i] * w[[i, j]]).sum::<f32>())
            .collect()
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "got {g}, want {w}");
        }
    }

    #[test]
    fn sparse_matvec_matches_a_naive_product_on_mostly_zero_inputs_for_every_kernel() {
        let mut seed = 42;
        for &(n_in, n_out) in &[(784, 256), (256, 128), (128, 10), (1, 1), (5, 3), (33, 17), (0, 4)] {
            let w = Array2::from_shape_fn((n_in, n_out), |_| lcg(&mut seed) - 0.5);
            let b: Vec<f32> = (0..n_out).map(|_| lcg(&mut seed)).collect();
            for zero_frac in [0.0, 0.5, 0.8, 1.0] {
                let x = sparse_input(n_in, zero_frac, &mut seed);
                let want = naive(&x, &w, &b);
                let mut out = vec![f32::NAN; n_out];
                matvec_sparse(&x, w.view(), &b, &mut out);
                assert_close(&out, &want);
                let mut portable = vec![f32::NAN; n_out];
                matvec_sparse_portable(&x, w.view(), &b, &mut portable);
                assert_close(&portable, &want);
                #[cfg(target_arch = "x86_64")]
                for isa in [Isa::Avx2, Isa::Avx512] {
                    let supported = match isa {
                        Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
                        _ => is_x86_feature_detected!("avx512f"),
                    };
                    if supported {
                        let mut o = vec![f32::NAN; n_out];
                        matvec_with(&x, w.view(), &b, &mut o, isa);
                        assert_close(&o, &want);
                    }
                }
            }
        }
    }

    #[test]
    fn sparse_matvec_accepts_weights_that_are_not_row_major() {
        let mut seed = 7;
        let wt = Array2::from_shape_fn((10, 50), |_| lcg(&mut seed) - 0.5);
        let w = wt.t(); // [50, 10], column-major
        let wo = w.to_owned();
        let x = sparse_input(50, 0.8, &mut seed);
        let b = vec![0.25; 10];
        let mut out = vec![0.0; 10];
        matvec_sparse(&x, w, &b, &mut out);
        assert_close(&out, &naive(&x, &wo, &b));
        // A strided row window too.
        let big = Array2::from_shape_fn((100, 10), |_| lcg(&mut seed));
        let w2 = big.slice(s![..;2, ..]);
        matvec_sparse(&x, w2, &b, &mut out);
        assert_close(&out, &naive(&x, &w2.to_owned(), &b));
    }

    #[test]
    #[should_panic(expected = "x length")]
    fn sparse_matvec_rejects_an_input_of_the_wrong_length() {
        let w = Array2::<f32>::zeros((4, 3));
        matvec_sparse(&[1.0; 5], w.view(), &[0.0; 3], &mut [0.0; 3]);
    }
}
