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
    const { jobs } = await server.api('GET', '/jobs');
    const page = await newPage(browser);
    await go(page, server.url, '#/draw');
    if (!jobs.some((j) => j.spec.dataset === 'mnist')) {
      // A server without --demo-model: the page offers to train a model instead.
      await page.waitForSelector('#train-demo');
      await page.click('#train-demo');
    }
    await page.waitForSelector('#demo-progress', { timeout: 15000 });
    assert.match(await page.textContent('#model-status'), /Training an MNIST model/);
    await screenshot(page, 'desktop-first-run');

    // Draw a "1" while it trains.
    const box = await (await page.$('#draw-canvas')).boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.8, { steps: 10 });
    await page.mouse.up();

    await waitFor(async () => (await page.$('#demo-progress')) === null
      && (await page.$eval('#model-select', (s) => s.value !== '' && s.selectedOptions[0].textContent.startsWith('mnist'))),
    { ms: 240000, every: 500, what: 'the page to switch to the demo model' });
    const label = await waitFor(async () => {
      const t = (await page.textContent('#predicted-label')).trim();
      return /^\d$/.test(t) && t;
    }, { what: 'a prediction from the demo model' });
    assert.equal(label, '1', 'the demo model reads a vertical stroke as 1');
    await screenshot(page, 'desktop-first-run-done');
    assert.deepEqual(page.errors, []);
  });
});
