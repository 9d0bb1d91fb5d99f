//! Matrix products for the engine: [`MatMul`], on the pure-Rust `gemm` crate, optionally
//! splitting large products over persistent helper threads that it owns.
//!
//! Why not ndarray's `dot`: its default kernel runs at ~98 GFLOP/s here against ~185 for
//! `gemm` with the AVX-512 (`x86-v4`) kernels (measurements in `docs/GEMM.md`),
//! and `gemm` needs no system BLAS. (Those figures are from a Xeon; on the AMD EPYC where
//! this file was tuned, single-thread `gemm` runs the W1 shapes at ~105-110 GFLOP/s, close
//! to that core's fp32 FMA peak.) Every product in the engine goes through [`MatMul`], so
//! the threading strategy lives in one place.
//!
//! Why our own helper threads instead of `gemm::Parallelism::Rayon`: a training step is a
//! chain of eight products of 0.3-51 MFLOP with small element-wise work in between. Rayon's
//! idle workers fall asleep within microseconds and waking them costs 30-70 us per call here,
//! which ate the whole gain. Instead each large product's output is cut into a few blocks
//! (of rows or of columns) that the calling thread and the helpers claim one at a time from
//! a shared counter, each block being an independent single-threaded `gemm` call on
//! sub-views. Helpers spin for a short while after a job before parking, so the next product
//! of the same step finds them awake. Claiming blocks dynamically (rather than one fixed
//! half per thread) matters on a shared machine: if a helper is parked, slow to wake, or
//! descheduled by another process, the caller simply computes more blocks itself and waits
//! at most for the block the helper is in, instead of for a whole half.
//!
//! The only `unsafe` beyond the `gemm` call itself is handing a helper raw pointers into the
//! caller's borrowed views (and to the block counter on the caller's stack). It is sound
//! because [`MatMul::gemm`] never returns (nor unwinds) before every helper it posted to has
//! either finished or been prevented from starting; see [`Pending`].

mod call;
mod team;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndarray::{ArrayView2, ArrayViewMut2};

use call::GemmCall;
use team::{Helper, Pending, SHUTDOWN, SplitJob, Work};

/// Products with fewer flops (2·m·n·k) than this stay on the calling thread: below it the
/// hand-off (~1-3 us even when the helper is awake) and the smaller, less efficient gemm
/// calls cost about what the second core gives. Splitting the 0.33 MFLOP W1 products
/// (4-6 us) measured 0.75-1.2x, the 8.4 MFLOP ones 1.6-1.9x (`examples/gemm_bench.rs`).
const PARALLEL_MIN_FLOPS: usize = 2_000_000;

/// How long a helper waits for its next job before parking. Long enough to bridge the
/// element-wise work between two products of a training step (tens of us) and usually the
/// optimizer update between steps (~100-300 us), short enough that an idle `MatMul` does
/// not burn a core for long. If it does park, the next product still starts at once on the
/// calling thread and the helper joins in when woken (30-70 us later).
pub(super) const HELPER_SPIN: Duration = Duration::from_micros(500);

/// How long a waiting thread spins before it starts yielding the CPU between polls. The
/// largest W1 block takes ~120 us, so a wait longer than this means the thread we wait for
/// is probably not running (another process has its core, or it shares ours), and spinning
/// would only delay it. Yielding much earlier (20 us) was no better in contended runs: it
/// hands the core to the other process for a whole time slice while the partner is still
/// computing.
pub(super) const PURE_SPIN: Duration = Duration::from_micros(200);

/// Blocks per participating thread. More blocks balance load better when a thread is slow
/// or late, fewer make each gemm call bigger (every call re-packs the shared operand);
/// 1, 2 and 4 measured within noise of each other on the W1 step.
const BLOCKS_PER_THREAD: usize = 2;

/// After a product where the caller had to wait for a helper longer than its own share took
/// (and more than [`STALL_MIN_WAIT`]), the helper was most likely preempted by another
/// process mid-block; on a shared 2-core machine that costs a whole time slice (ms) per
/// product. The next [`SOLO_MIN`] large products then run on the calling thread alone,
/// doubling up to [`SOLO_MAX`] while stalls repeat, back to [`SOLO_MIN`] after a clean split.
/// With another process busy on one core, splitting anyway measured 0.6-0.95x of one thread.
const STALL_MIN_WAIT: Duration = Duration::from_micros(200);
const SOLO_MIN: u32 = 32;
const SOLO_MAX: u32 = 256;

/// Block boundaries are multiples of this many rows/columns (one AVX-512 f32 vector), so
/// the gemm micro-kernels see whole vectors wherever possible.
pub(super) const SPLIT_ALIGN: usize = 16;

/// Runs matrix products; owns whatever threads it uses.
///
/// `Send` (it can move into a worker thread) but deliberately not `Sync`: each helper has a
/// single job slot, so two threads must not call [`MatMul::gemm`] on the same `MatMul` at once.
pub struct MatMul {
    threads: usize,
    helpers: Vec<Helper>,
    /// Large products still to run on the calling thread alone after a stall (see
    /// [`STALL_MIN_WAIT`]). The `Cell`s also make `MatMul` `!Sync`, as it must be.
    solo_left: Cell<u32>,
    /// What `solo_left` is set to at the next stall.
    solo_next: Cell<u32>,
}

impl fmt::Debug for MatMul {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatMul")
            .field("threads", &self.threads)
            .field("helpers", &self.helpers.len())
            .field("solo_left", &self.solo_left.get())
            .field("parallel_min_flops", &PARALLEL_MIN_FLOPS)
            .finish()
    }
}

impl MatMul {
    /// Products on the calling thread only (no helper threads, no synchronisation).
    pub fn single() -> Self {
        MatMul {
            threads: 1,
            helpers: Vec::new(),
            solo_left: Cell::new(0),
            solo_next: Cell::new(SOLO_MIN),
        }
    }

    /// Products split over `threads` threads: the calling thread plus `threads - 1` helper
    /// threads started here and joined when the `MatMul` is dropped (1 = calling thread only).
    /// If the OS refuses to start a helper, the `MatMul` runs with the threads it got;
    /// [`MatMul::threads`] reports how many.
    pub fn with_threads(threads: usize) -> Self {
        let mut mm = MatMul::single();
        for i in 1..threads.max(1) {
            match Helper::spawn(i) {
                Ok(h) => mm.helpers.push(h),
                Err(_) => break,
            }
        }
        mm.threads = mm.helpers.len() + 1;
        mm
    }

    /// Threads that take part in a large product, including the calling thread.
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
        let call = GemmCall::new(&a, &b, &mut c, accumulate);
        let flops = 2 * m * n * k;
        if self.helpers.is_empty() || flops < PARALLEL_MIN_FLOPS || self.take_solo_turn() {
            // SAFETY: `call` describes the live views above, whose shapes were checked.
            unsafe { call.run() };
        } else {
            self.run_split(call);
        }
    }

    /// Cuts the output into blocks, lets the helpers and this thread claim them, and waits
    /// until every block is done.
    fn run_split(&self, call: GemmCall) {
        // Splitting rows of `c` splits rows of `a` and shares `b`; splitting columns splits
        // `b` and shares `a`. Measured on the W1 shapes (examples/gemm_bench.rs), cutting
        // along the output's contiguous axis (columns of a row-major `c`) was as good or
        // better everywhere (1.8-1.9x), while cutting rows of a 128-row output ran 1.1-1.5x
        // for 128x128x256 and 128x256x784. (gemm transposes a row-major problem internally,
        // so this is the axis its micro-kernel runs along.) Fall back to the other axis when
        // the contiguous one is too short to give every thread an aligned block.
        let contiguous_rows = call.dst_rs.unsigned_abs() < call.dst_cs.unsigned_abs();
        let (along, across) = if contiguous_rows {
            (call.m, call.n)
        } else {
            (call.n, call.m)
        };
        let prefer_contiguous = along >= self.threads * SPLIT_ALIGN || along >= across;
        let by_rows = contiguous_rows == prefer_contiguous;
        let len = if by_rows { call.m } else { call.n };
        let blocks = (self.threads * BLOCKS_PER_THREAD).min(len.div_ceil(SPLIT_ALIGN)).max(1);
        self.run_job(Work::Gemm { call, by_rows }, len, blocks);
    }

    /// Runs `f(lo, hi)` over disjoint ranges that together cover `0..len`, on this thread
    /// and the helpers (on this thread alone when `len < min_len`). For memory-bound loops
    /// of a training step (the optimizer update) that would otherwise leave the second core
    /// idle between products. `f` must only touch what belongs to its range.
    pub fn for_ranges(&self, len: usize, min_len: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        if len == 0 {
            return;
        }
        if self.helpers.is_empty() || len < min_len || self.take_solo_turn() {
            f(0, len);
            return;
        }
        let blocks = (self.threads * BLOCKS_PER_THREAD).min(len.div_ceil(SPLIT_ALIGN)).max(1);
        // SAFETY: only the lifetime is erased. `run_job` returns (or unwinds) only after
        // every helper that could call `f` has finished or had its job revoked, and `f`
        // outlives this call.
        let f: *const (dyn Fn(usize, usize) + Sync + 'static) =
            unsafe { std::mem::transmute(f as *const (dyn Fn(usize, usize) + Sync + '_)) };
        self.run_job(Work::Ranges(f), len, blocks);
    }

    /// Posts `work` to the helpers, works on it here too, and waits until every block is
    /// done.
    fn run_job(&self, work: Work, len: usize, blocks: usize) {
        // Declared before `pending` so that it outlives it: helpers point at it.
        let next = AtomicUsize::new(0);
        let job = SplitJob {
            work,
            len,
            blocks,
            next: &next,
        };
        // From here until `pending` is dropped, helpers may hold pointers into the views
        // or closure behind `work` and to `next`; `pending`'s Drop waits for them even if
        // the code below panics.
        let mut pending = Pending {
            helpers: &self.helpers,
            posted: 0,
        };
        for h in self.helpers.iter().take(blocks - 1) {
            // SAFETY: `job` satisfies `SplitJob::work`'s contract (blocks lie inside the
            // checked views and are disjoint in `c`, each is claimed once), and `pending`
            // keeps this function from returning before the helper is done or revoked.
            unsafe { h.post(job) };
            pending.posted += 1;
        }
        let start = Instant::now();
        // SAFETY: as above.
        unsafe { job.work() };
        let own = start.elapsed();
        drop(pending);
        self.note_wait(own, start.elapsed() - own);
    }

    /// True (and counts one down) while products should skip the helpers after a stall.
    fn take_solo_turn(&self) -> bool {
        let left = self.solo_left.get();
        if left > 0 {
            self.solo_left.set(left - 1);
        }
        left > 0
    }

    /// Records how long the caller waited for helpers after computing its own blocks.
    fn note_wait(&self, own: Duration, waited: Duration) {
        if waited > own && waited > STALL_MIN_WAIT {
            let n = self.solo_next.get();
            self.solo_left.set(n);
            self.solo_next.set((n * 2).min(SOLO_MAX));
        } else {
            self.solo_next.set(SOLO_MIN);
        }
    }
}

impl Drop for MatMul {
    fn drop(&mut self) {
        // No job is in flight here: `gemm` always waits for its helpers before returning.
        for h in &self.helpers {
            h.slot.state.store(SHUTDOWN, Ordering::SeqCst);
            h.thread.unpark();
        }
        for h in &mut self.helpers {
            if let Some(handle) = h.handle.take() {
                // A helper never panics outside a job (jobs are caught), so join cannot fail
                // in practice; if it did, there is nothing useful to do with it in a Drop.
                let _ = handle.join();
            }
        }
    }
}

/// A mutable slice that the ranges of [`MatMul::for_ranges`] write in parallel, each
/// through its own disjoint sub-slice.
pub struct DisjointSlice<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: it only hands out sub-slices through the unsafe `range`, whose callers guarantee
// that no two live sub-slices overlap; `T: Send` makes moving the elements' access across
// threads sound.
unsafe impl<T: Send> Sync for DisjointSlice<'_, T> {}
unsafe impl<T: Send> Send for DisjointSlice<'_, T> {}

impl<'a, T> DisjointSlice<'a, T> {
    pub fn new(slice: &'a mut [T]) -> Self {
        DisjointSlice {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _borrow: std::marker::PhantomData,
        }
    }

    /// Elements `lo..hi`.
    ///
    /// # Safety
    /// No other sub-slice overlapping `lo..hi` may be alive at the same time (the ranges
    /// `MatMul::for_ranges` hands out are disjoint).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, lo: usize, hi: usize) -> &mut [T] {
        assert!(lo <= hi && hi <= self.len, "range {lo}..{hi} out of 0..{}", self.len);
        // SAFETY: in bounds (checked above); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(lo), hi - lo) }
    }
}
