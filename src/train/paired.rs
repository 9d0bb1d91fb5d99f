//! Paired comparisons (a fork's pairs): per pair the child's value minus its baseline's,
//! summarised by the mean, a 95% percentile bootstrap interval over the pairs and how many
//! pairs improved. Pairing removes what the two runs share (start, data order, masks), so a
//! handful of pairs tells a real change from the luck of one seed.

use rand::RngExt;

use crate::rng::rng_from_seed;

/// Bootstrap resamples: enough for stable 2.5% / 97.5% percentiles.
pub const RESAMPLES: usize = 2000;

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PairedDifference {
    /// Pairs that have this value.
    pub pairs: usize,
    /// Mean of child - baseline.
    pub mean_difference: f64,
    /// 95% bootstrap interval of the mean difference (equal ends with one pair).
    pub ci95: [f64; 2],
    /// Pairs in which the child did better (lower for a loss, higher for an accuracy).
    pub improved: usize,
}

/// Summarises the differences `child - baseline` of one metric over the pairs. The bootstrap
/// draws from a fixed seed, so the same differences give the same interval.
pub fn summarise(differences: &[f64], higher_is_better: bool) -> Option<PairedDifference> {
    let n = differences.len();
    if n == 0 {
        return None;
    }
    let mean = differences.iter().sum::<f64>() / n as f64;
    let mut rng = rng_from_seed(0x5eed);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| (0..n).map(|_| differences[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    let improved = differences
        .iter()
        .filter(|&&d| if higher_is_better { d > 0.0 } else { d < 0.0 })
        .count();
    Some(PairedDifference {
        pairs: n,
        mean_difference: mean,
        ci95: [at(0.025), at(0.975)],
        improved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pair_has_a_point_interval_and_counts_improvement_by_the_metric_direction() {
        let s = summarise(&[-0.25], false).unwrap();
        assert_eq!(
            (s.pairs, s.mean_difference, s.ci95, s.improved),
            (1, -0.25, [-0.25, -0.25], 1)
        );
        assert_eq!(
            summarise(&[-0.25], true).unwrap().improved,
            0,
            "a lower accuracy is worse"
        );
        assert_eq!(summarise(&[], true), None);
    }

    /// By hand: two pairs with differences 0 and 1. A resample of two draws has mean 0, 1/2
    /// or 1 with probabilities 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles of the
    /// resampled means are 0 and 1 (a quarter of 2000 resamples lies at each end).
    #[test]
    fn two_pairs_give_the_hand_computed_interval() {
        let s = summarise(&[0.0, 1.0], true).unwrap();
        assert_eq!((s.mean_difference, s.ci95, s.improved), (0.5, [0.0, 1.0], 1));
        // Four pairs 0, 0, 0, 4: a resample's mean is the number k of 4s drawn. P(k = 0) =
        // (3/4)^4 = 32% puts the lower end at 0; P(k = 4) = 1/256 = 0.4% < 2.5% but
        // P(k >= 3) = 13/256 = 5.1% > 2.5% puts the upper end at 3, not at the largest pair.
        let s = summarise(&[0.0, 0.0, 0.0, 4.0], true).unwrap();
        assert_eq!((s.mean_difference, s.ci95), (1.0, [0.0, 3.0]));
    }

    #[test]
    fn the_interval_holds_the_mean_lies_within_the_pairs_and_shrinks_with_agreement() {
        let noisy = [0.1, -0.05, 0.2, 0.0, 0.15, -0.1, 0.05, 0.3];
        let s = summarise(&noisy, true).unwrap();
        assert!((s.mean_difference - 0.08125).abs() < 1e-12);
        assert!(s.ci95[0] < s.mean_difference && s.mean_difference < s.ci95[1], "{s:?}");
        assert!(s.ci95[0] >= -0.1 && s.ci95[1] <= 0.3, "{s:?}");
        assert_eq!(s.improved, 5);
        let agreeing = summarise(&[0.08, 0.09, 0.08, 0.07, 0.08, 0.09, 0.08, 0.07], true).unwrap();
        assert!(
            agreeing.ci95[1] - agreeing.ci95[0] < (s.ci95[1] - s.ci95[0]) / 5.0,
            "{agreeing:?}"
        );
        assert!(agreeing.ci95[0] > 0.0, "every pair improved: the interval excludes 0");
        assert_eq!(
            summarise(&noisy, true),
            Some(s),
            "the same differences, the same interval"
        );
    }
}
