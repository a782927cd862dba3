// Screenshots of the cancel, upgrade and credit-history screens at 1280 px and 390 px,
// for reviews and closing notes: `node screens.mjs http://127.0.0.1:3100 /tmp/shots`.
// Signs in as the demo customer (demo data), who is on the Creator plan.
import { chromium } from '@playwright/test';

const [base = 'http://127.0.0.1:3100', out = '/tmp/shots'] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
for (const width of [1280, 390]) {
  const page = await browser.newPage({ viewport: { width, height: width > 500 ? 900 : 844 } });
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('E-mail').fill('demo@studio.test');
  await page.getByLabel('Password').fill('demo-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/subscription/);
  for (const [name, path] of [
    ['cancel', '/subscription?confirm=cancel#confirm'],
    ['upgrade', '/subscription?confirm=change:studio#confirm'],
    ['history', '/history'],
  ]) {
    await page.goto(`${base}${path}`);
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: `${out}/${name}-${width}.png`, fullPage: false });
  }
  await page.close();
}
await browser.close();
