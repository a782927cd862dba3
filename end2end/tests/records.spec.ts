import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { open } from './helpers';

// The demo customer, who has a month of generations and payments. Only read here, so
// tests side by side are not disturbed (and no sign-up is spent: the server allows an
// address only so many).
async function signInAsDemo(page: Page, testInfo: TestInfo) {
  await open(page, testInfo, '/sign-in');
  await page.getByLabel('E-mail').fill('demo@studio.test');
  await page.getByLabel('Password').fill('demo-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/subscription$/);
}

/** Clicks `button` in "Your records" and returns the file the browser saved. */
async function download(page: Page, button: string) {
  const records = page.locator('#records');
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    records.getByRole('button', { name: button }).click(),
  ]);
  const path = await file.path();
  return { name: file.suggestedFilename(), lines: readFileSync(path, 'utf8').trimEnd().split('\r\n') };
}

test('download my generations and payments as CSV files (P18)', async ({ page }, testInfo) => {
  await signInAsDemo(page, testInfo);
  const records = page.locator('#records');
  await expect(records.getByRole('heading', { name: 'Your records' })).toBeVisible();
  // The days are filled in: from the start of the period to today.
  await expect(records.getByLabel('First day')).toHaveValue(/^\d{4}-\d{2}-\d{2}$/);
  await expect(records.getByLabel('Last day')).toHaveValue(/^\d{4}-\d{2}-\d{2}$/);
  // All of it.
  await records.getByLabel('First day').fill('2020-01-01');

  const generations = await download(page, 'Download generations');
  expect(generations.name).toMatch(/^studio-generations-2020-01-01-to-\d{4}-\d{2}-\d{2}\.csv$/);
  expect(generations.lines[0]).toBe(
    'receipt,started_at,settled_at,operation,quantity,used_quantity,status,estimate,held,charged,credited_back,paid_from_subscription_credits,paid_from_top_up_credits,paid_from_adjustment_credits',
  );
  expect(generations.lines.length).toBeGreaterThan(5);
  for (const line of generations.lines.slice(1)) {
    expect(line).toMatch(/^\d+,\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2}),[^,]*,[a-z_]+,\d+,\d*,(held|captured|released|expired)(,\d+){7}$/);
  }
  // Still on the page: a download is not a navigation away.
  await expect(page).toHaveURL(/\/subscription/);

  const payments = await download(page, 'Download payments');
  expect(payments.name).toMatch(/^studio-payments-2020-01-01-to-\d{4}-\d{2}-\d{2}\.csv$/);
  expect(payments.lines[0]).toBe('payment,created_at,updated_at,kind,product,credits,amount,currency,status,paid_through,refund');
  expect(payments.lines.length).toBeGreaterThan(1);
  for (const line of payments.lines.slice(1)) {
    expect(line).toMatch(/^\d+,[^,]+,[^,]+,(topup|subscription),[^,]+,\d+,\d+\.\d{2},[A-Z]{3},[a-z]+,(local|stripe),(pending|refunded)?$/);
  }
});

test('days the wrong way round are refused with what to do', async ({ page }, testInfo) => {
  await signInAsDemo(page, testInfo);
  const records = page.locator('#records');
  await records.getByLabel('First day').fill('2026-12-05');
  await records.getByLabel('Last day').fill('2026-12-01');
  await records.getByRole('button', { name: 'Download payments' }).click();
  await expect(page.getByText('The first day (2026-12-05) is after the last day (2026-12-01).')).toBeVisible();
});
