// lecture.js — the lecture corner: a perceptron playground (truth table from the API and the
// decision line on the unit square, gate presets, the XOR net NAND+OR->AND and its hidden
// space), the weight-init activation-histogram experiment, and decision boundaries of models
// trained on 2-D sets. The other widgets live in their own modules, mounted here in the
// lecture's order: activation functions, backprop on a graph, optimizer paths, augmentation.

import { api, ApiError, followJob } from './api.js';
import { h, fill, fmt, pct, field, errorBox, isAbort, specSummary } from './dom.js';
import { histogram, svgEl, PALETTE } from './charts.js';
import { activationPlotSection } from './lecture-activations.js';
import { graphSection } from './lecture-graph.js';
import { pathsSection } from './lecture-paths.js';
import { augmentSection } from './lecture-augment.js';
import { xorPlanes } from './lecture-xor.js';

const GATES = {
  AND: { w: [2, 2], b: -3 }, OR: { w: [2, 2], b: -1 },
  NAND: { w: [-2, -2], b: 3 }, NAND2: { w: [-2, -1], b: 2.5, label: 'NAND (second solution)' },
};
const TOY = ['xor-cloud', 'circle', 'spiral', 'gaussian', 'xor', 'and', 'or', 'nand'];
const TOY_SPECS = {
  'xor-cloud': { hidden_layers: [16], activation: 'tanh', init: 'xavier', learning_rate: 0.02, batch_size: 32, epochs: 60 },
  circle: { hidden_layers: [16], activation: 'tanh', init: 'xavier', learning_rate: 0.02, batch_size: 32, epochs: 80 },
  spiral: { hidden_layers: [32, 32], activation: 'relu', learning_rate: 0.01, batch_size: 32, epochs: 200 },
  gaussian: { hidden_layers: [8], activation: 'relu', learning_rate: 0.01, batch_size: 32, epochs: 40 },
  gate: { hidden_layers: [8], activation: 'tanh', init: 'xavier', learning_rate: 0.05, batch_size: 4, epochs: 300, validation_split: 0 },
};

export async function mount(root, ctx, route) {
  root.append(
    h('h1#view-title', 'Lecture corner'),
    h('p.lede', 'Small experiments from the lecture: a perceptron you can tune by hand, activation functions and their derivatives, backpropagation gate by gate, the optimizers’ paths, how weight initialization shapes the activations of a deep net, data augmentation, and what boundary a trained network draws.'),
    h('p#lecture-guide.muted', 'The whole lecture, section by section, with what to click here and what to expect: ',
      h('code', 'docs/lecture-guide.md'), ' in the nnlab repository.'),
    h('nav.toc', { 'aria-label': 'On this page' }, [
      ['perceptron', 'Perceptron'], ['activation-plot', 'Activation functions'], ['graph-widget', 'Backprop'],
      ['paths-widget', 'Optimizers'], ['activations', 'Activation histograms'], ['augment-preview', 'Augmentation'],
      ['boundary', 'Decision boundaries'],
    ].map(([id, text], i) => [i ? ' · ' : null, h('a', { href: '#/lecture', 'data-scroll': id }, text)])));
  root.querySelector('nav.toc').addEventListener('click', (ev) => {
    const a = ev.target.closest('a[data-scroll]');
    if (!a) return;
    ev.preventDefault();
    const target = document.getElementById(a.dataset.scroll);
    target.scrollIntoView({ behavior: 'smooth' });
    target.querySelector('h2').focus();
  });
  root.append(perceptronSection(ctx), activationPlotSection(), graphSection(ctx), pathsSection(ctx),
    activationSection(ctx), augmentSection(ctx), boundarySection(ctx, route));
}

// ---------------------------------------------------------------- perceptron

function perceptronSection(ctx) {
  const num = (id, label, value) => {
    const input = h('input', { id, type: 'number', step: 'any', value: String(value), inputmode: 'decimal' });
    return { input, wrap: field(label, input, { inline: true }) };
  };
  const w1 = num('perc-w1', 'w₁', 2), w2 = num('perc-w2', 'w₂', 2), b = num('perc-b', 'bias b', -3);
  const table = h('table#perceptron-table.truth');
  const plot = h('div#perceptron-plot');
  const status = h('div#perceptron-error', { 'aria-live': 'polite' });
  const xorBox = h('div#xor-box');
  const presets = h('div.button-row', Object.entries(GATES).map(([k, g]) =>
    h('button.gate-preset', { type: 'button', dataset: { gate: k } }, `${g.label || k}: w=(${g.w.join(', ')}), b=${g.b}`)));
  presets.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-gate]');
    if (!btn) return;
    const g = GATES[btn.dataset.gate];
    w1.input.value = g.w[0]; w2.input.value = g.w[1]; b.input.value = g.b;
    update();
  });

  let timer = null, seq = 0;
  ctx.onCleanup(() => clearTimeout(timer));
  async function update() {
    const my = ++seq;
    const fields = [[w1, 'weights[0]'], [w2, 'weights[1]'], [b, 'bias']];
    for (const [f] of fields) { f.input.removeAttribute('aria-invalid'); f.wrap.querySelector('.field-error').textContent = ''; }
    const vals = [w1, w2, b].map((f) => f.input.value.trim() === '' ? NaN : Number(f.input.value));
    const bad = vals.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const f = fields[bad][0];
      f.input.setAttribute('aria-invalid', 'true');
      f.wrap.querySelector('.field-error').textContent = 'Enter a number.';
      return;
    }
    try {
      const res = await api.perceptron([vals[0], vals[1]], vals[2], ctx.signal);
      if (my !== seq) return;
      fill(status);
      fill(table, h('caption', `y = step(${fmt(vals[0])}·x₁ + ${fmt(vals[1])}·x₂ + ${fmt(vals[2])})`),
        h('thead', h('tr', ['x₁', 'x₂', 'sum', 'output'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', res.rows.map((r) => h('tr',
          h('td', String(r.inputs[0])), h('td', String(r.inputs[1])), h('td', fmt(r.sum)),
          h('td.output', { dataset: { output: String(r.output) }, class: `output out-${r.output}` }, String(r.output))))));
      fill(plot, unitSquare(vals[0], vals[1], vals[2], res.rows));
    } catch (e) {
      if (isAbort(e)) return;
      if (e instanceof ApiError && e.field) {
        const f = fields.find(([, name]) => name === e.field);
        if (f) { f[0].input.setAttribute('aria-invalid', 'true'); f[0].wrap.querySelector('.field-error').textContent = e.message; return; }
      }
      fill(status, errorBox(e, 'Perceptron'));
    }
  }
  for (const f of [w1, w2, b]) f.input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(update, 120); });
  update();
  xorNet(ctx, xorBox);

  return h('section#perceptron.card', { 'aria-labelledby': 'perceptron-title' },
    h('h2#perceptron-title', { tabindex: '-1' }, 'Perceptron and logic gates'),
    h('p', 'A perceptron outputs 1 when w₁x₁ + w₂x₂ + b > 0 (a strict step). The line w₁x₁ + w₂x₂ + b = 0 splits the unit square; the shaded side outputs 1.'),
    presets,
    h('div.perceptron-layout',
      h('div', h('div.inline-fields', w1.wrap, w2.wrap, b.wrap), status, table),
      plot),
    xorBox);
}

/** The decision line of w·x + b on [-0.25, 1.25]², with the four corners marked. */
function unitSquare(w1, w2, b, rows) {
  const S = 240, lo = -0.25, hi = 1.25;
  const X = (x) => ((x - lo) / (hi - lo)) * S;
  const Y = (y) => S - ((y - lo) / (hi - lo)) * S;
  const svg = svgEl('svg', { viewBox: `0 0 ${S} ${S}`, class: 'unit-square', role: 'img',
    'aria-label': `decision line ${fmt(w1)} x1 + ${fmt(w2)} x2 + ${fmt(b)} = 0 on the unit square` });
  const add = (tag, attrs, text) => svg.appendChild(svgEl(tag, attrs, text));
  add('rect', { x: 0, y: 0, width: S, height: S, fill: '#fafbfc', stroke: '#c8ced6' });
  // Half-plane w·x + b > 0 clipped to the square (Sutherland–Hodgman against one edge).
  const f = ([x, y]) => w1 * x + w2 * y + b;
  const box = [[lo, lo], [hi, lo], [hi, hi], [lo, hi]];
  const poly = [];
  for (let i = 0; i < 4; i++) {
    const p = box[i], q = box[(i + 1) % 4];
    const fp = f(p), fq = f(q);
    if (fp > 0) poly.push(p);
    if ((fp > 0) !== (fq > 0) && fp !== fq) {
      const t = fp / (fp - fq);
      poly.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
    }
  }
  if (poly.length >= 3) add('polygon', { points: poly.map(([x, y]) => `${X(x)},${Y(y)}`).join(' '), fill: 'rgba(31,119,180,0.18)' });
  if (Math.abs(w2) > 1e-9 || Math.abs(w1) > 1e-9) {
    let p1, p2;
    if (Math.abs(w2) > Math.abs(w1)) { p1 = [lo, -(b + w1 * lo) / w2]; p2 = [hi, -(b + w1 * hi) / w2]; }
    else { p1 = [-(b + w2 * lo) / w1, lo]; p2 = [-(b + w2 * hi) / w1, hi]; }
    add('line', { x1: X(p1[0]), y1: Y(p1[1]), x2: X(p2[0]), y2: Y(p2[1]), stroke: '#1f3a5f', 'stroke-width': 2, class: 'decision-line' });
  }
  for (const r of rows) {
    const [x, y] = r.inputs;
    add('circle', { cx: X(x), cy: Y(y), r: 9, fill: r.output ? '#1f77b4' : '#fff', stroke: '#1f3a5f', 'stroke-width': 2 });
    add('text', { x: X(x) + (x ? -12 : 12), y: Y(y) + (y ? 24 : -14), class: 'pt-label', 'text-anchor': x ? 'end' : 'start' }, `(${x},${y})→${r.output}`);
  }
  add('text', { x: X(0.5), y: S - 4, 'text-anchor': 'middle', class: 'axis-label' }, 'x₁');
  add('text', { x: 6, y: Y(0.5), class: 'axis-label' }, 'x₂');
  return svg;
}

/** XOR = AND(NAND(x), OR(x)), each gate's table from the API. */
async function xorNet(ctx, box) {
  try {
    const [nand, or, and] = await Promise.all([
      api.perceptron(GATES.NAND.w, GATES.NAND.b, ctx.signal),
      api.perceptron(GATES.OR.w, GATES.OR.b, ctx.signal),
      api.perceptron(GATES.AND.w, GATES.AND.b, ctx.signal)]);
    const out = (table, x1, x2) => table.rows.find((r) => r.inputs[0] === x1 && r.inputs[1] === x2).output;
    const rows = [[0, 0], [0, 1], [1, 0], [1, 1]].map(([x1, x2]) => {
      const s1 = out(nand, x1, x2), s2 = out(or, x1, x2);
      return { x1, x2, s1, s2, y: out(and, s1, s2) };
    });
    fill(box,
      h('h3', 'XOR needs two layers'),
      h('p', 'No single line separates XOR’s ones from its zeros. Two layers do: s₁ = NAND(x₁, x₂), s₂ = OR(x₁, x₂), y = AND(s₁, s₂).'),
      h('table#xor-table.truth',
        h('caption', 'The two-layer XOR network, every gate a perceptron from above'),
        h('thead', h('tr', ['x₁', 'x₂', 's₁ = NAND', 's₂ = OR', 'y = AND(s₁, s₂)'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', rows.map(({ x1, x2, s1, s2, y }) => h('tr', h('td', String(x1)), h('td', String(x2)),
          h('td', String(s1)), h('td', String(s2)), h('td.output', { dataset: { output: String(y) } }, String(y)))))),
      h('p', 'Why it works: the hidden layer moves the points. In the hidden space the two inputs with XOR = 1 land on the same corner, and the AND gate’s line cuts it off from the others.'),
      xorPlanes(rows, GATES.AND));
  } catch (e) {
    if (!isAbort(e)) fill(box, errorBox(e, 'XOR network'));
  }
}

// ---------------------------------------------------------------- activation histograms

const ACT_PRESETS = [
  ['sigmoid, N(0, 1)', { activation: 'sigmoid', init: 'normal', init_std: 1 }],
  ['sigmoid, N(0, 0.01)', { activation: 'sigmoid', init: 'normal', init_std: 0.01 }],
  ['sigmoid, Xavier', { activation: 'sigmoid', init: 'xavier' }],
  ['ReLU, N(0, 0.01)', { activation: 'relu', init: 'normal', init_std: 0.01 }],
  ['ReLU, Xavier', { activation: 'relu', init: 'xavier' }],
  ['ReLU, He', { activation: 'relu', init: 'he' }],
];

function activationSection(ctx) {
  const sel = (id, label, options, value) => {
    const input = h('select', { id, name: id.replace('act-', '') }, options.map((o) => h('option', { value: o }, o)));
    input.value = value;
    return [input, h('div.field.inline', h('label', { for: id }, label), input)];
  };
  const numf = (id, label, value, step = 'any') => {
    const input = h('input', { id, name: id.replace('act-', ''), type: 'number', step, value: String(value) });
    return [input, field(label, input, { inline: true })];
  };
  const [act, actW] = sel('act-activation', 'Activation', ['sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu', 'step'], 'sigmoid');
  const [init, initW] = sel('act-init', 'Initialization', ['normal', 'xavier', 'he', 'zeros'], 'normal');
  const [std, stdW] = numf('act-init_std', 'std (normal)', 1);
  const [layers, layersW] = numf('act-layers', 'Layers', 5, 1);
  const [units, unitsW] = numf('act-units', 'Units per layer', 100, 1);
  const out = h('div#act-histograms.hist-grid', { 'aria-live': 'polite' });
  const run = h('button#act-run.primary', { type: 'submit' }, 'Run experiment');
  const form = h('form#act-form', { novalidate: true }, h('div.inline-fields', actW, initW, stdW, layersW, unitsW), h('div.button-row', run));
  const presets = h('div.button-row', ACT_PRESETS.map(([label, p], i) => h('button.act-preset', { type: 'button', dataset: { index: String(i) } }, label)));
  presets.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-index]');
    if (!btn) return;
    const p = ACT_PRESETS[Number(btn.dataset.index)][1];
    act.value = p.activation; init.value = p.init; if (p.init_std) std.value = p.init_std;
    go();
  });
  const inputs = { activation: act, init, init_std: std, layers, units };
  async function go() {
    for (const i of Object.values(inputs)) i.removeAttribute('aria-invalid');
    for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
    const params = { activation: act.value, init: init.value, init_std: Number(std.value), layers: Number(layers.value), units: Number(units.value), samples: 1000, bins: 30, seed: 0 };
    run.disabled = true;
    try {
      const res = await api.activations(params, ctx.signal);
      const color = PALETTE[['sigmoid', 'tanh', 'relu'].indexOf(params.activation) + 1] || PALETTE[0];
      fill(out, res.layers.map((l) => histogram({
        title: `Layer ${l.layer}`, edges: l.edges, counts: l.counts, color,
        note: `mean ${fmt(l.mean)} · std ${fmt(l.std)} · zeros ${pct(l.zero_fraction)}`,
      })));
      out.dataset.config = `${params.activation}/${params.init}`;
    } catch (e) {
      if (isAbort(e)) return;
      const input = e.field && inputs[e.field];
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        document.getElementById(`${input.id}-err`)?.replaceChildren(e.message);
        if (!document.getElementById(`${input.id}-err`)) fill(out, errorBox(e));
      } else fill(out, errorBox(e, 'Experiment failed'));
    } finally { run.disabled = false; }
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
  go();
  return h('section#activations.card', { 'aria-labelledby': 'act-title' },
    h('h2#act-title', { tabindex: '-1' }, 'Weight initialization: activation histograms'),
    h('p', 'The deck’s experiment: 1,000 random inputs through 5 layers of 100 units (no bias). With N(0, 1) sigmoid units saturate at 0 and 1 (vanishing gradients); with N(0, 0.01) they all sit near 0.5 (no expressive power); Xavier spreads them out. For ReLU, He keeps every layer alive.'),
    presets, form, out);
}

// ---------------------------------------------------------------- decision boundaries

function boundarySection(ctx, route) {
  const dsSel = h('select#boundary-dataset', TOY.map((d) => h('option', { value: d }, d)));
  const modelSel = h('select#boundary-model');
  const trainBtn = h('button#boundary-train', { type: 'button' }, 'Train a model on this set');
  const status = h('div#boundary-status', { 'aria-live': 'polite' });
  const canvas = h('canvas#boundary-canvas', { width: '360', height: '360', role: 'img', 'aria-label': 'decision boundary' });
  const legend = h('p.muted#boundary-legend');
  const N = 60;
  let sample = null;

  async function loadModels(selectId) {
    const models = await api.models(dsSel.value, ctx.signal);
    models.sort((a, b) => (b.test_accuracy ?? -1) - (a.test_accuracy ?? -1));
    fill(modelSel, models.map((m) => h('option', { value: m.id }, `${specSummary(m.job_spec || m.spec)} · test ${pct(m.test_accuracy)}`)));
    if (selectId && models.some((m) => m.id === selectId)) modelSel.value = selectId;
    modelSel.disabled = !models.length;
    if (!models.length) fill(status, h('p', `No model trained on ${dsSel.value} yet. Train one (a few seconds).`));
    return models;
  }
  async function loadSample() {
    sample = null;
    try {
      sample = await api.datasetSample(dsSel.value, 300, 0, ctx.signal);
    } catch (e) {
      if (isAbort(e)) throw e;
      fill(status, errorBox(e, 'Dataset points unavailable'));
    }
  }
  function range() {
    if (!sample || !sample.inputs.length) return [[-0.5, 1.5], [-0.5, 1.5]];
    const r = [0, 1].map((k) => {
      const v = sample.inputs.map((p) => p[k]);
      let lo = Math.min(...v), hi = Math.max(...v);
      const pad = (hi - lo || 1) * 0.15;
      return [lo - pad, hi + pad];
    });
    return r;
  }
  async function draw() {
    const g = canvas.getContext('2d');
    const S = canvas.width;
    g.fillStyle = '#fafbfc';
    g.fillRect(0, 0, S, S);
    const [[x0, x1], [y0, y1]] = range();
    const toPx = (x, y) => [((x - x0) / (x1 - x0)) * S, S - ((y - y0) / (y1 - y0)) * S];
    if (modelSel.value) {
      const grid = [];
      for (let j = 0; j < N; j++) for (let i = 0; i < N; i++) grid.push([x0 + (i + 0.5) * (x1 - x0) / N, y1 - (j + 0.5) * (y1 - y0) / N]);
      try {
        const res = await api.predict(modelSel.value, { inputs: grid }, ctx.signal);
        const cell = S / N;
        res.predictions.forEach((p, k) => {
          const i = k % N, j = Math.floor(k / N);
          const q = p.probabilities[1] ?? 0;
          // Blue for class 1, orange for class 0, paler near 0.5.
          const a = Math.abs(q - 0.5) * 2;
          g.fillStyle = q >= 0.5 ? `rgba(31,119,180,${0.12 + 0.45 * a})` : `rgba(255,127,14,${0.12 + 0.45 * a})`;
          g.fillRect(Math.floor(i * cell), Math.floor(j * cell), Math.ceil(cell), Math.ceil(cell));
        });
        canvas.dataset.painted = 'true';
        fill(status);
      } catch (e) {
        if (isAbort(e)) return;
        fill(status, errorBox(e, 'Prediction failed'));
      }
    }
    if (sample) {
      sample.inputs.forEach((p, k) => {
        const [px, py] = toPx(p[0], p[1]);
        g.beginPath(); g.arc(px, py, 3.5, 0, Math.PI * 2);
        g.fillStyle = sample.labels[k] ? '#1f77b4' : '#ff7f0e';
        g.fill(); g.strokeStyle = '#222'; g.lineWidth = 0.8; g.stroke();
      });
    }
    legend.textContent = `Range x ∈ [${fmt(x0)}, ${fmt(x1)}], y ∈ [${fmt(y0)}, ${fmt(y1)}]; ${N}×${N} grid. Blue = class 1, orange = class 0; dots are data points.`;
  }
  async function changeDataset(selectId) {
    fill(status);
    try {
      await Promise.all([loadModels(selectId), loadSample()]);
      await draw();
    } catch (e) { if (!isAbort(e)) fill(status, errorBox(e)); }
  }
  dsSel.addEventListener('change', () => changeDataset());
  modelSel.addEventListener('change', () => draw());
  trainBtn.addEventListener('click', async () => {
    const ds = dsSel.value;
    const spec = { dataset: ds, ...(TOY_SPECS[ds] || TOY_SPECS.gate) };
    trainBtn.disabled = true;
    try {
      let job = await api.submitJob(spec, ctx.signal);
      fill(status, h('p', { role: 'status' }, 'Training… ', h('a', { href: `#/jobs/${job.id}` }, 'watch the job')));
      // Two minutes at most (jobs may be queued ahead of it): then the job as last seen.
      const deadline = AbortSignal.timeout(120000);
      try {
        job = await followJob(job.id, {
          signal: AbortSignal.any([ctx.signal, deadline]),
          status: (j) => { if (j) job = j; },
          epoch: (m) => fill(status, h('p', { role: 'status' }, `Training… epoch ${m.epochs_done} of ${job.progress.epochs}`)),
        });
      } catch (e) { if (!deadline.aborted) throw e; }
      if (job.status !== 'succeeded') throw new Error(`the job ${job.status}`);
      if (dsSel.value === ds) await changeDataset(job.result.model_id);
    } catch (e) {
      if (!isAbort(e)) fill(status, errorBox(e, 'Training failed'));
    } finally { trainBtn.disabled = false; }
  });

  // Preselect from #/lecture?model=ID (linked from a job page).
  (async () => {
    const wanted = route.query.get('model');
    if (wanted) {
      try {
        const m = await api.model(wanted, ctx.signal);
        if (TOY.includes(m.dataset)) dsSel.value = m.dataset;
      } catch (e) { if (isAbort(e)) return; }
    } else {
      // Start on the newest 2-D set that already has a model, if any.
      try {
        const withModel = (await api.models(undefined, ctx.signal)).find((m) => TOY.includes(m.dataset));
        if (withModel) dsSel.value = withModel.dataset;
      } catch (e) { if (isAbort(e)) return; }
    }
    changeDataset(wanted);
  })();

  return h('section#boundary.card', { 'aria-labelledby': 'boundary-title' },
    h('h2#boundary-title', { tabindex: '-1' }, 'Decision boundaries on 2-D data'),
    h('p', 'A trained network’s prediction on a grid over the data’s range, with the data points on top.'),
    h('div.inline-fields',
      h('div.field.inline', h('label', { for: 'boundary-dataset' }, 'Dataset'), dsSel),
      h('div.field.inline', h('label', { for: 'boundary-model' }, 'Model'), modelSel),
      trainBtn),
    status, h('div.boundary-box', canvas), legend);
}
