/**
 * The suite's `test`: every test starts from a reset cluster on the shared server (`api`), with
 * `baseURL` pointing at it. Browser console errors and failed same-origin requests are attached to
 * a failing test's report to make dashboard bugs easy to locate.
 */
import { test as base, expect, type Page } from '@playwright/test';
import { Berth, sharedUrl } from './ecs';

export interface Fixtures {
  /** The shared server's ECS and test-control API, already reset. */
  api: Berth;
}

export const test = base.extend<Fixtures>({
  baseURL: async ({}, use) => {
    // In upstream mode (BERTH_E2E_UPSTREAM=1) the pages come from the proxy in front.
    await use(process.env.BERTH_PAGE_URL || sharedUrl());
  },
  api: async ({}, use) => {
    const api = new Berth(sharedUrl());
    await api.reset();
    await use(api);
  },
  page: async ({ page }, use, testInfo) => {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await use(page);
    if (testInfo.status !== testInfo.expectedStatus && errors.length) {
      await testInfo.attach('browser-errors', { body: errors.join('\n'), contentType: 'text/plain' });
    }
  },
});

export { expect };

/** Opens a dashboard URL and waits for `#app[data-ready]` (the first screen has its data). */
export async function open(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await expect(page.locator('#app[data-ready]')).toBeAttached({ timeout: 15_000 });
}
