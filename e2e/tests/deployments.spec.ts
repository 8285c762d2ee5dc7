/**
 * Deployment verdicts (dashboard check 10; CONTRACT "Deployments"): a deployment rolled back by the
 * circuit breaker is a failure (`Failed`, `rolled back to revision N`) and never shows success,
 * a completed one `Succeeded`, one in progress `In progress` with running/desired.
 */
import { test, expect, open } from '../lib/fixtures';
import { BREAKER, container, type Json, waitUntil } from '../lib/ecs';
import { deploymentRow, verdictOf } from '../lib/ui';

const DEPLOYMENTS = '/ui/clusters/default/services/web/deployments';

test('circuit breaker rollback: data-verdict=failed, "Failed", "rolled back to revision 1", never success', async ({ page, api }) => {
  test.setTimeout(180_000);
  await api.registerTaskDefinition('web');
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 3, deploymentConfiguration: BREAKER });
  await api.settle('default', 'web');
  await api.registerTaskDefinition('web', { containers: [container({ image: 'nginx:broken' })] });

  await open(page, DEPLOYMENTS);
  // Record every verdict the page ever shows, from now on.
  await page.evaluate(() => {
    const w = window as unknown as { __verdicts: Array<[string | null, string | null, string]> };
    w.__verdicts = [];
    const record = (el: Element) => {
      const tr = el.closest('tr[data-key]');
      w.__verdicts.push([tr?.getAttribute('data-key') ?? null, el.getAttribute('data-verdict'), (tr ?? el).textContent ?? '']);
    };
    new MutationObserver((ms) => {
      for (const m of ms) {
        const nodes: Element[] = [];
        if (m.type === 'attributes' && m.target instanceof Element) nodes.push(m.target);
        for (const n of Array.from(m.addedNodes)) if (n instanceof Element) nodes.push(n, ...Array.from(n.querySelectorAll('[data-verdict]')));
        if (m.type === 'characterData' && m.target.parentElement) {
          const v = m.target.parentElement.closest('tr[data-key]')?.querySelector('[data-verdict]') ?? m.target.parentElement.closest('[data-verdict]');
          if (v) nodes.push(v);
        }
        nodes.filter((n) => n.hasAttribute('data-verdict')).forEach(record);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-verdict'], characterData: true });
  });

  // threshold = max(3, ceil(0.5 × 3)) = 3 failed starts trip the breaker
  await api.failStarts(3);
  const updated = await api.updateService('default', 'web', { taskDefinition: 'web:2' });
  const failedId: string = updated.deployments.find((d: Json) => d.status === 'PRIMARY').id;
  const failedRow = deploymentRow(page, failedId);
  await expect(failedRow).toBeVisible({ timeout: 5000 });

  await waitUntil(
    'the circuit breaker to roll back',
    async () => {
      const s = await api.describeService('default', 'web');
      const ds = s.deployments;
      return ds.length === 1 && ds[0].rolloutState === 'COMPLETED' && ds[0].id !== failedId && s.runningCount === 3;
    },
    { timeoutMs: 120_000, between: () => api.advance(2) },
  );
  const sds = await api.serviceDeployments('default', 'web');
  expect(sds.find((d: Json) => d.serviceDeploymentArn.endsWith(failedId.split('/').pop()!))?.status).toBe('ROLLBACK_SUCCESSFUL');

  await expect(verdictOf(failedRow)).toHaveAttribute('data-verdict', 'failed', { timeout: 3000 });
  await expect(failedRow).toContainText('Failed');
  await expect(failedRow).toContainText('rolled back to revision 1');
  // never the success verdict (ECS's own status name ROLLBACK_SUCCESSFUL may be quoted in a timeline)
  await expect(failedRow).not.toContainText('Succeeded');

  const seen: Array<[string | null, string | null, string]> = await page.evaluate(
    () => (window as unknown as { __verdicts: Array<[string | null, string | null, string]> }).__verdicts,
  );
  const suffix = failedId.split('/').pop()!;
  const mine = seen.filter(([k]) => k?.endsWith(suffix));
  expect(mine.map(([, v]) => v), 'verdicts the failed deployment went through').not.toContain('succeeded');
  expect(mine.some(([, , text]) => /Succeeded/.test(text)), 'the failed deployment never read Succeeded').toBe(false);

  // after a reload too
  await open(page, DEPLOYMENTS);
  await expect(verdictOf(deploymentRow(page, failedId))).toHaveAttribute('data-verdict', 'failed');
  await expect(deploymentRow(page, failedId)).toContainText('rolled back to revision 1');
});

test('a completed deployment shows Succeeded', async ({ page, api }) => {
  const s = await api.seedService('web', { desiredCount: 2 });
  await open(page, DEPLOYMENTS);
  const r = deploymentRow(page, s.deployments[0].id);
  await expect(verdictOf(r)).toHaveAttribute('data-verdict', 'succeeded');
  await expect(r).toContainText('Succeeded');
  await expect(r).not.toContainText(/Failed|In progress/);
});

test('a deployment in progress shows In progress with running/desired', async ({ page, api }) => {
  await api.registerTaskDefinition('web');
  const created = await api.createService({ name: 'web', taskDefinition: 'web', desiredCount: 3 });
  const id = created.deployments[0].id;
  await open(page, DEPLOYMENTS);
  const r = deploymentRow(page, id);
  await expect(verdictOf(r)).toHaveAttribute('data-verdict', 'in-progress');
  await expect(r).toContainText('In progress');
  await expect(r).toContainText(/\b[0-3]\s*\/\s*3\b/);
  // running/desired follows the tasks live (no clock advance: stays IN_PROGRESS for 40 s)
  await api.waitStable('default', 'web');
  await expect(r).toContainText(/\b3\s*\/\s*3\b/, { timeout: 2000 });
  await expect(verdictOf(r)).toHaveAttribute('data-verdict', 'in-progress');
  // and completes live once the tasks have been healthy for 40 s of cluster time
  await api.settle('default', 'web');
  await expect(verdictOf(r)).toHaveAttribute('data-verdict', 'succeeded', { timeout: 3000 });
});
