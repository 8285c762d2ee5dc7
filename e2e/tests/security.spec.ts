/**
 * Dashboard sessions (issue 9): the one-time login URL, the HttpOnly session cookie, the CSRF
 * header, roles, and what never reaches the browser. Each test starts its own server with login
 * on (`--auth token`) and a credentials file of known keys (lib/security.ts); the shared server
 * (login off) is not used here.
 */
import AxeBuilder from '@axe-core/playwright';
import { test, expect } from '../lib/fixtures';
import { Berth } from '../lib/ecs';
import {
  OPERATOR_KEY,
  VIEWER_KEY,
  callFromPage,
  findSecret,
  recordResponses,
  startAuthServer,
  type AuthServer,
} from '../lib/security';

const signIn = (page: import('@playwright/test').Page) => page.locator('[data-testid=sign-in]');

let auth: AuthServer;

test.beforeEach(async () => {
  auth = await startAuthServer();
});

test.afterEach(async () => {
  await auth?.server.stop();
});

test('the login URL signs in once: the fragment is dropped, the cookie is HttpOnly, a reload keeps the session', async ({ page, context, browser }) => {
  const token = new URL(auth.loginUrl).hash.replace(/^#token=/, '');
  expect(token.length, 'the token in the printed URL').toBeGreaterThanOrEqual(32);
  const responses = recordResponses(page);

  await page.goto(auth.loginUrl);
  await expect(page.locator('#app[data-ready]')).toBeAttached({ timeout: 15_000 });
  // the token is gone from the address bar and the history entry
  expect(page.url()).not.toContain('#token');
  expect(page.url()).not.toContain(token);
  expect(await page.evaluate(() => location.hash)).toBe('');

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name.startsWith('berth_session'));
  expect(session, `cookies: ${JSON.stringify(cookies)}`).toBeTruthy();
  expect(session!.httpOnly).toBe(true);
  expect(session!.sameSite).toBe('Strict');
  expect(session!.path).toBe('/');
  expect(await page.evaluate(() => document.cookie)).not.toContain('berth_session');

  // operator: the role badge, Sign out, and the change controls are there
  await expect(page.locator('#role')).toHaveText('operator');
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();

  // the token is kept nowhere in the browser
  expect(await findSecret(context, page, token, responses)).toEqual([]);

  await page.reload();
  await expect(page.locator('#app[data-ready]')).toBeAttached({ timeout: 15_000 });
  await expect(signIn(page)).toHaveCount(0);

  // the same URL a second time (another browser context: no cookie) does not sign in
  const other = await browser.newContext();
  try {
    const p2 = await other.newPage();
    await p2.goto(auth.loginUrl);
    await expect(signIn(p2)).toBeVisible();
    await expect(p2.getByRole('alert')).toContainText('login link did not work');
    expect(p2.url()).not.toContain('#token');
  } finally {
    await other.close();
  }

  // Sign out: back to the sign-in screen, and the cookie no longer works
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(signIn(page)).toBeVisible();
  await page.reload();
  await expect(signIn(page)).toBeVisible();
});

test('without a session: the sign-in screen; a wrong key is refused with a message', async ({ page }) => {
  await page.goto(`${auth.server.url}/ui/clusters`);
  await expect(signIn(page)).toBeVisible();
  await expect(signIn(page)).toContainText('Open the login URL that berth serve printed');
  await expect(page.locator('#app')).toHaveCount(0);
  await expect(page.getByLabel('Access key ID')).toBeVisible();
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
  await page.getByLabel('Access key ID').fill(VIEWER_KEY.accessKeyId);
  await page.getByLabel('Secret access key').fill('not-the-secret');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await expect(signIn(page)).toBeVisible();
  // the secret field is emptied after a refusal
  await expect(page.getByLabel('Secret access key')).toHaveValue('');
});

test('a viewer signs in with a key, sees everything, is offered no change, and the server refuses one anyway', async ({ page, context }) => {
  test.setTimeout(120_000);
  // seed through the AWS endpoint (SigV4 is off on loopback)
  const api = new Berth(auth.server.url);
  await api.registerTaskDefinition('web');
  await api.registerTaskDefinition('web');
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 1 });
  const responses = recordResponses(page);

  await page.goto(`${auth.server.url}/ui/clusters/default/services/web/overview`);
  await expect(signIn(page)).toBeVisible();
  await page.getByLabel('Access key ID').fill(VIEWER_KEY.accessKeyId);
  await page.getByLabel('Secret access key').fill(VIEWER_KEY.secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#app[data-ready]')).toBeAttached({ timeout: 15_000 });
  await expect(page).toHaveURL(/\/ui\/clusters\/default\/services\/web\/overview$/);
  await expect(page.locator('#role')).toHaveText('viewer');

  const tip = 'Read-only: your role is viewer';
  for (const name of ['Deploy', 'Force new deployment', 'Scale', 'Roll back', 'Delete service']) {
    const b = page.getByRole('button', { name, exact: true });
    await expect(b, name).toBeDisabled();
    await expect(b, name).toHaveAttribute('title', tip);
  }
  await page.goto(`${auth.server.url}/ui/clusters/default/services`);
  await expect(page.getByRole('button', { name: 'Create service', exact: true })).toBeDisabled();
  await page.goto(`${auth.server.url}/ui/clusters/default/instances`);
  await expect(page.getByRole('button', { name: 'Drain', exact: true }).first()).toBeDisabled();
  await page.goto(`${auth.server.url}/ui/task-definitions/web/2`);
  await expect(page.getByRole('button', { name: 'Deregister', exact: true })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Create service', exact: true })).toBeDisabled();
  // the tools module's islands take the role from the page
  await page.goto(`${auth.server.url}/ui/editor?from=web:2`);
  await expect(page.getByRole('button', { name: 'Register…' })).toBeDisabled({ timeout: 20_000 });
  await expect(page.getByRole('button', { name: 'Register…' })).toHaveAttribute('title', tip);
  await page.goto(`${auth.server.url}/ui/clusters/default/services/web/scaling`);
  await expect(page.getByRole('button', { name: 'Save target' })).toBeDisabled({ timeout: 20_000 });

  // a change sent from the page anyway is refused by the server
  const r = await callFromPage(page, 'UpdateService', { cluster: 'default', service: 'web', desiredCount: 3 });
  expect(r.status).toBe(400);
  expect(String(r.json.__type)).toMatch(/AccessDeniedException$/);
  expect((await api.describeService('default', 'web')).desiredCount).toBe(1);
  // reads work
  const ok = await callFromPage(page, 'ListClusters', {});
  expect(ok.status).toBe(200);

  // the viewer's secret went out once, in the sign-in request, and came back nowhere
  expect(await findSecret(context, page, VIEWER_KEY.secret, responses)).toEqual([]);
});

test('CSRF: a dashboard POST without X-Berth-Csrf is refused with 403; with it, it passes', async ({ page }) => {
  await page.goto(auth.loginUrl);
  await expect(page.locator('#app[data-ready]')).toBeAttached({ timeout: 15_000 });
  const without = await callFromPage(page, 'CreateCluster', { clusterName: 'csrf-less' }, { csrf: false });
  expect(without.status).toBe(403);
  const api = new Berth(auth.server.url);
  const names = async () => ((await api.ecs('ListClusters', {})).clusterArns as string[]).map((a) => a.split('/').pop());
  expect(await names()).not.toContain('csrf-less');
  const withHeader = await callFromPage(page, 'CreateCluster', { clusterName: 'with-csrf' }, { csrf: true });
  expect(withHeader.status).toBe(200);
  expect(await names()).toContain('with-csrf');
  // the operator key signs in too, as an operator
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(signIn(page)).toBeVisible();
  await page.getByLabel('Access key ID').fill(OPERATOR_KEY.accessKeyId);
  await page.getByLabel('Secret access key').fill(OPERATOR_KEY.secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#app[data-ready]')).toBeAttached({ timeout: 15_000 });
  await expect(page.locator('#role')).toHaveText('operator');
  await page.goto(`${auth.server.url}/ui/clusters/default/services`);
  await expect(page.getByRole('button', { name: 'Create service', exact: true })).toBeEnabled();
});
