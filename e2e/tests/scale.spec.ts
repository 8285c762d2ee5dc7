/**
 * 10,000 tasks (dashboard checks 40 and 42): the task table is virtualised (≤ 200 `tr` in the
 * DOM), every task can be scrolled to and the end shows the last one, and one task's change
 * mutates only its own row.
 *
 * This test runs its own server with big instances (10 × 16384 CPU / 64 GiB) and seeds through
 * RunTask, 10 tasks per call, 16 calls at a time.
 */
import { test, expect, open } from '../lib/fixtures';
import { arnId, Berth, waitUntil } from '../lib/ecs';
import { startServer, type BerthServer } from '../lib/server';
import { row, rows, table } from '../lib/ui';

const N = 10_000;
const MAX_TR = 200;

let server: BerthServer;
let api: Berth;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  test.setTimeout(600_000);
  server = await startServer({ instances: 10, instanceCpu: 16384, instanceMemory: 65536 });
  api = new Berth(server.url);
  await api.registerTaskDefinition('tiny', { containers: [{ name: 'app', image: 'busybox:1.36', cpu: 10, memory: 32, essential: true }] });
  const arns = await api.runManyTasks('default', 'tiny', N, 16);
  expect(arns).toHaveLength(N);
  await waitUntil(
    `${N} tasks RUNNING`,
    async () => (await api.describeClusters(['default']))[0].runningTasksCount === N,
    { timeoutMs: 300_000, intervalMs: 1000 },
  );
});

test.afterAll(async () => {
  await server?.stop();
});

test('10,000 tasks: at most 200 tr, and scrolling reaches every task down to the last', async ({ page }) => {
  test.setTimeout(300_000);
  await open(page, `${server.url}/ui/clusters/default/tasks`);
  await expect(rows(page, 'tasks').first()).toBeVisible({ timeout: 60_000 });
  const trCount = await page.locator('tr').count();
  expect(trCount, '<tr> elements in the DOM').toBeLessThanOrEqual(MAX_TR);

  const all = new Set((await api.listTasks('default')).map(arnId));
  expect(all.size).toBe(N);

  const result = await page.evaluate(async (max) => {
    const t = document.querySelector('table[data-table="tasks"]') as HTMLElement;
    let sc: HTMLElement | null = t.parentElement;
    while (sc && !(sc.scrollHeight > sc.clientHeight + 1 && /(auto|scroll)/.test(getComputedStyle(sc).overflowY))) sc = sc.parentElement;
    const el = (sc ?? document.scrollingElement) as HTMLElement;
    const frame = () => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 15))));
    const seen = new Set<string>();
    let maxTr = 0;
    const collect = () => {
      t.querySelectorAll('tbody tr[data-key]').forEach((tr) => seen.add(tr.getAttribute('data-key') ?? ''));
      maxTr = Math.max(maxTr, document.querySelectorAll('tr').length);
    };
    el.scrollTop = 0;
    await frame();
    collect();
    for (let i = 0; i < 5000; i++) {
      const before = el.scrollTop;
      el.scrollTop = before + Math.max(100, el.clientHeight * 0.8);
      await frame();
      collect();
      if (el.scrollTop === before) break;
    }
    await frame();
    collect();
    const bodyRows = t.querySelectorAll('tbody tr[data-key]');
    const last = bodyRows[bodyRows.length - 1] as HTMLElement;
    const view = el === document.scrollingElement ? { top: 0, bottom: window.innerHeight } : el.getBoundingClientRect();
    const r = last.getBoundingClientRect();
    return {
      seen: [...seen],
      maxTr,
      lastKey: last.getAttribute('data-key'),
      lastVisible: r.bottom > view.top && r.top < view.bottom && r.bottom <= Math.min(view.bottom, window.innerHeight) + 1,
      atEnd: Math.abs(el.scrollHeight - el.clientHeight - el.scrollTop) <= 2,
      max,
    };
  }, MAX_TR);

  expect(result.maxTr, 'most <tr> in the DOM while scrolling').toBeLessThanOrEqual(MAX_TR);
  const missing = [...all].filter((k) => !result.seen.includes(k));
  expect(missing.length, `tasks never rendered while scrolling (e.g. ${missing.slice(0, 3).join(', ')})`).toBe(0);
  expect(result.atEnd, 'scrolled to the end').toBe(true);
  expect(all.has(result.lastKey ?? ''), 'the last row is a task').toBe(true);
  expect(result.lastVisible, `the last task ${result.lastKey} is visible at the end`).toBe(true);
  await expect(row(page, 'tasks', result.lastKey!)).toBeVisible();
});

test("10,000 tasks: stopping one task mutates only its own row", async ({ page }) => {
  test.setTimeout(180_000);
  await open(page, `${server.url}/ui/clusters/default/tasks`);
  await expect(rows(page, 'tasks').first()).toBeVisible({ timeout: 60_000 });
  await page.waitForTimeout(2000); // let the first render and any late deltas settle
  const victim = (await rows(page, 'tasks').nth(2).getAttribute('data-key'))!;

  await page.evaluate(() => {
    const tbody = document.querySelector('table[data-table="tasks"] tbody') as HTMLElement;
    const w = window as unknown as { __touched: string[] };
    w.__touched = [];
    new MutationObserver((ms) => {
      for (const m of ms) {
        const target = m.target instanceof Element ? m.target : m.target.parentElement;
        const tr = target?.closest('tr[data-key]');
        if (tr && tbody.contains(tr)) w.__touched.push(tr.getAttribute('data-key') ?? '');
        else {
          const added = Array.from(m.addedNodes).map((n) => (n instanceof Element ? n.getAttribute('data-key') : n.nodeName));
          const removed = Array.from(m.removedNodes).map((n) => (n instanceof Element ? n.getAttribute('data-key') : n.nodeName));
          w.__touched.push(`(tbody ${m.type}: +${added.join(',')} -${removed.join(',')})`);
        }
      }
    }).observe(tbody, { subtree: true, childList: true, attributes: true, characterData: true });
  });

  await api.ecs('StopTask', { cluster: 'default', task: victim, reason: 'e2e: stop one of 10,000' });
  await api.waitTasksStopped('default', [victim]);
  await expect(row(page, 'tasks', victim)).toContainText(/STOPPED/i, { timeout: 3000 });
  await page.waitForTimeout(1500);
  const touched: string[] = await page.evaluate(() => (window as unknown as { __touched: string[] }).__touched);
  expect(touched.length, 'the stopped row changed').toBeGreaterThan(0);
  expect([...new Set(touched)], 'rows mutated by one task stopping').toEqual([victim]);
  await expect(table(page, 'tasks')).toBeVisible();
});
