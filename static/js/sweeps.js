// sweeps.js — hyperparameter sweeps. #/sweeps: the sweeps so far and the form for a new one
// (a base JobSpec as JSON, a space editor, method, seeds, metric and goal, early stopping,
// parallelism) with the server's cost preview as the form changes, and presets on the toy
// sets that fill it in one click. #/sweeps/{id}: one sweep, re-read every 2 s while it
// runs: status, leaderboard, the trials with the early-stopping rule's reasons, every
// trial's curve, a parallel-coordinates chart and "what matters most" (the mean metric at
// each value of each swept field).
//
// This file holds the two views (mount, mountSweep) and their state; the form's presets and
// text conversions are in sweeps-form.js, the parallel-coordinates and "what matters most"
// charts in sweeps-charts.js, and the metric and value wording they share in sweeps-text.js.

import { api } from './api.js';
import { h, fill, errorBox, isAbort } from './dom.js';
import { lineChart, PALETTE } from './charts.js';
import { statusBadge } from './jobs.js';
import { METRICS, metricWords, goalOf, metricText, key, valueText, paramsText } from './sweeps-text.js';
import { KINDS, SWEEPABLE, SWEEP_PRESETS, baseText, domainText, formError, parseDomain } from './sweeps-form.js';
import { parallelChart, importanceView } from './sweeps-charts.js';

// Still importable from here, where they were defined before the split.
export { SWEEP_PRESETS };
export { importance } from './sweeps-charts.js';

const SWEEP_DONE = ['succeeded', 'failed', 'cancelled'];
// Stopped trials are drawn in this neutral grey (cancelled ones dashed).
const GREY = '#a3acb9';

// ---------------------------------------------------------------------------------------
// #/sweeps: the list and the form.

export async function mount(root, ctx, route) {
  let rowSeq = 0;
  const rows = [];
  const fieldList = h('datalist#sw-fields', SWEEPABLE.map((f) => h('option', { value: f })));
  const spaceBox = h('div#sw-space', { role: 'group', 'aria-label': 'Swept fields' });
  const spaceHead = h('div.space-head', { 'aria-hidden': 'true' }, h('span', 'JobSpec field'), h('span', 'Kind'), h('span', 'Values or range'), h('span'));

  const num = (id, attrs = {}) => h(`input#${id}`, { type: 'number', step: '1', inputmode: 'numeric', autocomplete: 'off', ...attrs });
  const nameIn = h('input#sw-name', { type: 'text', name: 'name', maxlength: '100', autocomplete: 'off', placeholder: 'e.g. learning rate × width' });
  const baseIn = h('textarea#sw-base', { name: 'base', rows: '8', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'sw-base-help' });
  const methodSel = h('select#sw-method', { name: 'method' },
    h('option', { value: 'grid' }, 'grid'), h('option', { value: 'random' }, 'random'));
  const trialsIn = num('sw-trials', { name: 'trials', min: '1', max: '256', value: '12' });
  const seedsIn = num('sw-seeds', { name: 'seeds', min: '1', max: '8', value: '1', 'aria-describedby': 'sw-seeds-help' });
  const metricSel = h('select#sw-metric', { name: 'metric' }, METRICS.map(([k, words]) => h('option', { value: k }, words)));
  const goalSel = h('select#sw-goal', { name: 'goal', 'aria-describedby': 'sw-goal-help' }, h('option', { value: '' }, 'auto'),
    h('option', { value: 'maximize' }, 'maximize'), h('option', { value: 'minimize' }, 'minimize'));
  const esSel = h('select#sw-es', { name: 'early_stopping' }, h('option', { value: 'none' }, 'none'),
    h('option', { value: 'asha' }, 'ASHA'), h('option', { value: 'median' }, 'median rule'));
  const graceIn = num('sw-grace', { name: 'grace_epochs', min: '1', value: '1', 'aria-describedby': 'sw-grace-help' });
  const rfIn = num('sw-rf', { name: 'reduction_factor', min: '2', max: '8', value: '3', 'aria-describedby': 'sw-rf-help' });
  const minTrialsIn = num('sw-min-trials', { name: 'min_trials', min: '1', value: '3', 'aria-describedby': 'sw-min-trials-help' });
  const parIn = num('sw-parallelism', { name: 'parallelism', min: '1', max: '16', value: '2' });
  const addBtn = h('button#sw-add-field', { type: 'button' }, '+ Add field');
  const submit = h('button#sweep-submit.primary', { type: 'submit' }, 'Start sweep');
  const error = h('div#sweep-form-error', { 'aria-live': 'polite' });
  const preview = h('section#sweep-preview', { 'aria-live': 'polite', 'aria-labelledby': 'sweep-preview-title' });

  const field = (label, control, help, id) => h('div.field', id ? { id } : null, h('label', { for: control.id }, label), control,
    help ? h('small.help', { id: `${control.id}-help` }, help) : null);
  const trialsField = field('Trials (random draws)', trialsIn, null, 'sw-trials-field');
  const graceField = field('Grace epochs', graceIn, 'ASHA: the first rung; median: the first epoch it judges.');
  const rfField = field('Reduction factor', rfIn, 'ASHA keeps the top 1/rf at rungs grace × rf^k.');
  const minTrialsField = field('Min. other trials', minTrialsIn, 'The median rule waits until this many others reached the epoch.');

  const form = h('form#sweep-form.card', { novalidate: true },
    h('h2', 'New sweep'),
    h('fieldset', h('legend', 'What to train'),
      h('div.field.wide', h('label', { for: 'sw-name' }, 'Name'), nameIn),
      h('div.field.wide', h('label', { for: 'sw-base' }, 'Base JobSpec (JSON)'), baseIn,
        h('small.help#sw-base-help', 'Every trial starts from these fields (as on the training page’s API: dataset, hidden_layers, epochs, …); the swept fields below replace them.'))),
    h('fieldset.space-fieldset', h('legend', 'What to vary'), spaceHead, spaceBox, fieldList,
      h('div.space-foot', addBtn,
        h('small.help', 'values: a JSON list, e.g. [0.01, 0.1], [[64], [128, 64]] or ["sgd", "adam"]. Ranges (random only): two numbers, low, high.'))),
    h('fieldset', h('legend', 'How to search'),
      field('Method', methodSel, 'grid: every combination of the values; random: draws.'), trialsField,
      field('Seeds per configuration', seedsIn, 'Runs of each configuration with seeds seed, seed + 1, …'),
      field('Ranked by', metricSel), field('Goal', goalSel, 'auto: maximize accuracy, minimize loss.')),
    h('fieldset', h('legend', 'Early stopping'),
      field('Rule', esSel, 'none: every trial runs all its epochs.'), graceField, rfField, minTrialsField,
      field('Trials at once', parIn)),
    preview, error,
    h('div.button-row', submit));

  const presets = h('section#sweep-presets.card', { 'aria-labelledby': 'sweep-presets-title' },
    h('h2#sweep-presets-title', 'Presets'),
    h('p.muted.small', 'Fill the form with a sweep on a toy set that finishes in seconds; look at the cost, then start it.'),
    h('ul.preset-list', Object.entries(SWEEP_PRESETS).map(([k, p]) => h('li',
      h('button.sweep-preset', { type: 'button', dataset: { preset: k }, onclick: () => { fillForm(p.request); } }, p.title),
      h('small', p.about)))),
    h('h3', 'Early stopping, briefly'),
    h('p.small', h('strong', 'ASHA'), ' pauses every trial at rungs (grace, grace × rf, grace × rf², … epochs); only the top 1/rf of the configurations that reached a rung go on, the others stop.'),
    h('p.small', h('strong', 'Median rule'), ': from the grace epoch on, a trial worse than the median of the others at the same epoch stops.'));

  const listBody = h('tbody');
  const listError = h('div#sweeps-error', { 'aria-live': 'polite' });
  root.append(
    h('h1#view-title', 'Sweeps'),
    h('p.lede', 'Train many variants of one network, rank them by a metric, and stop the hopeless ones early. Each trial is an ordinary job.'),
    h('div.sweep-layout', form, presets),
    h('section.card', { 'aria-labelledby': 'sweeps-list-title' },
      h('h2#sweeps-list-title', 'Sweeps so far'), listError,
      h('div.table-wrap', h('table#sweeps-table.jobs.stack',
        h('caption.sr-only', 'Sweeps, newest first'),
        h('thead', h('tr', ['Name', 'Status', 'Started', 'Ended'].map((t) => h('th', { scope: 'col' }, t)))),
        listBody))));

  // The space editor's rows.
  function addRow(name = '', kind = 'values', text = '') {
    const n = ++rowSeq;
    const fieldIn = h('input.space-field', { type: 'text', id: `sw-space-${n}-field`, list: 'sw-fields', value: name,
      autocomplete: 'off', spellcheck: 'false', 'aria-label': 'JobSpec field', placeholder: 'learning_rate' });
    const kindSel = h('select.space-kind', { id: `sw-space-${n}-kind`, 'aria-label': 'Kind' }, KINDS.map(([k, words]) => h('option', { value: k }, words)));
    kindSel.value = kind;
    const valueIn = h('input.space-values', { type: 'text', id: `sw-space-${n}-values`, value: text, autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Values or range' });
    const remove = h('button.space-remove', { type: 'button', 'aria-label': 'Remove this field', title: 'Remove this field' }, '×');
    const el = h('div.space-row', { dataset: { row: String(n) } }, fieldIn, kindSel, valueIn, remove);
    const row = { el, field: fieldIn, kind: kindSel, value: valueIn };
    const placeholder = () => { valueIn.placeholder = kindSel.value === 'values' ? '[0.01, 0.1, 1]' : 'low, high'; };
    kindSel.addEventListener('change', placeholder);
    placeholder();
    remove.addEventListener('click', () => {
      rows.splice(rows.indexOf(row), 1);
      el.remove();
      if (!rows.length) addRow();
      schedulePreview();
    });
    rows.push(row);
    spaceBox.append(el);
    return row;
  }
  addBtn.addEventListener('click', () => { addRow().field.focus(); schedulePreview(); });

  function showFor() {
    trialsField.hidden = methodSel.value !== 'random';
    graceField.hidden = esSel.value === 'none';
    rfField.hidden = esSel.value !== 'asha';
    minTrialsField.hidden = esSel.value !== 'median';
  }

  /** Fills the form from a sweep request (a preset, or a past sweep's spec). */
  function fillForm(req) {
    nameIn.value = req.name || '';
    baseIn.value = baseText(req.base);
    for (const r of rows.splice(0)) r.el.remove();
    for (const [f, domain] of Object.entries(req.space || {})) {
      const [kind, arg] = Object.entries(domain)[0];
      addRow(f, kind, domainText(kind, arg));
    }
    if (!rows.length) addRow();
    methodSel.value = req.method || 'grid';
    trialsIn.value = String(req.trials ?? 12);
    seedsIn.value = String(req.seeds ?? 1);
    metricSel.value = req.metric || 'val_accuracy';
    goalSel.value = req.goal || '';
    const es = req.early_stopping;
    esSel.value = es ? es.kind : 'none';
    graceIn.value = String(es && es.grace_epochs ? es.grace_epochs : 1);
    rfIn.value = String(es && es.reduction_factor ? es.reduction_factor : 3);
    minTrialsIn.value = String(es && es.min_trials ? es.min_trials : 3);
    parIn.value = String(req.parallelism ?? 2);
    showFor();
    schedulePreview(0);
  }

  const intOf = (input) => (input.value.trim() === '' ? undefined : Number(input.value));

  /** The request the form describes; throws formError naming the entry at fault. */
  function readForm() {
    let base;
    try { base = JSON.parse(baseIn.value); } catch (e) { throw formError('base', `not valid JSON (${e.message})`); }
    if (!base || typeof base !== 'object' || Array.isArray(base)) throw formError('base', 'a JSON object of JobSpec fields, e.g. {"dataset": "circle"}');
    const space = {};
    for (const r of rows) {
      const name = r.field.value.trim();
      const raw = r.value.value.trim();
      if (!name && !raw) continue;
      if (!name) throw formError('space', 'name the JobSpec field to vary', { row: r, control: r.field });
      if (!raw) throw formError(`space.${name}`, 'enter its values or range', { row: r });
      if (space[name]) throw formError(`space.${name}`, 'named twice', { row: r });
      space[name] = { [r.kind.value]: parseDomain(r.kind.value, raw, name) };
    }
    const body = {
      name: nameIn.value.trim(), base, space, method: methodSel.value, seeds: intOf(seedsIn),
      metric: metricSel.value, parallelism: intOf(parIn),
    };
    if (methodSel.value === 'random') body.trials = intOf(trialsIn);
    if (goalSel.value) body.goal = goalSel.value;
    const es = esSel.value;
    body.early_stopping = es === 'asha' ? { kind: 'asha', grace_epochs: intOf(graceIn), reduction_factor: intOf(rfIn) }
      : es === 'median' ? { kind: 'median', grace_epochs: intOf(graceIn), min_trials: intOf(minTrialsIn) } : null;
    return body;
  }

  const CONTROLS = {
    name: nameIn, base: baseIn, method: methodSel, trials: trialsIn, seeds: seedsIn, metric: metricSel, goal: goalSel,
    parallelism: parIn, early_stopping: esSel, 'early_stopping.grace_epochs': graceIn,
    'early_stopping.reduction_factor': rfIn, 'early_stopping.min_trials': minTrialsIn,
  };

  /** The controls an error names: `space.<field>` -> that row, `base.*` -> the JSON. */
  function controlsFor(e) {
    if (e.row) return { row: e.row, controls: [e.control || e.row.value] };
    const f = e.field || '';
    if (CONTROLS[f]) return { controls: [CONTROLS[f]] };
    if (f === 'base' || f.startsWith('base.')) return { controls: [baseIn] };
    if (f.startsWith('early_stopping')) return { controls: [esSel] };
    const m = f.match(/^space\.([^.[]+)/);
    if (m) {
      const row = rows.find((r) => r.field.value.trim() === m[1]);
      if (row) return { row, controls: [row.value, row.kind] };
    }
    if (f === 'space' && rows.length) return { controls: [rows[0].value] };
    return { controls: [] };
  }

  function clearError() {
    fill(error);
    error.dataset.field = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const r of rows) r.el.classList.remove('invalid');
  }

  function showError(e, prefix) {
    clearError();
    const at = e.field ? [h('code', e.field), ': '] : [];
    fill(error, h('p.error', { role: 'alert' }, `${prefix}: `, at, e.message));
    error.dataset.field = e.field || '';
    const { row, controls } = controlsFor(e);
    if (row) row.el.classList.add('invalid');
    for (const c of controls) c.setAttribute('aria-invalid', 'true');
  }

  // The cost preview: asked of the server (debounced) as the form changes.
  let previewTimer = null;
  let previewCtrl = null;
  let previewSeq = 0;
  ctx.onCleanup(() => { clearTimeout(previewTimer); if (previewCtrl) previewCtrl.abort(); });
  function schedulePreview(ms = 350) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, ms);
  }

  function renderPreview(p, body) {
    const full = p.rungs.length ? p.trials * p.rungs[p.rungs.length - 1].epoch : null;
    Object.assign(preview.dataset, { trials: String(p.trials), maxEpochs: String(p.max_total_epochs), exact: String(p.exact) });
    fill(preview,
      h('h3#sweep-preview-title', 'Cost'),
      h('p.preview-line',
        h('strong', `${p.trials} trial${p.trials === 1 ? '' : 's'}`),
        p.configurations !== p.trials ? ` (${p.configurations} configurations × ${body.seeds || 1} seeds)` : '',
        ', ', h('strong', `${p.exact ? 'exactly' : 'at most'} ${p.max_total_epochs} epochs`), ' in all',
        p.exact ? ' (exact)' : full && full > p.max_total_epochs ? ` (without early stopping: ${full})` : ''),
      p.rungs.length > 1 ? h('p.muted.small', 'ASHA’s rungs: the most trials that can reach each epoch.') : null,
      p.rungs.length > 1 ? h('div.table-wrap', h('table.rungs',
        h('thead', h('tr', h('th', { scope: 'col' }, 'Epoch'), h('th', { scope: 'col' }, 'Trials at most'))),
        h('tbody', p.rungs.map((r) => h('tr', h('td', String(r.epoch)), h('td', String(r.max_trials))))))) : null);
  }

  async function runPreview() {
    const seq = ++previewSeq;
    if (previewCtrl) previewCtrl.abort();
    previewCtrl = null;
    let body;
    try { body = readForm(); } catch (e) {
      showError(e, 'Not valid');
      preview.dataset.trials = '';
      fill(preview, h('h3#sweep-preview-title', 'Cost'), h('p.muted', 'Fix the form to see what this sweep costs.'));
      return;
    }
    previewCtrl = new AbortController();
    const { signal } = previewCtrl;
    try {
      const p = await api.previewSweep(body, signal);
      if (seq !== previewSeq || !ctx.alive) return;
      clearError();
      renderPreview(p, body);
    } catch (e) {
      if (isAbort(e) || seq !== previewSeq || !ctx.alive) return;
      showError(e, 'Not valid');
      preview.dataset.trials = '';
      fill(preview, h('h3#sweep-preview-title', 'Cost'), h('p.muted', 'Fix the form to see what this sweep costs.'));
    }
  }

  form.addEventListener('input', () => schedulePreview());
  form.addEventListener('change', () => { showFor(); schedulePreview(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearTimeout(previewTimer);
    let body;
    try { body = readForm(); } catch (e) { showError(e, 'Not started'); return; }
    submit.disabled = true;
    submit.textContent = 'Starting…';
    try {
      const sweep = await api.createSweep(body, ctx.signal);
      location.hash = `#/sweeps/${sweep.id}`;
    } catch (e) {
      if (!isAbort(e)) showError(e, 'Not started');
    } finally {
      submit.disabled = false;
      submit.textContent = 'Start sweep';
    }
  });

  let listKey = null;
  async function loadList() {
    try {
      const sweeps = await api.sweeps(ctx.signal);
      if (!ctx.alive) return;
      fill(listError);
      const k = key(sweeps);
      if (k === listKey) return;
      listKey = k;
      fill(listBody, sweeps.length ? sweeps.map((s) => h('tr', { dataset: { sweepId: s.id, status: s.status } },
        h('td', { 'data-label': 'Name' }, h('a', { href: `#/sweeps/${s.id}` }, s.name || `sweep ${s.id.slice(-6)}`)),
        h('td', { 'data-label': 'Status' }, statusBadge(s.status)),
        h('td', { 'data-label': 'Started' }, h('time', { datetime: s.created_at }, new Date(s.created_at).toLocaleString())),
        h('td', { 'data-label': 'Ended' }, s.finished_at ? h('time', { datetime: s.finished_at }, new Date(s.finished_at).toLocaleString()) : '–')))
        : h('tr', h('td', { colspan: '4' }, 'No sweeps yet: pick a preset above, look at its cost, and start it.')));
    } catch (e) {
      if (!isAbort(e)) fill(listError, errorBox(e, 'Could not load the sweeps'));
    }
  }

  // Start from a past sweep (#/sweeps?from=<id>, "Edit as a new sweep") or the first preset.
  const from = route.query.get('from');
  let start = SWEEP_PRESETS['lr-width-asha'].request;
  if (from) {
    try {
      const past = await api.sweep(from, ctx.signal);
      start = { ...past.spec, name: past.spec.name ? `${past.spec.name} (again)` : '' };
    } catch (e) {
      if (isAbort(e)) return;
      fill(error, errorBox(e, `Could not load sweep ${from}`));
    }
  }
  fillForm(start);
  await loadList();
  ctx.interval(loadList, 2000);
}

// ---------------------------------------------------------------------------------------
// #/sweeps/{id}: one sweep.

/** The rule's last decision about a trial, in words ("stopped at epoch 3: asha: …"). */
function decisionText(t) {
  const d = t.decisions || [];
  if (!d.length) return '';
  const stop = [...d].reverse().find((x) => x.action === 'stop');
  if (stop) return stop.rule;
  const last = d[d.length - 1];
  return last.rule;
}

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
