//! Recursive descent over: sum = product (("+" | "-") product)*; product = unary (("*" |
//! "/") unary)*; unary = "-" unary | power; power = atom ("^" number)?, with "^" binding
//! tighter than unary minus (-x^2 = -(x^2)); atom = number | name | name "(" args ")" |
//! "(" sum ")".

use std::collections::HashMap;

use super::graph::{Graph, Op};
use super::{ExprError, MAX_LEN};

/// Functions and how many arguments each takes.
const FUNCTIONS: [(&str, usize); 8] = [
    ("exp", 1),
    ("log", 1),
    ("sigmoid", 1),
    ("tanh", 1),
    ("relu", 1),
    ("abs", 1),
    ("max", 2),
    ("min", 2),
];

/// Parses `text` into a graph whose last node is the output. `variables` (if given) are the
/// only names allowed; an unknown one is an error naming it.
pub fn parse(text: &str, variables: Option<&[&str]>) -> Result<Graph, ExprError> {
    if text.chars().count() > MAX_LEN {
        return Err(ExprError::at(MAX_LEN, format!("at most {MAX_LEN} characters")));
    }
    let mut p = Parser {
        chars: text.chars().collect(),
        at: 0,
        graph: Graph::default(),
        vars: HashMap::new(),
        allowed: variables,
    };
    p.skip_space();
    if p.at == p.chars.len() {
        return Err(ExprError::at(0, "the expression is empty"));
    }
    let output = p.sum()?;
    p.graph.output = output;
    p.skip_space();
    if p.at < p.chars.len() {
        return Err(ExprError::at(p.at, format!("unexpected '{}'", p.chars[p.at])));
    }
    Ok(p.graph)
}

struct Parser<'a> {
    chars: Vec<char>,
    at: usize,
    graph: Graph,
    /// Each variable's node: a variable used twice is one node (its gradient adds up).
    vars: HashMap<String, usize>,
    allowed: Option<&'a [&'a str]>,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.chars.len() && self.chars[self.at].is_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.chars.get(self.at).copied()
    }

    fn sum(&mut self) -> Result<usize, ExprError> {
        let mut left = self.product()?;
        while let Some(c @ ('+' | '-')) = self.peek() {
            let at = self.at;
            self.at += 1;
            let right = self.product()?;
            left = self
                .graph
                .push(if c == '+' { Op::Add } else { Op::Sub }, vec![left, right], at);
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<usize, ExprError> {
        let mut left = self.unary()?;
        while let Some(c @ ('*' | '/')) = self.peek() {
            let at = self.at;
            self.at += 1;
            let right = self.unary()?;
            left = self
                .graph
                .push(if c == '*' { Op::Mul } else { Op::Div }, vec![left, right], at);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<usize, ExprError> {
        if self.peek() == Some('-') {
            let at = self.at;
            self.at += 1;
            let inner = self.unary()?;
            return Ok(self.graph.push(Op::Neg, vec![inner], at));
        }
        self.power()
    }

    fn power(&mut self) -> Result<usize, ExprError> {
        let base = self.atom()?;
        if self.peek() == Some('^') {
            let at = self.at;
            self.at += 1;
            let negative = self.peek() == Some('-');
            if negative {
                self.at += 1;
            }
            let start = self.at;
            let Some(exponent) = self.number()? else {
                return Err(ExprError::at(
                    start,
                    "'^' takes a number exponent (e.g. x^2, x^-1, x^0.5)",
                ));
            };
            let exponent = if negative { -exponent } else { exponent };
            return Ok(self.graph.push(Op::Pow(exponent), vec![base], at));
        }
        Ok(base)
    }

    /// A number literal at the cursor, if there is one.
    fn number(&mut self) -> Result<Option<f64>, ExprError> {
        self.skip_space();
        let start = self.at;
        while self.at < self.chars.len() && (self.chars[self.at].is_ascii_digit() || self.chars[self.at] == '.') {
            self.at += 1;
        }
        // An exponent: 1e-3, 2.5E4.
        if self.at > start && self.at < self.chars.len() && matches!(self.chars[self.at], 'e' | 'E') {
            let mark = self.at;
            self.at += 1;
            if self.at < self.chars.len() && matches!(self.chars[self.at], '+' | '-') {
                self.at += 1;
            }
            let digits = self.at;
            while self.at < self.chars.len() && self.chars[self.at].is_ascii_digit() {
                self.at += 1;
            }
            if self.at == digits {
                self.at = mark;
            }
        }
        if self.at == start {
            return Ok(None);
        }
        let text: String = self.chars[start..self.at].iter().collect();
        text.parse::<f64>()
            .map(Some)
            .map_err(|_| ExprError::at(start, format!("'{text}' is not a number")))
    }

    fn atom(&mut self) -> Result<usize, ExprError> {
        let at = match self.peek() {
            None => return Err(ExprError::at(self.chars.len(), "the expression ends too early")),
            Some(_) => self.at,
        };
        if let Some(value) = self.number()? {
            return Ok(self.graph.push(Op::Const(value), vec![], at));
        }
        let c = self.chars[self.at];
        if c == '(' {
            self.at += 1;
            let inner = self.sum()?;
            if self.peek() != Some(')') {
                return Err(ExprError::at(self.at, "')' expected"));
            }
            self.at += 1;
            return Ok(inner);
        }
        if c.is_alphabetic() || c == '_' {
            while self.at < self.chars.len() && (self.chars[self.at].is_alphanumeric() || self.chars[self.at] == '_') {
                self.at += 1;
            }
            let name: String = self.chars[at..self.at].iter().collect();
            if self.peek() == Some('(') {
                return self.call(&name, at);
            }
            return self.variable(name, at);
        }
        Err(ExprError::at(at, format!("unexpected '{c}'")))
    }

    fn call(&mut self, name: &str, at: usize) -> Result<usize, ExprError> {
        let Some(&(_, arity)) = FUNCTIONS.iter().find(|(f, _)| *f == name) else {
            let known: Vec<&str> = FUNCTIONS.iter().map(|(f, _)| *f).collect();
            return Err(ExprError {
                message: format!("unknown function '{name}'; one of {}", known.join(", ")),
                position: Some(at),
                name: Some(name.to_string()),
            });
        };
        self.at += 1; // '('
        let mut args = vec![self.sum()?];
        while self.peek() == Some(',') {
            self.at += 1;
            args.push(self.sum()?);
        }
        if self.peek() != Some(')') {
            return Err(ExprError::at(self.at, "')' or ',' expected"));
        }
        self.at += 1;
        if args.len() != arity {
            return Err(ExprError::at(
                at,
                format!("{name} takes {arity} argument(s), got {}", args.len()),
            ));
        }
        let op = match name {
            "exp" => Op::Exp,
            "log" => Op::Log,
            "sigmoid" => Op::Sigmoid,
            "tanh" => Op::Tanh,
            "relu" => Op::Relu,
            "abs" => Op::Abs,
            "max" => Op::Max,
            _ => Op::Min,
        };
        Ok(self.graph.push(op, args, at))
    }

    fn variable(&mut self, name: String, at: usize) -> Result<usize, ExprError> {
        if let Some(allowed) = self.allowed
            && !allowed.contains(&name.as_str())
        {
            return Err(ExprError {
                message: format!(
                    "unknown variable '{name}'; this expression may use {}",
                    allowed.join(", ")
                ),
                position: Some(at),
                name: Some(name),
            });
        }
        if let Some(&id) = self.vars.get(&name) {
            return Ok(id);
        }
        let id = self.graph.push(Op::Var(name.clone()), vec![], at);
        self.vars.insert(name, id);
        Ok(id)
    }
}
