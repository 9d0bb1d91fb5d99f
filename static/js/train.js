// train.js — the training form: one labelled control per JobSpec field (including
// lr_schedule and augment) with the API's defaults, the lecture presets, and the API's 422
// errors shown next to the control they name (aria-invalid + message).

import { api, ApiError } from './api.js';
import { h, fill, field, errorBox, isAbort } from './dom.js';
import { SINGLE, COMPARISONS } from './presets.js';

const ACTIVATIONS = ['step', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu', 'maxout'];
const INITS = ['zeros', 'normal', 'xavier', 'he'];
const OPTIMIZERS = ['sgd', 'momentum', 'nag', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'nadam'];
const AUGMENT = [
  ['max_shift_px', 'Max shift (px)', 2], ['max_rotation_deg', 'Max rotation (°)', 10],
  ['max_scale', 'Max scale change', 0.1], ['max_shear_deg', 'Max shear (°)', 0],
  ['brightness', 'Brightness jitter', 0], ['contrast', 'Contrast jitter', 0], ['noise_std', 'Noise std', 0],
];

/** The form's fields: key = JobSpec path, with type, label, default and help. */
const FIELDS = {
  // The known names until the server's list (with what is installed) arrives.
  dataset: { type: 'select', label: 'Dataset', def: 'mnist',
    options: ['mnist', 'fashion-mnist', 'and', 'or', 'nand', 'xor', 'xor-cloud', 'circle', 'spiral', 'gaussian'] },
  train_samples: { type: 'number', label: 'Training samples', def: null, nullable: true, step: 1, min: 1, help: 'Use only the first N training samples (blank = all).' },
  validation_split: { type: 'number', label: 'Validation split', def: 0.1, step: 'any', min: 0, max: 0.9, help: 'Fraction of the training set held out for validation.' },
  k_folds: { type: 'number', label: 'k folds', def: null, nullable: true, step: 1, min: 2, help: 'k ≥ 2 for k-fold cross-validation (blank = off).' },
  seed: { type: 'number', label: 'Seed', def: 42, step: 1, min: 0, help: 'Same spec and seed = identical history.' },
  eval_train_accuracy: { type: 'checkbox', label: 'Training accuracy in eval mode', def: false, help: 'Also measure the training rows after each epoch without dropout (the book’s train curve).' },
  epoch_test_metrics: { type: 'checkbox', label: 'Test metrics every epoch', def: false, help: 'Also measure the test set after each epoch (the book’s train/test figures).' },
  hidden_layers: { type: 'layers', label: 'Hidden layers', def: [256, 128], help: 'Units per hidden layer, e.g. “256, 128”; blank = softmax regression.' },
  activation: { type: 'select', label: 'Activation', options: ACTIVATIONS, def: 'relu' },
  activation_alpha: { type: 'number', label: 'Activation α', def: null, nullable: true, step: 'any', help: 'Leaky ReLU slope / ELU α (blank = the standard value: 0.01 for leaky ReLU, 1 for ELU).' },
  maxout_pieces: { type: 'number', label: 'Maxout pieces', def: 2, step: 1, min: 2 },
  batch_norm: { type: 'checkbox', label: 'Batch normalization', def: false },
  dropout: { type: 'number', label: 'Dropout', def: 0, step: 'any', min: 0, max: 0.99, help: 'Probability of dropping a hidden unit while training.' },
  init: { type: 'select', label: 'Initialization', options: INITS, def: 'he', help: 'Xavier for sigmoid/tanh, He for ReLU.' },
  init_std: { type: 'number', label: 'Init std (normal)', def: 0.01, step: 'any', min: 0 },
  loss: { type: 'select', label: 'Loss', options: ['cross_entropy', 'mse'], def: 'cross_entropy' },
  optimizer: { type: 'select', label: 'Optimizer', options: OPTIMIZERS, def: 'adam' },
  momentum: { type: 'number', label: 'Momentum', def: null, nullable: true, step: 'any', min: 0, max: 0.999, help: 'Momentum and NAG (blank = 0.9).' },
  rho: { type: 'number', label: 'ρ', def: null, nullable: true, step: 'any', min: 0, max: 0.999, help: 'RMSprop, AdaDelta decay (blank = 0.9; AdaDelta 0.95).' },
  beta1: { type: 'number', label: 'β₁', def: null, nullable: true, step: 'any', min: 0, max: 0.999, help: 'Adam, Nadam (blank = 0.9).' },
  beta2: { type: 'number', label: 'β₂', def: null, nullable: true, step: 'any', min: 0, max: 0.9999, help: 'Adam, Nadam (blank = 0.999).' },
  eps: { type: 'number', label: 'ε', def: null, nullable: true, step: 'any', min: 0, help: 'Adaptive optimizers (blank = 1e-8; AdaDelta 1e-6).' },
  bn_momentum: { type: 'number', label: 'Batch-norm momentum', def: null, nullable: true, step: 'any', min: 0, max: 1, help: 'Running statistics, PyTorch convention (blank = 0.1).' },
  bn_eps: { type: 'number', label: 'Batch-norm ε', def: null, nullable: true, step: 'any', min: 0, help: 'Blank = 1e-5.' },
  learning_rate: { type: 'number', label: 'Learning rate', def: 0.001, step: 'any', min: 0 },
  'lr_schedule.kind': { type: 'select', label: 'Learning-rate schedule', options: ['constant', 'step', 'exponential', 'cosine'], def: 'constant' },
  'lr_schedule.every_epochs': { type: 'number', label: 'Every (epochs)', def: 3, step: 1, min: 1, showIf: ['lr_schedule.kind', ['step']] },
  'lr_schedule.gamma': { type: 'number', label: 'γ (decay factor)', def: 0.5, step: 'any', showIf: ['lr_schedule.kind', ['step', 'exponential']] },
  'lr_schedule.min_lr': { type: 'number', label: 'Minimum rate', def: 0, step: 'any', min: 0, showIf: ['lr_schedule.kind', ['cosine']] },
  batch_size: { type: 'number', label: 'Batch size', def: 128, step: 1, min: 1, help: '≥ the training size = full-batch gradient descent.' },
  epochs: { type: 'number', label: 'Epochs', def: 10, step: 1, min: 1 },
  l1: { type: 'number', label: 'L1 penalty', def: 0, step: 'any', min: 0 },
  l2: { type: 'number', label: 'L2 penalty', def: 0, step: 'any', min: 0, help: 'Both L1 and L2 > 0 = elastic net.' },
  augment: { type: 'checkbox', label: 'Augment training images', def: false, help: 'Image datasets only.' },
  ...Object.fromEntries(AUGMENT.map(([k, label, def]) => [`augment.${k}`, { type: 'number', label, def, step: 'any', min: 0, showIf: ['augment', [true]] }])),
};

const GROUPS = [
  ['Data', ['dataset', 'train_samples', 'validation_split', 'k_folds', 'seed', 'eval_train_accuracy', 'epoch_test_metrics']],
  ['Architecture', ['hidden_layers', 'activation', 'activation_alpha', 'maxout_pieces', 'batch_norm', 'bn_momentum', 'bn_eps', 'dropout']],
  ['Initialization', ['init', 'init_std']],
  ['Optimization', ['loss', 'optimizer', 'learning_rate', 'momentum', 'rho', 'beta1', 'beta2', 'eps', 'lr_schedule.kind', 'lr_schedule.every_epochs', 'lr_schedule.gamma', 'lr_schedule.min_lr', 'batch_size', 'epochs']],
  ['Regularization', ['l1', 'l2', 'augment', ...AUGMENT.map(([k]) => `augment.${k}`)]],
];

const idOf = (key) => `f-${key.replace(/\./g, '-')}`;
const errIdOf = (key) => `err-${key.replace(/\./g, '-')}`;

export async function mount(root, ctx) {
  const form = h('form#train-form', { novalidate: true });
  const formError = h('div#form-error', { 'aria-live': 'polite' });
  const preview = h('pre#spec-preview');
  const controls = {};

  for (const [legend, keys] of GROUPS) {
    const fs = h('fieldset', h('legend', legend));
    for (const key of keys) {
      const f = FIELDS[key];
      const id = idOf(key);
      let input;
      if (f.type === 'select') {
        input = h('select', { id, name: key }, f.options.map((o) => h('option', { value: o }, o)));
      } else if (f.type === 'checkbox') {
        input = h('input', { id, name: key, type: 'checkbox' });
      } else {
        input = h('input', { id, name: key, type: f.type === 'number' ? 'number' : 'text', inputmode: f.type === 'number' ? 'decimal' : null,
          step: f.step, min: f.min, max: f.max, autocomplete: 'off',
          placeholder: f.nullable ? 'off' : null });
      }
      controls[key] = input;
      fs.append(field(f.label, input, { help: f.help, errId: errIdOf(key), attrs: { dataset: { field: key } } }));
    }
    form.append(fs);
  }
  const submit = h('button#submit-job.primary', { type: 'submit' }, 'Start training');
  form.append(formError, h('div.button-row', submit, h('button#reset-form', { type: 'button', onclick: () => { setForm({}); } }, 'Reset to defaults')),
    h('details', h('summary', 'JobSpec JSON that will be sent'), preview));

  const presetButtons = Object.entries(SINGLE).map(([key, p]) =>
    h('li', h('button.preset', { type: 'button', dataset: { preset: key }, 'aria-describedby': `preset-${key}-about` }, p.title),
      h('small', { id: `preset-${key}-about` }, p.about)));
  const comparisonStatus = h('div#comparison-status', { 'aria-live': 'polite' });
  const comparisonButtons = Object.entries(COMPARISONS).map(([key, c]) =>
    h('li', h('button.preset.comparison', { type: 'button', dataset: { comparison: key }, 'aria-describedby': `cmp-${key}-about` },
      `${c.title} (${c.jobs.length} jobs)`), h('small', { id: `cmp-${key}-about` }, c.about)));

  root.append(
    h('h1#view-title', 'Train a network'),
    h('p.lede', 'Pick a preset from the lecture or set every hyperparameter yourself. Jobs run on the server’s queue; you can watch their curves live.'),
    h('div.train-layout',
      h('section.card', { 'aria-labelledby': 'form-title' }, h('h2#form-title', 'Hyperparameters'), form),
      h('aside.card', { 'aria-labelledby': 'presets-title' },
        h('h2#presets-title', 'Presets'),
        h('p.muted', 'These fill in the form; press “Start training” to run.'),
        h('ul#presets.preset-list', presetButtons),
        h('h2', 'Comparisons'),
        h('p.muted', 'These submit several jobs at once and open them side by side.'),
        h('ul#comparison-presets.preset-list', comparisonButtons),
        comparisonStatus)));

  // ---- form state ----
  function setForm(spec) {
    clearErrors();
    for (const [key, f] of Object.entries(FIELDS)) {
      let v = lookup(spec, key);
      if (key === 'augment') v = spec.augment ? true : f.def;
      else if (v === undefined) v = f.def;
      const input = controls[key];
      if (f.type === 'checkbox') input.checked = Boolean(v);
      else if (f.type === 'layers') input.value = v.join(', ');
      else input.value = v === null ? '' : String(v);
    }
    refresh();
  }
  function refresh() {
    for (const [key, f] of Object.entries(FIELDS)) {
      if (!f.showIf) continue;
      const [dep, values] = f.showIf;
      const c = controls[dep];
      const cur = c.type === 'checkbox' ? c.checked : c.value;
      controls[key].closest('.field').hidden = !values.includes(cur);
    }
    try { preview.textContent = JSON.stringify(readForm(false), null, 2); } catch (e) { preview.textContent = e.message; }
  }

  /** The JobSpec from the form. With `strict`, client-side problems are thrown as ApiError-like. */
  function readForm(strict = true) {
    const spec = {};
    const problems = [];
    for (const [key, f] of Object.entries(FIELDS)) {
      if (key.startsWith('lr_schedule.') || key.startsWith('augment')) continue;
      const input = controls[key];
      if (f.type === 'checkbox') spec[key] = input.checked;
      else if (f.type === 'select') spec[key] = input.value;
      else if (f.type === 'layers') {
        const parts = input.value.split(/[\s,]+/).filter(Boolean);
        const nums = parts.map(Number);
        if (nums.some((n) => !Number.isFinite(n))) problems.push(['hidden_layers', 'Use whole numbers separated by commas, e.g. 256, 128.']);
        spec[key] = nums;
      } else {
        const raw = input.value.trim();
        if (raw === '') {
          if (f.nullable) spec[key] = null;
          else if (input.validity && input.validity.badInput) problems.push([key, 'Enter a number.']);
          else problems.push([key, 'Required.']);
        } else spec[key] = Number(raw);
      }
    }
    const kind = controls['lr_schedule.kind'].value;
    const sched = { kind };
    const num = (key) => {
      const raw = controls[key].value.trim();
      if (raw === '') problems.push([key, 'Required.']);
      return Number(raw);
    };
    if (kind === 'step') { sched.every_epochs = num('lr_schedule.every_epochs'); sched.gamma = num('lr_schedule.gamma'); }
    if (kind === 'exponential') sched.gamma = num('lr_schedule.gamma');
    if (kind === 'cosine') sched.min_lr = num('lr_schedule.min_lr');
    spec.lr_schedule = sched;
    if (controls.augment.checked) {
      spec.augment = Object.fromEntries(AUGMENT.map(([k]) => [k, num(`augment.${k}`)]));
    } else spec.augment = null;
    if (strict && problems.length) throw Object.assign(new Error('Fix the marked fields.'), { problems });
    return spec;
  }

  function clearErrors() {
    fill(formError);
    for (const key of Object.keys(FIELDS)) {
      controls[key].removeAttribute('aria-invalid');
      const e = document.getElementById(errIdOf(key));
      if (e) e.textContent = '';
    }
  }
  function showFieldError(field, message) {
    // `augment.max_scale` -> that control; `hidden_layers[1]` -> hidden_layers; else the form.
    let key = String(field || '').replace(/\[\d+\]/g, '');
    while (key && !controls[key]) key = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '';
    if (key === 'lr_schedule') key = 'lr_schedule.kind';
    if (!key) { fill(formError, errorBox(new Error(field ? `${field}: ${message}` : message))); return null; }
    const input = controls[key];
    const holder = input.closest('.field');
    if (holder.hidden) holder.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    document.getElementById(errIdOf(key)).textContent = message;
    return input;
  }

  form.addEventListener('input', () => refresh());
  form.addEventListener('change', () => refresh());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    let spec;
    try {
      spec = readForm(true);
    } catch (e) {
      const first = e.problems.map(([k, m]) => showFieldError(k, m)).find(Boolean);
      fill(formError, errorBox(e));
      if (first) first.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Submitting…';
    try {
      const job = await api.submitJob(spec, ctx.signal);
      location.hash = `#/jobs/${job.id}`;
    } catch (e) {
      if (isAbort(e)) return;
      if (e instanceof ApiError && e.status === 422) {
        const input = showFieldError(e.field, e.message);
        fill(formError, errorBox(new Error(`The server rejected the spec: ${e.field ? `${e.field}: ` : ''}${e.message}`)));
        if (input) input.focus();
      } else fill(formError, errorBox(e, 'Could not submit'));
    } finally {
      submit.disabled = false;
      submit.textContent = 'Start training';
    }
  });

  root.querySelector('#presets').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-preset]');
    if (!btn) return;
    setForm(SINGLE[btn.dataset.preset].spec);
    fill(formError, h('p.ok', { role: 'status' }, `Preset “${SINGLE[btn.dataset.preset].title}” loaded. Review and press Start training.`));
    submit.focus();
  });
  root.querySelector('#comparison-presets').addEventListener('click', async (ev) => {
    const btn = ev.target.closest('button[data-comparison]');
    if (!btn) return;
    const c = COMPARISONS[btn.dataset.comparison];
    for (const b of root.querySelectorAll('button.comparison')) b.disabled = true;
    const ids = [];
    try {
      for (const [i, j] of c.jobs.entries()) {
        fill(comparisonStatus, h('p', { role: 'status' }, `Submitting ${i + 1} of ${c.jobs.length}: ${j.label}…`));
        const job = await api.submitJob(j.spec, ctx.signal);
        ids.push(job.id);
      }
      location.hash = `#/compare?ids=${ids.join(',')}`;
    } catch (e) {
      if (isAbort(e)) return;
      fill(comparisonStatus, errorBox(e, `Submitting “${c.title}” failed after ${ids.length} job(s)`));
      for (const b of root.querySelectorAll('button.comparison')) b.disabled = false;
    }
  });

  // Datasets come from the server (fashion-mnist only when installed).
  setForm({});
  try {
    const datasets = await api.datasets(ctx.signal);
    const sel = controls.dataset;
    const value = sel.value;
    fill(sel, datasets.map((d) => h('option', { value: d.name, disabled: !d.available },
      `${d.name}${d.available ? '' : ' (not installed)'} — ${d.kind}, ${d.train_size} train`)));
    sel.value = value || 'mnist';
    sel.dataset.loaded = 'true';
  } catch (e) {
    if (isAbort(e)) return;
    fill(formError, errorBox(e, 'Could not load the dataset list'));
  }
  refresh();
}

function lookup(obj, path) {
  return path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);
}
