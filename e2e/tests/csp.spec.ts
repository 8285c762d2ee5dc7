/**
 * Security headers and the Content Security Policy (issue 9): every page of the dashboard,
 * the tools module's islands included, runs under the server's CSP with zero violations (the
 * `securitypolicyviolation` events of the page and the console's CSP messages), and the headers
 * are on every response.
 */
import { test, expect, open } from '../lib/fixtures';
import { arnId } from '../lib/ecs';
import { rawRequest } from '../lib/http';
import { seedCluster } from '../lib/seed';
import { watchCsp } from '../lib/security';

test('security headers on the page, the assets and the API', async ({ baseURL }) => {
  const page = await rawRequest(`${baseURL}/ui/clusters`);
  expect(page.status).toBe(200);
  const csp = String(page.headers['content-security-policy'] ?? '');
  expect(csp, 'CSP of index.html').toContain("default-src 'self'");
  expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval'( 'sha256-[A-Za-z0-9+/=]+')+/);
  expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  expect(csp).not.toMatch(/script-src[^;]*'unsafe-eval'/);
  for (const d of ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "connect-src 'self'"]) {
    expect(csp, d).toContain(d);
  }
  const html = page.body.toString('utf8');
  const asset = html.match(/\/assets\/berth_web-[0-9a-f]+\.js/)?.[0];
  expect(asset, 'the app script in index.html').toBeTruthy();
  for (const url of [`${baseURL}/ui/clusters`, `${baseURL}${asset}`, `${baseURL}/_berth/info`]) {
    const r = await rawRequest(url);
    expect(r.headers['x-content-type-options'], url).toBe('nosniff');
    expect(r.headers['referrer-policy'], url).toBe('no-referrer');
    expect(r.headers['access-control-allow-origin'], url).toBeUndefined();
  }
});

test('zero CSP violations on every page, the tools included', async ({ page, api }) => {
  test.setTimeout(240_000);
  const scene = await seedCluster(api);
  const task = arnId(scene.webTasks[0].taskArn);
  const violations = await watchCsp(page);
  const pages = [
    '/ui/clusters',
    '/ui/clusters/default/services',
    '/ui/clusters/default/tasks',
    '/ui/clusters/default/instances',
    '/ui/clusters/default/topology',
    '/ui/clusters/default/events',
    '/ui/clusters/default/services/web/overview',
    '/ui/clusters/default/services/web/deployments',
    '/ui/clusters/default/services/web/tasks',
    '/ui/clusters/default/services/web/events',
    '/ui/clusters/default/services/web/placement',
    '/ui/clusters/default/services/web/scaling',
    '/ui/clusters/default/services/web/logs',
    '/ui/clusters/default/services/web/metrics',
    '/ui/clusters/default/services/web/configuration',
    `/ui/clusters/default/tasks/${task}`,
    '/ui/task-definitions',
    '/ui/task-definitions/web',
    '/ui/task-definitions/web/2',
    '/ui/editor?from=web:2',
    '/ui/diff?a=web:1&b=web:2',
    '/ui/audit',
  ];
  const seen: string[] = [];
  for (const p of pages) {
    await open(page, p);
    if (p.startsWith('/ui/editor')) {
      // the editor's layers move with the text: type, scroll, hover a finding
      const text = page.getByRole('textbox', { name: 'Task definition JSON' });
      await text.click();
      await page.keyboard.press('Control+End');
      await page.keyboard.type('\n');
      await text.hover();
    }
    if (p.startsWith('/ui/clusters/default/services/web/overview')) {
      await page.getByRole('button', { name: 'Scale', exact: true }).click();
      await page.keyboard.press('Escape');
    }
    await page.waitForTimeout(300);
    seen.push(...(await violations()).map((v) => `${p}: ${v}`));
  }
  expect([...new Set(seen)]).toEqual([]);
});
