// forks.test.mjs — "same start, one change" end to end in headless chromium against the real
// server: a job is forked from its page changing the learning rate and the comparison opens
// as a controlled one (badge, spec diff with only that row, pinned baseline with difference
// charts); a fork with two pairs shows the paired intervals; the API's refusals (pairs out
// of range, a bad value, a change of the weight shapes) show in the form; the parent's page
// lists its forks; a k-fold job is not offered the form; the pieces read well at phone width; no console errors anywhere.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, trainJob, launchBrowser, newPage, screenshot, go, waitFor } from './helpers.mjs';

const PARENT = { dataset: 'circle', hidden_layers: [8], epochs: 4, batch_size: 32, seed: 3 };
// Long enough to hold the server's one worker until it is cancelled.
const LONG = { dataset: 'spiral', hidden_layers: [128, 128], epochs: 1000, batch_size: 4 };

describe('forking a job: same start, one change', () => {
  let server, browser, page, parent, child;

  before(async () => {
    server = await startServer({ demoModel: false });
    browser = await launchBrowser();
    parent = await trainJob(server, PARENT);
    page = await newPage(browser);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const noErrors = () => assert.deepEqual(page.errors, [], 'no console errors or uncaught exceptions');
  const visibleSpecRows = () => page.$$eval('#compare-spec-diff tr[data-field]', (rows) =>
    rows.filter((r) => !r.hidden && r.offsetParent !== null).map((r) => r.dataset.field));
  const hashQuery = () => new URLSearchParams(new URL(page.url()).hash.split('?')[1] || '');

  /** Submits a long job and waits until it holds the worker: later jobs stay queued. */
  async function holdWorker() {
    const job = await server.api('POST', '/jobs', LONG);
    await waitFor(async () => (await server.api('GET', `/jobs/${job.id}`)).status === 'running', { what: 'the long job to run' });
    return job;
  }

  async function openForkForm(id) {
    await go(page, server.url, `#/jobs/${id}`);
    await page.waitForSelector('#fork-job');
    await page.click('#fork-job');
    await page.waitForSelector('#fork-form', { state: 'visible' });
  }

  it('forks from the job page and opens a controlled comparison with a pinned baseline', async () => {
    assert.ok(parent.init_sha256, 'the finished parent has stored initial weights');
    await openForkForm(parent.id);
    await page.selectOption('#fork-field', 'learning_rate');
    assert.equal(await page.inputValue('#fork-value'), '0.001', 'prefilled with the parent’s value');
    assert.equal(await page.inputValue('#fork-pairs'), '1');
    await page.selectOption('#fork-field', 'optimizer');
    assert.equal(await page.$eval('#fork-value', (el) => el.tagName), 'SELECT', 'a select for the optimizer');
    assert.equal(await page.inputValue('#fork-value'), 'adam');
    await page.selectOption('#fork-field', 'learning_rate');
    await page.fill('#fork-value', '0.01');
    await screenshot(page, 'desktop-job-fork-form');
    // The child waits in the queue when the comparison opens: it has no start yet.
    const blocker = await holdWorker();
    await page.click('#fork-submit');

    await waitFor(() => page.url().includes('#/compare?ids='), { what: 'the comparison to open' });
    const q = hashQuery();
    const ids = q.get('ids').split(',');
    assert.equal(ids.length, 2);
    assert.equal(ids[0], parent.id);
    assert.equal(q.get('baseline'), parent.id, 'the parent is pinned as the baseline');
    child = ids[1];

    await page.waitForSelector(`#compare-table [data-job-id="${child}"] .status-queued`);
    assert.equal(await page.$('#compare-controlled'), null, 'no badge before the child has its start');
    await server.api('POST', `/jobs/${blocker.id}/cancel`);
    const badge = await page.waitForSelector('#compare-controlled', { timeout: 30000 });
    assert.match(await badge.textContent(), /Controlled comparison: same start, one change \(learning_rate\)/);
    assert.deepEqual(await visibleSpecRows(), ['learning_rate'], '"Only what differs" shows the one changed field');
    assert.ok(await page.$eval('#compare-spec-diff tr[data-field="learning_rate"] td', (td) => td.classList.contains('differs')));
    assert.ok(await page.isChecked('#compare-only-diff'));
    await page.uncheck('#compare-only-diff');
    const all = await visibleSpecRows();
    assert.ok(all.length > 10 && all.includes('learning_rate') && all.includes('hidden_layers'), `every field shown: ${all}`);
    await page.check('#compare-only-diff');
    assert.deepEqual(await visibleSpecRows(), ['learning_rate']);

    await waitFor(async () => (await page.$$('#compare-table [data-job-id] .status-succeeded')).length === 2,
      { ms: 60000, every: 250, what: 'both jobs to succeed' });
    assert.equal(await page.$eval('#compare-table tr.baseline', (tr) => tr.dataset.jobId), parent.id);
    assert.match(await page.textContent('#compare-table tr.baseline'), /baseline/);
    // The child's difference from the parent, one point per epoch, next to the zero line.
    await waitFor(() => page.$$eval('#compare-diff-val-loss path[data-points]', (ps) => ps.map((p) => Number(p.dataset.points)))
      .then((n) => n.length === 2 && n.every((x) => x === PARENT.epochs)), { what: 'the validation-loss difference curve' });
    assert.ok(await page.$('#compare-diff-val-accuracy path[data-points]'), 'the accuracy difference drawn');
    // The fork's paired panel: one pair, so no interval yet.
    await page.waitForSelector('#pairs-table tr[data-metric]');
    assert.match(await page.textContent('#pairs-title'), /Same start, one change: 1 pair/);
    await screenshot(page, 'desktop-compare-fork');

    // Pin the child instead: the URL changes and the differences are taken from it.
    await page.click(`button[data-pin="${child}"]`);
    await waitFor(() => hashQuery().get('baseline') === child, { what: 'the child pinned in the URL' });
    await page.waitForSelector(`#compare-table tr.baseline[data-job-id="${child}"]`);
    await waitFor(() => page.$eval('#compare-diff-charts h2', (h2) => h2.textContent.includes('learning_rate=0.01')),
      { what: 'the difference panel against the child' });
    assert.ok(Number(await page.$eval('#compare-diff-val-loss', (f) => f.dataset.points)) >= PARENT.epochs * 2);
    noErrors();
  });

  it('names the parent and what changed on the child’s page', async () => {
    await go(page, server.url, `#/jobs/${child}`);
    const line = await page.waitForSelector('#job-lineage');
    const text = await line.textContent();
    assert.match(text, /Forked from job/);
    assert.match(text, /changed: learning_rate/);
    assert.equal(await page.getAttribute('#job-lineage a', 'href'), `#/jobs/${parent.id}`);
    assert.equal(await page.getAttribute('#compare-parent', 'href'), `#/compare?ids=${parent.id},${child}&baseline=${parent.id}`);
    noErrors();
  });

  it('forks with two pairs and shows the paired differences with intervals', async () => {
    await openForkForm(parent.id);
    await page.selectOption('#fork-field', 'learning_rate');
    await page.fill('#fork-value', '0.03');
    await page.fill('#fork-pairs', '2');
    await page.click('#fork-submit');
    const id = await waitFor(() => {
      const m = page.url().match(/#\/jobs\/([\w-]+)$/);
      return m && m[1] !== parent.id && m[1];
    }, { what: 'the child’s page to open' });
    await page.waitForSelector('#job-lineage');
    assert.match(await page.textContent('#pairs-title'), /Same start, one change: 2 pairs/);
    // Every job of both pairs finishes; the panel keeps re-reading until then.
    await waitFor(async () => (await page.$$('#pairs-list .status-succeeded')).length === 4,
      { ms: 60000, every: 250, what: 'all four jobs of the pairs to succeed' });
    const rows = await waitFor(async () => {
      const r = await page.$$eval('#pairs-table tr[data-metric]', (trs) => trs.map((tr) => ({ metric: tr.dataset.metric, text: tr.textContent })));
      return r.length === 4 && r.every((x) => x.text.includes('of 2 pairs')) && r;
    }, { what: 'four metric rows over two pairs' });
    assert.deepEqual(rows.map((r) => r.metric), ['val_loss', 'val_accuracy', 'train_loss', 'train_accuracy']);
    assert.ok(rows.every((r) => /improved in \d of 2 pairs/.test(r.text)), 'an "improved in k of n pairs" count per metric');
    assert.ok(rows.every((r) => /interval (contains|excludes) 0|no difference/.test(r.text)), 'a verdict per metric');
    assert.ok(Number(await page.$eval('#pairs-chart', (f) => f.dataset.points)) >= PARENT.epochs * 3, 'mean and interval ends drawn');
    const summary = await server.api('GET', `/jobs/${id}/pairs`);
    assert.equal(summary.pairs.length, 2);
    await screenshot(page, 'desktop-job-pairs');
    noErrors();
  });

  it('reproduces a run when nothing is changed', async () => {
    await openForkForm(parent.id);
    await page.selectOption('#fork-field', '');
    assert.equal(await page.isVisible('#fork-value'), false, 'no value to enter');
    await page.click('#fork-submit');
    await waitFor(() => page.url().includes('#/compare?ids='), { what: 'the comparison to open' });
    const copy = hashQuery().get('ids').split(',')[1];
    await page.waitForSelector('#compare-reproduction', { timeout: 30000 });
    assert.deepEqual(await visibleSpecRows(), [], 'no field differs');
    assert.match(await page.textContent('#compare-spec-diff'), /The specs are identical/);
    await go(page, server.url, `#/jobs/${copy}`);
    assert.match(await page.textContent('#job-lineage'), /changed: nothing: a reproduction/);
    noErrors();
  });

  it('shows the API’s refusal in the form, naming the field', async () => {
    await openForkForm(parent.id);
    const before = (await server.api('GET', '/jobs')).jobs.length;
    page.allowed = [/status of 422/];

    await page.fill('#fork-pairs', '9');
    await page.click('#fork-submit');
    await page.waitForSelector('#fork-pairs[aria-invalid="true"]');
    assert.match(await page.textContent('#fork-error'), /pairs.*1\.\.=8/);

    await page.fill('#fork-pairs', '1');
    await page.selectOption('#fork-field', 'learning_rate');
    await page.fill('#fork-value', '-1');
    await page.click('#fork-submit');
    await waitFor(async () => /learning_rate/.test(await page.textContent('#fork-error')), { what: 'the learning_rate error' });
    assert.equal(await page.getAttribute('#fork-value', 'aria-invalid'), 'true');

    // A change of the weight shapes: the API refuses it and names the field...
    const res = await fetch(`${server.url}/api/v1/jobs/${parent.id}/fork`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ change: { hidden_layers: [4] } }),
    });
    assert.equal(res.status, 422);
    assert.equal((await res.json()).error.field, 'change.hidden_layers');
    // ...and the form (which offers no such value) shows that refusal if sent one anyway, as
    // with an out-of-date option list: maxout multiplies the first layer's weights.
    await page.selectOption('#fork-field', 'activation');
    await page.$eval('#fork-value', (sel) => { sel.append(new Option('maxout', 'maxout')); sel.value = 'maxout'; });
    await page.click('#fork-submit');
    await waitFor(async () => /activation.*weight shapes/.test(await page.textContent('#fork-error')), { what: 'the weight-shape refusal' });
    await screenshot(page, 'desktop-fork-error');
    assert.ok(page.url().endsWith(`#/jobs/${parent.id}`), 'stays on the job page');
    assert.equal((await server.api('GET', '/jobs')).jobs.length, before, 'nothing was queued');
    page.allowed = [];
    noErrors();
  });

  it('lists the parent’s forks on its page, as the API lists them', async () => {
    await go(page, server.url, `#/jobs/${parent.id}`);
    await page.waitForSelector('#job-forks-list li');
    const shown = await page.$$eval('#job-forks-list li', (lis) => lis.map((li) => ({ id: li.dataset.jobId, text: li.textContent })));
    const listed = (await server.api('GET', `/jobs?parent_id=${parent.id}`)).jobs;
    const firsts = listed.filter((j) => j.fork.pair === 0 && j.fork.role === 'child').map((j) => j.id);
    assert.deepEqual(shown.map((s) => s.id), firsts, 'one line per fork, by its first child, newest first');
    assert.ok(firsts.includes(child), 'the one-change fork is there');
    assert.match(shown.find((s) => s.id === child).text, /changed: learning_rate=0\.01/);
    assert.ok(shown.some((s) => /learning_rate=0\.03 · 2 pairs/.test(s.text)), 'the two-pair fork says so');
    assert.match(await page.textContent('#job-forks h2'), new RegExp(`Forks of this job \\(${firsts.length}\\)`));
    await go(page, server.url, `#/jobs/${child}`);
    await page.waitForSelector('#job-lineage');
    assert.equal(await page.$('#job-forks-list'), null, 'a job without forks lists none');
    // The jobs list says which jobs are forks, and of what.
    await go(page, server.url, '#/jobs');
    const origin = await page.waitForSelector(`#jobs-table tr[data-job-id="${child}"] a.fork-origin`);
    assert.equal(await origin.getAttribute('href'), `#/jobs/${parent.id}`);
    assert.equal(await page.$(`#jobs-table tr[data-job-id="${parent.id}"] a.origin`), null, 'the parent is no fork');
    noErrors();
  });

  it('offers no fork for a k-fold job and says why', async () => {
    const kfold = await trainJob(server, { ...PARENT, epochs: 2, k_folds: 2 });
    await go(page, server.url, `#/jobs/${kfold.id}`);
    const why = await page.waitForSelector('#fork-unavailable');
    assert.match(await why.textContent(), /k-fold/);
    assert.equal(await page.$('#fork-form'), null);
    noErrors();
  });

  it('offers the fork form on a queued job’s page once it starts, while it trains', async () => {
    // One worker: the first long job holds it, so the second waits in the queue.
    const first = await holdWorker();
    const queued = await server.api('POST', '/jobs', LONG);
    await go(page, server.url, `#/jobs/${queued.id}`);
    const why = await page.waitForSelector('#fork-unavailable');
    assert.match(await why.textContent(), /once it starts/);
    await server.api('POST', `/jobs/${first.id}/cancel`);
    await page.waitForSelector('#fork-job', { timeout: 30000 });
    assert.equal(await page.getAttribute('#job-status', 'data-status'), 'running', 'forkable while it still trains');
    await server.api('POST', `/jobs/${queued.id}/cancel`);
    await page.waitForSelector('#job-status[data-status="cancelled"]', { timeout: 30000 });
    noErrors();
  });

  it('reads well at phone width', async () => {
    const phone = await newPage(browser, { width: 390, height: 844 });
    for (const [name, hash, ready, open] of [
      ['job-fork', `#/jobs/${parent.id}`, '#fork-job', '#fork-job'],
      ['job-pairs', `#/jobs/${child}`, '#pairs-table tr[data-metric]'],
      ['compare-fork', `#/compare?ids=${parent.id},${child}&baseline=${parent.id}`, '#compare-diff-val-loss path'],
    ]) {
      await go(phone, server.url, hash);
      await phone.waitForSelector(ready, { timeout: 30000, state: 'attached' });
      if (open) await phone.click(open);
      await screenshot(phone, `phone-${name}`);
      const width = await phone.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
      assert.ok(width <= 391, `${name}: no horizontal scrolling at 390 px (page is ${width} px wide)`);
    }
    assert.deepEqual(phone.errors, []);
    await phone.context().close();
  });

  it('logged no console error on any view', () => noErrors());
});
