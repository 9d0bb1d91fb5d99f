// sweeps-form.js — what the new-sweep form reads and writes, without the DOM: the kinds of
// space entry and the fields offered, the presets on the toy sets, and the conversions
// between a sweep request and the form's text (a base JobSpec as JSON, a space entry as a
// list or a range) with the errors that name the entry at fault. The form itself is in
// sweeps.js.

export const KINDS = [['values', 'values'], ['uniform', 'uniform'], ['log_uniform', 'log-uniform'], ['int_uniform', 'integer uniform']];
// Offered in the field-name list; any JobSpec field but seed, epochs and k_folds may be typed.
export const SWEEPABLE = ['learning_rate', 'hidden_layers', 'optimizer', 'batch_size', 'dropout', 'l1', 'l2', 'activation',
  'activation_alpha', 'init', 'init_std', 'batch_norm', 'loss', 'lr_schedule', 'validation_split', 'train_samples',
  'maxout_pieces', 'augment', 'dataset'];

// ---------------------------------------------------------------------------------------
// Presets: sweep requests on the toy sets, small enough to finish in seconds.

const CIRCLE = { dataset: 'circle', hidden_layers: [16], epochs: 9, batch_size: 32, validation_split: 0.2, optimizer: 'sgd' };

export const SWEEP_PRESETS = {
  'lr-width-asha': {
    title: 'Learning rate × width, ASHA',
    about: 'Circles, plain SGD: 3 learning rates × 2 widths on a grid. ASHA lets the top third go on at epochs 1 and 3.',
    request: {
      name: 'learning rate × width (circle)', base: CIRCLE, method: 'grid', seeds: 1, metric: 'val_accuracy', goal: null,
      space: { learning_rate: { values: [0.01, 0.1, 1] }, hidden_layers: { values: [[4], [32]] } },
      early_stopping: { kind: 'asha', grace_epochs: 1, reduction_factor: 3 }, parallelism: 2,
    },
  },
  'optimizers-median': {
    title: 'Optimizers, median rule',
    about: 'Two spirals: five optimizers at one learning rate. From epoch 2 the median rule stops a run behind the median of the others.',
    request: {
      name: 'optimizers (spiral)', method: 'grid', seeds: 1, metric: 'val_loss', goal: null, parallelism: 2,
      base: { dataset: 'spiral', hidden_layers: [32, 32], epochs: 15, batch_size: 16, validation_split: 0.2, learning_rate: 0.01 },
      space: { optimizer: { values: ['sgd', 'momentum', 'rmsprop', 'adam', 'adagrad'] } },
      early_stopping: { kind: 'median', grace_epochs: 2, min_trials: 3 },
    },
  },
  'random-search': {
    title: 'Random search, 12 draws',
    about: 'Circles: learning rate drawn log-uniformly, dropout uniformly, batch size as an integer. ASHA halves the field at each rung.',
    request: {
      name: 'random search (circle)', method: 'random', trials: 12, seeds: 1, metric: 'val_accuracy', goal: null, parallelism: 2,
      base: { dataset: 'circle', hidden_layers: [32], epochs: 8, batch_size: 32, validation_split: 0.2, optimizer: 'momentum' },
      space: { learning_rate: { log_uniform: [0.001, 1] }, dropout: { uniform: [0, 0.5] }, batch_size: { int_uniform: [8, 64] } },
      early_stopping: { kind: 'asha', grace_epochs: 1, reduction_factor: 2 },
    },
  },
};

/** A base JobSpec as JSON, one field a line. */
export function baseText(base) {
  const entries = Object.entries(base || {});
  if (!entries.length) return '{}';
  return `{\n${entries.map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v).replace(/,/g, ', ')}`).join(',\n')}\n}`;
}

/** A space entry's text in the editor: a JSON list for values, "low, high" for ranges. */
export function domainText(kind, arg) {
  if (kind === 'values') return `[${arg.map((v) => JSON.stringify(v).replace(/,/g, ', ')).join(', ')}]`;
  return `${arg[0]}, ${arg[1]}`;
}

/** Why an entry of the form cannot be sent; `field` names it as the API would. */
export const formError = (field, message, extra = {}) => Object.assign(new Error(message), { field, ...extra });

/** Parses a space entry: values as a JSON list (brackets optional, bare words as strings). */
export function parseDomain(kind, raw, field) {
  if (kind === 'values') {
    const attempts = [() => JSON.parse(raw), () => JSON.parse(`[${raw}]`),
      () => raw.replace(/^\[|\]$/g, '').split(',').map((x) => x.trim()).filter(Boolean)
        .map((x) => { try { return JSON.parse(x); } catch { return x; } })];
    for (const attempt of attempts) {
      try {
        const v = attempt();
        if (Array.isArray(v) && v.length) return v;
      } catch { /* the next reading */ }
    }
    throw formError(`space.${field}`, 'values takes a JSON list, e.g. [0.01, 0.1] or [[64], [128, 64]] or ["sgd", "adam"]');
  }
  const nums = raw.replace(/[[\]]/g, ' ').split(/[\s,;]+/).filter(Boolean).map(Number);
  if (nums.length !== 2 || !nums.every(Number.isFinite)) {
    throw formError(`space.${field}`, `${kind} takes two numbers: low, high`);
  }
  return nums;
}
