import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The servers under test: the release build made by `cargo leptos build --release`, each
// with its own SQLite database and demo data. Tests that move the app's clock get a server
// of their own per JavaScript setting, so moving time never disturbs another test.
const port = Number(process.env.E2E_PORT ?? 3100);
const clockPorts = { on: port + 1, off: port + 2 };
// Stripe mode: the app with Stripe keys, against a stand-in for Stripe on its own port.
const stripePort = port + 3;
const standInPort = port + 4;
const STRIPE_WEBHOOK_SECRET = 'whsec_e2e_standin';
const targetDir = process.env.CARGO_TARGET_DIR ?? '../target';
const url = (p: number) => `http://127.0.0.1:${p}`;
const bin = `${targetDir}/release/studio-billing`;

function server(p: number, extraEnv: Record<string, string> = {}, before = '') {
  const dataDir = mkdtempSync(join(tmpdir(), 'studio-billing-e2e-'));
  return {
    // Seed the demo customer and support user, add a second support user the way an
    // operator would (the password on stdin), then serve.
    command:
      `${before}${bin} seed demo && ` +
      `printf 'second support password\\n' | ${bin} user create --email support2@studio.test --role support && ` +
      `exec ${bin} serve`,
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
      ...extraEnv,
    },
  };
}

// The app in Stripe mode asks the stand-in for its plans' prices when it starts, so it
// waits for the stand-in first.
const waitForStandIn = `node -e "const go=()=>fetch('http://127.0.0.1:${standInPort}/health').then(()=>process.exit(0),()=>setTimeout(go,200));go()" && `;
const stripeServer = server(
  stripePort,
  {
    STRIPE_SECRET_KEY: 'sk_test_e2e_standin',
    STRIPE_WEBHOOK_SECRET,
    STRIPE_API_BASE: `http://127.0.0.1:${standInPort}/`,
  },
  waitForStandIn,
);
const standIn = {
  command: 'node stripe-standin.mjs',
  url: `http://127.0.0.1:${standInPort}/health`,
  reuseExistingServer: false,
  timeout: 30_000,
  stdout: 'pipe' as const,
  stderr: 'pipe' as const,
  env: {
    STANDIN_PORT: String(standInPort),
    APP_URL: url(stripePort),
    WEBHOOK_SECRET: STRIPE_WEBHOOK_SECRET,
  },
};

const CLOCK_TESTS = /clock\.spec\.ts/;
const STRIPE_TESTS = /stripe\.spec\.ts/;

export default defineConfig({
  testDir: './tests',
  fullyParallel: true,
  workers: 2,
  forbidOnly: !!process.env.CI,
  // One retry in CI, reported as "flaky": the first hydration of a cold release server
  // once took over 15 s (session 5); a test failing twice still fails.
  retries: process.env.CI ? 1 : 0,
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
    { name: 'js-on', testIgnore: [CLOCK_TESTS, STRIPE_TESTS], use: { javaScriptEnabled: true } },
    { name: 'js-off', testIgnore: [CLOCK_TESTS, STRIPE_TESTS], use: { javaScriptEnabled: false } },
    { name: 'clock-js-on', testMatch: CLOCK_TESTS, use: { javaScriptEnabled: true, baseURL: url(clockPorts.on) } },
    { name: 'clock-js-off', testMatch: CLOCK_TESTS, use: { javaScriptEnabled: false, baseURL: url(clockPorts.off) } },
    { name: 'stripe-js-on', testMatch: STRIPE_TESTS, use: { javaScriptEnabled: true, baseURL: url(stripePort) } },
    { name: 'stripe-js-off', testMatch: STRIPE_TESTS, use: { javaScriptEnabled: false, baseURL: url(stripePort) } },
  ],
  webServer: [server(port), server(clockPorts.on), server(clockPorts.off), standIn, stripeServer],
});
