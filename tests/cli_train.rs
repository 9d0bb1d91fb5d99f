//! `nnlab train` end to end: the binary reads a spec, prints one JSON line per epoch and a
//! final "done" line, and writes a model that loads back.

use std::process::Command;

fn nnlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nnlab"))
}

#[test]
fn train_prints_an_epoch_line_per_epoch_and_a_done_line_and_saves_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("xor.json");
    let model = dir.path().join("xor.safetensors");
    std::fs::write(
        &spec,
        r#"{"dataset":"xor","hidden_layers":[8],"activation":"tanh","init":"xavier","learning_rate":0.05,
            "batch_size":4,"epochs":200,"validation_split":0,"seed":7}"#,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = nnlab()
        .args([
            "train",
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
            "--threads",
            "1",
        ])
        .arg("--data-dir")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/data"))
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 201);
    for (i, line) in lines[..200].iter().enumerate() {
        assert_eq!(line["event"], "epoch");
        assert_eq!(line["epoch"], i + 1);
        assert!(line["train_loss"].as_f64().unwrap().is_finite());
        assert_eq!(line["grad_norms"].as_array().unwrap().len(), 2);
    }
    // Each epoch's time is its own, in seconds: positive, and together no more than the
    // whole command took (a figure in milliseconds, or a running total, would exceed it).
    let seconds: Vec<f64> = lines[..200].iter().map(|l| l["seconds"].as_f64().unwrap()).collect();
    assert!(seconds.iter().all(|s| s.is_finite() && *s >= 0.0), "{seconds:?}");
    let total: f64 = seconds.iter().sum();
    assert!(
        total > 0.0 && total <= wall,
        "epochs took {total} s in all, the command {wall} s"
    );
    let done = &lines[200];
    assert_eq!(done["event"], "done");
    assert_eq!(done["test_accuracy"], 1.0);
    let first = lines[0]["train_loss"].as_f64().unwrap();
    let last = lines[199]["train_loss"].as_f64().unwrap();
    assert!(last < first / 5.0, "loss falls: {first} -> {last}");
    let bytes = std::fs::read(&model).unwrap();
    let net = nnlab::nn::io::from_safetensors(&bytes).unwrap();
    assert_eq!(net.spec.hidden_layers, vec![8]);
}

#[test]
fn train_rejects_an_invalid_spec_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.json");
    std::fs::write(&spec, r#"{"dataset":"xor","learning_rate":-1}"#).unwrap();
    let out = nnlab()
        .args(["train", "--spec", spec.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("learning_rate"), "{stderr}");
}
