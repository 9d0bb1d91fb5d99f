// lecture-graph.js — the lecture's computational graph: an expression and its variables'
// values go to /experiments/backprop, which returns every node's value and gradient; the
// graph is drawn by depth (inputs left, output right) and "Step backward" reveals the
// gradients gate by gate from the output, as on the slides.

import { api, ApiError } from './api.js';
import { h, fill, fmt, errorBox, isAbort } from './dom.js';
import { svgEl } from './charts.js';

const PRESETS = {
  'add-mul': { label: '(x+y)·z', expression: '(x+y)*z', values: { x: -2, y: 5, z: -4 } },
  gates: { label: 'add, max, multiply', expression: '2*(x*y + max(z, w))', values: { x: 3, y: -4, z: 2, w: -1 } },
  neuron: { label: 'sigmoid neuron', expression: 'sigmoid(w0*x0 + w1*x1 + w2)', values: { w0: 2, x0: -1, w1: -3, x1: -2, w2: -3 } },
};
const NODE_W = 104, NODE_H = 58, COL_W = 164, ROW_H = 76, PAD = 14;

/**
 * The variables an expression uses, in order of first appearance. Numbers are matched
 * first so that the "e3" of 2e3 is not taken for a name; a name followed by "(" is a call,
 * never a variable. The server has the last word (an unknown function is its 422).
 */
export function variablesOf(expression) {
  const names = [];
  const re = /[\d.]+(?:[eE][+-]?\d*)?|([\p{L}_][\p{L}\p{N}_]*)(\s*\()?/gu;
  for (const m of expression.matchAll(re)) {
    if (!m[1] || m[2]) continue;
    if (!names.includes(m[1])) names.push(m[1]);
  }
  return names;
}

/**
 * What a gate sends back to each input: upstream gradient g times its local derivative,
 * the same rules as the engine's backward pass (src/expr/graph.rs; a max/min tie goes to
 * the first input). null for an op this page does not know.
 */
export function shares(node, nodes) {
  const g = node.grad;
  const x = (k) => nodes[node.inputs[k]].value;
  const y = node.value;
  switch (node.op) {
    case '+': return [g, g];
    case '-': return [g, -g];
    case '*': return [g * x(1), g * x(0)];
    case '/': return [g / x(1), -g * x(0) / (x(1) * x(1))];
    case 'neg': return [-g];
    case 'exp': return [g * y];
    case 'log': return [g / x(0)];
    case 'sigmoid': return [g * y * (1 - y)];
    case 'tanh': return [g * (1 - y * y)];
    case 'relu': return [x(0) > 0 ? g : 0];
    case 'abs': return [x(0) === 0 ? 0 : g * Math.sign(x(0))];
    case 'max': return x(0) >= x(1) ? [g, 0] : [0, g];
    case 'min': return x(0) <= x(1) ? [g, 0] : [0, g];
    default: {
      const e = node.op.startsWith('^') ? Number(node.op.slice(1)) : NaN;
      return Number.isFinite(e) ? [g * e * x(0) ** (e - 1)] : null;
    }
  }
}

/** The rule a gate applies, for the step-by-step caption. */
function rule(op) {
  return {
    '+': 'add distributes: each input gets the upstream gradient unchanged',
    '-': 'subtract: the first input gets the upstream gradient, the second its negative',
    '*': 'multiply switches: each input gets the upstream gradient times the other input’s value',
    '/': 'divide: a gets g/b, b gets −g·a/b²',
    max: 'max routes: the larger input gets all of the upstream gradient, the other 0',
    min: 'min routes: the smaller input gets all of the upstream gradient, the other 0',
    sigmoid: 'sigmoid: local gradient σ(1 − σ) times the upstream gradient',
    tanh: 'tanh: local gradient 1 − tanh² times the upstream gradient',
    relu: 'relu: passes the gradient where its input is positive, else 0',
  }[op] || `local gradient of ${op} times the upstream gradient`;
}

/**
 * Columns by depth (a variable is 0, a gate one more than its deepest input; a constant sits
 * just left of the first gate that uses it, so a "2 *" at the end draws no long edge); in
 * each column nodes in the order they are written, each gate at the mean height of its
 * inputs, pushed down just enough not to overlap its column's neighbour. For the deck's
 * trees this keeps every edge clear of the nodes it passes.
 */
function layout(nodes) {
  const depth = nodes.map(() => 0);
  for (const n of nodes) if (n.inputs.length) depth[n.id] = 1 + Math.max(...n.inputs.map((i) => depth[i]));
  const consumers = nodes.map(() => []);
  for (const n of nodes) for (const i of n.inputs) consumers[i].push(n.id);
  for (const n of nodes) {
    if (n.kind === 'constant' && consumers[n.id].length) depth[n.id] = Math.min(...consumers[n.id].map((c) => depth[c])) - 1;
  }
  const cols = [];
  for (const n of nodes) (cols[depth[n.id]] ||= []).push(n.id);
  const pos = nodes.map(() => 0);
  const mean = (ids) => (ids.length ? ids.reduce((a, i) => a + pos[i], 0) / ids.length : 0);
  cols.forEach((c, k) => {
    c.forEach((id, i) => { if (k === 0) pos[id] = i; else if (nodes[id].inputs.length) pos[id] = mean(nodes[id].inputs); });
    // A constant further right goes beside its gate's other input (placed by now).
    for (const id of c) {
      if (k > 0 && !nodes[id].inputs.length) pos[id] = mean(nodes[consumers[id][0]].inputs.filter((i) => i !== id));
    }
    c.sort((a, b) => pos[a] - pos[b] || a - b);
    c.forEach((id, i) => { if (i) pos[id] = Math.max(pos[id], pos[c[i - 1]] + 1); });
  });
  const rows = Math.max(...pos) + 1;
  const xy = nodes.map((n) => [PAD + depth[n.id] * COL_W, PAD + pos[n.id] * ROW_H]);
  return { xy, consumers, width: PAD * 2 + (cols.length - 1) * COL_W + NODE_W, height: PAD * 2 + (rows - 1) * ROW_H + NODE_H };
}

/**
 * Which gradients are known after `stage` backward steps: stage 1 seeds the output with 1,
 * each later stage runs one gate (in reverse evaluation order). A node's gradient is shown
 * once every gate that uses it has run: only then is its sum complete.
 */
function backwardState(res, stage, consumers) {
  const gates = res.nodes.filter((n) => n.kind === 'operation').map((n) => n.id).reverse();
  const done = new Set(gates.slice(0, Math.max(0, stage - 1)));
  const known = new Set();
  if (stage >= 1) known.add(res.output_id);
  for (const n of res.nodes) {
    if (n.id !== res.output_id && consumers[n.id].length && consumers[n.id].every((c) => done.has(c))) known.add(n.id);
  }
  const active = stage >= 2 ? gates[stage - 2] : null;
  return { gates, done, known, active, total: 1 + gates.length };
}

function drawGraph(res, stage) {
  const { xy, consumers, width, height } = layout(res.nodes);
  const st = backwardState(res, stage, consumers);
  const svg = svgEl('svg', { id: 'graph-svg', viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'graph-svg',
    'aria-label': `computational graph of ${res.nodes.length} nodes, output ${fmt(res.output)}` });
  // The natural size caps the drawing: a three-node graph should not fill the screen.
  svg.style.maxWidth = `${Math.round(width * 1.15)}px`;
  // At phone width it keeps 70% of its natural size (text about 9 px) and scrolls in its box
  // beyond that (see style.css): the deck's three-node graph fits, the neuron scrolls.
  svg.style.setProperty('--graph-min-width', `${Math.round(width * 0.7)}px`);
  svg.append(svgEl('defs', {}), svgEl('g', { class: 'edges' }), svgEl('g', { class: 'nodes' }));
  svg.firstChild.append(arrowHead('graph-arrow', '#8a94a3'), arrowHead('graph-arrow-grad', '#c0392b'));
  const [edges, nodesG] = [svg.children[1], svg.children[2]];
  for (const n of res.nodes) {
    const out = shares(n, res.nodes);
    n.inputs.forEach((i, k) => {
      const [ax, ay] = xy[i], [bx, by] = xy[n.id];
      const x1 = ax + NODE_W, y1 = ay + NODE_H / 2, x2 = bx - 2, y2 = by + NODE_H / 2 + (n.inputs.length === 2 ? (k ? 8 : -8) : 0);
      const mx = (x1 + x2) / 2;
      const flowed = st.done.has(n.id);
      const g = svgEl('g', { class: `edge${flowed ? ' flowed' : ''}${st.active === n.id ? ' active' : ''}`, 'data-from': i, 'data-to': n.id });
      g.append(svgEl('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, fill: 'none', 'marker-end': `url(#${flowed ? 'graph-arrow-grad' : 'graph-arrow'})` }));
      if (flowed && out) {
        // Mid-edge, on the side away from the other input's edge: above an edge that comes
        // down (or runs level), below one that comes up.
        const [lx, ly] = bezier(0.5, [x1, y1], [mx, y1], [mx, y2], [x2, y2]);
        g.append(svgEl('text', { x: lx, y: y1 <= y2 ? ly - 6 : ly + 15, class: 'edge-grad', 'text-anchor': 'middle' }, fmt(out[k])),
          svgEl('title', {}, `${label(res.nodes[i])} receives ${fmt(out[k], 4)} from this ${n.op}`));
      }
      edges.append(g);
    });
  }
  for (const n of res.nodes) {
    const [x, y] = xy[n.id];
    const known = st.known.has(n.id);
    const g = svgEl('g', { class: `graph-node ${n.kind}${st.active === n.id ? ' active' : ''}${n.id === res.output_id ? ' output' : ''}`,
      transform: `translate(${x},${y})`, 'data-id': n.id, 'data-op': n.op, 'data-kind': n.kind,
      'data-value': n.value, 'data-grad': n.grad, 'data-revealed': String(known) });
    g.append(svgEl('rect', { width: NODE_W, height: NODE_H, rx: n.kind === 'operation' ? 26 : 6 }),
      svgEl('text', { x: NODE_W / 2, y: 17, class: 'node-op', 'text-anchor': 'middle' }, n.op),
      svgEl('text', { x: NODE_W / 2, y: 34, class: 'node-value', 'text-anchor': 'middle' }, fmt(n.value)),
      svgEl('text', { x: NODE_W / 2, y: 50, class: 'node-grad', 'text-anchor': 'middle' }, known ? fmt(n.grad) : '·'),
      svgEl('title', {}, `${label(n)}: value ${fmt(n.value, 6)}${known ? `, gradient ${fmt(n.grad, 6)}` : ''}`));
    nodesG.append(g);
  }
  return { svg, st };
}

/** The point at t of a cubic Bézier curve. */
function bezier(t, ...p) {
  const c = [(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3];
  return [0, 1].map((k) => c.reduce((a, w, i) => a + w * p[i][k], 0));
}

function arrowHead(id, color) {
  // In user units: a bold (active) edge keeps the same small head.
  const m = svgEl('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
  m.append(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', fill: color }));
  return m;
}

const label = (n) => (n.kind === 'operation' ? `the ${n.op} gate` : n.op);

/** What the last backward step did, in words. */
function stepCaption(res, st, stage) {
  if (stage === 0) return 'Forward pass: every node’s value (green). Press “Step backward” to send the gradient back from the output.';
  if (stage === 1) {
    return st.gates.length ? `The output’s gradient with respect to itself is 1. Next: the ${res.nodes[st.gates[0]].op} gate.`
      : 'The output’s gradient with respect to itself is 1, and there is no gate to pass it through.';
  }
  const n = res.nodes[st.active];
  const out = shares(n, res.nodes);
  const parts = n.inputs.map((i, k) => `${label(res.nodes[i])} gets ${out ? fmt(out[k]) : '?'}`).join(', ');
  const end = stage === st.total ? ' Done: every gradient (red) is d output / d node.' : '';
  return `The ${n.op} gate, upstream gradient ${fmt(n.grad)}: ${rule(n.op)}. Here ${parts}.${end}`;
}

export function graphSection(ctx) {
  const expr = h('input#graph-expression', { type: 'text', value: PRESETS['add-mul'].expression, spellcheck: 'false',
    autocomplete: 'off', autocapitalize: 'off', 'aria-describedby': 'graph-error' });
  const valuesBox = h('div#graph-values.inline-fields');
  const error = h('div#graph-error', { 'aria-live': 'polite' });
  const output = h('p#graph-output.result');
  const stepBtn = h('button#graph-step.primary', { type: 'button' }, 'Step backward');
  const resetBtn = h('button#graph-reset', { type: 'button' }, 'Reset');
  const caption = h('p#graph-caption.muted', { 'aria-live': 'polite' });
  const drawing = h('div.graph-scroll');
  const presets = h('div.button-row', Object.entries(PRESETS).map(([key, p]) =>
    h('button.graph-preset', { type: 'button', dataset: { preset: key } }, `${p.label}: ${p.expression}`)));

  const values = { ...PRESETS['add-mul'].values };
  let res = null, stage = 0, shownExpression = null, seq = 0, timer = null;
  ctx.onCleanup(() => clearTimeout(timer));

  /** One number input per variable, keeping the values typed so far. */
  function syncInputs() {
    const names = variablesOf(expr.value);
    const have = [...valuesBox.querySelectorAll('input[data-var]')].map((i) => i.dataset.var);
    if (names.join(',') === have.join(',')) return;
    fill(valuesBox, names.map((name) => {
      if (!(name in values)) values[name] = 1;
      const id = `graph-var-${name}`;
      const input = h('input', { id, type: 'number', step: 'any', inputmode: 'decimal', value: String(values[name]), dataset: { var: name } });
      return h('div.field.inline', h('label', { for: id }, name), input);
    }));
  }

  function render() {
    if (!res) return;
    stage = Math.min(stage, res.nodes.filter((n) => n.kind === 'operation').length + 1);
    const { svg, st } = drawGraph(res, stage);
    fill(drawing, svg);
    output.dataset.output = String(res.output);
    fill(output, 'output = ', h('span.node-value-text', fmt(res.output, 4)));
    caption.textContent = stepCaption(res, st, stage);
    stepBtn.disabled = stage >= st.total;
    stepBtn.textContent = stage >= st.total ? 'All gradients shown' : `Step backward (${stage + 1} of ${st.total})`;
    resetBtn.disabled = stage === 0;
  }

  function markInvalid(input, on) {
    if (on) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  async function update() {
    const my = ++seq;
    const inputs = [...valuesBox.querySelectorAll('input[data-var]')];
    markInvalid(expr, false);
    for (const i of inputs) markInvalid(i, false);
    const bad = inputs.find((i) => i.value.trim() === '' || !Number.isFinite(Number(i.value)));
    if (bad) {
      markInvalid(bad, true);
      fill(error, h('p.error', { role: 'alert' }, `Enter a number for ${bad.dataset.var}.`));
      return;
    }
    const vals = Object.fromEntries(inputs.map((i) => [i.dataset.var, Number(i.value)]));
    Object.assign(values, vals);
    // data-busy: a request is out (tests wait for it before stepping a new graph).
    section.dataset.busy = 'true';
    try {
      const r = await api.backprop(expr.value, vals, ctx.signal);
      if (my !== seq) return;
      fill(error);
      // A new expression starts over at the forward pass; new values keep the step reached.
      if (expr.value !== shownExpression) stage = 0;
      shownExpression = expr.value;
      res = r;
      drawing.classList.remove('stale');
      render();
    } catch (e) {
      if (isAbort(e) || my !== seq) return;
      drawing.classList.add('stale');
      const field = e instanceof ApiError ? e.field || '' : '';
      if (field === 'expression') markInvalid(expr, true);
      const input = field.startsWith('values.') && valuesBox.querySelector(`input[data-var="${CSS.escape(field.slice(7))}"]`);
      if (input) markInvalid(input, true);
      fill(error, errorBox(e, field === 'expression' ? 'Expression' : ''));
    } finally {
      if (my === seq) delete section.dataset.busy;
    }
  }
  const later = (ms) => { clearTimeout(timer); timer = setTimeout(update, ms); };

  expr.addEventListener('input', () => { syncInputs(); later(300); });
  valuesBox.addEventListener('input', () => later(200));
  presets.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-preset]');
    if (!btn) return;
    const p = PRESETS[btn.dataset.preset];
    expr.value = p.expression;
    Object.assign(values, p.values);
    fill(valuesBox);
    syncInputs();
    shownExpression = null;
    clearTimeout(timer);
    update();
  });
  stepBtn.addEventListener('click', () => { stage++; render(); });
  resetBtn.addEventListener('click', () => { stage = 0; render(); });
  const section = h('section#graph-widget.card', { 'aria-labelledby': 'graph-title' },
    h('h2#graph-title', { tabindex: '-1' }, 'Backpropagation on a computational graph'),
    h('p', 'Write an expression, give its variables values, and step the gradient back from the output one gate at a time. Each node shows its op, its value (green, forward pass) and d output / d node (red, backward pass); each edge shows what its gate sent back.'),
    presets,
    h('div.graph-inputs',
      h('div.field.graph-expression-field', h('label', { for: 'graph-expression' }, 'Expression'), expr,
        h('p.help', 'Numbers, variables, + − * /, ^ with a number, parentheses, exp log sigmoid tanh relu abs max min.')),
      valuesBox),
    error, output,
    h('div.button-row', stepBtn, resetBtn),
    drawing, caption,
    h('p.small.muted', 'Three gate rules carry most of backprop: an add gate distributes the gradient to all its inputs unchanged; a max gate routes it to the larger input only (the other gets 0); a multiply gate switches: each input gets the upstream gradient times the other input. A variable used twice adds up what it receives.'));
  syncInputs();
  update();
  return section;
}
