//! JobSpec: the flat, Keras-like hyperparameters of a training job (the HTTP API's body),
//! with every default filled in; validation names the first field at fault and returns a
//! [`ValidSpec`], the only kind of spec the trainer takes.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use super::budget::{self, DataShape};

use crate::data::AugmentConfig;
use crate::nn::{ActivationName, Init, Loss, LrSchedule, ModelSpec, OptimizerConfig, OptimizerKind, Regularization};

/// The initialisation as the API names it (`normal` takes `init_std`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitName {
    Zeros,
    Normal,
    Xavier,
    He,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(default)]
pub struct JobSpec {
    #[schema(required = true, example = "mnist")]
    pub dataset: String,
    pub hidden_layers: Vec<usize>,
    pub activation: ActivationName,
    /// leaky_relu's slope or elu's alpha; null (the default) takes the activation's standard
    /// value: 0.01 for leaky_relu, 1 for elu. A validated spec shows the value used.
    pub activation_alpha: Option<f32>,
    pub maxout_pieces: usize,
    pub init: InitName,
    #[schema(default = 0.01)]
    pub init_std: f32,
    pub loss: Loss,
    pub optimizer: OptimizerKind,
    /// momentum and nag's coefficient; null = 0.9.
    pub momentum: Option<f32>,
    /// RMSprop's and AdaDelta's decay; null = 0.9 (AdaDelta 0.95).
    pub rho: Option<f32>,
    /// Adam's and Nadam's moment decays; null = 0.9 and 0.999.
    pub beta1: Option<f32>,
    pub beta2: Option<f32>,
    /// The adaptive optimizers' epsilon; null = 1e-8 (AdaDelta 1e-6).
    pub eps: Option<f32>,
    #[schema(default = 0.001)]
    pub learning_rate: f32,
    pub lr_schedule: LrSchedule,
    pub batch_size: usize,
    pub epochs: usize,
    pub l1: f32,
    pub l2: f32,
    pub dropout: f32,
    pub batch_norm: bool,
    /// Batch norm's running-statistics momentum (PyTorch's convention); null = 0.1.
    pub bn_momentum: Option<f32>,
    /// Batch norm's variance epsilon; null = 1e-5.
    pub bn_eps: Option<f32>,
    pub augment: Option<AugmentConfig>,
    #[schema(default = 0.1)]
    pub validation_split: f32,
    pub k_folds: Option<usize>,
    pub train_samples: Option<usize>,
    pub seed: u64,
    /// After each epoch, also measure the training rows' accuracy in eval mode (no dropout,
    /// batch norm's running statistics): `train_accuracy` is the mean over the epoch's
    /// mini-batches in training mode.
    pub eval_train_accuracy: bool,
    /// After each epoch, also measure the test set's loss and accuracy (the book's train/test
    /// figures; the test set then guides nothing but the picture).
    pub epoch_test_metrics: bool,
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            dataset: String::new(),
            hidden_layers: vec![256, 128],
            activation: ActivationName::Relu,
            activation_alpha: None,
            maxout_pieces: 2,
            init: InitName::He,
            init_std: 0.01,
            loss: Loss::CrossEntropy,
            optimizer: OptimizerKind::Adam,
            momentum: None,
            rho: None,
            beta1: None,
            beta2: None,
            eps: None,
            learning_rate: 0.001,
            lr_schedule: LrSchedule::Constant,
            batch_size: 128,
            epochs: 10,
            l1: 0.0,
            l2: 0.0,
            dropout: 0.0,
            batch_norm: false,
            bn_momentum: None,
            bn_eps: None,
            augment: None,
            validation_split: 0.1,
            k_folds: None,
            train_samples: None,
            seed: DEFAULT_SEED,
            eval_train_accuracy: false,
            epoch_test_metrics: false,
        }
    }
}

/// Default upper bounds that keep one job within what this service is for (small networks);
/// a server can set its own (`SpecLimits`).
pub const MAX_HIDDEN_LAYERS: usize = 16;
pub const MAX_UNITS: usize = 4096;
pub const MAX_EPOCHS: usize = 1000;
pub const MAX_TRAIN_SAMPLES: usize = 1_000_000;
/// Full-batch gradient descent on MNIST (60,000 rows) fits under it.
pub const MAX_BATCH_SIZE: usize = 65_536;
pub const MAX_PARAMETERS: usize = 5_000_000;
/// A job's estimated memory (`budget`): two such jobs and the server fit in 2 GB.
pub const MAX_JOB_MEMORY_BYTES: u64 = 768 << 20;

/// The seed of a JobSpec that names none (and of a sweep whose base names none).
pub const DEFAULT_SEED: u64 = 42;

/// The caps validation applies (a server sets its own from its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecLimits {
    pub max_hidden_layers: usize,
    pub max_units: usize,
    pub max_epochs: usize,
    pub max_train_samples: usize,
    pub max_batch_size: usize,
    pub max_parameters: usize,
    pub max_job_memory_bytes: u64,
}

impl Default for SpecLimits {
    fn default() -> Self {
        SpecLimits {
            max_hidden_layers: MAX_HIDDEN_LAYERS,
            max_units: MAX_UNITS,
            max_epochs: MAX_EPOCHS,
            max_train_samples: MAX_TRAIN_SAMPLES,
            max_batch_size: MAX_BATCH_SIZE,
            max_parameters: MAX_PARAMETERS,
            max_job_memory_bytes: MAX_JOB_MEMORY_BYTES,
        }
    }
}

/// A JobSpec that passed validation: the trainer takes only this, and checks nothing again
/// (so a server whose limits are above the compiled defaults trains what it accepted).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidSpec(JobSpec);

impl ValidSpec {
    /// A spec validated when its job was submitted, read back from the job's row.
    pub fn trusted(spec: JobSpec) -> ValidSpec {
        ValidSpec(spec)
    }

    pub fn into_inner(self) -> JobSpec {
        self.0
    }
}

impl Deref for ValidSpec {
    type Target = JobSpec;

    fn deref(&self) -> &JobSpec {
        &self.0
    }
}
pub const MAX_MAXOUT_PIECES: usize = 8;
pub const MAX_K_FOLDS: usize = 20;

/// A field that fails validation and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn fail(field: &str, message: impl Into<String>) -> Result<(), SpecError> {
    Err(SpecError {
        field: field.to_string(),
        message: message.into(),
    })
}

fn check_range(field: &str, v: f32, lo: f32, hi: f32, lo_inclusive: bool, hi_inclusive: bool) -> Result<(), SpecError> {
    let above = if lo_inclusive { v >= lo } else { v > lo };
    let below = if hi_inclusive { v <= hi } else { v < hi };
    if v.is_finite() && above && below {
        return Ok(());
    }
    let l = if lo_inclusive { '[' } else { '(' };
    let h = if hi_inclusive { ']' } else { ')' };
    fail(field, format!("must be a finite number in {l}{lo}, {hi}{h}, got {v}"))
}

impl JobSpec {
    /// Checks every field against the default limits; the error names the first one at fault.
    pub fn validate(&self) -> Result<ValidSpec, SpecError> {
        self.validate_with(&SpecLimits::default())
    }

    /// Checks every field against the given limits (those that need no data).
    pub fn validate_with(&self, limits: &SpecLimits) -> Result<ValidSpec, SpecError> {
        self.check_fields(limits)?;
        Ok(ValidSpec(self.with_effective_values()))
    }

    /// Checks every field, and the network's size and the job's estimated memory on this
    /// data, against the limits: what a server accepts is what it can train.
    pub fn validate_for(&self, limits: &SpecLimits, data: &DataShape) -> Result<ValidSpec, SpecError> {
        self.check_fields(limits)?;
        let parameters = self.model_spec(data.input_size, data.classes).parameter_count();
        if parameters > limits.max_parameters {
            return Err(SpecError {
                field: "hidden_layers".into(),
                message: format!(
                    "{parameters} parameters; this server trains at most {}",
                    limits.max_parameters
                ),
            });
        }
        let estimate = budget::estimate(self, data);
        if estimate.total() > limits.max_job_memory_bytes {
            let mib = |b: u64| b.div_ceil(1 << 20);
            return Err(SpecError {
                field: estimate.driving_field().into(),
                message: format!(
                    "this job would need about {} MiB (parameters and optimizer {} MiB, one batch's \
                     activations {} MiB, dataset {} MiB); this server allows {} MiB per job",
                    mib(estimate.total()),
                    mib(estimate.parameters),
                    mib(estimate.activations),
                    mib(estimate.dataset),
                    mib(limits.max_job_memory_bytes)
                ),
            });
        }
        Ok(ValidSpec(self.with_effective_values()))
    }

    fn check_fields(&self, limits: &SpecLimits) -> Result<(), SpecError> {
        let SpecLimits {
            max_hidden_layers,
            max_units,
            max_epochs,
            max_train_samples,
            max_batch_size,
            ..
        } = *limits;
        if self.dataset.trim().is_empty() {
            return fail("dataset", "is required (e.g. \"mnist\", \"xor\")");
        }
        if self.hidden_layers.len() > max_hidden_layers {
            return fail("hidden_layers", format!("at most {max_hidden_layers} hidden layers"));
        }
        if let Some(i) = self.hidden_layers.iter().position(|&u| u == 0 || u > max_units) {
            return fail("hidden_layers", format!("layer {i} must have 1..={max_units} units"));
        }
        let alpha = self.effective_alpha();
        match self.activation {
            ActivationName::LeakyRelu => check_range("activation_alpha", alpha, 0.0, 1.0, true, false)?,
            ActivationName::Elu => check_range("activation_alpha", alpha, 0.0, 10.0, false, true)?,
            _ => check_range("activation_alpha", alpha, 0.0, 10.0, true, true)?,
        }
        // momentum and the betas in [0, 1), rho in (0, 1), bn_momentum and the epsilons in (0, 1].
        for (field, value, low_open, high_open) in [
            ("momentum", self.momentum, false, true),
            ("beta1", self.beta1, false, true),
            ("beta2", self.beta2, false, true),
            ("rho", self.rho, true, true),
            ("bn_momentum", self.bn_momentum, true, false),
            ("eps", self.eps, true, false),
            ("bn_eps", self.bn_eps, true, false),
        ] {
            if let Some(v) = value {
                check_range(field, v, 0.0, 1.0, !low_open, !high_open)?;
            }
        }
        if !(2..=MAX_MAXOUT_PIECES).contains(&self.maxout_pieces) {
            return fail("maxout_pieces", format!("must be 2..={MAX_MAXOUT_PIECES}"));
        }
        check_range("init_std", self.init_std, 0.0, 100.0, false, true)?;
        check_range("learning_rate", self.learning_rate, 0.0, 100.0, false, true)?;
        match self.lr_schedule {
            LrSchedule::Constant => {}
            LrSchedule::Step { every_epochs, gamma } => {
                if every_epochs == 0 {
                    return fail("lr_schedule.every_epochs", "must be at least 1");
                }
                check_range("lr_schedule.gamma", gamma, 0.0, 1.0, false, true)?;
            }
            LrSchedule::Exponential { gamma } => check_range("lr_schedule.gamma", gamma, 0.0, 1.0, false, true)?,
            LrSchedule::Cosine { min_lr } => {
                check_range("lr_schedule.min_lr", min_lr, 0.0, self.learning_rate, true, true)?
            }
        }
        if self.batch_size == 0 || self.batch_size > max_batch_size {
            return fail("batch_size", format!("must be 1..={max_batch_size}"));
        }
        if self.epochs == 0 || self.epochs > max_epochs {
            return fail("epochs", format!("must be 1..={max_epochs}"));
        }
        check_range("l1", self.l1, 0.0, 10.0, true, true)?;
        check_range("l2", self.l2, 0.0, 10.0, true, true)?;
        check_range("dropout", self.dropout, 0.0, 1.0, true, false)?;
        if let Some(a) = &self.augment {
            check_range("augment.max_shift_px", a.max_shift_px, 0.0, 14.0, true, true)?;
            check_range("augment.max_rotation_deg", a.max_rotation_deg, 0.0, 180.0, true, true)?;
            check_range("augment.max_scale", a.max_scale, 0.0, 1.0, true, false)?;
            check_range("augment.max_shear_deg", a.max_shear_deg, 0.0, 60.0, true, true)?;
            check_range("augment.brightness", a.brightness, 0.0, 1.0, true, true)?;
            check_range("augment.contrast", a.contrast, 0.0, 1.0, true, true)?;
            check_range("augment.noise_std", a.noise_std, 0.0, 1.0, true, true)?;
        }
        check_range("validation_split", self.validation_split, 0.0, 1.0, true, false)?;
        if let Some(k) = self.k_folds
            && !(2..=MAX_K_FOLDS).contains(&k)
        {
            return fail("k_folds", format!("must be null or 2..={MAX_K_FOLDS}"));
        }
        if let Some(n) = self.train_samples
            && (n == 0 || n > max_train_samples)
        {
            return fail("train_samples", format!("must be null or 1..={max_train_samples}"));
        }
        Ok(())
    }

    pub fn init(&self) -> Init {
        match self.init {
            InitName::Zeros => Init::Zeros,
            InitName::Normal => Init::Normal { std: self.init_std },
            InitName::Xavier => Init::Xavier,
            InitName::He => Init::He,
        }
    }

    /// The spec with the values its defaults stand for written in (what a job echoes).
    fn with_effective_values(&self) -> JobSpec {
        let o = self.optimizer();
        let bn = crate::nn::ModelSpec::mlp(1, &[], 1, self.activation);
        JobSpec {
            activation_alpha: Some(self.effective_alpha()),
            momentum: Some(o.momentum),
            rho: Some(o.rho),
            beta1: Some(o.beta1),
            beta2: Some(o.beta2),
            eps: Some(o.eps),
            bn_momentum: Some(self.bn_momentum.unwrap_or(bn.bn_momentum)),
            bn_eps: Some(self.bn_eps.unwrap_or(bn.bn_eps)),
            ..self.clone()
        }
    }

    /// The activation's parameter: as given, or its standard value.
    pub fn effective_alpha(&self) -> f32 {
        self.activation_alpha.unwrap_or(self.activation.default_alpha())
    }

    pub fn model_spec(&self, input_size: usize, classes: usize) -> ModelSpec {
        let defaults = ModelSpec::mlp(input_size, &[], classes, self.activation);
        ModelSpec {
            input_size,
            classes,
            hidden_layers: self.hidden_layers.clone(),
            activation: self.activation,
            activation_alpha: self.effective_alpha(),
            maxout_pieces: self.maxout_pieces,
            batch_norm: self.batch_norm,
            dropout: self.dropout,
            bn_momentum: self.bn_momentum.unwrap_or(defaults.bn_momentum),
            bn_eps: self.bn_eps.unwrap_or(defaults.bn_eps),
        }
    }

    /// The optimizer with its standard constants, each replaced by the spec's when given.
    pub fn optimizer(&self) -> OptimizerConfig {
        let standard = OptimizerConfig::new(self.optimizer);
        OptimizerConfig {
            momentum: self.momentum.unwrap_or(standard.momentum),
            rho: self.rho.unwrap_or(standard.rho),
            beta1: self.beta1.unwrap_or(standard.beta1),
            beta2: self.beta2.unwrap_or(standard.beta2),
            eps: self.eps.unwrap_or(standard.eps),
            ..standard
        }
    }

    pub fn regularization(&self) -> Regularization {
        Regularization {
            l1: self.l1,
            l2: self.l2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<JobSpec, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_spec_with_only_a_dataset_gets_the_documented_defaults() {
        let spec = parse(r#"{"dataset":"mnist"}"#).unwrap();
        assert_eq!(spec.hidden_layers, vec![256, 128]);
        assert_eq!(spec.optimizer, OptimizerKind::Adam);
        assert_eq!(spec.batch_size, 128);
        assert_eq!(spec.seed, 42);
        assert!(spec.validate().is_ok());
    }

    /// The deck's (and Keras') ELU: alpha 1, so ELU(-1) = e^-1 - 1 = -0.632; leaky ReLU keeps
    /// its 0.01 slope; a given value wins; a validated spec shows the value used.
    #[test]
    fn each_activation_has_its_standard_parameter_by_default() {
        let alpha = |body: &str| {
            parse(body)
                .unwrap()
                .validate()
                .unwrap()
                .model_spec(2, 2)
                .activation_alpha
        };
        assert_eq!(alpha(r#"{"dataset":"x","activation":"elu"}"#), 1.0);
        assert_eq!(alpha(r#"{"dataset":"x","activation":"leaky_relu"}"#), 0.01);
        assert_eq!(
            alpha(r#"{"dataset":"x","activation":"elu","activation_alpha":0.5}"#),
            0.5
        );
        let elu = ActivationName::Elu
            .elementwise(alpha(r#"{"dataset":"x","activation":"elu"}"#))
            .unwrap();
        assert!((elu.f(-1.0) - (-0.632_120_6)).abs() < 1e-6, "{}", elu.f(-1.0));
        let shown = parse(r#"{"dataset":"x","activation":"elu"}"#)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(
            shown.activation_alpha,
            Some(1.0),
            "the echoed spec holds the value used"
        );
    }

    /// The book's code sets these by hand: the spec takes them, and echoes the values used
    /// (each optimizer's standard ones when not given).
    #[test]
    fn optimizer_and_batch_norm_constants_are_settable_and_echoed() {
        let spec = parse(r#"{"dataset":"x","optimizer":"momentum","momentum":0.5,"batch_norm":true,"bn_eps":0.001}"#)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(spec.optimizer().momentum, 0.5);
        let model = spec.model_spec(2, 2);
        assert_eq!((model.bn_momentum, model.bn_eps), (0.1, 0.001));
        let net = crate::nn::Network::build(&model, crate::nn::Init::He, &mut crate::rng::rng_from_seed(0));
        let bn = net.batch_norm_layers().next().unwrap();
        assert_eq!((bn.momentum, bn.eps), (0.1, 0.001), "the network is built with them");
        let adadelta = parse(r#"{"dataset":"x","optimizer":"adadelta"}"#)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(
            (adadelta.rho, adadelta.eps, adadelta.beta1, adadelta.bn_momentum),
            (Some(0.95), Some(1e-6), Some(0.9), Some(0.1)),
            "the echoed spec holds the standard values"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(parse(r#"{"dataset":"mnist","learning_rat":0.1}"#).is_err());
        assert!(parse(r#"{"dataset":"mnist","augment":{"max_shift":1}}"#).is_err());
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"dataset":""}"#, "dataset"),
            (r#"{"dataset":"x","hidden_layers":[0]}"#, "hidden_layers"),
            (r#"{"dataset":"x","hidden_layers":[100000]}"#, "hidden_layers"),
            (r#"{"dataset":"x","learning_rate":0}"#, "learning_rate"),
            (r#"{"dataset":"x","learning_rate":-0.1}"#, "learning_rate"),
            (r#"{"dataset":"x","batch_size":0}"#, "batch_size"),
            (r#"{"dataset":"x","batch_size":1000000000}"#, "batch_size"),
            (r#"{"dataset":"x","epochs":0}"#, "epochs"),
            (r#"{"dataset":"x","dropout":1.0}"#, "dropout"),
            (r#"{"dataset":"x","l2":-1}"#, "l2"),
            (r#"{"dataset":"x","momentum":1.0}"#, "momentum"),
            (r#"{"dataset":"x","beta2":-0.1}"#, "beta2"),
            (r#"{"dataset":"x","rho":0}"#, "rho"),
            (r#"{"dataset":"x","eps":0}"#, "eps"),
            (r#"{"dataset":"x","bn_eps":2}"#, "bn_eps"),
            (r#"{"dataset":"x","validation_split":1.0}"#, "validation_split"),
            (r#"{"dataset":"x","k_folds":1}"#, "k_folds"),
            (r#"{"dataset":"x","train_samples":0}"#, "train_samples"),
            (r#"{"dataset":"x","maxout_pieces":1}"#, "maxout_pieces"),
            (
                r#"{"dataset":"x","activation":"leaky_relu","activation_alpha":1.5}"#,
                "activation_alpha",
            ),
            (r#"{"dataset":"x","init_std":0}"#, "init_std"),
            (r#"{"dataset":"x","augment":{"max_scale":1.0}}"#, "augment.max_scale"),
            (
                r#"{"dataset":"x","lr_schedule":{"kind":"step","every_epochs":0,"gamma":0.5}}"#,
                "lr_schedule.every_epochs",
            ),
        ];
        for (json, field) in cases {
            let err = parse(json).unwrap().validate().expect_err(json);
            assert_eq!(&err.field, field, "{json}: {err}");
        }
    }
}
