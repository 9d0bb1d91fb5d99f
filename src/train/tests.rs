//! Trainer behaviour: learning XOR, determinism, cancellation, k-fold, batch norm at
//! inference, and save -> load.

use ndarray::Array2;

use super::*;
use crate::data::{Gate, gate_dataset};
use crate::nn::io::{from_safetensors, to_safetensors};
use crate::nn::{ActivationName, MatMul, OptimizerKind};

fn xor_spec() -> JobSpec {
    JobSpec {
        dataset: "xor".into(),
        hidden_layers: vec![8],
        activation: ActivationName::Tanh,
        init: InitName::Xavier,
        optimizer: OptimizerKind::Adam,
        learning_rate: 0.05,
        batch_size: 4,
        epochs: 300,
        validation_split: 0.0,
        seed: 7,
        ..JobSpec::default()
    }
}

fn xor_run(spec: &JobSpec) -> Outcome {
    let xor = gate_dataset(Gate::Xor);
    train(&spec.validate().unwrap(), &xor, &xor, &MatMul::single(), &mut Quiet).expect("trains")
}

#[test]
fn an_mlp_learns_xor_to_full_accuracy_with_falling_loss() {
    let out = xor_run(&xor_spec());
    assert_eq!(out.test.accuracy, 1.0);
    assert!(out.epochs.last().unwrap().train_loss < 0.1 * out.epochs[0].train_loss);
    let relu = JobSpec {
        activation: ActivationName::Relu,
        init: InitName::He,
        ..xor_spec()
    };
    assert_eq!(xor_run(&relu).test.accuracy, 1.0, "a ReLU hidden layer learns it too");
}

#[test]
fn the_same_spec_and_seed_give_an_identical_history() {
    let spec = JobSpec {
        epochs: 20,
        dropout: 0.2,
        ..xor_spec()
    };
    let a = xor_run(&spec);
    let b = xor_run(&spec);
    let losses = |o: &Outcome| o.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    let c = xor_run(&JobSpec { seed: 8, ..spec });
    assert_ne!(losses(&a), losses(&c), "another seed, another history");
}

#[test]
fn the_observer_sees_every_epoch_and_can_stop_the_run() {
    let xor = gate_dataset(Gate::Xor);
    let mut seen = Vec::new();
    let mut obs = |e: Event| {
        if let Event::Epoch(m) = e {
            seen.push(m.epoch);
        }
        if seen.len() == 3 {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let result = train(&xor_spec().validate().unwrap(), &xor, &xor, &MatMul::single(), &mut obs);
    assert!(matches!(result, Err(TrainError::Stopped)));
    assert_eq!(seen, vec![1, 2, 3]);
}

/// Says "go on" to the first `allowed` questions, then "stop"; records the steps trained.
struct StopAfterBatches {
    allowed: usize,
    steps: Vec<usize>,
}

impl Observer for StopAfterBatches {
    fn event(&mut self, e: Event) -> Control {
        if let Event::Step(s) = e {
            self.steps.push(s.step);
        }
        Control::Continue
    }
    fn keep_going(&mut self) -> bool {
        let go = self.allowed > 0;
        self.allowed = self.allowed.saturating_sub(1);
        go
    }
}

#[test]
fn a_stop_request_takes_effect_between_mini_batches() {
    let xor = gate_dataset(Gate::Xor);
    // Four mini-batches of one row per epoch, each reported as a step sample.
    let spec = JobSpec {
        batch_size: 1,
        ..xor_spec()
    };
    let mut obs = StopAfterBatches {
        allowed: 2,
        steps: Vec::new(),
    };
    assert!(matches!(
        train(&spec.validate().unwrap(), &xor, &xor, &MatMul::single(), &mut obs),
        Err(TrainError::Stopped)
    ));
    // Stopped before the third mini-batch, in the middle of the first epoch (a check made
    // only between epochs would have let all four of them train).
    assert_eq!(obs.steps, vec![1, 2]);
}

#[test]
fn k_fold_reports_each_fold_with_mean_and_std() {
    let data = crate::data::toy_dataset(crate::data::Toy::Gaussian, 200, &mut crate::rng::rng_from_seed(1));
    let spec = JobSpec {
        dataset: "gaussian".into(),
        hidden_layers: vec![4],
        epochs: 5,
        k_folds: Some(4),
        batch_size: 16,
        learning_rate: 0.01,
        ..JobSpec::default()
    };
    let out = train(&spec.validate().unwrap(), &data, &data, &MatMul::single(), &mut Quiet).unwrap();
    let kfold = out.kfold.expect("k-fold summary");
    assert_eq!(kfold.folds.len(), 4);
    assert_eq!(out.epochs.len(), 20);
    assert_eq!(out.epochs.iter().filter(|e| e.fold == Some(4)).count(), 5);
    let mean = kfold.folds.iter().map(|f| f.accuracy).sum::<f32>() / 4.0;
    assert!((kfold.mean_accuracy - mean).abs() < 1e-6);
    assert!(kfold.std_accuracy >= 0.0 && kfold.mean_accuracy > 0.8);
}

#[test]
fn with_batch_norm_a_samples_prediction_does_not_depend_on_its_batch() {
    let data = crate::data::toy_dataset(crate::data::Toy::Circle, 300, &mut crate::rng::rng_from_seed(2));
    let spec = JobSpec {
        dataset: "circle".into(),
        hidden_layers: vec![16, 16],
        batch_norm: true,
        epochs: 5,
        batch_size: 32,
        ..JobSpec::default()
    };
    let out = train(&spec.validate().unwrap(), &data, &data, &MatMul::single(), &mut Quiet).unwrap();
    let mm = MatMul::single();
    let row = Array2::from_shape_vec((1, 2), data.row_f32(0)).unwrap();
    let alone = out.network.predict_proba(row.view(), &mm);
    let mut batch = Array2::from_shape_fn((50, 2), |(i, j)| data.row_f32(i + 10)[j] * 3.0);
    batch.row_mut(17).assign(&row.row(0));
    let within = out.network.predict_proba(batch.view(), &mm);
    assert_eq!(alone.row(0), within.row(17));
}

#[test]
fn save_then_load_gives_identical_outputs_including_batch_norm_statistics() {
    let data = crate::data::toy_dataset(crate::data::Toy::Spiral, 200, &mut crate::rng::rng_from_seed(3));
    let spec = JobSpec {
        dataset: "spiral".into(),
        hidden_layers: vec![12, 6],
        batch_norm: true,
        dropout: 0.1,
        activation: ActivationName::Maxout,
        epochs: 3,
        ..JobSpec::default()
    };
    let out = train(&spec.validate().unwrap(), &data, &data, &MatMul::single(), &mut Quiet).unwrap();
    let bytes = to_safetensors(&out.network);
    let loaded = from_safetensors(&bytes).unwrap();
    assert_eq!(loaded.spec, out.network.spec);
    let x = Array2::from_shape_fn((40, 2), |(i, j)| data.row_f32(i)[j]);
    let mm = MatMul::single();
    assert_eq!(out.network.logits(x.view(), &mm), loaded.logits(x.view(), &mm));
}

#[test]
fn sparse_and_dense_inference_paths_agree() {
    // Inputs with ~85% zeros take the sparse inference path; the same rows made dense
    // (zeros replaced by tiny values) take GEMM. Both must give the same probabilities.
    let spec = crate::nn::ModelSpec::mlp(64, &[32], 10, ActivationName::Relu);
    let net = crate::nn::Network::build(&spec, crate::nn::Init::He, &mut crate::rng::rng_from_seed(5));
    let sparse = Array2::from_shape_fn((50, 64), |(i, j)| {
        if (i * 31 + j * 17) % 7 == 0 {
            0.5 + j as f32 * 0.01
        } else {
            0.0
        }
    });
    let dense = sparse.mapv(|v| if v == 0.0 { 1e-30 } else { v });
    for mm in [MatMul::single(), MatMul::with_threads(2)] {
        let a = net.predict_proba(sparse.view(), &mm);
        let b = net.predict_proba(dense.view(), &mm);
        assert!(a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-6));
        let one = net.predict_one(sparse.row(3).as_slice().unwrap());
        assert!(one.iter().zip(a.row(3).iter()).all(|(x, y)| (x - y).abs() < 1e-6));
    }
}

/// Keeps every epoch and checkpoint a run reports.
#[derive(Default)]
struct Recorder {
    epochs: Vec<EpochMetrics>,
    checkpoints: Vec<Vec<u8>>,
    initial: Option<Vec<u8>>,
}

impl Observer for Recorder {
    fn event(&mut self, e: Event) -> Control {
        if let Event::Epoch(m) = e {
            self.epochs.push(m.clone());
        }
        Control::Continue
    }
    fn wants_checkpoints(&self) -> bool {
        true
    }
    fn checkpoint(&mut self, bytes: Vec<u8>) {
        self.checkpoints.push(bytes);
    }
    fn initial_weights(&mut self, network: &crate::nn::Network) {
        self.initial = Some(to_safetensors(network));
    }
}

fn without_time(m: &EpochMetrics) -> EpochMetrics {
    EpochMetrics {
        seconds: 0.0,
        ..m.clone()
    }
}

/// Dropout, batch norm and a validation split: everything the seed draws after the weights.
fn fork_spec(seed: u64) -> ValidSpec {
    JobSpec {
        dataset: "circle".into(),
        hidden_layers: vec![16, 8],
        batch_norm: true,
        dropout: 0.3,
        epochs: 4,
        batch_size: 16,
        validation_split: 0.2,
        seed,
        ..JobSpec::default()
    }
    .validate()
    .unwrap()
}

#[test]
fn a_run_begun_from_the_weights_it_would_draw_is_the_fresh_run_bit_for_bit() {
    let data = crate::data::toy_dataset(crate::data::Toy::Circle, 200, &mut crate::rng::rng_from_seed(4));
    let spec = fork_spec(11);
    let mm = MatMul::single();
    let mut fresh = Recorder::default();
    let fresh_outcome = train(&spec, &data, &data, &mm, &mut fresh).unwrap();
    let start = initial_network(&spec, &data);
    assert_eq!(
        fresh.initial,
        Some(to_safetensors(&start)),
        "what a fresh run reports drawing"
    );
    let mut begun = Recorder::default();
    let begun_outcome = train_resumable(&spec, &data, &data, &mm, &mut begun, Begin::From(&start)).unwrap();
    let epochs = |r: &Recorder| r.epochs.iter().map(without_time).collect::<Vec<_>>();
    assert_eq!(epochs(&begun), epochs(&fresh));
    assert_eq!(
        begun.checkpoints, fresh.checkpoints,
        "the same data order, masks and state"
    );
    assert_eq!(begun_outcome.test, fresh_outcome.test);
}

#[test]
fn a_run_begun_from_other_weights_starts_from_them_and_draws_the_rest_from_its_seed() {
    let data = crate::data::toy_dataset(crate::data::Toy::Circle, 200, &mut crate::rng::rng_from_seed(4));
    let mm = MatMul::single();
    let other = initial_network(&fork_spec(99), &data);
    let mut begun = Recorder::default();
    train_resumable(&fork_spec(11), &data, &data, &mm, &mut begun, Begin::From(&other)).unwrap();
    assert_eq!(begun.initial, Some(to_safetensors(&other)));
    let mut fresh = Recorder::default();
    train(&fork_spec(11), &data, &data, &mm, &mut fresh).unwrap();
    assert_ne!(begun.epochs[0].train_loss, fresh.epochs[0].train_loss);

    let mut wider = fork_spec(11).into_inner();
    wider.hidden_layers = vec![17, 8];
    let mut kfold = fork_spec(11).into_inner();
    kfold.k_folds = Some(2);
    for (spec, why) in [
        (wider, "another architecture is refused"),
        (kfold, "k-fold runs draw each fold's start"),
    ] {
        let err = train_resumable(
            &spec.validate().unwrap(),
            &data,
            &data,
            &mm,
            &mut Quiet,
            Begin::From(&other),
        );
        assert!(matches!(err, Err(TrainError::Data(_))), "{why}");
    }
}

#[test]
fn a_run_resumed_from_a_checkpoint_continues_exactly_as_the_uninterrupted_run() {
    let data = crate::data::toy_dataset(crate::data::Toy::Circle, 300, &mut crate::rng::rng_from_seed(4));
    let spec = JobSpec {
        dataset: "circle".into(),
        hidden_layers: vec![16, 8],
        batch_norm: true,
        dropout: 0.2,
        epochs: 6,
        batch_size: 32,
        validation_split: 0.2,
        optimizer: OptimizerKind::Nadam,
        ..JobSpec::default()
    };
    let mm = MatMul::single();
    let mut full = Recorder::default();
    let whole = train(&spec.validate().unwrap(), &data, &data, &mm, &mut full).unwrap();
    assert_eq!((full.epochs.len(), full.checkpoints.len()), (6, 6));

    let mut rest = Recorder::default();
    let resumed = train_resumable(
        &spec.validate().unwrap(),
        &data,
        &data,
        &mm,
        &mut rest,
        Begin::Resume(&full.checkpoints[2]),
    )
    .unwrap();
    let expected: Vec<_> = full.epochs[3..].iter().map(without_time).collect();
    let got: Vec<_> = rest.epochs.iter().map(without_time).collect();
    assert_eq!(got, expected, "epochs 4..6 after resuming from epoch 3");
    assert_eq!(resumed.test, whole.test);
    let x = Array2::from_shape_fn((20, 2), |(i, j)| data.row_f32(i)[j]);
    assert_eq!(
        resumed.network.logits(x.view(), &mm),
        whole.network.logits(x.view(), &mm)
    );
}

#[test]
fn a_corrupt_checkpoint_is_an_error_not_a_panic() {
    let xor = gate_dataset(Gate::Xor);
    let err = train_resumable(
        &xor_spec().validate().unwrap(),
        &xor,
        &xor,
        &MatMul::single(),
        &mut Quiet,
        Begin::Resume(b"not a checkpoint"),
    );
    assert!(matches!(err, Err(TrainError::Data(_))));
}

#[test]
fn a_k_fold_run_resumed_mid_fold_or_at_a_fold_boundary_continues_exactly_as_the_uninterrupted_run() {
    let data = crate::data::toy_dataset(crate::data::Toy::Gaussian, 120, &mut crate::rng::rng_from_seed(2));
    let spec = JobSpec {
        dataset: "gaussian".into(),
        hidden_layers: vec![6],
        dropout: 0.1,
        epochs: 3,
        batch_size: 16,
        k_folds: Some(3),
        ..JobSpec::default()
    }
    .validate()
    .unwrap();
    let mm = MatMul::single();
    let mut full = Recorder::default();
    let whole = train(&spec, &data, &data, &mm, &mut full).unwrap();
    assert_eq!(full.checkpoints.len(), 9, "one checkpoint per epoch of every fold");
    // After epoch 2 of fold 2 (mid-fold) and after the last epoch of fold 1 (a boundary).
    for done in [5, 3] {
        let mut rest = Recorder::default();
        let resumed = train_resumable(
            &spec,
            &data,
            &data,
            &mm,
            &mut rest,
            Begin::Resume(&full.checkpoints[done - 1]),
        )
        .unwrap();
        let expected: Vec<_> = full.epochs[done..].iter().map(without_time).collect();
        let got: Vec<_> = rest.epochs.iter().map(without_time).collect();
        assert_eq!(got, expected, "epochs after the {done}th");
        assert_eq!(resumed.kfold, whole.kfold, "the same folds' results and best fold");
        assert_eq!(resumed.test, whole.test, "the same kept network");
    }
    // A k-fold checkpoint does not resume a plain run, nor the other way round.
    let plain = JobSpec {
        k_folds: None,
        ..(*spec).clone()
    }
    .validate()
    .unwrap();
    assert!(matches!(
        train_resumable(
            &plain,
            &data,
            &data,
            &mm,
            &mut Quiet,
            Begin::Resume(&full.checkpoints[0])
        ),
        Err(TrainError::Data(_))
    ));
}

/// The book's train/test figures: eval-mode training accuracy and test metrics per epoch,
/// measured without touching the RNG (every other value as in a run without them); the last
/// epoch's test metrics are the final test evaluation.
#[test]
fn asked_for_per_epoch_measurements_change_nothing_else() {
    let data = crate::data::toy_dataset(crate::data::Toy::Circle, 200, &mut crate::rng::rng_from_seed(4));
    let test = crate::data::toy_dataset(crate::data::Toy::Circle, 100, &mut crate::rng::rng_from_seed(5));
    let mm = MatMul::single();
    let plain = fork_spec(11);
    let mut asked = plain.clone().into_inner();
    (asked.eval_train_accuracy, asked.epoch_test_metrics) = (true, true);
    let mut a = Recorder::default();
    let outcome = train(&asked.validate().unwrap(), &data, &test, &mm, &mut a).unwrap();
    let mut b = Recorder::default();
    train(&plain, &data, &test, &mm, &mut b).unwrap();
    let stripped: Vec<EpochMetrics> = a
        .epochs
        .iter()
        .map(|m| EpochMetrics {
            eval_train_accuracy: None,
            test: None,
            ..without_time(m)
        })
        .collect();
    assert_eq!(stripped, b.epochs.iter().map(without_time).collect::<Vec<_>>());
    assert!(
        a.epochs
            .iter()
            .all(|m| m.eval_train_accuracy.is_some_and(|v| (0.0..=1.0).contains(&v)))
    );
    assert_eq!(a.epochs.last().unwrap().test, Some(outcome.test));
    // Dropout 0.3: training-mode accuracy and eval-mode accuracy differ somewhere.
    assert!(a.epochs.iter().any(|m| Some(m.train_accuracy) != m.eval_train_accuracy));
}

/// The deck's sanity check: with all weights zero the logits are equal, the softmax is
/// uniform over the 10 classes and the cross-entropy is ln 10 = 2.3026, whatever the input.
#[test]
fn zero_weights_start_at_ln_10_cross_entropy() {
    let spec = crate::nn::ModelSpec::mlp(784, &[64], 10, ActivationName::Relu);
    let net = crate::nn::Network::build(&spec, crate::nn::Init::Zeros, &mut crate::rng::rng_from_seed(0));
    let x = Array2::from_shape_fn((5, 784), |(i, j)| ((i * 31 + j * 7) % 255) as f32 / 255.0);
    let loss = crate::nn::Loss::CrossEntropy.value(net.logits(x.view(), &MatMul::single()).view(), &[0, 3, 5, 7, 9]);
    assert!((loss as f64 - 10f64.ln()).abs() < 1e-5, "{loss}");
}

#[test]
fn the_batch_1_path_agrees_with_the_batched_one_for_every_layer_kind() {
    let x = Array2::from_shape_fn((4, 12), |(i, j)| {
        if (i + j) % 3 == 0 {
            0.0
        } else {
            (i * 12 + j) as f32 * 0.05 - 1.0
        }
    });
    for activation in [ActivationName::Relu, ActivationName::Maxout, ActivationName::Elu] {
        let spec = crate::nn::ModelSpec {
            batch_norm: true,
            dropout: 0.3,
            ..crate::nn::ModelSpec::mlp(12, &[8, 6], 3, activation)
        };
        let net = crate::nn::Network::build(&spec, crate::nn::Init::He, &mut crate::rng::rng_from_seed(9));
        let batched = net.predict_proba(x.view(), &MatMul::single());
        for i in 0..4 {
            let one = net.predict_one(x.row(i).as_slice().unwrap());
            let err = one
                .iter()
                .zip(batched.row(i))
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-6, "{activation:?}, row {i}: {err}");
        }
    }
}
