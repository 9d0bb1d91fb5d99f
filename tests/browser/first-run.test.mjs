// first-run.test.mjs — on a fresh server the draw page shows the MNIST demo job's progress
// (queued by --demo-model at start-up) instead of a dead canvas, then switches to the model
// when the job succeeds, and a digit drawn meanwhile gets its prediction.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, screenshot, go, waitFor } from './helpers.mjs';

describe('first run', () => {
  let server, browser;
  before(async () => {
    server = await startServer({ demoModel: true });
    browser = await launchBrowser();
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('shows the demo job progress on the draw page, then predicts with the new model', async () => {
    // The server queued the demo job itself at start-up: nobody clicks anything.
    const { jobs } = await server.api('GET', '/jobs');
    const demo = jobs.filter((j) => j.spec.dataset === 'mnist');
    assert.equal(demo.length, 1, `one demo job queued at start: ${JSON.stringify(jobs.map((j) => j.spec.dataset))}`);
    const page = await newPage(browser);
    await go(page, server.url, '#/draw');
    await page.waitForSelector('#demo-progress', { timeout: 15000 });
    assert.equal(await page.$('#train-demo'), null, 'no "train" button while the demo job runs');
    assert.match(await page.textContent('#model-status'), /Training an MNIST model/);
    await screenshot(page, 'desktop-first-run');

    // Draw a "1" while it trains.
    const box = await (await page.$('#draw-canvas')).boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.8, { steps: 10 });
    await page.mouse.up();

    await waitFor(async () => (await page.$('#demo-progress')) === null
      && (await page.$$('#model-select input[type="checkbox"]:checked')).length === 1,
    { ms: 240000, every: 500, what: 'the page to switch to the demo model' });
    const ticked = await page.$eval('#model-select input[type="checkbox"]:checked', (b) => b.value);
    const { models } = await server.api('GET', '/models?dataset=mnist');
    assert.equal(models.find((m) => m.id === ticked)?.job_id, demo[0].id, 'the demo job\'s MNIST model is ticked');
    const label = await waitFor(async () => {
      const t = (await page.textContent('#predicted-label')).trim();
      return /^\d$/.test(t) && t;
    }, { what: 'a prediction from the demo model' });
    assert.equal(label, '1', 'the demo model reads a vertical stroke as 1');
    await screenshot(page, 'desktop-first-run-done');
    assert.deepEqual(page.errors, []);
    const { jobs: after } = await server.api('GET', '/jobs');
    assert.equal(after.length, 1, 'the page trained nothing of its own');
  });
});
