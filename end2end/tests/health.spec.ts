import { expect, test } from '@playwright/test';
import { open } from './helpers';

test('healthz and readyz answer', async ({ request }) => {
  const health = await request.get('/healthz');
  expect(health.status()).toBe(200);
  expect(await health.json()).toEqual({ status: 'ok' });
  const ready = await request.get('/readyz');
  expect(ready.status()).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready', database: 'sqlite' });
});

test('an unknown page gets a friendly 404 with a way back', async ({ page }, testInfo) => {
  const { response } = await open(page, testInfo, '/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  await page.getByRole('link', { name: 'Credits & Billing FAQ' }).first().click();
  await expect(page).toHaveURL(/\/faq$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Credits & Billing FAQ');
});

test('pages carry a content security policy that still lets the app hydrate', async ({ page }, testInfo) => {
  const { response, errors } = await open(page, testInfo, '/faq');
  const csp = response?.headers()['content-security-policy'] ?? '';
  expect(csp).toContain("script-src 'self' 'nonce-");
  expect(errors).toEqual([]);
});
