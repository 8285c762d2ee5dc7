/**
 * Actions (CONTRACT "Actions"; dashboard checks 30–31): each opens a modal dialog, Confirm runs
 * it, and the result is checked through the ECS API; a failing call shows ECS's error text in
 * `[role=alert]`; Esc and Cancel close the dialog and give focus back to the trigger.
 *
 * The contract names the buttons, `Confirm`, `Cancel` and the typed-name box; the dialogs' own
 * fields are found by their labels (`getByLabel`), which the contract leaves open.
 */
import type { Locator, Page, Request } from '@playwright/test';
import { test, expect, open } from '../lib/fixtures';
import { arnId, type Json, waitUntil } from '../lib/ecs';
import { registerWeb } from '../lib/seed';
import { action, confirmButton, dialog, row } from '../lib/ui';

const S = '/ui/clusters/default/services/web';

/** Calls the page makes to the ECS API (`/_berth/api` or `POST /`), with their action names. */
function recordCalls(page: Page): Array<{ action: string; body: Json }> {
  const calls: Array<{ action: string; body: Json }> = [];
  page.on('request', (r: Request) => {
    const target = r.headers()['x-amz-target'];
    if (r.method() === 'POST' && target) {
      let body: Json = {};
      try {
        body = JSON.parse(r.postData() ?? '{}');
      } catch {
        // not JSON
      }
      calls.push({ action: target.split('.').pop() as string, body });
    }
  });
  return calls;
}

async function openDialog(page: Page, trigger: Locator): Promise<Locator> {
  await trigger.click();
  const d = dialog(page);
  await expect(d).toBeVisible();
  await expect(d).toHaveAttribute('aria-modal', 'true');
  return d;
}

/** A row's own action button, else the page's (after selecting the row). */
async function rowAction(page: Page, r: Locator, name: string): Promise<Locator> {
  const inRow = r.getByRole('button', { name, exact: true });
  if (await inRow.count()) return inRow;
  await r.click();
  return action(page, name);
}

test('create a service from a task-definition revision', async ({ page, api }) => {
  await registerWeb(api);
  await open(page, '/ui/task-definitions/web/1');
  const d = await openDialog(page, action(page, 'Create service'));
  await d.getByLabel(/service name|^name/i).fill('fresh');
  const desired = d.getByLabel(/desired/i);
  if (await desired.count()) await desired.fill('2');
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect(page.getByRole('status')).toContainText(/fresh/);
  const s = await api.describeService('default', 'fresh');
  expect(s.status).toBe('ACTIVE');
  expect(s.taskDefinition).toMatch(/:task-definition\/web:1$/);
  if (await desired.count()) expect(s.desiredCount).toBe(2);
});

test('deploy a new revision', async ({ page, api }) => {
  await registerWeb(api);
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 1 });
  await api.settle('default', 'web');
  await open(page, `${S}/overview`);
  const d = await openDialog(page, action(page, 'Deploy'));
  const pick = d.getByLabel(/revision|task definition/i);
  if (await pick.count()) {
    const options = await pick.locator('option').evaluateAll((os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? '']));
    // revision 2 by number, else the family itself (ECS deploys its latest ACTIVE revision: 2)
    const two =
      options.find(([v, t]) => /web:2$/.test(v) || /web:2\b|revision 2\b/i.test(t)) ?? options.find(([v]) => v === 'web' || /task-definition\/web$/.test(v));
    expect(two, `a revision-2 (or latest) option in ${JSON.stringify(options)}`).toBeTruthy();
    await pick.selectOption(two![0]);
  }
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect.poll(async () => (await api.describeService('default', 'web')).taskDefinition).toMatch(/web:2$/);
});

test('force new deployment', async ({ page, api }) => {
  await registerWeb(api);
  const created = await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 1 });
  await api.settle('default', 'web');
  await open(page, `${S}/overview`);
  const d = await openDialog(page, action(page, 'Force new deployment'));
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  const s = await api.describeService('default', 'web');
  const primary = s.deployments.find((x: Json) => x.status === 'PRIMARY');
  expect(primary.id).not.toBe(created.deployments[0].id);
  expect(primary.taskDefinition).toMatch(/web:1$/);
});

test('scale sends exactly one UpdateService with the new desiredCount', async ({ page, api }) => {
  await registerWeb(api);
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 2 });
  await api.settle('default', 'web');
  await open(page, `${S}/overview`);
  const calls = recordCalls(page);
  const d = await openDialog(page, action(page, 'Scale'));
  const n = d.getByLabel(/desired/i);
  await n.fill('5');
  expect(calls.filter((c) => c.action === 'UpdateService'), 'nothing sent before Confirm').toHaveLength(0);
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect(page.locator('[data-count="desired"]').first()).toHaveText(/(^|\D)5(\D|$)/, { timeout: 2000 });
  await page.waitForTimeout(500);
  const updates = calls.filter((c) => c.action === 'UpdateService');
  expect(updates, 'UpdateService calls').toHaveLength(1);
  expect(updates[0].body.desiredCount).toBe(5);
  expect(updates[0].body.service).toMatch(/(^|\/)web$/);
  expect(Object.keys(updates[0].body).sort(), 'only the count changes').toEqual(expect.arrayContaining(['desiredCount', 'service']));
  expect(updates[0].body).not.toHaveProperty('taskDefinition');
  expect(updates[0].body).not.toHaveProperty('forceNewDeployment');
  expect((await api.describeService('default', 'web')).desiredCount).toBe(5);
});

test('roll back to the previous revision', async ({ page, api }) => {
  await registerWeb(api);
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 1 });
  await api.settle('default', 'web');
  await api.updateService('default', 'web', { taskDefinition: 'web:2' });
  await api.settle('default', 'web');
  await open(page, `${S}/deployments`);
  const d = await openDialog(page, action(page, 'Roll back'));
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect.poll(async () => (await api.describeService('default', 'web')).taskDefinition).toMatch(/web:1$/);
});

test('stop a task (confirm)', async ({ page, api }) => {
  await registerWeb(api);
  const [t] = await api.runTasks('default', 'web:1', 1);
  await api.waitTasksRunning('default', [t.taskArn]);
  await open(page, `/ui/clusters/default/tasks/${arnId(t.taskArn)}`);
  const trigger = action(page, 'Stop task');
  const d = await openDialog(page, trigger);
  expect((await api.describeTasks('default', [t.taskArn]))[0].desiredStatus, 'nothing happens before Confirm').toBe('RUNNING');
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect.poll(async () => (await api.describeTasks('default', [t.taskArn]))[0].desiredStatus).toBe('STOPPED');
  await expect(page.locator('#app')).toContainText(/STOPP(ED|ING)|DEACTIVATING/, { timeout: 5000 });
});

test('delete a service needs its name typed', async ({ page, api }) => {
  await registerWeb(api);
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 2 });
  await api.waitStable('default', 'web');
  await open(page, `${S}/overview`);
  const d = await openDialog(page, action(page, 'Delete service'));
  const typed = d.getByRole('textbox', { name: 'Type the service name to confirm' });
  await expect(confirmButton(d)).toBeDisabled();
  await typed.fill('we');
  await expect(confirmButton(d)).toBeDisabled();
  await typed.fill('web');
  await expect(confirmButton(d)).toBeEnabled();
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect.poll(async () => (await api.describeService('default', 'web')).status).toMatch(/DRAINING|INACTIVE/);
});

test('drain and activate a container instance', async ({ page, api }) => {
  const [ci] = await api.containerInstances();
  const id = arnId(ci.containerInstanceArn);
  await open(page, '/ui/clusters/default/instances');
  const r = row(page, 'instances', id);
  await expect(r).toContainText('ACTIVE');

  let d = await openDialog(page, await rowAction(page, r, 'Drain'));
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect.poll(async () => (await api.containerInstances()).find((x: Json) => x.containerInstanceArn === ci.containerInstanceArn).status).toBe('DRAINING');
  await expect(r).toContainText('DRAINING', { timeout: 2000 });

  d = await openDialog(page, await rowAction(page, r, 'Activate'));
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect.poll(async () => (await api.containerInstances()).find((x: Json) => x.containerInstanceArn === ci.containerInstanceArn).status).toBe('ACTIVE');
  await expect(r).toContainText('ACTIVE', { timeout: 2000 });
});

test('deregister a task-definition revision', async ({ page, api }) => {
  await registerWeb(api);
  await open(page, '/ui/task-definitions/web/1');
  const d = await openDialog(page, action(page, 'Deregister'));
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect.poll(async () => (await api.ecs('DescribeTaskDefinition', { taskDefinition: 'web:1' })).taskDefinition.status).toBe('INACTIVE');
  expect((await api.ecs('DescribeTaskDefinition', { taskDefinition: 'web:2' })).taskDefinition.status).toBe('ACTIVE');
});

test("a failing call shows ECS's error text in [role=alert] inside the dialog", async ({ page, api }) => {
  await registerWeb(api);
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 1 });
  await open(page, `${S}/overview`);
  const d = await openDialog(page, action(page, 'Scale'));
  await d.getByLabel(/desired/i).fill('3');
  // The service goes away behind the page's back, so ECS refuses the UpdateService.
  await api.ecs('DeleteService', { cluster: 'default', service: 'web', force: true });
  let message = '';
  try {
    await api.updateService('default', 'web', { desiredCount: 3 });
  } catch (e) {
    message = (e as { ecsMessage: string }).ecsMessage;
  }
  expect(message, 'ECS refuses UpdateService on a deleted service').not.toBe('');
  await confirmButton(d).click();
  const alert = d.getByRole('alert');
  await expect(alert).toBeVisible();
  await expect(alert).toContainText(message);
  await expect(d, 'the dialog stays open on failure').toBeVisible();
});

test('Esc and Cancel close the dialog, send nothing and give focus back to the trigger', async ({ page, api }) => {
  await registerWeb(api);
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 1 });
  await open(page, `${S}/overview`);
  const calls = recordCalls(page);
  for (const name of ['Scale', 'Delete service', 'Force new deployment']) {
    const trigger = action(page, name);
    let d = await openDialog(page, trigger);
    await page.keyboard.press('Escape');
    await expect(d).toBeHidden();
    await expect(trigger, `focus back on ${name} after Esc`).toBeFocused();

    d = await openDialog(page, trigger);
    await d.getByRole('button', { name: 'Cancel', exact: true }).click();
    await expect(d).toBeHidden();
    await expect(trigger, `focus back on ${name} after Cancel`).toBeFocused();
  }
  await expect(page).toHaveURL(new RegExp(`${S}/overview$`));
  const mutations = calls.filter((c) => /^(Update|Delete|Create|Stop|Run)/.test(c.action));
  expect(mutations, 'no mutating call').toHaveLength(0);
  await waitUntil('service unchanged', async () => (await api.describeService('default', 'web')).desiredCount === 1);
});

test('an EXTERNAL service is deployed through its task sets: scale one, make it PRIMARY, delete the other', async ({ page, api }) => {
  await registerWeb(api);
  await api.ecs('CreateService', { serviceName: 'ext', desiredCount: 2, deploymentController: { type: 'EXTERNAL' } });
  const set = async (scale: number) =>
    (await api.ecs('CreateTaskSet', {
      cluster: 'default', service: 'ext', taskDefinition: 'web:1', launchType: 'EC2', scale: { value: scale, unit: 'PERCENT' },
    })).taskSet as Json;
  const blue = await set(100);
  const green = await set(0);
  await api.ecs('UpdateServicePrimaryTaskSet', { cluster: 'default', service: 'ext', primaryTaskSet: blue.id });
  await open(page, '/ui/clusters/default/services/ext');
  // ECS refuses rolling deployments of such a service: the dashboard does not offer them.
  await expect(action(page, 'Scale')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Deploy', exact: true })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Roll back', exact: true })).toHaveCount(0);
  const described = async (id: string) =>
    ((await api.ecs('DescribeTaskSets', { cluster: 'default', service: 'ext', taskSets: [id] })).taskSets as Json[])[0];

  let d = await openDialog(page, row(page, 'task-sets', green.id).getByRole('button', { name: 'Scale task set' }));
  await d.getByLabel(/scale/i).fill('150');
  await confirmButton(d).click();
  await expect(d.getByRole('alert')).toContainText('0 to 100');
  await d.getByLabel(/scale/i).fill('50');
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await waitUntil('green scaled to 50 %', async () => ((await described(green.id)).computedDesiredCount === 1 ? true : null));

  // The PRIMARY set has no "Make primary"; green gets it, and blue becomes ACTIVE.
  await expect(row(page, 'task-sets', blue.id).getByRole('button', { name: 'Make primary' })).toHaveCount(0);
  d = await openDialog(page, row(page, 'task-sets', green.id).getByRole('button', { name: 'Make primary' }));
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await expect(row(page, 'task-sets', green.id).locator('[data-col=status]')).toHaveText('PRIMARY');
  await expect(row(page, 'task-sets', blue.id).locator('[data-col=status]')).toHaveText('ACTIVE');
  expect((await described(blue.id)).status).toBe('ACTIVE');

  d = await openDialog(page, row(page, 'task-sets', blue.id).getByRole('button', { name: 'Delete task set' }));
  await confirmButton(d).click();
  await expect(d).toBeHidden();
  await waitUntil('blue to drain away', async () => {
    const sets = (await api.describeService('default', 'ext')).taskSets as Json[];
    return sets.length === 1 && sets[0].id === green.id ? true : null;
  });
  await expect(row(page, 'task-sets', blue.id)).toHaveCount(0);
});
