// compare.js — the comparison overlay: several jobs' curves on the same axes with a legend
// (validation/training loss and accuracy, gradient norm per layer), a summary table, and a
// picker to choose the jobs. Running jobs are re-read every two seconds. Above them, the
// specs side by side (what differs stands out) and, for two runs from the same initial
// weights with one change, a "controlled comparison" badge; with a pinned baseline
// (?baseline=<id>) each job's difference from it per epoch; for a fork, its paired interval.

import { api, TERMINAL } from './api.js';
import { h, fill, fmt, pct, errorBox, isAbort, specSummary } from './dom.js';
import { lineChart, PALETTE } from './charts.js';
import { statusBadge } from './jobs.js';
import { pairsPanel } from './forks.js';

const IGNORED = new Set(['seed']);

/** Short labels naming what differs between the jobs' specs (e.g. "init=zeros"). */
export function diffLabels(jobs) {
  const specs = jobs.map((j) => j.spec || {});
  const keys = [...new Set(specs.flatMap((s) => Object.keys(s)))].filter((k) => !IGNORED.has(k));
  const differing = keys.filter((k) => new Set(specs.map((s) => JSON.stringify(s[k]))).size > 1);
  return jobs.map((j, i) => {
    const s = specs[i];
    const parts = differing.map((k) => {
      const v = s[k];
      if (k === 'init') return v === 'normal' ? `N(0, ${s.init_std})` : v;
      if (k === 'init_std') return s.init === 'normal' && !differing.includes('init') ? `init_std=${v}` : null;
      if (k === 'hidden_layers') return `[${(v || []).join(',')}]`;
      if (typeof v === 'boolean') return v ? k : `no ${k}`;
      if (v && typeof v === 'object') return `${k}=${v.kind || JSON.stringify(v)}`;
      if (['optimizer', 'activation', 'dataset', 'loss'].includes(k)) return String(v);
      if (k === 'init' && v === 'normal') return `normal`;
      return `${k}=${v === null ? 'off' : v}`;
    });
    const named = parts.filter(Boolean);
    return named.length ? named.join(' ') : `job ${j.id.slice(-6)}`;
  });
}

/**
 * "Controlled comparison" for two jobs from the same initial weights whose specs differ in
 * exactly one field: then that field explains the difference in their curves.
 */
function controlNote(entries, differing) {
  if (entries.length !== 2) return null;
  const [a, b] = entries.map((e) => e.job.init_sha256);
  if (!a || !b) return null;
  if (a !== b) {
    return h('p#compare-starts-differ.muted.small', 'These runs started from different initial weights, so more than their specs separates their curves.');
  }
  if (differing.length === 1) {
    return h('p#compare-controlled.controlled', h('strong', 'Controlled comparison:'), ' same start, one change (', h('code', differing[0]), ')');
  }
  if (differing.length === 0) {
    return h('p#compare-reproduction.muted.small', 'Same start and the same spec: a reproduction, its curves should match.');
  }
  return null;
}

/** A final loss; a row without it (NaN is stored as null) means the run diverged. */
function lossText(row, key) {
  if (!('epoch' in row)) return '–';
  if (row[key] === null && (key === 'train_loss' || row.val_accuracy !== null)) return 'NaN (diverged)';
  return fmt(row[key]);
}

/** The JobSpec fields whose values differ between the specs (all fields, seed included). */
export function differingFields(specs) {
  const keys = [...new Set(specs.flatMap((s) => Object.keys(s)))].sort();
  return keys.filter((k) => new Set(specs.map((s) => JSON.stringify(s[k] ?? null))).size > 1);
}

/** A spec value for a table cell: lists in brackets, objects as key: value, null as –. */
function specValue(v) {
  if (v === null || v === undefined) return '–';
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${specValue(x)}`).join(', ');
  return String(v);
}

/** The compare URL for these jobs, with a pinned baseline or none. */
const compareHash = (ids, baseline) => `#/compare?ids=${ids.join(',')}${baseline ? `&baseline=${baseline}` : ''}`;

export async function mount(root, ctx, route) {
  const ids = (route.query.get('ids') || '').split(',').map((s) => s.trim()).filter(Boolean);
  const baselineId = ids.includes(route.query.get('baseline')) ? route.query.get('baseline') : null;
  const picker = h('fieldset#compare-picker', h('legend', 'Jobs to compare'));
  const chartsBox = h('div#compare-charts.chart-grid');
  const diffBox = h('section#compare-diff-charts', { hidden: true, 'aria-labelledby': 'compare-diff-title' });
  const pairsBox = h('div.pairs-box');
  const table = h('div#compare-table.table-wrap');
  const errors = h('div#compare-error', { 'aria-live': 'polite' });
  const controlled = h('div.controlled-box');
  // Kept across re-renders (the spec table is rebuilt only when the jobs or their starts change).
  const onlyDiff = h('input#compare-only-diff', { type: 'checkbox', checked: true });
  const specTable = h('div.table-wrap');
  const specBox = h('section.spec-diff-box', { hidden: true, 'aria-labelledby': 'compare-spec-title' },
    h('div.spec-diff-head', h('h2#compare-spec-title', 'Specs'),
      h('div.field.check', onlyDiff, h('label', { for: 'compare-only-diff' }, 'Only what differs'))),
    specTable);
  root.append(
    h('h1#view-title', 'Compare jobs'),
    h('p.lede', 'Curves of several jobs on the same axes. Labels name what differs between their specs.'),
    controlled, specBox, errors, table, chartsBox, diffBox, pairsBox,
    h('details.card', { open: ids.length === 0 }, h('summary', 'Choose jobs'), picker));
  if (route.query.get('baseline') && !baselineId) {
    controlled.after(h('p.muted.small', 'The pinned baseline is not one of the compared jobs.'));
  }

  // Picker: recent jobs as checkboxes; the choice lives in the URL.
  try {
    const recent = await api.jobs({ limit: 60 }, ctx.signal);
    const extra = ids.filter((id) => !recent.some((j) => j.id === id));
    const boxes = [];
    const list = h('ul.picker-list', recent.map((j) => {
      const box = h('input', { type: 'checkbox', id: `pick-${j.id}`, value: j.id, checked: ids.includes(j.id) });
      boxes.push(box);
      return h('li', box, h('label', { for: `pick-${j.id}` }, statusBadge(j.status), ' ', j.spec.dataset, ' · ', specSummary(j.spec),
        j.result ? ` · ${pct(j.result.test_accuracy)}` : ''));
    }));
    const apply = h('button#compare-apply.primary', { type: 'button' }, 'Show these jobs');
    apply.addEventListener('click', () => {
      const chosen = [...extra, ...boxes.filter((b) => b.checked).map((b) => b.value)];
      location.hash = `#/compare?ids=${chosen.join(',')}`;
    });
    picker.append(recent.length ? list : h('p', 'No jobs yet.'), apply);
  } catch (e) {
    if (!isAbort(e)) picker.append(errorBox(e, 'Could not load the job list'));
  }

  if (!ids.length) {
    fill(chartsBox, h('p', 'Pick some jobs below, or run a comparison preset from the ', h('a', { href: '#/train' }, 'training page'), '.'));
    return;
  }

  const state = new Map(); // id -> {job, metrics}
  async function load(onlyUnfinished) {
    await Promise.all(ids.map(async (id) => {
      const prev = state.get(id);
      if (onlyUnfinished && prev && TERMINAL.includes(prev.job.status)) return;
      try {
        // A job seen before: only its new rows.
        const [job, metrics] = await Promise.all([api.job(id, ctx.signal),
          prev && prev.metrics ? api.moreMetrics(id, prev.metrics, ctx.signal) : api.metrics(id, ctx.signal)]);
        state.set(id, { job, metrics });
      } catch (e) {
        if (isAbort(e)) throw e;
        state.set(id, { error: e });
      }
    }));
    if (ctx.alive) render();
  }

  function render() {
    const entries = ids.map((id) => ({ id, ...state.get(id) })).filter((e) => e.job);
    const failed = ids.filter((id) => state.get(id) && state.get(id).error);
    fill(errors, failed.map((id) => errorBox(state.get(id).error, `Job ${id}`)));
    const labels = diffLabels(entries.map((e) => e.job));
    entries.forEach((e, i) => { e.label = labels[i]; e.color = PALETTE[i % PALETTE.length]; });
    renderSpecs(entries);
    fill(table, h('table.jobs.cards',
      h('caption.sr-only', 'Compared jobs'),
      h('thead', h('tr', ['', 'Job', 'Status', 'Epochs', 'Final train loss', 'Final val loss', 'Test accuracy', 'Baseline'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', entries.map((e) => {
        const rows = e.metrics.epochs;
        const last = rows[rows.length - 1] || {};
        const isBase = e.id === baselineId;
        return h(`tr${isBase ? '.baseline' : ''}`, { dataset: { jobId: e.id } },
          h('td.select', h('span.swatch', { style: `background:${e.color}`, 'aria-hidden': 'true' })),
          h('td.network', h('a', { href: `#/jobs/${e.id}` }, e.label)),
          h('td', { 'data-label': 'Status' }, statusBadge(e.job.status)),
          h('td', { 'data-label': 'Epochs' }, `${rows.length}/${e.job.progress.epochs}`),
          h('td', { 'data-label': 'Final train loss' }, lossText(last, 'train_loss')),
          h('td', { 'data-label': 'Final val loss' }, lossText(last, 'val_loss')),
          h('td', { 'data-label': 'Test accuracy' }, e.job.result ? pct(e.job.result.test_accuracy) : '–'),
          h('td.pin', { 'data-label': 'Baseline' }, isBase
            ? [h('span.badge.baseline-badge', 'baseline'), ' ',
              h('button.link', { type: 'button', dataset: { unpin: e.id }, onclick: () => { location.hash = compareHash(ids, null); } }, 'Unpin')]
            : h('button', { type: 'button', dataset: { pin: e.id }, 'aria-label': `Pin ${e.label} as baseline`,
              onclick: () => { location.hash = compareHash(ids, e.id); } }, 'Pin as baseline')));
      }))));
    const series = (key, dash) => entries.map((e) => ({
      name: e.label, color: e.color, dash,
      points: e.metrics.epochs.map((r) => [r.epochs_done, r[key]]),
    }));
    const lastGrads = entries.map((e) => {
      const rows = e.metrics.epochs;
      const g = rows.length ? rows[rows.length - 1].grad_norms || [] : [];
      return { name: e.label, color: e.color, points: g.map((v, l) => [l + 1, v]) };
    });
    const firstLayer = entries.map((e) => ({ name: e.label, color: e.color,
      points: e.metrics.epochs.map((r) => [r.epochs_done, (r.grad_norms || [])[0]]) }));
    fill(chartsBox,
      lineChart({ id: 'compare-val-loss', title: 'Validation loss', xLabel: 'epoch', yLabel: 'loss', series: series('val_loss'), integerX: true }),
      lineChart({ id: 'compare-train-loss', title: 'Training loss', xLabel: 'epoch', yLabel: 'loss', series: series('train_loss'), integerX: true }),
      lineChart({ id: 'compare-val-accuracy', title: 'Validation accuracy', xLabel: 'epoch', yLabel: 'accuracy', series: series('val_accuracy'), integerX: true }),
      lineChart({ id: 'compare-train-accuracy', title: 'Training accuracy', xLabel: 'epoch', yLabel: 'accuracy', series: series('train_accuracy'), integerX: true }),
      lineChart({ id: 'compare-grad-layers', title: 'Gradient norm per layer, last epoch (input side = layer 1)', xLabel: 'dense layer', yLabel: '‖∂L/∂W‖', logY: true, series: lastGrads, integerX: true }),
      lineChart({ id: 'compare-grad-first', title: 'Gradient norm of the first layer', xLabel: 'epoch', yLabel: '‖∂L/∂W₁‖', logY: true, series: firstLayer, integerX: true }),
      // Per iteration, as the book's optimizer figure: with a few epochs, epoch points alone
      // make every optimizer look alike.
      lineChart({ id: 'compare-steps', title: 'Mini-batch loss per iteration (sampled)', xLabel: 'iteration', yLabel: 'loss', integerX: true,
        series: entries.map((e) => ({ name: e.label, color: e.color, noDots: true, width: 1.2,
          points: e.metrics.steps.map((st) => [st.step, st.loss]) })) }));
    renderDiffs(entries);
    // A fork among the jobs: its paired interval, mounted once (it polls by itself).
    const forked = entries.find((e) => e.job.fork);
    if (forked && !pairsBox.firstChild) pairsBox.append(pairsPanel(forked.job.fork.id, ctx));
  }

  // The specs side by side, and whether the comparison is controlled; rebuilt only when the
  // loaded jobs or their starts change (specs never change; init_sha256 appears once a
  // queued job starts).
  let specKey = null;
  function renderSpecs(entries) {
    const key = entries.map((e) => `${e.id}:${e.job.init_sha256}`).join(',');
    if (key === specKey) return;
    specKey = key;
    const specs = entries.map((e) => e.job.spec || {});
    const differing = new Set(differingFields(specs));
    const fields = [...new Set(specs.flatMap((s) => Object.keys(s)))].sort();
    fill(controlled, controlNote(entries, [...differing]));
    specBox.hidden = entries.length === 0;
    fill(specTable, h('table#compare-spec-diff.jobs.spec-diff',
      h('caption.sr-only', 'The compared jobs’ specs, field by field'),
      h('thead', h('tr', h('th', { scope: 'col' }, 'Field'), entries.map((e) => h('th', { scope: 'col' },
        h('span.swatch', { style: `background:${e.color}`, 'aria-hidden': 'true' }), ' ', e.label)))),
      h('tbody',
        fields.map((f) => h('tr', { dataset: { field: f, differs: String(differing.has(f)) } },
          h('th', { scope: 'row' }, h('code', f)),
          specs.map((s) => h(`td${differing.has(f) ? '.differs' : ''}`, specValue(s[f]))))),
        h('tr.same-note', h('td', { colspan: String(entries.length + 1) },
          entries.length < 2 ? 'Only one job: nothing to set against it.' : 'The specs are identical.')))));
    applyOnlyDiff();
  }
  function applyOnlyDiff() {
    const rows = [...specTable.querySelectorAll('tr[data-field]')];
    for (const r of rows) r.hidden = onlyDiff.checked && r.dataset.differs !== 'true';
    const note = specTable.querySelector('tr.same-note');
    if (note) note.hidden = !(onlyDiff.checked && rows.every((r) => r.hidden));
  }
  onlyDiff.addEventListener('change', applyOnlyDiff);

  // Per other job, its validation loss and accuracy minus the pinned baseline's, epoch by epoch.
  function renderDiffs(entries) {
    const base = entries.find((e) => e.id === baselineId);
    diffBox.hidden = !base;
    if (!base) { fill(diffBox); return; }
    const others = entries.filter((e) => e !== base);
    const series = (key) => [
      // The baseline itself is the zero line.
      { name: `${base.label} (baseline)`, color: base.color, dash: '6 4', width: 1.2, noDots: true,
        points: base.metrics.epochs.map((r) => [r.epochs_done, 0]) },
      ...others.map((e) => {
        const byEpoch = new Map(base.metrics.epochs.map((r) => [r.epochs_done, r[key]]));
        return { name: e.label, color: e.color, points: e.metrics.epochs
          .filter((r) => byEpoch.has(r.epochs_done) && r[key] !== null && byEpoch.get(r.epochs_done) !== null)
          .map((r) => [r.epochs_done, r[key] - byEpoch.get(r.epochs_done)]) };
      }),
    ];
    fill(diffBox,
      h('h2#compare-diff-title', `Difference from the baseline (${base.label})`),
      h('p.muted', 'Each job minus the baseline at the same epoch: below 0 is a lower validation loss, above 0 a higher accuracy.'),
      h('div.chart-grid',
        lineChart({ id: 'compare-diff-val-loss', title: 'Validation loss − baseline', xLabel: 'epoch', yLabel: 'Δ loss', series: series('val_loss'), integerX: true }),
        lineChart({ id: 'compare-diff-val-accuracy', title: 'Validation accuracy − baseline', xLabel: 'epoch', yLabel: 'Δ accuracy', series: series('val_accuracy'), integerX: true })));
  }

  try {
    await load(false);
  } catch (e) {
    if (!isAbort(e)) fill(errors, errorBox(e));
    return;
  }
  ctx.interval(() => {
    if ([...state.values()].some((s) => s.job && !TERMINAL.includes(s.job.status))) load(true).catch(() => {});
  }, 2000);
}
