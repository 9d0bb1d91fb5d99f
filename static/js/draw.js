// draw.js — the default view: draw a digit (pointer events: mouse, pen, touch) and see, live
// (debounced), what up to eight MNIST models make of it side by side: one multi-model request
// per stroke, a preprocessing switch and the 28x28 image the models saw. A drawing can be saved
// with its digit for the Drawings panel (drawings.js). On first run the page shows the progress
// of the MNIST demo job instead of a dead page.

import { api, followJob } from './api.js';
import { h, fill, pct, errorBox, isAbort, specSummary } from './dom.js';
import { paintImage } from './charts.js';
import { drawingsPanel, modelName } from './drawings.js';

const SIZE = 280;          // canvas pixels; the server crops and scales to MNIST's 20x20 box
const PEN = 22;            // stroke width: thick like MNIST strokes after scaling
const DEBOUNCE_MS = 150;
const MAX_MODELS = 8;      // POST /predict answers for 1..8 models
const PREPROCESS = [
  ['mnist', 'MNIST (box + centre of mass)'],
  ['box', '20x20 box'],
  ['raw', 'raw'],
];
export const QUICK_MNIST = { dataset: 'mnist', hidden_layers: [128], epochs: 3, train_samples: 10000, validation_split: 0.1 };

/**
 * One model's column: its name and test accuracy, the top label, ten probability bars. The
 * first column keeps the page's historical ids (#predicted-label, #probabilities, …).
 */
function resultColumn(model, first) {
  const id = (name) => (first ? name : null);
  const label = h('output.predicted-label', { id: id('predicted-label'), 'aria-label': `digit predicted by ${modelName(model)}` });
  const confidence = h('span.predicted-confidence.muted', { id: id('predicted-confidence') });
  const probs = h('ol.probabilities', { id: id('probabilities'), 'aria-label': `probability of each digit, ${modelName(model)}` });
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const fillBar = h('span.bar-fill');
    const value = h('span.prob-value', '–');
    const li = h('li.prob', { dataset: { class: String(d), probability: '' } },
      h('span.prob-label', String(d)), h('span.bar', fillBar), value);
    bars.push({ li, fillBar, value });
    probs.append(li);
  }
  const el = h('section.model-result', { dataset: { modelId: model.id, label: '' }, 'aria-label': modelName(model) },
    h('h3', h('a', { href: `#/jobs/${model.job_id}`, title: 'its training job' }, modelName(model))),
    h('p.model-meta', `MNIST test ${pct(model.test_accuracy)}`, h('br'), h('small', specSummary(model.job_spec || model.spec))),
    h('div.prediction', h('div.big-label', label), confidence),
    probs);
  return {
    id: model.id,
    el,
    show(p) {
      label.textContent = String(p.label);
      el.dataset.label = String(p.label);
      confidence.textContent = `${pct(p.probabilities[p.label])} sure`;
      p.probabilities.forEach((v, d) => {
        const b = bars[d];
        b.li.dataset.probability = String(v);
        b.fillBar.style.width = `${(v * 100).toFixed(1)}%`;
        b.value.textContent = pct(v);
        b.li.classList.toggle('top', d === p.label);
      });
    },
    reset() {
      label.textContent = '';
      el.dataset.label = '';
      confidence.textContent = '';
      for (const b of bars) { b.li.dataset.probability = ''; b.fillBar.style.width = '0'; b.value.textContent = '–'; b.li.classList.remove('top'); }
    },
  };
}

export async function mount(root, ctx) {
  const canvas = h('canvas#draw-canvas', { width: SIZE, height: SIZE, tabindex: '0',
    'aria-label': 'Drawing area: draw a digit with the mouse, a pen or a finger' });
  const clearBtn = h('button#clear', { type: 'button' }, 'Clear');
  const undoBtn = h('button#undo', { type: 'button' }, 'Undo stroke');
  const saveLabel = h('select#save-label', [...Array(10).keys()].map((d) => h('option', { value: String(d) }, String(d))));
  const saveBtn = h('button#save-drawing.primary', { type: 'button', disabled: true }, 'Save as 0');
  const saveStatus = h('div#save-status', { 'aria-live': 'polite' });
  const modelList = h('ul.picker-list');
  const modelLimit = h('small#model-limit.help');
  const modelPicker = h('fieldset#model-select.model-picker', { 'aria-describedby': 'model-limit' },
    h('legend', `Models (up to ${MAX_MODELS})`), modelList, modelLimit);
  const modelStatus = h('div#model-status', { 'aria-live': 'polite' });
  const radios = PREPROCESS.map(([value]) => h('input', { type: 'radio', name: 'preprocess', id: `preprocess-${value}`, value, checked: value === 'mnist' }));
  const inputImg = h('canvas#input-image.digit', { width: 28, height: 28, role: 'img', 'aria-label': 'the 28 by 28 image the models received' });
  const results = h('div#model-results', { dataset: { models: '0' } });
  const summary = h('p#predict-summary.sr-only', { 'aria-live': 'polite' });
  const predictError = h('div#predict-error');

  const panel = drawingsPanel(ctx, { models: () => models });
  root.append(
    h('h1#view-title', 'Draw a digit'),
    h('p.lede', 'Draw a digit from 0 to 9 and watch what the networks think, live: tick several models to compare them on the same drawing. Save your drawings with their digit to build a small test set of your own handwriting.'),
    h('div.draw-layout',
      h('section.card.draw-pad', { 'aria-labelledby': 'pad-title' },
        h('h2#pad-title', 'Your digit'),
        canvas,
        h('div.button-row', clearBtn, undoBtn),
        h('p.hint', 'Keyboard: Delete clears, Ctrl+Z undoes the last stroke.'),
        h('div.button-row.save-row', h('label', { for: 'save-label' }, 'It is a'), saveLabel, saveBtn),
        saveStatus),
      h('section.card.draw-result', { 'aria-labelledby': 'result-title' },
        h('h2#result-title', 'What the networks think'),
        modelPicker,
        modelStatus,
        h('div.preprocess-box',
          h('fieldset#preprocess.choice-row', h('legend', 'Preprocessing'),
            PREPROCESS.map(([value, text], i) => h('div.field.check', radios[i], h('label', { for: `preprocess-${value}` }, text)))),
          h('figure', inputImg, h('figcaption', 'What the models saw (28×28)')),
          h('p.why.help', 'Why it matters: MNIST\'s digits were size-normalised into a 20×20 box and centred by their centre of mass in 28×28 pixels, so a model trained on them misreads digits that are off-centre or of another size. Try "raw" to see it.')),
        results, summary, predictError)),
    panel.el);

  // ---- drawing ----
  const g = canvas.getContext('2d');
  const strokes = [];
  let current = null;
  function background() {
    g.fillStyle = '#000';
    g.fillRect(0, 0, SIZE, SIZE);
  }
  function styleCtx() {
    g.strokeStyle = '#fff';
    g.fillStyle = '#fff';
    g.lineWidth = PEN;
    g.lineCap = 'round';
    g.lineJoin = 'round';
  }
  function drawStroke(pts) {
    styleCtx();
    if (pts.length === 1) {
      g.beginPath(); g.arc(pts[0][0], pts[0][1], PEN / 2, 0, Math.PI * 2); g.fill();
      return;
    }
    g.beginPath();
    g.moveTo(pts[0][0], pts[0][1]);
    for (const [x, y] of pts.slice(1)) g.lineTo(x, y);
    g.stroke();
  }
  function redraw() { background(); for (const st of strokes) drawStroke(st); }
  background();

  const pos = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * (SIZE / r.width), (ev.clientY - r.top) * (SIZE / r.height)];
  };
  canvas.addEventListener('pointerdown', (ev) => {
    if (ev.button !== undefined && ev.button > 0) return;
    ev.preventDefault();
    canvas.setPointerCapture(ev.pointerId);
    current = [pos(ev)];
    strokes.push(current);
    drawStroke(current);
    saveBtn.disabled = false;
    fill(saveStatus);
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!current) return;
    const p = pos(ev);
    const last = current[current.length - 1];
    current.push(p);
    styleCtx();
    g.beginPath(); g.moveTo(last[0], last[1]); g.lineTo(p[0], p[1]); g.stroke();
    schedulePredict();
  });
  const end = () => { if (current) { current = null; schedulePredict(); } };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  canvas.addEventListener('lostpointercapture', end);

  function clear() {
    strokes.length = 0;
    redraw();
    resetPrediction();
  }
  function undo() {
    strokes.pop();
    redraw();
    if (strokes.length) schedulePredict(); else resetPrediction();
  }
  clearBtn.addEventListener('click', clear);
  undoBtn.addEventListener('click', undo);
  canvas.addEventListener('keydown', (ev) => {
    if (ev.key === 'Delete' || ev.key === 'Backspace') { ev.preventDefault(); clear(); }
    if ((ev.ctrlKey || ev.metaKey) && ev.key === 'z') { ev.preventDefault(); undo(); }
  });

  // ---- saving the drawing with its digit ----
  saveLabel.addEventListener('change', () => { saveBtn.textContent = `Save as ${saveLabel.value}`; });
  saveBtn.addEventListener('click', async () => {
    if (!strokes.length) return;
    saveBtn.disabled = true;
    fill(saveStatus, h('span.muted', 'Saving…'));
    try {
      const saved = await api.saveDrawing(canvas.toDataURL('image/png'), Number(saveLabel.value), ctx.signal);
      // Cleared for the next one: collecting drawings is draw, label, save, repeat.
      clear();
      fill(saveStatus, h('p.ok', `Saved as a ${saved.label}. Draw the next one.`));
      panel.refresh();
    } catch (e) {
      if (isAbort(e)) return;
      // 409: the server holds its maximum; 422: a blank drawing or a bad label.
      fill(saveStatus, errorBox(e, 'Not saved'));
      saveBtn.disabled = !strokes.length;
    }
  });

  // ---- prediction: one request for every ticked model ----
  let timer = null;
  let seq = 0;
  let inflight = null;
  let columns = [];
  ctx.onCleanup(() => { clearTimeout(timer); if (inflight) inflight.abort(); });
  const preprocess = () => radios.find((r) => r.checked).value;

  function resetPrediction() {
    clearTimeout(timer);
    seq++;
    for (const c of columns) c.reset();
    summary.textContent = '';
    paintImage(inputImg, new Array(784).fill(0));
    fill(predictError);
    saveBtn.disabled = !strokes.length;
  }
  function schedulePredict() {
    clearTimeout(timer);
    timer = setTimeout(predict, DEBOUNCE_MS);
  }
  async function predict() {
    if (!columns.length || !strokes.length) return;
    const my = ++seq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const body = { model_ids: columns.map((c) => c.id), png_base64: canvas.toDataURL('image/png'), preprocess: preprocess() };
    try {
      const res = await api.predictMany(body, inflight.signal);
      if (my !== seq || !ctx.alive) return;
      for (const r of res.results) {
        const col = columns.find((c) => c.id === r.model_id);
        if (col) col.show(r.predictions[0]);
      }
      summary.textContent = res.results.map((r) => `${modelName({ id: r.model_id })}: ${r.predictions[0].label}`).join('; ');
      if (res.input_image) paintImage(inputImg, res.input_image.flat());
      fill(predictError);
    } catch (e) {
      if (isAbort(e) || my !== seq || !ctx.alive) return;
      fill(predictError, errorBox(e, 'Prediction failed'));
    }
  }
  for (const r of radios) r.addEventListener('change', () => { if (strokes.length) predict(); });

  // ---- the model picker: MNIST models, newest first ----
  let models = [];
  let boxes = [];
  const ticked = () => boxes.filter((b) => b.checked).map((b) => b.value);

  function renderColumns() {
    const ids = ticked();
    columns = ids.map((id, i) => resultColumn(models.find((m) => m.id === id), i === 0));
    results.dataset.models = String(columns.length);
    fill(results, columns.length ? columns.map((c) => c.el)
      : models.length ? h('p.muted', 'Tick a model above to see what it reads.') : null);
    // At most MAX_MODELS: the others wait until one is unticked.
    const full = ids.length >= MAX_MODELS;
    for (const b of boxes) b.disabled = full && !b.checked;
    modelLimit.textContent = models.length ? `${ids.length} of at most ${MAX_MODELS} ticked${full ? ': untick one to pick another' : ''}.` : '';
  }
  function onPick() {
    renderColumns();
    if (strokes.length) predict(); else resetPrediction();
  }

  async function loadModels() {
    const list = await api.models('mnist', ctx.signal);
    list.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    const before = new Set(ticked());
    const kept = list.filter((m) => before.has(m.id)).map((m) => m.id);
    const chosen = new Set(kept.length ? kept : list.slice(0, 1).map((m) => m.id));
    models = list;
    boxes = list.map((m) => h('input', { type: 'checkbox', id: `model-${m.id}`, name: 'model', value: m.id, checked: chosen.has(m.id), onchange: onPick }));
    fill(modelList, list.length ? list.map((m, i) => h('li', boxes[i], h('label', { for: `model-${m.id}` },
      h('strong', modelName(m)), ` · ${specSummary(m.job_spec || m.spec)} · test ${pct(m.test_accuracy)}`)))
      : h('li.muted', 'No trained MNIST model yet'));
    modelPicker.disabled = list.length === 0;
    renderColumns();
    resetPrediction();
    return list;
  }

  async function watchForModel() {
    const list = await loadModels();
    if (!ctx.alive) return;
    // After the models: the leaderboard names their architectures.
    panel.refresh();
    if (list.length) {
      fill(modelStatus);
      if (strokes.length) predict();
      return;
    }
    const [running, queued] = await Promise.all([
      api.jobs({ status: 'running' }, ctx.signal), api.jobs({ status: 'queued' }, ctx.signal)]);
    const job = [...running, ...queued.reverse()].find((j) => j.dataset === 'mnist' || (j.spec && j.spec.dataset === 'mnist'));
    if (job) showDemoJob(job);
    else offerDemo();
  }

  function offerDemo() {
    const btn = h('button#train-demo.primary', { type: 'button' }, 'Train a quick MNIST model (about 20 s)');
    const msg = h('div.notice', h('p', 'There is no trained MNIST model yet, so nothing can read your digit.'), btn);
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const job = await api.submitJob(QUICK_MNIST, ctx.signal);
        showDemoJob(job);
      } catch (e) {
        if (!isAbort(e)) { btn.disabled = false; msg.append(errorBox(e, 'Could not start training')); }
      }
    });
    fill(modelStatus, msg);
  }

  function showDemoJob(job) {
    const bar = h('progress#demo-progress', { max: '1', value: String(job.progress.fraction || 0) });
    const text = h('span.muted');
    const update = (j) => {
      bar.value = j.progress.fraction || 0;
      text.textContent = j.status === 'queued' ? 'Waiting for a worker…'
        : `Epoch ${j.progress.epoch} of ${j.progress.epochs}`;
    };
    update(job);
    fill(modelStatus, h('div.notice',
      h('p', 'Training an MNIST model for you first (this happens once, on a fresh server). Draw meanwhile; the prediction appears when it is ready.'),
      h('label', { for: 'demo-progress' }, 'Progress '), bar, ' ', text,
      h('p', h('a', { href: `#/jobs/${job.id}` }, 'Watch its curves'))));
    followJob(job.id, {
      signal: ctx.signal,
      retryMs: 2000,
      status: update,
      epoch: (m) => {
        const total = Math.max(1, job.progress.epochs);
        bar.value = m.epochs_done / total;
        text.textContent = `Epoch ${m.epochs_done} of ${total} · validation accuracy ${pct(m.val_accuracy)}`;
      },
    }).then((j) => {
      if (j.status === 'succeeded') return watchForModel();
      fill(modelStatus, errorBox(new Error(`The MNIST job ${j.status}${j.error ? `: ${j.error}` : ''}`)));
    }).catch((e) => { if (!isAbort(e)) fill(modelStatus, errorBox(e)); });
  }

  try {
    await watchForModel();
  } catch (e) {
    if (!isAbort(e)) { fill(modelStatus, errorBox(e, 'Could not load the models')); panel.refresh(); }
  }
}
