/**
 * Live updates over the change stream (dashboard checks 2–5): changes made by other clients show
 * within 1 s without a reload, one `text/event-stream` per tab, and a server restart shows
 * `Reconnecting…` then `Live` with the changes made meanwhile.
 */
import type { Page } from '@playwright/test';
import { test, expect, open } from '../lib/fixtures';
import { awsCli, awsCliPath } from '../lib/awscli';
import { arnId, Berth, sleep } from '../lib/ecs';
import { startServer } from '../lib/server';
import { cellText, liveChip, row, table } from '../lib/ui';

/** Marks the document so a reload (which would drop the marker) is detected. */
async function markNoReload(page: Page) {
  await page.evaluate(() => ((window as unknown as { __berthNoReload: number }).__berthNoReload = 1));
}
async function expectNoReload(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { __berthNoReload?: number }).__berthNoReload), 'the page did not reload').toBe(1);
}

test('a service created by the AWS CLI appears within 1 s, without reload', async ({ page, api, baseURL }, testInfo) => {
  await api.registerTaskDefinition('web');
  await api.createService({ name: 'existing', taskDefinition: 'web', desiredCount: 1 });
  await open(page, '/ui/clusters/default/services');
  await expect(row(page, 'services', 'existing')).toBeVisible();
  await expect(liveChip(page)).toHaveAttribute('data-state', 'live');
  await markNoReload(page);

  let done: number;
  if (awsCliPath()) {
    await awsCli(baseURL!, ['ecs', 'create-service', '--cluster', 'default', '--service-name', 'from-cli', '--task-definition', 'web', '--desired-count', '1']);
    done = Date.now();
  } else {
    testInfo.annotations.push({ type: 'note', description: 'AWS CLI absent (.venv/bin/aws): created the service through the ECS API instead' });
    await api.createService({ name: 'from-cli', taskDefinition: 'web', desiredCount: 1 });
    done = Date.now();
  }
  await expect(row(page, 'services', 'from-cli')).toBeVisible({ timeout: 1000 });
  expect(Date.now() - done, 'ms from the CreateService answer to the row').toBeLessThanOrEqual(1000);
  await expectNoReload(page);
});

test('UpdateService desiredCount 2→5 updates the service row within 1 s', async ({ page, api }) => {
  await api.seedService('web', { desiredCount: 2 });
  await open(page, '/ui/clusters/default/services');
  const t = table(page, 'services');
  const r = row(page, 'services', 'web');
  await expect.poll(() => cellText(t, r, 'desired', /^desired/i)).toMatch(/^\D*2(\D|$)/);
  await markNoReload(page);
  await api.updateService('default', 'web', { desiredCount: 5 });
  const t0 = Date.now();
  await expect.poll(() => cellText(t, r, 'desired', /^desired/i), { timeout: 1000, intervals: [50] }).toMatch(/^\D*5(\D|$)/);
  expect(Date.now() - t0).toBeLessThanOrEqual(1000);
  await expectNoReload(page);
  // and the running count follows as the tasks start
  await api.waitStable('default', 'web');
  await expect.poll(() => cellText(t, r, 'running', /^running/i), { timeout: 2000 }).toMatch(/^\D*5(\D|$)/);
});

test('exactly one text/event-stream per tab across 5 navigations', async ({ page, api, context }) => {
  await api.seedService('web', { desiredCount: 1 });
  const task = (await api.serviceTasks('default', 'web'))[0];
  const streams: string[] = [];
  context.on('response', (r) => {
    if ((r.headers()['content-type'] ?? '').startsWith('text/event-stream')) streams.push(r.url());
  });

  await open(page, '/ui/clusters');
  await expect(liveChip(page)).toHaveAttribute('data-state', 'live');
  const paths = [
    '/ui/clusters/default/services',
    '/ui/clusters/default/services/web/overview',
    '/ui/clusters/default/services/web/tasks',
    `/ui/clusters/default/tasks/${arnId(task.taskArn)}`,
    '/ui/task-definitions',
  ];
  for (const p of paths) {
    // in-app navigation (a link when the page has one, else the router's history API)
    const link = page.locator(`a[href="${p}"]`).first();
    if (await link.count()) await link.click();
    else {
      await page.evaluate((to) => {
        history.pushState(null, '', to);
        window.dispatchEvent(new PopStateEvent('popstate', { state: null }));
      }, p);
    }
    await expect(page).toHaveURL(new RegExp(`${p.replace(/[.?]/g, '\\$&')}(\\?.*)?$`));
    await expect(page.locator('#app[data-ready]')).toBeAttached();
  }
  await sleep(1500);
  expect(streams, 'event streams opened by the tab').toHaveLength(1);
  expect(new URL(streams[0]).pathname).toBe('/_berth/events');

  // a second tab has its own (one) stream
  const other = await context.newPage();
  await open(other, '/ui/clusters');
  await expect(liveChip(other)).toHaveAttribute('data-state', 'live');
  await sleep(1000);
  expect(streams).toHaveLength(2);
  await other.close();
});

test('server restart: Reconnecting…, then Live, and the changes made meanwhile appear', async ({ page }) => {
  test.setTimeout(120_000);
  const server = await startServer();
  try {
    const api = new Berth(server.url);
    await api.registerTaskDefinition('web');
    await api.createService({ name: 'before', taskDefinition: 'web', desiredCount: 1 });
    await open(page, `${server.url}/ui/clusters/default/services`);
    const chip = liveChip(page);
    await expect(chip).toHaveAttribute('data-state', 'live');
    await expect(chip).toHaveText('Live');
    await expect(row(page, 'services', 'before')).toBeVisible();

    await server.kill();
    await expect(chip).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
    await expect(chip).toHaveText('Reconnecting…');

    // Changes while the page's server is down: another process on the same data directory
    // (on another port, which the page never talks to) makes them, then goes away.
    const side = await startServer({ dataDir: server.dataDir });
    const sideApi = new Berth(side.url);
    await sideApi.createService({ name: 'while-down', taskDefinition: 'web', desiredCount: 1 });
    await sideApi.updateService('default', 'before', { desiredCount: 0 });
    await side.stop();

    await server.restart();
    const back = Date.now();
    await expect(chip).toHaveAttribute('data-state', 'live', { timeout: 10_000 });
    await expect(chip).toHaveText('Live');
    expect(Date.now() - back, 'ms from the server answering again to Live').toBeLessThanOrEqual(5000 + 3000);
    await expect(row(page, 'services', 'while-down')).toBeVisible({ timeout: 3000 });
    const t = table(page, 'services');
    await expect.poll(() => cellText(t, row(page, 'services', 'before'), 'desired', /^desired/i), { timeout: 3000 }).toMatch(/^\D*0(\D|$)/);

    // and the stream is live again: a change after the restart shows up
    await api.createService({ name: 'after', taskDefinition: 'web', desiredCount: 1 });
    await expect(row(page, 'services', 'after')).toBeVisible({ timeout: 1000 });
  } finally {
    await server.stop();
  }
});
