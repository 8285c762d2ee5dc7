import { defineConfig } from '@playwright/test';

/**
 * Berth's end-to-end suite: Debian's Chromium (Playwright's browser download does not work on
 * these machines), one worker (CI has 2 cores), no retries, traces and screenshots of failures in
 * test-results/ (gitignored). The server is started by global-setup.ts.
 *
 * Benchmarks are not part of the run: `node bench/run.mjs` (see bench/README.md).
 */
const chromium = {
  browserName: 'chromium' as const,
  headless: true,
  viewport: { width: 1280, height: 800 },
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  },
};

export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  outputDir: './test-results',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['html', { outputFolder: './playwright-report', open: 'never' }]],
  use: {
    ...chromium,
    locale: 'en-US',
    timezoneId: 'UTC',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    video: 'off',
    actionTimeout: 10_000,
    navigationTimeout: 20_000,
  },
  projects: [
    { name: 'e2e', testDir: './tests', testMatch: /.*\.spec\.ts$/ },
  ],
});
