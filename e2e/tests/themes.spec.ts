/**
 * Themes (CONTRACT `html[data-theme]`; dashboard check 37): the system colour scheme picks the
 * theme, the manual override wins and survives reload.
 */
import { test, expect, open } from '../lib/fixtures';
import { bodyBackground, setTheme } from '../lib/ui';

test('emulated colorScheme picks data-theme and the body background', async ({ page, api }) => {
  await api.createCluster('c1');
  await page.emulateMedia({ colorScheme: 'dark' });
  await open(page, '/ui/clusters');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  const dark = await bodyBackground(page);

  await page.emulateMedia({ colorScheme: 'light' });
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  const light = await bodyBackground(page);
  expect(light).not.toBe(dark);

  // fresh loads agree
  await open(page, '/ui/clusters');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  expect(await bodyBackground(page)).toBe(light);
  await page.emulateMedia({ colorScheme: 'dark' });
  await open(page, '/ui/clusters');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  expect(await bodyBackground(page)).toBe(dark);
  // the background is the --bg token
  const token = await page.evaluate(() => {
    const probe = document.createElement('div');
    probe.style.background = 'var(--bg)';
    document.body.appendChild(probe);
    const c = getComputedStyle(probe).backgroundColor;
    probe.remove();
    return c;
  });
  expect(token).toBe(dark);
});

test('the manual override wins over the system scheme and survives reload', async ({ page, api }) => {
  await api.createCluster('c1');
  await page.emulateMedia({ colorScheme: 'light' });
  await open(page, '/ui/clusters');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  const light = await bodyBackground(page);

  await setTheme(page, 'Dark');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  const dark = await bodyBackground(page);
  expect(dark).not.toBe(light);
  await page.reload();
  await expect(page.locator('#app[data-ready]')).toBeAttached();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  expect(await bodyBackground(page)).toBe(dark);

  await page.emulateMedia({ colorScheme: 'dark' });
  await setTheme(page, 'Light');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await page.reload();
  await expect(page.locator('#app[data-ready]')).toBeAttached();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');

  await setTheme(page, 'System');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
});
