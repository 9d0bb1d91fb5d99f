// sweeps.test.mjs — hyperparameter sweeps end to end in headless chromium against the real
// server: a bad space (a range with method grid) and bad JSON show in the form naming the
// field and create nothing; the "learning rate × width, ASHA" preset shows its cost (trials,
// rungs, epoch bound) before it starts, runs to the end, and its page shows a sorted
// leaderboard, completed and stopped trials with the rule in words, one curve per trial
// (stopped ones grey, ending where they stopped), a parallel-coordinates chart and "what
// matters most"; the random-search preset and "edit as a new sweep" fill the form; a long
// sweep typed into the form is cancelled from its page and its polling stops; the pages
// read well at phone width; no console errors anywhere.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, screenshot, go, waitFor } from './helpers.mjs';

// Long enough (about a minute a trial) to be cancelled while it runs.
const LONG_BASE = { dataset: 'spiral', hidden_layers: [256, 256], epochs: 1000, batch_size: 1, validation_split: 0.2, optimizer: 'sgd' };

describe('hyperparameter sweeps', () => {
  let server, browser, page, sweepId, longId;

  before(async () => {
    server = await startServer({ demoModel: false });
    browser = await launchBrowser();
    page = await newPage(browser);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const noErrors = () => assert.deepEqual(page.errors, [], 'no console errors or uncaught exceptions');
  const previewReady = (p = page) => p.waitForSelector('#sweep-preview[data-trials]:not([data-trials=""])', { timeout: 15000 });
  const sweepIdInUrl = () => waitFor(() => {
    const m = page.url().match(/#\/sweeps\/([\w-]+)$/);
    return m && m[1];
  }, { what: 'the sweep page to open' });

  it('shows a bad space in the form, naming the field, and creates nothing', async () => {
    await go(page, server.url, '#/sweeps');
    assert.equal(await page.getAttribute('#nav a[data-route="sweeps"]', 'aria-current'), 'page');
    await previewReady();
    assert.match(await page.textContent('#sweeps-table'), /No sweeps yet/);
    page.allowed = [/status of 422/];

    // A range on a grid: the server refuses it (422) and names space.learning_rate.
    const lrRow = page.locator('.space-row', { has: page.locator('input.space-field[value="learning_rate"]') });
    await lrRow.locator('select.space-kind').selectOption('uniform');
    await lrRow.locator('input.space-values').fill('0.01, 1');
    await page.waitForSelector('#sweep-form-error[data-field="space.learning_rate"]');
    assert.match(await page.textContent('#sweep-form-error'), /space\.learning_rate.*grid takes only `values`/);
    assert.equal(await lrRow.getAttribute('class'), 'space-row invalid', 'the row it names is marked');
    assert.equal(await lrRow.locator('input.space-values').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getAttribute('#sweep-preview', 'data-trials'), '', 'no cost for a refused sweep');
    await screenshot(page, 'desktop-sweeps-form-error');
    await page.click('#sweep-submit');
    await page.waitForSelector('#sweep-form-error[data-field="space.learning_rate"] .error');
    assert.ok(page.url().endsWith('#/sweeps'), 'stays on the form');

    // Bad JSON in the base: caught in the page, naming base.
    await page.fill('#sw-base', '{"dataset": "circle",');
    await page.waitForSelector('#sweep-form-error[data-field="base"]');
    assert.equal(await page.getAttribute('#sw-base', 'aria-invalid'), 'true');
    await page.click('#sweep-submit');
    assert.ok(page.url().endsWith('#/sweeps'));

    // A val_* metric without a validation split: the API names the metric.
    await page.click('button.sweep-preset[data-preset="lr-width-asha"]');
    await previewReady();
    await page.fill('#sw-base', '{"dataset": "circle", "epochs": 3, "validation_split": 0}');
    await page.waitForSelector('#sweep-form-error[data-field="metric"]');
    assert.equal(await page.getAttribute('#sw-metric', 'aria-invalid'), 'true');
    assert.match(await page.textContent('#sweep-form-error'), /validation split/);

    assert.deepEqual((await server.api('GET', '/sweeps')).sweeps, [], 'no sweep was created');
    assert.deepEqual((await server.api('GET', '/jobs')).jobs, [], 'no job was queued');
    page.allowed = [];
    noErrors();
  });

  it('runs the ASHA preset from the form: cost first, then leaderboard, trials, curves and charts', async () => {
    await go(page, server.url, '#/sweeps');
    await page.click('button.sweep-preset[data-preset="lr-width-asha"]');
    assert.match(await page.inputValue('#sw-base'), /"dataset": "circle"/);
    assert.match(await page.inputValue('#sw-base'), /"epochs": 9/);
    assert.equal(await page.inputValue('#sw-method'), 'grid');
    assert.equal(await page.inputValue('#sw-es'), 'asha');
    assert.equal(await page.inputValue('#sw-grace'), '1');
    assert.equal(await page.inputValue('#sw-rf'), '3');
    assert.equal(await page.isVisible('#sw-trials'), false, 'no trial count for a grid');
    assert.equal(await page.isVisible('#sw-min-trials'), false, 'no min_trials for ASHA');
    assert.equal(await page.$$eval('#sw-space .space-row', (r) => r.length), 2);

    // The cost before anything runs: 3 x 2 trials; rungs at epochs 1, 3 and 9.
    await previewReady();
    assert.equal(await page.getAttribute('#sweep-preview', 'data-trials'), '6');
    const bound = Number(await page.getAttribute('#sweep-preview', 'data-max-epochs'));
    assert.ok(bound > 6 && bound < 6 * 9, `ASHA bounds the epochs below a full grid (${bound})`);
    assert.equal(await page.getAttribute('#sweep-preview', 'data-exact'), 'false');
    const text = await page.textContent('#sweep-preview');
    assert.match(text, /6 trials/);
    assert.ok(text.includes(`at most ${bound} epochs`), text);
    assert.match(text, /without early stopping: 54/);
    const rungs = await page.$$eval('#sweep-preview table.rungs tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => Number(c.textContent))));
    assert.deepEqual(rungs.map((r) => r[0]), [1, 3, 9], 'rungs at grace × rf^k and the last epoch');
    assert.equal(rungs[0][1], 6);
    assert.equal(await page.textContent('#sweep-form-error'), '');
    await screenshot(page, 'desktop-sweeps-form');

    await page.click('#sweep-submit');
    sweepId = await sweepIdInUrl();
    await page.waitForSelector('#sweep-status[data-status="succeeded"]', { timeout: 120000 });
    const sweep = await server.api('GET', `/sweeps/${sweepId}`);
    assert.equal(sweep.trials.length, 6);
    assert.equal(await page.textContent('#view-title'), 'learning rate × width (circle)');
    await waitFor(async () => Number(await page.getAttribute('#sweep-epochs', 'data-epochs')) === sweep.epochs_trained,
      { what: 'the epochs trained' });
    assert.match(await page.textContent('#sweep-epochs'), new RegExp(`${sweep.epochs_trained} epochs trained`));
    assert.equal(await page.$('#cancel-sweep'), null, 'no cancel button once it ended');

    // The leaderboard: every configuration, best (highest accuracy) first.
    const board = await page.$$eval('#sweep-leaderboard tr[data-config]', (trs) => trs.map((tr) => ({ config: Number(tr.dataset.config), value: Number(tr.dataset.value) })));
    assert.equal(board.length, 6);
    for (let i = 1; i < board.length; i++) assert.ok(board[i - 1].value >= board[i].value, `sorted best first: ${JSON.stringify(board)}`);
    assert.deepEqual(board.map((r) => r.config), sweep.leaderboard.map((r) => r.config), 'the API’s order');
    assert.ok(await page.$eval('#sweep-leaderboard tr[data-config]', (tr) => tr.classList.contains('best')));
    assert.match(await page.textContent('#sweep-leaderboard thead'), /validation accuracy.*hidden_layers.*learning_rate/);

    // The trials: some completed, some stopped by ASHA with the rule in words (and as title).
    const trials = await page.$$eval('#sweep-trials tr[data-job-id]', (trs) => trs.map((tr) => ({
      id: tr.dataset.jobId, state: tr.dataset.state, title: tr.getAttribute('title'),
      rule: tr.querySelector('td.rule').textContent, visible: tr.querySelector('td.rule').offsetParent !== null,
    })));
    assert.equal(trials.length, 6);
    const states = trials.map((t) => t.state);
    assert.ok(states.includes('completed'), `a completed trial: ${states}`);
    assert.ok(states.includes('stopped'), `a stopped trial: ${states}`);
    for (const t of trials.filter((x) => x.state === 'stopped')) {
      // Either it missed the top third, or its place had gone to an earlier promotion.
      for (const part of [/^asha: /, /top 1\/3/, /at epoch \d+/]) assert.match(t.rule, part, `the rule in words: ${t.rule}`);
      assert.equal(t.title, t.rule, 'the rule is the row’s title');
      assert.ok(t.visible, 'the rule is visible');
    }
    assert.deepEqual(trials.map((t) => t.state), sweep.trials.map((t) => t.state));

    // Every trial's curve: one series each with as many points as the epochs it trained;
    // stopped ones grey with the rule on hover.
    const series = await waitFor(async () => {
      const s = await page.$$eval('#sweep-curves g.series', (gs) => gs.map((g) => ({
        id: g.dataset.jobId, state: g.dataset.state, points: Number(g.querySelector('path').dataset.points),
        stroke: g.querySelector('path').getAttribute('stroke'), title: g.querySelector('title').textContent,
      })));
      return s.length === 6 && s;
    }, { what: 'six curves' });
    for (const t of sweep.trials) {
      const s = series.find((x) => x.id === t.job_id);
      assert.ok(s, `a curve for ${t.job_id}`);
      assert.equal(s.points, t.epochs_trained, `${t.state} trial: its curve ends at epoch ${t.epochs_trained}`);
      if (t.state === 'stopped') {
        assert.equal(s.stroke, '#a3acb9', 'stopped: grey');
        assert.match(s.title, /stopped after epoch \d+\. asha:/);
      } else {
        assert.notEqual(s.stroke, '#a3acb9');
      }
    }

    // Parallel coordinates: an axis per swept field and the metric, a line per trial.
    assert.equal(await page.getAttribute('#sweep-parallel', 'data-lines'), '6');
    assert.equal((await page.$$('#sweep-parallel polyline.pc-line')).length, 6);
    const axisNames = await page.$$eval('#sweep-parallel text.axis-label', (t) => t.map((x) => x.firstChild.nodeValue));
    assert.deepEqual(axisNames, ['hidden_layers', 'learning_rate', 'best val_accuracy']);
    assert.ok(await page.$eval('#sweep-parallel polyline.pc-line', (p) => p.getAttribute('points').split(' ').length === 3));

    // What matters most: both fields, the larger spread of means first.
    const params = await page.$$eval('#sweep-importance .importance-param', (ds) => ds.map((d) => ({
      param: d.dataset.param, spread: Number(d.dataset.spread), bars: d.querySelectorAll('.bar-list li').length,
    })));
    assert.deepEqual(params.map((p) => p.param).sort(), ['hidden_layers', 'learning_rate']);
    assert.ok(params[0].spread >= params[1].spread, `sorted by spread: ${JSON.stringify(params)}`);
    assert.equal(params.find((p) => p.param === 'learning_rate').bars, 3, 'a mean per learning rate');
    assert.equal(params.find((p) => p.param === 'hidden_layers').bars, 2, 'a mean per width');
    await screenshot(page, 'desktop-sweep');

    // The list links to it.
    await go(page, server.url, '#/sweeps');
    await page.waitForSelector(`#sweeps-table tr[data-sweep-id="${sweepId}"][data-status="succeeded"]`);
    assert.equal(await page.getAttribute(`#sweeps-table tr[data-sweep-id="${sweepId}"] a`, 'href'), `#/sweeps/${sweepId}`);
    // The jobs list marks the trials as the sweep's, with a link back.
    const trial = (await server.api('GET', `/sweeps/${sweepId}`)).trials[0];
    await go(page, server.url, '#/jobs');
    const origin = await page.waitForSelector(`#jobs-table tr[data-job-id="${trial.job_id}"] a.sweep-origin`);
    assert.equal(await origin.getAttribute('href'), `#/sweeps/${sweepId}`);
    noErrors();
  });

  it('fills the form from the random-search preset and from a past sweep', async () => {
    await go(page, server.url, '#/sweeps');
    await page.click('button.sweep-preset[data-preset="random-search"]');
    assert.equal(await page.inputValue('#sw-method'), 'random');
    assert.ok(await page.isVisible('#sw-trials'), 'a trial count for random');
    assert.equal(await page.inputValue('#sw-trials'), '12');
    await waitFor(async () => (await page.getAttribute('#sweep-preview', 'data-trials')) === '12', { what: 'the random preview' });
    const kinds = await page.$$eval('#sw-space .space-row', (rows) => rows.map((r) => [r.querySelector('.space-field').value, r.querySelector('.space-kind').value]));
    assert.deepEqual(kinds, [['learning_rate', 'log_uniform'], ['dropout', 'uniform'], ['batch_size', 'int_uniform']]);
    await page.click('button.sweep-preset[data-preset="optimizers-median"]');
    assert.equal(await page.inputValue('#sw-es'), 'median');
    assert.ok(await page.isVisible('#sw-min-trials'));
    assert.equal(await page.isVisible('#sw-rf'), false);
    await waitFor(async () => (await page.getAttribute('#sweep-preview', 'data-trials')) === '5', { what: 'the median preview' });

    // "Edit as a new sweep" starts the form from the finished sweep's request.
    await go(page, server.url, `#/sweeps/${sweepId}`);
    await page.click('#sweep-edit');
    await page.waitForFunction(() => document.getElementById('sw-name') && document.getElementById('sw-name').value.endsWith('(again)'));
    assert.equal(await page.inputValue('#sw-method'), 'grid');
    assert.equal(await page.inputValue('#sw-es'), 'asha');
    await previewReady();
    assert.equal(await page.getAttribute('#sweep-preview', 'data-trials'), '6');
    noErrors();
  });

  it('cancels a long sweep typed into the form from its page, and stops re-reading it', async () => {
    await go(page, server.url, '#/sweeps');
    await previewReady();
    await page.fill('#sw-name', 'long, to cancel');
    await page.fill('#sw-base', JSON.stringify(LONG_BASE));
    const hlRow = page.locator('.space-row', { has: page.locator('input.space-field[value="hidden_layers"]') });
    await hlRow.locator('button.space-remove').click();
    assert.equal(await page.$$eval('#sw-space .space-row', (r) => r.length), 1);
    await page.locator('#sw-space .space-row input.space-values').fill('[0.001, 0.01]');
    await page.selectOption('#sw-es', 'none');
    assert.equal(await page.isVisible('#sw-grace'), false);
    await page.fill('#sw-parallelism', '1');
    // Without early stopping the cost is exact: 2 trials x 1000 epochs.
    await waitFor(async () => (await page.getAttribute('#sweep-preview', 'data-max-epochs')) === '2000', { what: 'the exact cost' });
    assert.equal(await page.getAttribute('#sweep-preview', 'data-exact'), 'true');
    assert.match(await page.textContent('#sweep-preview'), /2 trials, exactly 2000 epochs in all \(exact\)/);
    await page.click('#sweep-submit');
    longId = await sweepIdInUrl();
    const spec = (await server.api('GET', `/sweeps/${longId}`)).spec;
    assert.equal(spec.parallelism, 1);
    assert.equal(spec.early_stopping, null);
    assert.deepEqual(spec.space, { learning_rate: { values: [0.001, 0.01] } });

    // Live: the epochs trained and the curve grow while it runs.
    await page.waitForSelector('#sweep-status[data-status="running"]');
    const first = await waitFor(async () => Number(await page.getAttribute('#sweep-epochs', 'data-epochs')), { what: 'a first epoch' });
    await waitFor(async () => Number(await page.getAttribute('#sweep-epochs', 'data-epochs')) > first, { ms: 30000, what: 'more epochs' });
    await waitFor(() => page.$eval('#sweep-curves path[data-points]', (p) => Number(p.dataset.points) > 1), { what: 'a growing curve' });
    assert.equal(await page.$eval('#sweep-trials tr[data-job-id]:nth-child(2)', (tr) => tr.dataset.state), 'queued', 'parallelism 1: the second waits');
    await screenshot(page, 'desktop-sweep-running');

    await page.click('#cancel-sweep');
    await page.waitForSelector('#sweep-status[data-status="cancelled"]', { timeout: 30000 });
    await waitFor(async () => (await page.$('#cancel-sweep')) === null, { what: 'the cancel button to go' });
    const after = await server.api('GET', `/sweeps/${longId}`);
    assert.equal(after.status, 'cancelled');
    assert.ok(after.trials.every((t) => t.state === 'cancelled'), `every trial cancelled: ${after.trials.map((t) => t.state)}`);
    await waitFor(async () => (await page.$$eval('#sweep-trials tr[data-state="cancelled"]', (t) => t.length)) === 2, { what: 'both trials cancelled' });

    // Ended: the page no longer polls the sweep.
    let reads = 0;
    const count = (req) => { if (req.url().includes(`/api/v1/sweeps/${longId}`)) reads++; };
    await new Promise((r) => setTimeout(r, 2500));
    page.on('request', count);
    await new Promise((r) => setTimeout(r, 4500));
    page.off('request', count);
    assert.equal(reads, 0, 'no re-reads of an ended sweep');
    noErrors();
  });

  it('says so for a sweep that does not exist', async () => {
    page.allowed = [/status of 404/];
    await go(page, server.url, '#/sweeps/no-such-sweep');
    await waitFor(async () => /No such sweep/.test(await page.textContent('#view')), { what: 'the not-found message' });
    page.allowed = [];
    noErrors();
  });

  it('reads well at phone width', async () => {
    const phone = await newPage(browser, { width: 390, height: 844 });
    for (const [name, hash, ready] of [
      ['sweeps', '#/sweeps', '#sweep-preview[data-trials="6"]'],
      ['sweep', `#/sweeps/${sweepId}`, '#sweep-parallel polyline'],
      ['sweep-cancelled', `#/sweeps/${longId}`, '#sweep-status[data-status="cancelled"]'],
    ]) {
      await go(phone, server.url, hash);
      await phone.waitForSelector(ready, { timeout: 30000, state: 'attached' });
      await screenshot(phone, `phone-${name}`);
      const width = await phone.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
      assert.ok(width <= 391, `${name}: no horizontal scrolling at 390 px (page is ${width} px wide)`);
    }
    assert.deepEqual(phone.errors, []);
    await phone.context().close();
  });

  it('logged no console error on any view', () => noErrors());
});
