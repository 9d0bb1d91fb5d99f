//! The sweep controller: trials are ordinary jobs; this decides, from a sweep's state, which
//! held trials may start (its `parallelism`), which paused trials ASHA promotes or stops,
//! which configurations the median rule stops, and when the sweep has ended. [`decide`] is a
//! pure function of the state; the store applies its changes in one transaction under the
//! sweep's lock, so replicas never decide about one sweep at once. Every replica runs
//! [`control`], which looks at a sweep only when one of its trials moved.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Job, JobStatus, Jobs};
use crate::store::sweeps::{DecisionAction, DecisionRow, SweepChanges, SweepState, SweepStatus, TrialRow};
use crate::sweep::rules::{Action, Decision, asha_rung, asha_rungs, median_check};
use crate::sweep::{EarlyStopping, SweepSpec};

/// How often every running sweep is looked at even without a local wake-up (a trial moved
/// on another replica).
const POLL: Duration = Duration::from_secs(1);

/// Running sweeps at once; more get 429.
pub const MAX_RUNNING_SWEEPS: i64 = 16;

/// A trial's metric value at each epoch it recorded.
type Curve = BTreeMap<i64, f64>;

/// What the controller changes about a sweep now, given its state.
pub fn decide(state: &SweepState) -> SweepChanges {
    let mut changes = SweepChanges::default();
    let Ok(spec) = serde_json::from_str::<SweepSpec>(&state.sweep.spec) else {
        changes.finish = Some(SweepStatus::Failed);
        return changes;
    };
    let goal = spec.goal();
    let mut curves: HashMap<&str, Curve> = HashMap::new();
    for e in &state.epochs {
        if let Some(v) = e.metric(spec.metric.name()) {
            curves.entry(e.job_id.as_str()).or_default().insert(e.epochs_done, v);
        }
    }
    let mut configs: BTreeMap<i64, Vec<&TrialRow>> = BTreeMap::new();
    for t in &state.trials {
        configs.entry(t.config).or_default().push(t);
    }
    // A configuration's value at an epoch: the mean over its seeds, once all have it.
    let mean_at = |trials: &[&TrialRow], epoch: i64| -> Option<f64> {
        let values: Option<Vec<f64>> = trials
            .iter()
            .map(|t| curves.get(t.job.id.as_str()).and_then(|c| c.get(&epoch)).copied())
            .collect();
        values.map(|v| v.iter().sum::<f64>() / v.len() as f64)
    };
    // Dead: a seed failed or was cancelled (stopped by a rule, or by hand).
    let dead = |trials: &[&TrialRow]| {
        trials
            .iter()
            .any(|t| matches!(t.job.status, JobStatus::Failed | JobStatus::Cancelled))
    };
    let mut stopping: HashSet<i64> = HashSet::new();
    let mut promoted_now: HashSet<&str> = HashSet::new();
    let max_epochs = state.trials.first().map_or(0, |t| t.job.epochs_total);

    match spec.early_stopping {
        Some(EarlyStopping::Asha {
            grace_epochs,
            reduction_factor,
        }) => {
            let rungs = asha_rungs(grace_epochs, reduction_factor, max_epochs as usize);
            for (k, &rung) in rungs.iter().enumerate() {
                let rung = rung as i64;
                let decided_here: Vec<&DecisionRow> = state.decisions.iter().filter(|d| d.rung_epoch == rung).collect();
                let reached: Vec<(usize, f64)> = configs
                    .iter()
                    .filter_map(|(&c, trials)| mean_at(trials, rung).map(|v| (c as usize, v)))
                    .collect();
                let promoted: Vec<usize> = decided_here
                    .iter()
                    .filter(|d| d.action == DecisionAction::Promote)
                    .map(|d| d.config as usize)
                    .collect();
                let waiting: Vec<usize> = configs
                    .iter()
                    .filter(|(c, trials)| {
                        !decided_here.iter().any(|d| d.config == **c)
                            && !dead(trials)
                            && trials.iter().all(|t| t.job.held && t.job.epoch == rung)
                    })
                    .map(|(&c, _)| c as usize)
                    .collect();
                let final_count = configs
                    .iter()
                    .all(|(&c, trials)| reached.iter().any(|r| r.0 == c as usize) || dead(trials));
                let next_pause = rungs.get(k + 1).map(|&e| e as i64);
                for d in asha_rung(
                    rung as usize,
                    &reached,
                    &promoted,
                    &waiting,
                    final_count,
                    reduction_factor,
                    goal,
                ) {
                    let trials = &configs[&(d.config as i64)];
                    match d.action {
                        Action::Promote => {
                            for t in trials {
                                changes.promote.push((t.job.id.clone(), next_pause));
                                promoted_now.insert(t.job.id.as_str());
                            }
                        }
                        Action::Stop => stop(&mut changes, trials, &d, &mut stopping),
                    }
                    changes.decisions.push(row_of(&d));
                }
            }
        }
        // Each trial pauses at every epoch from the grace epochs on and goes on only once
        // judged, so the rule sees every epoch and never a finished trial.
        Some(EarlyStopping::Median {
            grace_epochs,
            min_trials,
        }) => {
            for (&c, trials) in &configs {
                if dead(trials) {
                    continue;
                }
                let Some(epoch) = paused_at(trials) else { continue };
                let Some(value) = mean_at(trials, epoch) else { continue };
                let others: Vec<f64> = configs
                    .iter()
                    .filter(|(o, _)| **o != c)
                    .filter_map(|(_, ts)| mean_at(ts, epoch))
                    .collect();
                match median_check(
                    c as usize,
                    epoch as usize,
                    value,
                    &others,
                    grace_epochs,
                    min_trials,
                    goal,
                ) {
                    Some(d) => {
                        stop(&mut changes, trials, &d, &mut stopping);
                        changes.decisions.push(row_of(&d));
                    }
                    None => {
                        let next = (epoch + 1 < max_epochs).then_some(epoch + 1);
                        for t in trials {
                            changes.promote.push((t.job.id.clone(), next));
                            promoted_now.insert(t.job.id.as_str());
                        }
                    }
                }
            }
        }
        None => {}
    }

    // Free slots go to promoted trials first (they have trained longest), then in order.
    let active = state
        .trials
        .iter()
        .filter(|t| !stopping.contains(&t.config))
        .filter(|t| t.job.status == JobStatus::Running || (t.job.status == JobStatus::Queued && !t.job.held))
        .count();
    let slots = spec.parallelism.saturating_sub(active);
    let mut eligible: Vec<&TrialRow> = state
        .trials
        .iter()
        .filter(|t| t.job.status == JobStatus::Queued && t.job.held && !stopping.contains(&t.config))
        .filter(|t| promoted_now.contains(t.job.id.as_str()) || t.job.pause_at_epoch.is_none_or(|p| t.job.epoch < p))
        .collect();
    eligible.sort_by_key(|t| (t.job.epoch == 0, t.config));
    changes.release = eligible.iter().take(slots).map(|t| t.job.id.clone()).collect();

    let ended = |t: &TrialRow| t.job.status.is_terminal() || stopping.contains(&t.config);
    if state.trials.iter().all(ended) {
        let all_failed = state.trials.iter().all(|t| t.job.status == JobStatus::Failed);
        changes.finish = Some(if all_failed {
            SweepStatus::Failed
        } else {
            SweepStatus::Succeeded
        });
    }
    changes
}

/// The epoch at which every seed of a configuration is paused waiting for the rule.
fn paused_at(trials: &[&TrialRow]) -> Option<i64> {
    let epoch = trials.first()?.job.epoch;
    let paused = |t: &&TrialRow| {
        t.job.status == JobStatus::Queued && t.job.held && t.job.epoch == epoch && t.job.pause_at_epoch == Some(epoch)
    };
    (epoch > 0 && trials.iter().all(paused)).then_some(epoch)
}

/// Stops every unfinished trial of a configuration, saying why.
fn stop(changes: &mut SweepChanges, trials: &[&TrialRow], d: &Decision, stopping: &mut HashSet<i64>) {
    stopping.insert(d.config as i64);
    for t in trials.iter().filter(|t| !t.job.status.is_terminal()) {
        changes.stop.push((
            t.job.id.clone(),
            format!("stopped by the sweep's early stopping: {}", d.rule),
        ));
    }
}

fn row_of(d: &Decision) -> DecisionRow {
    DecisionRow {
        config: d.config as i64,
        rung_epoch: d.rung_epoch as i64,
        action: match d.action {
            Action::Promote => DecisionAction::Promote,
            Action::Stop => DecisionAction::Stop,
        },
        value: d.value,
        cutoff: d.cutoff,
        rank: d.rank as i64,
        of_count: d.of as i64,
        rule: d.rule.clone(),
    }
}

/// Runs [`decide`] on every running sweep whose trials moved, until shutdown; woken early
/// when a local trial pauses or ends.
pub(super) async fn control(jobs: Arc<Jobs>, shutdown: CancellationToken) {
    let mut seen: HashMap<String, String> = HashMap::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = jobs.sweep_wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        let running = match jobs.store.running_sweeps().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "listing running sweeps failed");
                continue;
            }
        };
        seen.retain(|id, _| running.contains(id));
        for id in running {
            if let Err(e) = reconcile(&jobs, &id, &mut seen).await {
                tracing::warn!(sweep = %id, error = %e, "deciding about a sweep failed");
            }
        }
    }
}

async fn reconcile(jobs: &Arc<Jobs>, id: &str, seen: &mut HashMap<String, String>) -> sqlx::Result<()> {
    let fingerprint = jobs.store.sweep_fingerprint(id).await?;
    if seen.get(id) == Some(&fingerprint) {
        return Ok(());
    }
    let Some(changes) = jobs.store.reconcile_sweep(id, decide).await? else {
        return Ok(());
    };
    // Unchanged until a trial moves (what was applied just now moved some).
    if changes.is_empty() {
        seen.insert(id.to_string(), fingerprint);
    } else {
        seen.remove(id);
    }
    for (job_id, _) in &changes.stop {
        jobs.live.request_stop(job_id);
        if let Ok(Some(row)) = jobs.store.job(job_id).await
            && row.status.is_terminal()
        {
            jobs.live.publish_final(job_id, &Job::from(row));
        }
    }
    if !changes.release.is_empty() {
        jobs.wake.notify_waiters();
        jobs.wake.notify_one();
    }
    Ok(())
}
