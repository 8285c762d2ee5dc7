#!/usr/bin/env node
// The dashboard's lazily loaded tools module (crates/tools) in Chromium, against the same calls
// natively (not part of the test run).
//
//   node e2e/bench/tools.mjs [--samples 101] [--explain-samples 11] [--instances 5000]
//                            [--no-native] [--smoke] [--json out.json]
//
// One headless Chromium session against a release `berth serve` started here (free port, fresh
// data dir; BERTH_SERVE_ARGS="--ui-dir $PWD/target/dashboard" serves a fresh `cargo xtask dist`
// without rebuilding the server). Measures:
//   1. bytes transferred for a cold load of /ui/clusters with `Accept-Encoding: br` (the main
//      bundle), then for the first `await window.__berthTools()` (the tools module), and how long
//      that first call takes (fetch + compile + instantiate);
//   2. `m.validate(text, '')` of task definitions with 1, 10 and 100 containers
//      (`m.bench_fixture('taskdef', n)`, the same text the native bench uses): median of N calls
//      after a 300 ms warm-up, timed with performance.now() around batches of calls (≥ 5 ms
//      each) so the timer's resolution does not matter;
//   3. `m.explain(input)` of one task over 5,000 instances (`m.bench_fixture('cluster', 5000)`);
//   4. the same calls natively (`cargo bench -p berth-tools --bench validate -- --json`, same
//      machine, same run) and the ratio wasm / native.
// `--smoke` only checks that the module loads and `validate` reports diagnostics, then exits.
// Prints a markdown table. Talks only to 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const require = createRequire(path.join(here, '..', 'package.json'));
const { chromium } = require('playwright-core');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const flag = (name) => argv.includes(`--${name}`);
const SAMPLES = Number(opt('samples', 101));
const EXPLAIN_SAMPLES = Number(opt('explain-samples', 11));
const INSTANCES = Number(opt('instances', 5000));
const JSON_OUT = opt('json', '');
const SMOKE = flag('smoke');
const NATIVE = !flag('no-native') && !SMOKE;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtMs = (x) => (Number.isFinite(x) ? `${x < 1 ? x.toFixed(3) : x.toFixed(2)} ms` : 'n/a');
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
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tools-bench-'));
  fs.mkdirSync(path.join(tmp, 'data'));
  const port = await freePort();
  const log = fs.openSync(path.join(tmp, 'berth.log'), 'a');
  const proc = spawn(
    bin,
    [
      'serve', '--port', String(port), '--data-dir', path.join(tmp, 'data'),
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

/** The native figures: the bench binary's JSON line (same inputs, same machine, same run). */
function native() {
  const r = spawnSync('cargo', ['bench', '-q', '-p', 'berth-tools', '--bench', 'validate', '--', '--json'], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error('cargo bench -p berth-tools --bench validate failed');
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  return JSON.parse(line);
}

/** Transferred bytes per response (CDP encodedDataLength), keyed by path. */
function recordTransfers(cdp) {
  const urls = new Map();
  const sizes = new Map();
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    const u = urls.get(e.requestId);
    if (u) sizes.set(new URL(u).pathname, (sizes.get(new URL(u).pathname) ?? 0) + e.encodedDataLength);
  });
  return sizes;
}

async function main() {
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const out = { browser: {}, native: null };
  try {
    const context = await browser.newContext({ extraHTTPHeaders: { 'Accept-Encoding': 'br' } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const sizes = recordTransfers(cdp);
    await page.goto(`${server.url}/ui/clusters`);
    await page.waitForFunction(() => typeof window.__berthTools === 'function', null, { timeout: 30_000 });
    await page.waitForLoadState('networkidle');
    const before = new Map(sizes);
    const firstLoad = [...before].filter(([p]) => !p.startsWith('/_berth/')).reduce((a, [, b]) => a + b, 0);

    // First use: fetch, compile and instantiate the tools module.
    const loadMs = await page.evaluate(async () => {
      const t0 = performance.now();
      const m = await window.__berthTools();
      const t1 = performance.now();
      window.__m = m;
      return t1 - t0;
    });
    await sleep(300);
    const toolsFiles = [...sizes].filter(([p]) => /\/berth_tools-/.test(p));
    const toolsBytes = toolsFiles.reduce((a, [, b]) => a + b, 0);
    out.browser.transfer = { firstLoad, tools: toolsBytes, files: [...sizes].map(([p, b]) => ({ path: p, bytes: b })) };
    out.browser.loadMs = loadMs;

    // Smoke: the module answers, with diagnostics and the highlight layer.
    const smoke = await page.evaluate(async () => {
      const m = await window.__berthTools();
      const text = '{"family": "web", "cpu": "abc", "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 256}]}';
      const v = JSON.parse(m.validate(text, ''));
      const d = v.diagnostics.find((x) => x.path === '/cpu');
      return {
        version: JSON.parse(m.version()).version,
        diagnostics: v.diagnostics.length,
        marked: d ? text.slice(d.from, d.to) : null,
        html: v.html.includes('<mark class="diag diag-error"'),
        same: (await window.__berthTools()) === m,
      };
    });
    out.smoke = smoke;
    const ok = smoke.diagnostics > 0 && smoke.marked === '"abc"' && smoke.html && smoke.same;
    console.error(`smoke: tools ${smoke.version} loaded in ${fmtMs(loadMs)}, ${smoke.diagnostics} diagnostics, /cpu marks ${smoke.marked}: ${ok ? 'ok' : 'FAILED'}`);
    if (errors.length) console.error(`page errors: ${errors.join(' | ')}`);
    if (!ok) throw new Error(`smoke failed: ${JSON.stringify(smoke)}`);
    if (SMOKE) return;

    for (const n of [1, 10, 100]) {
      out.browser[`validate${n}`] = await page.evaluate(
        async ({ n, samples }) => {
          const m = await window.__berthTools();
          const text = m.bench_fixture('taskdef', n);
          // Warm up (the engine tiers the module up), then size batches so one sample lasts
          // ≥ 5 ms: performance.now() is coarse (100 µs without cross-origin isolation).
          let t0 = performance.now();
          while (performance.now() - t0 < 300) m.validate(text, '');
          t0 = performance.now();
          let reps = 0;
          while (performance.now() - t0 < 100) {
            m.validate(text, '');
            reps++;
          }
          const batch = Math.max(1, Math.ceil((5 * reps) / (performance.now() - t0)));
          const xs = [];
          for (let s = 0; s < samples; s++) {
            t0 = performance.now();
            for (let k = 0; k < batch; k++) m.validate(text, '');
            xs.push((performance.now() - t0) / batch);
          }
          xs.sort((a, b) => a - b);
          return { bytes: text.length, ms: xs[Math.floor(xs.length / 2)], batch };
        },
        { n, samples: SAMPLES },
      );
    }
    out.browser[`explain${INSTANCES}`] = await page.evaluate(
      async ({ n, samples }) => {
        const m = await window.__berthTools();
        const input = m.bench_fixture('cluster', n);
        m.explain(input);
        m.explain(input);
        const xs = [];
        let eligible = 0;
        for (let s = 0; s < samples; s++) {
          const t0 = performance.now();
          const r = m.explain(input);
          xs.push(performance.now() - t0);
          eligible = JSON.parse(r).eligible;
        }
        xs.sort((a, b) => a - b);
        return { bytes: input.length, ms: xs[Math.floor(xs.length / 2)], eligible };
      },
      { n: INSTANCES, samples: EXPLAIN_SAMPLES },
    );
    await context.close();
  } finally {
    await browser.close();
    await server.stop();
  }
  if (NATIVE) out.native = native();

  const rows = [
    ['Cold load, UI assets transferred (main bundle, `Accept-Encoding: br`)', fmtKB(out.browser.transfer.firstLoad), '', ''],
    ['First `window.__berthTools()`: tools module transferred (br)', fmtKB(out.browser.transfer.tools), '', ''],
    ['First `window.__berthTools()`: fetch + compile + instantiate', fmtMs(out.browser.loadMs), '', ''],
  ];
  const keys = ['validate1', 'validate10', 'validate100', `explain${INSTANCES}`];
  const label = {
    validate1: 'validate, 1 container',
    validate10: 'validate, 10 containers',
    validate100: 'validate, 100 containers',
    [`explain${INSTANCES}`]: `explain, one task over ${INSTANCES} instances`,
  };
  for (const k of keys) {
    const b = out.browser[k];
    const nat = out.native?.[k];
    const ratio = nat && nat.bytes === b.bytes ? `${(b.ms / nat.ms).toFixed(2)}×` : nat ? 'inputs differ' : '';
    rows.push([`${label[k]} (${fmtKB(b.bytes)} of JSON), median`, fmtMs(b.ms), nat ? fmtMs(nat.ms) : 'n/a', ratio]);
  }
  console.log('| Measure | Chromium (wasm) | Native | wasm / native |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log('');
  console.log('Files: ' + out.browser.transfer.files.map((f) => `${f.path} ${fmtKB(f.bytes)}`).join(', '));
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(out, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
