// sweeps.js — hyperparameter sweeps, #/sweeps: the sweeps so far and the form for a new one
// (a base JobSpec as JSON, a space editor, method, seeds, metric and goal, early stopping,
// parallelism) with the server's cost preview as the form changes, and presets on the toy
// sets that fill it in one click.
//
// This file holds the view (mount) and its state; the form's presets and text conversions
// are in sweeps-form.js, and the metric and value wording in sweeps-text.js. One sweep's
// page, #/sweeps/{id}, is in sweep.js.

import { api } from './api.js';
import { h, fill, errorBox, isAbort } from './dom.js';
import { statusBadge } from './jobs.js';
import { METRICS, key } from './sweeps-text.js';
import { KINDS, SWEEPABLE, SWEEP_PRESETS, baseText, domainText, formError, parseDomain } from './sweeps-form.js';

// Still importable from here, where they were defined before the split.
export { SWEEP_PRESETS };
export { importance } from './sweeps-charts.js';

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
