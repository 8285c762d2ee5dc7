/**
 * Accessibility (dashboard check 46): axe finds no `serious` or `critical` violation on the
 * clusters, cluster, service, task and task-definition pages, in both themes.
 */
import AxeBuilder from '@axe-core/playwright';
import { test, expect, open } from '../lib/fixtures';
import { arnId } from '../lib/ecs';
import { seedCluster } from '../lib/seed';

for (const scheme of ['light', 'dark'] as const) {
  test(`no serious or critical axe violations (${scheme})`, async ({ page, api }) => {
    test.setTimeout(120_000);
    const scene = await seedCluster(api);
    const task = arnId(scene.webTasks[0].taskArn);
    await page.emulateMedia({ colorScheme: scheme });
    const pages = [
      '/ui/clusters',
      '/ui/clusters/default/services',
      '/ui/clusters/default/tasks',
      '/ui/clusters/default/instances',
      '/ui/clusters/default/events',
      '/ui/clusters/default/services/web/overview',
      '/ui/clusters/default/services/web/deployments',
      '/ui/clusters/default/services/web/tasks',
      '/ui/clusters/default/services/web/configuration',
      `/ui/clusters/default/tasks/${task}`,
      '/ui/task-definitions',
      '/ui/task-definitions/web',
      '/ui/task-definitions/web/2',
      // The tools (islands of the lazily loaded module).
      '/ui/clusters/default/topology',
      '/ui/clusters/default/services/web/placement',
      '/ui/clusters/default/services/web/scaling',
      '/ui/clusters/default/services/web/logs',
      '/ui/clusters/default/services/web/metrics',
      '/ui/editor?from=web:2',
      '/ui/diff?a=web:1&b=web:2',
      '/ui/audit',
    ];
    const report: string[] = [];
    for (const p of pages) {
      await open(page, p);
      await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
      for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
        report.push(
          `${p} [${v.impact}] ${v.id}: ${v.help}\n` +
            v.nodes
              .slice(0, 5)
              .map((n) => `    ${n.target.join(' ')} — ${n.failureSummary?.replace(/\s+/g, ' ')}`)
              .join('\n'),
        );
      }
    }
    expect(report.join('\n'), 'serious/critical axe violations').toBe('');
  });
}
