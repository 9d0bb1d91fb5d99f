//! Two-thread products against single-thread and naive ones; helper lifecycle.

use super::team::{Slot, split_point};
use super::*;
use ndarray::{Array2, s};
use std::sync::Arc;
use std::thread;

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
    // A wait shorter than the caller's own work is normal, and resets the back-off. (Checked
    // before the next split product: on a loaded machine that one may record a real stall.)
    mm.note_wait(Duration::from_micros(300), Duration::from_micros(250));
    assert_eq!((mm.solo_left.get(), mm.solo_next.get()), (0, SOLO_MIN));
    mm.gemm(a.view(), b.view(), c.view_mut(), false);
    assert_close(&c, &want, 300, "split again after solo turns");
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

#[test]
fn for_ranges_covers_every_index_exactly_once_on_one_and_two_threads() {
    for mm in [MatMul::single(), MatMul::with_threads(2)] {
        for len in [0usize, 1, 15, 16, 17, 1000, 100_003] {
            let mut hits = vec![0u32; len];
            let shared = DisjointSlice::new(&mut hits);
            mm.for_ranges(len, 1, &|lo, hi| {
                // SAFETY: for_ranges hands out disjoint ranges.
                for h in unsafe { shared.range(lo, hi) } {
                    *h += 1;
                }
            });
            assert!(hits.iter().all(|&h| h == 1), "len {len} on {mm:?}");
        }
    }
}
