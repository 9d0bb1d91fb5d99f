//! `nnlab bench`: the reference workloads W1 (train 784-256-128-10 on MNIST) and W2
//! (inference with the trained net), printed as a table and one JSON line.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Array2, s};
use serde_json::json;

use crate::data::load_dataset;
use crate::nn::layer::InferPath;
use crate::nn::loss::softmax;
use crate::nn::{ActivationName, MatMul, OptimizerKind};
use crate::train::{Control, Event, InitName, JobSpec, train};

pub struct BenchArgs {
    pub data_dir: PathBuf,
    pub threads: usize,
    pub epochs: usize,
    pub latency_calls: usize,
}

/// W1, the reference training workload: 784-256-128-10 ReLU MLP, He init, Adam 1e-3, batch
/// 128, on the 60k MNIST training images.
pub fn w1_spec(epochs: usize) -> JobSpec {
    JobSpec {
        dataset: "mnist".into(),
        hidden_layers: vec![256, 128],
        activation: ActivationName::Relu,
        init: InitName::He,
        optimizer: OptimizerKind::Adam,
        learning_rate: 1e-3,
        batch_size: 128,
        epochs,
        validation_split: 0.0,
        seed: 0,
        ..JobSpec::default()
    }
}

/// Peak resident set size of this process in MB (Linux `VmHWM`), if known.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let spec = w1_spec(args.epochs).validate()?;
    let (train_set, test_set) = load_dataset("mnist", &args.data_dir, spec.seed)?;
    let mm = MatMul::with_threads(args.threads);
    let mut epoch_seconds = Vec::new();
    let mut observer = |e: Event| {
        if let Event::Epoch(m) = e {
            eprintln!("epoch {}: {:.3} s, train loss {:.4}", m.epoch, m.seconds, m.train_loss);
            epoch_seconds.push(m.seconds as f64);
        }
        Control::Continue
    };
    let outcome = train(&spec, &train_set, &test_set, &mm, &mut observer)?;
    let net = &outcome.network;

    // W2: batch-1 latency over real test images, then batch-1000 throughput.
    let n_test = test_set.len();
    let mut x_test = Array2::<f32>::zeros((n_test, test_set.feature_count()));
    let mut labels = Vec::new();
    let all: Vec<usize> = (0..n_test).collect();
    test_set.gather_into(&all, &mut x_test.view_mut(), &mut labels);
    let rows: Vec<Vec<f32>> = (0..n_test).map(|i| x_test.row(i).to_vec()).collect();
    let mut sink = 0.0f32;
    for r in rows.iter().take(200) {
        sink += net.predict_one(r)[0];
    }
    let mut lat = Vec::with_capacity(args.latency_calls);
    for i in 0..args.latency_calls {
        let t = Instant::now();
        sink += net.predict_one(&rows[i % n_test])[0];
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let batch1_us = median(&mut lat);
    // Batch-1000 along each path, interleaved round by round so that the machine's drift
    // hits them alike; `auto` is what serving does. Batches of 32 and 8 too, where a GEMM's
    // fixed costs weigh more.
    let paths = [
        ("auto", InferPath::Auto),
        ("dense GEMM", InferPath::Dense),
        ("compacted GEMM", InferPath::Compact),
    ];
    let mut path_rates = Vec::new();
    for batch in [1000, 32, 8] {
        let mut rates = vec![Vec::new(); paths.len()];
        let covered = n_test / batch * batch;
        for _ in 0..7 {
            for (rate, &(_, path)) in rates.iter_mut().zip(&paths) {
                let t = Instant::now();
                for start in (0..covered).step_by(batch) {
                    let logits = net.logits_as(x_test.slice(s![start..start + batch, ..]), &mm, path);
                    sink += softmax(logits.view())[[0, 0]];
                }
                rate.push(covered as f64 / t.elapsed().as_secs_f64());
            }
        }
        path_rates.push(rates.iter_mut().map(|r| median(&mut r[1..])).collect::<Vec<f64>>());
    }
    let batch1000_rate = path_rates[0][0];
    std::hint::black_box(sink);

    let median_epoch = median(&mut epoch_seconds.clone());
    let rss = peak_rss_mb();
    println!("| workload | threads | value |");
    println!("|---|---|---|");
    println!(
        "| W1 epoch seconds (each) | {} | {:?} |",
        args.threads,
        epoch_seconds
            .iter()
            .map(|s| (s * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    println!("| W1 median epoch s | {} | {:.3} |", args.threads, median_epoch);
    println!(
        "| W1 test accuracy after {} epochs | {} | {:.4} |",
        args.epochs, args.threads, outcome.test.accuracy
    );
    println!(
        "| W1 peak RSS MB | {} | {} |",
        args.threads,
        rss.map_or("n/a".into(), |r| format!("{r:.0}"))
    );
    println!(
        "| W2 batch-1 median us ({} calls) | 1 | {:.2} |",
        args.latency_calls, batch1_us
    );
    println!("| W2 batch-1000 samples/s | {} | {:.0} |", args.threads, batch1000_rate);
    for (batch, rates) in [1000, 32, 8].iter().zip(&path_rates) {
        for ((name, _), rate) in paths.iter().zip(rates) {
            println!(
                "| W2 batch-{batch} samples/s, {name} | {} | {rate:.0} ({:.2}x auto) |",
                args.threads,
                rate / rates[0]
            );
        }
    }
    println!(
        "{}",
        json!({"event": "bench", "threads": args.threads, "epoch_s": epoch_seconds, "median_epoch_s": median_epoch,
               "test_acc": outcome.test.accuracy, "peak_rss_mb": rss, "batch1_us": batch1_us,
               "batch1000_samples_per_s": batch1000_rate})
    );
    Ok(())
}
