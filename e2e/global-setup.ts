/**
 * Starts the shared `berth serve` (release build, or $BERTH_BIN) on a free port of 127.0.0.1 with
 * a fresh data directory and several instances over three AZs, waits for /healthz, and exports
 * its URL as BERTH_URL (the workers inherit it). The returned function is the teardown.
 *
 * BERTH_URL already set in the environment means "use that running server" (nothing is started).
 *
 * BERTH_E2E_UPSTREAM=1 runs the suite in upstream mode (issue 9): the shared server stays the
 * embedded cluster the tests seed and control (BERTH_URL), and a second Berth in front of it
 * (`--upstream-url`, polling every 250 ms) serves the pages (BERTH_PAGE_URL), so every screen
 * reads through the proxy and every change reaches it through polling.
 */
import type { FullConfig } from '@playwright/test';
import { startServer } from './lib/server';

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  if (process.env.BERTH_URL && process.env.BERTH_E2E_EXTERNAL === '1') {
    return async () => {};
  }
  const server = await startServer();
  process.env.BERTH_URL = server.url;
  process.env.BERTH_E2E_DATA_DIR = server.dataDir;
  process.env.BERTH_E2E_LOG = server.logPath;
  // eslint-disable-next-line no-console
  console.log(`berth serve (pid ${server.pid}) at ${server.url}, log ${server.logPath}`);
  const front =
    process.env.BERTH_E2E_UPSTREAM === '1'
      ? await startServer({
          bare: true,
          extraArgs: ['--upstream-url', server.url, '--no-imds', '--poll-interval', '250ms'],
          env: { AWS_ACCESS_KEY_ID: 'BERTHE2EFRONT0000001', AWS_SECRET_ACCESS_KEY: 'front-e2e', AWS_REGION: 'us-east-1' },
        })
      : undefined;
  if (front) {
    process.env.BERTH_PAGE_URL = front.url;
    // eslint-disable-next-line no-console
    console.log(`upstream mode: pages from ${front.url} (log ${front.logPath}) in front of ${server.url}`);
  }
  return async () => {
    await front?.stop();
    if (!server.running()) {
      // eslint-disable-next-line no-console
      console.error(`berth serve had exited before teardown; its log:\n${server.logTail()}`);
    }
    await server.stop();
  };
}
