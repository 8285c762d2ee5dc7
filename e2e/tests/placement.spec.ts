/**
 * Placement, explained in the browser (issue 8 item 3; dashboard checks 21–24): berth-core's
 * placement engine runs in the tools module over the cluster's instances and tasks as the API
 * returns them. A task that needs more memory than any instance has shows the memory check
 * failing on every instance with the shortfall; the browser's verdict is the server's own
 * (the service event ECS would write); registering a big enough instance turns the service's task
 * RUNNING and the view follows; the topology shows instances by zone with their tasks.
 */
import { test, expect, open } from '../lib/fixtures';
import { container, waitUntil } from '../lib/ecs';
import { DEFAULT_INSTANCES } from '../lib/server';

const BIG = DEFAULT_INSTANCES.instanceMemory * 2;

test('a task bigger than every instance: memory fails everywhere, the verdict is the server\'s, and a big instance places it', async ({ page, api }) => {
  test.setTimeout(120_000);
  await api.registerTaskDefinition('big', { containers: [container({ name: 'big', memory: BIG, cpu: 128 })] });
  await api.createService({ name: 'big', taskDefinition: 'big:1', desiredCount: 1 });
  // The server's own decision: the service event ECS writes when it cannot place.
  const event = await waitUntil('the placement-failure event', async () => {
    const s = await api.describeService('default', 'big');
    return (s.events ?? []).map((e: { message: string }) => e.message).find((m: string) => m.includes('unable to place'));
  }, { timeoutMs: 30_000 });

  await open(page, '/ui/clusters/default/services/big/placement');
  const t = page.locator('table[data-table=placement]');
  await expect(t.locator('tbody tr')).toHaveCount(DEFAULT_INSTANCES.instances);
  const memory = t.locator('td[data-stage=memory]');
  await expect(memory).toHaveCount(DEFAULT_INSTANCES.instances);
  for (const cell of await memory.all()) {
    await expect(cell).toHaveAttribute('data-pass', 'false');
    await expect(cell).toContainText(String(BIG));
  }
  // CPU passes everywhere: only memory is short.
  for (const cell of await t.locator('td[data-stage=cpu]').all()) await expect(cell).toHaveAttribute('data-pass', 'true');
  // Same cluster state, same answer: the browser's message is the server's event text.
  const verdict = page.getByTestId('verdict');
  await expect(verdict).toContainText('cannot place');
  await expect(verdict).toContainText(event.replace(/^\(service big\) /, ''));
  await expect(page.getByTestId('summary')).toContainText(`RESOURCE:MEMORY: ${DEFAULT_INSTANCES.instances}`);

  // A big enough instance: the view updates live, and the service's task runs.
  await api.ecs('RegisterContainerInstance', {
    cluster: 'default',
    instanceIdentityDocument: JSON.stringify({ instanceId: 'i-0bigbigbigbigbig0', availabilityZone: 'us-east-1a', instanceType: 'r6i.2xlarge', region: 'us-east-1' }),
    totalResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: 8192 },
      { name: 'MEMORY', type: 'INTEGER', integerValue: BIG * 2 },
    ],
  });
  await expect(t.locator('tbody tr')).toHaveCount(DEFAULT_INSTANCES.instances + 1, { timeout: 20_000 });
  await waitUntil('the big task RUNNING', async () => (await api.describeService('default', 'big')).runningCount === 1, { timeoutMs: 30_000 });
  // Placed: the big instance still has room for another, so the next one would place there.
  await expect(verdict).toContainText('places', { timeout: 20_000 });
  await expect(verdict).toContainText(`(1 of ${DEFAULT_INSTANCES.instances + 1} instances`);
});

test('the topology groups instances by zone with their tasks as blocks', async ({ page, api }) => {
  await api.registerTaskDefinition('blk', { containers: [container({ name: 'blk', memory: 1024, cpu: 256 })] });
  await api.createService({ name: 'blk', taskDefinition: 'blk:1', desiredCount: 3 });
  await api.waitStable('default', 'blk');
  await open(page, '/ui/clusters/default/topology');
  const topo = page.getByTestId('topology');
  await expect(topo.locator('section.az')).toHaveCount(DEFAULT_INSTANCES.azs.length);
  await expect(topo.locator('.instance')).toHaveCount(DEFAULT_INSTANCES.instances);
  await expect(topo.locator('a.block')).toHaveCount(3);
  // Live: scaling the service adds blocks without a reload.
  await api.updateService('default', 'blk', { desiredCount: 5 });
  await expect(topo.locator('a.block')).toHaveCount(5, { timeout: 20_000 });
  const width = await topo.locator('a.block').first().evaluate((e) => (e as HTMLElement).style.width);
  // 1024 of 8192 MiB = 12.5 % of the instance's width.
  expect(width).toBe('12.5%');
});

test('"would it place?" from the editor runs the same engine on the text being edited', async ({ page }) => {
  await open(page, '/ui/editor');
  await page.getByRole('button', { name: 'Would it place?' }).click();
  await page.getByLabel('Cluster to place in').selectOption('default');
  await expect(page.getByTestId('verdict')).toContainText('places');
  const big = JSON.stringify({ family: 'huge', containerDefinitions: [{ name: 'a', image: 'nginx:1.27', memory: BIG }] }, null, 2);
  await page.getByRole('textbox', { name: 'Task definition JSON' }).focus();
  await page.evaluate((t) => {
    const ta = document.querySelector('textarea.ed-text') as HTMLTextAreaElement;
    ta.select();
    document.execCommand('insertText', false, t);
  }, big);
  await expect(page.getByTestId('verdict')).toContainText('cannot place');
  await expect(page.locator('td[data-stage=memory][data-pass=false]')).toHaveCount(DEFAULT_INSTANCES.instances);
});
