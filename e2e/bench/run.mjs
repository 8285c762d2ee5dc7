#!/usr/bin/env node
// Dashboard benchmarks (not part of the test run). One Chromium session against a release
// `berth serve` started here (free port, fresh data dir, 10 big instances).
//
//   node e2e/bench/run.mjs [--tasks 10000] [--loads 5] [--keys 10] [--json out.json] [--only plain]
//
// Measures:
//   1. bytes transferred for a cold load of /ui/clusters with `Accept-Encoding: br` (CDP
//      Network.loadingFinished encodedDataLength; UI assets and API data separately);
//   2. navigation start → `#app[data-ready]` on the clusters list (median of N cold loads);
//   3. with 10,000 tasks, the task table's render time after the data arrived: the dashboard's
//      `performance.measure('berth:tasks-render')` (marks `berth:tasks-data` → `berth:tasks-rendered`)
//      against plain-tasks.html, which fetches the same tasks through the same API (ListTasks +
//      DescribeTasks) and builds a plain <table> of the same columns with document.createElement;
//      Because marks are only as good as where they are placed, the same comparison is also made
//      by resource timing for both pages: end of the last API response → first task row in the DOM
//      (MutationObserver) → next animation frame;
//   4. filter keystroke → rows updated (median of 10, performance.now() around the input event
//      until the table body has changed).
// Prints a markdown table. Talks only to 127.0.0.1.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const require = createRequire(path.join(here, '..', 'package.json'));
const { chromium } = require('@playwright/test');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const TASKS = Number(opt('tasks', 10000));
const LOADS = Number(opt('loads', 5));
const KEYS = Number(opt('keys', 10));
const JSON_OUT = opt('json', '');
// `--only plain` runs just the plain-DOM baseline (useful before the dashboard exists).
const ONLY = opt('only', '');
const TARGET = 'AmazonEC2ContainerServiceV20141113.';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtMs = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a');
const fmtKB = (b) => (Number.isFinite(b) ? `${(b / 1024).toFixed(1)} kB` : 'n/a');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const bin = process.env.BERTH_BIN || path.join(repo, 'target', 'release', 'berth');
  if (!fs.existsSync(bin)) throw new Error(`no server binary at ${bin}: cargo build --release --locked -p berth`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  fs.mkdirSync(path.join(tmp, 'data'));
  const port = await freePort();
  const log = fs.openSync(path.join(tmp, 'berth.log'), 'a');
  const proc = spawn(
    bin,
    [
      'serve', '--port', String(port), '--data-dir', path.join(tmp, 'data'),
      '--instances', '10', '--instance-cpu', '16384', '--instance-memory', '65536',
      // e.g. BERTH_SERVE_ARGS="--ui-dir /abs/path/target/dashboard" to measure a fresh dashboard build
      ...(process.env.BERTH_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean),
    ],
    { stdio: ['ignore', log, log], env: { ...process.env, RUST_LOG: 'warn' } },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not yet */
    }
    if (proc.exitCode !== null) throw new Error(`berth serve exited: see ${tmp}/berth.log`);
    await sleep(100);
  }
  return {
    url,
    stop: async () => {
      proc.kill('SIGTERM');
      await sleep(300);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

async function ecs(url, action, body) {
  const r = await fetch(`${url}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': TARGET + action },
    body: JSON.stringify(body),
  });
  const v = await r.json();
  if (!r.ok) throw new Error(`${action}: ${v.__type}: ${v.message}`);
  return v;
}

async function seedTasks(url, n) {
  await ecs(url, 'RegisterTaskDefinition', {
    family: 'tiny',
    containerDefinitions: [{ name: 'app', image: 'busybox:1.36', cpu: 10, memory: 32, essential: true }],
  });
  let next = 0;
  const calls = Math.ceil(n / 10);
  const worker = async () => {
    while (next < calls) {
      const i = next++;
      const r = await ecs(url, 'RunTask', { cluster: 'default', taskDefinition: 'tiny', count: Math.min(10, n - i * 10), launchType: 'EC2' });
      if (r.failures.length) throw new Error(JSON.stringify(r.failures));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  for (let i = 0; i < 600; i++) {
    const c = (await ecs(url, 'DescribeClusters', { clusters: ['default'] })).clusters[0];
    if (c.runningTasksCount === n) return;
    await sleep(500);
  }
  throw new Error('tasks did not all reach RUNNING');
}

/** Records, from navigation start, when #app gets data-ready (init script). */
const READY_PROBE = () => {
  const w = window;
  w.__berthReadyAt = undefined;
  const check = () => {
    const app = document.getElementById('app');
    if (app && app.hasAttribute('data-ready') && w.__berthReadyAt === undefined) w.__berthReadyAt = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, attributes: true, childList: true, attributeFilter: ['data-ready'] });
};

/** Records when the first task row appears (and the frame after), from navigation start. */
const ROWS_PROBE = () => {
  const w = window;
  w.__rowsAt = undefined;
  w.__rowsFrameAt = undefined;
  const obs = new MutationObserver(() => {
    if (w.__rowsAt === undefined && document.querySelector('table[data-table="tasks"] tbody tr[data-key]')) {
      w.__rowsAt = performance.now();
      requestAnimationFrame(() => (w.__rowsFrameAt = performance.now()));
      obs.disconnect();
    }
  });
  obs.observe(document, { subtree: true, childList: true });
};

/**
 * Render time by resource timing, the same way for both pages: from the end of the last API
 * response before the first task row appeared, to that row (and to the next frame).
 */
async function rowsAfterData(page) {
  await page.waitForFunction(() => window.__rowsFrameAt !== undefined, null, { timeout: 300_000 });
  return page.evaluate(() => {
    const at = window.__rowsAt;
    const api = performance
      .getEntriesByType('resource')
      .filter((e) => e.initiatorType === 'fetch' && e.responseEnd <= at)
      .map((e) => e.responseEnd);
    const last = api.length ? Math.max(...api) : NaN;
    return { toRows: at - last, toFrame: window.__rowsFrameAt - last, navToRows: at };
  });
}

async function coldLoad(browser, url, pathName) {
  const context = await browser.newContext({ extraHTTPHeaders: { 'Accept-Encoding': 'br' } });
  const page = await context.newPage();
  await page.addInitScript(READY_PROBE);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const reqs = new Map();
  cdp.on('Network.responseReceived', (e) => {
    reqs.set(e.requestId, { url: e.response.url, mime: e.response.mimeType, enc: e.response.headers['content-encoding'] || e.response.headers['Content-Encoding'] || '' });
  });
  const done = [];
  cdp.on('Network.loadingFinished', (e) => done.push({ id: e.requestId, bytes: e.encodedDataLength }));
  await page.goto(`${url}${pathName}`);
  await page.waitForSelector('#app[data-ready]', { state: 'attached', timeout: 30_000 });
  await sleep(500);
  const readyAt = await page.evaluate(() => window.__berthReadyAt);
  let ui = 0;
  let data = 0;
  const files = [];
  for (const d of done) {
    const r = reqs.get(d.id) || { url: '?', mime: '', enc: '' };
    const p = new URL(r.url, url).pathname;
    if (p.startsWith('/_berth/')) data += d.bytes;
    else {
      ui += d.bytes;
      files.push({ path: p, bytes: d.bytes, enc: r.enc });
    }
  }
  await context.close();
  return { readyAt, ui, data, files };
}

async function dashboardRender(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(ROWS_PROBE);
  await page.goto(`${url}/ui/clusters/default/tasks`);
  await page.waitForSelector('table[data-table="tasks"] tbody tr[data-key]', { timeout: 120_000 });
  // wait until the marks settle (or 20 s)
  let res = null;
  for (let i = 0; i < 80; i++) {
    res = await page.evaluate(() => {
      const marks = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('berth:'));
      const measures = performance.getEntriesByName('berth:tasks-render', 'measure');
      return {
        marks: marks.map((m) => [m.name, m.startTime]),
        measures: measures.map((m) => m.duration),
        rows: document.querySelectorAll('table[data-table="tasks"] tbody tr[data-key]').length,
      };
    });
    if (res.measures.length || res.marks.some(([n]) => n === 'berth:tasks-rendered')) break;
    await sleep(250);
  }
  let renderMs = NaN;
  if (res.measures.length) renderMs = res.measures[res.measures.length - 1];
  else {
    const rendered = res.marks.filter(([n]) => n === 'berth:tasks-rendered').pop();
    const data = rendered && res.marks.filter(([n, t]) => n === 'berth:tasks-data' && t <= rendered[1]).pop();
    if (rendered && data) renderMs = rendered[1] - data[1];
  }
  const byTiming = await rowsAfterData(page);
  const filter = await filterKeystrokes(page);
  await context.close();
  return { renderMs, marks: res.marks, rows: res.rows, filter, byTiming };
}

async function filterKeystrokes(page) {
  const input = page.getByRole('searchbox', { name: 'Filter' });
  if (!(await input.count())) return { median: NaN, samples: [] };
  await input.focus();
  const values = ['1a', '2b', '3c', '4d', '5e', '6f', '70', '81', '92', 'a3', 'b4', 'c5'].slice(0, KEYS);
  const samples = [];
  for (const v of values) {
    const ms = await page.evaluate(async (value) => {
      const el = document.querySelector('input[type=search]');
      const body = document.querySelector('table[data-table="tasks"] tbody');
      const before = Array.from(body.querySelectorAll('tr[data-key]')).map((tr) => tr.getAttribute('data-key')).join(',');
      return await new Promise((resolve) => {
        let t0 = 0;
        const obs = new MutationObserver(() => {
          const now = Array.from(body.querySelectorAll('tr[data-key]')).map((tr) => tr.getAttribute('data-key')).join(',');
          if (now !== before) {
            const t1 = performance.now();
            obs.disconnect();
            resolve(t1 - t0);
          }
        });
        obs.observe(body, { subtree: true, childList: true, characterData: true, attributes: true });
        setTimeout(() => {
          obs.disconnect();
          resolve(NaN);
        }, 5000);
        t0 = performance.now();
        el.value = value;
        el.dispatchEvent(new InputEvent('input', { bubbles: true, data: value.slice(-1), inputType: 'insertText' }));
      });
    }, v);
    samples.push(ms);
    await sleep(1100); // past the URL's history coalescing window
  }
  return { median: median(samples), samples };
}

async function plainRender(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const html = fs.readFileSync(path.join(here, 'plain-tasks.html'), 'utf8');
  // Served same-origin (so the page can call POST / like the dashboard calls its API).
  await page.route(`${url}/_bench/plain-tasks.html`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
  await page.addInitScript(ROWS_PROBE);
  await page.goto(`${url}/_bench/plain-tasks.html`);
  await page.waitForFunction(() => window.__plainDone === true, null, { timeout: 300_000 });
  const byTiming = await rowsAfterData(page);
  const r = await page.evaluate(() => ({
    render: performance.getEntriesByName('berth:tasks-render', 'measure').pop()?.duration,
    frame: performance.getEntriesByName('plain:tasks-render-to-frame', 'measure').pop()?.duration,
    fetch: performance.getEntriesByName('plain:tasks-fetch', 'measure').pop()?.duration,
    rows: document.querySelectorAll('tbody tr').length,
  }));
  await context.close();
  return { ...r, byTiming };
}

async function main() {
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const out = {};
  try {
    await ecs(server.url, 'CreateCluster', { clusterName: 'c1' });
    const loads = [];
    if (ONLY !== 'plain') for (let i = 0; i < LOADS; i++) loads.push(await coldLoad(browser, server.url, '/ui/clusters'));
    out.coldLoad = { uiBytes: loads[0]?.ui, dataBytes: loads[0]?.data, files: loads[0]?.files ?? [], readyMs: loads.map((l) => l.readyAt) };

    process.stderr.write(`seeding ${TASKS} tasks…\n`);
    const t0 = Date.now();
    await seedTasks(server.url, TASKS);
    process.stderr.write(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    out.dashboard = ONLY === 'plain' ? { renderMs: NaN, marks: [], rows: 0, filter: { median: NaN, samples: [] }, byTiming: {} } : await dashboardRender(browser, server.url);
    out.plain = await plainRender(browser, server.url);
  } finally {
    await browser.close();
    await server.stop();
  }

  const rows = [
    ['Cold load, UI assets transferred (Accept-Encoding: br)', fmtKB(out.coldLoad.uiBytes), '≤ 350 kB'],
    ['Cold load, API data transferred', fmtKB(out.coldLoad.dataBytes), ''],
    [`Navigation → #app[data-ready], clusters list (median of ${LOADS})`, fmtMs(median(out.coldLoad.readyMs)), '≤ 1500 ms'],
    [`${TASKS} tasks: dashboard render after data (berth:tasks-data → berth:tasks-rendered)`, fmtMs(out.dashboard.renderMs), '≤ 1000 ms'],
    [`${TASKS} tasks: plain DOM <table> render after data (same marks)`, fmtMs(out.plain.render), ''],
    [`${TASKS} tasks: plain DOM, data → next frame`, fmtMs(out.plain.frame), ''],
    [`${TASKS} tasks: dashboard, last API response → first rows in DOM / → next frame (resource timing)`, `${fmtMs(out.dashboard.byTiming?.toRows)} / ${fmtMs(out.dashboard.byTiming?.toFrame)}`, ''],
    [`${TASKS} tasks: plain DOM, last API response → rows in DOM / → next frame (resource timing)`, `${fmtMs(out.plain.byTiming?.toRows)} / ${fmtMs(out.plain.byTiming?.toFrame)}`, ''],
    [`${TASKS} tasks: navigation → first rows, dashboard / plain DOM`, `${fmtMs(out.dashboard.byTiming?.navToRows)} / ${fmtMs(out.plain.byTiming?.navToRows)}`, ''],
    [`Filter keystroke → rows updated (median of ${out.dashboard.filter.samples.length})`, fmtMs(out.dashboard.filter.median), '≤ 100 ms'],
  ];
  console.log('| Measure | Result | Target |');
  console.log('|---|---:|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log('');
  console.log('UI files of the cold load: ' + out.coldLoad.files.map((f) => `${f.path} ${fmtKB(f.bytes)}${f.enc ? ` (${f.enc})` : ''}`).join(', '));
  if (!Number.isFinite(out.dashboard.renderMs)) {
    console.log('Note: the dashboard exposed no berth:tasks-data / berth:tasks-rendered marks; marks seen: ' + JSON.stringify(out.dashboard.marks));
  }
  console.log(`Filter samples (ms): ${out.dashboard.filter.samples.map((x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a')).join(', ')}`);
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(out, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
