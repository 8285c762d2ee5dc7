/**
 * Keyboard (CONTRACT "Keyboard"; dashboard checks 33–36): the `?` dialog, the Ctrl+K palette,
 * `g` sequences, `/`, `j`/`k`/Enter/Esc on tables, and single-key shortcuts that can be turned off
 * (the setting persists).
 */
import type { Page } from '@playwright/test';
import { test, expect, open } from '../lib/fixtures';
import { filterInput, openSettings, rows, table } from '../lib/ui';

const selectedKeys = (page: Page, name: Parameters<typeof table>[1]) =>
  table(page, name)
    .locator('tr[data-key][aria-selected="true"]')
    .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-key')));

/** Nothing focused (keys go to the document, as after a click on empty space). */
const blur = (page: Page) => page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());

async function seedServices(api: import('../lib/ecs').Berth) {
  await api.registerTaskDefinition('web');
  for (const name of ['checkout-api', 'web', 'worker']) await api.createService({ name, taskDefinition: 'web', desiredCount: 1 });
}

test('? opens the shortcuts dialog listing g c, g s, g t, g d, /, j, k, Enter, Esc, Ctrl+K', async ({ page, api }) => {
  await api.createCluster('c1');
  await open(page, '/ui/clusters');
  await blur(page);
  await page.keyboard.press('?');
  const d = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(d).toBeVisible();
  await expect(d).toHaveAttribute('aria-modal', 'true');
  const text = ((await d.textContent()) ?? '').replace(/\s+/g, ' ');
  const squashed = text.replace(/\s+/g, '');
  for (const seq of ['gc', 'gs', 'gt', 'gd']) expect(squashed, `lists ${seq}`).toContain(seq);
  const keys = await d.locator('kbd').allTextContents();
  const tokens = new Set([...keys.map((k) => k.trim()), ...text.split(' ')]);
  for (const k of ['/', 'j', 'k']) expect([...tokens].some((t) => t === k || t.startsWith(`${k}`)), `lists ${k}: ${JSON.stringify([...tokens])}`).toBe(true);
  expect(text).toMatch(/Enter/);
  expect(text).toMatch(/Esc/);
  expect(text).toMatch(/Ctrl\s*\+\s*K/i);
  await page.keyboard.press('Escape');
  await expect(d).toBeHidden();
  await expect(page).toHaveURL(/\/ui\/clusters$/);
});

test('Ctrl+K palette: part of a service name + Enter goes there; Esc closes and restores focus', async ({ page, api }) => {
  await seedServices(api);
  await open(page, '/ui/clusters');
  const filter = filterInput(page);
  await filter.focus();
  await page.keyboard.press('Control+k');
  const d = page.getByRole('dialog', { name: 'Go to' });
  await expect(d).toBeVisible();
  await expect(d).toHaveAttribute('aria-modal', 'true');
  const input = d.getByRole('combobox');
  await expect(input).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(d).toBeHidden();
  await expect(filter, 'focus restored after Esc').toBeFocused();

  await blur(page);
  await page.keyboard.press('Control+k');
  await expect(d).toBeVisible();
  await input.pressSequentially('ckout');
  await expect(d.getByRole('option', { name: /checkout-api/ }).first()).toBeVisible();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/ui\/clusters\/default\/services\/checkout-api(\/overview)?$/);
  await expect(d).toBeHidden();
  await expect(page.locator('[data-count="desired"]').first()).toBeVisible();
});

test('g c, g s, g t, g d navigate', async ({ page, api }) => {
  await seedServices(api);
  await open(page, '/ui/clusters/default/services/web/overview');
  await blur(page);
  await page.keyboard.press('g');
  await page.keyboard.press('t');
  await expect(page).toHaveURL(/\/ui\/clusters\/default\/tasks(\?.*)?$/);
  await page.keyboard.press('g');
  await page.keyboard.press('s');
  await expect(page).toHaveURL(/\/ui\/clusters\/default(\/services)?(\?.*)?$/);
  await page.keyboard.press('g');
  await page.keyboard.press('d');
  await expect(page).toHaveURL(/\/ui\/task-definitions(\?.*)?$/);
  await page.keyboard.press('g');
  await page.keyboard.press('c');
  await expect(page).toHaveURL(/\/ui\/clusters(\?.*)?$/);
});

test('j/k move the row focus, Enter opens the row, Esc returns with the same row focused', async ({ page, api }) => {
  await api.createCluster('c1');
  await api.createCluster('c2');
  await open(page, '/ui/clusters');
  await expect(rows(page, 'clusters')).toHaveCount(3);
  const order = await rows(page, 'clusters').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-key')));
  await blur(page);
  await page.keyboard.press('j');
  await expect.poll(() => selectedKeys(page, 'clusters')).toEqual([order[0]]);
  await page.keyboard.press('j');
  await expect.poll(() => selectedKeys(page, 'clusters')).toEqual([order[1]]);
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  await expect.poll(() => selectedKeys(page, 'clusters')).toEqual([order[1]]);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/ui/clusters/${order[1]}(/services)?(\\?.*)?$`));
  await page.keyboard.press('Escape');
  await expect(page).toHaveURL(/\/ui\/clusters(\?.*)?$/);
  await expect.poll(() => selectedKeys(page, 'clusters')).toEqual([order[1]]);
});

test('/ focuses the filter and j typed there is text', async ({ page, api }) => {
  await api.createCluster('jobs');
  await api.createCluster('c2');
  await open(page, '/ui/clusters');
  await blur(page);
  await page.keyboard.press('/');
  const f = filterInput(page);
  await expect(f).toBeFocused();
  await page.keyboard.type('j');
  await expect(f).toHaveValue('j');
  expect(await selectedKeys(page, 'clusters'), 'j in the filter moves no row').toEqual([]);
  await expect.poll(() => rows(page, 'clusters').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-key')))).toEqual(['jobs']);
  await page.keyboard.type('k');
  await expect(f).toHaveValue('jk');
});

test('single-key shortcuts off: g c does nothing, Ctrl+K works, and the setting survives reload', async ({ page, api }) => {
  await seedServices(api);
  const here = '/ui/clusters/default/services';
  await open(page, here);
  const s = await openSettings(page);
  const box = s.getByRole('checkbox', { name: 'Single-key shortcuts' });
  await expect(box).toBeChecked();
  await box.uncheck();
  await page.keyboard.press('Escape');
  await expect(s).toBeHidden();

  const check = async () => {
    await blur(page);
    await page.keyboard.press('g');
    await page.keyboard.press('c');
    await page.keyboard.press('?');
    await page.waitForTimeout(400);
    await expect(page).toHaveURL(new RegExp(`${here}$`));
    await expect(page.getByRole('dialog', { name: 'Keyboard shortcuts' })).toHaveCount(0);
    await page.keyboard.press('Control+k');
    const palette = page.getByRole('dialog', { name: 'Go to' });
    await expect(palette).toBeVisible();
    await page.keyboard.press('Escape');
    await expect(palette).toBeHidden();
  };
  await check();
  await page.reload();
  await expect(page.locator('#app[data-ready]')).toBeAttached();
  await check();
  const again = await openSettings(page);
  await expect(again.getByRole('checkbox', { name: 'Single-key shortcuts' })).not.toBeChecked();
  await again.getByRole('checkbox', { name: 'Single-key shortcuts' }).check();
  await page.keyboard.press('Escape');
  await blur(page);
  await page.keyboard.press('g');
  await page.keyboard.press('c');
  await expect(page).toHaveURL(/\/ui\/clusters$/);
});
