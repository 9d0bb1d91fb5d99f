// draw.js — the default view: draw a digit (pointer events: mouse, pen, touch), live
// prediction (debounced) with the ten probabilities and the 28x28 image the model saw, a
// model picker, and on first run the progress of the MNIST demo job instead of a dead page.

import { api, followJob, IMAGE_DATASETS } from './api.js';
import { h, fill, fmt, pct, errorBox, isAbort, specSummary } from './dom.js';
import { paintImage } from './charts.js';

const SIZE = 280;          // canvas pixels; the server crops and scales to MNIST's 20x20 box
const PEN = 22;            // stroke width: thick like MNIST strokes after scaling
const DEBOUNCE_MS = 150;
export const QUICK_MNIST = { dataset: 'mnist', hidden_layers: [128], epochs: 3, train_samples: 10000, validation_split: 0.1 };

export async function mount(root, ctx) {
  const canvas = h('canvas#draw-canvas', { width: SIZE, height: SIZE, tabindex: '0',
    'aria-label': 'Drawing area: draw a digit with the mouse, a pen or a finger' });
  const clearBtn = h('button#clear', { type: 'button' }, 'Clear');
  const undoBtn = h('button#undo', { type: 'button' }, 'Undo stroke');
  const modelSelect = h('select#model-select', { name: 'model' });
  const modelStatus = h('div#model-status', { 'aria-live': 'polite' });
  const label = h('output#predicted-label', { 'aria-live': 'polite', 'aria-label': 'predicted digit' });
  const confidence = h('span#predicted-confidence.muted');
  const probs = h('ol#probabilities', { 'aria-label': 'probability of each digit' });
  const inputImg = h('canvas#input-image.digit', { width: 28, height: 28, role: 'img', 'aria-label': 'the 28 by 28 image the model received' });
  const predictError = h('div#predict-error');
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const fillBar = h('span.bar-fill');
    const value = h('span.prob-value', '–');
    const li = h('li.prob', { dataset: { class: String(d), probability: '' } },
      h('span.prob-label', String(d)), h('span.bar', fillBar), value);
    bars.push({ li, fillBar, value });
    probs.append(li);
  }

  root.append(
    h('h1#view-title', 'Draw a digit'),
    h('p.lede', 'Draw a digit from 0 to 9 and watch what the network thinks, live. The server crops, scales and centres your drawing the way MNIST digits were prepared; the small image shows what the model actually received.'),
    h('div.draw-layout',
      h('section.card.draw-pad', { 'aria-labelledby': 'pad-title' },
        h('h2#pad-title', 'Your digit'),
        canvas,
        h('div.button-row', clearBtn, undoBtn),
        h('p.hint', 'Keyboard: Delete clears, Ctrl+Z undoes the last stroke.')),
      h('section.card.draw-result', { 'aria-labelledby': 'result-title' },
        h('h2#result-title', 'What the network thinks'),
        h('div.field', h('label', { for: 'model-select' }, 'Model'), modelSelect),
        modelStatus,
        h('div.prediction', h('div.big-label', label), confidence),
        probs,
        h('div.input-image-box', h('figure', inputImg, h('figcaption', 'What the model saw (28×28)'))),
        predictError)));

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

  // ---- prediction ----
  let timer = null;
  let seq = 0;
  let inflight = null;
  ctx.onCleanup(() => { clearTimeout(timer); if (inflight) inflight.abort(); });

  function resetPrediction() {
    clearTimeout(timer);
    seq++;
    label.textContent = '';
    confidence.textContent = '';
    for (const b of bars) { b.li.dataset.probability = ''; b.fillBar.style.width = '0'; b.value.textContent = '–'; b.li.classList.remove('top'); }
    paintImage(inputImg, new Array(784).fill(0));
    fill(predictError);
  }
  function schedulePredict() {
    clearTimeout(timer);
    timer = setTimeout(predict, DEBOUNCE_MS);
  }
  async function predict() {
    const model = modelSelect.value;
    if (!model || !strokes.length) return;
    const my = ++seq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const png = canvas.toDataURL('image/png');
    try {
      const res = await api.predict(model, { png_base64: png }, inflight.signal);
      if (my !== seq || !ctx.alive) return;
      showPrediction(res);
      fill(predictError);
    } catch (e) {
      if (isAbort(e) || my !== seq || !ctx.alive) return;
      fill(predictError, errorBox(e, 'Prediction failed'));
    }
  }
  function showPrediction(res) {
    const p = res.predictions[0];
    label.textContent = String(p.label);
    confidence.textContent = `${pct(p.probabilities[p.label])} sure`;
    p.probabilities.forEach((v, d) => {
      const b = bars[d];
      b.li.dataset.probability = String(v);
      b.fillBar.style.width = `${(v * 100).toFixed(1)}%`;
      b.value.textContent = pct(v);
      b.li.classList.toggle('top', d === p.label);
    });
    if (res.input_image) paintImage(inputImg, res.input_image);
  }
  resetPrediction();
  modelSelect.addEventListener('change', () => { if (strokes.length) predict(); });

  // ---- models, and the first-run demo job ----
  async function loadModels() {
    const all = await api.models(undefined, ctx.signal);
    const image = all.filter((m) => IMAGE_DATASETS.includes(m.dataset));
    image.sort((a, b) => (a.dataset === 'mnist' ? 0 : 1) - (b.dataset === 'mnist' ? 0 : 1)
      || (b.test_accuracy ?? -1) - (a.test_accuracy ?? -1));
    const previous = modelSelect.value;
    fill(modelSelect, image.length ? image.map((m) => h('option', { value: m.id },
      `${m.dataset} · ${specSummary(m.job_spec || m.spec)} · test ${pct(m.test_accuracy)}`))
      : h('option', { value: '' }, 'No trained image model yet'));
    if (previous && image.some((m) => m.id === previous)) modelSelect.value = previous;
    modelSelect.disabled = image.length === 0;
    return image;
  }

  async function watchForModel() {
    const models = await loadModels();
    if (!ctx.alive) return;
    if (models.some((m) => m.dataset === 'mnist')) {
      fill(modelStatus);
      if (strokes.length) predict();
      return;
    }
    const [running, queued] = await Promise.all([
      api.jobs({ status: 'running' }, ctx.signal), api.jobs({ status: 'queued' }, ctx.signal)]);
    const job = [...running, ...queued.reverse()].find((j) => j.dataset === 'mnist' || (j.spec && j.spec.dataset === 'mnist'));
    if (job) showDemoJob(job);
    else offerDemo(models.length > 0);
  }

  function offerDemo(haveOther) {
    const btn = h('button#train-demo.primary', { type: 'button' }, 'Train a quick MNIST model (about 20 s)');
    const msg = h('div.notice',
      h('p', haveOther ? 'There is no MNIST model yet (the models above are for another image set).' :
        'There is no trained MNIST model yet, so nothing can read your digit.'),
      btn);
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
    if (!isAbort(e)) fill(modelStatus, errorBox(e, 'Could not load the models'));
  }
}
