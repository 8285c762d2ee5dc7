/**
 * Starts the shared `berth serve` (release build, or $BERTH_BIN) on a free port of 127.0.0.1 with
 * a fresh data directory and several instances over three AZs, waits for /healthz, and exports
 * its URL as BERTH_URL (the workers inherit it). The returned function is the teardown.
 *
 * BERTH_URL already set in the environment means "use that running server" (nothing is started).
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
  return async () => {
    if (!server.running()) {
      // eslint-disable-next-line no-console
      console.error(`berth serve had exited before teardown; its log:\n${server.logTail()}`);
    }
    await server.stop();
  };
}
