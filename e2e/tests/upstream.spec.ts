/**
 * The dashboard in upstream mode (issue 9): a Berth that forwards to another Berth
 * (`--upstream-url`) shows the same screens, labels its change stream "Polled", shows a banner
 * while the upstream fails (keeping what is on screen), clears it when the upstream is back, and
 * never lets the upstream credentials reach the browser.
 */
import { test, expect, open } from '../lib/fixtures';
import { Berth } from '../lib/ecs';
import { findSecret, recordResponses } from '../lib/security';
import { startServer, type BerthServer } from '../lib/server';
import { row } from '../lib/ui';

/** The front server's upstream credentials (from the environment, as the AWS chain reads them). */
const UPSTREAM_KEY_ID = 'BERTHUPSTREAME2E0001';
const UPSTREAM_SECRET = 'upstream-secret-e2e-5b0c1d2e3f4a5b6c7d8e9f';

let back: BerthServer | undefined;
let front: BerthServer | undefined;

test.afterEach(async () => {
  await front?.stop();
  await back?.stop();
  front = back = undefined;
});

test('polled, the upstream error banner, recovery, and no upstream secret in the browser', async ({ page, context }) => {
  test.setTimeout(180_000);
  back = await startServer();
  const upstream = new Berth(back.url);
  await upstream.registerTaskDefinition('web');
  await upstream.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 1 });
  front = await startServer({
    bare: true,
    extraArgs: ['--upstream-url', back.url, '--no-imds', '--poll-interval', '1s'],
    env: {
      AWS_ACCESS_KEY_ID: UPSTREAM_KEY_ID,
      AWS_SECRET_ACCESS_KEY: UPSTREAM_SECRET,
      AWS_REGION: 'us-east-1',
    },
  });
  const responses = recordResponses(page);

  await open(page, `${front.url}/ui/clusters/default/services`);
  await expect(row(page, 'services', 'web')).toBeVisible();
  const chip = page.locator('#live');
  await expect(chip).toHaveAttribute('data-mode', 'polled');
  await expect(chip).toHaveText('Polled · every 1 s');

  // a change made upstream shows up through polling
  await upstream.createService({ name: 'later', taskDefinition: 'web:1', desiredCount: 1 });
  await expect(row(page, 'services', 'later')).toBeVisible({ timeout: 15_000 });

  // the upstream goes away: a banner, and the data stays
  await back.kill();
  const banner = page.locator('#upstream-error');
  await expect(banner).toBeVisible({ timeout: 20_000 });
  await expect(banner).toHaveAttribute('role', 'alert');
  await expect(banner).toHaveText(/^Upstream error: .+ — showing data from \d\d:\d\d:\d\d$/);
  await expect(row(page, 'services', 'web')).toBeVisible();
  await expect(row(page, 'services', 'later')).toBeVisible();

  // it comes back: the banner goes
  await back.restart();
  await expect(banner).toHaveCount(0, { timeout: 20_000 });

  // every page once, then: the upstream's secret is nowhere in the browser
  for (const p of ['/ui/clusters', '/ui/clusters/default/services/web/overview', '/ui/task-definitions/web/1', '/ui/audit']) {
    await open(page, `${front.url}${p}`);
  }
  const secrets = [UPSTREAM_SECRET, ...(process.env.BERTH_E2E_SECRETS ?? '').split(',').filter(Boolean)];
  for (const s of secrets) {
    expect(await findSecret(context, page, s, responses), 'where the secret showed up').toEqual([]);
  }
  expect(responses.length).toBeGreaterThan(10);
});
