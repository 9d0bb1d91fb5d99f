//! Training: job specs, the epoch loop and its events.
