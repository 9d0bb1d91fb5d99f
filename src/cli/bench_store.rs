//! `nnlab bench-store`: how long a database takes to store and read back checkpoints of
//! growing size through the same [`Store`] calls the workers make (an epoch's record with
//! its checkpoint, then the read a resuming worker does). The table says up to what model
//! size keeping weights in the database is cheap next to training an epoch.

use std::time::Instant;

use crate::store::Store;
use crate::store::jobs::NewJob;
use crate::store::metrics::{EpochRecord, EpochRow};
use crate::train::EpochMetrics;

pub struct BenchStoreArgs {
    pub database_url: String,
    /// Checkpoint sizes in MiB.
    pub sizes_mib: Vec<usize>,
    /// Rounds per size (the median is printed).
    pub rounds: usize,
}

pub fn run(args: &BenchStoreArgs) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(bench(args))
}

async fn bench(args: &BenchStoreArgs) -> anyhow::Result<()> {
    let store = crate::store::connect(&args.database_url).await?;
    println!("| checkpoint | write (epoch record) | read (resume) | write MiB/s | f32 parameters, Adam |");
    println!("|---|---|---|---|---|");
    for &mib in &args.sizes_mib {
        let id = format!("bench-store-{}", uuid::Uuid::new_v4());
        let (write, read) = round_trips(&*store, &id, mib << 20, args.rounds.max(1)).await?;
        // A checkpoint holds the weights and Adam's two moments: 12 bytes per parameter.
        println!(
            "| {mib} MiB | {:.1} ms | {:.1} ms | {:.0} | ~{:.1} M |",
            write * 1e3,
            read * 1e3,
            mib as f64 / write,
            (mib << 20) as f64 / 12.0 / 1e6
        );
    }
    Ok(())
}

/// Median seconds to record an epoch with a checkpoint of `bytes`, and to read it back.
async fn round_trips(store: &dyn Store, id: &str, bytes: usize, rounds: usize) -> anyhow::Result<(f64, f64)> {
    let job = NewJob {
        kind: crate::jobs::JobKind::Train,
        id,
        spec_json: "{}",
        dataset: "bench",
        epochs_total: rounds as i64,
        max_attempts: 1,
        fork: None,
    };
    anyhow::ensure!(
        store.insert_jobs_if_room(&[job], i64::MAX).await?.is_some(),
        "queue full"
    );
    // Claim this job (others may be queued in a shared database: give them back untouched).
    let lease = loop {
        let Some((row, lease)) = store.claim_next("bench-store", 60_000).await? else {
            anyhow::bail!("the benchmark's job was not claimable")
        };
        if row.id == id {
            break lease;
        }
        store.give_back(&row.id, &lease).await?;
    };
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Different bytes each round, as each epoch's checkpoint is.
        let blob: Vec<u8> = (0..bytes).map(|i| (i as u64 * 31 + round as u64 * 7) as u8).collect();
        let metrics = EpochMetrics {
            epoch: round + 1,
            fold: None,
            train_loss: 0.1,
            train_accuracy: 0.9,
            val_loss: None,
            val_accuracy: None,
            learning_rate: 1e-3,
            grad_norms: vec![],
            weight_norms: vec![],
            samples: 1,
            seconds: 0.0,
            eval_train_accuracy: None,
            test: None,
        };
        let row = EpochRow::new(&metrics, round as i64 + 1);
        let start = Instant::now();
        let record = EpochRecord {
            row: &row,
            steps: &[],
            checkpoint: Some(&blob),
        };
        anyhow::ensure!(store.record_epoch(id, &lease, 60_000, &record).await?, "lease lost");
        writes.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let back = store.checkpoint(id).await?;
        reads.push(start.elapsed().as_secs_f64());
        anyhow::ensure!(back.as_deref() == Some(&blob[..]), "the checkpoint read back differs");
    }
    store.fail(id, &lease, "benchmark done").await?;
    store.delete_job(id).await?;
    Ok((median(&mut writes), median(&mut reads)))
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
