//! A sweep's request: a base JobSpec, a space of values per JobSpec field, a method (`grid`
//! or seeded `random`), seeds per configuration, the metric and its goal, early stopping and
//! parallelism; and the trials it expands to, each a JobSpec (as JSON) checked before any
//! runs.

use std::collections::BTreeMap;

use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::Goal;
use crate::rng::rng_from_seed;

/// Jobs one sweep may run (configurations x seeds).
pub const MAX_TRIALS: usize = 256;
/// Runs per configuration with different seeds.
pub const MAX_SEEDS: usize = 8;
pub const MAX_PARALLELISM: usize = 16;
/// Values one `values` entry may list.
pub const MAX_VALUES: usize = 64;

/// The values a field takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Domain {
    /// These values, as JobSpec takes them (grid and random).
    #[schema(value_type = Vec<Object>)]
    Values(Vec<Value>),
    /// Uniform in [low, high] (random only).
    Uniform([f64; 2]),
    /// Log-uniform in [low, high], 0 < low (random only).
    LogUniform([f64; 2]),
    /// An integer uniform in [low, high] (random only).
    IntUniform([i64; 2]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every combination of the `values` entries.
    Grid,
    /// `trials` configurations drawn from the sweep's seed.
    Random,
}

/// What a trial is ranked by: the epoch row's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    ValAccuracy,
    ValLoss,
    TrainAccuracy,
    TrainLoss,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::ValAccuracy => "val_accuracy",
            Metric::ValLoss => "val_loss",
            Metric::TrainAccuracy => "train_accuracy",
            Metric::TrainLoss => "train_loss",
        }
    }

    /// The goal a metric has unless the request says otherwise.
    pub fn natural_goal(self) -> Goal {
        match self {
            Metric::ValAccuracy | Metric::TrainAccuracy => Goal::Maximize,
            Metric::ValLoss | Metric::TrainLoss => Goal::Minimize,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EarlyStopping {
    /// Asynchronous successive halving: rungs at grace * rf^k epochs; of the configurations
    /// that reached a rung, the top 1/rf (at least one) go on.
    Asha {
        #[serde(default = "one")]
        grace_epochs: usize,
        #[serde(default = "three")]
        reduction_factor: usize,
    },
    /// Stops a configuration whose value at epoch t is worse than the median of the others'
    /// at t, from `grace_epochs` on and once `min_trials` others have reached t.
    Median {
        #[serde(default = "one")]
        grace_epochs: usize,
        #[serde(default = "three")]
        min_trials: usize,
    },
}

fn one() -> usize {
    1
}
fn three() -> usize {
    3
}
fn default_seeds() -> usize {
    1
}
fn default_parallelism() -> usize {
    2
}

/// `POST /api/v1/sweeps` (and `/preview`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    #[serde(default)]
    pub name: String,
    /// The JobSpec every trial starts from.
    #[schema(value_type = crate::train::JobSpec)]
    pub base: Map<String, Value>,
    /// Per JobSpec field, the values it takes.
    pub space: BTreeMap<String, Domain>,
    pub method: Method,
    /// Configurations to draw (`random`; `grid` takes every combination).
    #[serde(default)]
    pub trials: Option<usize>,
    /// Runs of each configuration, with seeds base.seed, base.seed + 1, ...
    #[serde(default = "default_seeds")]
    pub seeds: usize,
    pub metric: Metric,
    /// Default: maximize accuracies, minimize losses.
    #[serde(default)]
    pub goal: Option<Goal>,
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Trials of this sweep training at once.
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    /// The seed `random` draws from (default: the base's seed).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl SweepSpec {
    pub fn goal(&self) -> Goal {
        self.goal.unwrap_or(self.metric.natural_goal())
    }
}

/// A request field at fault (`space.learning_rate`, `trials`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepError {
    pub field: String,
    pub message: String,
}

fn fail<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, SweepError> {
    Err(SweepError {
        field: field.into(),
        message: message.into(),
    })
}

/// One run of a sweep: a configuration (its index and swept values) with one of its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub config: usize,
    /// The swept fields' values.
    pub params: Map<String, Value>,
    pub seed: u64,
    /// The base with `params` and `seed` applied: a JobSpec body, not yet checked.
    pub job_spec: Map<String, Value>,
}

/// The sweep's trials, configuration by configuration, each configuration's seeds in
/// order. The same request always gives the same trials. Checks the request's own fields
/// (the trials' JobSpecs are the caller's to check, naming `space.<field>`).
pub fn trials(spec: &SweepSpec) -> Result<Vec<Trial>, SweepError> {
    if spec.space.is_empty() {
        return fail("space", "name at least one JobSpec field to sweep");
    }
    if !(1..=MAX_SEEDS).contains(&spec.seeds) {
        return fail("seeds", format!("an integer in 1..={MAX_SEEDS}"));
    }
    if !(1..=MAX_PARALLELISM).contains(&spec.parallelism) {
        return fail("parallelism", format!("an integer in 1..={MAX_PARALLELISM}"));
    }
    if spec.name.chars().count() > 100 {
        return fail("name", "at most 100 characters");
    }
    for (field, why) in [
        ("seed", "use `seeds` for runs with other seeds"),
        ("k_folds", "a sweep trial is a single run"),
        (
            "epochs",
            "every trial may run base.epochs; early stopping decides how many it trains",
        ),
    ] {
        if spec.space.contains_key(field) {
            return fail(format!("space.{field}"), why);
        }
    }
    if spec.base.get("k_folds").is_some_and(|k| !k.is_null()) {
        return fail("base.k_folds", "a sweep trial is a single run");
    }
    match spec.early_stopping {
        Some(EarlyStopping::Asha {
            grace_epochs,
            reduction_factor,
        }) => {
            if grace_epochs == 0 {
                return fail("early_stopping.grace_epochs", "at least 1");
            }
            if !(2..=8).contains(&reduction_factor) {
                return fail("early_stopping.reduction_factor", "an integer in 2..=8");
            }
        }
        Some(EarlyStopping::Median {
            grace_epochs,
            min_trials,
        }) => {
            if grace_epochs == 0 {
                return fail("early_stopping.grace_epochs", "at least 1");
            }
            if !(1..=MAX_TRIALS).contains(&min_trials) {
                return fail("early_stopping.min_trials", format!("an integer in 1..={MAX_TRIALS}"));
            }
        }
        None => {}
    }
    for (field, domain) in &spec.space {
        check_domain(field, domain, spec.method)?;
    }
    let configs = match spec.method {
        Method::Grid => {
            if spec.trials.is_some() {
                return fail(
                    "trials",
                    "grid runs every combination of the values; `trials` is for random",
                );
            }
            grid(&spec.space)
        }
        Method::Random => {
            let Some(n) = spec.trials.filter(|n| (1..=MAX_TRIALS).contains(n)) else {
                return fail(
                    "trials",
                    format!("random needs `trials`, an integer in 1..={MAX_TRIALS}"),
                );
            };
            let base_seed = spec
                .base
                .get("seed")
                .and_then(Value::as_u64)
                .unwrap_or(crate::train::spec::DEFAULT_SEED);
            let mut rng = rng_from_seed(spec.seed.unwrap_or(base_seed));
            (0..n).map(|_| draw(&spec.space, &mut rng)).collect()
        }
    };
    let total = configs.len().saturating_mul(spec.seeds);
    if total > MAX_TRIALS {
        return fail(
            if spec.method == Method::Grid { "space" } else { "seeds" },
            format!(
                "{} configurations x {} seeds = {total} runs; at most {MAX_TRIALS}",
                configs.len(),
                spec.seeds
            ),
        );
    }
    let base_seed = match spec.base.get("seed") {
        None => crate::train::spec::DEFAULT_SEED,
        Some(v) => match v.as_u64() {
            Some(seed) => seed,
            None => return fail("base.seed", "a non-negative integer"),
        },
    };
    let mut out = Vec::with_capacity(total);
    for (config, params) in configs.into_iter().enumerate() {
        for s in 0..spec.seeds as u64 {
            let seed = base_seed.wrapping_add(s);
            let mut job_spec = spec.base.clone();
            job_spec.extend(params.clone());
            job_spec.insert("seed".into(), Value::from(seed));
            out.push(Trial {
                config,
                params: params.clone(),
                seed,
                job_spec,
            });
        }
    }
    Ok(out)
}

fn check_domain(field: &str, domain: &Domain, method: Method) -> Result<(), SweepError> {
    let at = format!("space.{field}");
    let ok = |low: f64, high: f64| low.is_finite() && high.is_finite() && low <= high;
    match domain {
        Domain::Values(values) if values.is_empty() || values.len() > MAX_VALUES => {
            fail(at, format!("`values` lists 1..={MAX_VALUES} values"))
        }
        Domain::Values(_) => Ok(()),
        _ if method == Method::Grid => fail(at, "grid takes only `values` entries; draw ranges with method random"),
        Domain::Uniform([low, high]) if !ok(*low, *high) => fail(at, "uniform takes [low, high], finite, low <= high"),
        Domain::LogUniform([low, high]) if !ok(*low, *high) || *low <= 0.0 => {
            fail(at, "log_uniform takes [low, high] with 0 < low <= high")
        }
        Domain::IntUniform([low, high]) if low > high => fail(at, "int_uniform takes [low, high] with low <= high"),
        _ => Ok(()),
    }
}

/// Every combination of the `values` entries, the first field varying slowest.
fn grid(space: &BTreeMap<String, Domain>) -> Vec<Map<String, Value>> {
    let mut configs = vec![Map::new()];
    for (field, domain) in space {
        let Domain::Values(values) = domain else {
            unreachable!("checked: grid has only values")
        };
        configs = configs
            .into_iter()
            .flat_map(|config| {
                values.iter().map(move |v| {
                    let mut next = config.clone();
                    next.insert(field.clone(), v.clone());
                    next
                })
            })
            .collect();
        if configs.len() > MAX_TRIALS {
            // Too many already; the caller reports the count.
            configs.truncate(MAX_TRIALS + 1);
        }
    }
    configs
}

/// One random configuration, fields in name order.
fn draw(space: &BTreeMap<String, Domain>, rng: &mut crate::rng::Rng) -> Map<String, Value> {
    space
        .iter()
        .map(|(field, domain)| {
            let value = match domain {
                Domain::Values(values) => values[rng.random_range(0..values.len())].clone(),
                Domain::Uniform([low, high]) => Value::from(low + (high - low) * rng.random::<f64>()),
                Domain::LogUniform([low, high]) => {
                    Value::from((low.ln() + (high.ln() - low.ln()) * rng.random::<f64>()).exp())
                }
                Domain::IntUniform([low, high]) => Value::from(rng.random_range(*low..=*high)),
            };
            (field.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(body: Value) -> SweepSpec {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_grid_runs_every_combination_with_each_seed_in_order() {
        let s = spec(
            json!({"base": {"dataset": "xor", "seed": 7}, "method": "grid", "metric": "val_loss", "seeds": 2,
            "space": {"learning_rate": {"values": [0.1, 0.01]}, "hidden_layers": {"values": [[4], [8, 4], [16]]}}}),
        );
        let t = trials(&s).unwrap();
        assert_eq!(t.len(), 12);
        // hidden_layers (first by name) varies slowest; seeds innermost.
        assert_eq!(
            t[0].params,
            json!({"hidden_layers": [4], "learning_rate": 0.1})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!((t[0].seed, t[1].seed, t[1].config), (7, 8, 0));
        assert_eq!(t[2].params["learning_rate"], json!(0.01));
        assert_eq!(t[11].params["hidden_layers"], json!([16]));
        assert_eq!(t[11].job_spec["dataset"], json!("xor"));
        assert_eq!(t[11].job_spec["seed"], json!(8));
    }

    #[test]
    fn random_draws_are_seeded_within_their_ranges() {
        let body = json!({"base": {"dataset": "xor"}, "method": "random", "trials": 50, "metric": "val_accuracy",
            "space": {"learning_rate": {"log_uniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0, 0.5]},
                      "batch_size": {"int_uniform": [32, 256]}, "activation": {"values": ["relu", "tanh"]}}});
        let a = trials(&spec(body.clone())).unwrap();
        assert_eq!(
            a,
            trials(&spec(body.clone())).unwrap(),
            "the same request, the same trials"
        );
        assert_eq!(a.len(), 50);
        for t in &a {
            let lr = t.params["learning_rate"].as_f64().unwrap();
            assert!((1e-4..=1e-1).contains(&lr));
            assert!((0.0..=0.5).contains(&t.params["dropout"].as_f64().unwrap()));
            assert!((32..=256).contains(&t.params["batch_size"].as_i64().unwrap()));
        }
        // Log-uniform: about half the draws below the geometric middle 10^-2.5.
        let low = a
            .iter()
            .filter(|t| t.params["learning_rate"].as_f64().unwrap() < 10f64.powf(-2.5))
            .count();
        assert!((15..=35).contains(&low), "{low}");
        let mut other = body;
        other["seed"] = json!(1);
        assert_ne!(
            trials(&spec(other)).unwrap()[0].params,
            a[0].params,
            "another seed, other draws"
        );
    }

    #[test]
    fn a_bad_request_names_its_field() {
        let base = json!({"base": {"dataset": "xor"}, "metric": "val_loss"});
        let with = |extra: Value| {
            let mut b = base.clone();
            b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            trials(&spec(b)).unwrap_err().field
        };
        assert_eq!(with(json!({"method": "grid", "space": {}})), "space");
        assert_eq!(
            with(json!({"method": "grid", "space": {"dropout": {"uniform": [0, 1]}}})),
            "space.dropout"
        );
        assert_eq!(
            with(json!({"method": "grid", "space": {"dropout": {"values": []}}})),
            "space.dropout"
        );
        assert_eq!(
            with(json!({"method": "random", "trials": 3, "space": {"l2": {"log_uniform": [0, 1]}}})),
            "space.l2"
        );
        assert_eq!(
            with(json!({"method": "random", "trials": 3, "space": {"l2": {"uniform": [1, 0]}}})),
            "space.l2"
        );
        assert_eq!(
            with(json!({"method": "random", "space": {"l2": {"uniform": [0, 1]}}})),
            "trials"
        );
        assert_eq!(
            with(json!({"method": "random", "trials": 300, "space": {"l2": {"uniform": [0, 1]}}})),
            "trials"
        );
        assert_eq!(
            with(json!({"method": "grid", "space": {"seed": {"values": [1, 2]}}})),
            "space.seed"
        );
        assert_eq!(
            with(json!({"method": "grid", "seeds": 9, "space": {"l2": {"values": [0]}}})),
            "seeds"
        );
        assert_eq!(
            with(json!({"method": "grid", "parallelism": 0, "space": {"l2": {"values": [0]}}})),
            "parallelism"
        );
        let many: Vec<Value> = (0..20).map(Value::from).collect();
        assert_eq!(
            with(json!({"method": "grid", "space": {"l1": {"values": many}, "l2": {"values": many}}})),
            "space",
            "400 combinations"
        );
        assert_eq!(
            with(json!({"method": "grid", "space": {"l2": {"values": [0]}},
                        "early_stopping": {"kind": "asha", "reduction_factor": 1}})),
            "early_stopping.reduction_factor"
        );
    }
}
