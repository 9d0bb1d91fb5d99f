//! Early-stopping rules, as pure functions of the values the configurations reached. Each
//! decision carries its evidence (the rung, the value, the cutoff, the rank of how many) and
//! says its rule in words, so a stopped trial says why.
//!
//! A configuration's value at an epoch is the mean over its seeds (`seeds: r`), so that a
//! noisy curve is not pruned by the luck of one seed; it counts as reached once every seed
//! has reached that epoch.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    Maximize,
    Minimize,
}

impl Goal {
    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Goal::Maximize => a > b,
            Goal::Minimize => a < b,
        }
    }

    /// Best first; ties keep the given order.
    fn sort(self, values: &mut [(usize, f64)]) {
        values.sort_by(|a, b| match self {
            Goal::Maximize => b.1.total_cmp(&a.1),
            Goal::Minimize => a.1.total_cmp(&b.1),
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Promote,
    Stop,
}

/// What a rule decided about one configuration, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub config: usize,
    /// The epoch the decision was taken at (a rung for ASHA).
    pub rung_epoch: usize,
    pub action: Action,
    /// The configuration's value there (mean over its seeds).
    pub value: f64,
    /// The value it had to beat, or match, to go on.
    pub cutoff: f64,
    /// 1 = best.
    pub rank: usize,
    /// Configurations compared.
    pub of: usize,
    /// The rule in words.
    pub rule: String,
}

/// ASHA's rungs for runs of `max_epochs`: grace, grace*rf, grace*rf^2, ... below max_epochs.
pub fn asha_rungs(grace_epochs: usize, reduction_factor: usize, max_epochs: usize) -> Vec<usize> {
    let mut rungs = Vec::new();
    let mut epoch = grace_epochs.max(1);
    while epoch < max_epochs {
        rungs.push(epoch);
        epoch = epoch.saturating_mul(reduction_factor.max(2));
    }
    rungs
}

/// How many configurations go on from a rung that `reached` have reached: the top 1/rf, at
/// least one.
pub fn asha_quota(reached: usize, reduction_factor: usize) -> usize {
    (reached / reduction_factor.max(2)).max(1).min(reached)
}

/// ASHA at one rung. `reached`: (configuration, value) of every configuration that reached
/// the rung so far; `promoted`: those already promoted from it; `waiting`: those paused at it
/// without a decision. A waiting configuration in the top floor(n / rf) of the n that
/// reached the rung is promoted while that quota lasts (so a rung does not wait for its
/// slowest trial, and an early arrival is not promoted for being early: with fewer than rf
/// arrivals nobody is). Once `final_count` (no other configuration can still reach the
/// rung) the quota is [`asha_quota`], at least one, and the waiting rest are stopped.
pub fn asha_rung(
    rung_epoch: usize,
    reached: &[(usize, f64)],
    promoted: &[usize],
    waiting: &[usize],
    final_count: bool,
    reduction_factor: usize,
    goal: Goal,
) -> Vec<Decision> {
    let mut ranked = reached.to_vec();
    goal.sort(&mut ranked);
    let of = ranked.len();
    let quota = if final_count {
        asha_quota(of, reduction_factor)
    } else {
        of / reduction_factor.max(2)
    };
    let cutoff = ranked.get(quota.saturating_sub(1)).map_or(f64::NAN, |r| r.1);
    let mut left = quota.saturating_sub(promoted.len());
    let mut decisions = Vec::new();
    for (index, &(config, value)) in ranked.iter().enumerate() {
        if !waiting.contains(&config) {
            continue;
        }
        let rank = index + 1;
        let rule = |verb: &str| {
            format!(
                "asha: {verb} top 1/{reduction_factor} ({quota} of {of}) at epoch {rung_epoch}: rank {rank}, \
                 {value:.4} against the cutoff {cutoff:.4}"
            )
        };
        if rank <= quota && left > 0 {
            left -= 1;
            decisions.push(Decision {
                config,
                rung_epoch,
                action: Action::Promote,
                value,
                cutoff,
                rank,
                of,
                rule: rule("in the"),
            });
        } else if final_count && rank <= quota {
            // In the top now, but the places went to configurations promoted as they arrived
            // (ASHA decides as trials come in): the cutoff is the last of those it had to
            // displace.
            let taken = ranked
                .iter()
                .filter(|(c, _)| promoted.contains(c))
                .map(|r| r.1)
                .fold(None, |worst: Option<f64>, v| match worst {
                    Some(w) if !goal.better(w, v) => Some(w),
                    _ => Some(v),
                })
                .unwrap_or(cutoff);
            decisions.push(Decision {
                config,
                rung_epoch,
                action: Action::Stop,
                value,
                cutoff: taken,
                rank,
                of,
                rule: format!(
                    "asha: rank {rank} of {of} at epoch {rung_epoch} ({value:.4}), but the top 1/{reduction_factor} \
                     ({quota} of {of}) had gone to configurations promoted as they arrived, the last at {taken:.4}"
                ),
            });
        } else if final_count {
            decisions.push(Decision {
                config,
                rung_epoch,
                action: Action::Stop,
                value,
                cutoff,
                rank,
                of,
                rule: rule("not in the"),
            });
        }
    }
    decisions
}

/// The median rule for `config` at `epoch`: stopped if its value is worse than the median
/// of the other configurations' values at that epoch, once at least `min_trials` others have
/// reached it and from `grace_epochs` on.
pub fn median_check(
    config: usize,
    epoch: usize,
    value: f64,
    others: &[f64],
    grace_epochs: usize,
    min_trials: usize,
    goal: Goal,
) -> Option<Decision> {
    if epoch < grace_epochs || others.len() < min_trials.max(1) {
        return None;
    }
    let mut sorted = others.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    if !goal.better(median, value) {
        return None;
    }
    let rank = 1 + others.iter().filter(|&&o| goal.better(o, value)).count();
    Some(Decision {
        config,
        rung_epoch: epoch,
        action: Action::Stop,
        value,
        cutoff: median,
        rank,
        of: n + 1,
        rule: format!(
            "median: {value:.4} at epoch {epoch} is worse than the median {median:.4} of the {n} other trials there"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_the_reduction_factor_below_the_last_epoch() {
        assert_eq!(asha_rungs(1, 3, 27), [1, 3, 9]);
        assert_eq!(asha_rungs(1, 3, 28), [1, 3, 9, 27]);
        assert_eq!(asha_rungs(2, 2, 10), [2, 4, 8]);
        assert_eq!(asha_rungs(5, 3, 5), Vec::<usize>::new());
        assert_eq!(
            (asha_quota(7, 3), asha_quota(2, 3), asha_quota(9, 3), asha_quota(0, 3)),
            (2, 1, 3, 0)
        );
    }

    /// Seven configurations at rung 3 (accuracy, maximised): the top 1/3 = 2 go on.
    /// By hand: sorted 0.91 (c4), 0.88 (c1), 0.85 (c6), 0.80 (c0), 0.75 (c2), 0.70 (c5),
    /// 0.60 (c3); cutoff = 0.88.
    fn seven() -> Vec<(usize, f64)> {
        vec![
            (0, 0.80),
            (1, 0.88),
            (2, 0.75),
            (3, 0.60),
            (4, 0.91),
            (5, 0.70),
            (6, 0.85),
        ]
    }

    #[test]
    fn asha_promotes_the_top_third_and_stops_the_rest_once_everyone_arrived() {
        let all: Vec<usize> = (0..7).collect();
        let d = asha_rung(3, &seven(), &[], &all, true, 3, Goal::Maximize);
        let promoted: Vec<(usize, usize)> = d
            .iter()
            .filter(|d| d.action == Action::Promote)
            .map(|d| (d.config, d.rank))
            .collect();
        assert_eq!(promoted, [(4, 1), (1, 2)]);
        let stopped: Vec<usize> = d
            .iter()
            .filter(|d| d.action == Action::Stop)
            .map(|d| d.config)
            .collect();
        assert_eq!(stopped, [6, 0, 2, 5, 3]);
        let c3 = d.iter().find(|d| d.config == 3).unwrap();
        assert_eq!(
            (c3.value, c3.cutoff, c3.rank, c3.of, c3.rung_epoch),
            (0.60, 0.88, 7, 7, 3)
        );
        assert!(
            c3.rule.contains("not in the top 1/3 (2 of 7) at epoch 3"),
            "{}",
            c3.rule
        );
    }

    #[test]
    fn asha_promotes_within_the_quota_of_those_arrived_and_waits_for_the_rest() {
        // Two of seven arrived: floor(2/3) = 0, nobody goes on for being early, nobody stops.
        let d = asha_rung(3, &[(0, 0.80), (1, 0.88)], &[], &[0, 1], false, 3, Goal::Maximize);
        assert_eq!(d, []);
        // Three arrived: quota 1; c1 (the best of them) goes on, c0 and c2 wait.
        let d = asha_rung(3, &seven()[..3], &[], &[0, 1, 2], false, 3, Goal::Maximize);
        assert_eq!(
            d.iter().map(|d| (d.config, d.action)).collect::<Vec<_>>(),
            [(1, Action::Promote)]
        );
        // Six arrived: quota 2, one used; c4 (best now) goes on; c0, c2 ... still wait.
        let six = &seven()[..6];
        let d = asha_rung(3, six, &[1], &[0, 2, 3, 4, 5], false, 3, Goal::Maximize);
        assert_eq!(d.iter().map(|d| d.config).collect::<Vec<_>>(), [4]);
        // All seven: the quota (2) is used: c6 (rank 3) and the rest stop.
        let d = asha_rung(3, &seven(), &[1, 4], &[0, 2, 3, 5, 6], true, 3, Goal::Maximize);
        assert!(d.iter().all(|d| d.action == Action::Stop) && d.len() == 5);
    }

    /// c1 (0.88) was promoted when it was the best of the first three; c4 (0.91) arrives
    /// later and ranks first of five, but the one place (floor(5/3)) is taken: it stops, and
    /// its rule says so instead of claiming it missed the top.
    #[test]
    fn a_late_better_arrival_whose_place_went_to_an_earlier_promotion_is_told_so() {
        let five = &seven()[..5];
        let d = asha_rung(3, five, &[1], &[0, 2, 3, 4], true, 3, Goal::Maximize);
        let c4 = d.iter().find(|d| d.config == 4).unwrap();
        assert_eq!((c4.action, c4.rank, c4.cutoff), (Action::Stop, 1, 0.88));
        assert!(
            c4.rule
                .contains("had gone to configurations promoted as they arrived, the last at 0.8800"),
            "{}",
            c4.rule
        );
        let c0 = d.iter().find(|d| d.config == 0).unwrap();
        assert!(c0.rule.contains("not in the top 1/3 (1 of 5)"), "{}", c0.rule);
    }

    #[test]
    fn a_rung_fewer_than_rf_reach_still_promotes_its_best_once_final() {
        let d = asha_rung(1, &[(0, 0.5), (1, 0.7)], &[], &[0, 1], true, 3, Goal::Maximize);
        let promoted: Vec<usize> = d
            .iter()
            .filter(|d| d.action == Action::Promote)
            .map(|d| d.config)
            .collect();
        assert_eq!(promoted, [1]);
    }

    #[test]
    fn asha_ranks_losses_lowest_first() {
        let d = asha_rung(
            1,
            &[(0, 0.5), (1, 0.2), (2, 0.9)],
            &[],
            &[0, 1, 2],
            true,
            3,
            Goal::Minimize,
        );
        assert_eq!((d[0].config, d[0].action, d[0].cutoff), (1, Action::Promote, 0.2));
    }

    #[test]
    fn the_median_rule_stops_below_the_median_of_enough_others_after_the_grace_epochs() {
        // Others at epoch 4: 0.70, 0.80, 0.90 -> median 0.80.
        let others = [0.90, 0.70, 0.80];
        let d = median_check(5, 4, 0.75, &others, 2, 3, Goal::Maximize).unwrap();
        assert_eq!(
            (d.action, d.cutoff, d.rank, d.of, d.rung_epoch),
            (Action::Stop, 0.80, 3, 4, 4)
        );
        assert!(
            d.rule.contains("worse than the median 0.8000 of the 3 other trials"),
            "{}",
            d.rule
        );
        assert_eq!(
            median_check(5, 4, 0.85, &others, 2, 3, Goal::Maximize),
            None,
            "above the median"
        );
        assert_eq!(
            median_check(5, 4, 0.80, &others, 2, 3, Goal::Maximize),
            None,
            "at the median goes on"
        );
        assert_eq!(
            median_check(5, 1, 0.10, &others, 2, 3, Goal::Maximize),
            None,
            "within the grace epochs"
        );
        assert_eq!(
            median_check(5, 4, 0.10, &others[..2], 2, 3, Goal::Maximize),
            None,
            "too few others"
        );
        // Even count: median of 0.2, 0.4, 0.6, 0.8 = 0.5; a loss of 0.55 is worse.
        let d = median_check(0, 3, 0.55, &[0.2, 0.4, 0.6, 0.8], 1, 3, Goal::Minimize).unwrap();
        assert_eq!(d.cutoff, 0.5);
    }
}
