//! Benchmark of the matrix-multiply backend on the W1 training shapes (MLP 784-256-128-10,
//! batch 128): `MatMul::single()` against `MatMul::with_threads(2)` per product and for one
//! training step's eight products, and batch-1 `matvec_sparse` against gemm with m = 1.
//!
//! The machine is shared and noisy, so the two variants are always timed alternately in the
//! same run, in many short rounds, and medians (of times and of per-round ratios) are shown.
//!
//! `cargo run --release --example gemm_bench [rounds]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use nnlab::nn::matmul::MatMul;
use nnlab::nn::matvec::{matvec_sparse, matvec_sparse_portable};

fn filled(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Seconds per call of `f`, timed over `iters` calls.
fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / iters as f64
}

/// The activations, weights and gradients of one W1 step, so the products below use the
/// real shapes and the real (transposed) views.
struct Step {
    x: Array2<f32>,   // [128, 784] input batch
    w1: Array2<f32>,  // [784, 256]
    w2: Array2<f32>,  // [256, 128]
    w3: Array2<f32>,  // [128, 10]
    h1: Array2<f32>,  // [128, 256]
    h2: Array2<f32>,  // [128, 128]
    z3: Array2<f32>,  // [128, 10]
    dz1: Array2<f32>, // [128, 256]
    dz2: Array2<f32>, // [128, 128]
    dz3: Array2<f32>, // [128, 10]
    dw1: Array2<f32>,
    dw2: Array2<f32>,
    dw3: Array2<f32>,
    dx2: Array2<f32>, // [128, 256] gradient w.r.t. h1
    dx3: Array2<f32>, // [128, 128] gradient w.r.t. h2
    dx1: Array2<f32>, // [128, 784] not part of a step (layer 1 needs no input gradient)
}

impl Step {
    fn new(batch: usize) -> Step {
        Step {
            x: filled(batch, 784, 1),
            w1: filled(784, 256, 2),
            w2: filled(256, 128, 3),
            w3: filled(128, 10, 4),
            h1: filled(batch, 256, 5),
            h2: filled(batch, 128, 6),
            z3: Array2::zeros((batch, 10)),
            dz1: filled(batch, 256, 7),
            dz2: filled(batch, 128, 8),
            dz3: filled(batch, 10, 9),
            dw1: Array2::zeros((784, 256)),
            dw2: Array2::zeros((256, 128)),
            dw3: Array2::zeros((128, 10)),
            dx2: Array2::zeros((batch, 256)),
            dx3: Array2::zeros((batch, 128)),
            dx1: Array2::zeros((batch, 784)),
        }
    }
}

type Product = for<'a> fn(&'a mut Step) -> (ArrayView2<'a, f32>, ArrayView2<'a, f32>, ArrayViewMut2<'a, f32>);

/// The products of one step in execution order, plus the layer-1 input gradient (last, not
/// part of the step) for reference.
const PRODUCTS: [(&str, Product); 9] = [
    ("fwd1  X·W1", |s| (s.x.view(), s.w1.view(), s.h1.view_mut())),
    ("fwd2  H1·W2", |s| (s.h1.view(), s.w2.view(), s.h2.view_mut())),
    ("fwd3  H2·W3", |s| (s.h2.view(), s.w3.view(), s.z3.view_mut())),
    ("dW3   H2^T·dZ3", |s| (s.h2.t(), s.dz3.view(), s.dw3.view_mut())),
    ("dX3   dZ3·W3^T", |s| (s.dz3.view(), s.w3.t(), s.dx3.view_mut())),
    ("dW2   H1^T·dZ2", |s| (s.h1.t(), s.dz2.view(), s.dw2.view_mut())),
    ("dX2   dZ2·W2^T", |s| (s.dz2.view(), s.w2.t(), s.dx2.view_mut())),
    ("dW1   X^T·dZ1", |s| (s.x.t(), s.dz1.view(), s.dw1.view_mut())),
    ("(dX1  dZ1·W1^T)", |s| (s.dz1.view(), s.w1.t(), s.dx1.view_mut())),
];
const STEP_PRODUCTS: usize = 8;

fn run_product(mm: &MatMul, s: &mut Step, p: Product) {
    let (a, b, c) = p(s);
    mm.gemm(a, b, c, false);
}

/// One step's eight products; `gap` of busy work after each stands in for the element-wise
/// work (bias, ReLU, softmax, Adam) that separates them in real training.
fn run_step(mm: &MatMul, s: &mut Step, gap: Duration) {
    for (_, p) in &PRODUCTS[..STEP_PRODUCTS] {
        run_product(mm, s, *p);
        if !gap.is_zero() {
            let t = Instant::now();
            while t.elapsed() < gap {
                std::hint::spin_loop();
            }
        }
    }
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(31);
    let single = MatMul::single();
    let two = MatMul::with_threads(2);
    println!("{single:?}\n{two:?}\nrounds per row: {rounds} (medians; 1t and 2t alternate within each round)\n");

    let mut s = Step::new(128);
    println!("| product | m x k x n | MFLOP | 1 thread us | 2 threads us | 1t GFLOP/s | 2t GFLOP/s | speed-up |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, p) in PRODUCTS {
        let (m, k, n) = {
            let (a, b, _) = p(&mut s);
            (a.nrows(), a.ncols(), b.ncols())
        };
        let flop = 2.0 * (m * k * n) as f64;
        // About 2 ms of work per timing so clock resolution and hand-off noise average out.
        let iters = ((2e-3 * 200e9 / flop) as usize).clamp(5, 2000);
        for _ in 0..iters {
            run_product(&single, &mut s, p);
            run_product(&two, &mut s, p);
        }
        let (mut t1, mut t2, mut ratio) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            let a = time(iters, || run_product(&single, &mut s, p));
            let b = time(iters, || run_product(&two, &mut s, p));
            t1.push(a);
            t2.push(b);
            ratio.push(a / b);
        }
        let (t1, t2, r) = (median(&mut t1), median(&mut t2), median(&mut ratio));
        println!(
            "| {name} | {m}x{k}x{n} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} | {r:.2}x |",
            flop / 1e6,
            t1 * 1e6,
            t2 * 1e6,
            flop / t1 / 1e9,
            flop / t2 / 1e9
        );
    }

    let step_flop: f64 = PRODUCTS[..STEP_PRODUCTS]
        .iter()
        .map(|(_, p)| {
            let (a, b, _) = p(&mut s);
            2.0 * (a.nrows() * a.ncols() * b.ncols()) as f64
        })
        .sum();
    println!(
        "\nOne W1 step's 8 products ({:.1} MFLOP), batch 128 (and 96, the epoch's last batch):",
        step_flop / 1e6
    );
    println!("| variant | 1 thread ms | 2 threads ms | 1t GFLOP/s | 2t GFLOP/s | speed-up |");
    println!("|---|---|---|---|---|---|");
    for (label, batch, gap_us) in [
        ("back to back, batch 128", 128, 0),
        ("30 us busy gap after each product (time excl. gaps)", 128, 30),
        ("150 us busy gap after each product (time excl. gaps)", 128, 150),
        ("back to back, batch 96", 96, 0),
    ] {
        let mut s = Step::new(batch);
        let gap = Duration::from_micros(gap_us);
        let gaps = STEP_PRODUCTS as f64 * gap.as_secs_f64();
        let iters = 20;
        for _ in 0..iters {
            run_step(&single, &mut s, gap);
            run_step(&two, &mut s, gap);
        }
        let (mut t1, mut t2, mut ratio) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            let a = time(iters, || run_step(&single, &mut s, gap)) - gaps;
            let b = time(iters, || run_step(&two, &mut s, gap)) - gaps;
            t1.push(a);
            t2.push(b);
            ratio.push(a / b);
        }
        let flop = step_flop * batch as f64 / 128.0;
        let (t1, t2, r) = (median(&mut t1), median(&mut t2), median(&mut ratio));
        println!(
            "| {label} | {:.3} | {:.3} | {:.0} | {:.0} | {r:.2}x |",
            t1 * 1e3,
            t2 * 1e3,
            flop / t1 / 1e9,
            flop / t2 / 1e9
        );
    }

    bench_matvec(rounds);
}

/// The first 200 MNIST test images (pixels / 255), or synthetic 80%-zero vectors if the
/// dataset is not where the repository keeps it.
fn mnist_like_inputs() -> (Vec<Vec<f32>>, &'static str) {
    use std::io::Read;
    let dir = std::env::var("MNIST_DIR").unwrap_or_else(|_| "data/mnist".into());
    let path = format!("{dir}/t10k-images-idx3-ubyte.gz");
    if let Ok(f) = std::fs::File::open(&path) {
        let mut bytes = Vec::new();
        if flate2::read::GzDecoder::new(f).read_to_end(&mut bytes).is_ok() && bytes.len() > 16 + 200 * 784 {
            let images = bytes[16..16 + 200 * 784]
                .chunks(784)
                .map(|img| img.iter().map(|&p| p as f32 / 255.0).collect())
                .collect();
            return (images, "MNIST test images 0-199");
        }
    }
    let noise = filled(200, 784, 11);
    let images = noise
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|&v| if v < 0.3 { 0.0 } else { v + 0.5 }).collect())
        .collect();
    (images, "synthetic, 80% zeros (MNIST not found)")
}

fn bench_matvec(rounds: usize) {
    let (inputs, source) = mnist_like_inputs();
    let zeros = inputs.iter().flatten().filter(|&&v| v == 0.0).count() as f64 / (inputs.len() * 784) as f64;
    println!(
        "\nBatch-1 inference, per input vector ({source}; {:.0}% zeros), median of {rounds} rounds:",
        zeros * 100.0
    );
    println!("| layer | matvec_sparse us | portable (SSE2) us | gemm m=1 us | gemm / sparse |");
    println!("|---|---|---|---|---|");
    let mm = MatMul::single();
    for (n_in, n_out, sparse_inputs) in [(784, 256, true), (256, 128, false), (128, 10, false)] {
        let w = filled(n_in, n_out, 12);
        let bias = vec![0.1f32; n_out];
        // Hidden activations after ReLU are about half zeros.
        let xs: Vec<Vec<f32>> = if sparse_inputs {
            inputs.clone()
        } else {
            let f = filled(inputs.len(), n_in, 13);
            f.rows()
                .into_iter()
                .map(|r| r.iter().map(|&v| v.max(0.0)).collect())
                .collect()
        };
        let xmats: Vec<Array2<f32>> = xs
            .iter()
            .map(|x| Array2::from_shape_vec((1, n_in), x.clone()).unwrap())
            .collect();
        let mut out = vec![0f32; n_out];
        let mut outm = Array2::<f32>::zeros((1, n_out));
        let (mut ts, mut tp, mut tg, mut ratio) = (vec![], vec![], vec![], vec![]);
        let per = |t: Duration| t.as_secs_f64() / xs.len() as f64;
        for _ in 0..rounds {
            let t = Instant::now();
            for x in &xs {
                matvec_sparse(x, w.view(), &bias, &mut out);
                black_box(&mut out);
            }
            let a = per(t.elapsed());
            let t = Instant::now();
            for x in &xs {
                matvec_sparse_portable(x, w.view(), &bias, &mut out);
                black_box(&mut out);
            }
            let p = per(t.elapsed());
            let t = Instant::now();
            for x in &xmats {
                // gemm does not add the bias; copying it in first is part of the layer's cost.
                outm.row_mut(0).as_slice_mut().unwrap().copy_from_slice(&bias);
                mm.gemm(x.view(), w.view(), outm.view_mut(), true);
                black_box(&mut outm);
            }
            let g = per(t.elapsed());
            ts.push(a);
            tp.push(p);
            tg.push(g);
            ratio.push(g / a);
        }
        let kind = if sparse_inputs {
            "pixels"
        } else {
            "ReLU output, ~50% zeros"
        };
        println!(
            "| {n_in}x{n_out} ({kind}) | {:.2} | {:.2} | {:.2} | {:.1}x |",
            median(&mut ts) * 1e6,
            median(&mut tp) * 1e6,
            median(&mut tg) * 1e6,
            median(&mut ratio)
        );
    }
}
