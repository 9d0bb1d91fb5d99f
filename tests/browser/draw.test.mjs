// draw.test.mjs — the draw page end to end in headless chromium against the real server, with
// two tiny MNIST models: both side by side answer one POST /api/v1/predict whose columns match
// each model's own /predict for the same PNG; the preprocessing switch is sent and changes the
// 28x28 preview; "Save as 7" stores a drawing that the panel lists and deletes; the drawings
// leaderboard matches the API's and Evaluate shows a confusion matrix of every drawing; the
// server's 409 (full) shows beside the button; phone width; no console errors anywhere.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, trainJob, launchBrowser, newPage, screenshot, go, waitFor } from './helpers.mjs';

const TINY = { dataset: 'mnist', hidden_layers: [16], epochs: 1, train_samples: 2000 };

// Strokes in fractions of the canvas: a "7", a "1" and a "0".
const SEVEN = [[[0.3, 0.25], [0.5, 0.25], [0.7, 0.25], [0.6, 0.45], [0.5, 0.65], [0.45, 0.8]]];
const ONE = [[[0.5, 0.2], [0.5, 0.5], [0.5, 0.8]]];
const ZERO = [[[0.5, 0.2], [0.68, 0.3], [0.72, 0.5], [0.68, 0.7], [0.5, 0.8], [0.32, 0.7], [0.28, 0.5], [0.32, 0.3], [0.5, 0.2]]];

/** Draws the strokes with the mouse on #draw-canvas. */
async function draw(page, strokes) {
  // Mouse positions are the viewport's: a click lower down may have scrolled the pad away.
  await page.$eval('#draw-canvas', (c) => c.scrollIntoView({ block: 'center' }));
  const box = await (await page.$('#draw-canvas')).boundingBox();
  const P = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  for (const stroke of strokes) {
    await page.mouse.move(...P(...stroke[0]));
    await page.mouse.down();
    for (const pt of stroke.slice(1)) await page.mouse.move(...P(...pt), { steps: 6 });
    await page.mouse.up();
  }
}

/** Each result column: its model, shown label and ten probabilities. */
const columns = (page) => page.$$eval('#model-results .model-result', (cols) => cols.map((c) => ({
  model: c.dataset.modelId,
  label: c.querySelector('.predicted-label').textContent.trim(),
  probs: [...c.querySelectorAll('.probabilities > li')].map((li) => li.dataset.probability),
})));

/** The preview canvas's 784 grey values (0..255). */
const preview = (page) => page.$eval('#input-image', (c) => {
  const d = c.getContext('2d').getImageData(0, 0, 28, 28).data;
  const out = [];
  for (let i = 0; i < d.length; i += 4) out.push(d[i]);
  return out;
});

const pct = (x) => `${(x * 100).toFixed(1)}%`;

describe('the draw page: several models, preprocessing, saved drawings', () => {
  let server, browser, page, older, newer;
  const predicts = [];   // the page's POST /api/v1/predict requests, in order

  before(async () => {
    server = await startServer({ demoModel: false });
    browser = await launchBrowser();
    const jobA = await trainJob(server, { ...TINY, seed: 1 });
    const jobB = await trainJob(server, { ...TINY, seed: 2 });
    const { models } = await server.api('GET', '/models?dataset=mnist');
    older = models.find((m) => m.job_id === jobA.id);
    newer = models.find((m) => m.job_id === jobB.id);
    assert.ok(older && newer, 'both jobs stored a model');
    page = await newPage(browser);
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/predict') predicts.push(r);
    });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const noErrors = () => assert.deepEqual(page.errors, [], 'no console errors or uncaught exceptions');

  it('shows both models side by side, each column what that model\'s own /predict answers', async () => {
    await go(page, server.url, '#/draw');
    await waitFor(async () => (await page.$$('#model-select input[type="checkbox"]')).length === 2, { what: 'two models in the picker' });
    const ticked = () => page.$$eval('#model-select input[type="checkbox"]:checked', (bs) => bs.map((b) => b.value));
    assert.deepEqual(await ticked(), [newer.id], 'the newest model is ticked by default');
    await page.check(`#model-${older.id}`);
    assert.deepEqual(await ticked(), [newer.id, older.id]);
    assert.equal(await page.$$eval('#model-results .model-result', (c) => c.length), 2, 'one column per ticked model');

    await draw(page, SEVEN);
    // The columns show the answer to the page's latest request (earlier ones are superseded):
    // check them against each model's own route for that request's PNG and preprocessing.
    const answers = new Map();
    const expected = async (req) => {
      if (!answers.has(req)) {
        const body = req.postDataJSON();
        answers.set(req, Promise.all(body.model_ids.map((id) => server.api('POST', `/models/${id}/predict`,
          { png_base64: body.png_base64, preprocess: body.preprocess }))).then((rs) => ({ body, rs })));
      }
      return answers.get(req);
    };
    let body, singles;
    await waitFor(async () => {
      if (!predicts.length) return false;
      ({ body, rs: singles } = await expected(predicts[predicts.length - 1]));
      const cols = await columns(page);
      return cols.length === 2 && cols.every((c, i) => c.label === String(singles[i].predictions[0].label));
    }, { what: 'each column to show its model\'s own prediction' });
    assert.deepEqual(body.model_ids, [newer.id, older.id], 'one request for both models, in the page\'s order');
    assert.equal(body.preprocess, 'mnist', 'MNIST preprocessing by default');
    assert.match(body.png_base64, /^data:image\/png;base64,/);

    const cols = await columns(page);
    cols.forEach((c, i) => {
      assert.equal(c.model, body.model_ids[i]);
      const probs = c.probs.map(Number);
      assert.equal(probs.length, 10, 'ten probabilities');
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-3, 'they sum to 1');
      const own = singles[i].predictions[0].probabilities;
      assert.ok(probs.every((p, d) => Math.abs(p - own[d]) < 1e-5), `column ${i} has the model's own probabilities`);
      assert.equal(probs.indexOf(Math.max(...probs)), Number(c.label), 'the big label is the most probable digit');
    });
    // The first column keeps the page's historical hooks.
    assert.equal((await page.textContent('#predicted-label')).trim(), cols[0].label);
    assert.equal(await page.$$eval('#probabilities > li', (l) => l.length), 10);
    noErrors();
  });

  it('sends preprocess "raw" when switched and shows the different image the models saw', async () => {
    const before = await preview(page);
    assert.ok(before.filter((v) => v > 0).length > 20, 'the MNIST-preprocessed digit is shown');
    const sent = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/predict');
    await page.check('#preprocess-raw');
    const req = await sent;
    assert.equal(req.postDataJSON().preprocess, 'raw');
    const res = await (await req.response()).json();
    const want = res.input_image.flat().map((v) => Math.round(v * 255));
    await waitFor(async () => {
      const now = await preview(page);
      return now.every((v, i) => Math.abs(v - want[i]) <= 1);
    }, { what: 'the preview to show the raw input_image' });
    const after = await preview(page);
    const changed = after.filter((v, i) => Math.abs(v - before[i]) > 8).length;
    assert.ok(changed > 30, `the raw image differs from the MNIST-preprocessed one (${changed} pixels)`);
    await page.check('#preprocess-mnist');
    await waitFor(async () => predicts[predicts.length - 1].postDataJSON().preprocess === 'mnist', { what: 'a request back in MNIST mode' });
    noErrors();
  });

  it('saves the drawing as a 7, lists it in the panel, and deletes it from there', async () => {
    await page.waitForSelector('#drawings-count[data-total="0"]');
    await page.selectOption('#save-label', '7');
    assert.equal((await page.textContent('#save-drawing')).trim(), 'Save as 7');
    await page.click('#save-drawing');
    await page.waitForSelector('#save-status .ok');
    const listed = await server.api('GET', '/drawings');
    assert.equal(listed.total, 1);
    assert.equal(listed.drawings[0].label, 7);
    await page.waitForSelector('#drawings-count[data-total="1"]');
    const thumbs = await page.$$eval('#drawings-list > li', (lis) => lis.map((li) => ({ id: li.dataset.drawingId, label: li.dataset.label })));
    assert.deepEqual(thumbs, [{ id: listed.drawings[0].id, label: '7' }]);
    assert.equal((await page.textContent('#predicted-label')).trim(), '', 'the pad is cleared for the next drawing');
    assert.ok(await page.isDisabled('#save-drawing'), 'nothing to save on an empty pad');

    await page.click(`#drawings-list li[data-drawing-id="${listed.drawings[0].id}"] button.delete-drawing`);
    await page.waitForSelector('#drawings-count[data-total="0"]');
    assert.equal(await page.$$eval('#drawings-list > li', (l) => l.length), 0);
    assert.equal((await server.api('GET', '/drawings')).total, 0);
    noErrors();
  });

  it('ranks both models on the drawings as the API does, and Evaluate shows their confusion matrix', async () => {
    const digits = [[SEVEN, '7'], [ONE, '1'], [ZERO, '0']];
    for (const [n, [strokes, digit]] of digits.entries()) {
      await draw(page, strokes);
      await page.selectOption('#save-label', digit);
      await page.click('#save-drawing');
      await page.waitForSelector(`#drawings-count[data-total="${n + 1}"]`);
    }
    const lb = await server.api('GET', '/drawings/leaderboard');
    assert.equal(lb.drawings, 3);
    assert.deepEqual(new Set(lb.models.map((m) => m.model_id)), new Set([newer.id, older.id]));
    // The table once it has caught up with the third drawing.
    const rows = () => page.$$eval('#drawings-leaderboard tbody tr', (trs) => trs.map((tr) => ({
      model: tr.dataset.modelId, accuracy: tr.dataset.accuracy,
      shown: tr.querySelector('td.accuracy').textContent, test: tr.querySelector('td.test').textContent.trim(),
      gap: tr.querySelector('td.gap').textContent.trim(),
    })));
    await waitFor(async () => (await rows()).length === 2 && (await rows()).every((r) => r.shown.includes('/3)')),
      { what: 'the leaderboard on three drawings' });
    const shown = await rows();
    assert.deepEqual(shown.map((r) => r.model), lb.models.map((m) => m.model_id), 'the API\'s order, best first');
    shown.forEach((r, i) => {
      const m = lb.models[i];
      assert.equal(Number(r.accuracy), m.accuracy);
      assert.ok(r.shown.startsWith(pct(m.accuracy)), `${r.shown} shows ${pct(m.accuracy)}`);
      assert.ok(r.shown.includes(`(${m.correct}/3)`));
      assert.equal(r.test, pct(m.test_accuracy));
      const gap = (m.accuracy - m.test_accuracy) * 100;
      assert.equal(r.gap, `${gap < 0 ? '−' : '+'}${Math.abs(gap).toFixed(1)} pts`);
    });

    const target = lb.models[1];
    await page.click(`#drawings-leaderboard button.evaluate[data-model-id="${target.model_id}"]`);
    await page.waitForSelector(`#drawings-evaluation[data-model-id="${target.model_id}"] #drawings-confusion`);
    const cells = await page.$$eval('#drawings-confusion tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => Number(td.textContent))));
    assert.equal(cells.length, 10);
    assert.ok(cells.every((r) => r.length === 10), 'a 10x10 matrix');
    assert.equal(cells.flat().reduce((a, b) => a + b, 0), 3, 'every drawing counted once');
    const diagonal = cells.reduce((a, r, i) => a + r[i], 0);
    assert.equal(diagonal, target.correct, 'the diagonal holds the leaderboard\'s correct count');
    for (const [, digit] of digits) assert.equal(cells[Number(digit)].reduce((a, b) => a + b, 0), 1, `one true ${digit}`);
    const misread = await page.$$eval('#drawings-misclassified > li', (lis) => lis.map((li) => li.textContent));
    assert.equal(misread.length, 3 - target.correct, 'each misread drawing shown');
    for (const text of misread) assert.match(text, /^\d → \d \(\d+\.\d%\)$/);
    await screenshot(page, 'desktop-draw-drawings');
    noErrors();
  });

  it('reads well at phone width with two models and the drawings panel', async () => {
    const phone = await newPage(browser, { width: 390, height: 844 });
    await go(phone, server.url, '#/draw');
    await phone.waitForSelector('#drawings-leaderboard tbody tr');
    await phone.check(`#model-${older.id}`);
    await draw(phone, ONE);
    await waitFor(async () => (await columns(phone)).every((c) => /^\d$/.test(c.label)), { what: 'two predictions' });
    await phone.click('#drawings-leaderboard button.evaluate');
    await phone.waitForSelector('#drawings-confusion');
    await screenshot(phone, 'phone-draw-drawings');
    const width = await phone.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
    assert.ok(width <= 391, `no horizontal scrolling at 390 px (page is ${width} px wide)`);
    assert.deepEqual(phone.errors, []);
    await phone.context().close();
  });

  it('shows the server\'s refusal beside the button when its drawings are full (409)', async () => {
    const full = await startServer({ demoModel: false, args: ['--max-drawings', '1'] });
    const p = await newPage(browser);
    try {
      await go(p, full.url, '#/draw');
      await p.waitForSelector('#drawings-count[data-total="0"]');
      await draw(p, ONE);
      await p.click('#save-drawing');
      await p.waitForSelector('#drawings-count[data-total="1"]');
      p.allowed = [/status of 409/];
      await draw(p, SEVEN);
      await p.click('#save-drawing');
      const msg = await (await p.waitForSelector('#save-status .error')).textContent();
      assert.match(msg, /^Not saved: .*delete some first/, msg);
      assert.ok(await p.isEnabled('#save-drawing'), 'the drawing is kept to save later');
      assert.equal((await full.api('GET', '/drawings')).total, 1);
      p.allowed = [];
      assert.deepEqual(p.errors, []);
    } finally {
      await p.context().close();
      await full.stop();
    }
  });

  it('logged no console error on the draw page', () => noErrors());
});
