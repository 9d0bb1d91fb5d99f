//! The helper threads a `MatMul` owns, their job slots, and how jobs are cut into blocks.

use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::Instant;

use super::call::GemmCall;
use super::{HELPER_SPIN, PURE_SPIN, SPLIT_ALIGN};

/// `i`-th of `parts + 1` boundaries cutting `0..len` into nearly equal blocks whose inner
/// boundaries are multiples of [`SPLIT_ALIGN`] when `len` allows it.
pub(super) fn split_point(len: usize, parts: usize, i: usize) -> usize {
    if i == 0 {
        return 0;
    }
    if i >= parts {
        return len;
    }
    let units = len.div_ceil(SPLIT_ALIGN);
    ((units * i / parts) * SPLIT_ALIGN).min(len)
}

/// What a split job computes, block by block.
#[derive(Clone, Copy, Debug)]
pub(super) enum Work {
    /// Blocks of rows (or columns) of a product's output.
    Gemm { call: GemmCall, by_rows: bool },
    /// Ranges of `0..len` handed to a closure that lives on the caller's stack (its
    /// lifetime erased: see `MatMul::for_ranges`).
    Ranges(*const (dyn Fn(usize, usize) + Sync)),
}

/// Work cut into `blocks` blocks, claimed one at a time through the counter `next`, which
/// lives on the stack of `MatMul::run_job`.
#[derive(Clone, Copy, Debug)]
pub(super) struct SplitJob {
    pub(super) work: Work,
    pub(super) len: usize,
    pub(super) blocks: usize,
    pub(super) next: *const AtomicUsize,
}

impl SplitJob {
    /// Computes blocks until none is left unclaimed.
    ///
    /// # Safety
    /// `call` must satisfy [`GemmCall::run`]'s contract for every thread running `work`
    /// concurrently on copies of this job (true when the others only write other blocks of
    /// `dst`: each block index is handed out once), and `next` must be live.
    pub(super) unsafe fn work(&self) {
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
            match self.work {
                Work::Gemm { call, by_rows } => {
                    let block = if by_rows { call.rows(lo, hi) } else { call.cols(lo, hi) };
                    // SAFETY: block `i` lies inside the views and no one else writes it.
                    unsafe { block.run() };
                }
                // SAFETY: the closure outlives the job (the caller's contract); it is `Sync`,
                // and each range is handed out once.
                Work::Ranges(f) => unsafe { (*f)(lo, hi) },
            }
        }
    }
}

// Slot states. The owner moves IDLE -> POSTED, POSTED -> IDLE (revoking a job the helper has
// not claimed yet), PANICKED -> IDLE (after reporting it) and IDLE -> SHUTDOWN. The helper
// moves POSTED -> RUNNING (claiming the job) and RUNNING -> IDLE or RUNNING -> PANICKED.
// Both claim and revoke are compare-exchanges from POSTED, so exactly one of them wins.
pub(super) const IDLE: u32 = 0;
const POSTED: u32 = 1;
const RUNNING: u32 = 2;
const PANICKED: u32 = 3;
pub(super) const SHUTDOWN: u32 = 4;

/// The mailbox shared by a `MatMul` and one helper thread.
pub(super) struct Slot {
    pub(super) state: AtomicU32,
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

pub(super) struct Helper {
    pub(super) slot: Arc<Slot>,
    pub(super) thread: Thread,
    pub(super) handle: Option<JoinHandle<()>>,
}

impl Helper {
    pub(super) fn spawn(index: usize) -> std::io::Result<Helper> {
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
    pub(super) unsafe fn post(&self, job: SplitJob) {
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
    pub(super) fn finish(&self) -> bool {
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
pub(super) struct Pending<'a> {
    pub(super) helpers: &'a [Helper],
    pub(super) posted: usize,
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
pub(super) struct Waiter {
    start: Instant,
    spins: u32,
    yielding: bool,
}

impl Waiter {
    pub(super) fn new() -> Self {
        Waiter {
            start: Instant::now(),
            spins: 0,
            yielding: false,
        }
    }

    pub(super) fn pause(&mut self) {
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
