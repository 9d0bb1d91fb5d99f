//! The computational graph: nodes in evaluation order (inputs before the nodes that use
//! them), a forward pass, and reverse-mode gradients of the output with respect to every
//! node, gate by gate as the deck draws them: an add gate distributes the gradient, a max
//! gate routes it to the larger input, a multiply gate switches the inputs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ExprError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Op {
    Const(f64),
    Var(String),
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    /// A number exponent.
    Pow(f64),
    Exp,
    Log,
    Sigmoid,
    Tanh,
    Relu,
    Abs,
    Max,
    Min,
}

impl Op {
    /// The operation as the graph widget labels it.
    pub fn label(&self) -> String {
        match self {
            Op::Const(v) => format!("{v}"),
            Op::Var(name) => name.clone(),
            Op::Add => "+".into(),
            Op::Sub => "-".into(),
            Op::Mul => "*".into(),
            Op::Div => "/".into(),
            Op::Neg => "neg".into(),
            Op::Pow(e) => format!("^{e}"),
            Op::Exp => "exp".into(),
            Op::Log => "log".into(),
            Op::Sigmoid => "sigmoid".into(),
            Op::Tanh => "tanh".into(),
            Op::Relu => "relu".into(),
            Op::Abs => "abs".into(),
            Op::Max => "max".into(),
            Op::Min => "min".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<usize>,
    /// Where in the expression the operation is written.
    pub position: usize,
    pub value: f64,
    /// d output / d this node, after [`Graph::backward`].
    pub grad: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub output: usize,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Graph {
    pub(super) fn push(&mut self, op: Op, inputs: Vec<usize>, position: usize) -> usize {
        self.nodes.push(Node {
            op,
            inputs,
            position,
            value: 0.0,
            grad: 0.0,
        });
        self.nodes.len() - 1
    }

    /// The variables, in order of first appearance.
    pub fn variables(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.op {
                Op::Var(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Computes every node's value; the output's is returned. A variable without a value, a
    /// division by zero or a non-finite value is an error pointing at its place.
    pub fn forward(&mut self, values: &BTreeMap<String, f64>) -> Result<f64, ExprError> {
        for i in 0..self.nodes.len() {
            let input = |k: usize| self.nodes[self.nodes[i].inputs[k]].value;
            let node = &self.nodes[i];
            let value = match &node.op {
                Op::Const(v) => *v,
                Op::Var(name) => *values.get(name).ok_or_else(|| ExprError {
                    message: format!("no value given for '{name}'"),
                    position: Some(node.position),
                    name: Some(name.clone()),
                })?,
                Op::Add => input(0) + input(1),
                Op::Sub => input(0) - input(1),
                Op::Mul => input(0) * input(1),
                Op::Div => {
                    if input(1) == 0.0 {
                        return Err(ExprError::at(node.position, "division by zero"));
                    }
                    input(0) / input(1)
                }
                Op::Neg => -input(0),
                Op::Pow(e) => input(0).powf(*e),
                Op::Exp => input(0).exp(),
                Op::Log => input(0).ln(),
                Op::Sigmoid => sigmoid(input(0)),
                Op::Tanh => input(0).tanh(),
                Op::Relu => input(0).max(0.0),
                Op::Abs => input(0).abs(),
                Op::Max => input(0).max(input(1)),
                Op::Min => input(0).min(input(1)),
            };
            if !value.is_finite() {
                return Err(ExprError::at(
                    node.position,
                    format!("'{}' gives a non-finite value ({value})", node.op.label()),
                ));
            }
            self.nodes[i].value = value;
        }
        Ok(self.nodes[self.output].value)
    }

    /// Reverse-mode gradients of the output with respect to every node (after
    /// [`Graph::forward`]); a variable used several times collects every path's share.
    pub fn backward(&mut self) {
        for n in &mut self.nodes {
            n.grad = 0.0;
        }
        self.nodes[self.output].grad = 1.0;
        for i in (0..self.nodes.len()).rev() {
            let g = self.nodes[i].grad;
            if g == 0.0 {
                continue;
            }
            let node = self.nodes[i].clone();
            let x = |k: usize| self.nodes[node.inputs[k]].value;
            let shares: Vec<f64> = match &node.op {
                Op::Const(_) | Op::Var(_) => vec![],
                // Distributes.
                Op::Add => vec![g, g],
                Op::Sub => vec![g, -g],
                // Switches: each input gets the gradient times the other input.
                Op::Mul => vec![g * x(1), g * x(0)],
                Op::Div => vec![g / x(1), -g * x(0) / (x(1) * x(1))],
                Op::Neg => vec![-g],
                Op::Pow(e) => vec![g * e * x(0).powf(e - 1.0)],
                Op::Exp => vec![g * node.value],
                Op::Log => vec![g / x(0)],
                Op::Sigmoid => vec![g * node.value * (1.0 - node.value)],
                Op::Tanh => vec![g * (1.0 - node.value * node.value)],
                Op::Relu => vec![if x(0) > 0.0 { g } else { 0.0 }],
                Op::Abs => vec![g * x(0).signum() * if x(0) == 0.0 { 0.0 } else { 1.0 }],
                // Routes to the larger (smaller) input; a tie goes to the first.
                Op::Max => {
                    if x(0) >= x(1) {
                        vec![g, 0.0]
                    } else {
                        vec![0.0, g]
                    }
                }
                Op::Min => {
                    if x(0) <= x(1) {
                        vec![g, 0.0]
                    } else {
                        vec![0.0, g]
                    }
                }
            };
            for (k, share) in shares.into_iter().enumerate() {
                self.nodes[node.inputs[k]].grad += share;
            }
        }
    }

    /// The gradient with respect to each variable.
    pub fn gradients(&self) -> BTreeMap<String, f64> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.op {
                Op::Var(name) => Some((name.clone(), n.grad)),
                _ => None,
            })
            .collect()
    }

    /// Value and gradient of a two-variable function at (x, y): what the optimizer-paths
    /// experiment asks at each step.
    pub fn value_and_gradient_xy(&mut self, x: f64, y: f64) -> Result<(f64, [f64; 2]), ExprError> {
        let values = BTreeMap::from([("x".to_string(), x), ("y".to_string(), y)]);
        let value = self.forward(&values)?;
        self.backward();
        let grads = self.gradients();
        let of = |v: &str| grads.get(v).copied().unwrap_or(0.0);
        Ok((value, [of("x"), of("y")]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn values(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn run(text: &str, pairs: &[(&str, f64)]) -> (f64, BTreeMap<String, f64>) {
        let mut g = parse(text, None).unwrap();
        let out = g.forward(&values(pairs)).unwrap();
        g.backward();
        (out, g.gradients())
    }

    /// The deck's first example: f = (x + y) z at x = -2, y = 5, z = -4.
    #[test]
    fn the_decks_example_gives_its_numbers() {
        let (out, grads) = run("(x+y)*z", &[("x", -2.0), ("y", 5.0), ("z", -4.0)]);
        assert_eq!(out, -12.0);
        assert_eq!(grads, values(&[("x", -4.0), ("y", -4.0), ("z", 3.0)]));
    }

    /// The gates: add distributes, max routes, multiply switches (deck, with its numbers:
    /// 2 (x y + max(z, w)) at x = 3, y = -4, z = 2, w = -1).
    #[test]
    fn add_distributes_max_routes_and_multiply_switches() {
        let (out, grads) = run(
            "2*(x*y + max(z, w))",
            &[("x", 3.0), ("y", -4.0), ("z", 2.0), ("w", -1.0)],
        );
        assert_eq!(out, -20.0);
        assert_eq!(grads, values(&[("w", 0.0), ("x", -8.0), ("y", 6.0), ("z", 2.0)]));
    }

    /// CS231n's sigmoid neuron: f = sigmoid(w0 x0 + w1 x1 + w2) at w = (2, -3, -3),
    /// x = (-1, -2): output 0.73, gradients w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20
    /// (the course notes' numbers, to two decimals).
    #[test]
    fn cs231n_sigmoid_neuron_gives_the_course_notes_numbers() {
        let (out, g) = run(
            "sigmoid(w0*x0 + w1*x1 + w2)",
            &[("w0", 2.0), ("x0", -1.0), ("w1", -3.0), ("x1", -2.0), ("w2", -3.0)],
        );
        let two = |v: f64| (v * 100.0).round() / 100.0;
        assert_eq!(two(out), 0.73);
        assert_eq!(
            [two(g["w0"]), two(g["x0"]), two(g["w1"]), two(g["x1"]), two(g["w2"])],
            [-0.2, 0.39, -0.39, -0.59, 0.2]
        );
    }

    #[test]
    fn a_variable_used_twice_collects_both_paths() {
        let (out, grads) = run("x*x + 3*x", &[("x", 2.0)]);
        assert_eq!((out, grads["x"]), (10.0, 7.0));
    }

    /// Every operation against central differences at points away from kinks.
    #[test]
    fn every_operation_passes_a_finite_difference_check() {
        let cases = [
            "x + y",
            "x - y",
            "x * y",
            "x / y",
            "-x",
            "x^3",
            "x^-1.5",
            "x^0.5",
            "exp(x)",
            "log(x)",
            "sigmoid(x*y)",
            "tanh(x - y)",
            "relu(x - y)",
            "abs(x - y)",
            "max(x, y)",
            "min(x, y)",
            "(1-x)^2 + 100*(y-x^2)^2",
            "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2",
        ];
        let h = 1e-6;
        for text in cases {
            for (x, y) in [(1.3, 0.7), (0.4, 2.1), (2.5, 1.1)] {
                let mut g = parse(text, None).unwrap();
                let (_, [gx, gy]) = g.value_and_gradient_xy(x, y).unwrap();
                let f = |x: f64, y: f64| parse(text, None).unwrap().value_and_gradient_xy(x, y).unwrap().0;
                let nx = (f(x + h, y) - f(x - h, y)) / (2.0 * h);
                let ny = (f(x, y + h) - f(x, y - h)) / (2.0 * h);
                assert!(
                    (gx - nx).abs() <= 1e-5 * (1.0 + nx.abs()),
                    "{text} d/dx at ({x}, {y}): {gx} vs {nx}"
                );
                assert!(
                    (gy - ny).abs() <= 1e-5 * (1.0 + ny.abs()),
                    "{text} d/dy at ({x}, {y}): {gy} vs {ny}"
                );
            }
        }
    }

    #[test]
    fn bad_expressions_point_at_their_place_or_name() {
        let err = |text: &str| parse(text, Some(&["x", "y"])).unwrap_err();
        assert_eq!(err("x + * y").position, Some(4));
        assert_eq!(err("(x + y").position, Some(6));
        assert_eq!(err("x + ").position, Some(4));
        assert_eq!(err("x ^ y").position, Some(4));
        assert_eq!(err("").position, Some(0));
        let unknown = err("x + z");
        assert_eq!((unknown.position, unknown.name.as_deref()), (Some(4), Some("z")));
        let function = err("sin(x)");
        assert_eq!((function.position, function.name.as_deref()), (Some(0), Some("sin")));
        assert_eq!(err("max(x)").position, Some(0));
        let mut g = parse("x / (y - 1)", None).unwrap();
        let e = g.forward(&values(&[("x", 1.0), ("y", 1.0)])).unwrap_err();
        assert_eq!((e.position, e.message.as_str()), (Some(2), "division by zero"));
        let mut g = parse("log(x)", None).unwrap();
        assert_eq!(g.forward(&values(&[("x", -1.0)])).unwrap_err().position, Some(0));
        assert!(parse(&"x+".repeat(300), None).is_err(), "too long");
    }
}
