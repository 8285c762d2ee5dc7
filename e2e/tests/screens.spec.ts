/**
 * Every screen and deep link (CONTRACT "URLs" and "DOM hooks"; dashboard checks 1, 6–9, 24):
 * what each screen shows equals what the ECS API says, deep links open the right tab with
 * `aria-current`, Back works, and the filter lives in the URL.
 */
import { test, expect, open } from '../lib/fixtures';
import { arnId, waitUntil, type Json } from '../lib/ecs';
import { seedCluster, registerWeb } from '../lib/seed';
import {
  cellByHeader,
  colNumber,
  deploymentRow,
  verdictOf,
  expectCurrentTab,
  filterInput,
  numberPattern,
  row,
  rowKeys,
  rowText,
  rows,
  table,
  tabLink,
} from '../lib/ui';

const C = '/ui/clusters/default';
const S = `${C}/services/web`;

test('clusters list: every cluster, with counts equal to DescribeClusters', async ({ page, api }) => {
  await seedCluster(api);
  await open(page, '/ui/clusters');
  await expect(rows(page, 'clusters')).toHaveCount(3);
  const described = await api.describeClusters(['default', 'c1', 'c2']);
  for (const c of described) {
    const r = row(page, 'clusters', c.clusterName);
    await expect(r).toBeVisible();
    await expect.poll(() => colNumber(r, 'services'), { message: `${c.clusterName} services` }).toBe(c.activeServicesCount);
    await expect.poll(() => colNumber(r, 'running'), { message: `${c.clusterName} running` }).toBe(c.runningTasksCount);
    await expect.poll(() => colNumber(r, 'pending'), { message: `${c.clusterName} pending` }).toBe(c.pendingTasksCount);
    await expect.poll(() => colNumber(r, 'instances'), { message: `${c.clusterName} instances` }).toBe(c.registeredContainerInstancesCount);
  }
  expect(described.find((c: Json) => c.clusterName === 'default').activeServicesCount).toBe(3);
  expect(described.find((c: Json) => c.clusterName === 'c1').runningTasksCount).toBe(2);
});

test('/ and /ui open the clusters list', async ({ page, api }) => {
  await api.createCluster('c1');
  for (const p of ['/', '/ui']) {
    await open(page, p);
    await expect(row(page, 'clusters', 'c1')).toBeVisible();
  }
});

test('cluster tabs: services, tasks, instances (remaining cpu/memory), events merged newest first', async ({ page, api }) => {
  const scene = await seedCluster(api);

  // services (the default tab)
  await open(page, C);
  await expectCurrentTab(page, `${C}/services`);
  await expect(rows(page, 'services')).toHaveCount(3);
  for (const s of ['web', 'api', 'worker']) await expect(row(page, 'services', s)).toBeVisible();

  // tasks: every task of the cluster, RUNNING and STOPPED (status defaults to all)
  await open(page, `${C}/tasks`);
  await expectCurrentTab(page, `${C}/tasks`);
  const running = (await api.listTasks('default', { desiredStatus: 'RUNNING' })).map(arnId);
  const stopped = (await api.listTasks('default', { desiredStatus: 'STOPPED' })).map(arnId);
  expect(stopped).toContain(arnId(scene.crashed.taskArn));
  await expect.poll(async () => (await rowKeys(page, 'tasks')).sort()).toEqual([...running, ...stopped].sort());

  // instances: one row per container instance, with its remaining cpu and memory
  await open(page, `${C}/instances`);
  await expectCurrentTab(page, `${C}/instances`);
  const cis = await api.containerInstances();
  await expect(rows(page, 'instances')).toHaveCount(cis.length);
  for (const ci of cis) {
    const r = row(page, 'instances', arnId(ci.containerInstanceArn));
    const rem = (n: string) => ci.remainingResources.find((x: Json) => x.name === n).integerValue as number;
    await expect.poll(() => rowText(r), { message: `remaining CPU ${rem('CPU')}` }).toMatch(numberPattern(rem('CPU')));
    await expect.poll(() => rowText(r), { message: `remaining memory ${rem('MEMORY')}` }).toMatch(numberPattern(rem('MEMORY')));
    const az = ci.attributes.find((a: Json) => a.name === 'ecs.availability-zone')?.value;
    if (az) await expect(r).toContainText(az);
  }

  // events: all services merged, newest first, each naming its service
  await open(page, `${C}/events`);
  await expectCurrentTab(page, `${C}/events`);
  const evs: Json[] = [];
  for (const s of ['web', 'api', 'worker']) {
    for (const e of (await api.describeService('default', s)).events) evs.push({ ...e, service: s });
  }
  const byId = new Map(evs.map((e) => [e.id, e]));
  await expect(rows(page, 'events').first()).toBeVisible();
  const keys = await rowKeys(page, 'events');
  expect(keys.length).toBeGreaterThan(0);
  for (const k of keys) expect(byId.has(k), `event row ${k} is a service event`).toBe(true);
  const times = keys.map((k) => Number(byId.get(k).createdAt));
  for (let i = 1; i < times.length; i++) expect(times[i], `event ${keys[i]} is not newer than the one above`).toBeLessThanOrEqual(times[i - 1]);
  const newest = Math.max(...evs.map((e) => Number(e.createdAt)));
  expect(times[0]).toBe(newest);
  expect(new Set(keys.map((k) => byId.get(k).service)).size, 'events of several services').toBeGreaterThan(1);
  for (const k of keys.slice(0, 10)) await expect(row(page, 'events', k)).toContainText(byId.get(k).service);
});

test('a cluster names its capacity providers; instances launched by managed scaling name theirs', async ({ page, api }) => {
  await api.ecs('CreateCapacityProvider', {
    name: 'auto',
    autoScalingGroupProvider: { autoScalingGroupArn: 'auto-asg', managedScaling: { status: 'ENABLED', instanceWarmupPeriod: 0 } },
  });
  await api.ecs('CreateCluster', {
    clusterName: 'scaling',
    capacityProviders: ['auto'],
    defaultCapacityProviderStrategy: [{ capacityProvider: 'auto', weight: 1 }],
  });
  await registerWeb(api);
  // The cluster has no instances: the service's tasks find no room until managed scaling adds some.
  await api.ecs('CreateService', { cluster: 'scaling', serviceName: 'grow', taskDefinition: 'web:1', desiredCount: 2 });
  const cis = await waitUntil('managed scaling to launch instances', async () => {
    const l = await api.containerInstances('scaling');
    return l.length > 0 ? l : null;
  });
  await open(page, '/ui/clusters/scaling/instances');
  await expect(page.locator('.counts')).toContainText('capacity providers: auto');
  await expect(rows(page, 'instances')).toHaveCount(cis.length);
  for (const ci of cis) {
    expect(ci.capacityProviderName).toBe('auto');
    await expect(row(page, 'instances', arnId(ci.containerInstanceArn)).locator('[data-col=provider]')).toHaveText('auto');
  }
  // The default cluster's configured instances were launched by no provider.
  await open(page, `${C}/instances`);
  await expect(rows(page, 'instances').first().locator('[data-col=provider]')).toHaveText('—');
  await expect(page.locator('.counts')).toContainText('capacity providers: FARGATE, FARGATE_SPOT');
});

test('an EXTERNAL service shows its task sets, PRIMARY first, as DescribeTaskSets describes them', async ({ page, api }) => {
  await registerWeb(api);
  await api.ecs('CreateService', { serviceName: 'ext', desiredCount: 4, deploymentController: { type: 'EXTERNAL' } });
  const set = async (scale: number) =>
    (await api.ecs('CreateTaskSet', {
      cluster: 'default', service: 'ext', taskDefinition: 'web:1', launchType: 'EC2',
      scale: { value: scale, unit: 'PERCENT' }, externalId: `deploy-${scale}`,
    })).taskSet as Json;
  const blue = await set(50);
  const green = await set(25);
  await api.ecs('UpdateServicePrimaryTaskSet', { cluster: 'default', service: 'ext', primaryTaskSet: green.id });
  await open(page, '/ui/clusters/default/services/ext');
  await expect(page.locator('[data-fact=controller]')).toHaveText('EXTERNAL');
  await expect.poll(() => rowKeys(page, 'task-sets')).toEqual([green.id, blue.id]);
  await expect(row(page, 'task-sets', green.id).locator('[data-col=status]')).toHaveText('PRIMARY');
  await expect(row(page, 'task-sets', blue.id).locator('[data-col=status]')).toHaveText('ACTIVE');
  await expect(row(page, 'task-sets', blue.id).locator('[data-col=scale]')).toHaveText('50%');
  // The counts follow the cluster live: 4 × 50 % = 2 and 4 × 25 % = 1 tasks, once running.
  await expect(row(page, 'task-sets', blue.id).locator('[data-col=running]')).toHaveText('2/2');
  await expect(row(page, 'task-sets', green.id).locator('[data-col=running]')).toHaveText('1/1');
  const described = (await api.ecs('DescribeTaskSets', { cluster: 'default', service: 'ext', taskSets: [blue.id] })).taskSets as Json[];
  expect(described[0].runningCount).toBe(2);
  await expect(row(page, 'task-sets', blue.id).locator('[data-col=stability]')).toHaveText(/^(STABILIZING|STEADY_STATE)$/);
});

test('service tabs: overview counts, deployments, tasks with stopped details, events, configuration', async ({ page, api }) => {
  const scene = await seedCluster(api);
  const svc = await api.describeService('default', 'web');

  await open(page, S);
  await expectCurrentTab(page, `${S}/overview`);
  for (const k of ['desired', 'running', 'pending'] as const) {
    await expect(page.locator(`[data-count="${k}"]`).first()).toHaveText(new RegExp(`(^|\\D)${svc[`${k}Count`]}(\\D|$)`));
  }

  await open(page, `${S}/deployments`);
  await expectCurrentTab(page, `${S}/deployments`);
  const d = svc.deployments[0];
  const dRow = deploymentRow(page, d.id);
  await expect(dRow).toHaveCount(1);
  await expect(verdictOf(dRow)).toHaveAttribute('data-verdict', 'succeeded');
  await expect(dRow).toContainText('Succeeded');

  await open(page, `${S}/tasks`);
  await expectCurrentTab(page, `${S}/tasks`);
  const t = table(page, 'tasks');
  for (const h of ['Task', 'Status', 'Health', 'Revision', 'Started', 'Stopped reason', 'Stop code', 'Exit code', 'Stopped at']) {
    await expect(t.getByRole('columnheader', { name: h, exact: true }), `tasks table has the column ${h}`).toHaveCount(1);
  }
  for (const wt of scene.webTasks) await expect(row(page, 'tasks', arnId(wt.taskArn))).toBeVisible();
  const crashedId = arnId(scene.crashed.taskArn);
  const cr = row(page, 'tasks', crashedId);
  await expect(cr).toBeVisible();
  expect(await cellByHeader(t, cr, 'Stopped reason')).toContain('Essential container in task exited');
  expect(await cellByHeader(t, cr, 'Stop code')).toContain('EssentialContainerExited');
  expect(await cellByHeader(t, cr, 'Exit code')).toMatch(/(^|\D)1(\D|$)/);
  expect(await cellByHeader(t, cr, 'Stopped at'), 'Stopped at is shown').not.toBe('');
  expect(await cellByHeader(t, cr, 'Status')).toMatch(/stopped/i);
  // ?status= narrows the table
  await open(page, `${S}/tasks?status=STOPPED`);
  await expect.poll(() => rowKeys(page, 'tasks')).toEqual([crashedId]);
  await open(page, `${S}/tasks?status=RUNNING`);
  await expect.poll(async () => (await rowKeys(page, 'tasks')).sort()).toEqual(scene.webTasks.map((x) => arnId(x.taskArn)).sort());

  await open(page, `${S}/events`);
  await expectCurrentTab(page, `${S}/events`);
  const fresh = await api.describeService('default', 'web');
  await expect(row(page, 'events', fresh.events[0].id)).toContainText(fresh.events[0].message.slice(0, 40));
  expect((await rowKeys(page, 'events'))[0], 'newest event first').toBe(fresh.events[0].id);

  await open(page, `${S}/configuration`);
  await expectCurrentTab(page, `${S}/configuration`);
  await expect(page.locator('#app')).toContainText('web:1');
  await expect(page.locator('#app')).toContainText('EC2');
});

test('task page: containers, network bindings, instance, AZ, revision, timestamps', async ({ page, api }) => {
  const scene = await seedCluster(api);
  const task = scene.webTasks[0];
  const id = arnId(task.taskArn);
  await open(page, `${C}/tasks/${id}`);
  const app = page.locator('#app');
  await expect(app).toContainText(id);
  for (const c of task.containers) {
    const r = row(page, 'containers', c.name);
    await expect(r).toBeVisible();
    await expect(r).toContainText(/running/i);
    await expect(r).toContainText(c.image);
    for (const nb of c.networkBindings ?? []) await expect(r.or(app).first()).toContainText(String(nb.hostPort));
  }
  await expect(app).toContainText(arnId(task.containerInstanceArn));
  await expect(app).toContainText(task.availabilityZone);
  await expect(app).toContainText(/web:1\b|revision\s*1\b/i);
  // timestamps: created and started are shown (as <time datetime> or as UTC text)
  for (const field of ['createdAt', 'startedAt']) {
    const at = new Date(Number(task[field]) * 1000);
    const hms = at.toISOString().slice(11, 19);
    const asTime = await page.locator('time[datetime]').evaluateAll(
      (ts, ms) => ts.some((t) => Math.abs(Date.parse(t.getAttribute('datetime') ?? '') - ms) < 1500),
      at.getTime(),
    );
    expect(asTime || (await app.textContent())!.includes(hms), `${field} ${at.toISOString()} is on the page`).toBe(true);
  }

  // a bridge-mode task has no network interface
  await expect(page.locator('[data-fact="eni"]')).toHaveText('—');

  // a stopped task's page shows why it stopped
  await open(page, `${C}/tasks/${arnId(scene.crashed.taskArn)}`);
  await expect(app).toContainText('Essential container in task exited');
  await expect(app).toContainText('EssentialContainerExited');

  // an awsvpc task's page names its network interface: subnet and status (the simulated
  // runtime gives it no address)
  const [fg] = await api.listTasks('c1');
  await open(page, `/ui/clusters/c1/tasks/${arnId(fg)}`);
  await expect(page.locator('[data-fact="eni"]')).toHaveText('subnet-12345678 · ATTACHED');
});

test('task definitions: families, revisions, JSON view', async ({ page, api }) => {
  await registerWeb(api);
  await api.registerTaskDefinition('api');
  await open(page, '/ui/task-definitions');
  await expect(row(page, 'families', 'web')).toBeVisible();
  await expect(row(page, 'families', 'api')).toBeVisible();

  await open(page, '/ui/task-definitions/web');
  await expect.poll(async () => (await rowKeys(page, 'revisions')).sort()).toEqual(['1', '2']);

  await open(page, '/ui/task-definitions/web/2');
  const td = (await api.ecs('DescribeTaskDefinition', { taskDefinition: 'web:2' })).taskDefinition;
  const app = page.locator('#app');
  await expect(app).toContainText(/"family":\s*"web"/);
  await expect(app).toContainText(/"image":\s*"nginx:1\.28"/);
  await expect(app).toContainText(td.taskDefinitionArn);
});

test('a fresh load of every deep link opens its tab with aria-current', async ({ page, api }) => {
  await seedCluster(api);
  const task = (await api.serviceTasks('default', 'web'))[0];
  for (const tab of ['services', 'tasks', 'instances', 'events']) {
    await open(page, `${C}/${tab}`);
    await expectCurrentTab(page, `${C}/${tab}`);
  }
  for (const [tab, tableName] of [
    ['deployments', 'deployments'],
    ['tasks', 'tasks'],
    ['events', 'events'],
  ] as const) {
    await open(page, `${S}/${tab}`);
    await expectCurrentTab(page, `${S}/${tab}`);
    await expect(table(page, tableName)).toBeVisible();
  }
  for (const tab of ['overview', 'configuration']) {
    await open(page, `${S}/${tab}`);
    await expectCurrentTab(page, `${S}/${tab}`);
  }
  await open(page, `${C}/tasks/${arnId(task.taskArn)}`);
  await expect(row(page, 'containers', 'web')).toBeVisible();
  await open(page, '/ui/task-definitions/web/1');
  await expect(page.locator('#app')).toContainText(/"family":\s*"web"/);
});

test('tabs change the URL and Back returns to the previous tab', async ({ page, api }) => {
  await seedCluster(api);
  await open(page, `${S}/overview`);
  await tabLink(page, `${S}/deployments`).click();
  await expect(page).toHaveURL(new RegExp(`${S}/deployments$`));
  await expectCurrentTab(page, `${S}/deployments`);
  await tabLink(page, `${S}/tasks`).click();
  await expect(page).toHaveURL(new RegExp(`${S}/tasks(\\?.*)?$`));
  await expectCurrentTab(page, `${S}/tasks`);
  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`${S}/deployments$`));
  await expectCurrentTab(page, `${S}/deployments`);
  await expect(table(page, 'deployments')).toBeVisible();
  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`${S}(/overview)?$`));
  await expectCurrentTab(page, `${S}/overview`);
  await page.goForward();
  await expectCurrentTab(page, `${S}/deployments`);
});

test('filter: ?q= in the URL, restored on reload, Back restores the previous filter', async ({ page, api }) => {
  await seedCluster(api);
  await open(page, `${C}/services`);
  await expect(rows(page, 'services')).toHaveCount(3);
  const f = filterInput(page);

  await f.fill('wor');
  await expect(page).toHaveURL(/[?&]q=wor(&|$)/);
  await expect.poll(() => rowKeys(page, 'services')).toEqual(['worker']);

  // A pause, as between two searches: edits within a second replace the history entry (so Back
  // skips single keystrokes); a later edit is a new entry.
  await page.waitForTimeout(1200);
  await f.fill('api');
  await expect(page).toHaveURL(/[?&]q=api(&|$)/);
  await expect.poll(() => rowKeys(page, 'services')).toEqual(['api']);

  await page.reload();
  await expect(page.locator('#app[data-ready]')).toBeAttached();
  await expect(filterInput(page)).toHaveValue('api');
  await expect.poll(() => rowKeys(page, 'services')).toEqual(['api']);

  await page.goBack();
  await expect(page).toHaveURL(/[?&]q=wor(&|$)/);
  await expect(filterInput(page)).toHaveValue('wor');
  await expect.poll(() => rowKeys(page, 'services')).toEqual(['worker']);

  // a deep link with ?q= filters on first load, also on the tasks table
  const someTask = arnId((await api.serviceTasks('default', 'api'))[0].taskArn);
  await open(page, `${C}/tasks?q=${someTask.slice(0, 12)}`);
  await expect(filterInput(page)).toHaveValue(someTask.slice(0, 12));
  await expect.poll(() => rowKeys(page, 'tasks')).toEqual([someTask]);
});

test('a task stopped over an hour ago is still listed, marked "retained by Berth"', async ({ page, api }) => {
  await api.registerTaskDefinition('job');
  const [t] = await api.runTasks('default', 'job', 1);
  await api.waitTasksRunning('default', [t.taskArn]);
  await api.crash(t.taskArn, 1);
  await api.waitTasksStopped('default', [t.taskArn]);
  await api.advance(3700);
  const [after] = await api.describeTasks('default', [t.taskArn]);
  expect(after.lastStatus).toBe('STOPPED');
  await open(page, `${C}/tasks`);
  const r = row(page, 'tasks', arnId(t.taskArn));
  await expect(r).toBeVisible();
  await expect(r).toContainText('retained by Berth');
  await expect(r).toContainText('Essential container in task exited');
});
