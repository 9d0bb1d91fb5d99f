// ui.test.mjs — the web page end to end in headless chromium against the real server:
// drawing gets a prediction, a preset trains to success with curves drawn, a form error
// shows next to its field, a comparison preset opens the overlay, the perceptron playground
// shows the AND table, the job page shows the MNIST evaluation; no console errors anywhere;
// screenshots of every view at desktop and phone width go to artifacts/screenshots/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, trainJob, launchBrowser, newPage, screenshot, go, waitFor } from './helpers.mjs';

const SMALL_MNIST = { dataset: 'mnist', hidden_layers: [64], epochs: 2, train_samples: 3000, validation_split: 0.1 };

describe('the nnlab web page', () => {
  let server, browser, page, mnistJob;

  before(async () => {
    server = await startServer({ demoModel: false });
    browser = await launchBrowser();
    mnistJob = await trainJob(server, SMALL_MNIST);
    page = await newPage(browser);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const noErrors = () => assert.deepEqual(page.errors, [], 'no console errors or uncaught exceptions');

  it('predicts a digit drawn with the mouse and shows ten probabilities', async () => {
    await go(page, server.url, '#/draw');
    // The picker is a list of checkboxes (several models side by side); the newest is ticked.
    await waitFor(() => page.$$eval('#model-select input[type="checkbox"]:checked', (b) => b.length > 0), { what: 'a model in the picker' });
    const box = await (await page.$('#draw-canvas')).boundingBox();
    // A "7": a top bar and a slanted stroke down.
    const P = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
    await page.mouse.move(...P(0.3, 0.25));
    await page.mouse.down();
    for (const [fx, fy] of [[0.5, 0.25], [0.7, 0.25], [0.6, 0.45], [0.5, 0.65], [0.45, 0.8]]) {
      await page.mouse.move(...P(fx, fy), { steps: 6 });
    }
    await page.mouse.up();
    const label = await waitFor(async () => {
      const t = (await page.textContent('#predicted-label')).trim();
      return /^\d$/.test(t) && t;
    }, { what: 'a predicted label' });
    const probs = await page.$$eval('#probabilities > *', (els) => els.map((e) => Number(e.dataset.probability)));
    assert.equal(probs.length, 10);
    assert.ok(probs.every((p) => p >= 0 && p <= 1), `probabilities in [0, 1]: ${probs}`);
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-3, 'probabilities sum to 1');
    assert.equal(probs.indexOf(Math.max(...probs)), Number(label), 'the label is the most probable class');
    const inked = await page.$eval('#input-image', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, 28, 28).data;
      let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 20, `the model's 28x28 input shows the digit (${inked} lit pixels)`);
    await screenshot(page, 'desktop-draw');
    await page.click('#clear');
    await waitFor(async () => (await page.textContent('#predicted-label')).trim() === '', { what: 'the label to clear' });
    noErrors();
  });

  it('trains the XOR preset from the form to success with its curves drawn', async () => {
    await go(page, server.url, '#/train');
    await page.click('button[data-preset="xor"]');
    assert.equal(await page.inputValue('#f-dataset'), 'xor');
    await screenshot(page, 'desktop-train');
    await page.click('#submit-job');
    const id = await waitFor(async () => {
      const m = page.url().match(/#\/jobs\/([\w-]+)$/);
      return m && m[1];
    }, { what: 'the job page to open' });
    await page.waitForSelector('#job-status[data-status="succeeded"]', { timeout: 60000 });
    const points = await waitFor(() => page.$eval('#chart-loss path[data-points]', (p) => Number(p.dataset.points)), { what: 'the loss curve' });
    assert.ok(points > 10, `loss curve has many points (${points})`);
    assert.ok(await page.$eval('#chart-loss path[data-points]', (p) => p.getAttribute('d').split('L').length > 10));
    assert.ok(await page.$('#chart-grad-norms path[data-points]'), 'gradient norms drawn');
    await screenshot(page, 'desktop-job-xor');

    await go(page, server.url, '#/jobs');
    await page.waitForSelector(`#jobs-table tr[data-job-id="${id}"][data-status="succeeded"]`);
    await screenshot(page, 'desktop-jobs');
    noErrors();
  });

  it('shows the API validation message next to the field it names', async () => {
    await go(page, server.url, '#/train');
    await page.click('button[data-preset="mlp"]');
    await page.check('#f-augment');
    await page.fill('#f-augment-max_scale', '2');
    page.allowed = [/status of 422/];
    await page.click('#submit-job');
    await page.waitForSelector('#f-augment-max_scale[aria-invalid="true"]');
    const msg = await page.textContent('#err-augment-max_scale');
    assert.ok(msg.trim().length > 0, 'an error message beside augment.max_scale');
    assert.ok(page.url().endsWith('#/train'), 'stays on the form');
    page.allowed = [];
    noErrors();
  });

  it('runs a comparison preset and overlays its jobs on the same axes', async () => {
    await go(page, server.url, '#/train');
    await page.click('button[data-comparison="batchnorm"]');
    await waitFor(() => page.url().includes('#/compare?ids='), { ms: 30000, what: 'the comparison to open' });
    const ids = new URL(page.url()).hash.split('ids=')[1].split(',');
    assert.equal(ids.length, 2);
    await waitFor(async () => (await page.$$('#compare-table [data-job-id] .status-succeeded')).length === 2,
      { ms: 120000, every: 500, what: 'both jobs to succeed' });
    await waitFor(async () => (await page.$$('#compare-val-loss path[data-points]')).length === 2, { what: 'two curves' });
    const legend = await page.$$eval('#compare-val-loss .legend li', (li) => li.map((l) => l.textContent));
    assert.deepEqual(legend, ['no batch_norm', 'batch_norm']);
    // The sampled mini-batch losses per iteration, one curve per job.
    await waitFor(async () => (await page.$$('#compare-steps path[data-points]')).length === 2, { what: 'two step curves' });
    const stepPoints = await page.$$eval('#compare-steps path[data-points]', (ps) => ps.map((p) => Number(p.dataset.points)));
    assert.ok(stepPoints.every((n) => n > 10), `sampled steps: ${stepPoints}`);
    await screenshot(page, 'desktop-compare');
    noErrors();
  });

  it('shows the perceptron AND table, the XOR net, histograms and a decision boundary', async () => {
    await go(page, server.url, '#/lecture');
    await page.click('button.gate-preset[data-gate="OR"]');
    await waitFor(async () => (await page.$$eval('#perceptron-table td.output', (t) => t.map((c) => c.textContent))).join('') === '0111', { what: 'OR table' });
    await page.click('button.gate-preset[data-gate="AND"]');
    assert.equal(await page.inputValue('#perc-w1'), '2');
    assert.equal(await page.inputValue('#perc-w2'), '2');
    assert.equal(await page.inputValue('#perc-b'), '-3');
    const outputs = await waitFor(async () => {
      const o = await page.$$eval('#perceptron-table td.output', (t) => t.map((c) => c.textContent.trim()));
      return o.join('') === '0001' && o;
    }, { what: 'the AND truth table' });
    assert.deepEqual(outputs, ['0', '0', '0', '1']);
    assert.deepEqual(await page.$$eval('#xor-table td.output', (t) => t.map((c) => c.textContent.trim())), ['0', '1', '1', '0']);
    await waitFor(async () => (await page.$$('#act-histograms figure')).length === 5, { what: 'five layer histograms' });
    await page.selectOption('#boundary-dataset', 'circle');
    await page.click('#boundary-train');
    await page.waitForSelector('#boundary-canvas[data-painted="true"]', { timeout: 60000 });
    await screenshot(page, 'desktop-lecture');
    noErrors();
  });

  it('shows the confusion matrix and misclassified digits of a finished MNIST job', async () => {
    await go(page, server.url, `#/jobs/${mnistJob.id}`);
    await page.waitForSelector('#confusion table', { timeout: 30000 });
    const cells = await page.$$eval('#confusion tbody td', (t) => t.length);
    assert.equal(cells, 100);
    assert.ok((await page.$$('#misclassified li')).length > 0, 'some misclassified digits');
    await screenshot(page, 'desktop-job-mnist');
    noErrors();
  });

  it('shows a k-fold job\'s folds with their mean and std, and one curve per fold', async () => {
    const job = await trainJob(server, { dataset: 'circle', hidden_layers: [8], epochs: 3, k_folds: 3, batch_size: 32 });
    const kfold = (await server.api('GET', `/jobs/${job.id}`)).result.kfold;
    await go(page, server.url, `#/jobs/${job.id}`);
    await page.waitForSelector('#kfold-summary tbody tr', { timeout: 30000 });
    assert.deepEqual(await page.$$eval('#kfold-summary tbody tr', (trs) => trs.map((tr) => tr.dataset.fold)), ['1', '2', '3']);
    assert.match(await page.textContent('#kfold-mean'), /±/);
    assert.ok((await page.textContent(`#kfold-summary tr[data-fold="${kfold.best_fold}"]`)).includes('(kept)'));
    const paths = await page.$$eval('#chart-folds path[data-points]', (ps) => ps.map((p) => Number(p.dataset.points)));
    assert.deepEqual(paths, [3, 3, 3], 'three epochs in each of three folds');
    await screenshot(page, 'desktop-job-kfold');
    noErrors();
  });

  it('streams a running job live, shows its ETA, cancels it and closes the stream on leaving', async () => {
    const job = await server.api('POST', '/jobs', { dataset: 'mnist', hidden_layers: [128], epochs: 200, train_samples: 20000 });
    await go(page, server.url, `#/jobs/${job.id}`);
    await waitFor(() => page.$eval('#chart-loss path[data-points]', (p) => Number(p.dataset.points) >= 4).catch(() => false),
      { ms: 120000, every: 200, what: 'live epochs on the loss chart' });
    assert.match(await page.textContent('#job-eta'), /left/);
    const open = await page.evaluate(() => window.__eventSources.filter((es) => es.readyState !== 2).length);
    assert.equal(open, 1, 'one open event stream while the job runs');
    await screenshot(page, 'desktop-job-running');
    // Leave while it runs: the view's stream must close.
    await page.evaluate(() => { location.hash = '#/jobs'; });
    await page.waitForSelector('#jobs-table');
    const stillOpen = await page.evaluate(() => window.__eventSources.filter((es) => es.readyState !== 2).length);
    assert.equal(stillOpen, 0, 'no event stream left open after leaving the job page');
    assert.equal((await server.api('GET', `/jobs/${job.id}`)).status, 'running');
    await page.evaluate((id) => { location.hash = `#/jobs/${id}`; }, job.id);
    await page.click('#cancel-job');
    await page.waitForSelector('#job-status[data-status="cancelled"]', { timeout: 30000 });
    noErrors();
  });

  it('reads well at phone width', async () => {
    const phone = await newPage(browser, { width: 390, height: 844 });
    const jobs = await server.api('GET', '/jobs');
    const ids = jobs.jobs.filter((j) => j.spec.dataset === 'mnist').slice(0, 2).map((j) => j.id);
    for (const [name, hash, ready] of [['draw', '#/draw', '#model-select input[type="checkbox"]'],
      ['train', '#/train', '#f-dataset[data-loaded="true"]'], ['jobs', '#/jobs', '#jobs-table tr[data-job-id]'],
      ['job', `#/jobs/${mnistJob.id}`, '#confusion table'], ['compare', `#/compare?ids=${ids.join(',')}`, '#compare-val-loss path'],
      ['lecture', '#/lecture', '#boundary-canvas[data-painted="true"]']]) {
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
