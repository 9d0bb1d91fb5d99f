//! Index splits: train/validation hold-out and k-fold cross-validation.
//!
//! Splits are index lists into a `Dataset` (see `Dataset::subset`), shuffled by the seeded
//! RNG so that the same seed always selects the same samples.

use rand::seq::SliceRandom;

use crate::rng::Rng;

/// Shuffles `0..n` and returns (train, validation), validation holding `round(n * fraction)`
/// indices. `fraction` is clamped to [0, 1] (NaN counts as 0); 0 gives an empty validation set.
pub fn train_validation_split(n: usize, fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let n_val = ((n as f64 * fraction).round() as usize).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let train = order.split_off(n_val);
    (train, order)
}

/// `k` (train, validation) pairs over a shuffled `0..n`: every index is in exactly one
/// validation fold, and fold sizes differ by at most one. `k == 0` gives no folds; with
/// `k > n` some validation folds are empty.
pub fn k_fold(n: usize, k: usize, rng: &mut Rng) -> Vec<(Vec<usize>, Vec<usize>)> {
    if k == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let (base, extra) = (n / k, n % k);
    let mut folds = Vec::with_capacity(k);
    let mut start = 0;
    for j in 0..k {
        // The first `n % k` folds take one more sample each.
        let end = start + base + usize::from(j < extra);
        let validation = order[start..end].to_vec();
        let train = order[..start].iter().chain(&order[end..]).copied().collect();
        folds.push((train, validation));
        start = end;
    }
    folds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    fn sorted(mut v: Vec<usize>) -> Vec<usize> {
        v.sort_unstable();
        v
    }

    #[test]
    fn hold_out_split_is_a_disjoint_cover_of_the_right_sizes() {
        let (train, val) = train_validation_split(101, 0.2, &mut rng_from_seed(1));
        assert_eq!(val.len(), 20);
        assert_eq!(train.len(), 81);
        assert_eq!(
            sorted([train.clone(), val.clone()].concat()),
            (0..101).collect::<Vec<_>>()
        );
        assert_ne!(
            sorted(val.clone()),
            (0..20).collect::<Vec<_>>(),
            "validation must be shuffled"
        );
    }

    #[test]
    fn hold_out_fraction_rounds_and_extremes_work() {
        assert_eq!(train_validation_split(10, 0.25, &mut rng_from_seed(1)).1.len(), 3);
        let (train, val) = train_validation_split(10, 0.0, &mut rng_from_seed(1));
        assert!(val.is_empty());
        assert_eq!(train.len(), 10);
        assert_eq!(train_validation_split(10, 1.0, &mut rng_from_seed(1)).1.len(), 10);
        assert_eq!(train_validation_split(10, 7.0, &mut rng_from_seed(1)).1.len(), 10);
        assert!(train_validation_split(10, f64::NAN, &mut rng_from_seed(1)).1.is_empty());
        assert_eq!(train_validation_split(0, 0.5, &mut rng_from_seed(1)), (vec![], vec![]));
    }

    #[test]
    fn splits_are_deterministic_for_a_seed_and_differ_between_seeds() {
        let a = train_validation_split(1000, 0.1, &mut rng_from_seed(42));
        assert_eq!(a, train_validation_split(1000, 0.1, &mut rng_from_seed(42)));
        assert_ne!(a, train_validation_split(1000, 0.1, &mut rng_from_seed(43)));
        assert_eq!(
            k_fold(50, 5, &mut rng_from_seed(9)),
            k_fold(50, 5, &mut rng_from_seed(9))
        );
        assert_ne!(
            k_fold(50, 5, &mut rng_from_seed(9)),
            k_fold(50, 5, &mut rng_from_seed(10))
        );
    }

    #[test]
    fn every_sample_is_in_exactly_one_validation_fold() {
        let n = 23;
        let folds = k_fold(n, 5, &mut rng_from_seed(3));
        assert_eq!(folds.len(), 5);
        let all_val = sorted(folds.iter().flat_map(|(_, v)| v.clone()).collect());
        assert_eq!(all_val, (0..n).collect::<Vec<_>>());
        let sizes: Vec<usize> = folds.iter().map(|(_, v)| v.len()).collect();
        assert_eq!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap(), 1);
        for (train, val) in &folds {
            assert_eq!(
                sorted([train.clone(), val.clone()].concat()),
                (0..n).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn degenerate_fold_counts_do_not_panic() {
        assert!(k_fold(10, 0, &mut rng_from_seed(1)).is_empty());
        let folds = k_fold(3, 5, &mut rng_from_seed(1));
        assert_eq!(
            folds.iter().map(|(_, v)| v.len()).collect::<Vec<_>>(),
            vec![1, 1, 1, 0, 0]
        );
        let single = k_fold(4, 1, &mut rng_from_seed(1));
        assert!(single[0].0.is_empty());
        assert_eq!(single[0].1.len(), 4);
    }
}
