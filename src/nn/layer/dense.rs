//! Fully connected layer: out = x · W + b, W stored [n_in, n_out].
//!
//! The [in, out] layout makes the forward pass a plain GEMM and lets a single input row be
//! multiplied as a sum of W's rows, skipping zero inputs (most MNIST pixels are 0).
//! Export to PyTorch's [out, in] layout happens in `nn::io`.

use ndarray::{Array1, Array2, ArrayView2};

use super::ensure_shape;
use crate::nn::kernels::{column_sums, or_columns};
use crate::nn::matmul::{DisjointSlice, MatMul};

#[derive(Debug, Clone)]
pub struct Dense {
    pub w: Array2<f32>,
    pub b: Array1<f32>,
    pub dw: Array2<f32>,
    pub db: Array1<f32>,
    pub(super) out: Array2<f32>,
    pub(super) grad_in: Array2<f32>,
}

impl Dense {
    pub fn new(w: Array2<f32>, b: Array1<f32>) -> Self {
        assert_eq!(w.ncols(), b.len(), "one bias per output");
        let (n_in, n_out) = w.dim();
        Dense {
            // `as_standard_layout` so parameters are always contiguous row-major.
            w: w.as_standard_layout().into_owned(),
            b,
            dw: Array2::zeros((n_in, n_out)),
            db: Array1::zeros(n_out),
            out: Array2::zeros((0, n_out)),
            grad_in: Array2::zeros((0, n_in)),
        }
    }

    pub fn n_in(&self) -> usize {
        self.w.nrows()
    }

    pub fn n_out(&self) -> usize {
        self.w.ncols()
    }

    fn compute(&self, x: ArrayView2<f32>, out: &mut Array2<f32>, mm: &MatMul) {
        // Broadcast the bias into the output, then accumulate the product on top of it.
        let dim = out.raw_dim();
        out.assign(&self.b.broadcast(dim).expect("bias matches output width"));
        mm.gemm(x, self.w.view(), out.view_mut(), true);
    }

    pub fn forward(&mut self, x: ArrayView2<f32>, mm: &MatMul) {
        let n_out = self.n_out();
        ensure_shape(&mut self.out, x.nrows(), n_out);
        let mut out = std::mem::take(&mut self.out);
        self.compute(x, &mut out, mm);
        self.out = out;
    }

    pub fn infer(&self, x: ArrayView2<f32>, mm: &MatMul) -> Array2<f32> {
        self.infer_as(x, mm, InferPath::Auto)
    }

    /// [`infer`](Self::infer) along a given path: the bench compares them side by side.
    pub fn infer_as(&self, x: ArrayView2<f32>, mm: &MatMul, path: InferPath) -> Array2<f32> {
        let mut out = Array2::zeros((x.nrows(), self.n_out()));
        // Compaction pays only on mostly-zero inputs (MNIST pixels; not hidden layers).
        let sparse = x.nrows() >= SPARSE_MIN_ROWS && mostly_zeros(x);
        match path {
            InferPath::Auto | InferPath::Compact if sparse && self.compute_compact(x, &mut out, mm) => {}
            _ => self.compute(x, &mut out, mm),
        }
        out
    }

    /// A GEMM over only the input columns that are non-zero somewhere in the batch: a batch
    /// of 1000 MNIST digits leaves ~24% of the pixels blank in every image (the border), and
    /// ~40% for 64 digits. Those columns of x and rows of W are dropped before the product,
    /// copied as contiguous runs (a digit's blank border is a run per image row). False,
    /// with `out` untouched, when too few columns are blank to pay for the copies.
    fn compute_compact(&self, x: ArrayView2<f32>, out: &mut Array2<f32>, mm: &MatMul) -> bool {
        let n_in = self.n_in();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let used = std::sync::Mutex::new(vec![0u32; n_in]);
        mm.for_ranges(x.nrows(), 128, &|lo, hi| {
            let mut mine = vec![0u32; n_in];
            or_columns(&xs[lo * n_in..hi * n_in], &mut mine);
            let mut all = used.lock().expect("no panics while held");
            all.iter_mut().zip(&mine).for_each(|(a, m)| *a |= m);
        });
        let used: Vec<bool> = used
            .into_inner()
            .expect("no panics while held")
            .iter()
            .map(|&b| b != 0)
            .collect();
        let runs = runs_of(&used);
        let k: usize = runs.iter().map(|&(_, len)| len).sum();
        if k * 10 > n_in * 9 {
            return false;
        }
        let dim = out.raw_dim();
        out.assign(&self.b.broadcast(dim).expect("bias matches output width"));
        if k == 0 {
            // An all-zero batch (dead ReLUs, all-zero weights): the bias is the answer, and
            // a product with an empty inner dimension is not asked of the GEMM.
            return true;
        }
        let n_out = self.n_out();
        let ws = self.w.as_slice().expect("contiguous");
        let mut wk = Vec::with_capacity(k * n_out);
        for &(start, len) in &runs {
            wk.extend_from_slice(&ws[start * n_out..(start + len) * n_out]);
        }
        let mut xk = Array2::<f32>::zeros((x.nrows(), k));
        let shared = DisjointSlice::new(xk.as_slice_mut().expect("owned"));
        mm.for_ranges(x.nrows(), 64, &|lo, hi| {
            // SAFETY: for_ranges hands out disjoint row ranges.
            let dst = unsafe { shared.range(lo * k, hi * k) };
            for (src, dst) in xs[lo * n_in..hi * n_in].chunks_exact(n_in).zip(dst.chunks_exact_mut(k)) {
                let mut at = 0;
                for &(start, len) in &runs {
                    dst[at..at + len].copy_from_slice(&src[start..start + len]);
                    at += len;
                }
            }
        });
        let wk = ArrayView2::from_shape((k, n_out), &wk).expect("k rows of W");
        mm.gemm(xk.view(), wk, out.view_mut(), true);
        true
    }

    pub fn backward(&mut self, x: ArrayView2<f32>, g: ArrayView2<f32>, need_grad_in: bool, mm: &MatMul) {
        mm.gemm(x.t(), g, self.dw.view_mut(), false);
        column_sums(g, self.db.as_slice_mut().expect("contiguous"));
        if need_grad_in {
            let n_in = self.n_in();
            ensure_shape(&mut self.grad_in, g.nrows(), n_in);
            mm.gemm(g, self.w.t(), self.grad_in.view_mut(), false);
        }
    }
}

/// Below this many rows a batch goes through the plain GEMM whatever its sparsity.
const SPARSE_MIN_ROWS: usize = 8;

/// How `Dense::infer_as` multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferPath {
    /// What serving uses: `Compact` for mostly-zero inputs, else `Dense`. On W2 (`nnlab
    /// bench`, 1 thread) the compacted GEMM beat the plain one by ~1.15x at 1000 rows and
    /// ~1.2x at 32, and the row-by-row sparse path it replaced by ~1.35x at both.
    Auto,
    /// One GEMM.
    Dense,
    /// One GEMM over the columns that are non-zero somewhere in the batch (mostly-zero
    /// inputs only).
    Compact,
}

/// Maximal runs of `true` as (start, length).
fn runs_of(used: &[bool]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < used.len() {
        if used[i] {
            let start = i;
            while i < used.len() && used[i] {
                i += 1;
            }
            runs.push((start, i - start));
        } else {
            i += 1;
        }
    }
    runs
}

/// True when more than 60% of the entries (sampled: every 7th) are exactly zero.
fn mostly_zeros(x: ArrayView2<f32>) -> bool {
    let (mut zeros, mut seen) = (0usize, 0usize);
    for v in x.iter().step_by(7) {
        seen += 1;
        zeros += usize::from(*v == 0.0);
    }
    zeros * 10 > seen * 6
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_multiply_gate_switches_its_inputs_as_in_the_lecture() {
        // q = w1 x1 with dL/dq = 0.20, w1 = -2.00, x1 = 1.00:
        // dL/dx1 = dL/dq * w1 = -0.40 and dL/dw1 = dL/dq * x1 = 0.20; the add gate (bias)
        // passes dL/dq through unchanged.
        let mut layer = Dense::new(array![[-2.0f32]], array![0.5f32]);
        let mm = MatMul::single();
        let x = array![[1.0f32]];
        layer.forward(x.view(), &mm);
        assert_eq!(layer.out, array![[-1.5f32]]);
        layer.backward(x.view(), array![[0.2f32]].view(), true, &mm);
        assert!((layer.grad_in[[0, 0]] + 0.4).abs() < 1e-7);
        assert!((layer.dw[[0, 0]] - 0.2).abs() < 1e-7);
        assert!((layer.db[0] - 0.2).abs() < 1e-7);
    }

    /// Every path gives the plain product (to f32 rounding): a digit-like batch whose blank
    /// border columns the compacted GEMM drops, and a dense batch where it declines.
    #[test]
    fn every_inference_path_agrees_with_the_dense_product() {
        let (n_in, n_out) = (100, 24);
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let w = Array2::from_shape_fn((n_in, n_out), |_| next());
        let b = Array1::from_shape_fn(n_out, |_| next());
        let layer = Dense::new(w.clone(), b.clone());
        // Ink only in columns 30..40 and 60..75 (two runs), most entries zero.
        let sparse = Array2::from_shape_fn((70, n_in), |(r, c)| {
            let inked = (30..40).contains(&c) || (60..75).contains(&c);
            if inked && (r + c) % 3 != 0 { next() + 0.6 } else { 0.0 }
        });
        let dense = Array2::from_shape_fn((70, n_in), |_| next());
        let zeros = Array2::<f32>::zeros((70, n_in));
        for x in [&sparse, &dense, &zeros] {
            let want = x.dot(&w) + &b;
            for threads in [1, 2] {
                let mm = MatMul::with_threads(threads);
                for path in [InferPath::Auto, InferPath::Dense, InferPath::Compact] {
                    let got = layer.infer_as(x.view(), &mm, path);
                    let err = (&got - &want).iter().fold(0.0f32, |m, d| m.max(d.abs()));
                    assert!(err < 1e-4, "{path:?}, {threads} threads: max error {err}");
                }
            }
        }
        assert_eq!(runs_of(&[false, true, true, false, true]), vec![(1, 2), (4, 1)]);
        assert!(runs_of(&[false; 3]).is_empty());
    }
}
