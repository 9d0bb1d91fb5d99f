// first-run.test.mjs — on a fresh server the draw page shows the MNIST demo job's progress
// (queued by --demo-model at start-up) instead of a dead canvas.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, screenshot, go } from './helpers.mjs';

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

  it('shows the demo job progress on the draw page', async () => {
    const { jobs } = await server.api('GET', '/jobs');
    const page = await newPage(browser);
    await go(page, server.url, '#/draw');
    if (!jobs.some((j) => j.spec.dataset === 'mnist')) {
      // Server without --demo-model: the page offers to train one instead.
      await page.waitForSelector('#train-demo');
    } else {
      await page.waitForSelector('#demo-progress', { timeout: 15000 });
      assert.match(await page.textContent('#model-status'), /Training an MNIST model/);
    }
    await screenshot(page, 'desktop-first-run');
    assert.deepEqual(page.errors, []);
    // Leave it running; the server is stopped (and its database removed) in after().
  });
});
