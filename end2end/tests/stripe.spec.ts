import { expect, test } from '@playwright/test';
import { newCustomer } from './helpers';

// Stripe mode, end to end: the app creates the Checkout Session through Stripe's API (a
// local stand-in, stripe-standin.mjs), the browser pays on the stand-in's hosted page,
// Stripe's signed events reach the webhook, and the browser comes back to the app.

test('a top-up through Stripe Checkout: pay on the hosted page, come back, the credits are there', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'stripe-topup');
  await page.getByRole('button', { name: 'Buy 2,000 credits for $18' }).click();
  await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/pay\/cs_test_standin\d+$/);
  await expect(page.getByTestId('standin-banner')).toBeVisible();
  await expect(page.getByTestId('standin-amount')).toHaveText('$18.00');
  await page.getByRole('button', { name: 'Pay $18.00' }).click();

  await expect(page).toHaveURL(/\/top-up\/complete\?session_id=cs_test_standin\d+$/);
  await expect(page.getByTestId('top-up-paid')).toContainText('Payment received: 2,000 credits were added.');
  await page.getByRole('link', { name: 'Back to your subscription' }).click();
  await expect(page.getByTestId('balance-total')).toHaveText('2,000');
  const payments = page.getByTestId('payments');
  await expect(payments).toContainText('Top-up: 2,000 credits');
  await expect(payments).not.toContainText('test mode');
  await expect(payments).toContainText('Paid');
});

test('subscribe through Stripe Checkout: the paid first invoice starts the plan', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'stripe-plan');
  await page.getByRole('link', { name: 'Subscribe to Starter…' }).click();
  const confirm = page.getByTestId('confirm-change');
  await expect(confirm).toContainText('Subscribe to Starter?');
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/pay\/cs_test_standin\d+$/);
  await expect(page.getByTestId('standin-amount')).toHaveText('$9.00');
  await page.getByRole('button', { name: 'Pay $9.00' }).click();

  await expect(page).toHaveURL(/\/subscription\?subscribed=1#plans$/);
  await expect(page.getByTestId('plan-summary')).toContainText('Starter: this period runs');
  await expect(page.getByTestId('balance-total')).toHaveText('1,000');
  await expect(page.getByTestId('payments')).toContainText('$9');
});
