import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { jsOn, newCustomer, open } from './helpers';

async function buy(page: Page, label: string) {
  await page.getByRole('button', { name: label }).click();
  await expect(page).toHaveURL(/\/checkout\/local\/cs_local_/);
  await expect(page.getByTestId('test-mode-banner')).toBeVisible();
}

test('buy a top-up through the local checkout and see the balance grow; cancel another and see nothing change', async ({ page }, testInfo) => {
  const email = await newCustomer(page, testInfo, 'topup');
  await expect(page.getByText('No payments yet.')).toBeVisible();

  await buy(page, 'Buy for $18 (2,000 credits)');
  await expect(page.getByTestId('checkout-credits')).toHaveText('2,000 credits');
  await expect(page.getByTestId('checkout-price')).toHaveText('$18');
  await expect(page.locator('.checkout').getByText(email)).toBeVisible();
  await page.getByRole('button', { name: 'Pay $18' }).click();

  await expect(page).toHaveURL(/\/top-up\/complete\?session_id=cs_local_/);
  await expect(page.getByTestId('top-up-paid')).toContainText('Payment received: 2,000 credits were added.');
  await expect(page.getByTestId('top-up-paid')).toContainText('Your balance is now 2,000 credits');

  await page.getByRole('link', { name: 'Back to your subscription' }).click();
  await expect(page.getByTestId('balance-total')).toHaveText('2,000');
  const payments = page.getByTestId('payments');
  await expect(payments).toContainText('Top-up: 2,000 credits (test mode)');
  await expect(payments).toContainText('$18');
  await expect(payments).toContainText('Paid');
  // Its receipt: the app's own (test mode), with its number.
  await payments.getByRole('link', { name: /^Receipt for Top-up: 2,000 credits/ }).click();
  await expect(page).toHaveURL(/\/payments\/\d+$/);
  await expect(page.getByTestId('receipt-what')).toHaveText('Top-up: 2,000 credits');
  await expect(page.getByTestId('receipt-amount')).toHaveText('$18 (USD)');
  await expect(page.getByRole('heading', { name: /^Receipt P-\d{6}$/ })).toBeVisible();
  await page.getByRole('link', { name: 'Back to your payments' }).click();

  // Cancel a second checkout: back in the app, nothing charged, the balance as it was.
  await buy(page, 'Buy for $5 (500 credits)');
  await page.getByRole('button', { name: 'Cancel and go back' }).click();
  await expect(page).toHaveURL(/\/top-up\/cancelled$/);
  await expect(page.getByTestId('top-up-cancelled')).toContainText('Nothing was charged');
  await page.getByRole('link', { name: 'Back to top-ups' }).click();
  await expect(page.getByTestId('balance-total')).toHaveText('2,000');
  // A checkout left unpaid is not a payment: only the paid one is listed.
  await expect(page.getByTestId('payments').locator('tbody tr')).toHaveCount(1);
  await expect(page.getByTestId('payments')).not.toContainText('Cancelled');
});

test('a delayed payment shows "payment processing" until the credits land', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'delayed');
  await buy(page, 'Buy for $5 (500 credits)');
  await page.getByLabel('Test bank debit (confirmed a few seconds later)').check();
  await page.getByRole('button', { name: 'Pay $5' }).click();
  await expect(page.getByTestId('top-up-processing')).toContainText('Payment processing');
  // The page checks again by itself (a refresh, so without JavaScript too).
  await expect(page.getByTestId('top-up-paid')).toContainText('500 credits were added', { timeout: 15_000 });
});

test('run a generation, open its receipt with a refund, and hit the P10 notice', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'generate');

  // No credits at all: the P10 notice, with both ways on, and nothing touched.
  const panel = page.locator('#try');
  await panel.getByLabel('Operation').selectOption('music');
  await panel.getByLabel('Size').fill('20');
  if (jsOn(testInfo)) {
    // The estimate and the size's unit follow the choice as it changes.
    await expect(page.getByTestId('try-estimate')).toHaveText('Estimate for Music (2 credits per second of audio): 40 credits.');
    await expect(panel.getByText('Size, in seconds of audio')).toBeVisible();
    await panel.getByLabel('Operation').selectOption('assistant_chat');
    await expect(panel.getByText('Size, in messages')).toBeVisible();
    await panel.getByLabel('Operation').selectOption('music');
  }
  await panel.getByRole('button', { name: 'Show estimate' }).click();
  // Without JavaScript the page came back with the choice: the unit follows it too.
  await expect(panel.getByText('Size, in seconds of audio')).toBeVisible();
  await expect(page.getByTestId('try-estimate')).toHaveText('Estimate for Music (2 credits per second of audio): 40 credits.');
  await panel.getByRole('button', { name: 'Run it' }).click();
  const notice = page.getByTestId('p10-notice');
  await expect(notice).toContainText('This needs 40 credits, but you have 0: 40 more credits needed.');
  await expect(notice).toContainText('The 500 credit top-up ($5) covers it.');
  await expect(notice).toContainText('Nothing was reserved or charged');
  await expect(notice.getByRole('link', { name: 'pick another top-up' })).toBeVisible();
  await expect(page.getByTestId('balance-total')).toHaveText('0');
  if (!jsOn(testInfo)) {
    // Without JavaScript the page came back at the notice, with no error code in the
    // address and the panel's choice kept.
    expect(page.url()).not.toContain('__err');
    expect(page.url()).toMatch(/\/subscription\?op=music&qty=20#form-error$/);
  }
  await expect(notice).toBeInViewport();

  // Buy the covering pack from the notice; once paid, carry on where we were.
  await notice.getByTestId('p10-buy').click();
  await expect(page).toHaveURL(/\/checkout\/local\/cs_local_/);
  await page.getByRole('button', { name: 'Pay $5' }).click();
  await expect(page.getByTestId('top-up-paid')).toBeVisible();
  await page.getByTestId('top-up-back').click();
  await expect(page).toHaveURL(/\/subscription\?op=music&qty=20#try$/);
  await expect(panel.getByLabel('Operation')).toHaveValue('music');
  await expect(panel.getByLabel('Size')).toHaveValue('20');
  await expect(page.getByTestId('balance-total')).toHaveText('500');
  await panel.getByLabel('Operation').selectOption('voice_generation');
  await panel.getByLabel('Size').fill('30');
  await panel.getByLabel('Make part of it fail (shows a refund)').check();
  await panel.getByRole('button', { name: 'Run it' }).click();
  await expect(page.getByTestId('try-done')).toBeVisible();
  const receipt = page.locator('details.receipt[open]');
  await expect(receipt).toHaveCount(1);
  await expect(receipt).toContainText('Voice generation');
  // In plain words, ending in the one figure it came to.
  await expect(receipt.getByTestId('receipt-words')).toHaveText(
    'Held 30 · charged 27 for 27 seconds of audio · 13 back for the failed part · you paid 14',
  );
  await expect(receipt).toContainText('Estimate before it started30');
  await expect(receipt).toContainText('Charged for the real output27');
  await expect(receipt).toContainText('Released3');
  await expect(receipt).toContainText('Part of the output failed (demo)');
  await expect(receipt).toContainText('top-up credits');
  // 500 - 27 + 13 credited back.
  await expect(page.getByTestId('balance-total')).toHaveText('486');
});
