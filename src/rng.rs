//! The one random-number generator of the engine.
//!
//! Xoshiro256++ is fast (dropout masks and augmentation draw millions of numbers per epoch),
//! and its state serialises with serde, so a checkpoint can resume the exact random stream.

use rand::SeedableRng;

pub type Rng = rand_xoshiro::Xoshiro256PlusPlus;

/// The generator for a seed; the same seed always gives the same stream.
pub fn rng_from_seed(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}
