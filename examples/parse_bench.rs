//! The batch-1 prediction body's parse, side by side: the one-pass parser that `/predict`
//! tries first against serde's general path (`Rows`' deserializer), on the first 100 MNIST
//! test digits written as a Python client writes them (`b / 255`: "0.0", "0.10588235294117647").
//!   cargo run --release --example parse_bench
use std::time::Instant;

use nnlab::api::rows::{Rows, parse_inputs_only};

fn main() -> anyhow::Result<()> {
    let mut pixels = Vec::new();
    let file = std::fs::File::open("data/mnist/t10k-images-idx3-ubyte.gz")?;
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(file), &mut pixels)?;
    let bodies: Vec<Vec<u8>> = pixels[16..]
        .chunks(784)
        .take(100)
        .map(|row| {
            let values: Vec<String> = row.iter().map(|&b| format!("{:?}", f64::from(b) / 255.0)).collect();
            format!("{{\"inputs\": [[{}]]}}", values.join(", ")).into_bytes()
        })
        .collect();
    #[derive(serde::Deserialize)]
    struct Body {
        inputs: Rows,
    }
    let time = |parse: &dyn Fn(&[u8]) -> usize| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            let mut n = 0;
            for _ in 0..200 {
                for body in &bodies {
                    n += parse(std::hint::black_box(body));
                }
            }
            std::hint::black_box(n);
            best = best.min(started.elapsed().as_secs_f64() / (200 * bodies.len()) as f64);
        }
        best * 1e6
    };
    let fast = time(&|b| parse_inputs_only(b).expect("the fast path takes it").len());
    let general = time(&|b| serde_json::from_slice::<Body>(b).expect("valid").inputs.len());
    let bytes = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    println!("| parse of a batch-1 MNIST body ({bytes} bytes on average) | us |");
    println!("|---|---|");
    println!("| one-pass parser | {fast:.2} |");
    println!("| serde (Rows) | {general:.2} |");
    println!("| ratio | {:.2}x |", general / fast);
    Ok(())
}
