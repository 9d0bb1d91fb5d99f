// helpers.mjs — shared setup for the browser tests: start the real nnlab binary on port 0
// with a temp SQLite file, or a fresh PostgreSQL database when NNLAB_TEST_POSTGRES names a
// cluster (scripts/with-postgres.sh), parsing its port from the log; talk to its API, launch
// Debian's chromium through playwright-core, collect console errors, poll with deadlines.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.NNLAB_BIN || join(ROOT, 'target', 'debug', 'nnlab');
export const SHOTS = join(ROOT, 'artifacts', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Polls `fn` until it returns a truthy value; throws with `what` after `ms`. */
export async function waitFor(fn, { ms = 30000, every = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

function hasFlag(flag) {
  try { return execFileSync(BIN, ['serve', '--help'], { encoding: 'utf8' }).includes(flag); } catch { return false; }
}

let databases = 0;
/** The database URL of a new server: a new SQLite file in `dir`, or a new database on the cluster. */
function databaseUrl(dir) {
  const cluster = process.env.NNLAB_TEST_POSTGRES;
  if (!cluster) return `sqlite://${join(dir, 'ui.db')}`;
  const name = `ui_${process.pid}_${databases++}`;
  const { hostname, port } = new URL(cluster);
  execFileSync('psql', ['-h', hostname, '-p', port, '-U', 'postgres', '-d', 'postgres', '-q',
    '-c', `CREATE DATABASE ${name}`]);
  return `${cluster}/${name}`;
}

/** Starts nnlab (with `args` added to `serve`'s); resolves to {url, api(), stop()} once it logs its address. */
export async function startServer({ demoModel = false, args: extra = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nnlab-ui-'));
  const args = ['serve', '--addr', '127.0.0.1:0', '--database-url', databaseUrl(dir),
    '--data-dir', join(ROOT, 'data'), '--static-dir', join(ROOT, 'static')];
  if (hasFlag('--demo-model')) args.push('--demo-model', String(demoModel));
  args.push(...extra);
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' } });
  let log = '';
  let url;
  try {
    url = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`nnlab did not start within 30 s:\n${log}`)), 30000);
      proc.on('exit', (code) => { clearTimeout(timer); rej(new Error(`nnlab exited with ${code}:\n${log}`)); });
      // The README says logs go to stderr; read both streams so either works.
      const onData = (chunk) => {
        log += chunk.toString();
        const clean = log.replace(/\x1b\[[0-9;]*m/g, '');
        const m = clean.match(/nnlab listening addr=(\S+)/);
        if (m) { clearTimeout(timer); res(`http://${m[1]}`); }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
    });
  } catch (e) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  proc.removeAllListeners('exit');
  const api = async (method, path, body) => {
    const res = await fetch(`${url}/api/v1${path}`, {
      method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  };
  const stop = async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, api, stop, log: () => log };
}

/** Submits a job through the API and waits until it ends; returns the finished job. */
export async function trainJob(server, spec, ms = 180000) {
  const job = await server.api('POST', '/jobs', spec);
  return waitFor(async () => {
    const j = await server.api('GET', `/jobs/${job.id}`);
    if (['failed', 'cancelled'].includes(j.status)) throw new Error(`job ${j.status}: ${j.error}`);
    return j.status === 'succeeded' && j;
  }, { ms, every: 250, what: `job ${job.id} to succeed` });
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A page whose console errors and uncaught exceptions are collected in `page.errors`
 * (each as "view: message"); `allow(re)` lets an expected message through for one step.
 */
export async function newPage(browser, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  // Track every EventSource the page opens, to check none outlives its view.
  await context.addInitScript(() => {
    const Native = window.EventSource;
    window.__eventSources = [];
    window.EventSource = class extends Native {
      constructor(...args) { super(...args); window.__eventSources.push(this); }
    };
  });
  page.errors = [];
  page.allowed = [];
  const where = () => { try { return new URL(page.url()).hash || '/'; } catch { return '?'; } };
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (page.allowed.some((re) => re.test(text))) return;
    page.errors.push(`${where()}: console error: ${text}`);
  });
  page.on('pageerror', (err) => page.errors.push(`${where()}: uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    // Aborted fetches when leaving a view or superseding a prediction are expected.
    const f = req.failure();
    if (f && /ERR_ABORTED/.test(f.errorText)) return;
    page.errors.push(`${where()}: request failed: ${req.url()} ${f ? f.errorText : ''}`);
  });
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Navigates by hash ('#/jobs/…', '#/sweeps/…') and waits until that view has mounted. */
export async function go(page, base, hash) {
  const view = hash.startsWith('#/jobs/') ? 'job' : hash.startsWith('#/sweeps/') ? 'sweep'
    : hash.replace(/^#\//, '').split(/[/?]/)[0] || 'draw';
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction((v) => document.getElementById('view').dataset.view === v
    && document.querySelector('#view #view-title'), view);
}
