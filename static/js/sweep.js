// sweep.js — one sweep's page, #/sweeps/{id}, re-read every 2 s while it runs: its status,
// the epochs trained and the best trial so far, the leaderboard of configurations, every
// trial's curve, the parallel-coordinates chart and "what matters most", and the trials with
// the early-stopping rule's reasons; buttons to cancel it, compare the top trials, or edit it
// as a new sweep.
//
// Apart from sweeps.js (the list and the form) because the two views share no state: this
// page only links back to #/sweeps and #/sweeps?from=<id>. The charts are in
// sweeps-charts.js, the metric and value wording in sweeps-text.js.

import { api } from './api.js';
import { h, fill, errorBox, isAbort } from './dom.js';
import { lineChart, PALETTE } from './charts.js';
import { statusBadge } from './jobs.js';
import { metricWords, goalOf, metricText, key, valueText, paramsText } from './sweeps-text.js';
import { parallelChart, importanceView } from './sweeps-charts.js';

// A sweep in one of these states changes no more: the page stops polling.
const SWEEP_DONE = ['succeeded', 'failed', 'cancelled'];
// Stopped trials are drawn in this neutral grey (cancelled ones dashed).
const GREY = '#a3acb9';

/** The rule's last decision about a trial, in words ("stopped at epoch 3: asha: …"). */
function decisionText(t) {
  const d = t.decisions || [];
  if (!d.length) return '';
  const stop = [...d].reverse().find((x) => x.action === 'stop');
  if (stop) return stop.rule;
  const last = d[d.length - 1];
  return last.rule;
}

/** The early-stopping rule in words, for the line under the title. */
const ESTEXT = (es) => (!es ? 'no early stopping'
  : es.kind === 'asha' ? `ASHA (grace ${es.grace_epochs}, reduction factor ${es.reduction_factor})`
    : `median rule (grace ${es.grace_epochs}, at least ${es.min_trials} others)`);

export async function mountSweep(root, ctx, route) {
  const id = route.id;
  const title = h('h1#view-title', 'Sweep');
  const head = h('div.sweep-head');
  const errors = h('div#sweep-error', { 'aria-live': 'polite' });
  const board = h('section.card', { 'aria-labelledby': 'sweep-board-title' });
  const charts = h('div.chart-grid.sweep-charts');
  const trialsBox = h('section.card', { 'aria-labelledby': 'sweep-trials-title' });
  root.append(title, head, errors, board, charts, trialsBox);

  let sweep = null;
  const metrics = new Map(); // job id -> {epochs, steps}
  let timer = null;
  let busy = false;
  let renderedKey = null;
  const stop = () => { if (timer !== null) { clearInterval(timer); timer = null; } };

  const cancelBtn = h('button#cancel-sweep.danger', { type: 'button' }, 'Cancel sweep');
  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    try {
      sweep = await api.cancelSweep(id);
      render();
    } catch (e) {
      if (e.status !== 409) fill(errors, errorBox(e, 'Cancel failed'));
    } finally {
      cancelBtn.disabled = false;
    }
    load();
  });

  /** Each trial's epochs, only the new rows of those that trained since the last look. */
  async function loadMetrics(s) {
    const need = s.trials.filter((t) => {
      if (t.epochs_trained <= 0) return false;
      const have = metrics.get(t.job_id);
      const last = have && have.epochs.length ? have.epochs[have.epochs.length - 1].epochs_done : 0;
      return !have || last < t.epochs_trained;
    });
    let next = 0;
    const worker = async () => {
      while (next < need.length) {
        const t = need[next++];
        const have = metrics.get(t.job_id);
        try {
          metrics.set(t.job_id, have ? await api.moreMetrics(t.job_id, have, ctx.signal) : await api.metrics(t.job_id, ctx.signal));
        } catch (e) {
          if (isAbort(e)) throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, need.length) }, worker));
  }

  async function load() {
    if (busy || !ctx.alive) return;
    busy = true;
    try {
      const s = await api.sweep(id, ctx.signal);
      await loadMetrics(s);
      if (!ctx.alive) return;
      sweep = s;
      fill(errors);
      render();
      if (SWEEP_DONE.includes(s.status)) stop();
      else if (timer === null) timer = ctx.interval(load, 2000);
    } catch (e) {
      if (isAbort(e)) return;
      if (!sweep) {
        fill(head, errorBox(e, e.status === 404 ? 'No such sweep' : 'Could not load the sweep'), h('p', h('a', { href: '#/sweeps' }, 'Back to the sweeps')));
        stop();
      } else {
        fill(errors, errorBox(e, 'Could not refresh the sweep'));
      }
    } finally {
      busy = false;
    }
  }

  function render() {
    const s = sweep;
    const k = key([s.status, s.epochs_trained, s.trials.map((t) => [t.state, t.epochs_trained, t.decisions.length,
      (metrics.get(t.job_id) || { epochs: [] }).epochs.length])]);
    if (k === renderedKey) return;
    renderedKey = k;
    const spec = s.spec || {};
    const fields = Object.keys(spec.space || {});
    const goal = goalOf(spec);
    const labels = new Map(s.trials.map((t, i) => [t.job_id, `#${i + 1}`]));
    const colors = new Map(s.trials.map((t, i) => [t.job_id, ['stopped', 'cancelled'].includes(t.state) ? GREY : PALETTE[i % PALETTE.length]]));
    title.textContent = s.name || `Sweep ${s.id.slice(-6)}`;
    document.title = `${title.textContent} · Sweeps · nnlab`;
    renderHead(s, spec, goal, labels);
    renderBoard(s, spec, fields);
    const stopped = s.trials.filter((t) => t.state === 'stopped').length;
    // Curves and parallel coordinates side by side, "what matters most" below them; with
    // three or more fields the parallel chart takes the whole width instead (CSS: .wide).
    fill(charts, curvesChart(s, spec, labels, colors, stopped), parallelChart(s, labels), importanceView(s));
    renderTrials(s, spec, fields, labels, colors);
  }

  function renderHead(s, spec, goal, labels) {
    const running = s.status === 'running';
    const counts = {};
    for (const t of s.trials) counts[t.state] = (counts[t.state] || 0) + 1;
    const full = s.trials.length * ((spec.base && spec.base.epochs) || 0);
    const best = s.best_trial;
    const top = s.leaderboard.slice(0, 3).map((r) => s.trials.find((t) => t.config === r.config)).filter(Boolean);
    fill(head,
      h('p.job-meta', h('span#sweep-status', { dataset: { status: s.status } }, statusBadge(s.status)), ' ',
        `${s.trials.length} trial${s.trials.length === 1 ? '' : 's'} · ${spec.method}`,
        spec.method === 'random' ? ` (${spec.trials} draws)` : '', spec.seeds > 1 ? ` × ${spec.seeds} seeds` : '',
        ` · ${goal} ${metricWords(spec.metric)} · ${ESTEXT(spec.early_stopping)} · ${spec.parallelism} at once`),
      h('p#sweep-epochs', { dataset: { epochs: String(s.epochs_trained) } },
        h('strong', `${s.epochs_trained} epochs trained`),
        !full ? '' : spec.early_stopping ? ` of at most ${full} without early stopping` : ` of ${full}`, ' · ',
        Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(', ')),
      best ? h('p#sweep-best', 'Best so far: ', h('a', { href: `#/jobs/${best.job_id}` }, `trial ${labels.get(best.job_id)}`), ` (${paramsText(best.params)}) `,
        h('strong', metricText(spec.metric, best.best.value)), ` at epoch ${best.best.epoch}`) : null,
      h('div.button-row', running ? cancelBtn : null,
        top.length > 1 ? h('a.button#sweep-compare', { href: `#/compare?ids=${top.map((t) => t.job_id).join(',')}` }, `Compare the top ${top.length}`) : null,
        h('a.button#sweep-edit', { href: `#/sweeps?from=${s.id}` }, 'Edit as a new sweep'),
        h('a', { href: '#/sweeps' }, 'All sweeps')));
  }

  // The leaderboard shows the top TOP configurations until asked for all.
  const TOP = 10;
  let showAll = false;
  function renderBoard(s, spec, fields) {
    const more = s.leaderboard.length - TOP;
    const toggle = more > 0 ? h('button#sweep-leaderboard-all.link', { type: 'button', 'aria-expanded': String(showAll),
      onclick: () => { showAll = !showAll; renderBoard(sweep, spec, fields); } },
    showAll ? `Show the top ${TOP} only` : `Show all ${s.leaderboard.length} configurations`) : null;
    fill(board, h('h2#sweep-board-title', 'Leaderboard'),
      h('p.muted.small', `Configurations by the mean over their seeds of each trial’s best ${metricWords(spec.metric)} (${goalOf(spec)}), best first.`),
      h('div.table-wrap', h('table#sweep-leaderboard.jobs',
        h('caption.sr-only', 'Configurations, best first'),
        h('thead', h('tr', h('th', { scope: 'col' }, 'Rank'), h('th', { scope: 'col' }, metricWords(spec.metric)),
          fields.map((f) => h('th', { scope: 'col' }, h('code', f))), h('th', { scope: 'col' }, 'Trials'))),
        h('tbody', s.leaderboard.length ? s.leaderboard.map((r, i) => h(`tr${i === 0 ? '.best' : ''}`, { dataset: { config: String(r.config), value: String(r.value) }, hidden: !showAll && i >= TOP },
          h('td', { 'data-label': 'Rank' }, String(i + 1)),
          h('td.value', { 'data-label': metricWords(spec.metric) }, metricText(spec.metric, r.value)),
          fields.map((f) => h('td', { 'data-label': f }, valueText(r.params[f]))),
          h('td', { 'data-label': 'Trials' }, String(r.trials))))
          : h('tr', h('td', { colspan: String(fields.length + 3) }, 'No values yet: the first epochs are training.'))))),
      toggle);
  }

  function curvesChart(s, spec, labels, colors, stopped) {
    const withData = s.trials.filter((t) => (metrics.get(t.job_id) || { epochs: [] }).epochs.length);
    // Grey (stopped) ones first, so the coloured ones lie on top.
    const ordered = [...withData.filter((t) => colors.get(t.job_id) === GREY), ...withData.filter((t) => colors.get(t.job_id) !== GREY)];
    const series = ordered.map((t) => {
      const rule = decisionText(t);
      const name = `${labels.get(t.job_id)} ${paramsText(t.params)}`;
      const points = metrics.get(t.job_id).epochs.map((r) => [r.epochs_done, r[spec.metric]]);
      return {
        name, color: colors.get(t.job_id), width: t.state === 'stopped' ? 1.4 : 2,
        dash: t.state === 'cancelled' ? '4 3' : null, points,
        // A trial stopped after one epoch is a single point: draw it as a dot.
        noDots: points.length > 1,
        title: t.state === 'stopped' ? `${name}: stopped after epoch ${t.epochs_trained}. ${rule}` : null,
        data: { 'job-id': t.job_id, state: t.state },
      };
    });
    const fig = lineChart({ id: 'sweep-curves', title: `Every trial’s ${metricWords(spec.metric)}`, xLabel: 'epoch',
      yLabel: metricWords(spec.metric), series, integerX: true, xMin: 0, legend: series.length <= 10 });
    fig.append(h('p.chart-note', stopped ? `Grey: the ${stopped} trial${stopped === 1 ? '' : 's'} stopped by the rule (hover a line for why). ` : '',
      series.length > 10 ? 'Colours match the trials table below.' : ''));
    return fig;
  }

  function renderTrials(s, spec, fields, labels, colors) {
    fill(trialsBox, h('h2#sweep-trials-title', 'Trials'),
      h('div.table-wrap', h('table#sweep-trials.jobs.stack',
        h('caption.sr-only', 'Every trial of the sweep'),
        h('thead', h('tr', ['Trial', ...fields, 'Seed', 'State', 'Epochs', 'Best', 'Rule'].map((t) =>
          h('th', { scope: 'col' }, fields.includes(t) ? h('code', t) : t)))),
        h('tbody', s.trials.map((t) => {
          const rule = decisionText(t);
          const isStopped = t.state === 'stopped';
          return h('tr', { dataset: { jobId: t.job_id, state: t.state }, title: isStopped ? rule : null },
            h('td.nowrap', { 'data-label': 'Trial' }, h('span.swatch', { style: `background:${colors.get(t.job_id)}`, 'aria-hidden': 'true' }), ' ', h('a', { href: `#/jobs/${t.job_id}`, 'aria-label': `trial ${labels.get(t.job_id)}, its job` }, labels.get(t.job_id))),
            fields.map((f) => h('td', { 'data-label': f }, valueText(t.params[f]))),
            h('td', { 'data-label': 'Seed' }, String(t.seed)),
            h('td', { 'data-label': 'State' }, h(`span.badge.status-${t.state}`, t.state)),
            h('td', { 'data-label': 'Epochs' }, String(t.epochs_trained)),
            h('td.nowrap', { 'data-label': 'Best' }, t.best ? [metricText(spec.metric, t.best.value), h('span.muted.small', ` @ ${t.best.epoch}`)] : '–'),
            h(`td.rule${isStopped ? '.stopped' : ''}`, { 'data-label': 'Rule' },
              t.error && t.state === 'failed' ? h('span.error-text', t.error)
                : t.error && !isStopped ? h('span.muted', t.error) : rule || h('span.muted', '–')));
        })))));
  }

  await load();
}
