// lecture-augment.js — what data augmentation does to a digit: an MNIST test image and
// random augmented copies of it from POST /experiments/augment, with the same settings a
// JobSpec's `augment` takes. A server without that endpoint gets a quiet note.

import { api, ApiError } from './api.js';
import { h, fill, errorBox, isAbort } from './dom.js';
import { imageCanvas } from './charts.js';

const ENDPOINT = '/api/v1/experiments/augment';
const COUNT = 8;
/** The JobSpec's augment fields: slider range (within the server's limits) and default. */
const FIELDS = [
  ['max_shift_px', 'max shift (px)', 0, 6, 0.5, 2],
  ['max_rotation_deg', 'max rotation (°)', 0, 45, 1, 15],
  ['max_scale', 'max scale (±)', 0, 0.5, 0.01, 0.1],
  ['max_shear_deg', 'max shear (°)', 0, 30, 1, 10],
  ['brightness', 'brightness (±)', 0, 0.5, 0.01, 0.1],
  ['contrast', 'contrast (±)', 0, 0.5, 0.01, 0.2],
  ['noise_std', 'noise std', 0, 0.3, 0.01, 0.05],
];

/** An image as the 784 values imageCanvas wants, whether sent as 28 rows or flat. */
const flat = (img) => img.flat(Infinity);

export function augmentSection(ctx) {
  const sliders = FIELDS.map(([key, label, min, max, step, value]) => {
    const input = h('input', { id: `aug-${key}`, type: 'range', min: String(min), max: String(max), step: String(step), value: String(value) });
    const out = h('output', { for: input.id }, String(value));
    input.addEventListener('input', () => { out.textContent = input.value; });
    return { key, input, wrap: h('div.field.aug-field', h('label', { for: input.id }, label, ' ', out), input) };
  });
  const index = h('input#aug-index', { type: 'number', min: '0', max: '9999', step: '1', value: '0', inputmode: 'numeric' });
  const drawBtn = h('button#aug-draw', { type: 'button' }, 'New draw');
  const status = h('div#aug-error', { 'aria-live': 'polite' });
  const original = h('div#aug-original');
  const images = h('ul#aug-images.digit-grid.aug-grid');
  const body = h('div.aug-body',
    h('div.aug-controls',
      h('div.aug-sliders', sliders.map((s) => s.wrap)),
      h('div.inline-fields', h('div.field.inline', h('label', { for: 'aug-index' }, 'test image #'), index), drawBtn)),
    h('div.aug-results', original, images));
  const section = h('section#augment-preview.card', { 'aria-labelledby': 'aug-title' },
    h('h2#aug-title', { tabindex: '-1' }, 'Data augmentation'),
    h('p', 'Random shifts, rotations, scaling, shear, brightness, contrast and noise make new training images from old ones: the network sees a different version of each digit every epoch. These are the settings of a training job’s “augment” field, on an MNIST test image.'),
    status, body);

  let seed = 0, seq = 0, timer = null;
  ctx.onCleanup(() => clearTimeout(timer));

  function unavailable() {
    section.dataset.available = 'false';
    body.hidden = true;
    fill(status, h('p#aug-unavailable.muted', 'The augmentation preview is not available on this server (it has no /experiments/augment endpoint yet).'));
  }

  async function draw() {
    const my = ++seq;
    const augment = Object.fromEntries(sliders.map((s) => [s.key, Number(s.input.value)]));
    const n = Number(index.value);
    index.removeAttribute('aria-invalid');
    if (!Number.isInteger(n) || n < 0) {
      index.setAttribute('aria-invalid', 'true');
      fill(status, h('p.error', { role: 'alert' }, 'The image number is a whole number from 0.'));
      return;
    }
    drawBtn.disabled = true;
    try {
      const res = await api.augment({ index: n, count: COUNT, seed, augment }, ctx.signal);
      if (my !== seq) return;
      section.dataset.available = 'true';
      fill(status);
      fill(original, h('figure',
        imageCanvas(flat(res.original), { scale: 3, label: `original test image ${n}, a ${res.label}` }),
        h('figcaption', `original: ${res.label}`)));
      fill(images, res.augmented.map((img, i) => h('li',
        imageCanvas(flat(img), { scale: 3, label: `augmented copy ${i + 1}` }), h('span', `#${i + 1}`))));
      images.dataset.seed = String(seed);
    } catch (e) {
      if (isAbort(e) || my !== seq) return;
      // A server from before the endpoint: POST to an unknown path is 404 (or 405 from the
      // static fallback, which serves only GET).
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) { unavailable(); return; }
      if (e instanceof ApiError && e.field) {
        const input = e.field === 'index' ? index : document.getElementById(`aug-${e.field.replace(/^augment\./, '')}`);
        if (input) input.setAttribute('aria-invalid', 'true');
      }
      fill(status, errorBox(e, 'Augmentation'));
    } finally {
      drawBtn.disabled = false;
    }
  }
  const later = (ms) => { clearTimeout(timer); timer = setTimeout(draw, ms); };

  body.addEventListener('input', (ev) => { if (ev.target !== drawBtn) later(ev.target === index ? 400 : 250); });
  drawBtn.addEventListener('click', () => { seed++; clearTimeout(timer); draw(); });

  // Ask the OpenAPI document first: calling a missing route would log a console error on
  // every visit. Unknown (no document): try the call, whose 404 gives the same note.
  api.serves('POST', ENDPOINT).then((served) => {
    if (!ctx.alive) return;
    if (served === false) unavailable();
    else draw();
  });
  return section;
}
