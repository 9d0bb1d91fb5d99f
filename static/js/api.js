// api.js — the one place that talks to the nnlab HTTP API (/api/v1): JSON fetch with the
// server's error shape turned into ApiError, and following a job to its end (its event
// stream, re-read whenever the stream ends).

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || null;
    this.field = err.field || null;
  }
}

async function request(method, path, body, signal) {
  const init = { method, headers: { accept: 'application/json' }, signal };
  // A server started with --api-token wants it on writes; the page reads it from
  // localStorage (set it once with localStorage.nnlabToken = '…' in the console).
  let token = null;
  try { token = localStorage.getItem('nnlabToken'); } catch { token = null; }
  if (token && method !== 'GET') init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { error: { message: 'The server cannot be reached. Is nnlab running?' } });
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401) {
    throw new ApiError(401, { error: { message: 'This server needs an API token for changes: run localStorage.nnlabToken = "<token>" in the browser console, then retry.' } });
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

let openapi = null;

export const api = {
  datasets: (signal) => request('GET', '/datasets', undefined, signal).then((d) => d.datasets),
  datasetSample: (name, n = 300, seed = 0, signal) =>
    request('GET', `/datasets/${encodeURIComponent(name)}/sample?n=${n}&seed=${seed}`, undefined, signal),
  jobs: (query = {}, signal) => {
    const q = new URLSearchParams(query).toString();
    return request('GET', `/jobs${q ? `?${q}` : ''}`, undefined, signal).then((d) => d.jobs);
  },
  job: (id, signal) => request('GET', `/jobs/${encodeURIComponent(id)}`, undefined, signal),
  submitJob: (spec, signal) => request('POST', '/jobs', spec, signal),
  cancelJob: (id) => request('POST', `/jobs/${encodeURIComponent(id)}/cancel`),
  /** Forks a job: body {change: {<JobSpec fields>}, pairs: 1..8} -> {child, jobs}. */
  forkJob: (id, body) => request('POST', `/jobs/${encodeURIComponent(id)}/fork`, body),
  /** A fork's paired differences (child − baseline) per epoch; id = any job of the fork. */
  pairs: (id, signal) => request('GET', `/jobs/${encodeURIComponent(id)}/pairs`, undefined, signal),
  metrics: (id, signal) => request('GET', `/jobs/${encodeURIComponent(id)}/metrics`, undefined, signal),
  /** Only what is new after `have` ({epochs, steps} already held), merged into it. */
  moreMetrics: async (id, have, signal) => {
    const sinceEpoch = have.epochs.length ? have.epochs[have.epochs.length - 1].epochs_done : 0;
    const sinceStep = have.steps.length ? have.steps[have.steps.length - 1].step : 0;
    const more = await request('GET',
      `/jobs/${encodeURIComponent(id)}/metrics?since_epoch=${sinceEpoch}&since_step=${sinceStep}`, undefined, signal);
    return { ...more, epochs: have.epochs.concat(more.epochs), steps: have.steps.concat(more.steps) };
  },
  models: (dataset, signal) =>
    request('GET', `/models${dataset ? `?dataset=${encodeURIComponent(dataset)}` : ''}`, undefined, signal)
      .then((d) => d.models),
  model: (id, signal) => request('GET', `/models/${encodeURIComponent(id)}`, undefined, signal),
  evaluation: (id, signal) => request('GET', `/models/${encodeURIComponent(id)}/evaluation`, undefined, signal),
  predict: (id, body, signal) => request('POST', `/models/${encodeURIComponent(id)}/predict`, body, signal),
  /** One input, several models (1..8 of one input size): {model_ids, png_base64, preprocess} -> {input_image, results}. */
  predictMany: (body, signal) => request('POST', '/predict', body, signal),
  /** A model's accuracy, confusion matrix and misclassified items on set 'test' or 'drawings'. */
  evaluate: (id, set, signal) => request('POST', `/models/${encodeURIComponent(id)}/evaluate`, { set }, signal),
  /** Saved drawings (oldest first, or `order: 'newest'`): {drawings: [{id, label, image (28 rows), created_at}], total}. */
  drawings: (query = {}, signal) => {
    const q = new URLSearchParams(query).toString();
    return request('GET', `/drawings${q ? `?${q}` : ''}`, undefined, signal);
  },
  /** Keeps a drawing (a PNG data URL) with its digit; 409 when the server holds its maximum. */
  saveDrawing: (png, label, signal) => request('POST', '/drawings', { png_base64: png, label }, signal),
  deleteDrawing: (id, signal) => request('DELETE', `/drawings/${encodeURIComponent(id)}`, undefined, signal),
  /** The newest MNIST models ranked by accuracy on the saved drawings: {drawings, max_models, models}. */
  drawingsLeaderboard: (signal) => request('GET', '/drawings/leaderboard', undefined, signal),
  perceptron: (weights, bias, signal) => request('POST', '/perceptron', { weights, bias }, signal),
  activations: (params, signal) => request('POST', '/experiments/activations', params, signal),
  /** An expression's computational graph: every node's value and d output / d node. */
  backprop: (expression, values, signal) => request('POST', '/experiments/backprop', { expression, values }, signal),
  /** The optimizers' paths on a function of (x, y): {function|expression, start, steps, optimizers}. */
  optimizerPaths: (body, signal) => request('POST', '/experiments/optimizers', body, signal),
  /** Augmented copies of an MNIST test image: {index, count, seed, augment} -> {label, original, augmented}. */
  augment: (body, signal) => request('POST', '/experiments/augment', body, signal),
  /**
   * Whether this server serves `method path` (e.g. 'POST', '/api/v1/experiments/augment'),
   * from its OpenAPI document: every route is declared there, so a page can find out
   * without calling a missing route (a 404 shows up as a console error). Read once per page
   * load; null when the document cannot be read.
   */
  serves: async (method, path) => {
    // Not tied to a view's signal: the promise is shared by later views.
    openapi = openapi || request('GET', '/openapi.json').catch(() => { openapi = null; return null; });
    const doc = await openapi;
    if (!doc) return null;
    return Boolean(doc.paths && doc.paths[path] && doc.paths[path][method.toLowerCase()]);
  },
  /** Sweeps, newest first: [{id, name, status, created_at, finished_at}]. */
  sweeps: (signal) => request('GET', '/sweeps', undefined, signal).then((d) => d.sweeps),
  /** One sweep: its trials (states, best values, decisions), best trial and leaderboard. */
  sweep: (id, signal) => request('GET', `/sweeps/${encodeURIComponent(id)}`, undefined, signal),
  /** What a sweep request would cost (trials, ASHA rungs, epoch bound); runs nothing. */
  previewSweep: (body, signal) => request('POST', '/sweeps/preview', body, signal),
  createSweep: (body, signal) => request('POST', '/sweeps', body, signal),
  cancelSweep: (id) => request('POST', `/sweeps/${encodeURIComponent(id)}/cancel`),
};

export const TERMINAL = ['succeeded', 'failed', 'cancelled'];
export const IMAGE_DATASETS = ['mnist', 'fashion-mnist'];

/**
 * A job's server-sent events: `on` maps event names (`status`, `epoch`, `step`) to handlers
 * receiving the parsed data. Closed at a terminal status (the server ends the stream then;
 * EventSource would otherwise reconnect), on `close()`, or when it fails (then `on.end`).
 */
function jobEvents(id, on) {
  const es = new EventSource(`/api/v1/jobs/${encodeURIComponent(id)}/events`);
  let closed = false;
  const close = () => { if (!closed) { closed = true; es.close(); } };
  for (const name of ['status', 'epoch', 'step']) {
    es.addEventListener(name, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      if (name === 'status' && data && TERMINAL.includes(data.status)) close();
      if (on[name]) on[name](data);
    });
  }
  es.onerror = () => {
    // The server closed the stream (job ended) or the connection dropped: stop and let the
    // caller re-read the job instead of looping on reconnects.
    close();
    if (on.end) on.end();
  };
  return { close };
}

/**
 * Follows a job to its end (a TERMINAL status) and resolves to the job then. Its events go
 * to `on.status` (the job), `on.epoch` and `on.step` as they come. Whenever a stream ends
 * (the job ended, the connection dropped, or the server refused: it caps open streams) the
 * job is re-read with `reread(signal)` and also given to `on.status`; while it is unfinished
 * the stream is opened again after `retryMs`. Rejects when `signal` aborts or a re-read fails.
 */
export function followJob(id, { signal, retryMs = 1500, reread = (s) => api.job(id, s), ...on } = {}) {
  return new Promise((resolve, reject) => {
    let stream = null;
    let timer = null;
    let over = false;
    const settle = (done, value) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      if (stream) stream.close();
      if (signal) signal.removeEventListener('abort', onAbort);
      done(value);
    };
    const onAbort = () => settle(reject, signal.reason);
    const status = (j) => { if (on.status) on.status(j); };
    const open = () => {
      let ended = false;
      // Once per stream: at its terminal status, or when it ends without one.
      const end = async () => {
        if (ended || over) return;
        ended = true;
        stream.close();
        let job;
        try { job = await reread(signal); } catch (e) { settle(reject, e); return; }
        if (over) return;
        status(job);
        if (TERMINAL.includes(job.status)) settle(resolve, job);
        else timer = setTimeout(open, retryMs);
      };
      stream = jobEvents(id, {
        epoch: on.epoch, step: on.step, end,
        status: (j) => { status(j); if (j && TERMINAL.includes(j.status)) end(); },
      });
    };
    if (signal && signal.aborted) { onAbort(); return; }
    if (signal) signal.addEventListener('abort', onAbort);
    open();
  });
}
