//! The lecture's expression experiments: backpropagation through a computational graph
//! (`/experiments/backprop`) and the eight optimizers' paths on a 2-D function
//! (`/experiments/optimizers`), both on the engine's expression graph (`expr`); the paths
//! use the optimizer code that trains networks.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiRouter, AppError, AppJson, AppState};
use crate::expr::{ExprError, Graph, parse};
use crate::nn::{Optimizer, OptimizerConfig, OptimizerKind};

/// Steps one path may take.
pub const MAX_STEPS: usize = 1000;
/// Optimizers one request may compare.
pub const MAX_OPTIMIZERS: usize = 8;
/// Variables one backprop expression may use.
pub const MAX_VARIABLES: usize = 16;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(backprop))
        .routes(routes!(optimizer_paths))
}

/// An expression error as a 422 naming `field`, with the position or the name in the message.
fn invalid(field: &str, e: ExprError) -> AppError {
    let place = match (&e.name, e.position) {
        (Some(name), Some(at)) => format!(" ('{name}' at position {at})"),
        (None, Some(at)) => format!(" (at position {at})"),
        _ => String::new(),
    };
    AppError::invalid(field, format!("{}{place}", e.message))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"expression": "(x+y)*z", "values": {"x": -2, "y": 5, "z": -4}}))]
pub struct BackpropRequest {
    /// Numbers, variables, `+ - * /`, unary minus, `^` with a number exponent, parentheses,
    /// and `exp log sigmoid tanh relu max min abs`; at most 500 characters.
    pub expression: String,
    /// A value for every variable of the expression.
    pub values: BTreeMap<String, f64>,
}

/// One node of the graph, in evaluation order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GraphNode {
    pub id: usize,
    /// `+`, `*`, `max`, ... for operations; the name for a variable, the number for a constant.
    pub op: String,
    /// `operation`, `variable` or `constant`.
    pub kind: String,
    /// The nodes it takes (by id).
    pub inputs: Vec<usize>,
    pub value: f64,
    /// d output / d this node.
    pub grad: f64,
    /// Where the operation is written in the expression.
    pub position: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackpropResult {
    pub output: f64,
    /// d output / d variable.
    pub gradients: BTreeMap<String, f64>,
    pub nodes: Vec<GraphNode>,
    /// The output node's id.
    pub output_id: usize,
}

/// Backpropagation through the expression's computational graph: every node's value and the
/// gradient of the output with respect to it.
#[utoipa::path(post, path = "/api/v1/experiments/backprop", tag = "experiments",
    request_body = BackpropRequest,
    responses(
        (status = 200, description = "The graph with values and gradients", body = BackpropResult),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A bad expression (syntax, unknown function, a variable without a value, \
            division by zero, a non-finite value), naming the position or the name", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn backprop(AppJson(req): AppJson<BackpropRequest>) -> Result<Json<BackpropResult>, AppError> {
    let mut graph = parse(&req.expression, None).map_err(|e| invalid("expression", e))?;
    let variables = graph.variables();
    if variables.len() > MAX_VARIABLES {
        return Err(AppError::invalid(
            "expression",
            format!("at most {MAX_VARIABLES} variables"),
        ));
    }
    if let Some(name) = variables.iter().find(|v| !req.values.contains_key(**v)) {
        return Err(AppError::invalid(
            format!("values.{name}"),
            format!("no value given for '{name}'"),
        ));
    }
    if let Some((name, _)) = req.values.iter().find(|(_, v)| !v.is_finite()) {
        return Err(AppError::invalid(format!("values.{name}"), "must be a finite number"));
    }
    let output = graph.forward(&req.values).map_err(|e| invalid("expression", e))?;
    graph.backward();
    let nodes = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(id, n)| GraphNode {
            id,
            op: n.op.label(),
            kind: match n.op {
                crate::expr::Op::Var(_) => "variable",
                crate::expr::Op::Const(_) => "constant",
                _ => "operation",
            }
            .into(),
            inputs: n.inputs.clone(),
            value: n.value,
            grad: n.grad,
            position: n.position,
        })
        .collect();
    Ok(Json(BackpropResult {
        output,
        gradients: graph.gradients(),
        nodes,
        output_id: graph.output,
    }))
}

/// The named functions of the optimizer-paths experiment.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamedFunction {
    /// The book's x^2/20 + y^2: a long, flat valley.
    Bowl,
    /// (1-x)^2 + 100 (y-x^2)^2, minimum at (1, 1).
    Rosenbrock,
    /// x^2 - y^2.
    Saddle,
    /// Beale's function, minimum at (3, 0.5).
    Beale,
}

impl NamedFunction {
    pub fn expression(self) -> &'static str {
        match self {
            NamedFunction::Bowl => "x^2/20 + y^2",
            NamedFunction::Rosenbrock => "(1-x)^2 + 100*(y-x^2)^2",
            NamedFunction::Saddle => "x^2 - y^2",
            NamedFunction::Beale => "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathOptimizer {
    /// `sgd`, `momentum`, `nag`, `adagrad`, `rmsprop`, `adadelta`, `adam`, `nadam`.
    #[schema(value_type = String)]
    pub name: OptimizerKind,
    pub learning_rate: f32,
    /// The optimizer's constants (null: its standard values, as in a JobSpec).
    #[serde(default)]
    pub momentum: Option<f32>,
    #[serde(default)]
    pub rho: Option<f32>,
    #[serde(default)]
    pub beta1: Option<f32>,
    #[serde(default)]
    pub beta2: Option<f32>,
    #[serde(default)]
    pub eps: Option<f32>,
}

fn default_steps() -> usize {
    30
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"function": "bowl", "start": [-7, 2], "steps": 30,
    "optimizers": [{"name": "sgd", "learning_rate": 0.95}, {"name": "momentum", "learning_rate": 0.1},
                   {"name": "adagrad", "learning_rate": 1.5}, {"name": "adam", "learning_rate": 0.3}]}))]
pub struct PathsRequest {
    /// A function of x and y (as `/experiments/backprop` takes), or `function` instead.
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub function: Option<NamedFunction>,
    pub start: [f64; 2],
    /// 1..=1000.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// 1..=8 optimizers, each from the same start.
    pub optimizers: Vec<PathOptimizer>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OptimizerPath {
    pub optimizer: OptimizerKind,
    pub learning_rate: f32,
    /// The start, then the point after each step.
    pub points: Vec<[f64; 2]>,
    /// The function's value at each point.
    pub values: Vec<f64>,
    /// Why the path ended early (it left the function's finite range), if it did.
    #[schema(required = true)]
    pub stopped: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PathsResult {
    pub expression: String,
    pub paths: Vec<OptimizerPath>,
}

/// The optimizers' paths on a function of (x, y): each of the engine's optimizers (the code
/// that trains networks) takes `steps` steps from `start` on the function's gradient.
#[utoipa::path(post, path = "/api/v1/experiments/optimizers", tag = "experiments",
    request_body = PathsRequest,
    responses(
        (status = 200, description = "One path per optimizer", body = PathsResult),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A bad expression (naming the position or the name: only x and y), \
            start, steps or optimizer", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody),
    ))]
pub(crate) async fn optimizer_paths(
    State(state): State<AppState>,
    AppJson(req): AppJson<PathsRequest>,
) -> Result<Json<PathsResult>, AppError> {
    let expression = match (&req.expression, req.function) {
        (Some(e), None) => e.clone(),
        (None, Some(f)) => f.expression().to_string(),
        _ => {
            return Err(AppError::invalid(
                "expression",
                "give either `expression` or `function`",
            ));
        }
    };
    let mut graph = parse(&expression, Some(&["x", "y"])).map_err(|e| invalid("expression", e))?;
    if !(1..=MAX_STEPS).contains(&req.steps) {
        return Err(AppError::invalid("steps", format!("an integer in 1..={MAX_STEPS}")));
    }
    if !(1..=MAX_OPTIMIZERS).contains(&req.optimizers.len()) {
        return Err(AppError::invalid(
            "optimizers",
            format!("1..={MAX_OPTIMIZERS} optimizers"),
        ));
    }
    if !req.start.iter().all(|v| v.is_finite()) {
        return Err(AppError::invalid("start", "two finite numbers"));
    }
    graph
        .value_and_gradient_xy(req.start[0], req.start[1])
        .map_err(|e| invalid("expression", e))?;
    let mut configs = Vec::with_capacity(req.optimizers.len());
    for (i, o) in req.optimizers.iter().enumerate() {
        if !(o.learning_rate.is_finite() && o.learning_rate > 0.0 && o.learning_rate <= 100.0) {
            return Err(AppError::invalid(
                format!("optimizers[{i}].learning_rate"),
                "a number in (0, 100]",
            ));
        }
        // The same constants and checks as a JobSpec's.
        let spec = crate::train::JobSpec {
            dataset: "paths".into(),
            optimizer: o.name,
            momentum: o.momentum,
            rho: o.rho,
            beta1: o.beta1,
            beta2: o.beta2,
            eps: o.eps,
            ..crate::train::JobSpec::default()
        };
        let spec = spec
            .validate()
            .map_err(|e| AppError::invalid(format!("optimizers[{i}].{}", e.field), e.message))?;
        configs.push((o.name, o.learning_rate, spec.optimizer()));
    }
    let _permit = state.admit_heavy().await?;
    let steps = req.steps;
    let start = req.start;
    let paths = tokio::task::spawn_blocking(move || {
        configs
            .into_iter()
            .map(|(kind, lr, config)| walk(&mut graph.clone(), kind, lr, config, start, steps))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?;
    Ok(Json(PathsResult { expression, paths }))
}

/// One optimizer's path: `steps` updates of the point (x, y) with the function's gradient.
fn walk(
    graph: &mut Graph,
    kind: OptimizerKind,
    lr: f32,
    config: OptimizerConfig,
    start: [f64; 2],
    steps: usize,
) -> OptimizerPath {
    let mut optimizer = Optimizer::new(config);
    let mut w = [start[0] as f32, start[1] as f32];
    let mut points = vec![start];
    let mut values = Vec::with_capacity(steps + 1);
    let mut stopped = None;
    for step in 0..=steps {
        let (x, y) = (w[0] as f64, w[1] as f64);
        let (value, grad) = match graph.value_and_gradient_xy(x, y) {
            Ok(r) => r,
            Err(e) => {
                stopped = Some(format!("stopped after step {step}: {}", e.message));
                points.pop();
                break;
            }
        };
        values.push(value);
        if step == steps {
            break;
        }
        optimizer.step_vector(&mut w, &[grad[0] as f32, grad[1] as f32], lr);
        if !w.iter().all(|v| v.is_finite()) {
            stopped = Some(format!(
                "stopped after step {}: the point left the finite range",
                step + 1
            ));
            break;
        }
        points.push([w[0] as f64, w[1] as f64]);
    }
    OptimizerPath {
        optimizer: kind,
        learning_rate: lr,
        points,
        values,
        stopped,
    }
}
