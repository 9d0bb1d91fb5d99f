//! One `gemm::gemm` call on raw parts, and its sub-blocks.

use ndarray::{ArrayView2, ArrayViewMut2};

/// One `gemm::gemm` call on raw parts: `dst[m, n] (+)= lhs[m, k] · rhs[k, n]`, strides in
/// elements (signed, as ndarray gives them).
#[derive(Clone, Copy, Debug)]
pub(super) struct GemmCall {
    pub(super) m: usize,
    pub(super) n: usize,
    pub(super) k: usize,
    pub(super) dst: *mut f32,
    pub(super) dst_rs: isize,
    pub(super) dst_cs: isize,
    read_dst: bool,
    lhs: *const f32,
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: *const f32,
    rhs_rs: isize,
    rhs_cs: isize,
}

impl GemmCall {
    pub(super) fn new(a: &ArrayView2<f32>, b: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>, accumulate: bool) -> Self {
        let (sa, sb, sc) = (a.strides(), b.strides(), c.strides());
        let (dst_rs, dst_cs) = (sc[0], sc[1]);
        GemmCall {
            m: a.nrows(),
            n: b.ncols(),
            k: a.ncols(),
            dst: c.as_mut_ptr(),
            dst_rs,
            dst_cs,
            read_dst: accumulate,
            lhs: a.as_ptr(),
            lhs_rs: sa[0],
            lhs_cs: sa[1],
            rhs: b.as_ptr(),
            rhs_rs: sb[0],
            rhs_cs: sb[1],
        }
    }

    /// Rows `lo..hi` of the output (and of `lhs`).
    pub(super) fn rows(&self, lo: usize, hi: usize) -> Self {
        GemmCall {
            m: hi - lo,
            dst: self.dst.wrapping_offset(lo as isize * self.dst_rs),
            lhs: self.lhs.wrapping_offset(lo as isize * self.lhs_rs),
            ..*self
        }
    }

    /// Columns `lo..hi` of the output (and of `rhs`).
    pub(super) fn cols(&self, lo: usize, hi: usize) -> Self {
        GemmCall {
            n: hi - lo,
            dst: self.dst.wrapping_offset(lo as isize * self.dst_cs),
            rhs: self.rhs.wrapping_offset(lo as isize * self.rhs_cs),
            ..*self
        }
    }

    /// # Safety
    /// The pointers, shapes and strides must describe live matrices (each element in
    /// bounds of its allocation), `dst` must not be read or written by anyone else during
    /// the call, and must not overlap `lhs` or `rhs`.
    pub(super) unsafe fn run(&self) {
        if self.m == 0 || self.n == 0 {
            return;
        }
        // SAFETY: the caller's contract. gemm's argument order: column stride before row
        // stride; dst = alpha·dst + beta·lhs·rhs with alpha = 1 read only when read_dst.
        unsafe {
            gemm::gemm(
                self.m,
                self.n,
                self.k,
                self.dst,
                self.dst_cs,
                self.dst_rs,
                self.read_dst,
                self.lhs,
                self.lhs_cs,
                self.lhs_rs,
                self.rhs,
                self.rhs_cs,
                self.rhs_rs,
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
