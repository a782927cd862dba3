import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The servers under test: the release build made by `cargo leptos build --release`, each
// with its own SQLite database and demo data. Tests that move the app's clock get a server
// of their own per JavaScript setting, so moving time never disturbs another test.
const port = Number(process.env.E2E_PORT ?? 3100);
const clockPorts = { on: port + 1, off: port + 2 };
const targetDir = process.env.CARGO_TARGET_DIR ?? '../target';
const url = (p: number) => `http://127.0.0.1:${p}`;

function server(p: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'studio-billing-e2e-'));
  return {
    // Seed the demo customer and support user, then serve.
    command: `${targetDir}/release/studio-billing seed demo && exec ${targetDir}/release/studio-billing serve`,
    url: `${url(p)}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe' as const,
    stderr: 'pipe' as const,
    env: {
      STUDIO_MODE: 'demo',
      DATABASE_URL: `sqlite://${dataDir}/e2e.db`,
      LEPTOS_SITE_ADDR: `127.0.0.1:${p}`,
      LEPTOS_SITE_ROOT: process.env.LEPTOS_SITE_ROOT ?? `${targetDir}/site`,
      RUST_LOG: 'warn',
    },
  };
}

const CLOCK_TESTS = /clock\.spec\.ts/;

export default defineConfig({
  testDir: './tests',
  fullyParallel: true,
  workers: 2,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  reporter: [['list']],
  use: {
    baseURL: url(port),
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [
    { name: 'js-on', testIgnore: CLOCK_TESTS, use: { javaScriptEnabled: true } },
    { name: 'js-off', testIgnore: CLOCK_TESTS, use: { javaScriptEnabled: false } },
    { name: 'clock-js-on', testMatch: CLOCK_TESTS, use: { javaScriptEnabled: true, baseURL: url(clockPorts.on) } },
    { name: 'clock-js-off', testMatch: CLOCK_TESTS, use: { javaScriptEnabled: false, baseURL: url(clockPorts.off) } },
  ],
  webServer: [server(port), server(clockPorts.on), server(clockPorts.off)],
});
