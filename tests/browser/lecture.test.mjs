// lecture.test.mjs — the lecture corner's widgets on a real server: backprop on a
// computational graph stepped gate by gate (the deck's numbers), the optimizers' paths over
// contours (and animated), the activation plotter with sigmoid's 1/4 line, XOR in the
// hidden space, the augmentation preview (checked when the server has the endpoint);
// screenshots at desktop and phone width; no console errors but the expected 422s.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launchBrowser, newPage, screenshot, go, waitFor, SHOTS } from './helpers.mjs';

const shoot = (page, selector, name) => page.locator(selector).screenshot({ path: join(SHOTS, `${name}.png`) });

describe('the lecture corner widgets', () => {
  let server, browser, page;

  before(async () => {
    server = await startServer({ demoModel: false });
    browser = await launchBrowser();
    page = await newPage(browser);
    await go(page, server.url, '#/lecture');
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const noErrors = () => assert.deepEqual(page.errors, [], 'no console errors or uncaught exceptions');
  /** {op: [value, grad, revealed]} of the graph's variable nodes. */
  const variables = () => page.$$eval('#graph-svg g.graph-node[data-kind="variable"]', (gs) => Object.fromEntries(gs.map((g) =>
    [g.dataset.op, [Number(g.dataset.value), g.querySelector('.node-grad').textContent.trim(), g.dataset.revealed === 'true']])));
  const output = () => page.$eval('#graph-output', (o) => Number(o.dataset.output)).catch(() => NaN);
  async function preset(key, expected) {
    await page.click(`button.graph-preset[data-preset="${key}"]`);
    // Its own answer, not the graph shown before (the first preset is also the default).
    await waitFor(async () => !(await page.$('#graph-widget[data-busy]')) && Math.abs((await output()) - expected) < 1e-9,
      { what: `the ${key} graph (output ${expected})` });
  }
  async function stepAll() {
    let steps = 0;
    while (!(await page.$eval('#graph-step', (b) => b.disabled))) {
      await page.click('#graph-step');
      steps++;
      assert.ok(steps < 50, 'the backward pass ends');
    }
    return steps;
  }

  it('steps the gradient of (x+y)*z back gate by gate to -4, -4, 3', async () => {
    await preset('add-mul', -12);
    assert.deepEqual(await page.$$eval('#graph-values input[data-var]', (is) => is.map((i) => [i.dataset.var, i.value])),
      [['x', '-2'], ['y', '5'], ['z', '-4']]);
    assert.equal(await page.$$eval('#graph-svg g.graph-node', (g) => g.length), 5);
    assert.equal(await page.$$eval('#graph-svg g.edge', (g) => g.length), 4);
    // Forward only: values, no gradients yet.
    let v = await variables();
    assert.deepEqual(Object.values(v).map((n) => n[2]), [false, false, false]);
    assert.deepEqual(Object.fromEntries(Object.entries(v).map(([k, n]) => [k, n[0]])), { x: -2, y: 5, z: -4 });
    // Step 1 seeds the output with 1; step 2 runs the * gate (z and the + node get theirs);
    // step 3 runs the + gate (x and y).
    await page.click('#graph-step');
    assert.equal(await page.$eval('#graph-svg g.graph-node.output', (g) => g.querySelector('.node-grad').textContent), '1');
    await page.click('#graph-step');
    v = await variables();
    assert.deepEqual([v.x[2], v.y[2], v.z[2]], [false, false, true], 'after the * gate only z is known');
    assert.equal(v.z[1], '3');
    assert.equal(await page.$eval('#graph-svg g.graph-node[data-op="+"]', (g) => g.querySelector('.node-grad').textContent), '-4');
    assert.match(await page.textContent('#graph-caption'), /multiply switches/);
    assert.equal(await stepAll(), 1, 'three steps in all');
    v = await variables();
    assert.deepEqual(Object.fromEntries(Object.entries(v).map(([k, n]) => [k, [n[1], n[2]]])),
      { x: ['-4', true], y: ['-4', true], z: ['3', true] });
    assert.deepEqual(await page.$$eval('#graph-svg g.graph-node[data-kind="variable"]', (gs) => gs.map((g) => Number(g.dataset.grad))), [-4, -4, 3]);
    assert.equal(await page.$$eval('#graph-svg g.edge.flowed .edge-grad', (t) => t.length), 4, 'every edge shows what flowed back');
    await shoot(page, '#graph-widget', 'desktop-lecture-graph');

    // A new value re-requests: (1 + 5) * -4 = -24, and d/dx stays z = -4.
    await page.fill('#graph-values input[data-var="x"]', '1');
    await waitFor(async () => (await output()) === -24, { what: 'the output for x = 1' });
    v = await variables();
    assert.deepEqual([v.x[0], v.x[1], v.y[1], v.z[1]], [1, '-4', '-4', '6'], 'gradients still shown, z’s now x + y = 6');

    await page.click('#graph-reset');
    assert.deepEqual(Object.values(await variables()).map((n) => n[2]), [false, false, false], 'reset hides the gradients');
    noErrors();
  });

  it('shows the deck’s add/max/multiply example and the sigmoid neuron', async () => {
    await preset('gates', -20);
    assert.equal(await stepAll(), 5, 'output seed + four gates');
    let v = await variables();
    assert.deepEqual(Object.fromEntries(Object.entries(v).map(([k, n]) => [k, n[1]])), { x: '-8', y: '6', z: '2', w: '0' });
    assert.match(await page.textContent('#graph-caption'), /Done/);

    await preset('neuron', 0.7310585786300049);
    await stepAll();
    const grads = await page.$$eval('#graph-svg g.graph-node[data-kind="variable"]', (gs) => Object.fromEntries(gs.map((g) => [g.dataset.op, Number(g.dataset.grad)])));
    const want = { w0: -0.1966, x0: 0.3932, w1: -0.3932, x1: -0.5898, w2: 0.1966 };
    for (const [k, g] of Object.entries(want)) assert.ok(Math.abs(grads[k] - g) < 1e-3, `d/d${k} = ${grads[k]}, want ${g}`);
    assert.equal(await page.$eval('#graph-svg g.graph-node[data-op="w2"] .node-grad', (t) => t.textContent), '0.197');
    v = await variables();
    assert.equal(Object.keys(v).length, 5);
    noErrors();
  });

  it('shows a bad expression’s 422 in #graph-error, naming the position or the name', async () => {
    page.allowed = [/status of 422/];
    await page.fill('#graph-expression', '(x+*y');
    const msg = await waitFor(async () => {
      const t = (await page.textContent('#graph-error')).trim();
      return t.includes('position') && t;
    }, { what: 'the expression error' });
    assert.match(msg, /unexpected '\*' \(at position 3\)/);
    assert.equal(await page.getAttribute('#graph-expression', 'aria-invalid'), 'true');
    assert.ok(await page.$('.graph-scroll.stale'), 'the last good graph is dimmed');

    await page.fill('#graph-expression', 'foo(x) + y');
    await waitFor(async () => (await page.textContent('#graph-error')).includes("'foo'"), { what: 'the unknown-function error' });
    assert.deepEqual(await page.$$eval('#graph-values input[data-var]', (is) => is.map((i) => i.dataset.var)), ['x', 'y'],
      'value inputs follow the expression’s variables');

    await page.fill('#graph-expression', 'relu(a) * b2');
    await waitFor(async () => (await page.textContent('#graph-error')).trim() === '' && (await output()) === 1, { what: 'the error to clear' });
    assert.deepEqual(await page.$$eval('#graph-values input[data-var]', (is) => is.map((i) => i.dataset.var)), ['a', 'b2']);
    assert.equal(await page.getAttribute('#graph-expression', 'aria-invalid'), null);
    page.allowed = [];
    noErrors();
  });

  it('draws four optimizers’ paths over the bowl’s contours, animates them, redraws for Rosenbrock', async () => {
    await page.waitForSelector('#paths-svg[data-function="bowl"] g.opt-path');
    const paths = await page.$$eval('#paths-svg g.opt-path', (gs) => gs.map((g) =>
      [g.dataset.optimizer, Number(g.dataset.points), g.querySelector('polyline').getAttribute('points').trim().split(/\s+/).length]));
    assert.deepEqual(paths, [['sgd', 31, 31], ['momentum', 31, 31], ['adagrad', 31, 31], ['adam', 31, 31]]);
    assert.ok((await page.$$('#paths-svg path.contour')).length >= 8, 'contour lines under the paths');
    assert.deepEqual(await page.$$eval('#paths-legend li', (li) => li.map((l) => l.dataset.optimizer)), ['sgd', 'momentum', 'adagrad', 'adam']);
    assert.equal(await page.inputValue('input[data-optimizer="sgd"]'), '0.95');
    assert.equal(await page.inputValue('#paths-start-x'), '-7');
    await shoot(page, '#paths-widget', 'desktop-lecture-paths');

    // Animate: the paths restart from the start point and grow back to their 31 points.
    await page.click('#paths-animate');
    const early = await page.$eval('#paths-svg g.opt-path polyline', (l) => l.getAttribute('points').trim().split(/\s+/).length);
    assert.ok(early < 31, `the animation starts from the start (${early} points)`);
    assert.equal(await page.$eval('.paths-plot', (p) => p.dataset.animating), 'true');
    await page.waitForFunction(() => document.querySelector('.paths-plot').dataset.animating === 'false', null, { timeout: 15000 });
    assert.equal(await page.$eval('#paths-svg g.opt-path polyline', (l) => l.getAttribute('points').trim().split(/\s+/).length), 31);

    // Ticking one more optimizer adds its path.
    await page.check('input[data-include="nadam"]');
    await waitFor(async () => (await page.$$('#paths-svg g.opt-path')).length === 5, { what: 'the nadam path' });

    await page.selectOption('#paths-function', 'rosenbrock');
    await page.waitForSelector('#paths-svg[data-function="rosenbrock"]');
    const rosen = await page.$$eval('#paths-svg g.opt-path', (gs) => gs.map((g) => [g.dataset.optimizer, Number(g.dataset.points)]));
    assert.deepEqual(rosen, [['sgd', 501], ['momentum', 501], ['rmsprop', 501], ['adam', 501]], 'Rosenbrock’s defaults');
    assert.ok((await page.$$('#paths-svg path.contour')).length >= 8);
    assert.match(await page.textContent('#paths-note'), /minimum/);
    noErrors();
  });

  it('draws a custom expression without contours, shows a stopped path and a 422', async () => {
    await page.selectOption('#paths-function', 'custom');
    assert.equal(await page.inputValue('#paths-expression'), '(1-x)^2 + 100*(y-x^2)^2', 'custom starts from the function shown');
    await page.fill('#paths-start-x', '1');
    await page.fill('#paths-start-y', '1');
    await page.fill('#paths-steps', '10');
    await page.fill('input[data-optimizer="sgd"]', '5');
    await page.fill('#paths-expression', 'log(x) + y^2');
    await waitFor(async () => (await page.$$('#paths-legend li.stopped')).length === 1, { what: 'the stopped sgd path' });
    assert.match(await page.textContent('#paths-legend li.stopped'), /stopped after step 1/);
    assert.equal(await page.$eval('#paths-svg', (s) => s.dataset.function), 'custom');
    assert.equal((await page.$$('#paths-svg path.contour')).length, 0);
    assert.match(await page.textContent('#paths-note'), /No contours for a custom expression/);

    page.allowed = [/status of 422/];
    await page.fill('#paths-expression', 'x^2 + z');
    await waitFor(async () => (await page.textContent('#paths-error')).includes("'z'"), { what: 'the unknown variable error' });
    assert.equal(await page.getAttribute('#paths-expression', 'aria-invalid'), 'true');
    page.allowed = [];
    await page.selectOption('#paths-function', 'bowl');
    await page.waitForSelector('#paths-svg[data-function="bowl"]');
    assert.equal((await page.textContent('#paths-error')).trim(), '');
    noErrors();
  });

  it('plots sigmoid and its derivative with the 1/4 line', async () => {
    assert.equal(await page.inputValue('#activation-select'), 'sigmoid');
    const series = await page.$$eval('#activation-chart g.series', (gs) => gs.map((g) => [g.dataset.fn, Number(g.querySelector('path').dataset.points)]));
    assert.deepEqual(series, [['f', 401], ['derivative', 401], ['quarter', 2]]);
    assert.match(await page.textContent('#activation-caption'), /sigmoid′ never exceeds 1\/4, so each sigmoid layer scales the gradient by at most 1\/4: vanishing gradients/);
    // The derivative's peak touches the 1/4 line: same height in the drawing.
    const [peak, quarter] = await page.$$eval('#activation-chart g.series path', (ps) => {
      const ys = (p) => [...p.getAttribute('d').matchAll(/[ML][\d.-]+,([\d.-]+)/g)].map((m) => Number(m[1]));
      return [Math.min(...ys(ps[1])), ys(ps[2])[0]];
    });
    assert.ok(Math.abs(peak - quarter) < 0.6, `sigmoid′ peaks at the 1/4 line (${peak} vs ${quarter})`);
    await shoot(page, '#activation-plot', 'desktop-lecture-activation');
    await page.selectOption('#activation-select', 'relu');
    await waitFor(async () => (await page.$$eval('#activation-chart g.series', (gs) => gs.map((g) => g.dataset.fn))).join() === 'f,derivative',
      { what: 'the relu chart' });
    assert.doesNotMatch(await page.textContent('#activation-caption'), /1\/4/);
    await page.selectOption('#activation-select', 'sigmoid');
    noErrors();
  });

  it('plots XOR’s four inputs in the hidden space with the AND line', async () => {
    await page.waitForSelector('#xor-hidden circle.xor-point');
    const hidden = await page.$$eval('#xor-hidden circle.xor-point', (cs) => cs.map((c) => [c.dataset.input, c.dataset.output]));
    assert.deepEqual(hidden, [['0,0', '0'], ['0,1', '1'], ['1,0', '1'], ['1,1', '0']]);
    assert.equal(await page.$$eval('#xor-input circle.xor-point', (cs) => cs.length), 4);
    assert.ok(await page.$('#xor-hidden line.decision-line'), 'the AND gate’s line in the hidden plane');
    assert.equal(await page.$('#xor-input line.decision-line'), null, 'no line in the input plane');
    // The two ones sit on the AND line's positive side, the zeros on the other: drawn apart.
    const sides = await page.$eval('#xor-hidden svg', (svg) => {
      const l = svg.querySelector('line.decision-line');
      const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => Number(l.getAttribute(a)));
      return [...svg.querySelectorAll('circle.xor-point')].map((c) =>
        [c.dataset.output, Math.sign((x2 - x1) * (Number(c.getAttribute('cy')) - y1) - (y2 - y1) * (Number(c.getAttribute('cx')) - x1))]);
    });
    const ones = new Set(sides.filter(([o]) => o === '1').map(([, s]) => s));
    const zeros = new Set(sides.filter(([o]) => o === '0').map(([, s]) => s));
    assert.equal(ones.size, 1);
    assert.equal(zeros.size, 1);
    assert.notDeepEqual([...ones], [...zeros], 'the line separates the ones from the zeros');
    await shoot(page, '#perceptron', 'desktop-lecture-xor');
    noErrors();
  });

  it('previews augmented digits when the server has the endpoint', async (t) => {
    const res = await fetch(`${server.url}/api/v1/experiments/augment`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ index: 0, count: 1, seed: 0 }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) {
      // The widget says so quietly instead of failing.
      await page.waitForSelector('#aug-unavailable', { state: 'visible' });
      assert.equal(await page.$eval('#augment-preview', (s) => s.dataset.available), 'false');
      console.log(`# POST /api/v1/experiments/augment answers ${res.status}: this server has no augmentation endpoint; checked the "not available" note, skipping the images`);
      noErrors();
      t.skip(`no augment endpoint on this server (status ${res.status})`);
      return;
    }
    await page.waitForSelector('#aug-images canvas');
    assert.equal(await page.$eval('#augment-preview', (s) => s.dataset.available), 'true');
    assert.equal(await page.$$eval('#aug-original canvas', (c) => c.length), 1);
    assert.equal(await page.$$eval('#aug-images canvas', (c) => c.length), 8);
    assert.equal(await page.$$eval('#augment-preview canvas', (c) => c.length), 1 + 8, 'the original and count copies');
    const lit = () => page.$$eval('#augment-preview canvas', (cs) => cs.map((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 64) n++;
      return n;
    }));
    const before = await lit();
    assert.ok(before.every((n) => n > 20), `every image shows a digit (${before})`);
    assert.match(await page.textContent('#aug-original'), /original: \d/);
    const pixels = () => page.$eval('#aug-images canvas', (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join());
    const first = await pixels();
    await page.click('#aug-draw');
    await page.waitForSelector('#aug-images[data-seed="1"]');
    assert.notEqual(await pixels(), first, 'a new draw gives different copies');
    const next = await server.api('POST', '/experiments/augment', { index: 1, count: 1 });
    await page.fill('#aug-index', '1');
    await waitFor(async () => (await page.textContent('#aug-original')).includes(`original: ${next.label}`), { what: 'test image 1' });
    assert.equal(await page.$$eval('#aug-images canvas', (c) => c.length), 8);
    await shoot(page, '#augment-preview', 'desktop-lecture-augment');
    noErrors();
  });

  it('says quietly that a server without the augment endpoint has no preview', async () => {
    // A server from before the endpoint: its OpenAPI document does not list it.
    const old = await newPage(browser);
    await old.route('**/api/v1/openapi.json', async (route) => {
      const res = await route.fetch();
      const doc = await res.json();
      delete doc.paths['/api/v1/experiments/augment'];
      await route.fulfill({ response: res, json: doc });
    });
    let posted = 0;
    old.on('request', (r) => { if (r.url().endsWith('/experiments/augment')) posted++; });
    await go(old, server.url, '#/lecture');
    await old.waitForSelector('#aug-unavailable', { state: 'visible' });
    assert.match(await old.textContent('#aug-unavailable'), /not available on this server/);
    assert.equal(await old.$eval('#augment-preview', (s) => s.dataset.available), 'false');
    assert.equal(await old.$('#aug-error .error'), null, 'a note, not an error');
    assert.equal(posted, 0, 'the page did not call the missing route');
    assert.deepEqual(old.errors, []);
    await old.context().close();
  });

  it('reads well at phone width', async () => {
    await screenshot(page, 'desktop-lecture-widgets');
    const phone = await newPage(browser, { width: 390, height: 844 });
    await go(phone, server.url, '#/lecture');
    for (const sel of ['#graph-svg g.graph-node', '#paths-svg g.opt-path', '#activation-chart g.series', '#xor-hidden circle.xor-point']) {
      await phone.waitForSelector(sel, { timeout: 30000, state: 'attached' });
    }
    await phone.waitForFunction(() => document.querySelector('#aug-images canvas, #aug-unavailable'), null, { timeout: 30000 });
    await screenshot(phone, 'phone-lecture-widgets');
    for (const [sel, name] of [['#graph-widget', 'graph'], ['#paths-widget', 'paths'], ['#augment-preview', 'augment']]) {
      await shoot(phone, sel, `phone-lecture-${name}`);
    }
    const width = await phone.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
    assert.ok(width <= 391, `no horizontal scrolling at 390 px (page is ${width} px wide)`);
    // Each widget fits the card: none wider than the viewport.
    const wide = await phone.$$eval('#graph-widget, #paths-widget, #activation-plot, #augment-preview, #xor-planes', (els) =>
      els.filter((e) => e.getBoundingClientRect().right > 391).map((e) => e.id));
    assert.deepEqual(wide, []);
    assert.deepEqual(phone.errors, []);
    await phone.context().close();
  });

  it('logged no console error', () => noErrors());
});
