//! Hyperparameter sweeps, the pure part: the search space and its trials (`space`), the
//! cost preview (`preview`) and the early-stopping rules with their evidence (`rules`). No
//! I/O: the service (`jobs::sweeps`) runs the trials as ordinary jobs and applies what the
//! rules decide.

pub mod preview;
pub mod rules;
pub mod space;

pub use preview::{Preview, Rung, preview};
pub use rules::{Decision, Goal};
pub use space::{Domain, EarlyStopping, Method, SweepError, SweepSpec, Trial, trials};
