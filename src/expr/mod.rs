//! A small expression engine for the lecture's computational graphs: a parser for
//! expressions over named variables, the graph it builds (each operation a node, each
//! variable one node however often it appears), a forward pass and reverse-mode gradients.
//! Pure computation; `api::experiments` serves it (the backprop widget, optimizer paths).

mod graph;
mod parse;

pub use graph::{Graph, Node, Op};
pub use parse::parse;

/// Where an expression went wrong, for a 422 that points at it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    /// 0-based character offset into the expression, when the fault has a place.
    pub position: Option<usize>,
    /// The unknown variable or function, when that is the fault.
    pub name: Option<String>,
}

impl ExprError {
    fn at(position: usize, message: impl Into<String>) -> Self {
        ExprError {
            message: message.into(),
            position: Some(position),
            name: None,
        }
    }
}

/// Expressions longer than this are refused before parsing (a bound on the graph's size).
pub const MAX_LEN: usize = 500;
