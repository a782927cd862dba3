import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { newCustomer } from './helpers';

/** Clicks `button` in "Your records" and returns the file the browser saved. */
async function download(page: Page, button: string) {
  const records = page.locator('#records');
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    records.getByRole('button', { name: button }).click(),
  ]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

test('download my payments and generations as CSV files (P18)', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'records');
  // A paid top-up, so there is a payment to download.
  await page.getByRole('button', { name: 'Buy for $5 (500 credits)' }).click();
  await expect(page).toHaveURL(/\/checkout\/local\/cs_local_/);
  await page.getByRole('button', { name: 'Pay $5' }).click();
  await expect(page.getByTestId('top-up-paid')).toContainText('500 credits were added');
  await page.getByRole('link', { name: 'Back to your subscription' }).click();

  const records = page.locator('#records');
  await expect(records.getByRole('heading', { name: 'Your records' })).toBeVisible();
  // The days are filled in: from the start of the period to today.
  await expect(records.getByLabel('First day')).toHaveValue(/^\d{4}-\d{2}-\d{2}$/);
  await expect(records.getByLabel('Last day')).toHaveValue(/^\d{4}-\d{2}-\d{2}$/);

  const payments = await download(page, 'Download payments');
  expect(payments.name).toMatch(/^studio-payments-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/);
  const lines = payments.text.trimEnd().split('\r\n');
  expect(lines[0]).toBe('payment,created_at,updated_at,kind,product,credits,amount,currency,status,paid_through,refund');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(/,topup,[^,]+,500,5\.00,USD,paid,local,$/);
  // Still on the page: a download is not a navigation away.
  await expect(page).toHaveURL(/\/subscription/);

  const generations = await download(page, 'Download generations');
  expect(generations.text.split('\r\n')[0]).toMatch(/^receipt,started_at,settled_at,operation,/);
});

test('days the wrong way round are refused with what to do', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'records-days');
  const records = page.locator('#records');
  await records.getByLabel('First day').fill('2026-12-05');
  await records.getByLabel('Last day').fill('2026-12-01');
  await records.getByRole('button', { name: 'Download payments' }).click();
  await expect(page.getByText('The first day (2026-12-05) is after the last day (2026-12-01).')).toBeVisible();
});
