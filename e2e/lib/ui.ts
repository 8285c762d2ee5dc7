/**
 * Locators for the DOM hooks of e2e/CONTRACT.md (and nothing else: no CSS classes, no DOM depth).
 */
import { expect, type Locator, type Page } from '@playwright/test';

export type TableName =
  | 'clusters'
  | 'services'
  | 'tasks'
  | 'instances'
  | 'events'
  | 'deployments'
  | 'task-sets'
  | 'containers'
  | 'families'
  | 'revisions';

/** `table[data-table=NAME]`. */
export const table = (page: Page, name: TableName): Locator => page.locator(`table[data-table="${name}"]`);

/** The body rows of a table (`tr[data-key]`). */
export const rows = (page: Page, name: TableName): Locator => table(page, name).locator('tbody tr[data-key]');

/** One body row by its key. */
export const row = (page: Page, name: TableName, key: string | number): Locator =>
  table(page, name).locator(`tr[data-key="${String(key)}"]`);

/** The keys of the rendered body rows, in DOM order. */
export async function rowKeys(page: Page, name: TableName): Promise<string[]> {
  return rows(page, name).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-key') ?? ''));
}

/** The filter input (`input[type=search]` labelled `Filter`). */
export const filterInput = (page: Page): Locator => page.getByRole('searchbox', { name: 'Filter' });

/** An action button by its accessible name. */
export const action = (page: Page, name: string): Locator => page.getByRole('button', { name, exact: true });

/** The open modal dialog. */
export const dialog = (page: Page, name?: string): Locator =>
  name ? page.getByRole('dialog', { name }) : page.locator('[role=dialog][aria-modal=true]');

export const confirmButton = (d: Locator): Locator => d.getByRole('button', { name: 'Confirm', exact: true });

/** The `#live` status chip. */
export const liveChip = (page: Page): Locator => page.locator('#live');

/** The number in `[data-count=NAME]` on the service overview. */
export async function count(page: Page, name: 'desired' | 'running' | 'pending'): Promise<number> {
  const t = (await page.locator(`[data-count="${name}"]`).first().innerText()).trim();
  const m = t.match(/-?\d+/);
  if (!m) throw new Error(`[data-count=${name}] holds no number: ${JSON.stringify(t)}`);
  return Number(m[0]);
}

/** The cell `[data-col=NAME]` of a row, as a number. */
export async function colNumber(r: Locator, col: string): Promise<number> {
  const t = (await r.locator(`[data-col="${col}"]`).innerText()).trim();
  const m = t.replace(/,/g, '').match(/-?\d+/);
  if (!m) throw new Error(`[data-col=${col}] holds no number: ${JSON.stringify(t)}`);
  return Number(m[0]);
}

/**
 * The path names of the links that carry `aria-current` (resolved against the page URL), so the
 * test can check that the tab of `path` is the current one.
 */
export async function currentLinkPaths(page: Page): Promise<string[]> {
  return page
    .locator('a[aria-current]:not([aria-current="false"])')
    .evaluateAll((as) => as.map((a) => new URL((a as HTMLAnchorElement).href, location.href).pathname));
}

/**
 * The tab of `path` is current: a link to it carries `aria-current`. A default tab's link may
 * point at the bare parent (`/ui/clusters/c` for `/ui/clusters/c/services`,
 * `/ui/clusters/c/services/s` for `…/overview`), which is accepted too.
 */
export async function expectCurrentTab(page: Page, path: string): Promise<void> {
  const accepted = [path];
  const m = path.match(/^(.*)\/(services|overview)$/);
  if (m && !/\/services$/.test(m[1])) accepted.push(m[1]);
  await expect
    .poll(async () => (await currentLinkPaths(page)).some((p) => accepted.includes(p.replace(/\/$/, ''))), {
      message: `a link to ${accepted.join(' or ')} with aria-current (links with aria-current: ${JSON.stringify(await currentLinkPaths(page).catch(() => []))})`,
    })
    .toBe(true);
}

/** The link of a tab (by its path), to click it like a user. */
export function tabLink(page: Page, path: string): Locator {
  return page.locator(`a[href="${path}"], a[href$="${path}"]`).first();
}

/** Header texts of a table, trimmed. */
export async function headers(t: Locator): Promise<string[]> {
  return t.getByRole('columnheader').evaluateAll((ths) => ths.map((th) => (th.textContent ?? '').trim()));
}

/** The text of the cell under the header `header` in row `r` of table `t`. */
export async function cellByHeader(t: Locator, r: Locator, header: string): Promise<string> {
  const hs = await headers(t);
  const i = hs.findIndex((h) => h === header || h.startsWith(header));
  if (i < 0) throw new Error(`no column ${header} in ${JSON.stringify(hs)}`);
  return ((await r.locator(':scope > td, :scope > th').nth(i).textContent()) ?? '').trim();
}

/** Settings dialog: opens it with the `Settings` button. */
export async function openSettings(page: Page): Promise<Locator> {
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const d = dialog(page);
  await expect(d).toBeVisible();
  return d;
}

/** Sets the theme override (System, Light, Dark) in the Settings dialog and closes it. */
export async function setTheme(page: Page, theme: 'System' | 'Light' | 'Dark'): Promise<void> {
  const d = await openSettings(page);
  await d.getByRole('radio', { name: theme, exact: true }).check();
  await page.keyboard.press('Escape');
  await expect(d).toBeHidden();
}

/** The computed background colour of `<body>`. */
export const bodyBackground = (page: Page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

/**
 * The text of a row's cell for `col`: `[data-col=col]` when the dashboard marks it, else the
 * cell under the header matching `header`.
 */
export async function cellText(t: Locator, r: Locator, col: string, header: RegExp): Promise<string> {
  const marked = r.locator(`[data-col="${col}"]`);
  if (await marked.count()) return ((await marked.first().textContent()) ?? '').trim();
  const hs = await headers(t);
  const i = hs.findIndex((h) => header.test(h));
  if (i < 0) throw new Error(`no [data-col=${col}] and no column matching ${header} in ${JSON.stringify(hs)}`);
  return ((await r.locator(':scope > td, :scope > th').nth(i).textContent()) ?? '').trim();
}

/** A number shown with or without thousands separators (`3968` or `3,968`). */
export function numberPattern(n: number): RegExp {
  const plain = String(n);
  const grouped = n.toLocaleString('en-US');
  return new RegExp(`(^|[^0-9.,])(${plain}|${grouped.replace(/,/g, '[,\\u202f\\u00a0 ]')})([^0-9]|$)`);
}

/** A deployment row: its key is the deployment id (`ecs-svc/<n>`; matched on `<n>`). */
export const deploymentRow = (page: Page, deploymentId: string): Locator =>
  table(page, 'deployments').locator(`tr[data-key$="${deploymentId.split('/').pop()}"]`);

/** The element carrying `data-verdict` for a deployment row (the row itself or inside it). */
export const verdictOf = (r: Locator): Locator => r.locator('[data-verdict]').or(r.and(r.page().locator('[data-verdict]'))).first();

/** A row's cell texts joined with ` | ` (textContent alone runs adjacent cells together). */
export const rowText = (r: Locator): Promise<string> =>
  r.evaluate((tr) => Array.from((tr as HTMLTableRowElement).cells).map((c) => (c.textContent ?? '').trim()).join(' | '));
