// compare.js — the comparison overlay: several jobs' curves on the same axes with a legend
// (validation/training loss and accuracy, gradient norm per layer), a summary table, and a
// picker to choose the jobs. Running jobs are re-read every two seconds.

import { api, TERMINAL } from './api.js';
import { h, fill, fmt, pct, errorBox, isAbort, specSummary } from './dom.js';
import { lineChart, PALETTE } from './charts.js';
import { statusBadge } from './jobs.js';

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

/** A final loss; a row without it (NaN is stored as null) means the run diverged. */
function lossText(row, key) {
  if (!('epoch' in row)) return '–';
  if (row[key] === null && (key === 'train_loss' || row.val_accuracy !== null)) return 'NaN (diverged)';
  return fmt(row[key]);
}

export async function mount(root, ctx, route) {
  const ids = (route.query.get('ids') || '').split(',').map((s) => s.trim()).filter(Boolean);
  const picker = h('fieldset#compare-picker', h('legend', 'Jobs to compare'));
  const chartsBox = h('div#compare-charts.chart-grid');
  const table = h('div#compare-table.table-wrap');
  const errors = h('div#compare-error', { 'aria-live': 'polite' });
  root.append(
    h('h1#view-title', 'Compare jobs'),
    h('p.lede', 'Curves of several jobs on the same axes. Labels name what differs between their specs.'),
    errors, table, chartsBox,
    h('details.card', { open: ids.length === 0 }, h('summary', 'Choose jobs'), picker));

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
    fill(table, h('table.jobs.cards',
      h('caption.sr-only', 'Compared jobs'),
      h('thead', h('tr', ['', 'Job', 'Status', 'Epochs', 'Final train loss', 'Final val loss', 'Test accuracy'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', entries.map((e) => {
        const rows = e.metrics.epochs;
        const last = rows[rows.length - 1] || {};
        return h('tr', { dataset: { jobId: e.id } },
          h('td.select', h('span.swatch', { style: `background:${e.color}`, 'aria-hidden': 'true' })),
          h('td.network', h('a', { href: `#/jobs/${e.id}` }, e.label)),
          h('td', { 'data-label': 'Status' }, statusBadge(e.job.status)),
          h('td', { 'data-label': 'Epochs' }, `${rows.length}/${e.job.progress.epochs}`),
          h('td', { 'data-label': 'Final train loss' }, lossText(last, 'train_loss')),
          h('td', { 'data-label': 'Final val loss' }, lossText(last, 'val_loss')),
          h('td', { 'data-label': 'Test accuracy' }, e.job.result ? pct(e.job.result.test_accuracy) : '–'));
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
      lineChart({ id: 'compare-grad-first', title: 'Gradient norm of the first layer', xLabel: 'epoch', yLabel: '‖∂L/∂W₁‖', logY: true, series: firstLayer, integerX: true }));
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
