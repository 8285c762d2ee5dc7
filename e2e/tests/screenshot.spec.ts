/**
 * The README screenshot: a service page, light theme, 1280×800. Saved to
 * docs/screenshot-service.png when BERTH_UPDATE_SCREENSHOT=1 (task ids and times differ on every
 * run, so an ordinary run writes it to test-results/ and leaves the committed one alone).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, expect, open } from '../lib/fixtures';
import { BREAKER, container } from '../lib/ecs';
import { REPO } from '../lib/server';

test.use({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });

test('README screenshot of a service page (light, 1280×800)', async ({ page, api }) => {
  test.setTimeout(120_000);
  await api.registerTaskDefinition('checkout', { containers: [container({ name: 'checkout', portMappings: [{ containerPort: 8080, hostPort: 0 }] })] });
  await api.registerTaskDefinition('checkout', { containers: [container({ name: 'checkout', image: 'nginx:1.28', portMappings: [{ containerPort: 8080, hostPort: 0 }] })] });
  await api.createService({ name: 'checkout', taskDefinition: 'checkout:1', desiredCount: 4, deploymentConfiguration: BREAKER });
  await api.settle('default', 'checkout');
  await api.updateService('default', 'checkout', { taskDefinition: 'checkout:2' });
  await api.settle('default', 'checkout');
  const [t] = await api.serviceTasks('default', 'checkout');
  await api.crash(t.taskArn, 137);
  await api.waitStable('default', 'checkout');

  await open(page, '/ui/clusters/default/services/checkout/overview');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await expect(page.locator('[data-count="running"]').first()).toHaveText(/4/);
  await expect(page.locator('#live')).toHaveAttribute('data-state', 'live');
  await page.evaluate(() => document.fonts.ready);
  const out = process.env.BERTH_UPDATE_SCREENSHOT === '1'
    ? path.join(REPO, 'docs', 'screenshot-service.png')
    : test.info().outputPath('screenshot-service.png');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  const png = fs.readFileSync(out);
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  expect(png.readUInt32BE(16)).toBe(1280);
  expect(png.readUInt32BE(20)).toBe(800);
});
