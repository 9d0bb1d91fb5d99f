// presets.test.mjs — every comparison preset, run through the API at reduced size, shows
// the lesson its blurb states. The specs are the page's own (imported from presets.js), only
// shrunk (fewer samples and epochs), so a retuned preset is checked as it ships.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, trainJob } from './helpers.mjs';
import { COMPARISONS } from '../../static/js/presets.js';

/** Runs a preset's jobs with `over` applied to each spec; each job's last epoch row by label. */
async function runPreset(server, key, over) {
  const out = {};
  for (const { label, spec } of COMPARISONS[key].jobs) {
    const job = await trainJob(server, { ...spec, ...over }, 300000);
    const rows = (await server.api('GET', `/jobs/${job.id}/metrics`)).epochs;
    out[label] = { job, rows, last: rows[rows.length - 1] };
  }
  return out;
}

describe('the comparison presets show their lessons', () => {
  let server;
  before(async () => { server = await startServer({ demoModel: false }); });
  after(async () => { if (server) await server.stop(); });

  it('optimizers: plain SGD keeps the highest training loss', async () => {
    const r = await runPreset(server, 'optimizers', { train_samples: 3000, epochs: 2 });
    const losses = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.last.train_loss]));
    for (const other of ['momentum', 'adagrad', 'adam']) assert.ok(losses.sgd > losses[other], JSON.stringify(losses));
  });

  it('vanishing gradients: the sigmoid net’s first layer gets at least 20x less gradient than the ReLU net’s', async () => {
    const r = await runPreset(server, 'vanishing', { train_samples: 3000, epochs: 2 });
    const first = (label) => r[label].last.grad_norms[0];
    assert.ok(first('relu') >= 20 * first('sigmoid'), `relu ${first('relu')}, sigmoid ${first('sigmoid')}`);
  });

  it('cross-entropy learns faster than MSE from the same start', async () => {
    const r = await runPreset(server, 'loss', { train_samples: 3000, epochs: 2 });
    assert.ok(r.cross_entropy.rows[0].val_accuracy > r.mse.rows[0].val_accuracy,
      `after epoch 1: ${r.cross_entropy.rows[0].val_accuracy} vs ${r.mse.rows[0].val_accuracy}`);
  });

  it('mini-batches beat full-batch gradient descent per epoch', async () => {
    const r = await runPreset(server, 'batch', { train_samples: 3000, epochs: 3 });
    assert.ok(r['mini-batch 128'].last.val_accuracy > r['full batch'].last.val_accuracy);
  });

  it('batch normalization trains the deep sigmoid net faster', async () => {
    const r = await runPreset(server, 'batchnorm', { train_samples: 3000, epochs: 2 });
    assert.ok(r['batch norm'].last.val_accuracy > r['no batch norm'].last.val_accuracy);
  });

  it('initialization: He and Xavier train, all-zero weights do not', async () => {
    const r = await runPreset(server, 'init', { train_samples: 3000, epochs: 2 });
    for (const good of ['He', 'Xavier']) assert.ok(r[good].last.val_accuracy > r.zeros.last.val_accuracy + 0.2, good);
  });

  it('overfitting: L2 and dropout each narrow the train-test gap', async () => {
    // Half the book's 200 epochs: the plain net has learned its 240 digits by then.
    const r = await runPreset(server, 'overfitting', { epochs: 100 });
    const gap = (label) => r[label].last.eval_train_accuracy - r[label].last.test_accuracy;
    assert.ok(r.plain.last.eval_train_accuracy > 0.95, `plain learns its digits: ${r.plain.last.eval_train_accuracy}`);
    for (const label of ['L2 0.05', 'dropout 0.2']) {
      assert.ok(gap(label) < gap('plain') - 0.03, `${label}: gap ${gap(label)} vs plain ${gap('plain')}`);
    }
  });
});
