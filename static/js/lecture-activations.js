// lecture-activations.js — the activation functions and their derivatives on [-5, 5],
// one chart with a selector, computed here: no request needed for six formulas.

import { h, fill } from './dom.js';
import { lineChart, PALETTE } from './charts.js';

/**
 * f(x) and f'(x): the standard formulas the engine uses (src/nn/activation.rs), including
 * its choices at the kinks: step(0) = 0 with derivative 0 everywhere (a step has no useful
 * gradient), relu'(0) = 0, leaky_relu slope 0.01 below zero, ELU with α = 1 and
 * elu'(x) = f(x) + α below zero.
 */
export const ACTIVATIONS = {
  step: { f: (x) => (x > 0 ? 1 : 0), df: () => 0,
    note: 'The perceptron’s step: its derivative is 0 everywhere (and undefined at 0), so no gradient flows back through it. That is why networks trained by backpropagation use smooth activations.' },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), df: (x) => { const y = 1 / (1 + Math.exp(-x)); return y * (1 - y); },
    note: 'sigmoid′ never exceeds 1/4, so each sigmoid layer scales the gradient by at most 1/4: vanishing gradients. It also saturates: far from 0 the derivative is nearly 0.' },
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2,
    note: 'tanh is zero-centred and its derivative reaches 1 at x = 0, four times sigmoid’s, but it saturates just the same for large |x|.' },
  relu: { f: (x) => Math.max(0, x), df: (x) => (x > 0 ? 1 : 0),
    note: 'relu′ is 1 for x > 0: an active unit passes the gradient unchanged, however deep the net. For x < 0 it is 0: a unit that is never active gets no gradient (a dead ReLU).' },
  leaky_relu: { f: (x) => (x > 0 ? x : 0.01 * x), df: (x) => (x > 0 ? 1 : 0.01),
    note: 'Leaky ReLU keeps a slope of 0.01 below zero, so an inactive unit still gets a little gradient and can come back.' },
  elu: { f: (x) => (x >= 0 ? x : Math.expm1(x)), df: (x) => (x >= 0 ? 1 : Math.exp(x)),
    note: 'ELU (α = 1) is smooth at 0 and saturates at −α for negative inputs, pushing mean activations towards 0.' },
};

const XS = Array.from({ length: 401 }, (_, i) => -5 + i * 0.025);

function chart(name) {
  const a = ACTIVATIONS[name];
  const series = [
    { name: `${name}(x)`, points: XS.map((x) => [x, a.f(x)]), color: PALETTE[0], data: { fn: 'f' } },
    { name: `${name}′(x)`, points: XS.map((x) => [x, a.df(x)]), color: PALETTE[1], dash: '6 3', data: { fn: 'derivative' } },
  ];
  if (name === 'sigmoid') {
    series.push({ name: 'y = 1/4, the most sigmoid′ reaches', points: [[-5, 0.25], [5, 0.25]], color: '#7f7f7f', dash: '2 3', width: 1.5, noDots: true, data: { fn: 'quarter' } });
  }
  return lineChart({ id: 'activation-chart', title: `${name} and its derivative`, series, xLabel: 'x', height: 240 });
}

export function activationPlotSection() {
  const select = h('select#activation-select', Object.keys(ACTIVATIONS).map((k) => h('option', { value: k }, k)));
  select.value = 'sigmoid';
  const box = h('div.activation-chart-box');
  const caption = h('p#activation-caption');
  const render = () => {
    fill(box, chart(select.value));
    caption.textContent = ACTIVATIONS[select.value].note;
    caption.classList.toggle('highlight', select.value === 'sigmoid');
  };
  select.addEventListener('change', render);
  render();
  return h('section#activation-plot.card', { 'aria-labelledby': 'activation-plot-title' },
    h('h2#activation-plot-title', { tabindex: '-1' }, 'Activation functions and their derivatives'),
    h('p', 'Backpropagation multiplies the gradient by f′ at every layer, so the derivative’s size decides whether gradients survive a deep net.'),
    h('div.inline-fields', h('div.field.inline', h('label', { for: 'activation-select' }, 'Activation'), select)),
    h('div.activation-layout', box, caption));
}
