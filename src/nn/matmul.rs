//! Matrix products for the engine: [`MatMul`], on the pure-Rust `gemm` crate, optionally
//! splitting large products over persistent helper threads that it owns.
//!
//! Why not ndarray's `dot`: its default kernel runs at ~98 GFLOP/s here against ~185 for
//! `gemm` with the AVX-512 (`x86-v4`) kernels (measurements in ../shared/docs/DEPENDENCIES.md),
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

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use ndarray::{ArrayView2, ArrayViewMut2};

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
const HELPER_SPIN: Duration = Duration::from_micros(500);

/// How long a waiting thread spins before it starts yielding the CPU between polls. The
/// largest W1 block takes ~120 us, so a wait longer than this means the thread we wait for
/// is probably not running (another process has its core, or it shares ours), and spinning
/// would only delay it. Yielding much earlier (20 us) was no better in contended runs: it
/// hands the core to the other process for a whole time slice while the partner is still
/// computing.
const PURE_SPIN: Duration = Duration::from_micros(200);

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
const SPLIT_ALIGN: usize = 16;

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
        // Declared before `pending` so that it outlives it: helpers point at it.
        let next = AtomicUsize::new(0);
        let job = SplitJob {
            call,
            by_rows,
            len,
            blocks,
            next: &next,
        };
        // From here until `pending` is dropped, helpers may hold pointers into the views
        // behind `call` and to `next`; `pending`'s Drop waits for them even if the code
        // below panics.
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

/// `i`-th of `parts + 1` boundaries cutting `0..len` into nearly equal blocks whose inner
/// boundaries are multiples of [`SPLIT_ALIGN`] when `len` allows it.
fn split_point(len: usize, parts: usize, i: usize) -> usize {
    if i == 0 {
        return 0;
    }
    if i >= parts {
        return len;
    }
    let units = len.div_ceil(SPLIT_ALIGN);
    ((units * i / parts) * SPLIT_ALIGN).min(len)
}

/// A product cut into `blocks` blocks of rows (or columns) of the output, claimed one at a
/// time through the counter `next`, which lives on the stack of `MatMul::run_split`.
#[derive(Clone, Copy, Debug)]
struct SplitJob {
    call: GemmCall,
    by_rows: bool,
    len: usize,
    blocks: usize,
    next: *const AtomicUsize,
}

impl SplitJob {
    /// Computes blocks until none is left unclaimed.
    ///
    /// # Safety
    /// `call` must satisfy [`GemmCall::run`]'s contract for every thread running `work`
    /// concurrently on copies of this job (true when the others only write other blocks of
    /// `dst`: each block index is handed out once), and `next` must be live.
    unsafe fn work(&self) {
        // SAFETY: the caller's contract.
        let next = unsafe { &*self.next };
        loop {
            // Relaxed suffices: the counter only hands out indices (each exactly once, as
            // fetch_add is atomic); the results are published by the slot's Release/Acquire.
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= self.blocks {
                return;
            }
            let (lo, hi) = (
                split_point(self.len, self.blocks, i),
                split_point(self.len, self.blocks, i + 1),
            );
            let block = if self.by_rows {
                self.call.rows(lo, hi)
            } else {
                self.call.cols(lo, hi)
            };
            // SAFETY: block `i` lies inside the views and no one else writes it.
            unsafe { block.run() };
        }
    }
}

/// One `gemm::gemm` call on raw parts: `dst[m, n] (+)= lhs[m, k] · rhs[k, n]`, strides in
/// elements (signed, as ndarray gives them).
#[derive(Clone, Copy, Debug)]
struct GemmCall {
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    dst_cs: isize,
    read_dst: bool,
    lhs: *const f32,
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: *const f32,
    rhs_rs: isize,
    rhs_cs: isize,
}

impl GemmCall {
    fn new(a: &ArrayView2<f32>, b: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>, accumulate: bool) -> Self {
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
    fn rows(&self, lo: usize, hi: usize) -> Self {
        GemmCall {
            m: hi - lo,
            dst: self.dst.wrapping_offset(lo as isize * self.dst_rs),
            lhs: self.lhs.wrapping_offset(lo as isize * self.lhs_rs),
            ..*self
        }
    }

    /// Columns `lo..hi` of the output (and of `rhs`).
    fn cols(&self, lo: usize, hi: usize) -> Self {
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
    unsafe fn run(&self) {
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

// Slot states. The owner moves IDLE -> POSTED, POSTED -> IDLE (revoking a job the helper has
// not claimed yet), PANICKED -> IDLE (after reporting it) and IDLE -> SHUTDOWN. The helper
// moves POSTED -> RUNNING (claiming the job) and RUNNING -> IDLE or RUNNING -> PANICKED.
// Both claim and revoke are compare-exchanges from POSTED, so exactly one of them wins.
const IDLE: u32 = 0;
const POSTED: u32 = 1;
const RUNNING: u32 = 2;
const PANICKED: u32 = 3;
const SHUTDOWN: u32 = 4;

/// The mailbox shared by a `MatMul` and one helper thread.
struct Slot {
    state: AtomicU32,
    /// Set by the helper just before it parks, so the owner knows an `unpark` is needed.
    sleeping: AtomicBool,
    job: UnsafeCell<Option<SplitJob>>,
}

// SAFETY: `job` is written only by the owner while `state` is IDLE (the helper does not read
// it then), and read only by the helper after its POSTED -> RUNNING compare-exchange
// (Acquire: ordered after the owner's write and SeqCst store of POSTED) and before it leaves
// RUNNING with a Release store; the owner does not write `job` while RUNNING. The raw
// pointers inside are only dereferenced under `SplitJob::work`'s contract, which
// `MatMul::run_split` upholds by waiting for the helper (or revoking the job).
unsafe impl Send for Slot {}
unsafe impl Sync for Slot {}

struct Helper {
    slot: Arc<Slot>,
    thread: Thread,
    handle: Option<JoinHandle<()>>,
}

impl Helper {
    fn spawn(index: usize) -> std::io::Result<Helper> {
        let slot = Arc::new(Slot {
            state: AtomicU32::new(IDLE),
            sleeping: AtomicBool::new(false),
            job: UnsafeCell::new(None),
        });
        let theirs = Arc::clone(&slot);
        let handle = thread::Builder::new()
            .name(format!("nnlab-matmul-{index}"))
            .stack_size(256 * 1024)
            .spawn(move || helper_main(&theirs))?;
        Ok(Helper {
            slot,
            thread: handle.thread().clone(),
            handle: Some(handle),
        })
    }

    /// Hands `job` to the helper.
    ///
    /// # Safety
    /// The helper must be idle, `job` must satisfy [`SplitJob::work`]'s contract until
    /// [`Helper::finish`] returns, and the caller must call `finish` before anything the
    /// job points into is used again or goes away.
    unsafe fn post(&self, job: SplitJob) {
        debug_assert_eq!(self.slot.state.load(Ordering::Relaxed), IDLE);
        // SAFETY: state is IDLE, so the helper is not reading `job` (see `Slot`).
        unsafe { *self.slot.job.get() = Some(job) };
        // SeqCst store then SeqCst load of `sleeping`, against the helper's SeqCst store of
        // `sleeping` then SeqCst load of `state`: at least one side sees the other's store,
        // so either the helper notices the job before parking or we unpark it. (An unpark
        // that arrives before the park makes the park return at once.)
        self.slot.state.store(POSTED, Ordering::SeqCst);
        if self.slot.sleeping.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
    }

    /// Makes sure the posted job is over: revokes it if the helper has not claimed it yet,
    /// else waits until the helper is done. Returns false if the job panicked.
    fn finish(&self) -> bool {
        // Usually the helper claimed the job long ago; if it is still POSTED (helper parked,
        // or descheduled) the caller has already done all the blocks, so take it back.
        if self
            .slot
            .state
            .compare_exchange(POSTED, IDLE, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        let mut waiter = Waiter::new();
        loop {
            // Acquire pairs with the helper's Release store: its writes to dst are visible.
            match self.slot.state.load(Ordering::Acquire) {
                RUNNING => {}
                PANICKED => {
                    self.slot.state.store(IDLE, Ordering::Relaxed);
                    return false;
                }
                _ => return true,
            }
            waiter.pause();
        }
    }
}

/// Finishes (in Drop) the jobs of the first `posted` helpers, so that no path out of
/// `MatMul::run_split`, unwinding included, leaves a helper using a dead borrow.
struct Pending<'a> {
    helpers: &'a [Helper],
    posted: usize,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut all_ok = true;
        for h in &self.helpers[..self.posted] {
            all_ok &= h.finish();
        }
        // Panicking while already unwinding would abort; the first panic is the one to see.
        if !all_ok && !thread::panicking() {
            panic!("a matmul helper thread panicked while computing its block");
        }
    }
}

fn helper_main(slot: &Slot) {
    loop {
        if wait_for_job(slot) == SHUTDOWN {
            return;
        }
        // Claim the job, unless the owner has just revoked it.
        if slot
            .state
            .compare_exchange(POSTED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        // SAFETY: we own the job (RUNNING); see `Slot` for why reading it is race-free.
        let job = unsafe { *slot.job.get() }.expect("posted slot holds a job");
        // A panic inside gemm must not kill the helper silently (the owner would spin
        // forever): catch it and report it through the slot.
        // SAFETY: `Helper::post`'s contract; the owner waits for us before using the views.
        let ok = panic::catch_unwind(AssertUnwindSafe(|| unsafe { job.work() })).is_ok();
        slot.state.store(if ok { IDLE } else { PANICKED }, Ordering::Release);
    }
}

/// Waits for up to [`HELPER_SPIN`], then parks, until the slot is POSTED or SHUTDOWN.
fn wait_for_job(slot: &Slot) -> u32 {
    let mut waiter = Waiter::new();
    loop {
        let s = slot.state.load(Ordering::Acquire);
        if s == POSTED || s == SHUTDOWN {
            return s;
        }
        if waiter.yielding && waiter.start.elapsed() > HELPER_SPIN {
            slot.sleeping.store(true, Ordering::SeqCst);
            let s = slot.state.load(Ordering::SeqCst);
            if s == POSTED || s == SHUTDOWN {
                slot.sleeping.store(false, Ordering::Relaxed);
                return s;
            }
            thread::park();
            slot.sleeping.store(false, Ordering::SeqCst);
            waiter = Waiter::new();
        } else {
            waiter.pause();
        }
    }
}

/// Busy-waiting that turns polite: pure spinning for [`PURE_SPIN`], then `yield_now`
/// between polls. Yielding costs ~1 us when nothing else wants the core, but when another
/// thread does (the partner we are waiting for, or another process on this shared
/// machine) it gets the core instead of watching us spin.
struct Waiter {
    start: Instant,
    spins: u32,
    yielding: bool,
}

impl Waiter {
    fn new() -> Self {
        Waiter {
            start: Instant::now(),
            spins: 0,
            yielding: false,
        }
    }

    fn pause(&mut self) {
        if self.yielding {
            thread::yield_now();
            return;
        }
        self.spins = self.spins.wrapping_add(1);
        // Reading the clock costs ~20 ns; every 64 spins is precise enough.
        if self.spins.is_multiple_of(64) && self.start.elapsed() > PURE_SPIN {
            self.yielding = true;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn naive(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|t| a[[i, t]] * b[[t, j]]).sum())
    }

    /// Deterministic pseudo-random values in [-1, 1).
    fn filled(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Array2::from_shape_fn((rows, cols), |_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
    }

    /// Equal to 1e-5 relative to the larger of the value and `sqrt(k)`, the typical size of
    /// a sum of `k` products of values in [-1, 1): a block computed on another thread may be
    /// blocked differently by gemm, so results can differ in the last bits where the sum
    /// cancels.
    fn assert_close(got: &Array2<f32>, want: &Array2<f32>, k: usize, what: &str) {
        assert_eq!(got.dim(), want.dim(), "{what}");
        let scale = (k as f32).sqrt().max(1.0);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(scale), "{what}: got {g}, want {w}");
        }
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

    #[test]
    fn two_threads_give_the_single_thread_result_for_many_shapes_layouts_and_modes() {
        let single = MatMul::single();
        let multi = MatMul::with_threads(2);
        assert_eq!(multi.threads(), 2);
        let shapes = [
            (128, 784, 256),
            (784, 128, 256),
            (128, 256, 128),
            (128, 128, 10),
            (256, 128, 128),
            (128, 10, 128),
            (128, 128, 256),
            (1, 784, 256),
            (1, 3000, 1000),
            (3000, 1000, 1),
            (256, 1000, 1),
            (97, 301, 203),
            (203, 301, 97),
            (33, 1500, 65),
            (17, 17, 17),
            (513, 7, 515),
            (64, 0, 64),
            (300, 1, 300),
        ];
        for (si, &(m, k, n)) in shapes.iter().enumerate() {
            let a = filled(m, k, 2 * si as u64);
            let b = filled(k, n, 2 * si as u64 + 1);
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            let c0 = filled(m, n, 99);
            for accumulate in [false, true] {
                for (layout, av, bv) in [
                    ("plain", a.view(), b.view()),
                    ("a transposed", at.t(), b.view()),
                    ("b transposed", a.view(), bt.t()),
                    ("both transposed", at.t(), bt.t()),
                ] {
                    let what = format!("{m}x{k}x{n} {layout} accumulate={accumulate}");
                    let mut want = c0.clone();
                    single.gemm(av, bv, want.view_mut(), accumulate);
                    let mut got = c0.clone();
                    multi.gemm(av, bv, got.view_mut(), accumulate);
                    assert_close(&got, &want, k, &what);
                    // Also against the naive product, so both cannot be wrong the same way.
                    let mut reference = naive(&a, &b);
                    if accumulate {
                        reference += &c0;
                    }
                    for (g, r) in got.iter().zip(&reference) {
                        assert!((g - r).abs() <= 1e-3 * r.abs().max(1.0), "{what}: {g} vs naive {r}");
                    }
                }
            }
        }
    }

    #[test]
    fn two_threads_handle_strided_sub_views_and_write_only_inside_the_output_view() {
        let multi = MatMul::with_threads(2);
        let single = MatMul::single();
        let big_a = filled(400, 900, 7);
        let big_b = filled(900, 600, 8);
        // Every other row/column, an offset window, and a reversed axis.
        let a = big_a.slice(s![1..;2, 3..803]);
        let b = big_b.slice(s![..800, 5..;2]);
        let b_rev = big_b.slice(s![..800;-1, ..250]);
        let a_rev = big_a.slice(s![..200, ..800;-1]);
        for (av, bv) in [(a, b), (a_rev, b), (a, b_rev)] {
            let (m, n) = (av.nrows(), bv.ncols());
            let mut canvas = Array2::<f32>::from_elem((2 * m + 3, 3 * n + 2), 7.0);
            let mut want = Array2::<f32>::zeros((m, n));
            single.gemm(av, bv, want.view_mut(), false);
            multi.gemm(av, bv, canvas.slice_mut(s![1..2 * m + 1;2, 2..3 * n + 2;3]), false);
            let got = canvas.slice(s![1..2 * m + 1;2, 2..3 * n + 2;3]).to_owned();
            assert_close(&got, &want, 800, &format!("{m}x{n} strided"));
            // Everything outside the strided output view is untouched.
            let mut outside = canvas.clone();
            outside.slice_mut(s![1..2 * m + 1;2, 2..3 * n + 2;3]).fill(7.0);
            assert!(outside.iter().all(|&v| v == 7.0), "wrote outside the output view");
        }
    }

    #[test]
    fn an_empty_inner_dimension_zeroes_or_keeps_the_output() {
        for mm in [MatMul::single(), MatMul::with_threads(2)] {
            let a = Array2::<f32>::zeros((300, 0));
            let b = Array2::<f32>::zeros((0, 200));
            let mut c = Array2::<f32>::from_elem((300, 200), 3.0);
            mm.gemm(a.view(), b.view(), c.view_mut(), true);
            assert!(c.iter().all(|&v| v == 3.0));
            mm.gemm(a.view(), b.view(), c.view_mut(), false);
            assert!(c.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn thousands_of_back_to_back_and_spaced_out_calls_complete_without_deadlock() {
        let multi = MatMul::with_threads(2);
        let a = filled(128, 64, 1);
        let b = filled(64, 256, 2);
        let mut want = Array2::zeros((128, 256));
        MatMul::single().gemm(a.view(), b.view(), want.view_mut(), false);
        let mut c = Array2::zeros((128, 256));
        for i in 0..5000 {
            multi.gemm(a.view(), b.view(), c.view_mut(), false);
            if i % 500 == 0 {
                assert_close(&c, &want, 64, "repeated call");
                // Let the helper give up spinning and park, so the wake-up path is exercised.
                thread::sleep(Duration::from_millis(2));
            }
        }
        assert_close(&c, &want, 64, "last call");
    }

    #[test]
    fn dropping_a_matmul_stops_and_joins_its_helpers() {
        let mm = MatMul::with_threads(3);
        assert_eq!(mm.threads(), 3);
        let watch: Vec<Arc<Slot>> = mm.helpers.iter().map(|h| Arc::clone(&h.slot)).collect();
        let a = filled(200, 100, 3);
        let b = filled(100, 300, 4);
        let mut c = Array2::zeros((200, 300));
        mm.gemm(a.view(), b.view(), c.view_mut(), false);
        drop(mm);
        // Each helper thread held one reference to its slot; joined threads have dropped it.
        for slot in &watch {
            assert_eq!(Arc::strong_count(slot), 1, "helper thread still alive after drop");
        }
    }

    #[test]
    fn three_threads_also_match_the_single_thread_product() {
        let mm = MatMul::with_threads(3);
        for &(m, k, n) in &[(128, 784, 256), (784, 128, 256), (50, 500, 47), (1000, 40, 33)] {
            let a = filled(m, k, 5);
            let b = filled(k, n, 6);
            let mut want = Array2::zeros((m, n));
            MatMul::single().gemm(a.view(), b.view(), want.view_mut(), false);
            let mut got = Array2::zeros((m, n));
            mm.gemm(a.view(), b.view(), got.view_mut(), false);
            assert_close(&got, &want, k, "3 threads");
        }
    }

    #[test]
    fn a_matmul_with_helpers_can_move_to_another_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let mm = MatMul::with_threads(2);
        assert_send(&mm);
        let out = thread::spawn(move || {
            let a = filled(128, 300, 1);
            let b = filled(300, 128, 2);
            let mut c = Array2::zeros((128, 128));
            mm.gemm(a.view(), b.view(), c.view_mut(), false);
            c.sum()
        })
        .join()
        .unwrap();
        assert!(out.is_finite());
    }

    #[test]
    fn after_a_stalled_helper_large_products_run_alone_for_a_while_and_stay_correct() {
        let mm = MatMul::with_threads(2);
        let a = filled(128, 300, 1);
        let b = filled(300, 256, 2);
        let mut want = Array2::zeros((128, 256));
        MatMul::single().gemm(a.view(), b.view(), want.view_mut(), false);
        mm.note_wait(Duration::from_micros(50), Duration::from_millis(3));
        assert_eq!(mm.solo_left.get(), SOLO_MIN);
        mm.note_wait(Duration::from_micros(50), Duration::from_millis(3));
        assert_eq!(mm.solo_left.get(), 2 * SOLO_MIN, "repeated stalls back off longer");
        let mut c = Array2::zeros((128, 256));
        // Exactly the solo turns: none of these splits, so none can record a new stall.
        for _ in 0..2 * SOLO_MIN {
            mm.gemm(a.view(), b.view(), c.view_mut(), false);
        }
        assert_eq!(mm.solo_left.get(), 0, "solo turns are used up by large products");
        assert_close(&c, &want, 300, "during solo turns");
        mm.gemm(a.view(), b.view(), c.view_mut(), false);
        assert_close(&c, &want, 300, "split again after solo turns");
        // A wait shorter than the caller's own work is normal, and resets the back-off.
        mm.note_wait(Duration::from_micros(300), Duration::from_micros(250));
        assert_eq!((mm.solo_left.get(), mm.solo_next.get()), (0, SOLO_MIN));
    }

    #[test]
    fn block_boundaries_cover_the_range_and_are_aligned() {
        for len in [1, 15, 16, 17, 64, 128, 256, 784, 1000] {
            for parts in 1..=4 {
                let pts: Vec<usize> = (0..=parts).map(|i| split_point(len, parts, i)).collect();
                assert_eq!(pts[0], 0);
                assert_eq!(pts[parts], len);
                assert!(pts.windows(2).all(|w| w[0] <= w[1]), "{len}/{parts}: {pts:?}");
                assert!(pts[1..parts].iter().all(|p| p % SPLIT_ALIGN == 0 || *p == len));
            }
        }
    }
}
