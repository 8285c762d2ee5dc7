/**
 * The audit page (issue 9): the audit trail read through CloudTrail's LookupEvents — rows with
 * time, event, source, user, error code and resources; one attribute filter and a time range in
 * the URL; "Load more" with NextToken; a row opens to its record, with secrets redacted by the
 * server.
 */
import { test, expect, open } from '../lib/fixtures';
import { container, EcsError } from '../lib/ecs';

const SECRET = 'hunter2-e2e-audit-secret-value';

const auditRows = (page: import('@playwright/test').Page) => page.locator('table[data-table="audit"] tbody tr[data-key]');

test('RegisterTaskDefinition is on the audit page, its environment value redacted', async ({ page, api }) => {
  const family = `audit-${Date.now()}`;
  await api.registerTaskDefinition(family, {
    containers: [container({ environment: [{ name: 'DB_PASSWORD', value: SECRET }] })],
  });
  // a failed call is recorded too, with its error code
  await expect(api.ecs('CreateService', { serviceName: 'x', taskDefinition: 'no-such-family:9' })).rejects.toBeInstanceOf(EcsError);

  await open(page, '/ui/audit');
  await expect(page.locator('nav[aria-label=Main] a[href="/ui/audit"]')).toHaveAttribute('aria-current', 'page');
  await page.getByLabel('Attribute').selectOption('EventName');
  await page.getByLabel('Value').fill('RegisterTaskDefinition');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/\/ui\/audit\?attr=EventName&value=RegisterTaskDefinition$/);
  await expect(auditRows(page).first()).toBeVisible();
  const names = await auditRows(page).evaluateAll((trs) => trs.map((t) => t.getAttribute('data-event')));
  expect(new Set(names)).toEqual(new Set(['RegisterTaskDefinition']));

  // the newest first: ours; it opens to the record, redacted
  const row = auditRows(page).filter({ hasText: 'ecs.amazonaws.com' }).first();
  await expect(row).toContainText('RegisterTaskDefinition');
  const toggle = row.getByRole('button', { name: 'RegisterTaskDefinition' });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  const record = page.locator('[data-testid=audit-record]').first();
  await expect(record).toContainText('"eventName": "RegisterTaskDefinition"');
  await expect(record).toContainText(family);
  await expect(record).toContainText('DB_PASSWORD');
  await expect(record).not.toContainText(SECRET);
  expect(await page.content()).not.toContain(SECRET);

  // reload keeps the filter
  await page.reload();
  await expect(page.locator('#app[data-ready]')).toBeAttached({ timeout: 15_000 });
  await expect(page.getByLabel('Value')).toHaveValue('RegisterTaskDefinition');

  // the failed CreateService carries its error code
  await open(page, '/ui/audit?attr=EventName&value=CreateService');
  const failed = auditRows(page).filter({ has: page.locator('td', { hasText: /Exception$/ }) }).first();
  await expect(failed).toBeVisible();
  expect(await failed.getAttribute('data-error')).toMatch(/Exception$/);

  // an empty result says so
  await open(page, '/ui/audit?attr=EventName&value=NoSuchEventAnywhere');
  await expect(page.locator('[data-testid=audit-empty]')).toHaveText('No audit events match these filters.');
  // a time range after now: nothing
  await open(page, '/ui/audit?start=2099-01-01T00:00');
  await expect(page.locator('[data-testid=audit-empty]')).toBeVisible();
});

test('"Load more" pages with NextToken', async ({ page, api }) => {
  test.setTimeout(120_000);
  const prefix = `audit-page-${Date.now()}`;
  for (let i = 0; i < 55; i++) await api.createCluster(`${prefix}-${i}`);
  await open(page, '/ui/audit?attr=EventName&value=CreateCluster');
  await expect(auditRows(page)).toHaveCount(50);
  const more = page.getByRole('button', { name: 'Load more' });
  await more.click();
  await expect.poll(() => auditRows(page).count()).toBeGreaterThanOrEqual(55);
  const keys = await auditRows(page).evaluateAll((trs) => trs.map((t) => t.getAttribute('data-key')));
  expect(new Set(keys).size, 'no event twice').toBe(keys.length);
});
