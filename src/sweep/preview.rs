//! What a sweep can cost before anything runs: its trials, ASHA's rungs with the most
//! trials that can reach each, and an upper bound on the epochs it trains (exact without
//! early stopping).

use serde::Serialize;

use super::rules::{asha_quota, asha_rungs};
use super::space::EarlyStopping;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rung {
    pub epoch: usize,
    /// Trials (runs) that can reach this epoch at most.
    pub max_trials: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Runs: configurations x seeds.
    pub trials: usize,
    pub configurations: usize,
    /// ASHA's rungs (empty otherwise), then the last epoch.
    pub rungs: Vec<Rung>,
    /// At most this many epochs in all; exact when `exact`.
    pub max_total_epochs: usize,
    pub exact: bool,
}

/// The preview of `configurations` x `seeds` runs of `epochs` epochs each.
pub fn preview(configurations: usize, seeds: usize, epochs: usize, early_stopping: Option<EarlyStopping>) -> Preview {
    let trials = configurations * seeds;
    match early_stopping {
        Some(EarlyStopping::Asha {
            grace_epochs,
            reduction_factor,
        }) => {
            // At most quota(n) configurations go on from a rung that n reached.
            let mut rungs = Vec::new();
            let (mut alive, mut previous, mut total) = (configurations, 0, 0);
            for epoch in asha_rungs(grace_epochs, reduction_factor, epochs)
                .into_iter()
                .chain([epochs])
            {
                total += alive * seeds * (epoch - previous);
                rungs.push(Rung {
                    epoch,
                    max_trials: alive * seeds,
                });
                previous = epoch;
                alive = asha_quota(alive, reduction_factor);
            }
            Preview {
                trials,
                configurations,
                rungs,
                max_total_epochs: total,
                exact: false,
            }
        }
        Some(EarlyStopping::Median { .. }) => Preview {
            trials,
            configurations,
            rungs: vec![Rung {
                epoch: epochs,
                max_trials: trials,
            }],
            max_total_epochs: trials * epochs,
            exact: false,
        },
        None => Preview {
            trials,
            configurations,
            rungs: vec![Rung {
                epoch: epochs,
                max_trials: trials,
            }],
            max_total_epochs: trials * epochs,
            exact: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_early_stopping_the_cost_is_exact() {
        let p = preview(6, 2, 10, None);
        assert_eq!((p.trials, p.max_total_epochs, p.exact), (12, 120, true));
    }

    #[test]
    fn asha_bounds_each_rung_by_the_quota_of_the_one_before() {
        // 27 configurations, rf 3, grace 1, 27 epochs: rungs 1, 3, 9 then 27 with at most
        // 27, 9, 3, 1 configurations: 27*1 + 9*2 + 3*6 + 1*18 = 81 epochs (by hand).
        let p = preview(
            27,
            1,
            27,
            Some(EarlyStopping::Asha {
                grace_epochs: 1,
                reduction_factor: 3,
            }),
        );
        let rungs: Vec<(usize, usize)> = p.rungs.iter().map(|r| (r.epoch, r.max_trials)).collect();
        assert_eq!(rungs, [(1, 27), (3, 9), (9, 3), (27, 1)]);
        assert_eq!(p.max_total_epochs, 81);
        // Two seeds double every count.
        let p = preview(
            27,
            2,
            27,
            Some(EarlyStopping::Asha {
                grace_epochs: 1,
                reduction_factor: 3,
            }),
        );
        assert_eq!(p.max_total_epochs, 162);
    }
}
