// forks.js — "same start, one change": the form that forks a job (the child reuses the
// parent's initial weights and seed, with one JobSpec field changed) and the panel that
// reads a fork's pairs (child − baseline per epoch, a 95% interval over the pairs, how many
// pairs improved) in plain words. Used by the job page and the compare view.

import { api, TERMINAL } from './api.js';
import { h, fill, fmt, errorBox, isAbort } from './dom.js';
import { lineChart, PALETTE } from './charts.js';
import { statusBadge } from './jobs.js';

const OPTIMIZERS = ['sgd', 'momentum', 'nag', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'nadam'];
// Not maxout: its pieces multiply the weight shapes, and a fork keeps its parent's.
const ACTIVATIONS = ['step', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu'];

/**
 * The JobSpec fields a fork may change: those that keep the weight shapes (not
 * hidden_layers, batch_norm, maxout_pieces, dataset; not init, which the parent's stored
 * weights replace; lr_schedule and augment are objects, left to the API).
 */
const FORK_FIELDS = {
  learning_rate: { label: 'Learning rate', step: 'any', min: 0 },
  optimizer: { label: 'Optimizer', options: OPTIMIZERS },
  batch_size: { label: 'Batch size', step: 1, min: 1 },
  epochs: { label: 'Epochs', step: 1, min: 1 },
  dropout: { label: 'Dropout', step: 'any', min: 0, max: 0.99 },
  l1: { label: 'L1 penalty', step: 'any', min: 0 },
  l2: { label: 'L2 penalty', step: 'any', min: 0 },
  activation: { label: 'Activation', options: ACTIVATIONS },
  activation_alpha: { label: 'Activation α (leaky ReLU, ELU)', step: 'any' },
  loss: { label: 'Loss', options: ['cross_entropy', 'mse'] },
  validation_split: { label: 'Validation split', step: 'any', min: 0, max: 0.9 },
  seed: { label: 'Seed (data order, dropout masks)', step: 1, min: 0 },
  train_samples: { label: 'Training samples', step: 1, min: 1, nullable: true },
};

const METRICS = [
  ['val_loss', 'validation loss'], ['val_accuracy', 'validation accuracy'],
  ['train_loss', 'training loss'], ['train_accuracy', 'training accuracy'],
];
const isLoss = (metric) => metric.endsWith('_loss');

/** Where a successful fork leads: one pair side by side, several pairs to their intervals. */
function afterFork(parentId, created, pairs) {
  location.hash = pairs === 1
    ? `#/compare?ids=${parentId},${created.child.id}&baseline=${parentId}`
    : `#/jobs/${created.child.id}`;
}

/** Why a job cannot be forked, or null when it can. */
function notForkable(job) {
  const spec = job.spec || {};
  if (spec.k_folds !== null && spec.k_folds !== undefined) {
    return 'Not forkable: a k-fold job trains k networks from k starts, not one.';
  }
  if (!job.init_sha256) {
    return TERMINAL.includes(job.status)
      ? 'Not forkable: it never started, so it has no stored initial weights.'
      : 'It can be forked once it starts: a fork reuses the initial weights stored then.';
  }
  return null;
}

/** The key that changes when a job's fork form has to be built again (it became forkable). */
export const forkFormKey = (job) => notForkable(job) || 'forkable';

/**
 * The "Fork with one change" form for a job (a <details> whose summary is #fork-job), or
 * one muted line saying why it cannot be forked. `onDone(created, pairs)` runs after a
 * fork is queued; by default it opens the comparison (one pair) or the child (more pairs).
 */
export function forkForm(job, onDone) {
  const why = notForkable(job);
  if (why) return h('p#fork-unavailable.muted.small', why);
  const spec = job.spec || {};
  const done = onDone || ((created, pairs) => afterFork(job.id, created, pairs));

  const fields = Object.keys(FORK_FIELDS).filter((k) => !(FORK_FIELDS[k].options && !FORK_FIELDS[k].options.includes(spec[k])));
  const fieldSelect = h('select#fork-field', { name: 'field' },
    fields.map((k) => h('option', { value: k }, `${FORK_FIELDS[k].label} (${k})`)),
    h('option', { value: '' }, 'nothing (reproduce the run)'));
  const valueField = h('div.field');
  const pairsInput = h('input#fork-pairs', { type: 'number', name: 'pairs', min: '1', max: '8', step: '1', value: '1',
    inputmode: 'numeric', 'aria-describedby': 'fork-pairs-help' });
  const submit = h('button#fork-submit.primary', { type: 'submit' }, 'Fork');
  const error = h('div#fork-error', { 'aria-live': 'polite' });
  let valueInput = null;

  // The value control suits the field and starts at the parent's value.
  function renderValue() {
    const key = fieldSelect.value;
    const f = FORK_FIELDS[key];
    if (!f) { valueInput = null; fill(valueField); valueField.hidden = true; return; }
    const current = spec[key];
    valueInput = f.options
      ? h('select#fork-value', { name: 'value' }, f.options.map((o) => h('option', { value: o }, o)))
      : h('input#fork-value', { type: 'number', name: 'value', step: f.step, min: f.min, max: f.max, inputmode: 'decimal',
        autocomplete: 'off', placeholder: f.nullable ? 'all' : null });
    valueInput.value = current === null || current === undefined ? '' : String(current);
    valueInput.setAttribute('aria-describedby', 'fork-value-help');
    valueField.hidden = false;
    fill(valueField, h('label', { for: 'fork-value' }, 'New value'), valueInput,
      h('small.help#fork-value-help', `The parent has ${current === null || current === undefined ? 'none' : fmt(current, 6)}.`));
  }
  fieldSelect.addEventListener('change', () => { renderValue(); clearError(); });

  function clearError() {
    fill(error);
    for (const el of [valueInput, pairsInput]) if (el) el.removeAttribute('aria-invalid');
  }

  function showError(e) {
    // The API names the field it refused (change.<field> or pairs): say which, and mark it.
    const field = e.field ? e.field.replace(/^change\./, '') : null;
    fill(error, errorBox(e, field ? `Not forked (${field})` : 'Not forked'));
    const control = e.field === 'pairs' ? pairsInput : e.field && e.field.startsWith('change.') ? valueInput : null;
    if (control) { control.setAttribute('aria-invalid', 'true'); control.focus(); }
  }

  function change() {
    const key = fieldSelect.value;
    const f = FORK_FIELDS[key];
    if (!f) return {};
    const raw = valueInput.value.trim();
    if (f.options) return { [key]: raw };
    if (raw === '') {
      if (f.nullable) return { [key]: null };
      throw Object.assign(new Error('enter a value'), { field: `change.${key}` });
    }
    return { [key]: Number(raw) };
  }

  const form = h('form#fork-form', { novalidate: true },
    h('p.muted.small', 'The child starts from this job’s stored initial weights with its seed, so only your change differs. ',
      'Fields that would change the weight shapes (layers, maxout, batch norm) cannot be forked.'),
    h('div.inline-fields',
      h('div.field', h('label', { for: 'fork-field' }, 'Change'), fieldSelect),
      valueField,
      h('div.field', h('label', { for: 'fork-pairs' }, 'Pairs'), pairsInput)),
    h('small.help#fork-pairs-help', 'More pairs rerun both sides with other seeds (seed + 1, seed + 2, …) and give a 95% interval for the difference.'),
    error,
    h('div.button-row', submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError();
    const pairsRaw = pairsInput.value.trim();
    // Out-of-range pairs go to the API as typed: its message says what is allowed.
    const pairs = pairsRaw === '' ? 1 : Number(pairsRaw);
    let body;
    try { body = { change: change(), pairs }; } catch (e) { showError(e); return; }
    submit.disabled = true;
    submit.textContent = 'Forking…';
    try {
      const created = await api.forkJob(job.id, body);
      done(created, pairs);
    } catch (e) {
      showError(e);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Fork';
    }
  });

  renderValue();
  return h('details#fork.fork', h('summary#fork-job', 'Fork with one change'), form);
}

/** The sign-prefixed difference: percentage points for accuracies. */
function diffText(metric, x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const sign = x > 0 ? '+' : x < 0 ? '−' : '±';
  return isLoss(metric) ? `${sign}${fmt(Math.abs(x))}` : `${sign}${fmt(Math.abs(x) * 100)} pp`;
}

/** The plain-words reading of one metric's paired difference, and its kind for styling. */
export function verdict(metric, words, d) {
  const n = d.pairs;
  const [lo, hi] = d.ci95;
  const mean = d.mean_difference;
  const higher = mean > 0;
  const better = isLoss(metric) ? mean < 0 : mean > 0;
  const dir = `${higher ? 'higher' : 'lower'} ${words}`;
  if (mean === 0 && lo === 0 && hi === 0) {
    return { kind: 'unclear', text: n === 1 ? 'no difference in the one pair' : `no difference in any of the ${n} pairs` };
  }
  if (n < 2) return { kind: 'single', text: `${dir} in the one pair; one pair gives no interval (fork with more pairs)` };
  if (lo <= 0 && hi >= 0) return { kind: 'unclear', text: 'no clear difference: the interval contains 0' };
  // "improved" counts the pairs where the child did better; the rest went the other way.
  const k = better ? d.improved : n - d.improved;
  const count = k === n ? `all ${n} pairs` : `${k} of ${n} pairs`;
  return { kind: better ? 'better' : 'worse', text: `${dir} in ${count}; the interval excludes 0` };
}

const jobLink = (id, label) => h('a', { href: `#/jobs/${id}` }, label || `job ${id.slice(-6)}`);

function pairsView(summary) {
  const n = summary.pairs.length;
  const withData = summary.epochs.filter((e) => Object.keys(e.metrics || {}).length);
  const latest = withData[withData.length - 1];
  const rows = latest ? METRICS.filter(([m]) => latest.metrics[m]).map(([m, words]) => {
    const d = latest.metrics[m];
    const v = verdict(m, words, d);
    return h('tr', { dataset: { metric: m, verdict: v.kind } },
      h('th', { scope: 'row' }, words),
      h('td', { 'data-label': 'Mean difference' }, diffText(m, d.mean_difference)),
      h('td', { 'data-label': '95% interval' }, `[${diffText(m, d.ci95[0])}, ${diffText(m, d.ci95[1])}]`),
      h('td', { 'data-label': 'Pairs' }, `improved in ${d.improved} of ${d.pairs} pair${d.pairs === 1 ? '' : 's'}`),
      h('td.verdict', { 'data-label': 'Reading' }, v.text));
  }) : [];
  const mean = (key) => withData.filter((e) => e.metrics.val_loss).map((e) => [e.epoch, e.metrics.val_loss[key]]);
  const ends = (i) => withData.filter((e) => e.metrics.val_loss).map((e) => [e.epoch, e.metrics.val_loss.ci95[i]]);
  return [
    h('h2#pairs-title', `Same start, one change: ${n} pair${n === 1 ? '' : 's'}`),
    h('p', 'Changed: ', summary.changed.length ? summary.changed.map((f, i) => [i ? ', ' : '', h('code', f)]) : 'nothing (a reproduction)',
      '. In each pair both runs start from the same weights with the same seed; differences are child − baseline.'),
    h('ul#pairs-list.pair-list', summary.pairs.map((p) => h('li', { dataset: { pair: String(p.pair) } },
      h('strong', `Pair ${p.pair}`), ': baseline ', jobLink(p.baseline_id, p.pair === 0 ? 'the parent' : null), ' ', statusBadge(p.baseline_status),
      ' · child ', jobLink(p.child_id), ' ', statusBadge(p.child_status), ' · ',
      h('a', { href: `#/compare?ids=${p.baseline_id},${p.child_id}&baseline=${p.baseline_id}` }, 'compare')))),
    latest
      ? h('p.muted', `At epoch ${latest.epoch}, the latest with data. Accuracy differences are in percentage points (pp).`)
      : h('p.muted', 'No epoch has finished on both sides of a pair yet.'),
    h('div.table-wrap', h('table#pairs-table.jobs.stack',
      h('caption.sr-only', 'Paired differences, child − baseline'),
      h('thead', h('tr', ['Metric', 'Mean difference', '95% interval', 'Pairs', 'Reading'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows))),
    lineChart({ id: 'pairs-chart', title: 'Validation loss, child − baseline (mean over pairs, 95% interval dashed)',
      xLabel: 'epoch', yLabel: 'Δ validation loss', integerX: true,
      series: [
        { name: 'mean difference', points: mean('mean_difference'), color: PALETTE[0] },
        { name: '95% interval, low', points: ends(0), color: PALETTE[0], dash: '5 4', width: 1.2, noDots: true },
        { name: '95% interval, high', points: ends(1), color: PALETTE[0], dash: '5 4', width: 1.2, noDots: true },
        { name: 'no difference', points: mean('mean_difference').map(([e]) => [e, 0]), color: '#8a94a3', width: 1, noDots: true },
      ] }),
  ];
}

/**
 * The section #pairs for a fork (forkJobId = any of its jobs): its pairs and, at the latest
 * epoch, each metric's mean paired difference with a 95% interval and a verdict. Re-read
 * every 2 s while a pair's job is unfinished; the polling ends with the view (ctx).
 */
export function pairsPanel(forkJobId, ctx) {
  const section = h('section#pairs.card', { 'aria-labelledby': 'pairs-title' },
    h('p.muted', 'Loading the paired comparison…'));
  let timer = null;
  let busy = false;
  const stop = () => { if (timer !== null) { clearInterval(timer); timer = null; } };
  async function load() {
    if (busy || !ctx.alive) return;
    busy = true;
    try {
      const summary = await api.pairs(forkJobId, ctx.signal);
      if (!ctx.alive) return;
      fill(section, pairsView(summary));
      const unfinished = summary.pairs.some((p) => !TERMINAL.includes(p.baseline_status) || !TERMINAL.includes(p.child_status));
      if (!unfinished) stop();
      else if (timer === null) timer = ctx.interval(load, 2000);
    } catch (e) {
      if (isAbort(e)) return;
      fill(section, errorBox(e, 'The paired comparison is not available'));
      if (e.status === 404) stop();
    } finally {
      busy = false;
    }
  }
  load();
  return section;
}
