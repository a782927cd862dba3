import { expect, test } from '@playwright/test';
import { newCustomer, open, turnOnAutoTopUps } from './helpers';

// Stripe mode, end to end: the app creates the Checkout Session through Stripe's API (a
// local stand-in, stripe-standin.mjs), the browser pays on the stand-in's hosted page,
// Stripe's signed events reach the webhook, and the browser comes back to the app.

test('a top-up through Stripe Checkout: pay on the hosted page, come back, the credits are there', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'stripe-topup');
  await page.getByRole('button', { name: 'Buy for $18 (2,000 credits)' }).click();
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

test('a plan paid by bank debit in Stripe Checkout shows as processing until it clears, and nothing else can be bought meanwhile', async ({ page, request }, testInfo) => {
  await newCustomer(page, testInfo, 'stripe-debit');
  await page.getByRole('link', { name: 'Subscribe to Creator…' }).click();
  await page.getByTestId('confirm-change').getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/pay\/cs_test_standin\d+$/);
  const hosted = new URL(page.url());
  const session = hosted.pathname.split('/').pop();
  await page.getByRole('button', { name: 'Pay by bank debit ($29.00)' }).click();

  // Back on the page: the payment is processing, said as such, and no plan can be bought.
  await expect(page).toHaveURL(/\/subscription\?subscribed=1#plans$/);
  await expect(page.getByTestId('plan-processing')).toContainText('Your payment for the Creator plan ($29, 5,000 credits) is processing.');
  await expect(page.getByRole('link', { name: /^Subscribe to / })).toHaveCount(0);
  await expect(page.getByTestId('balance-total')).toHaveText('0');

  // Days later the bank's answer: Stripe pays the first invoice. The page checks again by
  // itself and the plan is there, with its credits.
  const settled = await request.post(`${hosted.origin}/settle/${session}`);
  expect(settled.ok()).toBeTruthy();
  await expect(page.getByTestId('plan-summary')).toContainText('Creator: this period runs', { timeout: 20_000 });
  await expect(page.getByTestId('plan-processing')).toHaveCount(0);
  await expect(page.getByTestId('balance-total')).toHaveText('5,000');
});

test('automatic top-ups through Stripe: the card saved at a Checkout, then charged off-session when the balance falls (P16)', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'stripe-auto');
  const auto = page.locator('#auto-top-up');
  await expect(auto.getByTestId('auto-top-up-no-card')).toBeVisible();
  await expect(auto.getByTestId('test-card')).toHaveCount(0);

  // "Buy and save the card": Stripe's Checkout, then back where the customer was.
  await auto.getByLabel('Save a card: buy').selectOption('small');
  await auto.getByRole('button', { name: 'Buy and save the card' }).click();
  await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/pay\/cs_test_standin\d+$/);
  await expect(page.getByTestId('standin-amount')).toHaveText('$5.00');
  await page.getByRole('button', { name: 'Pay $5.00' }).click();
  await expect(page.getByTestId('top-up-paid')).toBeVisible();
  await page.getByTestId('top-up-back').click();
  await expect(page).toHaveURL(/\/subscription#auto-top-up$/);
  await expect(page.getByTestId('balance-total')).toHaveText('500');
  await expect(auto.getByTestId('auto-top-up-card')).toHaveText(/^Card: Visa ending 4242/);

  // On, below 400 credits; a generation takes the balance below it: Stripe is asked for
  // the pack, and its event brings the credits.
  await turnOnAutoTopUps(page);
  const panel = page.locator('#try');
  await panel.getByLabel('Operation').selectOption('music');
  await panel.getByLabel('Size').fill('100');
  await panel.getByRole('button', { name: 'Run it' }).click();
  await expect(page.getByTestId('try-done')).toBeVisible();
  // The generation cost 180 of its 200 held; the pack's 500 come with Stripe's event.
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('balance-total')).toHaveText('820', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(auto.getByTestId('auto-top-up-month')).toContainText('$5 of $20 spent on automatic top-ups, $15 left.');
});

// The operations view, on the Stripe-mode server (the demo's local checkout has no webhook
// route to forge a delivery to).
test('support sees webhook deliveries, refused ones with the reason, and the jobs', async ({ page, request }, testInfo) => {
  // A forged delivery: refused, and remembered with why.
  const forged = await request.post('/webhooks/stripe', {
    headers: { 'Stripe-Signature': 't=1,v1=00', 'Content-Type': 'application/json' },
    data: '{"id":"evt_forged","type":"checkout.session.completed"}',
  });
  expect(forged.status()).toBe(400);

  await open(page, testInfo, '/sign-in');
  await page.getByLabel('E-mail').fill('support@studio.test');
  await page.getByLabel('Password').fill('demo-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/support$/);
  await page.getByRole('link', { name: /^Operations:/ }).click();
  await expect(page).toHaveURL(/\/support\/operations$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Operations' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Background jobs (this instance)' })).toBeVisible();
  await expect(page.getByTestId('holds-past-expiry')).toHaveText(/hold/);
  await expect(page.getByTestId('refused-deliveries')).toContainText('signature');
  await expect(page.getByRole('heading', { name: 'Last reconciliation' })).toBeVisible();
});
