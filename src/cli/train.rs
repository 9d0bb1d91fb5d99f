//! `nnlab train --spec FILE.json [--out model.safetensors]`: runs a JobSpec with the same
//! trainer the service uses, printing one JSON object per line.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::data::load_dataset;
use crate::nn::MatMul;
use crate::nn::io::to_safetensors;
use crate::train::{Control, Event, JobSpec, train};

pub struct TrainArgs {
    pub spec: PathBuf,
    pub out: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub threads: usize,
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.spec).with_context(|| format!("reading {}", args.spec.display()))?;
    let spec: JobSpec = serde_json::from_str(&text).with_context(|| format!("parsing {}", args.spec.display()))?;
    let spec = spec.validate().map_err(|e| anyhow::anyhow!("invalid spec: {e}"))?;
    let (train_set, test_set) = load_dataset(&spec.dataset, Path::new(&args.data_dir), spec.seed)?;
    let mm = MatMul::with_threads(args.threads);
    let stdout = std::io::stdout();
    let print = |value: serde_json::Value| {
        let mut out = stdout.lock();
        // A closed pipe (e.g. `| head`) is not worth a panic: stop printing.
        let _ = writeln!(out, "{value}");
    };
    let mut observer = |event: Event| {
        match event {
            Event::Epoch(m) => {
                let mut v = serde_json::to_value(m).expect("metrics serialise");
                v["event"] = json!("epoch");
                print(v);
            }
            Event::KFold(k) => {
                let mut v = serde_json::to_value(k).expect("summary serialises");
                v["event"] = json!("kfold");
                print(v);
            }
            Event::Step(_) => {}
        }
        Control::Continue
    };
    let outcome = train(&spec, &train_set, &test_set, &mm, &mut observer)?;
    if let Some(path) = &args.out {
        std::fs::write(path, to_safetensors(&outcome.network))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print(json!({
        "event": "done",
        "test_accuracy": outcome.test.accuracy,
        "test_loss": outcome.test.loss,
        "train_seconds": outcome.train_seconds,
        "parameters": outcome.network.parameter_count(),
    }));
    Ok(())
}
