//! The training loop: a JobSpec and its data in, events out, a trained network at the end.
//!
//! Deterministic: one RNG seeded from the spec draws, in a fixed order, the initial weights,
//! the validation split or folds, each epoch's shuffle, dropout masks and augmentations.

use std::time::Instant;

use ndarray::{Array2, s};
use rand::seq::SliceRandom;

use super::checkpoint::{self, KFoldProgress};
use super::events::{Control, EpochMetrics, Evaluation, Event, KFoldSummary, Observer, StepLoss};
use super::spec::{JobSpec, SpecError, ValidSpec};
use crate::data::{Dataset, augment_batch, k_fold, train_validation_split};
use crate::nn::kernels::l2_norm;
use crate::nn::loss::argmax_rows;
use crate::nn::{MatMul, Network, Optimizer};
use crate::rng::{Rng, rng_from_seed};

/// Rows per forward pass when evaluating (bounded memory, GEMM-sized blocks).
const EVAL_CHUNK: usize = 1000;
/// About this many sampled step losses per epoch.
const STEP_SAMPLES_PER_EPOCH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid spec: {0}")]
    Spec(#[from] SpecError),
    #[error("{0}")]
    Data(String),
    #[error("stopped")]
    Stopped,
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub network: Network,
    pub epochs: Vec<EpochMetrics>,
    pub test: Evaluation,
    pub kfold: Option<KFoldSummary>,
    pub train_seconds: f32,
}

/// Which rows an epoch trains and validates on.
pub struct EpochPlan<'a> {
    pub train_idx: &'a mut [usize],
    pub val_idx: &'a [usize],
    /// 1-based fold of a k-fold run.
    pub fold: Option<usize>,
}

/// The state of one training run: what a checkpoint must hold to resume it exactly.
#[derive(Debug, Clone)]
pub struct Run {
    pub network: Network,
    pub optimizer: Optimizer,
    pub rng: Rng,
    pub epochs_done: usize,
    pub steps_done: usize,
}

impl Run {
    pub fn new(spec: &JobSpec, input_size: usize, classes: usize, mut rng: Rng) -> Run {
        let network = Network::build(&spec.model_spec(input_size, classes), spec.init(), &mut rng);
        Run {
            network,
            optimizer: Optimizer::new(spec.optimizer()),
            rng,
            epochs_done: 0,
            steps_done: 0,
        }
    }

    /// Trains one epoch over the plan's training rows (shuffled), then evaluates on its
    /// validation rows. Step events go to `obs` as they happen; the epoch's own event is the
    /// caller's to send (after a checkpoint, if any).
    pub fn epoch(
        &mut self,
        spec: &JobSpec,
        data: &Dataset,
        plan: EpochPlan,
        mm: &MatMul,
        obs: &mut dyn Observer,
    ) -> Result<EpochMetrics, TrainError> {
        let EpochPlan {
            train_idx,
            val_idx,
            fold,
        } = plan;
        let started = Instant::now();
        let epoch = self.epochs_done + 1;
        let lr = spec.lr_schedule.lr(spec.learning_rate, self.epochs_done, spec.epochs);
        let reg = spec.regularization();
        let batch = spec.batch_size.min(train_idx.len()).max(1);
        let steps = train_idx.len().div_ceil(batch);
        let stride = steps.div_ceil(STEP_SAMPLES_PER_EPOCH).max(1);
        train_idx.shuffle(&mut self.rng);

        let mut x = Array2::<f32>::zeros((batch, data.feature_count()));
        let mut labels = Vec::with_capacity(batch);
        let dense_count = self.network.dense_layers().count();
        let mut grad_norm_sums = vec![0.0f64; dense_count];
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let (mut window_loss, mut window_steps) = (0.0f64, 0usize);
        for chunk in train_idx.chunks(batch) {
            if !obs.keep_going() {
                return Err(TrainError::Stopped);
            }
            let mut xb = x.slice_mut(s![..chunk.len(), ..]);
            data.gather_into(chunk, &mut xb, &mut labels);
            if let (Some(cfg), Some((rows, cols))) = (&spec.augment, data.image_shape) {
                augment_batch(&mut xb, rows, cols, cfg, &mut self.rng);
            }
            let xb = x.slice(s![..chunk.len(), ..]);
            let out = self.network.train_batch(xb, &labels, spec.loss, &mut self.rng, mm);
            for (sum, dense) in grad_norm_sums.iter_mut().zip(self.network.dense_layers()) {
                *sum += l2_norm(dense.dw.as_slice().expect("contiguous")) as f64;
            }
            self.optimizer.step(&mut self.network, lr, reg, mm);
            self.steps_done += 1;
            loss_sum += out.loss as f64 * chunk.len() as f64;
            correct += out.correct;
            seen += chunk.len();
            window_loss += out.loss as f64;
            window_steps += 1;
            if window_steps == stride {
                let sample = StepLoss {
                    step: self.steps_done,
                    epoch,
                    loss: (window_loss / window_steps as f64) as f32,
                };
                (window_loss, window_steps) = (0.0, 0);
                if obs.event(Event::Step(sample)) == Control::Stop {
                    return Err(TrainError::Stopped);
                }
            }
        }
        let val = (!val_idx.is_empty()).then(|| evaluate(&self.network, data, val_idx, spec.loss, mm));
        self.epochs_done += 1;
        let metrics = EpochMetrics {
            epoch,
            fold,
            train_loss: (loss_sum / seen.max(1) as f64) as f32,
            train_accuracy: correct as f32 / seen.max(1) as f32,
            val_loss: val.map(|v| v.loss),
            val_accuracy: val.map(|v| v.accuracy),
            learning_rate: lr,
            grad_norms: grad_norm_sums.iter().map(|s| (s / steps as f64) as f32).collect(),
            weight_norms: self
                .network
                .dense_layers()
                .map(|d| l2_norm(d.w.as_slice().expect("contiguous")))
                .collect(),
            samples: seen,
            seconds: started.elapsed().as_secs_f32(),
            eval_train_accuracy: None,
            test: None,
        };
        Ok(metrics)
    }
}

/// Mean loss and accuracy of the network (inference mode) on the given rows.
pub fn evaluate(net: &Network, data: &Dataset, indices: &[usize], loss: crate::nn::Loss, mm: &MatMul) -> Evaluation {
    let mut x = Array2::<f32>::zeros((EVAL_CHUNK.min(indices.len()).max(1), data.feature_count()));
    let mut labels = Vec::new();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for chunk in indices.chunks(EVAL_CHUNK) {
        let mut xb = x.slice_mut(s![..chunk.len(), ..]);
        data.gather_into(chunk, &mut xb, &mut labels);
        let logits = net.logits(x.slice(s![..chunk.len(), ..]), mm);
        loss_sum += loss.value(logits.view(), &labels) as f64 * chunk.len() as f64;
        correct += argmax_rows(logits.view())
            .iter()
            .zip(&labels)
            .filter(|(p, y)| **p == **y as usize)
            .count();
    }
    let n = indices.len().max(1);
    Evaluation {
        loss: (loss_sum / n as f64) as f32,
        accuracy: correct as f32 / n as f32,
    }
}

/// How a run begins.
#[derive(Clone, Copy)]
pub enum Begin<'a> {
    /// From weights drawn from the spec's seed.
    Fresh,
    /// From these weights (a fork starts from its parent's initial weights), of the spec's
    /// architecture. The seed still draws everything else, exactly as for a fresh run, so a
    /// run begun from the weights it would have drawn is that fresh run, bit for bit.
    From(&'a Network),
    /// From a checkpoint (`train::checkpoint`) of an earlier, interrupted run of the same
    /// spec (k-fold runs too: from the fold and epoch they were at).
    Resume(&'a [u8]),
}

/// Trains as the spec says (one run with a validation split, or k folds) and tests the result.
pub fn train(
    spec: &ValidSpec,
    train_set: &Dataset,
    test_set: &Dataset,
    mm: &MatMul,
    obs: &mut dyn Observer,
) -> Result<Outcome, TrainError> {
    train_resumable(spec, train_set, test_set, mm, obs, Begin::Fresh)
}

/// The rows a single (not k-fold) run trains and validates on, and its state before the
/// first mini-batch, drawn from the seed in this order.
fn fresh_run(spec: &ValidSpec, train_set: &Dataset) -> (Run, Vec<usize>, Vec<usize>) {
    let used = spec.train_samples.map_or(train_set.len(), |n| n.min(train_set.len()));
    let mut rng = rng_from_seed(spec.seed);
    let (train_idx, val_idx) = train_validation_split(used, spec.validation_split as f64, &mut rng);
    let run = Run::new(spec, train_set.feature_count(), train_set.classes, rng);
    (run, train_idx, val_idx)
}

/// The initial weights a fresh single run of `spec` on `train_set` draws: what
/// [`Observer::initial_weights`] reports when it starts.
pub fn initial_network(spec: &ValidSpec, train_set: &Dataset) -> Network {
    fresh_run(spec, train_set).0.network
}

fn report_epoch(obs: &mut dyn Observer, metrics: &EpochMetrics) -> Result<(), TrainError> {
    if obs.event(Event::Epoch(metrics)) == Control::Stop {
        return Err(TrainError::Stopped);
    }
    Ok(())
}

/// [`train`], begun as `begin` says.
pub fn train_resumable(
    spec: &ValidSpec,
    train_set: &Dataset,
    test_set: &Dataset,
    mm: &MatMul,
    obs: &mut dyn Observer,
    begin: Begin,
) -> Result<Outcome, TrainError> {
    if train_set.is_empty() {
        return Err(TrainError::Data(format!(
            "dataset {} has no training samples",
            train_set.name
        )));
    }
    let started = Instant::now();
    let (network, epochs, kfold) = match spec.k_folds {
        None => {
            let (mut run, mut train_idx, val_idx) = match begin {
                Begin::Resume(bytes) => {
                    let c = decode_checkpoint(bytes, spec, train_set)?;
                    if c.kfold.is_some() {
                        return Err(TrainError::Data("checkpoint: of a k-fold run".into()));
                    }
                    (c.run, c.train_idx, c.val_idx)
                }
                Begin::Fresh | Begin::From(_) => {
                    let (mut run, train_idx, val_idx) = fresh_run(spec, train_set);
                    if let Begin::From(start) = begin {
                        if start.spec != run.network.spec {
                            return Err(TrainError::Data(
                                "the start weights are of another architecture than the spec's".into(),
                            ));
                        }
                        run.network = start.clone();
                    }
                    obs.initial_weights(&run.network);
                    (run, train_idx, val_idx)
                }
            };
            let mut epochs = Vec::with_capacity(spec.epochs);
            while run.epochs_done < spec.epochs {
                let plan = EpochPlan {
                    train_idx: &mut train_idx,
                    val_idx: &val_idx,
                    fold: None,
                };
                let mut metrics = run.epoch(spec, train_set, plan, mm, obs)?;
                measure_asked(spec, &run.network, (train_set, &train_idx), test_set, mm, &mut metrics);
                if obs.wants_checkpoints() {
                    obs.checkpoint(checkpoint::encode(&run, &train_idx, &val_idx, None));
                }
                report_epoch(obs, &metrics)?;
                epochs.push(metrics);
            }
            (run.network, epochs, None)
        }
        Some(k) => {
            // The folds come from the seed, so a resumed run draws the same ones.
            let used = spec.train_samples.map_or(train_set.len(), |n| n.min(train_set.len()));
            let folds = k_fold(used, k, &mut rng_from_seed(spec.seed));
            let (mut progress, mut resumed) = match begin {
                // Each fold starts from its own weights: one start cannot stand for them.
                Begin::From(_) => {
                    return Err(TrainError::Data(
                        "a k-fold run starts each fold from its own weights".into(),
                    ));
                }
                Begin::Resume(bytes) => {
                    let c = decode_checkpoint(bytes, spec, train_set)?;
                    let progress = c
                        .kfold
                        .ok_or_else(|| TrainError::Data("checkpoint: not of a k-fold run".into()))?;
                    (progress, Some((c.run, c.train_idx)))
                }
                Begin::Fresh => (
                    KFoldProgress {
                        fold: 0,
                        results: Vec::new(),
                        best: None,
                    },
                    None,
                ),
            };
            let mut epochs = Vec::new();
            let mut steps_before = resumed.as_ref().map_or(0, |(run, _)| run.steps_done);
            for (i, (fresh_idx, val_idx)) in folds.into_iter().enumerate().skip(progress.fold) {
                progress.fold = i;
                let (mut run, mut train_idx) = match resumed.take() {
                    Some(resumed) => resumed,
                    None => {
                        // Each fold starts from fresh weights, from its own stream derived from the seed.
                        let fold_rng = rng_from_seed(spec.seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1)));
                        let mut run = Run::new(spec, train_set.feature_count(), train_set.classes, fold_rng);
                        // Step numbers run on across folds, so each sampled loss has its own step.
                        run.steps_done = steps_before;
                        (run, fresh_idx)
                    }
                };
                while run.epochs_done < spec.epochs {
                    let plan = EpochPlan {
                        train_idx: &mut train_idx,
                        val_idx: &val_idx,
                        fold: Some(i + 1),
                    };
                    let mut metrics = run.epoch(spec, train_set, plan, mm, obs)?;
                    measure_asked(spec, &run.network, (train_set, &train_idx), test_set, mm, &mut metrics);
                    if obs.wants_checkpoints() {
                        obs.checkpoint(checkpoint::encode(&run, &train_idx, &val_idx, Some(&progress)));
                    }
                    report_epoch(obs, &metrics)?;
                    epochs.push(metrics);
                }
                steps_before = run.steps_done;
                let eval = evaluate(&run.network, train_set, &val_idx, spec.loss, mm);
                if progress.best.as_ref().is_none_or(|(acc, _, _)| eval.accuracy > *acc) {
                    progress.best = Some((eval.accuracy, i + 1, run.network));
                }
                progress.results.push(eval);
            }
            let (_, best_fold, network) = progress.best.expect("k >= 2 folds");
            let summary = summarize_folds(progress.results, best_fold);
            if obs.event(Event::KFold(&summary)) == Control::Stop {
                return Err(TrainError::Stopped);
            }
            (network, epochs, Some(summary))
        }
    };
    let all_test: Vec<usize> = (0..test_set.len()).collect();
    let test = evaluate(&network, test_set, &all_test, spec.loss, mm);
    Ok(Outcome {
        network,
        epochs,
        test,
        kfold,
        train_seconds: started.elapsed().as_secs_f32(),
    })
}

/// The epoch's optional measurements (eval-mode training accuracy, test metrics), in
/// inference mode: they draw nothing from the RNG, so asking for them changes no other value.
fn measure_asked(
    spec: &ValidSpec,
    net: &Network,
    (train_set, train_idx): (&Dataset, &[usize]),
    test_set: &Dataset,
    mm: &MatMul,
    metrics: &mut EpochMetrics,
) {
    if spec.eval_train_accuracy {
        metrics.eval_train_accuracy = Some(evaluate(net, train_set, train_idx, spec.loss, mm).accuracy);
    }
    if spec.epoch_test_metrics && !test_set.is_empty() {
        let all: Vec<usize> = (0..test_set.len()).collect();
        metrics.test = Some(evaluate(net, test_set, &all, spec.loss, mm));
    }
}

fn decode_checkpoint(bytes: &[u8], spec: &ValidSpec, data: &Dataset) -> Result<checkpoint::Checkpoint, TrainError> {
    let c = checkpoint::decode(bytes).map_err(|e| TrainError::Data(format!("checkpoint: {e}")))?;
    if c.run.network.spec != spec.model_spec(data.feature_count(), data.classes) {
        return Err(TrainError::Data("checkpoint: another architecture".into()));
    }
    Ok(c)
}

fn summarize_folds(folds: Vec<Evaluation>, best_fold: usize) -> KFoldSummary {
    let mean_std = |values: Vec<f32>| {
        let n = values.len() as f32;
        let mean = values.iter().sum::<f32>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        (mean, var.sqrt())
    };
    let (mean_accuracy, std_accuracy) = mean_std(folds.iter().map(|f| f.accuracy).collect());
    let (mean_loss, std_loss) = mean_std(folds.iter().map(|f| f.loss).collect());
    KFoldSummary {
        folds,
        mean_accuracy,
        std_accuracy,
        mean_loss,
        std_loss,
        best_fold,
    }
}
